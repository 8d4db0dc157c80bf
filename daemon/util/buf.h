/* Growable byte buffer (after curl's dynbuf): always NUL-terminated, with a
 * hard cap so input from the network can never grow it without bound. */
#ifndef ABC_UTIL_BUF_H
#define ABC_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;  /* NUL-terminated when non-NULL; owned */
    size_t len;
    size_t cap;
    size_t max;  /* 0 = no cap */
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, keeps memory */
/* All return 0 or -ENOMEM (also when the cap would be exceeded: -E2BIG). */
__attribute__((warn_unused_result)) int buf_add(struct buf *b, const void *p, size_t n);
__attribute__((warn_unused_result)) int buf_adds(struct buf *b, const char *s);
__attribute__((warn_unused_result)) int buf_addc(struct buf *b, char c);
__attribute__((warn_unused_result, format(printf, 2, 3))) int buf_printf(struct buf *b, const char *fmt, ...);
__attribute__((warn_unused_result, format(printf, 2, 0))) int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Makes room for n more bytes at once (one allocation instead of a series
 * of doublings for a large body of known size). 0 / -ENOMEM / -E2BIG. */
__attribute__((warn_unused_result)) int buf_reserve(struct buf *b, size_t n);
/* Appends s as a JSON string literal (quotes included). */
__attribute__((warn_unused_result)) int buf_add_json_str(struct buf *b, const char *s);
/* Takes the data out: caller frees; b is reset to empty. */
char *buf_take(struct buf *b, size_t *len);

#endif
