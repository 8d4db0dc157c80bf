/* Command line: subcommand dispatch and flag parsing. Nothing is
 * started here; app.c does the work and returns the exit code. */
#include <stdio.h>
#include <string.h>

#include "app.h"

static const char usage[] =
    "usage:\n"
    "  aks-backup-companion [run] [--config FILE] [--kubeconfig FILE] [--context NAME]\n"
    "                       [--listen HOST:PORT] [--log-level debug|info|warn|error]\n"
    "                       [--log-format json|text]\n"
    "  aks-backup-companion check [--output text|json] [--config FILE]\n"
    "                       [--kubeconfig FILE] [--context NAME]\n"
    "  aks-backup-companion config validate [--config FILE]\n"
    "  aks-backup-companion version\n"
    "\n"
    "Watches an AKS cluster beside the Azure Backup extension and reports which\n"
    "volumes the next backup will skip, whether the prerequisites hold, whether\n"
    "the extension runs, and how much of today's on-demand backup and restore\n"
    "quota is left. Exit codes of check: 0 all supported, 1 warnings, 2 a\n"
    "prerequisite fails, 3 API unreachable, 4 bad config or usage.\n";

enum cmd { CMD_RUN, CMD_CHECK, CMD_VALIDATE, CMD_VERSION };

/* Flags each subcommand accepts. */
#define F_CONFIG 0x01
#define F_KUBE 0x02
#define F_LISTEN 0x04
#define F_LOG 0x08
#define F_OUTPUT 0x10

static int bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "aks-backup-companion: %s%s%s\n\n%s", what, arg ? ": " : "",
            arg ? arg : "", usage);
    return APP_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    struct app_opts o = {0};
    enum cmd cmd = CMD_RUN;
    int i = 1;

    if (i < argc && strcmp(argv[i], "run") == 0) {
        i++;
    } else if (i < argc && strcmp(argv[i], "check") == 0) {
        cmd = CMD_CHECK;
        i++;
    } else if (i < argc && strcmp(argv[i], "config") == 0) {
        if (i + 1 >= argc || strcmp(argv[i + 1], "validate") != 0)
            return bad_usage("unknown config subcommand (expected: config validate)",
                             i + 1 < argc ? argv[i + 1] : NULL);
        cmd = CMD_VALIDATE;
        i += 2;
    } else if (i < argc && (strcmp(argv[i], "version") == 0 || strcmp(argv[i], "--version") == 0)) {
        cmd = CMD_VERSION;
        i++;
    } else if (i < argc && (strcmp(argv[i], "help") == 0 || strcmp(argv[i], "--help") == 0 ||
                            strcmp(argv[i], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    } else if (i < argc && argv[i][0] != '-') {
        return bad_usage("unknown command", argv[i]);
    }

    unsigned allowed = cmd == CMD_RUN       ? F_CONFIG | F_KUBE | F_LISTEN | F_LOG
                       : cmd == CMD_CHECK    ? F_CONFIG | F_KUBE | F_OUTPUT | F_LOG
                       : cmd == CMD_VALIDATE ? F_CONFIG
                                             : 0;
    const char *output = NULL;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0)
            return bad_usage("unexpected argument", a);
        static const struct {
            const char *name;
            unsigned flag;
        } flags[] = {
            {"config", F_CONFIG},     {"kubeconfig", F_KUBE}, {"context", F_KUBE},
            {"listen", F_LISTEN},     {"log-level", F_LOG},   {"log-format", F_LOG},
            {"output", F_OUTPUT},
        };
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        const char *val = NULL;
        unsigned which = 0;
        const char *fname = NULL;
        for (size_t k = 0; k < sizeof(flags) / sizeof(flags[0]); k++)
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, a + 2, nlen) == 0) {
                which = flags[k].flag;
                fname = flags[k].name;
            }
        if (!fname)
            return bad_usage("unknown flag", a);
        if (!(allowed & which))
            return bad_usage("flag not accepted by this command", a);
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return bad_usage("flag needs a value", a);
            val = argv[++i];
        }
        if (strcmp(fname, "config") == 0)
            o.config_path = val;
        else if (strcmp(fname, "kubeconfig") == 0)
            o.kubeconfig = val;
        else if (strcmp(fname, "context") == 0)
            o.context = val;
        else if (strcmp(fname, "listen") == 0)
            o.listen = val;
        else if (strcmp(fname, "log-level") == 0)
            o.log_level = val;
        else if (strcmp(fname, "log-format") == 0)
            o.log_format = val;
        else if (strcmp(fname, "output") == 0)
            output = val;
    }
    if (output) {
        if (strcmp(output, "json") == 0)
            o.output_json = 1;
        else if (strcmp(output, "text") != 0)
            return bad_usage("--output must be text or json", output);
    }

    switch (cmd) {
    case CMD_RUN:
        return app_run(&o);
    case CMD_CHECK:
        return app_check(&o);
    case CMD_VALIDATE:
        return app_config_validate(&o);
    case CMD_VERSION:
        return app_version();
    }
    return APP_EXIT_USAGE;
}
