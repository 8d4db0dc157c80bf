/* Loading the configuration: the YAML walk over libyaml's document API
 * (positions from node marks), ABC_* environment overrides, flag setters,
 * cross-key validation and the one-line summary. Called by main.c/app.c;
 * the key table and value checks live in config_keys.c. */
#include "config/config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_FILE_MAX (1u << 20)

struct walk {
    struct config *c;
    yaml_document_t *doc;
    struct config_err *err;
};

static void err_set(struct config_err *e, const char *file, int line, int col)
{
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    e->line = line;
    e->col = col;
    e->msg[0] = '\0';
}

__attribute__((format(printf, 3, 4))) static int fail_at(struct walk *w, const yaml_node_t *n,
                                                         const char *fmt, ...)
{
    va_list ap;
    err_set(w->err, w->c->path, (int)n->start_mark.line + 1, (int)n->start_mark.column + 1);
    va_start(ap, fmt);
    vsnprintf(w->err->msg, sizeof w->err->msg, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void config_err_format(const struct config_err *e, char *out, size_t n)
{
    if (e->line > 0)
        snprintf(out, n, "%s:%d:%d: %s", e->file, e->line, e->col, e->msg);
    else if (e->file[0])
        snprintf(out, n, "%s: %s", e->file, e->msg);
    else
        snprintf(out, n, "%s", e->msg);
}

static const char *kind_name(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_MAPPING_NODE: return "a mapping";
    case YAML_SEQUENCE_NODE: return "a list";
    default: return "a scalar";
    }
}

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = scalar(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* Checks that every key of mapping m is a scalar and appears once. */
static int check_keys(struct walk *w, const yaml_node_t *m, const char *where)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        if (k->type != YAML_SCALAR_NODE)
            return fail_at(w, k, "%s: a key must be a plain name, got %s (expected a scalar key)",
                           where, kind_name(k));
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k0 = yaml_document_get_node(w->doc, q->key);
            if (k0->type == YAML_SCALAR_NODE && !strcmp(scalar(k0), scalar(k)))
                return fail_at(
                    w, k, "duplicate key '%s' in %s (first at line %d) (expected each key once)",
                    scalar(k), where, (int)k0->start_mark.line + 1);
        }
    }
    return 0;
}

static int unknown_key(struct walk *w, const yaml_node_t *k, const char *section)
{
    char did[128], list[512];
    config__suggest(section, scalar(k), did, sizeof did, list, sizeof list);
    if (!section)
        return fail_at(w, k, "unknown top-level key '%s'; %s (expected one of: %s)", scalar(k), did,
                       list);
    if (!strcmp(section, "accounting.sources[]"))
        return fail_at(w, k, "unknown key '%s' in an accounting source; %s (expected one of: %s)",
                       scalar(k), did, list);
    return fail_at(w, k, "unknown key '%s' in section '%s'; %s (expected one of: %s)", scalar(k),
                   section, did, list);
}

static int assign_node(struct walk *w, const struct config__key *k, const yaml_node_t *v)
{
    char dotted[96], exp[256];
    config__dotted(k, dotted, sizeof dotted);
    if (v->type != YAML_SCALAR_NODE) {
        config__expected(k, exp, sizeof exp);
        return fail_at(w, v, "%s: got %s (expected a single value: %s)", dotted, kind_name(v), exp);
    }
    char msg[sizeof w->err->msg];
    bool quoted = v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    if (config__assign(w->c, k, dotted, scalar(v), quoted, is_null(v), msg, sizeof msg))
        return fail_at(w, v, "%s", msg);
    struct config_origin *o = &w->c->origin[k - config__keys];
    o->line = (int)v->start_mark.line + 1;
    o->col = (int)v->start_mark.column + 1;
    o->var[0] = '\0';
    return 0;
}

static bool source_name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(*s >= 'a' && *s <= 'z') && !(*s >= '0' && *s <= '9') && !strchr("-_.", *s))
            return false;
    return true;
}

