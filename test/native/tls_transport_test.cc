// Native TLS end to end in C++ alone, under ASan/UBSan: a Server with TLS on 127.0.0.1, OpenSSL
// clients (blocking, in a thread, while the main thread drives the turns as the binding does),
// raw sockets for what a hostile client sends; plus the resolution of OpenSSL's symbols and the
// refusal of bad certificates. The certificate is made per run with the openssl CLI.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "check.h"
#include "openssl_api.h"
#include "server.h"
#include "server_driver.h"
#include "tls_context_set.h"

using namespace epollws;
using namespace driver;

namespace {

struct Certificate {
  std::string key;
  std::string cert;
};

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

Certificate makeCertificate() {
  char dir[] = "/tmp/epollws-tls-test-XXXXXX";
  if (!::mkdtemp(dir)) return {};
  std::string base(dir);
  std::string command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost -keyout " +
                        base + "/k.pem -out " + base + "/c.pem 2>/dev/null";
  Certificate out;
  if (std::system(command.c_str()) == 0) out = {readFile(base + "/k.pem"), readFile(base + "/c.pem")};
  std::system(("rm -rf " + base).c_str());
  return out;
}

const Certificate& certificate() {
  static Certificate made = makeCertificate();
  return made;
}

std::unique_ptr<TlsContextSet> contexts() {
  std::string error;
  const OpenSsl* api = openSsl(&error);
  auto set = std::make_unique<TlsContextSet>(*api);
  TlsConfig config;
  config.key = certificate().key;
  config.cert = certificate().cert;
  CHECK(set->setDefault(config, error));
  return set;
}

// A TLS server on 127.0.0.1 that accepts every upgrade and echoes every message.
struct EchoServer {
  explicit EchoServer(ServerOptions options = {}) : server(std::move(options)) {
    CHECK_EQ(server.init(), 0);
    std::string error;
    CHECK(server.useTls(contexts(), error));
    port = server.listen("127.0.0.1", 0, 64, false).port;
  }
  void turnOnce(int timeoutMs = 5) {
    for (Event& e : turn(server, timeoutMs)) {
      if (e.kind == EventKind::UPGRADE) server.acceptUpgrade(e.id, "", "", "");
      if (e.kind == EventKind::MESSAGE) {
        Opcode opcode = (e.arg & MESSAGE_BINARY) ? Opcode::BINARY : Opcode::TEXT;
        server.send(e.id, opcode, reinterpret_cast<const uint8_t*>(e.payload.data()), e.payload.size());
      }
      if (e.kind == EventKind::CLOSE) ++closes;
    }
  }
  // Drives turns until `done` (bounded: 20 s).
  void runUntil(const std::atomic<bool>& done) {
    for (int i = 0; i < 4000 && !done; ++i) turnOnce();
  }
  Server server;
  uint16_t port = 0;
  int closes = 0;
};

// A blocking OpenSSL client (runs in its own thread).
struct TlsClient {
  ~TlsClient() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
    if (fd >= 0) ::close(fd);
  }
  bool connect(uint16_t port) {
    fd = connectTo(port);
    ctx = SSL_CTX_new(TLS_client_method());
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    return SSL_connect(ssl) == 1;
  }
  bool write(const std::string& bytes) { return SSL_write(ssl, bytes.data(), static_cast<int>(bytes.size())) > 0; }
  // Reads until `wanted` bytes or the end.
  std::string read(size_t wanted) {
    std::string out;
    char buffer[65536];
    while (out.size() < wanted) {
      int n = SSL_read(ssl, buffer, static_cast<int>(std::min(sizeof buffer, wanted - out.size())));
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }
  std::string readHead() {
    std::string out;
    while (out.find("\r\n\r\n") == std::string::npos) {
      std::string one = read(1);
      if (one.empty()) break;
      out += one;
    }
    return out;
  }
  int fd = -1;
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
};

std::string serverFrameHeader(uint8_t b0, size_t length) {
  std::string h(1, static_cast<char>(b0));
  if (length < 126) {
    h += static_cast<char>(length);
  } else if (length < 65536) {
    h += static_cast<char>(126);
    h += static_cast<char>(length >> 8);
    h += static_cast<char>(length);
  } else {
    h += static_cast<char>(127);
    for (int i = 7; i >= 0; --i) h += static_cast<char>(static_cast<uint64_t>(length) >> (8 * i));
  }
  return h;
}

// Upgrade, a text echo, then a 4 MiB binary echo the client only starts reading after a pause:
// the server's kernel buffer fills, so its ciphertext waits in the socket and goes out in order.
void testEchoOverTls() {
  EchoServer echo;
  std::atomic<bool> done{false};
  bool ok = false;
  std::thread client([&] {
    TlsClient c;
    if (c.connect(echo.port) && c.write(wire::UPGRADE_REQUEST) &&
        c.readHead().find(wire::UPGRADE_ACCEPT_KEY) != std::string::npos) {
      std::string big(4 << 20, '\0');
      for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
      bool textOk = c.write(maskedFrame(0x81, "hello")) && c.read(7) == serverFrameHeader(0x81, 5) + "hello";
      bool sent = c.write(maskedFrame(0x82, big));
      ::usleep(200 * 1000);
      std::string header = serverFrameHeader(0x82, big.size());
      ok = textOk && sent && c.read(header.size() + big.size()) == header + big;
    }
    done = true;
  });
  echo.runUntil(done);
  client.join();
  CHECK(ok);
  // TLS 1.3: the SSL was freed after the handshake, and the records went on without it.
  CHECK_EQ(echo.server.tlsStats().handshakes, 1u);
  CHECK_EQ(echo.server.tlsStats().handedOver, 1u);
  for (int i = 0; i < 50 && echo.server.connectionCount() > 0; ++i) echo.turnOnce();
  CHECK_EQ(echo.server.connectionCount(), 0u);
}

// With a budget of one handshake step per turn, three ClientHellos are answered one per turn.
void testHandshakeBudget() {
  ServerOptions options;
  options.tlsHandshakesPerTurn = 1;
  EchoServer echo(options);
  // A ClientHello, made by a client SSL on memory BIOs.
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  SSL_connect(ssl);
  char hello[4096];
  int helloLength = BIO_read(out, hello, sizeof hello);
  CHECK(helloLength > 0);
  SSL_free(ssl);
  SSL_CTX_free(ctx);

  int fds[3];
  for (int& fd : fds) {
    fd = connectTo(echo.port);
    writeAll(fd, std::string(hello, static_cast<size_t>(helloLength)));
  }
  ::usleep(20 * 1000);
  echo.turnOnce();  // accepts the three (their bytes are reported from the next turn on)
  auto answered = [&] {
    int count = 0;
    for (int fd : fds) {
      char byte;
      if (::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1) ++count;
    }
    return count;
  };
  for (int expected = 1; expected <= 3; ++expected) {
    echo.turnOnce(0);
    ::usleep(20 * 1000);
    CHECK_EQ(answered(), expected);
  }
  for (int fd : fds) ::close(fd);
  for (int i = 0; i < 50 && echo.server.connectionCount() > 0; ++i) echo.turnOnce();
  CHECK_EQ(echo.server.connectionCount(), 0u);
}

// Plaintext HTTP on the TLS port: closed (OpenSSL recognises an HTTP request and sends no alert:
// the peer does not speak TLS); nothing stays.
void testPlaintextOnTlsPort() {
  EchoServer echo;
  int fd = connectTo(echo.port);
  writeAll(fd, wire::UPGRADE_REQUEST);
  bool closed = false;
  std::string got;
  for (int i = 0; i < 200 && !closed; ++i) {
    echo.turnOnce();
    char buffer[512];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) got.append(buffer, static_cast<size_t>(n));
    if (n == 0 || (n < 0 && errno != EAGAIN)) closed = true;
  }
  CHECK(closed);
  CHECK(got.empty() || got[0] == 0x15);  // at most an alert record, never plaintext
  ::close(fd);
  CHECK_EQ(echo.server.connectionCount(), 0u);
}

