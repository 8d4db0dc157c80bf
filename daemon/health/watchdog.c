/* Event-loop watchdog; see watchdog.h. Ticks use CLOCK_MONOTONIC rather
 * than uv_now() so a stalled loop cannot hide behind a cached loop time. */
#include "health/watchdog.h"

#include <stddef.h>

#include "util/clock.h"

static void on_tick(uv_timer_t *t)
{
    struct watchdog *w = t->data;
    w->last_tick_ms = clock_mono_ms();
    w->ticks++;
}

int watchdog_init(struct watchdog *w, uv_loop_t *loop)
{
    w->last_tick_ms = clock_mono_ms();
    w->ticks = 0;
    w->close_cb = NULL;
    w->close_data = NULL;
    int rc = uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    return rc;
}

int watchdog_start(struct watchdog *w)
{
    w->last_tick_ms = clock_mono_ms();
    return uv_timer_start(&w->timer, on_tick, WATCHDOG_INTERVAL_MS, WATCHDOG_INTERVAL_MS);
}

void watchdog_stop(struct watchdog *w)
{
    uv_timer_stop(&w->timer);
}

static void on_closed(uv_handle_t *h)
{
    struct watchdog *w = h->data;
    if (w->close_cb)
        w->close_cb(w->close_data);
}

void watchdog_close(struct watchdog *w, void (*close_cb)(void *data), void *data)
{
    w->close_cb = close_cb;
    w->close_data = data;
    uv_close((uv_handle_t *)&w->timer, on_closed);
}

bool watchdog_alive(const struct watchdog *w, int64_t now_ms)
{
    return now_ms - w->last_tick_ms <= WATCHDOG_STALE_MS;
}