static int walk_source(struct walk *w, const yaml_node_t *m, struct config_source *s, int idx)
{
    char where[64];
    snprintf(where, sizeof where, "accounting source #%d", idx + 1);
    if (m->type != YAML_MAPPING_NODE)
        return fail_at(w, m,
                       "%s: got %s (expected a mapping with keys name, operation, "
                       "group, version, resource, namespace, on_demand, instance)",
                       where, kind_name(m));
    int rc = check_keys(w, m, where);
    if (rc)
        return rc;
    config__source_defaults(s);
    bool have_name = false, have_op = false, have_version = false, have_resource = false;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const char *key = scalar(k);
        char why[160];
        if (v->type != YAML_SCALAR_NODE)
            return fail_at(w, v, "%s: '%s' expects a single value, got %s (expected a string)",
                           where, key, kind_name(v));
        const char *val = is_null(v) ? "" : scalar(v);
        char *dst = NULL;
        size_t dlen = 0;
        if (!strcmp(key, "name")) {
            if (!source_name_ok(val) || strlen(val) >= sizeof s->name)
                return fail_at(w, v,
                               "%s: invalid name '%s' (expected lower-case letters, "
                               "digits, '-', '_' or '.', at most 63)",
                               where, val);
            dst = s->name, dlen = sizeof s->name, have_name = true;
        } else if (!strcmp(key, "operation")) {
            if (strcmp(val, "backup") && strcmp(val, "restore"))
                return fail_at(w, v, "%s: invalid operation '%s' (expected backup or restore)",
                               where, val);
            s->operation = !strcmp(val, "backup") ? CONFIG_OP_BACKUP : CONFIG_OP_RESTORE;
            have_op = true;
            continue;
        } else if (!strcmp(key, "group")) {
            dst = s->group, dlen = sizeof s->group;
        } else if (!strcmp(key, "version")) {
            dst = s->version, dlen = sizeof s->version, have_version = *val != '\0';
        } else if (!strcmp(key, "resource")) {
            dst = s->resource, dlen = sizeof s->resource, have_resource = *val != '\0';
        } else if (!strcmp(key, "namespace")) {
            if (*val && !config__namespace_ok(val))
                return fail_at(w, v,
                               "%s: invalid namespace '%s' (expected a namespace name "
                               "or \"\" for all namespaces)",
                               where, val);
            dst = s->namespace_, dlen = sizeof s->namespace_;
        } else if (!strcmp(key, "on_demand")) {
            if (strlen(val) >= sizeof s->on_demand || config_parse_matcher(val, s, why, sizeof why))
                return fail_at(w, v,
                               "%s: invalid on_demand '%s': %s (expected always, "
                               "label-absent:<key>, label-present:<key>, "
                               "label:<key>=<value> or field:<path>=<value>)",
                               where, val, strlen(val) >= sizeof s->on_demand ? "too long" : why);
            dst = s->on_demand, dlen = sizeof s->on_demand;
        } else if (!strcmp(key, "instance")) {
            if (strlen(val) >= sizeof s->instance || config_parse_instance(val, s, why, sizeof why))
                return fail_at(w, v,
                               "%s: invalid instance '%s': %s (expected constant:<id>, "
                               "label:<key> or field:<dotted.path>)",
                               where, val, strlen(val) >= sizeof s->instance ? "too long" : why);
            dst = s->instance, dlen = sizeof s->instance;
        } else {
            return unknown_key(w, k, "accounting.sources[]");
        }
        if (strlen(val) >= dlen)
            return fail_at(w, v, "%s: '%s' is too long (expected at most %zu characters)", where,
                           key, dlen - 1);
        snprintf(dst, dlen, "%s", val);
    }
    const char *missing = !have_name       ? "name"
                          : !have_op       ? "operation"
                          : !have_version  ? "version"
                          : !have_resource ? "resource"
                                           : NULL;
    if (missing)
        return fail_at(w, m,
                       "%s: missing '%s' (expected name, operation, version and "
                       "resource; group, namespace, on_demand and instance are optional)",
                       where, missing);
    return 0;
}

