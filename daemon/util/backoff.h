/* Exponential backoff with jitter for the reflector's retries
 * (0.8 s doubling to 30 s). Pure: no clock, no loop; the caller arms a
 * timer with the returned delay. */
#ifndef ABC_UTIL_BACKOFF_H
#define ABC_UTIL_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint32_t initial_ms; /* first base delay */
    uint32_t max_ms;     /* cap of the base delay */
    uint32_t base_ms;    /* next base delay (0 = initial) */
    double jitter;       /* delay = base * (1 +- jitter) */
    uint64_t rng;        /* xorshift state, never 0 */
};

/* Defaults when initial_ms/max_ms are 0: 800 ms and 30000 ms, jitter 0.2. */
void backoff_init(struct backoff *b, uint32_t initial_ms, uint32_t max_ms, uint64_t seed);
/* Next delay in ms, in [base*(1-jitter), base*(1+jitter)], then the base
 * doubles (capped at max_ms). */
uint32_t backoff_next(struct backoff *b);
/* After a success: the next delay starts from initial_ms again. */
void backoff_reset(struct backoff *b);
/* Uniform pseudo-random number in [0, n) from the same generator. */
uint32_t backoff_rand(struct backoff *b, uint32_t n);

#endif
