// The load generator's side of permessage-deflate (RFC 7692): parsing the server's answer to its
// offer, compressing its own messages and inflating the echoes, plus the JSON-like payloads that make
// a compression ratio mean something (random bytes would not compress at all).
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace epollws::bench {

// What the server's Sec-WebSocket-Extensions answer settled.
struct DeflateParams {
  bool serverNoContextTakeover = false;
  bool clientNoContextTakeover = false;
  int serverMaxWindowBits = 15;
  int clientMaxWindowBits = 15;
};

// Parses the server's permessage-deflate answer to the offer "permessage-deflate;
// client_max_window_bits". Returns an empty string and fills `out`, or why the answer is invalid
// (another extension, an unknown or repeated parameter, a bad value).
std::string parseDeflateAnswer(const std::string& value, DeflateParams& out);

// One direction pair of zlib streams. Raw deflate (negative window bits) without the 00 00 ff ff
// tail that RFC 7692 §7.2.1 strips; the inflater appends it back.
class DeflateCodec {
 public:
  explicit DeflateCodec(const DeflateParams& p);
  ~DeflateCodec();
  DeflateCodec(const DeflateCodec&) = delete;
  DeflateCodec& operator=(const DeflateCodec&) = delete;

  // Appends the compressed form of data to out. With client_no_context_takeover the window is
  // dropped after each message; otherwise later messages may refer back to this one.
  void compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out);
  // Inflates one whole compressed message (tail stripped) into out (replaced). False on corrupt
  // data or when the result exceeds `limit` bytes.
  bool inflate(const uint8_t* data, size_t len, size_t limit, std::vector<uint8_t>& out);
  // Forget the window of one direction (a codec shared by connections that each exchange one
  // message starts every message afresh, which is valid under context takeover too).
  void resetDeflater();
  void resetInflater();

 private:
  DeflateParams params_;
  z_stream def_{};
  z_stream inf_{};
};

// A chat-like JSON message of exactly `size` bytes (ASCII, so valid UTF-8), a pure function of
// (connection, sequence): ids, timestamps, user names and words vary per message, the keys repeat,
// as in real traffic.
void jsonMessage(uint32_t connection, uint64_t sequence, size_t size, std::vector<uint8_t>& out);

}  // namespace epollws::bench
