// The only core file that links OpenSSL. Inside the addon the symbols come from the running node
// binary, so only the classic, stable entry points are used: SHA1() and EVP_EncodeBlock().
#include "handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "http_upgrade.h"

namespace epollws {

std::string computeAcceptKey(std::string_view key) {
  std::string input;
  input.reserve(key.size() + WEBSOCKET_GUID.size());
  input.append(key).append(WEBSOCKET_GUID);

  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);

  // EVP_EncodeBlock writes 4 * ceil(20 / 3) = 28 characters plus a terminating NUL.
  unsigned char encoded[ACCEPT_KEY_LENGTH + 1];
  int n = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<size_t>(n));
}

std::string buildSwitchingProtocolsResponse(std::string_view acceptKey, std::string_view protocol,
                                            std::string_view extensions,
                                            std::string_view extraHeaderLines) {
  static constexpr std::string_view HEAD =
      "HTTP/1.1 101 Switching Protocols\r\n"
      "Upgrade: websocket\r\n"
      "Connection: Upgrade\r\n"
      "Sec-WebSocket-Accept: ";
  std::string out;
  out.reserve(HEAD.size() + acceptKey.size() + protocol.size() + extensions.size() +
              extraHeaderLines.size() + 64);
  out.append(HEAD).append(acceptKey).append("\r\n");
  if (!protocol.empty()) out.append("Sec-WebSocket-Protocol: ").append(protocol).append("\r\n");
  if (!extensions.empty()) {
    out.append("Sec-WebSocket-Extensions: ").append(extensions).append("\r\n");
  }
  out.append(extraHeaderLines).append("\r\n");
  return out;
}


std::string buildHttpErrorResponse(int status, std::string_view extraHeaderLines,
                                   std::string_view body) {
  // The status line needs exactly three digits; anything else is a caller bug, and a well-formed
  // 500 is more useful to the client than a malformed response.
  if (status < 100 || status > 599) status = 500;
  const char* reason = httpReasonPhrase(status);
  if (body.empty()) body = reason;

  std::string out;
  out.reserve(128 + extraHeaderLines.size() + body.size());
  out.append("HTTP/1.1 ").append(std::to_string(status)).append(" ").append(reason).append("\r\n");
  out.append("Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ");
  out.append(std::to_string(body.size())).append("\r\n");
  out.append(extraHeaderLines).append("\r\n").append(body);
  return out;
}

const char* httpReasonPhrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 421: return "Misdirected Request";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

}  // namespace epollws
