/* Block-cached gzip; see gzip_blocks.h. A block is raw deflate ended with
 * Z_SYNC_FLUSH (byte-aligned, not final), so blocks concatenate into one
 * deflate stream; an empty final block, the CRC-32 (crc32_combine of the
 * blocks' own) and the length close the member. */
#include "http/gzip_blocks.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <zlib.h>

/* Tuned by callgrind on a 100k-PV body (21 MB, a block every 32 PV
 * lines, ~7 KB), all blocks deflated: whole-body gzip level 1 574 M
 * instructions, 942 KB; blocks with memLevel 8 and no dictionary ~1.8 MB;
 * memLevel 5 and the previous block's last 2 KB as dictionary 490 M
 * instructions, 907 KB. deflateReset clears 2^(memLevel+7) two-byte hash
 * heads once per block (64 KB at the default 8, more than deflating 7 KB
 * costs); zlib hashes every dictionary byte, so a longer one costs time
 * for little gain: a block's first lines only need the lines before. */
#define GZIP_BLOCKS_MEMLEVEL 5
#define GZIP_BLOCKS_DICT 2048

struct gz_block {
    uint64_t hash;
    uint64_t prev_hash;  /* of the block before it (its dictionary); 0 first */
    size_t len;          /* plain bytes */
    uint32_t crc;        /* of the plain bytes */
    size_t zlen;
    unsigned char *z;    /* raw deflate, sync-flushed; NULL: no entry */
};

struct gzip_blocks {
    uint64_t seed;
    z_stream zs;
    bool zinit;
    struct gz_block *v;
    size_t n, cap;
    unsigned char fin[16]; /* the final empty block */
    size_t finlen;
    size_t last_blocks, last_deflated;
};

static uint64_t mix(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Keyed 64-bit hash (4 lanes of 128-bit multiply-fold, ~6 bytes/cycle):
 * the seed is random per process, so which contents collide cannot be
 * chosen from outside; two different blocks of the same length at one
 * position match with probability ~2^-64. */
static uint64_t block_hash(uint64_t seed, const unsigned char *p, size_t n)
{
    const uint64_t k0 = 0xa0761d6478bd642fULL, k1 = 0xe7037ed1a0b428dbULL,
                   k2 = 0x8ebc6af09c88c6e3ULL, k3 = 0x589965cc75374cc3ULL;
    uint64_t h0 = seed ^ k1, h1 = seed ^ k2, h2 = seed ^ k3, h3 = seed ^ k0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        h0 = mix(h0 ^ load64(p + i), k0);
        h1 = mix(h1 ^ load64(p + i + 8), k1);
        h2 = mix(h2 ^ load64(p + i + 16), k2);
        h3 = mix(h3 ^ load64(p + i + 24), k3);
    }
    unsigned char tail[32] = {0};
    memcpy(tail, p + i, n - i);
    h0 = mix(h0 ^ load64(tail), k0);
    h1 = mix(h1 ^ load64(tail + 8), k1);
    h2 = mix(h2 ^ load64(tail + 16), k2);
    h3 = mix(h3 ^ load64(tail + 24), k3);
    return mix(mix(h0 ^ n, h1 ^ k3) ^ h2, h3 ^ k1);
}

