/* kubesim synthetic load: --generate KIND=N makes PVs (mixed: disk CSI, Azure
 * Files, Blob, in-tree, hostPath, static), PVCs, VolumeSnapshots and Nodes of
 * realistic size (managedFields included), and the /mutator thread that
 * adds/updates/deletes K objects per second. */
#include "ks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static const char mf_pv[] =
    "\"managedFields\":[{\"manager\":\"csi-provisioner\",\"operation\":\"Update\",\"apiVersion\":\"v1\","
    "\"time\":\"2026-03-14T09:40:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:metadata\":{\"f:annotations\":"
    "{\".\":{},\"f:pv.kubernetes.io/provisioned-by\":{}},\"f:finalizers\":{\".\":{},\"v:\\\"kubernetes.io/pv-protection\\\"\":{}}},"
    "\"f:spec\":{\"f:accessModes\":{},\"f:capacity\":{\".\":{},\"f:storage\":{}},\"f:claimRef\":{\".\":{},\"f:name\":{},"
    "\"f:namespace\":{}},\"f:csi\":{\".\":{},\"f:driver\":{},\"f:fsType\":{},\"f:volumeAttributes\":{\".\":{}},"
    "\"f:volumeHandle\":{}},\"f:nodeAffinity\":{\".\":{},\"f:required\":{}},\"f:persistentVolumeReclaimPolicy\":{},"
    "\"f:storageClassName\":{},\"f:volumeMode\":{}}}},{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\","
    "\"apiVersion\":\"v1\",\"time\":\"2026-03-14T09:40:00Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:status\":"
    "{\"f:phase\":{}}},\"subresource\":\"status\"},{\"manager\":\"kube-controller-manager\",\"operation\":\"Update\","
    "\"apiVersion\":\"v1\",\"time\":\"2026-03-14T09:40:01Z\",\"fieldsType\":\"FieldsV1\",\"fieldsV1\":{\"f:spec\":"
    "{\"f:claimRef\":{\"f:resourceVersion\":{},\"f:uid\":{}}}}}]";

/* PV i and PVC i agree: kind i % 10 picks the volume type (see pv_json). */
static const char *storage_class(long i)
{
    int kind = (int)(i % 10);
    return kind == 5 ? "azurefile-csi" : kind == 6 ? "azureblob-fuse-premium" : kind == 7 ? "managed-premium"
           : kind == 8 ? "manual" : kind == 9 ? "" : i % 3 ? "managed-csi" : "managed-csi-premium";
}

static void pv_json(struct sbuf *b, long i, uint64_t *rs)
{
    char uid[37], cuid[37];
    gen_uid(uid);
    gen_uid(cuid);
    int kind = (int)(i % 10);
    int ns = (int)(i % 10); /* matches the PVC data-<i> in load-<i % 10> (--generate pvcs) */
    int gi = 1 + (int)(rng_next(rs) % 512);
    const char *sc = storage_class(i);
    sbuf_printf(b, "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolume\",\"metadata\":{\"name\":\"pvc-gen-%06ld\","
                   "\"uid\":\"%s\",\"creationTimestamp\":\"2026-03-14T09:40:00Z\",\"labels\":{\"kubesim/generated\":\"true\","
                   "\"kubesim/kind\":\"%d\"},\"annotations\":{%s"
                   "\"volume.kubernetes.io/provisioner-deletion-secret-name\":\"\","
                   "\"volume.kubernetes.io/provisioner-deletion-secret-namespace\":\"\"},\"finalizers\":["
                   "\"external-provisioner.volume.kubernetes.io/finalizer\",\"kubernetes.io/pv-protection\"],%s},",
                /* static (kind 9): made by hand, so no provisioner annotation */
                i, uid, kind, kind == 9 ? "" : "\"pv.kubernetes.io/provisioned-by\":\"disk.csi.azure.com\",", mf_pv);
    sbuf_printf(b, "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"%dGi\"},"
                   "\"claimRef\":{\"kind\":\"PersistentVolumeClaim\",\"namespace\":\"load-%d\",\"name\":\"data-%06ld\","
                   "\"uid\":\"%s\",\"apiVersion\":\"v1\",\"resourceVersion\":\"1000\"},"
                   "\"persistentVolumeReclaimPolicy\":\"Delete\",%s%s%s\"volumeMode\":\"Filesystem\",",
                gi, ns, i, cuid, sc[0] ? "\"storageClassName\":\"" : "", sc, sc[0] ? "\"," : "");
    switch (kind) {
    case 5:
        sbuf_printf(b, "\"csi\":{\"driver\":\"file.csi.azure.com\",\"volumeHandle\":\"mc_rg#f%06ld#pvc-%ld\","
                       "\"volumeAttributes\":{\"skuName\":\"Standard_LRS\"}}", i, i);
        break;
    case 6:
        sbuf_printf(b, "\"csi\":{\"driver\":\"blob.csi.azure.com\",\"volumeHandle\":\"mc_rg#b%06ld#pvc-%ld\","
                       "\"volumeAttributes\":{\"protocol\":\"fuse2\"}}", i, i);
        break;
    case 7:
        sbuf_printf(b, "\"azureDisk\":{\"diskName\":\"kubernetes-dynamic-pvc-%ld\",\"diskURI\":\"/subscriptions/"
                       "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f/resourceGroups/mc_rg/providers/Microsoft.Compute/disks/"
                       "kubernetes-dynamic-pvc-%ld\",\"cachingMode\":\"ReadOnly\",\"kind\":\"Managed\"}", i, i);
        break;
    case 8:
        sbuf_printf(b, "\"hostPath\":{\"path\":\"/mnt/scratch-%ld\",\"type\":\"DirectoryOrCreate\"}", i);
        break;
    default:
        sbuf_printf(b, "\"csi\":{\"driver\":\"disk.csi.azure.com\",\"fsType\":\"ext4\",\"volumeHandle\":"
                       "\"/subscriptions/6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f/resourceGroups/mc_rg/providers/"
                       "Microsoft.Compute/disks/pvc-gen-%06ld\",\"volumeAttributes\":{\"csi.storage.k8s.io/pv/name\":"
                       "\"pvc-gen-%06ld\",\"csi.storage.k8s.io/pvc/name\":\"data-%06ld\",\"csi.storage.k8s.io/pvc/namespace\":"
                       "\"load-%d\",\"requestedsizegib\":\"%d\",\"skuname\":\"Premium_LRS\"}},\"nodeAffinity\":{\"required\":"
                       "{\"nodeSelectorTerms\":[{\"matchExpressions\":[{\"key\":\"topology.disk.csi.azure.com/zone\","
                       "\"operator\":\"In\",\"values\":[\"westeurope-%d\"]}]}]}}", i, i, i, ns, gi, 1 + (int)(i % 3));
    }
    sbuf_adds(b, "},\"status\":{\"phase\":\"Bound\",\"lastPhaseTransitionTime\":\"2026-03-14T09:40:01Z\"}}");
}

