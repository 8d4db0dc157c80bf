/* Support-matrix classification: the verdict of one PersistentVolume and
 * of a StorageClass, under a support-matrix edition (rules/matrix.h). Pure
 * functions over model records; called by rules/engine*.c on every PV /
 * class change. */
#ifndef ABC_RULES_CLASSIFY_H
#define ABC_RULES_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/records.h"
#include "rules/matrix.h"

/* Reason codes in the support-matrix table order (first match wins). The
 * order is also the order of by_reason and the metric series. Reasons that
 * an edition does not have are never returned under it. */
enum pv_reason {
    PV_REASON_EXCLUDED_NAMESPACE = 0,
    PV_REASON_IN_TREE,
    PV_REASON_NOT_CSI,
    PV_REASON_AZURE_FILES,
    PV_REASON_AZURE_FILES_NFS,
    PV_REASON_AZURE_FILES_PRIVATE_ENDPOINT,
    PV_REASON_AZURE_FILES_DRIVER_TOO_OLD,
    PV_REASON_AZURE_BLOB,
    PV_REASON_CONTAINER_STORAGE,
    PV_REASON_UNSUPPORTED_DRIVER,
    PV_REASON_STATIC,
    PV_REASON_SUPPORTED,
    PV_REASON_COUNT
};

/* Notes of a supported PV (bits of a uint8_t), in code order. */
enum pv_note {
    PV_NOTE_SLOW_SNAPSHOT_SKU = 0,
    PV_NOTE_OPERATIONAL_TIER_ONLY,
    PV_NOTE_NVE_SIZE,
    PV_NOTE_NVE_DISK_ENCRYPTION_SET,
    PV_NOTE_NVE_NETWORK_ACCESS,
    PV_NOTE_NVE_AAD_DATA_ACCESS,
    PV_NOTE_UNPARSABLE_CAPACITY,
    PV_NOTE_COUNT
};
_Static_assert(PV_NOTE_COUNT <= 8, "notes are a uint8_t");

#define DISK_CSI_DRIVER "disk.csi.azure.com"
#define FILE_CSI_DRIVER "file.csi.azure.com"
#define BLOB_CSI_DRIVER "blob.csi.azure.com"
#define CONTAINER_STORAGE_DRIVER "containerstorage.csi.azure.com"

/* Stable code ("in-tree", ..., "supported"); static strings. */
const char *pv_reason_code(enum pv_reason r);
/* One-line remedy for an unsupported reason under edition ed (NULL = the
 * default edition); "" for supported. */
const char *pv_reason_remedy_ed(const struct matrix_edition *ed, enum pv_reason r);
/* The same under the 2023-08 edition (kept for callers without an edition). */
const char *pv_reason_remedy(enum pv_reason r);
/* Code to enum; -1 when unknown. */
int pv_reason_parse(const char *code);

/* Note code ("slow-snapshot-sku", "not-vault-eligible:size", ...) and its
 * one-line message. */
const char *pv_note_code(enum pv_note n);
const char *pv_note_message(enum pv_note n);

/* What a PV's verdict depends on besides the PV itself. */
struct classify_ctx {
    const struct matrix_edition *ed; /* NULL = the default edition */
    unsigned class_params;           /* SC_P_* of the PV's StorageClass (0 unknown) */
    int files_driver_ok;             /* Azure Files CSI driver >= the edition's minimum:
                                      * 1 yes, 0 no, -1 unknown */
    bool vault_tier;                 /* vault.tiers contains vault */
};

/* Verdict of one PV under ctx; *notes (may be NULL) gets PV_NOTE_* bits
 * for a supported PV. */
enum pv_reason classify_pv_ctx(const struct classify_ctx *ctx, const struct pv_rec *pv,
                               uint8_t *notes);
/* Verdict under the 2023-08 edition with no other context. */
enum pv_reason classify_pv(const struct pv_rec *pv);
/* The `driver` label: the CSI driver, the in-tree plugin
 * (kubernetes.io/azure-disk, kubernetes.io/azure-file) or the source field
 * name (hostPath, local, nfs, ...); "" when the PV has no source. Returns a
 * pointer into pv or a static string (borrowed as pv). */
const char *classify_pv_driver(const struct pv_rec *pv);
/* Whether pv is an Azure Files volume over SMB that the edition can back up
 * (it then needs the Azure Files CSI driver version check). */
bool classify_pv_is_smb_files(const struct classify_ctx *ctx, const struct pv_rec *pv);

/* Class-level verdict of a StorageClass (admission ConfigMap) under ctx
 * (class_params = that class's parameters): what a volume provisioned from
 * the class would get. */
enum pv_reason classify_class(const struct classify_ctx *ctx, const char *provisioner);
/* The same under 2023-08 without parameters: disk.csi.azure.com ->
 * supported; file/blob CSI -> azure-files/azure-blob;
 * kubernetes.io/azure-disk|azure-file -> in-tree; kubernetes.io/no-provisioner
 * -> static (only pre-created volumes); anything else -> unsupported-driver. */
enum pv_reason classify_provisioner(const char *provisioner);
/* "storage class X is skipped by AKS backup: <why>; <remedy>" into out
 * (truncated, NUL-terminated). For a supported class writes "". */
void classify_class_message_ctx(const struct classify_ctx *ctx, const char *class_name,
                                const char *provisioner, char *out, size_t n);
void classify_class_message(const char *class_name, const char *provisioner, char *out,
                            size_t n);

#endif
