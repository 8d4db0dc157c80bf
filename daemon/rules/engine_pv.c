/* Rules engine, PersistentVolumes: one verdict per PV in a dense array
 * (engine_int.h struct pv_table). An entry points at the PV record itself,
 * the store's (engine_attach_store: store.h Lifetime) or the engine's own
 * copy (engine_apply), and the record keeps the entry's position
 * (pv_rec.engine_pos), so a PV costs 12 bytes here (and no index of its
 * own while every PV is borrowed from a store). aks_backup_persistent_volume_supported
 * lines are rendered at scrape time straight from the records, walking the
 * array in order. */
#include "rules/engine_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define NO_SLOT ((size_t)-1)

static uint32_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, folded */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (uint32_t)(h ^ (h >> 32));
}

/* Records the position of slot k in its record (const only to readers: the
 * engine owns this member of the records it indexes, pv_rec.engine_pos). */
static void set_pos(struct pv_table *t, size_t k)
{
    ((struct pv_rec *)t->v[k].rec)->engine_pos = (uint32_t)k;
}

/* The slot of rec itself (by its position hint), or NO_SLOT. */
static size_t slot_of(const struct pv_table *t, const struct pv_rec *rec)
{
    if (rec && rec->engine_pos < t->n && t->v[rec->engine_pos].rec == rec)
        return rec->engine_pos;
    return NO_SLOT;
}

/* Index position of name (idx[pos] = slot + 1), or of the empty position
 * where it would go; t->nidx != 0. */
