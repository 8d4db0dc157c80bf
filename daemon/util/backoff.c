/* Exponential backoff with jitter (backoff.h); used by the reflector
 * between failed lists and watches. */
#include "util/backoff.h"

void backoff_init(struct backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed)
{
    b->initial_ms = initial_ms ? initial_ms : 800;
    b->max_ms = max_ms ? max_ms : 30000;
    if (b->max_ms < b->initial_ms)
        b->max_ms = b->initial_ms;
    b->base_ms = 0;
    b->jitter = 0.2;
    b->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

static uint64_t next_rand(struct backoff *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

uint32_t backoff_rand(struct backoff *b, uint32_t n)
{
    return n ? (uint32_t)(next_rand(b) % n) : 0;
}

uint32_t backoff_next(struct backoff *b)
{
    if (b->base_ms == 0)
        b->base_ms = b->initial_ms;
    double base = b->base_ms;
    double u = (double)(next_rand(b) >> 11) / (double)(1ULL << 53); /* [0,1) */
    double d = base * (1.0 - b->jitter + 2.0 * b->jitter * u);
    uint64_t nb = (uint64_t)b->base_ms * 2;
    b->base_ms = nb > b->max_ms ? b->max_ms : (uint32_t)nb;
    return d < 1 ? 1 : (uint32_t)d;
}

void backoff_reset(struct backoff *b)
{
    b->base_ms = 0;
}
