// RFC 9110 §5.6.2 tchar: what an HTTP token (a header name, an extension or parameter name) is
// made of. Shared by the request parser and the extension negotiation.
#pragma once

namespace epollws {

inline bool isTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace epollws