static int walk_sources(struct walk *w, const yaml_node_t *seq)
{
    if (is_null(seq)) {
        free(w->c->accounting.sources);
        w->c->accounting.sources = NULL;
        w->c->accounting.n_sources = 0;
        return 0;
    }
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail_at(w, seq, "accounting.sources: got %s (expected a list of sources)",
                       kind_name(seq));
    size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    struct config_source *v = calloc(n ? n : 1, sizeof *v);
    if (!v)
        return fail_at(w, seq, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = yaml_document_get_node(w->doc, seq->data.sequence.items.start[i]);
        int rc = walk_source(w, item, &v[i], (int)i);
        for (size_t j = 0; !rc && j < i; j++)
            if (!strcmp(v[j].name, v[i].name))
                rc = fail_at(w, item,
                             "accounting source #%zu: name '%s' is already used by "
                             "source #%zu (expected unique names)",
                             i + 1, v[i].name, j + 1);
        if (rc) {
            free(v);
            return rc;
        }
    }
    free(w->c->accounting.sources);
    w->c->accounting.sources = v;
    w->c->accounting.n_sources = n;
    return 0;
}

/* vault.tiers: [operational] or [operational, vault] (any order). */
static int walk_tiers(struct walk *w, const yaml_node_t *seq)
{
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail_at(w, seq, "vault.tiers: got %s (expected a list of tiers: operational, vault)",
                       kind_name(seq));
    bool op = false, vault = false;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *v = yaml_document_get_node(w->doc, *it);
        if (v->type != YAML_SCALAR_NODE)
            return fail_at(w, v, "vault.tiers: got %s (expected operational or vault)", kind_name(v));
        if (!strcmp(scalar(v), "operational"))
            op = true;
        else if (!strcmp(scalar(v), "vault"))
            vault = true;
        else
            return fail_at(w, v, "vault.tiers: unknown tier '%s' (expected operational or vault)",
                           scalar(v));
    }
    if (!op)
        return fail_at(w, seq,
                       "vault.tiers: the operational tier is always used (expected a list "
                       "containing operational)");
    w->c->vault.tier_operational = op;
    w->c->vault.tier_vault = vault;
    return 0;
}

/* vault.backup_namespaces: namespace names; [] = all. */
static int walk_backup_namespaces(struct walk *w, const yaml_node_t *seq)
{
    if (is_null(seq)) {
        w->c->vault.n_backup_namespaces = 0;
        return 0;
    }
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail_at(w, seq, "vault.backup_namespaces: got %s (expected a list of namespace names)",
                       kind_name(seq));
    size_t n = 0;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *v = yaml_document_get_node(w->doc, *it);
        if (v->type != YAML_SCALAR_NODE || !config__namespace_ok(scalar(v)))
            return fail_at(w, v, "vault.backup_namespaces: '%s' is not a namespace name (expected "
                           "a list of namespace names)",
                           v->type == YAML_SCALAR_NODE ? scalar(v) : kind_name(v));
        if (n == CONFIG_MAX_BACKUP_NAMESPACES)
            return fail_at(w, v, "vault.backup_namespaces: more than %d namespaces (expected at most %d)",
                           CONFIG_MAX_BACKUP_NAMESPACES, CONFIG_MAX_BACKUP_NAMESPACES);
        snprintf(w->c->vault.backup_namespaces[n], sizeof w->c->vault.backup_namespaces[n], "%s",
                 scalar(v));
        n++;
    }
    w->c->vault.n_backup_namespaces = n;
    return 0;
}

static int walk_section(struct walk *w, const char *section, const yaml_node_t *m)
{
    if (is_null(m))
        return 0;
    if (m->type != YAML_MAPPING_NODE)
        return fail_at(w, m, "section '%s': got %s (expected a mapping of keys)", section,
                       kind_name(m));
    char where[64];
    snprintf(where, sizeof where, "section '%s'", section);
    int rc = check_keys(w, m, where);
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; !rc && p < m->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const struct config__key *key = config__find(section, scalar(k));
        if (key)
            rc = assign_node(w, key, v);
        else if (!strcmp(section, "accounting") && !strcmp(scalar(k), "sources"))
            rc = walk_sources(w, v);
        else if (!strcmp(section, "vault") && !strcmp(scalar(k), "tiers"))
            rc = walk_tiers(w, v);
        else if (!strcmp(section, "vault") && !strcmp(scalar(k), "backup_namespaces"))
            rc = walk_backup_namespaces(w, v);
        else
            rc = unknown_key(w, k, section);
    }
    return rc;
}