static void other_json(struct sbuf *b, const char *kind, long i)
{
    int ns = (int)(i % 10);
    if (!strcmp(kind, "pvcs"))
        sbuf_printf(b, "{\"apiVersion\":\"v1\",\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"data-%06ld\","
                       "\"namespace\":\"load-%d\",\"labels\":{\"app\":\"load\"},\"annotations\":{\"pv.kubernetes.io/bind-completed\":\"yes\","
                       "\"volume.kubernetes.io/storage-provisioner\":\"disk.csi.azure.com\"},\"finalizers\":[\"kubernetes.io/pvc-protection\"]},"
                       "\"spec\":{\"accessModes\":[\"ReadWriteOnce\"],\"resources\":{\"requests\":{\"storage\":\"10Gi\"}},"
                       "\"storageClassName\":\"%s\",\"volumeMode\":\"Filesystem\",\"volumeName\":\"pvc-gen-%06ld\"},"
                       "\"status\":{\"phase\":\"Bound\",\"accessModes\":[\"ReadWriteOnce\"],\"capacity\":{\"storage\":\"10Gi\"}}}",
                    i, ns, storage_class(i), i);
    else if (!strcmp(kind, "snapshots"))
        sbuf_printf(b, "{\"apiVersion\":\"snapshot.storage.k8s.io/v1\",\"kind\":\"VolumeSnapshot\",\"metadata\":{\"name\":"
                       "\"snap-%06ld\",\"namespace\":\"load-%d\",\"finalizers\":[\"snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection\"]},"
                       "\"spec\":{\"source\":{\"persistentVolumeClaimName\":\"data-%06ld\"},\"volumeSnapshotClassName\":\"csi-azuredisk-vsc\"},"
                       "\"status\":{\"readyToUse\":%s,\"restoreSize\":\"10Gi\",\"creationTime\":\"2026-03-14T10:00:00Z\"}}",
                    i, ns, i, i % 7 ? "true" : "false");
    else
        sbuf_printf(b, "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"aks-load-%06ld-vmss\",\"labels\":{"
                       "\"topology.kubernetes.io/region\":\"westeurope\",\"topology.kubernetes.io/zone\":\"westeurope-%ld\","
                       "\"kubernetes.azure.com/agentpool\":\"load\"}},\"spec\":{\"providerID\":\"azure:///subscriptions/"
                       "6b0f2f3e-8c1d-4a5b-9e7f-2d3c4b5a6e7f/resourceGroups/mc_rg/providers/Microsoft.Compute/"
                       "virtualMachineScaleSets/aks-load-vmss/virtualMachines/%ld\"},\"status\":{\"nodeInfo\":"
                       "{\"kubeletVersion\":\"v1.30.6\"}}}", i, 1 + i % 3, i);
}

