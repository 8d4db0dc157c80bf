/* The standard process_* families read from /proc/self at scrape time, with
 * the names and help texts of client_golang's process collector so
 * dashboards built for Go services work unchanged. */
#include "metrics/metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

struct proc_stat {
    double utime_ticks, stime_ticks, start_ticks;
    double vsize, rss_pages;
};

static int read_file(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    size_t len = fread(out, 1, n - 1, f);
    fclose(f);
    out[len] = '\0';
    return 0;
}

/* /proc/self/stat: the command name may hold spaces and parentheses, so
 * fields are counted from the last ')'. */
static int read_stat(struct proc_stat *ps)
{
    char text[1024];
    if (read_file("/proc/self/stat", text, sizeof(text)))
        return -EIO;
    char *p = strrchr(text, ')');
    if (!p)
        return -EIO;
    p++;
    /* After ')' comes field 3 (state). We need 14, 15, 22, 23, 24. */
    int field = 2;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        field++;
        double v = strtod(p, NULL);
        switch (field) {
        case 14: ps->utime_ticks = v; break;
        case 15: ps->stime_ticks = v; break;
        case 22: ps->start_ticks = v; break;
        case 23: ps->vsize = v; break;
        case 24: ps->rss_pages = v; return 0;
        default: break;
        }
        while (*p && *p != ' ')
            p++;
    }
    return -EIO;
}

static double boot_time(void)
{
    char text[8192];
    if (read_file("/proc/stat", text, sizeof(text)))
        return 0;
    char *p = strstr(text, "\nbtime ");
    return p ? strtod(p + 7, NULL) : 0;
}

static double count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static void gauge(struct metrics_writer *w, const char *name, const char *help, double v)
{
    metrics_write_family(w, name, METRIC_GAUGE, help);
    metrics_write_sample(w, name, 0, NULL, NULL, v);
}

static void collect_process(struct metrics_writer *w, void *data)
{
    (void)data;
    struct proc_stat ps = {0};
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (ticks <= 0)
        ticks = 100;
    if (read_stat(&ps) == 0) {
        metrics_write_family(w, "process_cpu_seconds_total", METRIC_COUNTER,
                             "Total user and system CPU time spent in seconds.");
        metrics_write_sample(w, "process_cpu_seconds_total", 0, NULL, NULL,
                             (ps.utime_ticks + ps.stime_ticks) / (double)ticks);
    }
    double fds = count_fds();
    if (fds >= 0)
        gauge(w, "process_open_fds", "Number of open file descriptors.", fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        gauge(w, "process_max_fds", "Maximum number of open file descriptors.",
              rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
    if (ps.vsize > 0 || ps.rss_pages > 0) {
        gauge(w, "process_virtual_memory_bytes", "Virtual memory size in bytes.", ps.vsize);
        gauge(w, "process_resident_memory_bytes", "Resident memory size in bytes.",
              ps.rss_pages * (double)page);
        double bt = boot_time();
        if (bt > 0)
            gauge(w, "process_start_time_seconds",
                  "Start time of the process since unix epoch in seconds.",
                  bt + ps.start_ticks / (double)ticks);
    }
}

int metrics_add_process_collector(struct metrics *m)
{
    return metrics_add_collector(m, METRIC_SCOPE_PROCESS, collect_process, NULL);
}
