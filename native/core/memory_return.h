// Gives freed heap memory back to the system after bursts. glibc keeps what connections and
// large messages freed in its arenas (fragmented, so free() alone rarely shrinks the heap); after
// a burst of frees, malloc_trim(0) returns it. Rate-limited: at most once a second, and only after
// at least 16 MiB were freed, so it never runs per message.
//
// The state is process-wide on purpose: malloc's arenas are shared by every server and worker.
#pragma once
#include <cstddef>

namespace epollws {

// Counts `bytes` just freed and trims if enough was freed since the last trim. Returns true when
// at least 1 MiB is left untrimmed (rate limit, or below the threshold): the caller should call
// trimFreedMemory() a little later, once things are quiet, so an idle process ends up trimmed.
bool noteFreedMemory(size_t bytes);
bool freedMemoryPending();
// Trims now if anything was freed since the last trim.
void trimFreedMemory();

}  // namespace epollws
