// Names, messages and close codes for the protocol errors in status.h. The tables are indexed by the
// enum value, so a static_assert keeps them in step with ErrorCode when a code is added.
#include "status.h"

#include <cstddef>

namespace epollws {
namespace {

struct ErrorInfo {
  const char* name;
  const char* message;
  uint16_t closeCode;
};

constexpr ErrorInfo ERROR_INFO[] = {
    {"WS_ERR_NONE", "No error", close_code::PROTOCOL_ERROR},
    {"WS_ERR_INVALID_OPCODE", "Invalid WebSocket frame: invalid opcode", close_code::PROTOCOL_ERROR},
    {"WS_ERR_EXPECTED_MASK", "Invalid WebSocket frame: MASK must be set", close_code::PROTOCOL_ERROR},
    {"WS_ERR_UNEXPECTED_RSV_1", "Invalid WebSocket frame: RSV1 must be clear", close_code::PROTOCOL_ERROR},
    {"WS_ERR_UNEXPECTED_RSV_2_3", "Invalid WebSocket frame: RSV2 and RSV3 must be clear",
     close_code::PROTOCOL_ERROR},
    {"WS_ERR_EXPECTED_FIN", "Invalid WebSocket frame: FIN must be set", close_code::PROTOCOL_ERROR},
    {"WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH", "Invalid WebSocket frame: invalid payload length",
     close_code::PROTOCOL_ERROR},
    {"WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH",
     "Unsupported WebSocket frame: payload length > 2^63 - 1", close_code::PROTOCOL_ERROR},
    {"WS_ERR_UNSUPPORTED_MESSAGE_LENGTH", "Max payload size exceeded", close_code::MESSAGE_TOO_BIG},
    {"WS_ERR_INVALID_UTF8", "Invalid WebSocket frame: invalid UTF-8 sequence",
     close_code::INVALID_PAYLOAD},
    {"WS_ERR_INVALID_CLOSE_CODE", "Invalid WebSocket frame: invalid status code",
     close_code::PROTOCOL_ERROR},
    // ws reports it as WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH, "invalid payload length 1" (lib maps it).
    {"WS_ERR_INVALID_CLOSE_PAYLOAD_LENGTH", "Invalid WebSocket frame: invalid payload length",
     close_code::PROTOCOL_ERROR},
    // ws closes with 1007 when inflating fails: the payload is inconsistent with the message type.
    {"WS_ERR_INVALID_COMPRESSED_DATA", "Invalid WebSocket frame: invalid compressed data",
     close_code::INVALID_PAYLOAD},
};

static_assert(sizeof(ERROR_INFO) / sizeof(ERROR_INFO[0]) == static_cast<size_t>(ErrorCode::COUNT),
              "ERROR_INFO must have one entry per ErrorCode");

// Out-of-range values (a corrupted or future code) map to a generic entry instead of reading past the table.
constexpr ErrorInfo UNKNOWN_ERROR = {"WS_ERR_UNKNOWN", "Unknown error", close_code::PROTOCOL_ERROR};

const ErrorInfo& infoFor(ErrorCode code) {
  const size_t index = static_cast<size_t>(code);
  return index < static_cast<size_t>(ErrorCode::COUNT) ? ERROR_INFO[index] : UNKNOWN_ERROR;
}

}  // namespace

const char* errorCodeName(ErrorCode code) { return infoFor(code).name; }

const char* errorCodeMessage(ErrorCode code) { return infoFor(code).message; }

uint16_t errorCloseCode(ErrorCode code) { return infoFor(code).closeCode; }

bool isValidCloseCode(uint16_t code) {
  if (code >= 1000 && code <= 1003) return true;
  // 1004 is reserved, 1005/1006 are local-only and 1015 is TLS-only: none may appear on the wire.
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace epollws
