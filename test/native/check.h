// A tiny assertion harness for the core's unit tests: no framework, one binary per core module.
// Each CHECK failure prints the location and the expression (CHECK_EQ also both values); main() returns non-zero if any failed.
#pragma once
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>

namespace check {
inline int& failures() { static int n = 0; return n; }
inline int& passes() { static int n = 0; return n; }

// Renders a checked value for a failure message: numbers, strings, enums (as their number);
// anything else as "?".
template <typename T, typename = void>
struct Printable : std::false_type {};
template <typename T>
struct Printable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

template <typename T>
std::string show(const T& value) {
  std::ostringstream out;
  if constexpr (std::is_enum_v<T>) {
    out << static_cast<long long>(value);
  } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
    out << static_cast<int>(value);
  } else if constexpr (Printable<T>::value) {
    out << value;
  } else {
    out << "?";
  }
  std::string text = out.str();
  return text.size() > 200 ? text.substr(0, 200) + "..." : text;
}
}  // namespace check

#define CHECK(expr)                                                              \
  do {                                                                           \
    if (expr) {                                                                  \
      ++check::passes();                                                         \
    } else {                                                                     \
      ++check::failures();                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
    }                                                                            \
  } while (0)

#define CHECK_EQ(a, b)                                                           \
  do {                                                                           \
    auto&& check_a_ = (a);                                                       \
    auto&& check_b_ = (b);                                                       \
    if (check_a_ == check_b_) {                                                  \
      ++check::passes();                                                         \
    } else {                                                                     \
      ++check::failures();                                                       \
      std::fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (%s vs %s)\n", __FILE__, __LINE__, #a, #b, \
                   check::show(check_a_).c_str(), check::show(check_b_).c_str());           \
    }                                                                            \
  } while (0)

// Ends a test binary: prints a summary line and returns the exit status.
#define CHECK_SUMMARY(name)                                                      \
  (std::printf("%s: %d checks passed, %d failed\n", name, check::passes(), check::failures()), \
   check::failures() == 0 ? 0 : 1)
