// UTF-8 validation for text messages and close reasons (RFC 3629 as required by RFC 6455 §8.1).
#pragma once
#include <cstddef>
#include <cstdint>

namespace epollws {

// Incremental validator: feed() the chunks of one message in order; a code point may span chunks.
// It fails at the first byte that cannot start or continue a well-formed sequence (overlong forms,
// surrogates and code points above U+10FFFF are caught on their second byte), so a fragmented text
// message is rejected as soon as the offending fragment arrives.
class Utf8Validator {
 public:
  // False on the first invalid byte; the validator then stays failed until reset().
  bool feed(const uint8_t* data, size_t len);
  // True when no partial sequence is pending (and nothing failed).
  bool complete() const { return state_ == 0; }
  void reset() { state_ = 0; }

 private:
  uint8_t state_ = 0;  // a DFA state from utf8.cc; 0 = between code points (a byte: one per connection)
};

// Validates a whole buffer.
bool isValidUtf8(const uint8_t* data, size_t len);

}  // namespace epollws