static int walk_root(struct walk *w, const yaml_node_t *root)
{
    if (!root || is_null(root))
        return 0;
    if (root->type != YAML_MAPPING_NODE)
        return fail_at(w, root, "the top level is %s (expected a mapping of sections)",
                       kind_name(root));
    int rc = check_keys(w, root, "the top level");
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         !rc && p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        const struct config__key *key = config__find(NULL, scalar(k));
        if (key)
            rc = assign_node(w, key, v);
        else if (config__is_section(scalar(k)))
            rc = walk_section(w, scalar(k), v);
        else
            rc = unknown_key(w, k, NULL);
    }
    return rc;
}

/* YAML forbids tabs in indentation (libyaml rejects them even on comment
 * lines) and libyaml's own message for it is cryptic. */
static int find_indent_tab(const char *text, size_t len, int *line, int *col)
{
    int l = 1, c = 1;
    bool indent = true;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            l++, c = 1, indent = true;
            continue;
        }
        if (indent && text[i] == '\t') {
            *line = l, *col = c;
            return 1;
        }
        if (text[i] != ' ' && text[i] != '-')
            indent = false;
        c++;
    }
    return 0;
}

int config_load_string(struct config *c, const char *name, const char *text, size_t len,
                       struct config_err *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int line, col, rc;
    snprintf(c->path, sizeof c->path, "%s", name ? name : "");
    if (find_indent_tab(text, len, &line, &col)) {
        err_set(err, c->path, line, col);
        snprintf(err->msg, sizeof err->msg,
                 "tab character in indentation (expected spaces: YAML does not allow tabs)");
        return -EINVAL;
    }
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        err_set(err, c->path, (int)parser.problem_mark.line + 1,
                (int)parser.problem_mark.column + 1);
        if (parser.context)
            snprintf(err->msg, sizeof err->msg,
                     "YAML syntax error: %s %s started at line %d, column %d (expected valid YAML)",
                     parser.problem ? parser.problem : "unknown problem", parser.context,
                     (int)parser.context_mark.line + 1, (int)parser.context_mark.column + 1);
        else
            snprintf(err->msg, sizeof err->msg, "YAML syntax error: %s (expected valid YAML)",
                     parser.problem ? parser.problem : "unknown problem");
        yaml_parser_delete(&parser);
        return -EINVAL;
    }
    struct walk w = {c, &doc, err};
    rc = walk_root(&w, yaml_document_get_root_node(&doc));
    yaml_document_delete(&doc);
    if (!rc) {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            err_set(err, c->path, (int)parser.problem_mark.line + 1,
                    (int)parser.problem_mark.column + 1);
            snprintf(err->msg, sizeof err->msg, "YAML syntax error: %s (expected valid YAML)",
                     parser.problem ? parser.problem : "unknown problem");
            rc = -EINVAL;
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2) {
                err_set(err, c->path, (int)next.start_mark.line + 1,
                        (int)next.start_mark.column + 1);
                snprintf(err->msg, sizeof err->msg,
                         "a second YAML document (expected one document)");
                rc = -EINVAL;
            }
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int config_load_file(struct config *c, const char *path, struct config_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        err_set(err, path, 0, 0);
        snprintf(err->msg, sizeof err->msg, "cannot read config file: %s", strerror(e));
        return -e;
    }
    char *text = malloc(CONFIG_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return -ENOMEM;
    }
    size_t len = fread(text, 1, CONFIG_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || len > CONFIG_FILE_MAX) {
        err_set(err, path, 0, 0);
        snprintf(err->msg, sizeof err->msg, "%s",
                 bad ? "cannot read config file: I/O error" : "config file larger than 1 MiB");
        free(text);
        return bad ? -EIO : -EFBIG;
    }
    text[len] = '\0';
    int rc = config_load_string(c, path, text, len, err);
    free(text);
    return rc;
}

