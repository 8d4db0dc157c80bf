/* UTF-8 checks for text that leaves the daemon (instance names, label
 * values, state documents): validity, control characters, and a repair
 * that replaces invalid bytes with U+FFFD. Pure; used by quota/ and the
 * metrics writer. */
#ifndef ABC_UTIL_UTF8_H
#define ABC_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at s (n bytes available):
 * 1-4, or 0 when the bytes there are not one (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). *cp gets the code point. */
size_t utf8_seq(const unsigned char *s, size_t n, unsigned *cp);
/* Whether s[0..n) is well-formed UTF-8. */
bool utf8_valid(const char *s, size_t n);
/* A backup instance name: non-empty, at most 253 bytes, well-formed
 * UTF-8, no control characters (C0, DEL, C1), no space or '/'. */
bool utf8_instance_name_ok(const char *s);

#endif
