/* The support matrix as code: per-PV verdicts, reason codes and
 * remedies, and the StorageClass-level verdict used for apply-time
 * warnings. No state, no I/O. */
#include "rules/classify.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *code;
    const char *why;    /* for class messages */
    const char *remedy;
} reasons[PV_REASON_COUNT] = {
    [PV_REASON_IN_TREE] = {"in-tree", "in-tree Azure volume plugin (CSI migration does not cover snapshots)",
                           "migrate to CSI: convert the PV to a disk.csi.azure.com CSI volume"},
    [PV_REASON_NOT_CSI] = {"not-csi", "not a CSI volume",
                           "not covered by AKS backup: move the data to a disk.csi.azure.com volume or protect it another way"},
    [PV_REASON_AZURE_FILES] = {"azure-files", "Azure Files volumes are not backed up by AKS backup",
                               "protect with Azure File Share backup"},
    [PV_REASON_AZURE_BLOB] = {"azure-blob", "Azure Blob volumes are not backed up by AKS backup",
                              "protect with Azure Blob backup"},
    [PV_REASON_UNSUPPORTED_DRIVER] = {"unsupported-driver", "CSI driver not supported by AKS backup",
                                      "not covered by AKS backup: use a StorageClass with provisioner disk.csi.azure.com"},
    [PV_REASON_STATIC] = {"static", "statically provisioned volume (not created through a StorageClass)",
                          "re-create through a StorageClass with provisioner disk.csi.azure.com"},
    [PV_REASON_SUPPORTED] = {"supported", "", ""},
};

const char *pv_reason_code(enum pv_reason r)
{
    return (r >= 0 && r < PV_REASON_COUNT) ? reasons[r].code : "unknown";
}

const char *pv_reason_remedy(enum pv_reason r)
{
    return (r >= 0 && r < PV_REASON_COUNT) ? reasons[r].remedy : "";
}

int pv_reason_parse(const char *code)
{
    for (int i = 0; i < PV_REASON_COUNT; i++)
        if (code && strcmp(code, reasons[i].code) == 0)
            return i;
    return -1;
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

enum pv_reason classify_pv(const struct pv_rec *pv)
{
    if (pv->source == PV_SOURCE_AZURE_DISK || pv->source == PV_SOURCE_AZURE_FILE || pv->migrated)
        return PV_REASON_IN_TREE;
    if (pv->source != PV_SOURCE_CSI)
        return PV_REASON_NOT_CSI;
    if (streq(pv->csi_driver, FILE_CSI_DRIVER))
        return PV_REASON_AZURE_FILES;
    if (streq(pv->csi_driver, BLOB_CSI_DRIVER))
        return PV_REASON_AZURE_BLOB;
    if (!streq(pv->csi_driver, DISK_CSI_DRIVER))
        return PV_REASON_UNSUPPORTED_DRIVER;
    if (!streq(pv->provisioned_by, DISK_CSI_DRIVER))
        return PV_REASON_STATIC;
    return PV_REASON_SUPPORTED;
}

const char *classify_pv_driver(const struct pv_rec *pv)
{
    switch (pv->source) {
    case PV_SOURCE_CSI:
        return pv->csi_driver ? pv->csi_driver : "";
    case PV_SOURCE_AZURE_DISK:
        return "kubernetes.io/azure-disk";
    case PV_SOURCE_AZURE_FILE:
        return "kubernetes.io/azure-file";
    case PV_SOURCE_OTHER:
        return pv->source_field ? pv->source_field : "";
    case PV_SOURCE_NONE:
    default:
        return "";
    }
}

enum pv_reason classify_provisioner(const char *p)
{
    if (streq(p, DISK_CSI_DRIVER))
        return PV_REASON_SUPPORTED;
    if (streq(p, FILE_CSI_DRIVER))
        return PV_REASON_AZURE_FILES;
    if (streq(p, BLOB_CSI_DRIVER))
        return PV_REASON_AZURE_BLOB;
    if (streq(p, "kubernetes.io/azure-disk") || streq(p, "kubernetes.io/azure-file"))
        return PV_REASON_IN_TREE;
    if (streq(p, "kubernetes.io/no-provisioner"))
        return PV_REASON_STATIC;
    return PV_REASON_UNSUPPORTED_DRIVER;
}

void classify_class_message(const char *class_name, const char *provisioner, char *out, size_t n)
{
    if (n == 0)
        return;
    enum pv_reason r = classify_provisioner(provisioner);
    if (r == PV_REASON_SUPPORTED) {
        out[0] = '\0';
        return;
    }
    const char *why = reasons[r].why;
    char buf[160];
    if (r == PV_REASON_UNSUPPORTED_DRIVER) {
        snprintf(buf, sizeof(buf), "provisioner %s is not supported by AKS backup",
                 provisioner && *provisioner ? provisioner : "(none)");
        why = buf;
    } else if (r == PV_REASON_STATIC) {
        why = "kubernetes.io/no-provisioner only binds pre-created (static) volumes";
    }
    snprintf(out, n, "storage class %s is skipped by AKS backup: %s; %s", class_name, why,
             reasons[r].remedy);
}
