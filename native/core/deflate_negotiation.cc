// RFC 7692 §7 negotiation. The header grammar (RFC 6455 §9.1, RFC 7230 lists):
//   extension-list = 1#( extension-token *( ";" param ) )
//   param          = token [ "=" ( token / quoted-string ) ]
// Elements are split at commas outside quoted strings; an element that does not parse is one
// malformed offer (declined), the others are still considered.
#include "deflate_negotiation.h"

#include "http_token.h"
#include "http_upgrade.h"

namespace epollws {
namespace {

// A cursor over one element of the list.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool atEnd() const { return i >= s.size(); }
  void skipSpace() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  }
  bool token(std::string& out) {
    size_t start = i;
    while (i < s.size() && isTokenChar(static_cast<unsigned char>(s[i]))) ++i;
    out.assign(s.data() + start, i - start);
    return i > start;
  }
  // quoted-string with quoted-pairs; the unquoted value goes to out.
  bool quoted(std::string& out) {
    out.clear();
    ++i;  // the opening quote
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') return true;
      if (c == '\\') {
        if (i >= s.size()) return false;
        c = s[i++];
      }
      out.push_back(c);
    }
    return false;
  }
};

// One offer's parameters, each at most once (a repeated one makes the offer malformed).
struct Offer {
  bool serverNoContextTakeover = false;
  bool clientNoContextTakeover = false;
  uint8_t serverMaxWindowBits = 0;  // 0: absent
  bool clientMaxWindowBits = false;  // present (with or without a value)
  uint8_t clientMaxWindowBitsValue = 0;  // 0: present without a value
};

// "8".."15", no leading zero, no sign (RFC 7692 §7.1.2.1: 1*DIGIT with no leading 0, in 8..15).
uint8_t windowBits(const std::string& value) {
  if (value.empty() || value.size() > 2 || value[0] == '0') return 0;
  int n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n >= 8 && n <= 15 ? static_cast<uint8_t>(n) : 0;
}

enum class Parsed { OTHER_EXTENSION, MALFORMED, OFFER };

Parsed parseElement(std::string_view element, Offer& offer) {
  Cursor c{element};
  c.skipSpace();
  std::string name;
  if (!c.token(name)) return Parsed::MALFORMED;
  bool deflate = detail::equalsIgnoreCase(name, "permessage-deflate");
  bool seenServerNct = false, seenClientNct = false;
  for (;;) {
    c.skipSpace();
    if (c.atEnd()) break;
    if (c.s[c.i] != ';') return deflate ? Parsed::MALFORMED : Parsed::OTHER_EXTENSION;
    ++c.i;
    c.skipSpace();
    std::string param, value;
    if (!c.token(param)) return deflate ? Parsed::MALFORMED : Parsed::OTHER_EXTENSION;
    c.skipSpace();
    bool hasValue = false;
    if (!c.atEnd() && c.s[c.i] == '=') {
      ++c.i;
      c.skipSpace();
      if (c.atEnd()) return deflate ? Parsed::MALFORMED : Parsed::OTHER_EXTENSION;
      bool ok = c.s[c.i] == '"' ? c.quoted(value) : c.token(value);
      if (!ok) return deflate ? Parsed::MALFORMED : Parsed::OTHER_EXTENSION;
      hasValue = true;
    }
    if (!deflate) continue;
    // Parameter names are case-sensitive tokens in RFC 7692's registry; ws compares them exactly.
    if (param == "server_no_context_takeover") {
      if (hasValue || seenServerNct) return Parsed::MALFORMED;
      seenServerNct = offer.serverNoContextTakeover = true;
    } else if (param == "client_no_context_takeover") {
      if (hasValue || seenClientNct) return Parsed::MALFORMED;
      seenClientNct = offer.clientNoContextTakeover = true;
    } else if (param == "server_max_window_bits") {
      if (!hasValue || offer.serverMaxWindowBits) return Parsed::MALFORMED;
      offer.serverMaxWindowBits = windowBits(value);
      if (!offer.serverMaxWindowBits) return Parsed::MALFORMED;
    } else if (param == "client_max_window_bits") {
      if (offer.clientMaxWindowBits) return Parsed::MALFORMED;
      offer.clientMaxWindowBits = true;
      if (hasValue) {
        offer.clientMaxWindowBitsValue = windowBits(value);
        if (!offer.clientMaxWindowBitsValue) return Parsed::MALFORMED;
      }
    } else {
      return Parsed::MALFORMED;  // an unknown parameter: RFC 7692 §7.1 says decline
    }
  }
  return deflate ? Parsed::OFFER : Parsed::OTHER_EXTENSION;
}

