/* Wires the subsystems, owns the loop, signals and reload (DESIGN.md).
 * main.c parses the command line into struct app_opts and calls one of the
 * entry points below; each returns the process exit code (0 ok, 1 warnings,
 * 2 failed, 3 no API, 4 bad config or usage). */
#ifndef ABC_APP_H
#define ABC_APP_H

#include <stdbool.h>

enum app_exit {
    APP_EXIT_OK = 0,
    APP_EXIT_WARN = 1,         /* check: warnings only */
    APP_EXIT_FAIL = 2,         /* check: a prerequisite fails / extension down */
    APP_EXIT_NO_API = 3,       /* cannot reach or authenticate to the API */
    APP_EXIT_USAGE = 4,        /* bad config or usage */
};

/* The config file `run`, `check` and `config validate` read when no --config
 * is given and it exists: where the chart and k8s/ mount the ConfigMap. */
#define APP_DEFAULT_CONFIG "/etc/aks-backup-companion/aks-backup-companion.yaml"

struct app_opts {
    const char *config_path;   /* --config, else APP_DEFAULT_CONFIG when it exists
                                  (run, check, config validate); NULL = defaults only */
    const char *kubeconfig;    /* --kubeconfig */
    const char *context;       /* --context */
    const char *listen;        /* --listen HOST:PORT */
    const char *log_level;     /* --log-level */
    const char *log_format;    /* --log-format */
    bool output_json;          /* check --output json */
};

int app_run(const struct app_opts *o);
int app_check(const struct app_opts *o);
int app_config_validate(const struct app_opts *o);
int app_version(void);

#endif
