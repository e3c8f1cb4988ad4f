#include "deflate_codec.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "pattern.h"

namespace epollws::bench {
namespace {

std::string trimLower(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  std::string r = s.substr(b, e - b + 1);
  for (char& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

// 8..15, optionally quoted (RFC 7692 §7.1.2.1 allows a quoted-string form).
int windowBits(std::string v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 2 || v.find_first_not_of("0123456789") != std::string::npos) return -1;
  int n = std::atoi(v.c_str());
  return n >= 8 && n <= 15 ? n : -1;
}

constexpr uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};

}  // namespace

std::string parseDeflateAnswer(const std::string& value, DeflateParams& out) {
  if (value.find(',') != std::string::npos) return "more than one extension accepted";
  out = DeflateParams{};
  bool seen[4] = {};
  size_t pos = 0;
  bool first = true;
  while (pos <= value.size()) {
    size_t semi = value.find(';', pos);
    std::string item = value.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    pos = semi == std::string::npos ? value.size() + 1 : semi + 1;
    size_t eq = item.find('=');
    std::string name = trimLower(item.substr(0, eq));
    std::string val = eq == std::string::npos ? "" : trimLower(item.substr(eq + 1));
    if (first) {
      if (name != "permessage-deflate" || eq != std::string::npos) return "not permessage-deflate";
      first = false;
      continue;
    }
    int idx = name == "server_no_context_takeover" ? 0 : name == "client_no_context_takeover" ? 1
              : name == "server_max_window_bits" ? 2 : name == "client_max_window_bits" ? 3 : -1;
    if (idx < 0) return "unknown parameter \"" + name + "\"";
    if (seen[idx]) return "parameter \"" + name + "\" repeated";
    seen[idx] = true;
    if (idx < 2) {
      if (eq != std::string::npos) return "parameter \"" + name + "\" takes no value";
      (idx == 0 ? out.serverNoContextTakeover : out.clientNoContextTakeover) = true;
    } else {
      int bits = windowBits(val);
      if (bits < 0) return "bad value for \"" + name + "\"";
      (idx == 2 ? out.serverMaxWindowBits : out.clientMaxWindowBits) = bits;
    }
  }
  // zlib's raw deflate cannot produce a 256-byte window (it rounds 8 up to 9, which a peer holding
  // 8 bits could not decode): refuse rather than send frames the server may reject.
  if (out.clientMaxWindowBits < 9) return "client_max_window_bits=8 is not supported by zlib's deflate";
  return "";
}

DeflateCodec::DeflateCodec(const DeflateParams& p) : params_(p) {
  // Level 1: the load generator must outrun the servers; with context takeover the repeated keys
  // still compress well. memLevel 8 is zlib's default.
  if (deflateInit2(&def_, 1, Z_DEFLATED, -p.clientMaxWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
      inflateInit2(&inf_, -15) != Z_OK) {
    std::fputs("loadgen: error: zlib initialisation failed\n", stderr);
    std::exit(1);
  }
}

DeflateCodec::~DeflateCodec() {
  deflateEnd(&def_);
  inflateEnd(&inf_);
}

void DeflateCodec::resetDeflater() { deflateReset(&def_); }
void DeflateCodec::resetInflater() { inflateReset(&inf_); }

void DeflateCodec::compress(const uint8_t* data, size_t len, std::vector<uint8_t>& out) {
  size_t start = out.size();
  def_.next_in = const_cast<Bytef*>(data);
  def_.avail_in = static_cast<uInt>(len);
  size_t room = deflateBound(&def_, static_cast<uLong>(len)) + 16;
  for (;;) {
    size_t used = out.size();
    out.resize(used + room);
    def_.next_out = out.data() + used;
    def_.avail_out = static_cast<uInt>(room);
    int r = deflate(&def_, Z_SYNC_FLUSH);
    out.resize(used + room - def_.avail_out);
    if (r != Z_OK && r != Z_BUF_ERROR) {
      std::fputs("loadgen: error: deflate failed\n", stderr);
      std::exit(1);
    }
    if (def_.avail_in == 0 && def_.avail_out != 0) break;
  }
  // A sync flush ends with an empty stored block, 00 00 ff ff: RFC 7692 §7.2.1 drops it.
  if (out.size() - start >= 4 && std::memcmp(out.data() + out.size() - 4, kTail, 4) == 0) out.resize(out.size() - 4);
  if (params_.clientNoContextTakeover) deflateReset(&def_);
}

bool DeflateCodec::inflate(const uint8_t* data, size_t len, size_t limit, std::vector<uint8_t>& out) {
  out.resize(limit + 1);  // one spare byte tells "exactly limit" from "more than limit"
  inf_.next_out = out.data();
  inf_.avail_out = static_cast<uInt>(out.size());
  for (int part = 0; part < 2; ++part) {
    inf_.next_in = const_cast<Bytef*>(part == 0 ? data : kTail);
    inf_.avail_in = static_cast<uInt>(part == 0 ? len : sizeof kTail);
    bool ended = false;
    while (inf_.avail_in > 0 && !ended) {
      int r = ::inflate(&inf_, Z_SYNC_FLUSH);
      if (r == Z_BUF_ERROR && inf_.avail_out == 0) return false;  // larger than limit
      if (r == Z_STREAM_END) ended = true;  // a final block: legal, the next message starts afresh
      else if (r != Z_OK && r != Z_BUF_ERROR) return false;
      else if (r == Z_BUF_ERROR) break;
    }
    if (ended) {
      inflateReset(&inf_);
      break;
    }
  }
  out.resize(out.size() - inf_.avail_out);
  if (out.size() > limit) return false;
  if (params_.serverNoContextTakeover) inflateReset(&inf_);
  return true;
}

void jsonMessage(uint32_t connection, uint64_t sequence, size_t size, std::vector<uint8_t>& out) {
  static const char* const kNames[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi",
                                       "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil"};
  static const char* const kWords[] = {"the", "meeting", "moved", "to", "room", "at", "noon", "please",
                                       "review", "my", "pull", "request", "before", "lunch", "thanks", "ok",
                                       "deploy", "looks", "green", "on", "staging", "now", "ship", "it",
                                       "can", "you", "check", "the", "logs", "again", "later", "today"};
  uint64_t h = messageSeed(connection, sequence);
  out.resize(size + 96);
  char* p = reinterpret_cast<char*>(out.data());
  int n = std::snprintf(p, out.size(),
                        "{\"type\":\"chat\",\"id\":%llu,\"room\":\"room-%u\",\"ts\":%llu,\"user\":{\"id\":%u,"
                        "\"name\":\"%s\"},\"replyTo\":%llu,\"text\":\"",
                        static_cast<unsigned long long>(sequence * 100000 + connection), connection % 32,
                        static_cast<unsigned long long>(1764633600000ull + sequence * 37 + connection),
                        static_cast<unsigned>(h % 5000), kNames[(h >> 16) % 16],
                        static_cast<unsigned long long>(sequence ? sequence - 1 : 0));
  size_t len = static_cast<size_t>(n);
  for (uint64_t k = 0; len < size; ++k) {
    const char* w = kWords[mix64(h + k) % 32];
    size_t wl = std::strlen(w);
    if (len + wl + 1 >= out.size()) break;
    std::memcpy(p + len, w, wl);
    p[len + wl] = ' ';
    len += wl + 1;
  }
  // Close the string and object at exactly `size` bytes (a tiny size keeps only a prefix).
  if (size >= 2) {
    p[size - 2] = '"';
    p[size - 1] = '}';
  }
  out.resize(size);
}

}  // namespace epollws::bench
