/*
 * uWebSockets.js's Linux binaries are linked against glibc 2.38, which renamed strtol, strtoul and
 * sscanf to their C23 variants (__isoc23_*). Older glibc (Debian 12 has 2.36) lacks those three
 * symbols and nothing else the addon needs. After patch-elf-weak.mjs marks the GLIBC_2.38 version
 * requirement weak, LD_PRELOAD-ing this shim supplies the symbols. The C23 variants differ only in
 * accepting 0b binary literals, which uWS never parses, so forwarding is exact for its use.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

long __isoc23_strtol(const char *s, char **end, int base) { return strtol(s, end, base); }

unsigned long __isoc23_strtoul(const char *s, char **end, int base) { return strtoul(s, end, base); }

int __isoc23_sscanf(const char *s, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = vsscanf(s, format, ap);
  va_end(ap);
  return n;
}