static void env_name(const struct config__key *k, char *out, size_t n)
{
    snprintf(out, n, "ABC_%s%s%s", k->section ? k->section : "", k->section ? "_" : "", k->name);
    for (char *p = out; *p; p++)
        *p = (*p == '.' || *p == '-') ? '_' : (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
}

static void append_word(char *buf, size_t n, const char *word, size_t wl)
{
    size_t used = strlen(buf);
    if (used + wl + 2 > n)
        return;
    if (used)
        buf[used++] = ' ';
    memcpy(buf + used, word, wl);
    buf[used + wl] = '\0';
}

int config_key_at(size_t i, char *dotted, size_t dn, char *env, size_t en)
{
    if (i >= config__nkeys)
        return -ENOENT;
    config__dotted(&config__keys[i], dotted, dn);
    env_name(&config__keys[i], env, en);
    return 0;
}

int config_apply_env(struct config *c, char *const *envp, struct config_err *err, char *unknown,
                     size_t unknown_len)
{
    static const char *const skip[] = {"ABC_TEST_NOW", "ABC_BIN", "ABC_SRCROOT", "ABC_BUILDROOT",
                                       NULL};
    if (unknown && unknown_len)
        unknown[0] = '\0';
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *e = envp[i], *eq = strchr(e, '=');
        if (strncmp(e, "ABC_", 4) || !eq)
            continue;
        char name[96];
        size_t nl = (size_t)(eq - e);
        if (nl >= sizeof name) {
            if (unknown)
                append_word(unknown, unknown_len, e, nl);
            continue;
        }
        memcpy(name, e, nl);
        name[nl] = '\0';
        const struct config__key *key = NULL;
        for (size_t j = 0; j < config__nkeys && !key; j++) {
            char en[96];
            env_name(&config__keys[j], en, sizeof en);
            if (!strcmp(en, name))
                key = &config__keys[j];
        }
        if (key) {
            if (config__assign(c, key, name, eq + 1, false, false, err->msg, sizeof err->msg)) {
                err->file[0] = '\0';
                err->line = err->col = 0;
                return -EINVAL;
            }
            struct config_origin *o = &c->origin[key - config__keys];
            o->line = o->col = 0;
            snprintf(o->var, sizeof o->var, "%s", name);
            continue;
        }
        if (!strcmp(name, "ABC_ACCOUNTING_SOURCES")) {
            err_set(err, "", 0, 0);
            snprintf(err->msg, sizeof err->msg,
                     "%s: lists cannot be set from the environment "
                     "(expected accounting.sources in the config file)",
                     name);
            return -EINVAL;
        }
        bool skipped = false;
        for (size_t j = 0; skip[j]; j++)
            skipped |= !strcmp(skip[j], name);
        if (!skipped && unknown)
            append_word(unknown, unknown_len, name, nl);
    }
    return 0;
}

int config_set(struct config *c, const char *dotted_key, const char *value, struct config_err *err)
{
    char section[64] = "";
    const char *dot = strchr(dotted_key, '.'), *name = dotted_key;
    if (dot) {
        size_t sl = (size_t)(dot - dotted_key);
        if (sl >= sizeof section)
            sl = sizeof section - 1;
        memcpy(section, dotted_key, sl);
        section[sl] = '\0';
        name = dot + 1;
    }
    const struct config__key *k = config__find(dot ? section : NULL, name);
    err_set(err, "", 0, 0);
    if (!k) {
        char did[128], list[512];
        config__suggest(dot && config__is_section(section) ? section : NULL,
                        dot && config__is_section(section) ? name : dotted_key, did, sizeof did,
                        list, sizeof list);
        snprintf(err->msg, sizeof err->msg, "unknown key '%s'; %s (expected one of: %s)",
                 dotted_key, did, list);
        return -ENOENT;
    }
    if (config__assign(c, k, dotted_key, value ? value : "", false, false, err->msg,
                       sizeof err->msg))
        return -EINVAL;
    struct config_origin *o = &c->origin[k - config__keys];
    o->line = o->col = 0;
    snprintf(o->var, sizeof o->var, "%s", dotted_key);
    return 0;
}