// Our answer to one well-formed offer, or false when it cannot be honoured.
bool answer(const Offer& offer, const DeflateOptions& options, DeflateParams& out) {
  // Our compressor's window. zlib cannot deflate with an 8-bit window (it silently uses 9), so an
  // offer that limits us to 8 is declined, and a configured 8 is answered as 9.
  uint8_t server = options.serverMaxWindowBits ? options.serverMaxWindowBits : 15;
  if (server < 9) server = 9;
  if (offer.serverMaxWindowBits) {
    if (offer.serverMaxWindowBits < 9) return false;
    if (offer.serverMaxWindowBits < server) server = offer.serverMaxWindowBits;
  }
  // The client's window: we may only limit it when the client said it can be limited.
  uint8_t client = 15;
  if (options.clientMaxWindowBits) {
    if (!offer.clientMaxWindowBits) return false;
    client = options.clientMaxWindowBits;
    if (offer.clientMaxWindowBitsValue && offer.clientMaxWindowBitsValue < client) {
      client = offer.clientMaxWindowBitsValue;
    }
  } else if (offer.clientMaxWindowBitsValue) {
    client = offer.clientMaxWindowBitsValue;
  }
  out.serverMaxWindowBits = server;
  out.clientMaxWindowBits = client;
  out.serverNoContextTakeover = offer.serverNoContextTakeover || options.serverNoContextTakeover;
  out.clientNoContextTakeover = offer.clientNoContextTakeover || options.clientNoContextTakeover;
  return true;
}

std::string responseFor(const Offer& offer, const DeflateOptions& options, const DeflateParams& params) {
  std::string out = "permessage-deflate";
  if (params.serverNoContextTakeover) out += "; server_no_context_takeover";
  if (params.clientNoContextTakeover) out += "; client_no_context_takeover";
  // Echoed when the client asked for a limit, and declared when we chose a smaller window.
  if (offer.serverMaxWindowBits || params.serverMaxWindowBits < 15) {
    out += "; server_max_window_bits=" + std::to_string(params.serverMaxWindowBits);
  }
  if (options.clientMaxWindowBits || offer.clientMaxWindowBitsValue) {
    out += "; client_max_window_bits=" + std::to_string(params.clientMaxWindowBits);
  }
  return out;
}

}  // namespace

DeflateNegotiation negotiateDeflate(std::string_view header, const DeflateOptions& options) {
  DeflateNegotiation result;
  if (!options.enabled) return result;
  size_t start = 0;
  while (start <= header.size()) {
    // The element ends at the next comma outside a quoted string.
    size_t end = start;
    bool inQuotes = false;
    while (end < header.size()) {
      char ch = header[end];
      if (inQuotes && ch == '\\' && end + 1 < header.size()) {
        end += 2;
        continue;
      }
      if (ch == '"') inQuotes = !inQuotes;
      if (ch == ',' && !inQuotes) break;
      ++end;
    }
    std::string_view element = header.substr(start, end - start);
    Offer offer;
    if (parseElement(element, offer) == Parsed::OFFER && answer(offer, options, result.params)) {
      result.accepted = true;
      result.response = responseFor(offer, options, result.params);
      return result;
    }
    if (end >= header.size()) break;
    start = end + 1;
  }
  result.params = DeflateParams();
  return result;
}

}  // namespace epollws