void* refuseSslNew(const char* name) { return std::strcmp(name, "SSL_new") == 0 ? nullptr : ::dlsym(RTLD_DEFAULT, name); }
unsigned long version111() { return 0x1010117fUL; }
void* oldVersion(const char* name) {
  return std::strcmp(name, "OpenSSL_version_num") == 0 ? reinterpret_cast<void*>(version111) : ::dlsym(RTLD_DEFAULT, name);
}
void* inProcess(const char* name) { return ::dlsym(RTLD_DEFAULT, name); }

void testResolution() {
  OpenSsl table;
  std::string error;
  CHECK(resolveOpenSsl(table, inProcess, error));
  CHECK(!resolveOpenSsl(table, refuseSslNew, error));
  CHECK(error.find("SSL_new") != std::string::npos);
  CHECK(!resolveOpenSsl(table, oldVersion, error));
  CHECK(error.find("OpenSSL 3") != std::string::npos);
}

void testBadConfigurations() {
  const OpenSsl* api = openSsl();
  CHECK(api != nullptr);
  TlsContextSet set(*api);
  std::string error;
  TlsConfig garbage;
  garbage.key = "not a key";
  garbage.cert = certificate().cert;
  CHECK(!set.setDefault(garbage, error));
  CHECK(error.find("key") != std::string::npos);
  TlsConfig mismatched;
  mismatched.cert = certificate().cert;
  mismatched.key = makeCertificate().key;
  CHECK(!set.setDefault(mismatched, error));
  CHECK(error.find("mismatch") != std::string::npos);
  uint8_t keys[47] = {};
  CHECK(!set.setTicketKeys(keys, sizeof keys, error));
  CHECK(!set.ready());
}

}  // namespace

int main() {
  CHECK(!certificate().key.empty());
  testResolution();
  testBadConfigurations();
  testEchoOverTls();
  testHandshakeBudget();
  testPlaintextOnTlsPort();
  return CHECK_SUMMARY("tls_transport_test");
}
