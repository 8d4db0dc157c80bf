/* Rules engine, PersistentVolumes: one verdict per PV in a dense array
 * indexed by an open-addressing hash of the name. An entry points at the
 * PV record itself, the store's (engine_attach_store: store.h Lifetime)
 * or the engine's own copy (engine_apply), so a PV costs
 * ~30 bytes here. aks_backup_persistent_volume_supported lines are rendered
 * at scrape time straight from the records, walking the array in order. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_SLOT ((size_t)-1)

static uint32_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, folded */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* Slot index of name, or NO_SLOT; *pos gets its index position, or the
 * empty position where it would go. */
static size_t pv_find(const struct pv_table *t, const char *name, uint32_t h, size_t *pos)
{
    if (!t->nidx)
        return NO_SLOT;
    size_t mask = t->nidx - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t k = t->idx[i];
        *pos = i;
        if (!k)
            return NO_SLOT;
        const struct pv_slot *s = &t->v[k - 1];
        if (s->hash == h && strcmp(s->rec->meta.name, name) == 0)
            return k - 1;
    }
}

static void idx_fill(struct pv_table *t)
{
    size_t mask = t->nidx - 1;
    memset(t->idx, 0, t->nidx * sizeof(*t->idx));
    for (size_t k = 0; k < t->n; k++) {
        size_t i = t->v[k].hash & mask;
        while (t->idx[i])
            i = (i + 1) & mask;
        t->idx[i] = (uint32_t)(k + 1);
    }
}

