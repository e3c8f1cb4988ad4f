// RFC 7692 §7 negotiation (deflate_negotiation.cc): the parameter matrix (every window size both
// ways, both no-context-takeover flags, with and without server options), several offers (the
// first acceptable one wins), and malformed or unacceptable offers declined.
#include <string>

#include "check.h"
#include "deflate_negotiation.h"

using namespace epollws;

namespace {

DeflateOptions on() {
  DeflateOptions o;
  o.enabled = true;
  return o;
}

std::string answer(const std::string& header, const DeflateOptions& options = on()) {
  DeflateNegotiation n = negotiateDeflate(header, options);
  CHECK_EQ(n.accepted, !n.response.empty());
  return n.response;
}

void plainOffer() {
  CHECK_EQ(answer("permessage-deflate"), std::string("permessage-deflate"));
  CHECK_EQ(answer("Permessage-Deflate"), std::string("permessage-deflate"));  // tokens are case-insensitive
  DeflateNegotiation n = negotiateDeflate("permessage-deflate", on());
  CHECK_EQ(n.params.serverMaxWindowBits, 15);
  CHECK_EQ(n.params.clientMaxWindowBits, 15);
  CHECK(!n.params.serverNoContextTakeover);
  CHECK(!n.params.clientNoContextTakeover);
  // Off: nothing is ever accepted.
  CHECK_EQ(answer("permessage-deflate", DeflateOptions()), std::string());
  CHECK_EQ(answer(""), std::string());
  CHECK_EQ(answer("x-webkit-deflate-frame"), std::string());
}

void browserOffer() {
  // What Chromium and Firefox send.
  DeflateNegotiation n = negotiateDeflate("permessage-deflate; client_max_window_bits", on());
  CHECK(n.accepted);
  CHECK_EQ(n.response, std::string("permessage-deflate"));
  CHECK_EQ(n.params.clientMaxWindowBits, 15);
}

void windowBitsMatrix() {
  for (int bits = 8; bits <= 15; ++bits) {
    std::string b = std::to_string(bits);
    // The client limits our window: 9..15 are honoured and echoed; 8 cannot be (zlib).
    DeflateNegotiation s = negotiateDeflate("permessage-deflate; server_max_window_bits=" + b, on());
    if (bits == 8) {
      CHECK(!s.accepted);
    } else {
      CHECK(s.accepted);
      CHECK_EQ(s.params.serverMaxWindowBits, bits);
      CHECK_EQ(s.response, "permessage-deflate; server_max_window_bits=" + b);
    }
    // The client says its own window: echoed, and the inflater sized for it.
    DeflateNegotiation c = negotiateDeflate("permessage-deflate; client_max_window_bits=" + b, on());
    CHECK(c.accepted);
    CHECK_EQ(c.params.clientMaxWindowBits, bits);
    CHECK_EQ(c.response, "permessage-deflate; client_max_window_bits=" + b);
    // Our option limits the client (allowed only when the client offered the parameter).
    DeflateOptions limit = on();
    limit.clientMaxWindowBits = static_cast<uint8_t>(bits);
    DeflateNegotiation l = negotiateDeflate("permessage-deflate; client_max_window_bits", limit);
    CHECK(l.accepted);
    CHECK_EQ(l.params.clientMaxWindowBits, bits);
    CHECK_EQ(l.response, "permessage-deflate; client_max_window_bits=" + b);
    CHECK(!negotiateDeflate("permessage-deflate", limit).accepted);
    // Both limits: the smaller wins.
    DeflateNegotiation both = negotiateDeflate("permessage-deflate; client_max_window_bits=12", limit);
    CHECK_EQ(both.params.clientMaxWindowBits, bits < 12 ? bits : 12);
    // Our own window option: declared to the client (8 is answered as 9).
    DeflateOptions ours = on();
    ours.serverMaxWindowBits = static_cast<uint8_t>(bits);
    DeflateNegotiation o = negotiateDeflate("permessage-deflate", ours);
    int expected = bits == 8 ? 9 : bits;
    CHECK_EQ(o.params.serverMaxWindowBits, expected);
    if (expected < 15) {
      CHECK_EQ(o.response, "permessage-deflate; server_max_window_bits=" + std::to_string(expected));
    } else {
      CHECK_EQ(o.response, std::string("permessage-deflate"));
    }
    // Ours and the client's: the smaller.
    DeflateNegotiation m = negotiateDeflate("permessage-deflate; server_max_window_bits=11", ours);
    CHECK_EQ(m.params.serverMaxWindowBits, expected < 11 ? expected : 11);
  }
}

void contextTakeoverFlags() {
  DeflateNegotiation s = negotiateDeflate("permessage-deflate; server_no_context_takeover", on());
  CHECK(s.params.serverNoContextTakeover);
  CHECK_EQ(s.response, std::string("permessage-deflate; server_no_context_takeover"));
  DeflateNegotiation c = negotiateDeflate("permessage-deflate; client_no_context_takeover", on());
  CHECK(c.params.clientNoContextTakeover);
  CHECK_EQ(c.response, std::string("permessage-deflate; client_no_context_takeover"));
  DeflateOptions both = on();
  both.serverNoContextTakeover = both.clientNoContextTakeover = true;
  DeflateNegotiation b = negotiateDeflate("permessage-deflate", both);
  CHECK(b.params.serverNoContextTakeover && b.params.clientNoContextTakeover);
  CHECK_EQ(b.response, std::string("permessage-deflate; server_no_context_takeover; client_no_context_takeover"));
  DeflateNegotiation all = negotiateDeflate(
      "permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=10; "
      "client_max_window_bits=9",
      on());
  CHECK_EQ(all.response, std::string("permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                                     "server_max_window_bits=10; client_max_window_bits=9"));
}

void malformedOffersDeclined() {
  const char* bad[] = {
      "permessage-deflate; server_max_window_bits",         // needs a value
      "permessage-deflate; server_max_window_bits=16",      // out of range
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=010",     // leading zero
      "permessage-deflate; client_max_window_bits=abc",
      "permessage-deflate; client_max_window_bits=",
      "permessage-deflate; server_no_context_takeover=1",   // takes no value
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  // repeated
      "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
      "permessage-deflate; unknown_param",
      "permessage-deflate; ",
      "permessage-deflate x",
      "; permessage-deflate",
      "permessage-deflate; client_max_window_bits=\"1",     // unterminated quote
  };
  for (const char* header : bad) {
    DeflateNegotiation n = negotiateDeflate(header, on());
    if (n.accepted) std::printf("accepted a malformed offer: %s\n", header);
    CHECK(!n.accepted);
  }
  // A quoted value is a value (RFC 7692 §7.1: quoted-string must also be 1*DIGIT).
  CHECK_EQ(answer("permessage-deflate; client_max_window_bits=\"10\""),
           std::string("permessage-deflate; client_max_window_bits=10"));
}

void severalOffers() {
  // The first acceptable offer wins; malformed and unacceptable ones before it are skipped.
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10"),
           std::string("permessage-deflate; server_max_window_bits=10"));
  CHECK_EQ(answer("foo; bar=1, permessage-deflate; bogus, permessage-deflate; client_max_window_bits"),
           std::string("permessage-deflate"));
  CHECK_EQ(answer("permessage-deflate; server_no_context_takeover, permessage-deflate"),
           std::string("permessage-deflate; server_no_context_takeover"));
  // A comma inside a quoted parameter of another extension does not split it.
  CHECK_EQ(answer("x-foo; a=\"1,2\", permessage-deflate"), std::string("permessage-deflate"));
  // Our client limit declines offers that cannot be limited, then takes the one that can.
  DeflateOptions limit = on();
  limit.clientMaxWindowBits = 10;
  CHECK_EQ(answer("permessage-deflate, permessage-deflate; client_max_window_bits", limit),
           std::string("permessage-deflate; client_max_window_bits=10"));
  CHECK_EQ(answer("permessage-deflate; server_max_window_bits=8", limit), std::string());
}

}  // namespace

int main() {
  plainOffer();
  browserOffer();
  windowBitsMatrix();
  contextTakeoverFlags();
  malformedOffersDeclined();
  severalOffers();
  return CHECK_SUMMARY("deflate_negotiation_test");
}
