/* The support matrix's per-volume rules as code: verdicts, reason codes,
 * remedies and notes, and the StorageClass-level verdict used for
 * apply-time warnings. Edition differences come from struct matrix_edition.
 * No state, no I/O. */
#include "rules/classify.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *code;
    const char *why;    /* for class messages */
    const char *remedy;
    const char *remedy_static_class; /* remedy under MATRIX_STATIC_WITHOUT_CLASS, when different */
} reasons[PV_REASON_COUNT] = {
    [PV_REASON_EXCLUDED_NAMESPACE] = {"excluded-namespace",
                                      "claims in kube-system, kube-node-lease and kube-public are "
                                      "never part of a backup configuration",
                                      "move the workload and its data to an application namespace",
                                      NULL},
    [PV_REASON_IN_TREE] = {"in-tree", "in-tree Azure volume plugin (CSI migration does not cover snapshots)",
                           "migrate to CSI: convert the PV to a disk.csi.azure.com CSI volume", NULL},
    [PV_REASON_NOT_CSI] = {"not-csi", "not a CSI volume",
                           "not covered by AKS backup: move the data to a disk.csi.azure.com volume or protect it another way",
                           NULL},
    [PV_REASON_AZURE_FILES] = {"azure-files", "Azure Files volumes are not backed up by AKS backup",
                               "protect with Azure File Share backup", NULL},
    [PV_REASON_AZURE_FILES_NFS] = {"azure-files-nfs",
                                   "Azure Files over NFS is not backed up by AKS backup (only SMB shares are)",
                                   "use an SMB Azure Files class or protect the share with Azure File Share backup",
                                   NULL},
    [PV_REASON_AZURE_FILES_PRIVATE_ENDPOINT] = {"azure-files-private-endpoint",
                                                "Azure Files behind a private endpoint is not backed up by AKS backup (only publicly reachable shares are)",
                                                "use a publicly reachable share or protect it with Azure File Share backup",
                                                NULL},
    [PV_REASON_AZURE_FILES_DRIVER_TOO_OLD] = {"azure-files-driver-too-old",
                                              "the Azure Files CSI driver is older than 1.32, which AKS backup needs for Azure Files",
                                              "upgrade the cluster so that the Azure Files CSI driver is 1.32 or later (az aks upgrade)",
                                              NULL},
    [PV_REASON_AZURE_BLOB] = {"azure-blob", "Azure Blob volumes are not backed up by AKS backup",
                              "protect with Azure Blob backup", NULL},
    [PV_REASON_CONTAINER_STORAGE] = {"container-storage",
                                     "Azure Container Storage volumes are not backed up by AKS backup",
                                     "protect the data another way, or move it to a disk.csi.azure.com volume",
                                     NULL},
    [PV_REASON_UNSUPPORTED_DRIVER] = {"unsupported-driver", "CSI driver not supported by AKS backup",
                                      "not covered by AKS backup: use a StorageClass with provisioner disk.csi.azure.com",
                                      NULL},
    [PV_REASON_STATIC] = {"static", "statically provisioned volume (not created through a StorageClass)",
                          "re-create through a StorageClass with provisioner disk.csi.azure.com",
                          "set storageClassName on the PV and on its claim"},
    [PV_REASON_SUPPORTED] = {"supported", "", "", NULL},
};

static const struct {
    const char *code, *message;
} notes_tab[PV_NOTE_COUNT] = {
    [PV_NOTE_SLOW_SNAPSHOT_SKU] = {"slow-snapshot-sku",
                                   "Premium SSD v2 or Ultra disk: snapshots and restores take "
                                   "longer, restored data may appear late"},
    [PV_NOTE_OPERATIONAL_TIER_ONLY] = {"operational-tier-only",
                                       "Azure Files: backups stay in the Operational tier (at most "
                                       "30 days' retention, shares of at most 25,000 files)"},
    [PV_NOTE_NVE_SIZE] = {"not-vault-eligible:size",
                          "disk larger than 1 TiB: skipped when recovery points move to the Vault tier"},
    [PV_NOTE_NVE_DISK_ENCRYPTION_SET] = {"not-vault-eligible:disk-encryption-set",
                                         "disk encrypted with a disk encryption set: skipped when "
                                         "recovery points move to the Vault tier"},
    [PV_NOTE_NVE_NETWORK_ACCESS] = {"not-vault-eligible:network-access",
                                    "disk with networkAccessPolicy DenyAll or AllowPrivate: "
                                    "skipped when recovery points move to the Vault tier"},
    [PV_NOTE_NVE_AAD_DATA_ACCESS] = {"not-vault-eligible:aad-data-access",
                                     "disk with dataAccessAuthMode AzureActiveDirectory: skipped "
                                     "when recovery points move to the Vault tier"},
    [PV_NOTE_UNPARSABLE_CAPACITY] = {"unparsable-capacity",
                                     "spec.capacity.storage is not a Kubernetes quantity: the "
                                     "disk's size could not be judged"},
};

