// A tiny assertion harness for the core's unit tests: no framework, one binary per core module.
// Each CHECK failure prints the location and the expression; main() returns non-zero if any failed.
#pragma once
#include <cstdio>
#include <cstring>
#include <string>

namespace check {
inline int& failures() { static int n = 0; return n; }
inline int& passes() { static int n = 0; return n; }
}  // namespace check

#define CHECK(expr)                                                              \
  do {                                                                           \
    if (expr) {                                                                  \
      ++check::passes();                                                         \
    } else {                                                                     \
      ++check::failures();                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
    }                                                                            \
  } while (0)

#define CHECK_EQ(a, b)                                                           \
  do {                                                                           \
    auto&& check_a_ = (a);                                                       \
    auto&& check_b_ = (b);                                                       \
    if (check_a_ == check_b_) {                                                  \
      ++check::passes();                                                         \
    } else {                                                                     \
      ++check::failures();                                                       \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s\n", __FILE__, __LINE__, #a, #b); \
    }                                                                            \
  } while (0)

// Ends a test binary: prints a summary line and returns the exit status.
#define CHECK_SUMMARY(name)                                                      \
  (std::printf("%s: %d checks passed, %d failed\n", name, check::passes(), check::failures()), \
   check::failures() == 0 ? 0 : 1)
