// OpenSSL's libssl, as the running program has it: a table of function pointers filled once per
// process with dlsym(RTLD_DEFAULT), never a link-time reference. Inside Node the symbols are
// Node's own (the official binary re-exports its OpenSSL to addons; Debian's node links the
// system libssl3), so the addon follows Node's security updates and FIPS configuration, ships no
// second TLS library, and still loads where libssl is absent (Electron, Bun, a --without-ssl
// build): only asking for TLS then fails, with the name of the missing symbol.
//
// Only the OpenSSL 3 ABI is accepted (the headers we build with, from Node 18 on): a different
// major version is refused at resolution rather than called with mismatched structures.
//
// Rule for every file that uses it: call OpenSSL only through this table. A header macro or
// inline function (SSL_CTX_set_mode, sk_X509_num...) expands to a direct call and would bring
// back a link-time dependency; use the *_ctrl / OPENSSL_sk_* entries with the header's constants
// (scripts/check/tls-symbols.sh checks the built addon).
#pragma once
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <string>

namespace epollws {

#define EPOLLWS_OPENSSL_FUNCTIONS(X)                                                               \
  X(OpenSSL_version_num) X(TLS_server_method) X(SSL_CTX_new) X(SSL_CTX_free) X(SSL_CTX_ctrl)       \
  X(SSL_CTX_callback_ctrl) X(SSL_CTX_set_options) X(SSL_CTX_set_cipher_list)                       \
  X(SSL_CTX_set_ciphersuites) X(SSL_CTX_use_certificate) X(SSL_CTX_use_PrivateKey)                 \
  X(SSL_CTX_check_private_key) X(SSL_CTX_get_cert_store) X(SSL_CTX_set_verify)                     \
  X(SSL_CTX_add_client_CA) X(SSL_CTX_set_alpn_select_cb) X(SSL_CTX_set_timeout)                    \
  X(SSL_CTX_set_num_tickets) X(SSL_CTX_set_session_id_context) X(SSL_CTX_set_default_verify_paths) \
  X(SSL_new) X(SSL_free) X(SSL_set_bio) X(SSL_set_accept_state) X(SSL_read_ex) X(SSL_write_ex)     \
  X(SSL_get_error) X(SSL_shutdown) X(SSL_set_SSL_CTX) X(SSL_get_servername) X(SSL_in_init)         \
  X(SSL_get_version) X(SSL_get_current_cipher) X(SSL_CIPHER_get_name) X(SSL_CIPHER_standard_name)  \
  X(SSL_get0_alpn_selected) X(SSL_get1_peer_certificate) X(SSL_get_verify_result)                  \
  X(SSL_get_verify_mode) X(SSL_set_verify) X(SSL_CTX_get_verify_mode) X(SSL_CTX_get_verify_callback) X(SSL_has_pending) X(SSL_session_reused) X(BIO_meth_new)                  \
  X(BIO_meth_set_write) X(BIO_meth_set_read) X(BIO_meth_set_ctrl) X(BIO_new) X(BIO_free)           \
  X(BIO_up_ref) X(BIO_set_flags) X(BIO_clear_flags) X(BIO_set_init) X(BIO_new_mem_buf)             \
  X(PEM_read_bio_X509) X(PEM_read_bio_PrivateKey) X(X509_free) X(EVP_PKEY_free)                    \
  X(X509_STORE_add_cert) X(i2d_X509) X(d2i_PKCS12_bio) X(PKCS12_parse) X(PKCS12_free)              \
  X(OPENSSL_sk_num) X(OPENSSL_sk_value) X(OPENSSL_sk_pop_free) X(ERR_get_error)                    \
  X(ERR_error_string_n) X(ERR_clear_error) X(CRYPTO_free) X(EVP_CIPHER_fetch) X(EVP_CIPHER_free)   \
  X(EVP_CIPHER_CTX_new) X(EVP_CIPHER_CTX_free) X(EVP_CipherInit_ex2) X(EVP_CipherUpdate)           \
  X(EVP_CipherFinal_ex) X(EVP_CIPHER_CTX_ctrl) X(EVP_MD_fetch) X(EVP_MD_free) X(EVP_MD_CTX_new)    \
  X(EVP_MD_CTX_free) X(EVP_DigestInit_ex2) X(EVP_DigestUpdate) X(EVP_DigestFinal_ex)               \
  X(OPENSSL_cleanse) X(SSL_CIPHER_get_id) X(SSL_CTX_set_keylog_callback)                           \
  X(SSL_CTX_set_msg_callback) X(SSL_version) X(RAND_bytes) X(SHA256)                               \
  X(X509_verify_cert_error_string)                                                                 

struct OpenSsl {
#define EPOLLWS_OPENSSL_MEMBER(name) decltype(&::name) name = nullptr;
  EPOLLWS_OPENSSL_FUNCTIONS(EPOLLWS_OPENSSL_MEMBER)
#undef EPOLLWS_OPENSSL_MEMBER
};

// Finds one symbol (dlsym in production; a test passes its own to see a missing one refused).
using SymbolLookup = void* (*)(const char* name);

// Fills `out` from `lookup`. False, with `error` saying which symbol or version, when TLS cannot
// be served by what the program has.
bool resolveOpenSsl(OpenSsl& out, SymbolLookup lookup, std::string& error);

// The process's table: resolved on first use with dlsym(RTLD_DEFAULT), then immutable (so every
// reactor thread may read it). nullptr, with the reason in `error`, where TLS is unavailable.
const OpenSsl* openSsl(std::string* error = nullptr);

// The OpenSSL error queue as one line ("error:...:no start line; ..."), emptied; `fallback` if empty.
std::string takeOpenSslErrors(const OpenSsl& ssl, const char* fallback);

}  // namespace epollws