struct gzip_blocks *gzip_blocks_new(void)
{
    struct gzip_blocks *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    if (getrandom(&g->seed, sizeof(g->seed), GRND_NONBLOCK) != (ssize_t)sizeof(g->seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g->seed = mix((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)g, (uint64_t)ts.tv_sec | 1);
    }
    /* Level 1 as before (and as kube-apiserver); raw deflate. */
    if (deflateInit2(&g->zs, 1, Z_DEFLATED, -15, GZIP_BLOCKS_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(g);
        return NULL;
    }
    g->zinit = true;
    g->zs.next_in = (Bytef *)"";
    g->zs.avail_in = 0;
    g->zs.next_out = g->fin;
    g->zs.avail_out = sizeof(g->fin);
    if (deflate(&g->zs, Z_FINISH) != Z_STREAM_END) {
        gzip_blocks_free(g);
        return NULL;
    }
    g->finlen = sizeof(g->fin) - g->zs.avail_out;
    return g;
}

static void block_clear(struct gz_block *b)
{
    free(b->z);
    memset(b, 0, sizeof(*b));
}

void gzip_blocks_free(struct gzip_blocks *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++)
        block_clear(&g->v[i]);
    free(g->v);
    if (g->zinit)
        deflateEnd(&g->zs);
    free(g);
}

void gzip_blocks_last(const struct gzip_blocks *g, size_t *blocks, size_t *deflated)
{
    *blocks = g->last_blocks;
    *deflated = g->last_deflated;
}

/* Deflates p[0..n) into b (replacing what it held), with the previous
 * block's last bytes (dict, dlen) as dictionary: the inflater has them in
 * its window already, and lines much like the block's own compress ~2x
 * better than from an empty window. The cache key therefore holds the
 * previous block's hash too. */
static int deflate_block(struct gzip_blocks *g, struct gz_block *b, const unsigned char *p,
                         size_t n, uint64_t h, const unsigned char *dict, size_t dlen,
                         uint64_t prev_h)
{
    if (deflateReset(&g->zs) != Z_OK)
        return -EIO;
    if (dlen > GZIP_BLOCKS_DICT) {
        dict += dlen - GZIP_BLOCKS_DICT;
        dlen = GZIP_BLOCKS_DICT;
    }
    if (dlen && deflateSetDictionary(&g->zs, dict, (uInt)dlen) != Z_OK)
        return -EIO;
    size_t cap = deflateBound(&g->zs, (uLong)n) + 16;
    unsigned char *z = malloc(cap);
    if (!z)
        return -ENOMEM;
    g->zs.next_in = (Bytef *)(uintptr_t)p;
    g->zs.avail_in = (uInt)n;
    g->zs.next_out = z;
    g->zs.avail_out = (uInt)cap;
    int zrc = deflate(&g->zs, Z_SYNC_FLUSH);
    if (zrc != Z_OK || g->zs.avail_in || !g->zs.avail_out) {
        free(z);
        return -EIO;
    }
    size_t zlen = cap - g->zs.avail_out;
    unsigned char *small = realloc(z, zlen ? zlen : 1);
    free(b->z);
    *b = (struct gz_block){.hash = h, .prev_hash = prev_h, .len = n, .crc = (uint32_t)crc32(0, p, (uInt)n),
                           .zlen = zlen, .z = small ? small : z};
    g->last_deflated++;
    return 0;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

int gzip_blocks_run(struct gzip_blocks *g, const char *in, size_t len, const size_t *cuts,
                    size_t ncuts, char **out, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)in;
    /* Blocks above 1 GiB would overflow zlib's 32-bit counts; none are. */
    size_t nb = 0, need = 10 + g->finlen + 8;
    g->last_deflated = 0;
    size_t start = 0, prev_start = 0;
    uint64_t prev_h = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (end <= start || end > len)
            continue;
        if (end - start > (1u << 30))
            return -EIO;
        if (nb == g->cap) {
            size_t nc = g->cap ? g->cap * 2 : 64;
            struct gz_block *nv = realloc(g->v, nc * sizeof(*nv));
            if (!nv)
                return -ENOMEM;
            memset(nv + g->cap, 0, (nc - g->cap) * sizeof(*nv));
            g->v = nv;
            g->cap = nc;
        }
        if (nb >= g->n)
            g->n = nb + 1; /* a fresh (zeroed) entry */
        struct gz_block *b = &g->v[nb];
        uint64_t h = block_hash(g->seed, p + start, end - start);
        if (!b->z || b->len != end - start || b->hash != h || b->prev_hash != prev_h) {
            int rc = deflate_block(g, b, p + start, end - start, h, p + prev_start,
                                   start - prev_start, prev_h);
            if (rc) {
                block_clear(b);
                return rc;
            }
        }
        need += b->zlen;
        nb++;
        prev_start = start;
        prev_h = h;
        start = end;
    }
    for (size_t i = nb; i < g->n; i++) /* blocks the body no longer has */
        block_clear(&g->v[i]);
    g->n = nb;
    g->last_blocks = nb;

    unsigned char *dst = malloc(need);
    if (!dst)
        return -ENOMEM;
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memcpy(dst, head, sizeof(head));
    size_t off = sizeof(head);
    uLong crc = crc32(0, NULL, 0);
    for (size_t i = 0; i < nb; i++) {
        const struct gz_block *b = &g->v[i];
        memcpy(dst + off, b->z, b->zlen);
        off += b->zlen;
        crc = crc32_combine(crc, b->crc, (z_off_t)b->len);
    }
    memcpy(dst + off, g->fin, g->finlen);
    off += g->finlen;
    put_le32(dst + off, (uint32_t)crc);
    put_le32(dst + off + 4, (uint32_t)len);
    off += 8;
    *out = (char *)dst;
    *out_len = off;
    return 0;
}
