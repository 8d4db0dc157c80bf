/* Small HTTP helpers of the server kept apart so they can be tested
 * without sockets: request-target decoding and checks, method names,
 * Accept-Encoding parsing and gzip. */
#include "http/http_util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

bool http_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    const char *p = ae;
    while ((p = strcasestr(p, "gzip")) != NULL) {
        bool start_ok = p == ae || p[-1] == ' ' || p[-1] == ',' || p[-1] == '\t';
        const char *q = p + 4;
        while (*q == ' ' || *q == '\t')
            q++;
        if (start_ok && (*q == '\0' || *q == ',' || *q == ';')) {
            if (*q != ';')
                return true;
            q++;
            while (*q == ' ')
                q++;
            if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
                double qv = strtod(q + 2, NULL);
                return qv > 0;
            }
            return true;
        }
        p += 4;
    }
    return false;
}

int http_gzip(const char *in, size_t len, char **out, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 1 /* fastest: as kube-apiserver; 20 MB of metrics stay cheap */, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    char *dst = malloc(cap);
    if (!dst) {
        deflateEnd(&zs);
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)dst;
    zs.avail_out = (uInt)cap;
    int zrc = deflate(&zs, Z_FINISH);
    deflateEnd(&zs);
    if (zrc != Z_STREAM_END) {
        free(dst);
        return -EIO;
    }
    *out = dst;
    *out_len = cap - zs.avail_out;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "." and ".." segments are refused rather than resolved: no route needs
 * them, and a normalising proxy in front would see another path than we do. */
int http_decode_path(const char *raw, char *out, size_t outlen)
{
    if (!raw || raw[0] != '/')
        return -EINVAL;
    size_t o = 0;
    for (const char *p = raw; *p && *p != '?' && *p != '#'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi >= 0 ? hexval(p[2]) : -1;
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (char)(hi * 16 + lo);
            if (c == '\0')
                return -EINVAL;
            p += 2;
        }
        if (o + 1 >= outlen)
            return -EINVAL;
        out[o++] = c;
    }
    out[o] = '\0';
    for (const char *seg = out; seg; ) {
        seg++; /* skip '/' */
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return -EINVAL;
        seg = end;
    }
    return 0;
}

bool http_known_method(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                        "PATCH", "OPTIONS", "TRACE", "CONNECT"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(m, known[i]) == 0)
            return true;
    }
    return false;
}

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* libmicrohttpd parses "Name: value" in place (the colon becomes NUL and
 * value follows it after optional blanks). An obs-fold continuation line
 * (a line starting with a blank) is glued to the *name* instead, so the
 * header silently changes name: such a name no longer sits right before
 * its value, or is not a token. RFC 9112 lets a server reject obs-fold
 * with 400, which we do. */
bool http_header_well_formed(const char *key, const char *value)
{
    size_t klen = strlen(key);
    if (!klen)
        return false;
    for (size_t i = 0; i < klen; i++)
        if (!tchar((unsigned char)key[i]))
            return false;
    if (!value)
        return true;
    const char *p = key + klen;
    if (value <= p || value - p > 256)
        return false;
    for (p++; p < value; p++)
        if (*p != ' ' && *p != '\t' && *p != '\0' && *p != ':')
            return false;
    return true;
}

/* Query arguments in a request target ('&'-separated after '?'). */
size_t http_query_arg_count(const char *uri)
{
    const char *q = strchr(uri, '?');
    if (!q || !q[1])
        return 0;
    size_t n = 1;
    for (const char *p = q + 1; *p; p++)
        n += *p == '&' || *p == ';';
    return n;
}
