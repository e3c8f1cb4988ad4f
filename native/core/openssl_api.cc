// Resolution of the OpenSSL table (see openssl_api.h for why it is resolved at run time).
#include "openssl_api.h"

#include <dlfcn.h>

#include <cstdio>
#include <mutex>

namespace epollws {
namespace {

void* lookupInProcess(const char* name) { return ::dlsym(RTLD_DEFAULT, name); }

}  // namespace

bool resolveOpenSsl(OpenSsl& out, SymbolLookup lookup, std::string& error) {
#define EPOLLWS_OPENSSL_RESOLVE(name)                                                   \
  out.name = reinterpret_cast<decltype(&::name)>(lookup(#name));                        \
  if (out.name == nullptr) {                                                            \
    error = "this process has no OpenSSL 3 libssl (the symbol " #name " is missing)";  \
    return false;                                                                       \
  }
  EPOLLWS_OPENSSL_FUNCTIONS(EPOLLWS_OPENSSL_RESOLVE)
#undef EPOLLWS_OPENSSL_RESOLVE
  unsigned long version = out.OpenSSL_version_num();
  if ((version >> 28) != 3) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%lx", version);
    error = std::string("this process's OpenSSL is version ") + hex + ", and epollws's TLS needs OpenSSL 3";
    return false;
  }
  return true;
}

const OpenSsl* openSsl(std::string* error) {
  static OpenSsl table;
  static std::string failure;
  static bool available = false;
  static std::once_flag once;
  std::call_once(once, [] { available = resolveOpenSsl(table, lookupInProcess, failure); });
  if (!available && error) *error = failure;
  return available ? &table : nullptr;
}

std::string takeOpenSslErrors(const OpenSsl& ssl, const char* fallback) {
  std::string out;
  while (unsigned long code = ssl.ERR_get_error()) {
    char line[256];
    ssl.ERR_error_string_n(code, line, sizeof line);
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out.empty() ? std::string(fallback) : out;
}

}  // namespace epollws