static size_t idx_find(const struct pv_table *t, const char *name, uint32_t h)
{
    size_t mask = t->nidx - 1;
    size_t i = h & mask;
    while (t->idx[i] && strcmp(t->v[t->idx[i] - 1].rec->meta.name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

/* The slot of rec, even if its position hint was overwritten (another
 * engine indexing the same store's records), or NO_SLOT. */
static size_t slot_scan(const struct pv_table *t, const struct pv_rec *rec)
{
    size_t k = slot_of(t, rec);
    if (k != NO_SLOT)
        return k;
    for (k = 0; k < t->n; k++)
        if (t->v[k].rec == rec)
            return k;
    return NO_SLOT;
}

/* Slot index of the PV named name, or NO_SLOT. hint: a record that may be
 * the one indexed (the store's old record on an update or delete); fresh:
 * a record known not to be indexed (the one being added), or NULL. With a
 * single engine on a store, the hint or the record the store holds is
 * found by its position, without a search. */
static size_t pv_find(const struct engine *e, const char *name, const struct pv_rec *hint,
                      const struct pv_rec *fresh)
{
    const struct pv_table *t = &e->pvs;
    size_t k = slot_of(t, hint);
    if (k != NO_SLOT)
        return k;
    if (t->nidx) { /* covers every slot */
        size_t i = idx_find(t, name, name_hash(name));
        return t->idx[i] ? t->idx[i] - 1 : NO_SLOT;
    }
    /* Every slot is borrowed: the store's old record itself, or the record
     * named name in one of the attached stores. */
    if (hint && (k = slot_scan(t, hint)) != NO_SLOT)
        return k;
    for (const struct engine_attach *a = e->attached; a; a = a->next) {
        const struct pv_rec *r = a->store ? store_get(a->store, NULL, name) : NULL;
        if (r && r != fresh && r != hint && (k = slot_scan(t, r)) != NO_SLOT)
            return k;
    }
    return NO_SLOT;
}

static void idx_put(struct pv_table *t, size_t k)
{
    size_t mask = t->nidx - 1;
    size_t i = name_hash(t->v[k].rec->meta.name) & mask;
    while (t->idx[i])
        i = (i + 1) & mask;
    t->idx[i] = (uint32_t)(k + 1);
}

static void idx_fill(struct pv_table *t)
{
    memset(t->idx, 0, t->nidx * sizeof(*t->idx));
    for (size_t k = 0; k < t->n; k++)
        idx_put(t, k);
}

/* Builds or grows the name index for n entries (load <= 3/4). 0 / -ENOMEM. */
static int idx_reserve(struct pv_table *t, size_t n)
{
    if (n * 4 <= t->nidx * 3)
        return 0;
    size_t nn = t->nidx ? t->nidx * 2 : 64;
    while (n * 4 > nn * 3)
        nn *= 2;
    uint32_t *ni = malloc(nn * sizeof(*ni));
    if (!ni)
        return -ENOMEM;
    free(t->idx);
    t->idx = ni;
    t->nidx = nn;
    idx_fill(t);
    return 0;
}

/* Room for one more entry (and in the index if there is one, or if owned:
 * the first copy of the engine's own builds it). 0 / -ENOMEM. */
static int pv_reserve(struct pv_table *t, bool owned)
{
    if ((t->nidx || owned) && idx_reserve(t, t->n + 1) != 0)
        return -ENOMEM;
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

/* Index position of slot k. */
static size_t idx_pos_of(const struct pv_table *t, size_t k)
{
    size_t mask = t->nidx - 1;
    size_t p = name_hash(t->v[k].rec->meta.name) & mask;
    while (t->idx[p] != k + 1)
        p = (p + 1) & mask;
    return p;
}

/* Removes slot k: backward-shift deletion in the index (if any), then the
 * last slot moves into k. */
static void pv_remove_at(struct pv_table *t, size_t k)
{
    if (t->nidx) {
        size_t mask = t->nidx - 1;
        size_t i = idx_pos_of(t, k);
        for (size_t j = (i + 1) & mask; t->idx[j]; j = (j + 1) & mask) {
            size_t home = name_hash(t->v[t->idx[j] - 1].rec->meta.name) & mask;
            /* The entry at j may fill the hole at i unless its home lies
             * cyclically in (i, j]. */
            bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!stays) {
                t->idx[i] = t->idx[j];
                i = j;
            }
        }
        t->idx[i] = 0;
    }
    size_t last = t->n - 1;
    if (k != last) {
        if (t->nidx)
            t->idx[idx_pos_of(t, last)] = (uint32_t)(k + 1);
        t->v[k] = t->v[last];
        set_pos(t, k);
    }
    t->n--;
}

/* After a complete list: the array shrinks to its entries (it grew by
 * half its size at a time while the list came in). */
void engine__pv_trim(struct engine *e)
{
    struct pv_table *t = &e->pvs;
    size_t nc = t->n > 64 ? t->n : 64;
    if (nc >= t->cap)
        return;
    struct pv_slot *nv = realloc(t->v, nc * sizeof(*nv));
    if (nv) {
        t->v = nv;
        t->cap = nc;
    }
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
    for (size_t k = 0; k < n; k++)
        set_pos(t, k);
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

/* Removes slot k and drops its record (the index hashes its name first). */
static void pv_drop_at(struct engine *e, size_t k)
{
    struct pv_slot s = e->pvs.v[k];
    pv_remove_at(&e->pvs, k);
    slot_drop(e, &s);
}

static void pv_delete(struct engine *e, const struct pv_rec *old)
{
    size_t k = pv_find(e, old->meta.name, old, NULL);
    if (k != NO_SLOT)
        pv_drop_at(e, k);
}

void engine__pv_apply(struct engine *e, const struct pv_rec *old, const struct pv_rec *rec, uint16_t src)
{
    bool borrowed = src != 0;
    struct pv_table *t = &e->pvs;
    if (!rec) {
        pv_delete(e, old);
        engine__notify(e, ENGINE_CHANGED_VERDICTS);
        return;
    }
    const struct pv_rec *keep = borrowed ? rec : model_pv_clone(rec);
    size_t k = pv_find(e, rec->meta.name, old && old != rec ? old : NULL,
                       !old && slot_of(t, rec) == NO_SLOT ? rec : NULL);
    if (!keep || (k == NO_SLOT && pv_reserve(t, !borrowed) != 0)) {
        /* out of memory: the PV is dropped rather than left stale */
        if (!borrowed && keep)
            model_pv_type.free((void *)keep);
        if (k != NO_SLOT) {
            pv_drop_at(e, k);
            engine__notify(e, ENGINE_CHANGED_VERDICTS);
        }
        return;
    }
    if (!borrowed && !t->nidx && idx_reserve(t, t->n + 1) != 0) {
        /* the first copy of the engine's own needs the name index */
        model_pv_type.free((void *)keep);
        if (k != NO_SLOT) {
            pv_drop_at(e, k);
            engine__notify(e, ENGINE_CHANGED_VERDICTS);
        }
        return;
    }
    uint8_t notes = 0;
    enum pv_reason reason = judge(e, keep, &notes);
    if (k == NO_SLOT) {
        k = t->n++;
        t->v[k] = (struct pv_slot){.rec = keep, .reason = (uint8_t)reason, .src = src, .notes = notes};
        set_pos(t, k);
        if (t->nidx)
            t->idx[idx_find(t, keep->meta.name, name_hash(keep->meta.name))] = (uint32_t)(k + 1);
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
    set_pos(t, k);
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
    size_t k = pv_find(e, name, NULL, NULL);
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