__attribute__((format(printf, 4, 5))) static int
fail_key(const struct config *c, struct config_err *err, const char *key, const char *fmt, ...)
{
    const char *dot = strchr(key, '.');
    char section[64] = "";
    if (dot)
        snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
    const struct config__key *k = config__find(dot ? section : NULL, dot ? dot + 1 : key);
    const struct config_origin *o = k ? &c->origin[k - config__keys] : NULL;
    char prefix[96];
    va_list ap;
    if (o && o->line > 0) {
        err_set(err, c->path, o->line, o->col);
        snprintf(prefix, sizeof prefix, "%s", key);
    } else {
        err_set(err, "", 0, 0);
        snprintf(prefix, sizeof prefix, "%s", o && o->var[0] ? o->var : key);
    }
    size_t pl = (size_t)snprintf(err->msg, sizeof err->msg, "%s: ", prefix);
    va_start(ap, fmt);
    vsnprintf(err->msg + pl, sizeof err->msg - pl, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int config_key_error(const struct config *c, struct config_err *err, const char *dotted_key,
                     const char *fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return fail_key(c, err, dotted_key, "%s", msg);
}

int config_validate(const struct config *c, struct config_err *err)
{
    long lease = c->leader_election.lease_duration_seconds;
    long renew = c->leader_election.renew_deadline_seconds;
    long retry = c->leader_election.retry_period_seconds;
    if (renew >= lease)
        return fail_key(c, err, "leader_election.renew_deadline_seconds",
                        "%ld is not less than lease_duration_seconds %ld (expected "
                        "renew_deadline_seconds < lease_duration_seconds)",
                        renew, lease);
    if (retry >= renew)
        return fail_key(c, err, "leader_election.retry_period_seconds",
                        "%ld is not less than renew_deadline_seconds %ld (expected "
                        "retry_period_seconds < renew_deadline_seconds)",
                        retry, renew);
    if (!c->accounting.state_file[0] && !c->accounting.state_configmap[0])
        return fail_key(c, err, "accounting.state_file",
                        "empty while state_configmap is empty too (expected a file path or a "
                        "ConfigMap to keep quota counts in)");
    if (c->azure.enabled && !c->azure.vault_id[0])
        return fail_key(c, err, "azure.enabled",
                        "true without azure.vault_id (expected the Backup vault's ARM resource id "
                        "in azure.vault_id when the Azure view is on)");
    return 0;
}

int config_load(struct config *c, const char *path, char *const *envp,
                const struct config_flag *flags, size_t nflags, struct config_err *err,
                char *unknown_env, size_t unknown_len)
{
    int rc = config_defaults(c);
    if (rc) {
        err_set(err, path, 0, 0);
        snprintf(err->msg, sizeof err->msg, "out of memory");
    }
    if (!rc && path)
        rc = config_load_file(c, path, err);
    if (!rc)
        rc = config_apply_env(c, envp, err, unknown_env, unknown_len);
    for (size_t i = 0; !rc && i < nflags; i++)
        if (flags[i].value)
            rc = config_set(c, flags[i].key, flags[i].value, err);
    if (!rc)
        rc = config_validate(c, err);
    if (rc)
        config_free(c);
    return rc;
}

void config_summary(const struct config *c, char *out, size_t n)
{
    snprintf(out, n,
             "config OK: %s: listen %s, %zu accounting source%s, day boundary %s, "
             "leader election %s, write API %s, backup schedule %s",
             c->path[0] ? c->path : "(defaults)", c->http.listen, c->accounting.n_sources,
             c->accounting.n_sources == 1 ? "" : "s", c->limits.day_boundary,
             c->leader_election.enabled ? "on" : "off",
             c->api.token_file[0] ? "enabled" : "disabled",
             c->vault.has_schedule ? c->vault.backup_schedule : "unknown");
}

int config_day_offset(const struct config *c)
{
    return c->limits.day_offset;
}

void config_free(struct config *c)
{
    free(c->accounting.sources);
    c->accounting.sources = NULL;
    c->accounting.n_sources = 0;
}

int config_copy(struct config *dst, const struct config *src)
{
    *dst = *src;
    dst->accounting.sources = NULL;
    if (src->accounting.n_sources) {
        dst->accounting.sources =
            calloc(src->accounting.n_sources, sizeof *src->accounting.sources);
        if (!dst->accounting.sources) {
            dst->accounting.n_sources = 0;
            return -ENOMEM;
        }
        memcpy(dst->accounting.sources, src->accounting.sources,
               src->accounting.n_sources * sizeof *src->accounting.sources);
    }
    return 0;
}
