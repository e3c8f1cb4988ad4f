// Error names, messages and close codes, and the wire close-code rule of RFC 6455 §7.4.
#include <cstring>
#include <string>

#include "check.h"
#include "status.h"

using namespace epollws;

int main() {
  CHECK_EQ(std::string(errorCodeName(ErrorCode::INVALID_OPCODE)), std::string("WS_ERR_INVALID_OPCODE"));
  CHECK_EQ(std::string(errorCodeName(ErrorCode::EXPECTED_MASK)), std::string("WS_ERR_EXPECTED_MASK"));
  CHECK_EQ(std::string(errorCodeName(ErrorCode::UNEXPECTED_RSV_2_3)),
           std::string("WS_ERR_UNEXPECTED_RSV_2_3"));
  CHECK_EQ(std::string(errorCodeName(ErrorCode::INVALID_CLOSE_PAYLOAD_LENGTH)),
           std::string("WS_ERR_INVALID_CLOSE_PAYLOAD_LENGTH"));

  for (int i = 0; i < static_cast<int>(ErrorCode::COUNT); ++i) {
    const ErrorCode code = static_cast<ErrorCode>(i);
    const char* name = errorCodeName(code);
    const char* message = errorCodeMessage(code);
    CHECK(std::strncmp(name, "WS_ERR_", 7) == 0);
    CHECK(std::strlen(message) > 0);
    CHECK(message[std::strlen(message) - 1] != '.');  // sentence case, no trailing period
    for (int j = 0; j < i; ++j) CHECK(std::strcmp(name, errorCodeName(static_cast<ErrorCode>(j))) != 0);
    if (code == ErrorCode::UNSUPPORTED_MESSAGE_LENGTH) CHECK_EQ(errorCloseCode(code), uint16_t{1009});
    else if (code == ErrorCode::INVALID_UTF8 || code == ErrorCode::INVALID_COMPRESSED_DATA) CHECK_EQ(errorCloseCode(code), uint16_t{1007});
    else CHECK_EQ(errorCloseCode(code), uint16_t{1002});
  }
  // Out-of-range values do not read past the tables.
  CHECK(errorCodeName(ErrorCode::COUNT) != nullptr);
  CHECK_EQ(errorCloseCode(static_cast<ErrorCode>(200)), uint16_t{1002});

  int mismatches = 0;
  for (uint32_t c = 0; c <= 0xFFFF; ++c) {
    const bool expected = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
    if (isValidCloseCode(static_cast<uint16_t>(c)) != expected) ++mismatches;
  }
  CHECK_EQ(mismatches, 0);
  for (uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) CHECK(!isValidCloseCode(bad));
  for (uint16_t good : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999})
    CHECK(isValidCloseCode(good));

  return CHECK_SUMMARY("status_test");
}
