/* Event-loop watchdog behind /livez: a uv_timer ticking every 2 s records
 * when it last ran; the loop counts as alive while that was within 10 s.
 * 2 s, not 1 s: an idle daemon wakes up for little else (bench budget:
 * <= 1 wakeup/s). The struct is embedded by the owner (app), which keeps it
 * alive until close_cb. */
#ifndef ABC_HEALTH_WATCHDOG_H
#define ABC_HEALTH_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#define WATCHDOG_INTERVAL_MS 2000
#define WATCHDOG_STALE_MS 10000

struct watchdog {
    uv_timer_t timer;
    int64_t last_tick_ms;   /* clock_mono_ms() of the last tick (or start) */
    uint64_t ticks;         /* tick count (tests) */
    void (*close_cb)(void *data);
    void *close_data;
};

/* No I/O; 0 or negative errno from uv_timer_init. */
int watchdog_init(struct watchdog *w, uv_loop_t *loop);
/* Records "now" as the last tick and starts ticking. 0 / -errno. */
int watchdog_start(struct watchdog *w);
void watchdog_stop(struct watchdog *w);
/* Closes the timer; close_cb (may be NULL) fires from the loop afterwards,
 * never before return. */
void watchdog_close(struct watchdog *w, void (*close_cb)(void *data), void *data);
/* now_ms: clock_mono_ms(). True when the timer ticked within 10 s. */
bool watchdog_alive(const struct watchdog *w, int64_t now_ms);

#endif
