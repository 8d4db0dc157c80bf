/* Helpers of the HTTP server: request-target decoding, method and
 * Accept-Encoding checks, gzip. Used by server.c; exposed for tests. */
#ifndef ABC_HTTP_UTIL_H
#define ABC_HTTP_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Bodies up to this size are sent uncompressed even when gzip is allowed. */
#define HTTP_GZIP_MIN 1024

/* Decodes the path of a request target ("/a%20b?x=1" → "/a b") into out
 * (outlen bytes, NUL-terminated). -EINVAL when the target is not
 * origin-form, has bad percent-encoding, an encoded NUL, a "." or ".."
 * segment (also encoded), or does not fit. */
int http_decode_path(const char *raw, char *out, size_t outlen);
/* The methods of RFC 9110 and PATCH; anything else is answered 501. */
bool http_known_method(const char *method);
/* Accept-Encoding lists gzip with a non-zero q (NULL → false). */
bool http_accepts_gzip(const char *accept_encoding);
/* Compresses in (gzip format). *out is malloc'd, caller frees. 0 / -ENOMEM / -EIO. */
int http_gzip(const char *in, size_t len, char **out, size_t *out_len);

/* Whether a header (name, value) as libmicrohttpd parsed it came from one
 * well-formed "Name: value" line: the name a token, the value right after
 * it in the same buffer. False for an obs-fold continuation, which
 * libmicrohttpd 0.9.75 glues to the previous header's name. */
bool http_header_well_formed(const char *key, const char *value);
/* Query arguments of a request target ('&' or ';' separated after '?'). */
size_t http_query_arg_count(const char *target);

#endif
