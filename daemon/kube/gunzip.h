/* A response body fed chunk by chunk that may be gzip (first byte 0x1f; a
 * JSON body never starts so) or plain: gzip is inflated without checking
 * the CRC-32 of the inflated bytes (inflateValidate), which libcurl's own
 * decoder spends a tenth of a list's CPU on. Used by the reflector for list
 * pages. Pure, no I/O. */
#ifndef ABC_KUBE_GUNZIP_H
#define ABC_KUBE_GUNZIP_H

#include <stddef.h>

#include <zlib.h>

struct gunzip {
    z_stream z;
    int state; /* 0 no byte yet, 1 plain, 2 gzip (z in use), 3 gzip ended */
};

/* Receives the body's bytes (inflated); non-zero stops: gunzip_feed
 * returns that value. */
typedef int (*gunzip_out_cb)(void *data, const char *p, size_t n);

/* Before the first byte of a body (also after gunzip_end). */
void gunzip_begin(struct gunzip *g);
/* 0, the callback's value, -EBADMSG (bad gzip data) or -ENOMEM. Bytes after
 * the end of a gzip member are ignored. */
int gunzip_feed(struct gunzip *g, const char *p, size_t n, gunzip_out_cb cb, void *data);
/* End of the body: frees the inflater; -EBADMSG when a gzip stream was cut
 * short, else 0. Idempotent. */
int gunzip_end(struct gunzip *g);

#endif
