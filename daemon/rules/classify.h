/* Support-matrix classification: the verdict of one
 * PersistentVolume and of a StorageClass provisioner. Pure functions over
 * model records; called by rules/engine.c on every PV / class change. */
#ifndef ABC_RULES_CLASSIFY_H
#define ABC_RULES_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "model/records.h"

/* Reason codes in the support-matrix table order (first match wins). The order
 * is also the order of by_reason and the metric series. */
enum pv_reason {
    PV_REASON_IN_TREE = 0,
    PV_REASON_NOT_CSI,
    PV_REASON_AZURE_FILES,
    PV_REASON_AZURE_BLOB,
    PV_REASON_UNSUPPORTED_DRIVER,
    PV_REASON_STATIC,
    PV_REASON_SUPPORTED,
    PV_REASON_COUNT
};

#define DISK_CSI_DRIVER "disk.csi.azure.com"
#define FILE_CSI_DRIVER "file.csi.azure.com"
#define BLOB_CSI_DRIVER "blob.csi.azure.com"

/* Stable code ("in-tree", ..., "supported"); static strings. */
const char *pv_reason_code(enum pv_reason r);
/* One-line remedy for an unsupported reason; "" for supported. */
const char *pv_reason_remedy(enum pv_reason r);
/* Code to enum; -1 when unknown. */
int pv_reason_parse(const char *code);

/* Verdict of one PV (the support-matrix table). */
enum pv_reason classify_pv(const struct pv_rec *pv);
/* The `driver` label: the CSI driver, the in-tree plugin
 * (kubernetes.io/azure-disk, kubernetes.io/azure-file) or the source field
 * name (hostPath, local, nfs, ...); "" when the PV has no source. Returns a
 * pointer into pv or a static string (borrowed as pv). */
const char *classify_pv_driver(const struct pv_rec *pv);

/* Class-level verdict of a StorageClass provisioner (admission ConfigMap):
 * disk.csi.azure.com -> supported; file/blob CSI -> azure-files/azure-blob;
 * kubernetes.io/azure-disk|azure-file -> in-tree; kubernetes.io/no-provisioner
 * -> static (only pre-created volumes); anything else -> unsupported-driver. */
enum pv_reason classify_provisioner(const char *provisioner);
/* "storage class X is skipped by AKS backup: <why>; <remedy>" into out
 * (truncated, NUL-terminated). For a supported class writes "". */
void classify_class_message(const char *class_name, const char *provisioner, char *out,
                            size_t n);

#endif
