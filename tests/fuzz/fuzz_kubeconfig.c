/* libFuzzer: kubeconfig parsing on arbitrary bytes (through a memfd, since
 * the loader reads a path as the daemon does). */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("kubeconfig", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct kube_config kc;
    struct kube_config_err err;
    if (kube_config_load_file(path, NULL, &kc, &err) == 0)
        kube_config_clear(&kc);
    if (kube_config_load_file(path, "other", &kc, &err) == 0)
        kube_config_clear(&kc);
    close(fd);
    return 0;
}
