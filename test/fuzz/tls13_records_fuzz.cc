// The TLS 1.3 record layer (native/core/tls13_records.*) against arbitrary input: every input is
// (1) framed and opened as if a peer had sent it (record lengths, headers, forged tags: nothing
// may be read or written out of bounds, and nothing forged may open), and (2) sealed by a peer
// with the mirrored secrets, in pieces the input chooses, then opened by the server: it must
// come back byte for byte. Suite and secrets come from the input's first bytes.
#include <dlfcn.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "openssl_api.h"
#include "tls13_records.h"

using namespace epollws;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const OpenSsl* api = openSsl();
  if (!api || size < 2) return 0;
  static Tls13Ciphers* ciphers = new Tls13Ciphers(*api);  // one per process, as one per reactor
  static constexpr uint16_t SUITES[3] = {0x1301, 0x1302, 0x1303};
  uint16_t suite = SUITES[data[0] % 3];
  size_t secretLength = suite == 0x1302 ? 48 : 32;
  uint8_t client[48];
  uint8_t server[48];
  for (size_t i = 0; i < 48; ++i) {
    client[i] = static_cast<uint8_t>(data[1] + i);
    server[i] = static_cast<uint8_t>(data[1] * 3 + i);
  }
  data += 2;
  size -= 2;

  // (1) As received: whatever the bytes, open() fails or yields what a sender with the keys made.
  Tls13Records receiver;
  if (!receiver.start(*ciphers, suite, client, server, secretLength, 0, 0)) std::abort();
  std::string received(reinterpret_cast<const char*>(data), size);
  ByteBuffer reply;
  size_t at = 0;
  while (at < received.size()) {
    auto* bytes = reinterpret_cast<uint8_t*>(&received[at]);
    size_t length = Tls13Records::recordLength(bytes, received.size() - at);
    if (length == 0 || length == SIZE_MAX) break;
    size_t plaintext = 0;
    if (receiver.open(*ciphers, bytes, length, plaintext, reply) == Tls13Records::Status::OK && plaintext > 0) {
      std::abort();  // a forged record opened (the fuzzer cannot know the keys)
    }
    at += length;
  }

  // (2) Sealed by the peer (its write secret is the server's read secret), opened by the server.
  Tls13Records peer;
  Tls13Records server13;
  if (!peer.start(*ciphers, suite, server, client, secretLength, 0, 0) ||
      !server13.start(*ciphers, suite, client, server, secretLength, 0, 0)) {
    std::abort();
  }
  ByteBuffer wire;
  size_t piece = size ? (data[0] % 7) * 4099 + 1 : 1;
  for (size_t sent = 0; sent < size; sent += piece) {
    if (!peer.seal(*ciphers, data + sent, std::min(piece, size - sent), wire)) std::abort();
  }
  std::string opened;
  at = 0;
  while (at < wire.size()) {
    size_t length = Tls13Records::recordLength(wire.data() + at, wire.size() - at);
    if (length == 0 || length == SIZE_MAX) std::abort();
    size_t plaintext = 0;
    if (server13.open(*ciphers, wire.data() + at, length, plaintext, reply) != Tls13Records::Status::OK) std::abort();
    opened.append(reinterpret_cast<const char*>(wire.data() + at + Tls13Records::HEADER), plaintext);
    at += length;
  }
  if (opened.size() != size || (size && std::memcmp(opened.data(), data, size) != 0)) std::abort();
  return 0;
}
