/* The quota endpoints over HTTP: GET /api/v1/quota and POST
 * /api/v1/quota/{instance}/{backup|restore}. The handlers parse and check
 * the request and turn quota's plain answers (quota/quota.h) into JSON;
 * app_routes.c registers them, ha/ha.c calls the POST handler. */
#ifndef ABC_HTTP_ROUTES_QUOTA_H
#define ABC_HTTP_ROUTES_QUOTA_H

#include "http/server.h"

struct quota;

/* GET /api/v1/quota and POST /api/v1/quota/{instance}/{op}. q must
 * outlive s. 0 / -ENOMEM. */
int quota_register_routes(struct quota *q, struct http_server *s);
/* The POST handler's logic without the server (tests): path as routed,
 * authorization and idempotency_key header values (NULL when absent).
 * Answers at once (a store with save_wait is then used synchronously,
 * like quota's own saves). */
void quota_handle_post(struct quota *q, const char *path, const char *authorization,
                       const char *idempotency_key, struct http_response *resp);
/* The route's handler. With an asynchronous store (the HA ConfigMap) a
 * new reservation is answered only once the write carrying it has landed
 * (the request is deferred, see quota_reserve); otherwise as
 * quota_handle_post. */
void quota_handle_post_req(struct quota *q, const struct http_request *req,
                           struct http_response *resp);

#endif
