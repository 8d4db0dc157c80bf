/* Streaming gzip-or-plain body decoder (gunzip.h): zlib's inflate with a
 * 64 KiB output block handed to the callback as it fills. */
#include "kube/gunzip.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

void gunzip_begin(struct gunzip *g)
{
    memset(g, 0, sizeof(*g));
}

static int inflate_into(struct gunzip *g, const char *p, size_t n, gunzip_out_cb cb, void *data)
{
    static unsigned char out[64 * 1024]; /* loop thread only; used within one call */
    g->z.next_in = (unsigned char *)(uintptr_t)p;
    g->z.avail_in = (uInt)n;
    while (g->z.avail_in > 0 && g->state == 2) {
        g->z.next_out = out;
        g->z.avail_out = sizeof(out);
        int zr = inflate(&g->z, Z_NO_FLUSH);
        if (zr == Z_MEM_ERROR)
            return -ENOMEM;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return -EBADMSG;
        size_t got = sizeof(out) - g->z.avail_out;
        if (got) {
            int rc = cb(data, (const char *)out, got);
            if (rc)
                return rc;
        }
        if (zr == Z_STREAM_END)
            g->state = 3; /* anything after the gzip member is ignored */
        else if (zr == Z_BUF_ERROR && got == 0)
            break;
    }
    return 0;
}

int gunzip_feed(struct gunzip *g, const char *p, size_t n, gunzip_out_cb cb, void *data)
{
    if (n == 0)
        return 0;
    if (g->state == 0) {
        g->state = 1;
        if ((unsigned char)p[0] == 0x1f) {
            if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK)
                return -ENOMEM;
            g->state = 2;
            inflateValidate(&g->z, 0);
        }
    }
    if (g->state == 1)
        return cb(data, p, n);
    return g->state == 2 ? inflate_into(g, p, n, cb, data) : 0;
}

int gunzip_end(struct gunzip *g)
{
    int rc = g->state == 2 ? -EBADMSG : 0;
    if (g->state >= 2)
        inflateEnd(&g->z);
    g->state = 0;
    return rc;
}
