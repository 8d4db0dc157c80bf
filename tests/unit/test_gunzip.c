/* gunzip.c: a gzip body inflated at every chunking gives the original
 * bytes; a plain body passes through; a stream cut short or corrupt is an
 * error; a wrong CRC-32 is not checked (by design); the callback stops it. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "kube/gunzip.h"

struct sink {
    char *p;
    size_t n, cap;
};

static int collect(void *data, const char *p, size_t n)
{
    struct sink *s = data;
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->p = realloc(s->p, s->cap);
    }
    memcpy(s->p + s->n, p, n);
    s->n += n;
    return 0;
}

static char *make_body(size_t *len)
{
    size_t cap = 300 * 1024, n = 0;
    char *b = malloc(cap);
    n += (size_t)snprintf(b, cap, "{\"items\":[");
    for (int i = 0; n + 200 < cap; i++)
        n += (size_t)snprintf(b + n, cap - n, "%s{\"metadata\":{\"name\":\"pv-%d\",\"uid\":\"%08x\"}}",
                              i ? "," : "", i, (unsigned)(i * 2654435761u));
    n += (size_t)snprintf(b + n, cap - n, "]}");
    *len = n;
    return b;
}

static unsigned char *gzip(const char *in, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, n);
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static int feed_all(const unsigned char *p, size_t n, size_t chunk, struct sink *s)
{
    struct gunzip g;
    gunzip_begin(&g);
    for (size_t off = 0; off < n; off += chunk) {
        int rc = gunzip_feed(&g, (const char *)p + off, n - off < chunk ? n - off : chunk, collect, s);
        if (rc) {
            gunzip_end(&g);
            return rc;
        }
    }
    return gunzip_end(&g);
}

START_TEST(gzip_and_plain_at_every_chunking)
{
    size_t len, zlen;
    char *body = make_body(&len);
    unsigned char *z = gzip(body, len, &zlen);
    ck_assert_uint_lt(zlen, len);
    static const size_t chunks[] = {1, 2, 7, 100, 4096, 65536, 1 << 22};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
        struct sink s = {0};
        ck_assert_int_eq(feed_all(z, zlen, chunks[c], &s), 0);
        ck_assert_uint_eq(s.n, len);
        ck_assert(memcmp(s.p, body, len) == 0);
        free(s.p);
        struct sink t = {0};
        ck_assert_int_eq(feed_all((const unsigned char *)body, len, chunks[c], &t), 0);
        ck_assert_uint_eq(t.n, len);
        ck_assert(memcmp(t.p, body, len) == 0);
        free(t.p);
    }
    free(z);
    free(body);
}
END_TEST

START_TEST(cut_short_and_corrupt)
{
    size_t len, zlen;
    char *body = make_body(&len);
    unsigned char *z = gzip(body, len, &zlen);
    for (size_t cut = 1; cut < zlen; cut += zlen / 37 + 1) {
        struct sink s = {0};
        ck_assert_msg(feed_all(z, cut, 1000, &s) == -EBADMSG, "cut at %zu accepted", cut);
        free(s.p);
    }
    /* a wrong CRC-32 in the trailer is not checked */
    z[zlen - 8] ^= 0xff;
    struct sink s = {0};
    ck_assert_int_eq(feed_all(z, zlen, 4096, &s), 0);
    ck_assert_uint_eq(s.n, len);
    free(s.p);
    /* garbage after the magic */
    unsigned char bad[64];
    memset(bad, 'x', sizeof(bad));
    bad[0] = 0x1f;
    bad[1] = 0x8b;
    struct sink t = {0};
    ck_assert_int_eq(feed_all(bad, sizeof(bad), 64, &t), -EBADMSG);
    free(t.p);
    free(z);
    free(body);
}
END_TEST

static int stop7(void *data, const char *p, size_t n)
{
    (void)data;
    (void)p;
    (void)n;
    return 7;
}

START_TEST(callback_stops)
{
    size_t len, zlen;
    char *body = make_body(&len);
    unsigned char *z = gzip(body, len, &zlen);
    struct gunzip g;
    gunzip_begin(&g);
    ck_assert_int_eq(gunzip_feed(&g, (const char *)z, zlen, stop7, NULL), 7);
    gunzip_end(&g);
    gunzip_begin(&g);
    ck_assert_int_eq(gunzip_feed(&g, body, len, stop7, NULL), 7);
    ck_assert_int_eq(gunzip_end(&g), 0);
    ck_assert_int_eq(gunzip_end(&g), 0); /* idempotent */
    free(z);
    free(body);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("gunzip");
    TCase *tc = tcase_create("gunzip");
    tcase_add_test(tc, gzip_and_plain_at_every_chunking);
    tcase_add_test(tc, cut_short_and_corrupt);
    tcase_add_test(tc, callback_stops);
    suite_add_tcase(su, tc);
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
