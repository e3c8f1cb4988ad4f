// Protocol error codes shared by the frame parser, the connection and the binding.
// Names follow ws's WS_ERR_* strings so that users coming from ws can match on them.
#pragma once
#include <cstdint>

namespace epollws {

enum class ErrorCode : uint8_t {
  NONE = 0,
  INVALID_OPCODE,                    // reserved opcode, or continuation/data frame out of order
  EXPECTED_MASK,                     // client frame without the MASK bit
  UNEXPECTED_RSV_1,                  // RSV1 set without a negotiated extension
  UNEXPECTED_RSV_2_3,                // RSV2 or RSV3 set
  EXPECTED_FIN,                      // fragmented control frame
  INVALID_CONTROL_PAYLOAD_LENGTH,    // control frame payload > 125 bytes
  UNSUPPORTED_DATA_PAYLOAD_LENGTH,   // 64-bit length with the most significant bit set
  UNSUPPORTED_MESSAGE_LENGTH,        // message larger than maxPayload
  INVALID_UTF8,                      // text message or close reason is not valid UTF-8
  INVALID_CLOSE_CODE,                // close code not allowed on the wire
  INVALID_CLOSE_PAYLOAD_LENGTH,      // close payload of exactly one byte
  INVALID_COMPRESSED_DATA,           // permessage-deflate data zlib cannot inflate
  COUNT
};

// "WS_ERR_INVALID_OPCODE" etc.
const char* errorCodeName(ErrorCode code);
// Human readable sentence, sentence case, no trailing period.
const char* errorCodeMessage(ErrorCode code);
// The close code the server sends when it fails the connection for this error (1002, 1007 or 1009).
uint16_t errorCloseCode(ErrorCode code);

namespace close_code {
constexpr uint16_t NORMAL = 1000;
constexpr uint16_t GOING_AWAY = 1001;
constexpr uint16_t PROTOCOL_ERROR = 1002;
constexpr uint16_t UNSUPPORTED_DATA = 1003;
constexpr uint16_t NO_STATUS = 1005;     // never sent on the wire
constexpr uint16_t ABNORMAL = 1006;      // never sent on the wire
constexpr uint16_t INVALID_PAYLOAD = 1007;
constexpr uint16_t POLICY_VIOLATION = 1008;
constexpr uint16_t MESSAGE_TOO_BIG = 1009;
constexpr uint16_t INTERNAL_ERROR = 1011;
}  // namespace close_code

// True when `code` may appear in a close frame on the wire (RFC 6455 §7.4):
// 1000-1003, 1007-1014 (IANA registered), and 3000-4999.
bool isValidCloseCode(uint16_t code);

}  // namespace epollws
