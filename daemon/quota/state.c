/* Quota state persistence (state.h): the file backend with atomic
 * replacement (temp file in the same directory, fsync, rename, fsync of
 * the directory) and the load/save glue around ledger_{to,merge}_json. */
#include "quota/state.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quota/ledger.h"
#include "util/log.h"

#define STATE_MAX_BYTES (16u << 20)

static int dir_of(const char *path, char *dir, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, n, ".");
        return 0;
    }
    size_t len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= n)
        return -ENAMETOOLONG;
    memcpy(dir, path, len);
    dir[len] = '\0';
    return 0;
}

static int mkdir_p(const char *dir)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0700) && errno != EEXIST)
        return -errno;
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* A new temporary file next to path under an unpredictable name
 * (path.tmp-<16 random hex digits>), created exclusively and never through
 * a symlink: a file or link planted there is not followed or truncated.
 * The fd, or a negative errno. */
static int open_temp(const char *path, char *tmp, size_t n)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        unsigned char r[8];
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
            return -EIO;
        if (snprintf(tmp, n, "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, r[0], r[1], r[2],
                     r[3], r[4], r[5], r[6], r[7]) >= (int)n)
            return -ENAMETOOLONG;
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0)
            return fd;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int state_file_write_atomic(const char *path, const char *data, size_t len)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 32];
    int rc = dir_of(path, dir, sizeof(dir));
    if (rc)
        return rc;
    int fd = open_temp(path, tmp, sizeof(tmp));
    if (fd == -ENOENT) {
        if ((rc = mkdir_p(dir)))
            return rc;
        fd = open_temp(path, tmp, sizeof(tmp));
    }
    if (fd < 0)
        return fd;
    rc = write_all(fd, data, len);
    if (!rc && fsync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path))
        rc = -errno;
    if (rc) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd))
            rc = -errno;
        close(dfd);
    }
    return rc;
}

int state_file_read(const char *path, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st)) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > STATE_MAX_BYTES) {
        close(fd);
        return -EFBIG;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap);
    if (!b) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > STATE_MAX_BYTES) {
                free(b);
                close(fd);
                return -EFBIG;
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                close(fd);
                return -ENOMEM;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            free(b);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *data = b;
    *len = n;
    return 0;
}

int state_file_set_aside(const char *path, int64_t now, char *where, size_t n)
{
    char dst[PATH_MAX + 32];
    if (snprintf(dst, sizeof(dst), "%s.corrupt-%lld", path, (long long)now) >= (int)sizeof(dst))
        return -ENAMETOOLONG;
    if (rename(path, dst))
        return -errno;
    if (where && n)
        snprintf(where, n, "%s", dst);
    return 0;
}

int state_file_remove_stale_temps(const char *path)
{
    char dir[PATH_MAX], prefix[PATH_MAX];
    int rc = dir_of(path, dir, sizeof(dir));
    if (rc)
        return rc;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (snprintf(prefix, sizeof(prefix), "%s.tmp-", base) >= (int)sizeof(prefix))
        return -ENAMETOOLONG;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    int removed = 0;
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d))) {
        char full[PATH_MAX * 2];
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        snprintf(full, sizeof(full), "%s/%s", dir, e->d_name);
        if (unlink(full) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

struct file_ctx {
    char *path;
    bool read_only;
};

static int file_load(void *ctx, char **data, size_t *len)
{
    struct file_ctx *f = ctx;
    int rc = state_file_read(f->path, data, len);
    struct stat st;
    if (rc == 0 && stat(f->path, &st) == 0 && (st.st_mode & 0177)) {
        /* Someone else could have written the counts: say so. The next
         * save replaces the file with one of mode 0600. */
        char mode[8];
        snprintf(mode, sizeof(mode), "%04o", (unsigned)(st.st_mode & 07777));
        log_kv(LOG_WARN, "the quota state file's mode is wider than 0600; other users may have "
               "changed the counts (the next write replaces it with mode 0600)", "file", f->path, "mode",
               mode, NULL);
    }
    return rc;
}

static int file_save(void *ctx, const char *data, size_t len)
{
    struct file_ctx *f = ctx;
    return f->read_only ? 0 : state_file_write_atomic(f->path, data, len);
}

static int file_set_aside(void *ctx, int64_t now, char *where, size_t n)
{
    struct file_ctx *f = ctx;
    if (f->read_only) {
        if (where && n)
            where[0] = '\0';
        return 0;
    }
    return state_file_set_aside(f->path, now, where, n);
}

static void file_free(void *ctx)
{
    struct file_ctx *f = ctx;
    if (f)
        free(f->path);
    free(f);
}

static const struct quota_store_ops file_ops = {
    .name = "file",
    .load = file_load,
    .save = file_save,
    .set_aside = file_set_aside,
    .free = file_free,
};

int quota_file_store_init(struct quota_store *s, const char *path, bool read_only)
{
    if (!path || !*path)
        return -EINVAL;
    struct file_ctx *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return -ENOMEM;
    }
    f->read_only = read_only;
    /* A crash between write and rename leaves a temp file; the state file
     * itself is intact (the rename is atomic). */
    if (!read_only)
        state_file_remove_stale_temps(path);
    s->ops = &file_ops;
    s->ctx = f;
    return 0;
}

void quota_store_free(struct quota_store *s)
{
    if (s && s->ops && s->ops->free)
        s->ops->free(s->ctx);
    if (s) {
        s->ops = NULL;
        s->ctx = NULL;
    }
}

int quota_state_load(struct quota_store *s, struct ledger *l, int64_t now, char *aside,
                     size_t asidelen)
{
    char *data = NULL;
    size_t len = 0;
    if (aside && asidelen)
        aside[0] = '\0';
    int rc = s->ops->load(s->ctx, &data, &len);
    if (rc == -ENOENT)
        return QUOTA_LOAD_NONE;
    if (rc == -ENOMEM)
        return rc;
    if (rc == 0) {
        struct json_tokener *tok = json_tokener_new();
        if (!tok) {
            free(data);
            return -ENOMEM;
        }
        struct json_object *doc = json_tokener_parse_ex(tok, data, (int)len);
        /* Trailing garbage after the document is corruption too. */
        if (doc && json_tokener_get_error(tok) == json_tokener_success &&
            (size_t)json_tokener_get_parse_end(tok) < len) {
            size_t i = json_tokener_get_parse_end(tok);
            while (i < len && (data[i] == ' ' || data[i] == '\n' || data[i] == '\t' || data[i] == '\r'))
                i++;
            if (i < len) {
                json_object_put(doc);
                doc = NULL;
            }
        }
        json_tokener_free(tok);
        free(data);
        if (doc) {
            rc = ledger_merge_json(l, doc, now);
            json_object_put(doc);
            if (rc >= 0)
                return QUOTA_LOAD_OK;
            if (rc == -ENOMEM)
                return rc;
        }
    }
    /* Unreadable or invalid: keep it for inspection, start empty. */
    if (s->ops->set_aside)
        s->ops->set_aside(s->ctx, now, aside, asidelen);
    return QUOTA_LOAD_CORRUPT;
}

int quota_state_save(struct quota_store *s, const struct ledger *l, int64_t now)
{
    struct json_object *doc = ledger_to_json(l, now);
    if (!doc)
        return -ENOMEM;
    size_t len;
    const char *text = json_object_to_json_string_length(doc, JSON_C_TO_STRING_PLAIN, &len);
    int rc = text ? s->ops->save(s->ctx, text, len) : -ENOMEM;
    json_object_put(doc);
    return rc;
}
