/* gzip of a large body cut into blocks, each block deflated on its own
 * (its dictionary: the end of the block before it, which the inflater has
 * just produced) and kept between calls: a block whose bytes, and whose
 * predecessor's, are the same as the cached ones at that position (same
 * length, same keyed 64-bit hashes) is not compressed again, as pigz joins
 * blocks. For /metrics, whose per-PV lines mostly stay the same from one
 * scrape to the next: 21 MB of text at 100k PVs took 40-55 ms to deflate
 * whole at level 1; hashing it costs a few ms. The output is one ordinary
 * gzip member (any gzip reader inflates it to the same bytes). Loop-only,
 * not thread-safe. */
#ifndef ABC_HTTP_GZIP_BLOCKS_H
#define ABC_HTTP_GZIP_BLOCKS_H

#include <stddef.h>

struct gzip_blocks;

struct gzip_blocks *gzip_blocks_new(void);
void gzip_blocks_free(struct gzip_blocks *g);

/* Compresses in[0..len) into *out (malloc'ed, caller frees), the blocks
 * cut at cuts (offsets into in; out of order, repeated or out of range
 * ones are ignored). 0, -ENOMEM or -EIO. */
int gzip_blocks_run(struct gzip_blocks *g, const char *in, size_t len, const size_t *cuts,
                    size_t ncuts, char **out, size_t *out_len);

/* Of the last run: blocks, and blocks deflated (not found in the cache). */
void gzip_blocks_last(const struct gzip_blocks *g, size_t *blocks, size_t *deflated);

#endif
