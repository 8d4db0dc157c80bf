/* The outcome of a call (http.h): libcurl's errors as errno values, and
 * error answers of the Kubernetes API (the Status object's message,
 * kube-apiserver's "Too large resource version"). Pure, no I/O. */
#include "kube/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include <json-c/json.h>

int kube_status_errno_of_curl(int code)
{
    switch ((CURLcode)code) {
    case CURLE_OPERATION_TIMEDOUT:
        return -ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return -ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
        return -EHOSTUNREACH;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return -EPROTO;
    case CURLE_OUT_OF_MEMORY:
        return -ENOMEM;
    default:
        return -EIO;
    }
}

bool kube_status_rv_too_large(struct json_object *status)
{
    struct json_object *v, *causes;
    if (!status || !json_object_is_type(status, json_type_object))
        return false;
    if (json_object_object_get_ex(status, "details", &v) &&
        json_object_object_get_ex(v, "causes", &causes) && json_object_is_type(causes, json_type_array)) {
        size_t n = json_object_array_length(causes);
        for (size_t i = 0; i < n; i++) {
            struct json_object *c = json_object_array_get_idx(causes, i), *rs;
            if (json_object_object_get_ex(c, "reason", &rs) && json_object_is_type(rs, json_type_string) &&
                strcmp(json_object_get_string(rs), "ResourceVersionTooLarge") == 0)
                return true;
        }
    }
    /* older servers: a Timeout whose message says it (client-go's fallback) */
    if (!json_object_object_get_ex(status, "code", &v) || json_object_get_int64(v) != 504)
        return false;
    return json_object_object_get_ex(status, "message", &v) && json_object_is_type(v, json_type_string) &&
           strstr(json_object_get_string(v), "Too large resource version") != NULL;
}

void kube_status_from_body(struct kube_status *st, const char *body)
{
    if (body) {
        struct json_object *o = json_tokener_parse(body);
        struct json_object *msg;
        st->rv_too_large = kube_status_rv_too_large(o);
        if (o && json_object_object_get_ex(o, "message", &msg) &&
            json_object_is_type(msg, json_type_string)) {
            snprintf(st->reason, sizeof(st->reason), "%s", json_object_get_string(msg));
            json_object_put(o);
            return;
        }
        json_object_put(o);
    }
    snprintf(st->reason, sizeof(st->reason), "HTTP %ld", st->http);
}