const char *pv_reason_code(enum pv_reason r)
{
    return (r >= 0 && r < PV_REASON_COUNT) ? reasons[r].code : "unknown";
}

const char *pv_reason_remedy_ed(const struct matrix_edition *ed, enum pv_reason r)
{
    if (r < 0 || r >= PV_REASON_COUNT)
        return "";
    if (!ed)
        ed = matrix_edition_default();
    if (ed->static_rule == MATRIX_STATIC_WITHOUT_CLASS && reasons[r].remedy_static_class)
        return reasons[r].remedy_static_class;
    return reasons[r].remedy;
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

const char *pv_note_code(enum pv_note n)
{
    return (n >= 0 && n < PV_NOTE_COUNT) ? notes_tab[n].code : "unknown";
}

const char *pv_note_message(enum pv_note n)
{
    return (n >= 0 && n < PV_NOTE_COUNT) ? notes_tab[n].message : "";
}

static bool streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool ends_with(const char *s, const char *sfx)
{
    size_t a = s ? strlen(s) : 0, b = strlen(sfx);
    return a >= b && strcmp(s + a - b, sfx) == 0;
}

static bool is_container_storage(const char *driver)
{
    return streq(driver, CONTAINER_STORAGE_DRIVER) || ends_with(driver, ".containerstorage.azure.com");
}

static const struct matrix_edition *edition_of(const struct classify_ctx *ctx)
{
    return ctx && ctx->ed ? ctx->ed : matrix_edition_default();
}

/* The Azure Files part of the table, shared by volumes and classes:
 * PV_REASON_COUNT when the share passes (supported so far). */
static enum pv_reason files_verdict(const struct matrix_edition *ed, bool nfs, bool private_ep,
                                    int driver_ok)
{
    if (!ed->files_smb_supported)
        return PV_REASON_AZURE_FILES;
    if (nfs)
        return PV_REASON_AZURE_FILES_NFS;
    if (private_ep)
        return PV_REASON_AZURE_FILES_PRIVATE_ENDPOINT;
    if (driver_ok == 0)
        return PV_REASON_AZURE_FILES_DRIVER_TOO_OLD;
    return PV_REASON_COUNT;
}

static bool is_static(const struct matrix_edition *ed, const struct pv_rec *pv, const char *driver)
{
    if (ed->static_rule == MATRIX_STATIC_WITHOUT_CLASS)
        return !pv_storage_class(pv) || !*pv_storage_class(pv);
    return !streq(pv_provisioned_by(pv), driver);
}

enum pv_reason classify_pv_ctx(const struct classify_ctx *ctx, const struct pv_rec *pv,
                               uint8_t *notes)
{
    const struct matrix_edition *ed = edition_of(ctx);
    unsigned params = ctx ? ctx->class_params : 0;
    uint8_t nb = 0;
    if (notes)
        *notes = 0;
    if (pv_claim_name(pv) && matrix_namespace_excluded(ed, pv_claim_ns(pv)))
        return PV_REASON_EXCLUDED_NAMESPACE;
    if (pv->source == PV_SOURCE_AZURE_DISK || pv->source == PV_SOURCE_AZURE_FILE || pv->migrated)
        return PV_REASON_IN_TREE;
    if (pv->source != PV_SOURCE_CSI)
        return PV_REASON_NOT_CSI;
    const char *drv = pv_csi_driver(pv);
    if (streq(drv, FILE_CSI_DRIVER)) {
        enum pv_reason r = files_verdict(ed, (pv->flags & PV_F_NFS) || (params & SC_P_NFS),
                                         (pv->flags & PV_F_PRIVATE_EP) || (params & SC_P_PRIVATE_EP),
                                         ctx ? ctx->files_driver_ok : -1);
        if (r != PV_REASON_COUNT)
            return r;
        if (is_static(ed, pv, FILE_CSI_DRIVER))
            return PV_REASON_STATIC;
        if (ed->pv_notes)
            nb |= 1u << PV_NOTE_OPERATIONAL_TIER_ONLY;
        if (notes)
            *notes = nb;
        return PV_REASON_SUPPORTED;
    }
    if (streq(drv, BLOB_CSI_DRIVER))
        return PV_REASON_AZURE_BLOB;
    if (ed->container_storage_reason && is_container_storage(drv))
        return PV_REASON_CONTAINER_STORAGE;
    if (!streq(drv, DISK_CSI_DRIVER))
        return PV_REASON_UNSUPPORTED_DRIVER;
    if (is_static(ed, pv, DISK_CSI_DRIVER))
        return PV_REASON_STATIC;
    if (ed->pv_notes) {
        if (params & SC_P_SLOW_SKU)
            nb |= 1u << PV_NOTE_SLOW_SNAPSHOT_SKU;
        if (pv->flags & PV_F_CAPACITY_BAD)
            nb |= 1u << PV_NOTE_UNPARSABLE_CAPACITY;
        if (ctx && ctx->vault_tier && ed->vault_tier) {
            if (ed->vault_max_disk_bytes > 0 && pv->capacity > ed->vault_max_disk_bytes)
                nb |= 1u << PV_NOTE_NVE_SIZE;
            if (params & SC_P_DES)
                nb |= 1u << PV_NOTE_NVE_DISK_ENCRYPTION_SET;
            if (params & SC_P_NET_PRIVATE)
                nb |= 1u << PV_NOTE_NVE_NETWORK_ACCESS;
            if (params & SC_P_AAD)
                nb |= 1u << PV_NOTE_NVE_AAD_DATA_ACCESS;
        }
    }
    if (notes)
        *notes = nb;
    return PV_REASON_SUPPORTED;
}

enum pv_reason classify_pv(const struct pv_rec *pv)
{
    struct classify_ctx c = {.ed = matrix_edition_find("2023-08"), .files_driver_ok = -1};
    return classify_pv_ctx(&c, pv, NULL);
}

bool classify_pv_is_smb_files(const struct classify_ctx *ctx, const struct pv_rec *pv)
{
    const struct matrix_edition *ed = edition_of(ctx);
    unsigned params = ctx ? ctx->class_params : 0;
    return ed->files_smb_supported && pv->source == PV_SOURCE_CSI && !pv->migrated &&
           streq(pv_csi_driver(pv), FILE_CSI_DRIVER) && !(pv->flags & PV_F_NFS) &&
           !(params & SC_P_NFS) && !(pv_claim_name(pv) && matrix_namespace_excluded(ed, pv_claim_ns(pv)));
}

const char *classify_pv_driver(const struct pv_rec *pv)
{
    switch (pv->source) {
    case PV_SOURCE_CSI:
        return pv_csi_driver(pv) ? pv_csi_driver(pv) : "";
    case PV_SOURCE_AZURE_DISK:
        return "kubernetes.io/azure-disk";
    case PV_SOURCE_AZURE_FILE:
        return "kubernetes.io/azure-file";
    case PV_SOURCE_OTHER:
        return pv_source_field(pv) ? pv_source_field(pv) : "";
    case PV_SOURCE_NONE:
    default:
        return "";
    }
}

enum pv_reason classify_class(const struct classify_ctx *ctx, const char *p)
{
    const struct matrix_edition *ed = edition_of(ctx);
    unsigned params = ctx ? ctx->class_params : 0;
    if (streq(p, DISK_CSI_DRIVER))
        return PV_REASON_SUPPORTED;
    if (streq(p, FILE_CSI_DRIVER)) {
        enum pv_reason r = files_verdict(ed, params & SC_P_NFS, params & SC_P_PRIVATE_EP,
                                         ctx ? ctx->files_driver_ok : -1);
        return r == PV_REASON_COUNT ? PV_REASON_SUPPORTED : r;
    }
    if (streq(p, BLOB_CSI_DRIVER))
        return PV_REASON_AZURE_BLOB;
    if (streq(p, "kubernetes.io/azure-disk") || streq(p, "kubernetes.io/azure-file"))
        return PV_REASON_IN_TREE;
    if (streq(p, "kubernetes.io/no-provisioner"))
        /* Its volumes are pre-created: static by annotation, but carrying the
         * class name (so supported) where a class is what counts. */
        return ed->static_rule == MATRIX_STATIC_BY_ANNOTATION ? PV_REASON_STATIC
                                                              : PV_REASON_SUPPORTED;
    if (ed->container_storage_reason && is_container_storage(p))
        return PV_REASON_CONTAINER_STORAGE;
    return PV_REASON_UNSUPPORTED_DRIVER;
}

enum pv_reason classify_provisioner(const char *p)
{
    struct classify_ctx c = {.ed = matrix_edition_find("2023-08"), .files_driver_ok = -1};
    return classify_class(&c, p);
}

void classify_class_message_ctx(const struct classify_ctx *ctx, const char *class_name,
                                const char *provisioner, char *out, size_t n)
{
    if (n == 0)
        return;
    enum pv_reason r = classify_class(ctx, provisioner);
    if (r == PV_REASON_SUPPORTED) {
        out[0] = '\0';
        return;
    }
    const char *why = reasons[r].why;
    const char *remedy = reasons[r].remedy;
    char buf[160];
    if (r == PV_REASON_UNSUPPORTED_DRIVER) {
        snprintf(buf, sizeof(buf), "provisioner %s is not supported by AKS backup",
                 provisioner && *provisioner ? provisioner : "(none)");
        why = buf;
    } else if (r == PV_REASON_STATIC) {
        why = "kubernetes.io/no-provisioner only binds pre-created (static) volumes";
    }
    snprintf(out, n, "storage class %s is skipped by AKS backup: %s; %s", class_name, why, remedy);
}

void classify_class_message(const char *class_name, const char *provisioner, char *out, size_t n)
{
    struct classify_ctx c = {.ed = matrix_edition_find("2023-08"), .files_driver_ok = -1};
    classify_class_message_ctx(&c, class_name, provisioner, out, n);
}