/* Lock held by the caller. */
void gen_objects(const char *kind, long n, uint64_t seed)
{
    uint64_t rs = seed ? seed : 42;
    char err[256];
    for (long i = 0; i < n; i++) {
        struct sbuf b = {0};
        if (!strcmp(kind, "pvs"))
            pv_json(&b, i, &rs);
        else
            other_json(&b, kind, i);
        json_object *o = json_tokener_parse(b.data);
        sbuf_free(&b);
        if (o && store_upsert_json(o, false, err, sizeof err))
            ks_log("generate %s: %s", kind, err);
    }
}

/* ---- mutator ---- */
static void mutate_once(uint64_t *rs, long serial)
{
    int res = sim.mut_res;
    struct resstore *st = &sim.stores[res];
    int total = sim.mut_mix[0] + sim.mut_mix[1] + sim.mut_mix[2];
    int pick = (int)(rng_next(rs) % (uint64_t)total);
    int op = pick < sim.mut_mix[0] ? 0 : pick < sim.mut_mix[0] + sim.mut_mix[1] ? 1 : 2;
    if (st->n == 0)
        op = 0;
    char err[256];
    if (op == 0) {
        json_object *o;
        if (st->n) {
            o = obj_parse(st->items[rng_next(rs) % st->n]);
        } else if (!strcmp(ks_rdefs[res].resource, "persistentvolumes")) {
            struct sbuf b = {0};
            pv_json(&b, serial, rs);
            o = json_tokener_parse(b.data);
            sbuf_free(&b);
        } else {
            char av[128];
            rdef_apiversion(&ks_rdefs[res], av, sizeof av);
            o = json_object_new_object();
            json_object_object_add(o, "apiVersion", json_object_new_string(av));
            json_object_object_add(o, "kind", json_object_new_string(ks_rdefs[res].kind));
            json_object_object_add(o, "metadata", json_object_new_object());
        }
        json_object *m = NULL;
        json_object_object_get_ex(o, "metadata", &m);
        char name[96];
        snprintf(name, sizeof name, "mut-%06ld-%04x", serial, (unsigned)(rng_next(rs) & 0xffff));
        json_object_object_add(m, "name", json_object_new_string(name));
        json_object_object_del(m, "uid");
        json_object_object_del(m, "creationTimestamp");
        if (!store_upsert_json(o, false, err, sizeof err))
            sim.mut_done[0]++;
    } else if (op == 1) {
        json_object *o = obj_parse(st->items[rng_next(rs) % st->n]);
        json_object *m = NULL, *ann = NULL;
        json_object_object_get_ex(o, "metadata", &m);
        if (!json_object_object_get_ex(m, "annotations", &ann) || !json_object_is_type(ann, json_type_object)) {
            ann = json_object_new_object();
            json_object_object_add(m, "annotations", ann);
        }
        char v[32];
        snprintf(v, sizeof v, "%ld", serial);
        json_object_object_add(ann, "kubesim/mutation", json_object_new_string(v));
        if (!store_upsert_json(o, false, err, sizeof err))
            sim.mut_done[1]++;
    } else {
        struct obj *victim = st->items[rng_next(rs) % st->n];
        char *ns = xstrdup(victim->ns), *name = xstrdup(victim->name);
        if (!store_delete(res, ns, name, NULL))
            sim.mut_done[2]++;
        free(ns);
        free(name);
    }
}

static void *mutator_main(void *arg)
{
    (void)arg;
    long serial = 0;
    pthread_mutex_lock(&sim.mu);
    uint64_t rs = sim.mut_seed;
    uint64_t start = now_ms();
    long done = 0;
    while (sim.mut_running && sim.mut_rate > 0) {
        uint64_t due = (uint64_t)((double)(now_ms() - start) * sim.mut_rate / 1000.0);
        while ((uint64_t)done < due && sim.mut_running) {
            mutate_once(&rs, serial++);
            done++;
        }
        uint64_t next = start + (uint64_t)((double)(done + 1) * 1000.0 / sim.mut_rate);
        struct timespec ts = {(time_t)(next / 1000), (long)(next % 1000) * 1000000L};
        pthread_cond_timedwait(&sim.cond, &sim.mu, &ts);
    }
    pthread_mutex_unlock(&sim.mu);
    return NULL;
}

int mutator_set(int rate, int res, uint64_t seed, const int mix[3])
{
    pthread_mutex_lock(&sim.mu);
    bool was = sim.mut_running;
    sim.mut_running = false;
    pthread_cond_broadcast(&sim.cond);
    pthread_mutex_unlock(&sim.mu);
    if (was)
        pthread_join(sim.mut_thread, NULL);
    pthread_mutex_lock(&sim.mu);
    sim.mut_rate = rate;
    sim.mut_res = res;
    sim.mut_seed = seed;
    memcpy(sim.mut_mix, mix, sizeof sim.mut_mix);
    int rc = 0;
    if (rate > 0) {
        sim.mut_done[0] = sim.mut_done[1] = sim.mut_done[2] = 0;
        sim.mut_running = true;
        if (pthread_create(&sim.mut_thread, NULL, mutator_main, NULL)) {
            sim.mut_running = false;
            rc = -1;
        }
    }
    pthread_mutex_unlock(&sim.mu);
    return rc;
}