/* Room for one more entry (index load <= 3/4). 0 / -ENOMEM. */
static int pv_reserve(struct pv_table *t)
{
    if ((t->n + 1) * 4 > t->nidx * 3) {
        size_t nn = t->nidx ? t->nidx * 2 : 64;
        uint32_t *ni = malloc(nn * sizeof(*ni));
        if (!ni)
            return -ENOMEM;
        free(t->idx);
        t->idx = ni;
        t->nidx = nn;
        idx_fill(t);
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap + t->cap / 2 : 64;
        struct pv_slot *nv = realloc(t->v, nc * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        t->v = nv;
        t->cap = nc;
    }
    return 0;
}

/* Removes slot k found at index position pos: backward-shift deletion in
 * the index, then the last slot moves into k. */
static void pv_remove_at(struct pv_table *t, size_t pos, size_t k)
{
    size_t mask = t->nidx - 1;
    size_t i = pos;
    for (size_t j = (i + 1) & mask; t->idx[j]; j = (j + 1) & mask) {
        size_t home = t->v[t->idx[j] - 1].hash & mask;
        /* The entry at j may fill the hole at i unless its home lies
         * cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->idx[i] = t->idx[j];
            i = j;
        }
    }
    t->idx[i] = 0;
    size_t last = t->n - 1;
    if (k != last) {
        size_t p = t->v[last].hash & mask;
        while (t->idx[p] != last + 1)
            p = (p + 1) & mask;
        t->idx[p] = (uint32_t)(k + 1);
        t->v[k] = t->v[last];
    }
    t->n--;
}

/* Bit 7 of a slot's notes (no note uses it): the PV is an SMB Azure Files
 * volume (the csi_file_driver_version check exists only while there are
 * some); counted in e->smb_files, never shown as a note. */
#define SLOT_SMB_FILES 0x80u
_Static_assert(PV_NOTE_COUNT <= 7, "bit 7 of the notes is the SMB Files flag");

/* The verdict, notes and SMB flag of rec under the engine's state. */
static enum pv_reason judge(const struct engine *e, const struct pv_rec *rec, uint8_t *notes)
{
    struct classify_ctx ctx = engine__classify_ctx(e, rec);
    enum pv_reason r = classify_pv_ctx(&ctx, rec, notes);
    if (classify_pv_is_smb_files(&ctx, rec))
        *notes |= SLOT_SMB_FILES;
    return r;
}

static void notes_count(struct engine *e, uint8_t notes, int d)
{
    if (notes & SLOT_SMB_FILES)
        e->smb_files += (size_t)d;
    for (int i = 0; i < PV_NOTE_COUNT; i++)
        if (notes & (1u << i))
            e->by_note[i] += (size_t)d;
}

static void slot_drop(struct engine *e, struct pv_slot *s)
{
    e->by_reason[s->reason]--;
    notes_count(e, s->notes, -1);
    if (!s->src)
        model_pv_type.free((void *)s->rec);
}

void engine__pv_free(struct engine *e)
{
    struct pv_table *t = &e->pvs;
    for (size_t k = 0; k < t->n; k++)
        slot_drop(e, &t->v[k]);
    free(t->v);
    free(t->idx);
    memset(t, 0, sizeof(*t));
}

void engine__pv_release(struct engine *e, uint16_t src)
{
    struct pv_table *t = &e->pvs;
    size_t n = 0;
    for (size_t k = 0; k < t->n; k++) {
        if (t->v[k].src != src)
            t->v[n++] = t->v[k];
        else
            slot_drop(e, &t->v[k]);
    }
    t->n = n;
    if (t->nidx)
        idx_fill(t);
}

static bool s_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* Whether the labels /metrics and the report show differ (the name aside). */
static bool labels_differ(const struct pv_rec *a, const struct pv_rec *b)
{
    return !s_eq(pv_storage_class(a), pv_storage_class(b)) ||
           strcmp(classify_pv_driver(a), classify_pv_driver(b)) != 0 || !s_eq(pv_phase(a), pv_phase(b)) ||
           !s_eq(pv_claim_name(a), pv_claim_name(b)) || (pv_claim_name(a) && !s_eq(pv_claim_ns(a), pv_claim_ns(b)));
}

static void pv_delete(struct engine *e, const char *name)
{
    struct pv_table *t = &e->pvs;
    size_t pos = 0;
    size_t k = pv_find(t, name, name_hash(name), &pos);
    if (k != NO_SLOT) {
        slot_drop(e, &t->v[k]);
        pv_remove_at(t, pos, k);
    }
}

void engine__pv_apply(struct engine *e, const struct pv_rec *old, const struct pv_rec *rec, uint16_t src)
{
    bool borrowed = src != 0;
    struct pv_table *t = &e->pvs;
    if (!rec) {
        pv_delete(e, old->meta.name);
        engine__notify(e, ENGINE_CHANGED_VERDICTS);
        return;
    }
    const struct pv_rec *keep = borrowed ? rec : model_pv_clone(rec);
    uint32_t h = name_hash(rec->meta.name);
    size_t pos = 0;
    size_t k = pv_find(t, rec->meta.name, h, &pos);
    if (!keep || (k == NO_SLOT && pv_reserve(t) != 0)) {
        /* out of memory: the PV is dropped rather than left stale */
        if (!borrowed && keep)
            model_pv_type.free((void *)keep);
        if (k != NO_SLOT) {
            slot_drop(e, &t->v[k]);
            pv_remove_at(t, pos, k);
            engine__notify(e, ENGINE_CHANGED_VERDICTS);
        }
        return;
    }
    uint8_t notes = 0;
    enum pv_reason reason = judge(e, keep, &notes);
    if (k == NO_SLOT) {
        pv_find(t, rec->meta.name, h, &pos); /* the index may have grown */
        t->v[t->n] = (struct pv_slot){.rec = keep, .hash = h, .reason = (uint8_t)reason, .src = src,
                                      .notes = notes};
        t->idx[pos] = (uint32_t)(t->n + 1);
        t->n++;
        e->by_reason[reason]++;
        notes_count(e, notes, 1);
        engine__notify(e, ENGINE_CHANGED_VERDICTS);
        return;
    }
    struct pv_slot *s = &t->v[k];
    bool changed = s->reason != reason || s->notes != notes || labels_differ(s->rec, keep);
    if (!s->src && s->rec != keep)
        model_pv_type.free((void *)s->rec);
    e->by_reason[s->reason]--;
    notes_count(e, s->notes, -1);
    s->rec = keep;
    s->src = src;
    s->reason = (uint8_t)reason;
    s->notes = notes;
    e->by_reason[reason]++;
    notes_count(e, notes, 1);
    if (changed)
        engine__notify(e, ENGINE_CHANGED_VERDICTS);
}

void engine__pv_rejudge(struct engine *e)
{
    struct pv_table *t = &e->pvs;
    bool changed = false;
    for (size_t k = 0; k < t->n; k++) {
        struct pv_slot *s = &t->v[k];
        uint8_t notes = 0;
        enum pv_reason r = judge(e, s->rec, &notes);
        if (r == s->reason && notes == s->notes)
            continue;
        e->by_reason[s->reason]--;
        notes_count(e, s->notes, -1);
        s->reason = (uint8_t)r;
        s->notes = notes;
        e->by_reason[r]++;
        notes_count(e, notes, 1);
        changed = true;
    }
    if (changed)
        engine__notify(e, ENGINE_CHANGED_VERDICTS);
}

void engine__pv_scan(const struct engine *e,
                     void (*cb)(void *data, const struct pv_rec *pv, enum pv_reason r), void *data)
{
    for (size_t k = 0; k < e->pvs.n; k++)
        cb(data, e->pvs.v[k].rec, (enum pv_reason)e->pvs.v[k].reason);
}

size_t engine_pv_note_count(const struct engine *e, enum pv_note n)
{
    return (n >= 0 && n < PV_NOTE_COUNT) ? e->by_note[n] : 0;
}

size_t engine_pv_count(const struct engine *e)
{
    return e->pvs.n;
}

size_t engine_pv_reason_count(const struct engine *e, enum pv_reason r)
{
    return (r >= 0 && r < PV_REASON_COUNT) ? e->by_reason[r] : 0;
}

static void fill_pub(const struct engine *e, const struct pv_slot *s, struct engine_pv *out)
{
    const struct pv_rec *r = s->rec;
    out->name = r->meta.name;
    out->storage_class = pv_storage_class(r) ? pv_storage_class(r) : "";
    out->driver = classify_pv_driver(r);
    out->claim_ns = pv_claim_name(r) ? (pv_claim_ns(r) ? pv_claim_ns(r) : "") : NULL;
    out->claim_name = pv_claim_name(r);
    out->phase = pv_phase(r) ? pv_phase(r) : "";
    out->reason = (enum pv_reason)s->reason;
    out->notes = s->notes & (uint8_t)~SLOT_SMB_FILES;
    out->capacity = r->capacity;
    out->remedy = pv_reason_remedy_ed(e->ed, (enum pv_reason)s->reason);
}

bool engine_pv_get(const struct engine *e, const char *name, struct engine_pv *out)
{
    size_t pos = 0;
    size_t k = pv_find(&e->pvs, name, name_hash(name), &pos);
    if (k == NO_SLOT)
        return false;
    fill_pub(e, &e->pvs.v[k], out);
    return true;
}

/* Sort key: the name's first 16 bytes big-endian in two integers, so most
 * comparisons touch neither the record nor strcmp (100k PVs: ~3x faster,
 * and the Events writer sorts them every few seconds while PVs change). */
struct sort_ent {
    uint64_t k0, k1;
    const struct pv_slot *s;
};

static uint64_t be8(const char *p, size_t len)
{
    uint64_t k = 0;
    for (size_t i = 0; i < 8; i++)
        k = (k << 8) | (i < len ? (unsigned char)p[i] : 0);
    return k;
}

static int cmp_ent(const void *a, const void *b)
{
    const struct sort_ent *x = a, *y = b;
    if (x->k0 != y->k0)
        return x->k0 < y->k0 ? -1 : 1;
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    return strcmp(x->s->rec->meta.name, y->s->rec->meta.name);
}

int engine_foreach_pv_sorted(const struct engine *e,
                             bool (*cb)(void *data, const struct engine_pv *pv), void *data)
{
    const struct pv_table *t = &e->pvs;
    struct sort_ent *v = malloc((t->n ? t->n : 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    for (size_t k = 0; k < t->n; k++) {
        const char *name = t->v[k].rec->meta.name;
        size_t len = strnlen(name, 16);
        v[k].k0 = be8(name, len);
        v[k].k1 = len > 8 ? be8(name + 8, len - 8) : 0;
        v[k].s = &t->v[k];
    }
    qsort(v, t->n, sizeof(*v), cmp_ent);
    for (size_t i = 0; i < t->n; i++) {
        struct engine_pv pv;
        fill_pub(e, v[i].s, &pv);
        if (!cb(data, &pv))
            break;
    }
    free(v);
    return 0;
}

/* ---- iteration in the engine's order (the metric collector) ---- */

#define PREFETCH_AHEAD 16

void engine_foreach_pv(const struct engine *e,
                       void (*cb)(void *data, const struct engine_pv *pv), void *data)
{
    const struct pv_table *t = &e->pvs;
    for (size_t k = 0; k < t->n; k++) {
        if (k + PREFETCH_AHEAD < t->n) { /* the record and the strings behind it */
            const char *r = (const char *)t->v[k + PREFETCH_AHEAD].rec;
            __builtin_prefetch(r);
            __builtin_prefetch(r + 64);
            __builtin_prefetch(r + 128);
        }
        struct engine_pv pv;
        fill_pub(e, &t->v[k], &pv);
        cb(data, &pv);
    }
}
