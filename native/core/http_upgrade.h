// Incremental reader and validator for the HTTP/1.1 request head that opens a WebSocket
// (RFC 6455 §4.2.1, checks in ws's order). It only understands GET upgrades: no bodies, no chunking.
//
// Line endings: CRLF is required. A bare LF or a CR not followed by LF fails at once with 400,
// so such a client gets an answer instead of waiting for a terminator that never comes.
#pragma once
#include <cstddef>
#include <string_view>
#include <vector>

#include "handshake_failure.h"

namespace epollws {

struct HttpHeader {
  std::string_view name;   // as sent (compare case-insensitively)
  std::string_view value;  // trimmed of leading and trailing SP/HTAB
};

struct UpgradeRequest {
  std::string_view method;
  std::string_view target;       // path + query as sent
  std::string_view httpVersion;  // "HTTP/1.1"
  std::vector<HttpHeader> headers;  // in arrival order; views into the parser's buffer
  // Well-known headers picked out during validation (empty if absent):
  std::string_view host;
  std::string_view key;         // Sec-WebSocket-Key
  std::string_view version;     // Sec-WebSocket-Version
  std::string_view protocols;   // Sec-WebSocket-Protocol, ", "-joined if repeated
  std::string_view extensions;  // Sec-WebSocket-Extensions, ", "-joined if repeated
  std::string_view origin;      // Origin (a repeated Origin is rejected)
};

class UpgradeParser {
 public:
  enum class State { NEED_MORE, COMPLETE, FAILED };

  static constexpr size_t DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

  // maxHeaderSize bounds the whole head, request line and final CRLFCRLF included.
  explicit UpgradeParser(size_t maxHeaderSize = DEFAULT_MAX_HEADER_SIZE);

  // The request views point into this object's heap buffers, which a move hands over unchanged;
  // a copy could only dangle, so there is none.
  UpgradeParser(const UpgradeParser&) = delete;
  UpgradeParser& operator=(const UpgradeParser&) = delete;
  UpgradeParser(UpgradeParser&&) = default;
  UpgradeParser& operator=(UpgradeParser&&) = default;

  // Feeds the next bytes from the socket. *headBytes (may be null) tells how many bytes of THIS call
  // the parser consumed: all of them on NEED_MORE; on COMPLETE the request head's share, the rest
  // being WebSocket frames the caller must keep; on FAILED up to the offending byte. Once COMPLETE or
  // FAILED, further calls consume nothing and return the same state. Any TCP split works, down to one
  // byte per call; each byte is scanned once and copied at most once.
  State feed(const char* data, size_t len, size_t* headBytes);

  State state() const { return state_; }
  const UpgradeRequest& request() const { return request_; }  // valid when COMPLETE
  HandshakeFailure failure() const { return failure_; }        // when FAILED
  int failureStatus() const { return handshakeFailureInfo(failure_).status; }  // 400, 405, 426 or 431
  const char* failureReason() const { return handshakeFailureInfo(failure_).message; }
  // The request head as received, final CRLFCRLF included (complete once COMPLETE).
  std::string_view rawHead() const { return std::string_view(buffer_.data(), buffer_.size()); }

  // Frees all memory; request() and rawHead() are empty afterwards. The state is kept.
  void release();

 private:
  State fail(HandshakeFailure failure);
  State parseHead();
  bool parseRequestLine(std::string_view line);
  State validate();
  void joinInto(std::vector<char>& joined, std::string_view* field, std::string_view value);

  size_t maxHeaderSize_;
  State state_ = State::NEED_MORE;
  HandshakeFailure failure_ = HandshakeFailure::NONE;
  // Incremental terminator scan: whether the previous byte was CR, and the length of the current line.
  bool afterCr_ = false;
  size_t lineLength_ = 0;
  // vector, not string: a moved vector keeps its heap block, so the request views survive a move
  // (a short std::string would move its bytes and leave the views dangling).
  std::vector<char> buffer_;
  std::vector<char> joinedProtocols_;   // only used when Sec-WebSocket-Protocol is repeated
  std::vector<char> joinedExtensions_;  // only used when Sec-WebSocket-Extensions is repeated
  UpgradeRequest request_;
};

// Case-insensitive token search in a comma-separated header list ("keep-alive, Upgrade" contains
// "upgrade"). Elements are trimmed of SP/HTAB; empty elements are ignored.
bool headerHasToken(std::string_view headerValue, std::string_view token);

// RFC 9110 token (header names, methods, subprotocol names): one or more tchar.
bool isHttpToken(std::string_view s);
// RFC 9110 field-value characters: VCHAR, obs-text, SP and HTAB, with no leading or trailing
// whitespace (empty is valid).
bool isHttpFieldValue(std::string_view s);
// Zero or more complete "Name: value\r\n" lines with a token name and a field value (optional
// whitespace after the colon). Server::acceptUpgrade/rejectUpgrade refuse anything else, so the
// user's headers cannot split the response.
bool isHttpHeaderLines(std::string_view lines);

namespace detail {
bool equalsIgnoreCase(std::string_view a, std::string_view b);
}  // namespace detail

}  // namespace epollws
