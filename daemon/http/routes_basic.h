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

/* The routes' context: what the handlers read and the shared /metrics
 * bodies. Passed to each route as its user data; no global state. */
struct routes_basic;

/* All pointers are borrowed and must outlive the server (and, for the
 * collector, m). Call once, before http_server_start. *out receives the
 * context even when registering fails (NULL only when it could not be
 * allocated); free it with routes_basic_free once the servers using it are
 * closed. 0 / -ENOMEM. */
int routes_basic_register(struct http_server *s, struct metrics *m, struct readyz *r,
                          struct watchdog *w, struct routes_basic **out);

/* The probe listener (http.health_listen): /livez, /healthz, /readyz and
 * /readyz/<name> only, answered from c (from routes_basic_register).
 * 0 / -ENOMEM. */
int routes_basic_register_health(struct http_server *s, struct routes_basic *c);

/* Frees the context (NULL is a no-op). */
void routes_basic_free(struct routes_basic *c);

/* True when the Accept header asks for OpenMetrics text (exposed for tests). */
bool routes_basic_wants_openmetrics(const char *accept);

#endif
