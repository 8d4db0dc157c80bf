/* Client certificate validity (clientcert.h), read with GnuTLS (already
 * linked through libmicrohttpd). */
#include "kube/clientcert.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "kube/kubeconfig.h"

static void fmt_time(time_t t, char *out, size_t n)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, n, "%lld", (long long)t);
}

int kube_client_cert_check(const struct kube_config *cfg, int64_t now_s, char *msg, size_t n)
{
    if (!cfg->cert_pem)
        return 0;
    const char *src = cfg->cert_source ? cfg->cert_source : "the kubeconfig";
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS) {
        snprintf(msg, n, "client certificate %s: out of memory", src);
        return -ENOMEM;
    }
    gnutls_datum_t d = {.data = (unsigned char *)cfg->cert_pem, .size = (unsigned)cfg->cert_len};
    int rc = 0;
    if (gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM) != GNUTLS_E_SUCCESS) {
        snprintf(msg, n, "client certificate %s: not a PEM X.509 certificate", src);
        rc = -EINVAL;
        goto out;
    }
    time_t nb = gnutls_x509_crt_get_activation_time(crt);
    time_t na = gnutls_x509_crt_get_expiration_time(crt);
    char a[32], b[32];
    fmt_time(nb, a, sizeof(a));
    fmt_time(na, b, sizeof(b));
    if (na != (time_t)-1 && (int64_t)na < now_s) {
        snprintf(msg, n, "client certificate %s expired at %s (valid from %s); renew it", src, b, a);
        rc = -EKEYEXPIRED;
    } else if (nb != (time_t)-1 && (int64_t)nb > now_s) {
        snprintf(msg, n, "client certificate %s is not valid before %s", src, a);
        rc = -EAGAIN;
    }
out:
    gnutls_x509_crt_deinit(crt);
    return rc;
}
