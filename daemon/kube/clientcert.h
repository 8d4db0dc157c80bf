/* A client certificate from the kubeconfig checked before it is used:
 * an expired (or not yet valid, or unreadable) certificate would only be
 * answered 401 by the API server, which cannot say why; the daemon names
 * the file and the dates instead (exit 3). */
#ifndef ABC_KUBE_CLIENTCERT_H
#define ABC_KUBE_CLIENTCERT_H

#include <stddef.h>
#include <stdint.h>

struct kube_config;

/* 0 when cfg has no client certificate or the first certificate of its PEM
 * is valid at now_s (Unix seconds); otherwise -EINVAL (not a PEM
 * certificate), -EKEYEXPIRED (expired) or -EAGAIN (not valid yet) with msg
 * saying so and naming cfg->cert_source. */
int kube_client_cert_check(const struct kube_config *cfg, int64_t now_s, char *msg, size_t n);

#endif
