/* The daemon's own endpoints: /livez and /healthz (watchdog), /readyz and
 * /readyz/<name> (kube-apiserver format), /metrics (Prometheus 0.0.4 or
 * OpenMetrics by Accept, gzip when accepted). Also registers the per-replica
 * collector for aks_backup_ready{check} and aks_backup_build_info. */
#ifndef ABC_HTTP_ROUTES_BASIC_H
#define ABC_HTTP_ROUTES_BASIC_H

#include <stdbool.h>

#include "health/readyz.h"
#include "health/watchdog.h"
#include "metrics/metrics.h"
#include "http/server.h"

/* All pointers are borrowed and must outlive the server (and, for the
 * collector, m). Call once, before http_server_start. 0 / -ENOMEM. */
int routes_basic_register(struct http_server *s, struct metrics *m, struct readyz *r,
                          struct watchdog *w);

/* The probe listener (http.health_listen): /livez, /healthz, /readyz and
 * /readyz/<name> only, answered from the context routes_basic_register
 * set up (call that first). 0 / -ENOMEM. */
int routes_basic_register_health(struct http_server *s);

/* True when the Accept header asks for OpenMetrics text (exposed for tests). */
bool routes_basic_wants_openmetrics(const char *accept);

#endif
