// Accept key and canned responses (native/core/handshake.h).
#include "handshake.h"
#include "handshake_failure.h"

#include "check.h"

using namespace epollws;

static void testAcceptKey() {
  // RFC 6455 §1.3 sample.
  CHECK_EQ(computeAcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), std::string("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  CHECK_EQ(computeAcceptKey("dGhlIHNhbXBsZSBub25jZQ==").size(), ACCEPT_KEY_LENGTH);
  // Another fixed pair (from a real browser exchange, checked with `openssl sha1 -binary | base64`).
  CHECK_EQ(computeAcceptKey("x3JJHMbDL1EzLkh9GBhXDw=="), std::string("HSmrc0sMlYUkAGmm5OPpG2HaGWk="));
  CHECK_EQ(computeAcceptKey("").size(), ACCEPT_KEY_LENGTH);
}

static void testSwitchingProtocols() {
  std::string plain = buildSwitchingProtocolsResponse("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "", "", "");
  CHECK_EQ(plain, std::string("HTTP/1.1 101 Switching Protocols\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                              "\r\n"));
  std::string full = buildSwitchingProtocolsResponse("abc", "chat", "permessage-deflate",
                                                     "X-One: 1\r\nX-Two: 2\r\n");
  CHECK_EQ(full, std::string("HTTP/1.1 101 Switching Protocols\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: abc\r\n"
                             "Sec-WebSocket-Protocol: chat\r\n"
                             "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                             "X-One: 1\r\nX-Two: 2\r\n"
                             "\r\n"));
}

static void testErrorResponses() {
  CHECK_EQ(buildHttpErrorResponse(400, "", ""),
           std::string("HTTP/1.1 400 Bad Request\r\n"
                       "Connection: close\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 11\r\n"
                       "\r\n"
                       "Bad Request"));
  CHECK_EQ(buildHttpErrorResponse(401, "WWW-Authenticate: Basic\r\n", "go away"),
           std::string("HTTP/1.1 401 Unauthorized\r\n"
                       "Connection: close\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 7\r\n"
                       "WWW-Authenticate: Basic\r\n"
                       "\r\n"
                       "go away"));
  // 426 (ws's answer to a request that is not an upgrade) adds nothing of its own: the version
  // list goes with the version refusal (INVALID_VERSION, 400), given by the caller.
  CHECK_EQ(buildHttpErrorResponse(426, "", ""),
           std::string("HTTP/1.1 426 Upgrade Required\r\n"
                       "Connection: close\r\n"
                       "Content-Type: text/plain\r\n"
                       "Content-Length: 16\r\n"
                       "\r\n"
                       "Upgrade Required"));
  std::string custom = buildHttpErrorResponse(400, SUPPORTED_VERSIONS_HEADER, "v");
  CHECK(custom.find("\r\nSec-WebSocket-Version: 13, 8\r\n") != std::string::npos);
  CHECK(buildHttpErrorResponse(400, "", "").find("Sec-WebSocket-Version") == std::string::npos);

  CHECK_EQ(buildHttpErrorResponse(431, "", "").rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0),
           size_t(0));
  CHECK_EQ(buildHttpErrorResponse(599, "", "x").rfind("HTTP/1.1 599 Unknown\r\n", 0), size_t(0));
  // No status line can carry these.
  CHECK_EQ(buildHttpErrorResponse(42, "", "").rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), size_t(0));
  CHECK_EQ(buildHttpErrorResponse(1000, "", "").rfind("HTTP/1.1 500 ", 0), size_t(0));
}

static void testReasonPhrases() {
  CHECK_EQ(std::string(httpReasonPhrase(400)), "Bad Request");
  CHECK_EQ(std::string(httpReasonPhrase(401)), "Unauthorized");
  CHECK_EQ(std::string(httpReasonPhrase(403)), "Forbidden");
  CHECK_EQ(std::string(httpReasonPhrase(404)), "Not Found");
  CHECK_EQ(std::string(httpReasonPhrase(405)), "Method Not Allowed");
  CHECK_EQ(std::string(httpReasonPhrase(426)), "Upgrade Required");
  CHECK_EQ(std::string(httpReasonPhrase(431)), "Request Header Fields Too Large");
  CHECK_EQ(std::string(httpReasonPhrase(500)), "Internal Server Error");
  CHECK_EQ(std::string(httpReasonPhrase(503)), "Service Unavailable");
  CHECK_EQ(std::string(httpReasonPhrase(299)), "Unknown");
}

int main() {
  testAcceptKey();
  testSwitchingProtocols();
  testErrorResponses();
  testReasonPhrases();
  return CHECK_SUMMARY("handshake_test");
}
