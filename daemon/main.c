/* Command line: subcommand dispatch, flag parsing, per-command help, "did
 * you mean" suggestions and the bash completion script. Nothing is started
 * here; app.c does the work and returns the exit code. */
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <unistd.h>

#include "app.h"

static const char usage[] =
    "usage:\n"
    "  aks-backup-companion [run] [--config FILE] [--kubeconfig FILE] [--context NAME]\n"
    "                       [--listen HOST:PORT] [--log-level debug|info|warn|error]\n"
    "                       [--log-format json|text]\n"
    "  aks-backup-companion check [-o|--output text|json] [--config FILE]\n"
    "                       [--kubeconfig FILE] [--context NAME] [--log-level LEVEL]\n"
    "  aks-backup-companion config validate [--config FILE]\n"
    "  aks-backup-companion completion bash\n"
    "  aks-backup-companion version\n"
    "\n"
    "Watches an AKS cluster beside the Azure Backup extension and reports which\n"
    "volumes the next backup will skip, whether the prerequisites hold, whether\n"
    "the extension runs, and how much of today's on-demand backup and restore\n"
    "quota is left. Exit codes of check: 0 all supported, 1 warnings, 2 a\n"
    "prerequisite fails, 3 API unreachable, 4 bad config or usage.\n"
    "Without --config, run, check and config validate read\n"
    "  " APP_DEFAULT_CONFIG "\n"
    "when it exists (where the chart mounts it), else the built-in defaults.\n"
    "`aks-backup-companion COMMAND --help` describes one command.\n";

static const char flags_common[] =
    "  --config FILE        configuration file (default: " APP_DEFAULT_CONFIG "\n"
    "                       when it exists, else the built-in defaults)\n"
    "  --kubeconfig FILE    kubeconfig (default: in-cluster, then $KUBECONFIG,\n"
    "                       then ~/.kube/config)\n"
    "  --context NAME       kubeconfig context (default: its current-context)\n";

static const char help_run[] =
    "usage: aks-backup-companion [run] [flags]\n"
    "\n"
    "Runs the daemon: watches the cluster, serves /metrics, /livez, /readyz,\n"
    "/api/v1/report and /api/v1/quota on http.listen, and keeps the quota\n"
    "counts. SIGHUP reloads the configuration; SIGTERM stops within 5 s.\n"
    "\n"
    "flags:\n";
static const char help_run_flags[] =
    "  --listen HOST:PORT   overrides http.listen (default 0.0.0.0:8080)\n"
    "  --log-level LEVEL    debug, info, warn or error (default: log.level, info)\n"
    "  --log-format FORMAT  json or text (default: log.format, json)\n"
    "  -h, --help           this help\n";

static const char help_check[] =
    "usage: aks-backup-companion check [flags]\n"
    "\n"
    "Lists the cluster once, evaluates it, prints the report and exits:\n"
    "0 all supported, 1 warnings only, 2 a prerequisite fails or the extension\n"
    "is not running, 3 cannot reach or authenticate to the API, 4 bad config or\n"
    "usage. The text report's first line names the configuration file used.\n"
    "\n"
    "flags:\n"
    "  -o, --output FORMAT  text (default) or json (the document of\n"
    "                       GET /api/v1/report, with apiVersion, kind and status)\n";
static const char help_check_flags[] =
    "  --log-level LEVEL    debug, info, warn or error (default: warn, so only\n"
    "                       warnings and errors reach stderr)\n"
    "  --log-format FORMAT  json or text\n"
    "  -h, --help           this help\n";

static const char help_validate[] =
    "usage: aks-backup-companion config validate [--config FILE]\n"
    "\n"
    "Loads the configuration (defaults, file, ABC_* environment) and the regions\n"
    "file, prints a summary and exits 0, or prints FILE:LINE:COL and what was\n"
    "expected and exits 4.\n"
    "\n"
    "flags:\n"
    "  --config FILE        configuration file (default: " APP_DEFAULT_CONFIG "\n"
    "                       when it exists, else the built-in defaults)\n"
    "  -h, --help           this help\n";

static const char help_completion[] =
    "usage: aks-backup-companion completion bash\n"
    "\n"
    "Prints a bash completion script. Load it in the current shell with\n"
    "  source <(aks-backup-companion completion bash)\n"
    "or install it as /etc/bash_completion.d/aks-backup-companion.\n";

static const char completion_bash[] =
    "# bash completion for aks-backup-companion\n"
    "# source <(aks-backup-companion completion bash)\n"
    "_aks_backup_companion()\n"
    "{\n"
    "    local cur prev cmd i words\n"
    "    cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "    cmd=run\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        case ${COMP_WORDS[i]} in\n"
    "        run|check|config|version|completion|help) cmd=${COMP_WORDS[i]}; break ;;\n"
    "        esac\n"
    "    done\n"
    "    case $prev in\n"
    "    --config|--kubeconfig) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    "    --output|-o) COMPREPLY=($(compgen -W 'text json' -- \"$cur\")); return ;;\n"
    "    --log-level) COMPREPLY=($(compgen -W 'debug info warn error' -- \"$cur\")); return ;;\n"
    "    --log-format) COMPREPLY=($(compgen -W 'json text' -- \"$cur\")); return ;;\n"
    "    --context)\n"
    "        COMPREPLY=($(compgen -W \"$(kubectl config get-contexts -o name 2>/dev/null)\" -- \"$cur\"))\n"
    "        return ;;\n"
    "    --listen) return ;;\n"
    "    esac\n"
    "    case $cmd in\n"
    "    run)\n"
    "        if [[ $COMP_CWORD -eq 1 && $cur != -* ]]; then\n"
    "            words='run check config completion version help'\n"
    "        else\n"
    "            words='--config --kubeconfig --context --listen --log-level --log-format --help'\n"
    "        fi ;;\n"
    "    check) words='--output -o --config --kubeconfig --context --log-level --log-format --help' ;;\n"
    "    config)\n"
    "        if [[ $prev == config ]]; then words=validate; else words='--config --help'; fi ;;\n"
    "    completion) words=bash ;;\n"
    "    *) words= ;;\n"
    "    esac\n"
    "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
    "}\n"
    "complete -o default -F _aks_backup_companion aks-backup-companion\n";

enum cmd { CMD_RUN, CMD_CHECK, CMD_VALIDATE, CMD_VERSION, CMD_COMPLETION };

/* Flags each subcommand accepts. */
#define F_CONFIG 0x01
#define F_KUBE 0x02
#define F_LISTEN 0x04
#define F_LOG 0x08
#define F_OUTPUT 0x10

static const struct flag {
    const char *name;
    unsigned flag;
} flags[] = {
    {"config", F_CONFIG},     {"kubeconfig", F_KUBE}, {"context", F_KUBE},
    {"listen", F_LISTEN},     {"log-level", F_LOG},   {"log-format", F_LOG},
    {"output", F_OUTPUT},
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

static const char *const commands[] = {"run", "check", "config", "completion", "version", "help"};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Optimal string alignment distance (edits, adjacent swaps count as one),
 * for words up to 63 bytes; larger ones count as far apart. */
static size_t edit_distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

/* The closest candidate within a third of the word's length (at least 1,
 * at most 3 edits), or one the word is a prefix of; NULL when none is close. */
static const char *closest(const char *word, size_t len, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = len / 3 < 1 ? 1 : len / 3 > 3 ? 3 : len / 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, len, cands[i]);
        if (d <= best_d) {
            best = cands[i];
            best_d = d;
        }
    }
    if (!best && len >= 2)
        for (size_t i = 0; i < n; i++)
            if (strncmp(word, cands[i], len) == 0)
                return cands[i];
    return best;
}

static int bad_usage(const char *what, const char *arg, const char *suggest, const char *prefix)
{
    fprintf(stderr, "aks-backup-companion: %s%s%s", what, arg ? ": " : "", arg ? arg : "");
    if (suggest)
        fprintf(stderr, " (did you mean %s%s?)", prefix ? prefix : "", suggest);
    fprintf(stderr, "\n\n%s", usage);
    return APP_EXIT_USAGE;
}

static void print_help(enum cmd cmd)
{
    switch (cmd) {
    case CMD_RUN:
        fputs(help_run, stdout);
        fputs(flags_common, stdout);
        fputs(help_run_flags, stdout);
        break;
    case CMD_CHECK:
        fputs(help_check, stdout);
        fputs(flags_common, stdout);
        fputs(help_check_flags, stdout);
        break;
    case CMD_VALIDATE:
        fputs(help_validate, stdout);
        break;
    case CMD_COMPLETION:
        fputs(help_completion, stdout);
        break;
    case CMD_VERSION:
        fputs("usage: aks-backup-companion version\n\nPrints the version and git revision.\n",
              stdout);
        break;
    }
}

int main(int argc, char **argv)
{
#ifdef __GLIBC__
    /* A fixed trim threshold (which also fixes the mmap threshold at its
     * 128 KiB default): without it glibc raises both each time a large
     * block is freed (list staging tables, sort arrays), and after a sync
     * ~0.7 MiB of freed heap per 60k objects stayed in RSS. */
    mallopt(M_TRIM_THRESHOLD, 256 * 1024);
#endif
    struct app_opts o = {0};
    enum cmd cmd = CMD_RUN;
    bool explicit_run = false;
    int i = 1;

    if (i < argc && strcmp(argv[i], "run") == 0) {
        explicit_run = true;
        i++;
    } else if (i < argc && strcmp(argv[i], "check") == 0) {
        cmd = CMD_CHECK;
        i++;
    } else if (i < argc && strcmp(argv[i], "config") == 0) {
        if (i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 || strcmp(argv[i + 1], "-h") == 0)) {
            print_help(CMD_VALIDATE);
            return 0;
        }
        if (i + 1 >= argc || strcmp(argv[i + 1], "validate") != 0) {
            const char *w = i + 1 < argc ? argv[i + 1] : NULL;
            static const char *const sub[] = {"validate"};
            return bad_usage("unknown config subcommand (expected: config validate)", w,
                             w ? closest(w, strlen(w), sub, 1) : NULL, "config ");
        }
        cmd = CMD_VALIDATE;
        i += 2;
    } else if (i < argc && strcmp(argv[i], "completion") == 0) {
        if (i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 || strcmp(argv[i + 1], "-h") == 0)) {
            print_help(CMD_COMPLETION);
            return 0;
        }
        if (i + 1 >= argc || strcmp(argv[i + 1], "bash") != 0 || i + 2 < argc)
            return bad_usage("completion supports one shell (expected: completion bash)",
                             i + 1 < argc ? argv[i + 1] : NULL, NULL, NULL);
        fputs(completion_bash, stdout);
        return 0;
    } else if (i < argc && (strcmp(argv[i], "version") == 0 || strcmp(argv[i], "--version") == 0)) {
        cmd = CMD_VERSION;
        i++;
    } else if (i < argc && strcmp(argv[i], "help") == 0) {
        /* `help COMMAND` is `COMMAND --help`. */
        if (i + 1 < argc && strcmp(argv[i + 1], "check") == 0)
            print_help(CMD_CHECK);
        else if (i + 1 < argc && strcmp(argv[i + 1], "run") == 0)
            print_help(CMD_RUN);
        else if (i + 1 < argc && strcmp(argv[i + 1], "config") == 0)
            print_help(CMD_VALIDATE);
        else if (i + 1 < argc && strcmp(argv[i + 1], "completion") == 0)
            print_help(CMD_COMPLETION);
        else
            fputs(usage, stdout);
        return 0;
    } else if (i < argc && (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    } else if (i < argc && argv[i][0] != '-') {
        return bad_usage("unknown command", argv[i],
                         closest(argv[i], strlen(argv[i]), commands, NCOMMANDS), NULL);
    }

    unsigned allowed = cmd == CMD_RUN       ? F_CONFIG | F_KUBE | F_LISTEN | F_LOG
                       : cmd == CMD_CHECK    ? F_CONFIG | F_KUBE | F_OUTPUT | F_LOG
                       : cmd == CMD_VALIDATE ? F_CONFIG
                                             : 0;
    const char *output = NULL;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            /* Bare `--help` (no command) is the overview; `run --help` the daemon's. */
            if (cmd == CMD_RUN && !explicit_run)
                fputs(usage, stdout);
            else
                print_help(cmd);
            return 0;
        }
        const char *name;
        size_t nlen;
        const char *eq;
        if (strncmp(a, "-o", 2) == 0 && a[2] != '-') {
            /* -o json, -o=json, -ojson */
            name = "output";
            nlen = 6;
            eq = a[2] == '=' ? a + 2 : a[2] ? a + 1 : NULL;
        } else if (strncmp(a, "--", 2) == 0) {
            name = a + 2;
            eq = strchr(name, '=');
            nlen = eq ? (size_t)(eq - name) : strlen(name);
        } else {
            return bad_usage("unexpected argument", a, NULL, NULL);
        }
        const struct flag *f = NULL;
        for (size_t k = 0; k < NFLAGS; k++)
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, name, nlen) == 0)
                f = &flags[k];
        if (!f) {
            const char *cands[NFLAGS];
            size_t nc = 0;
            for (size_t k = 0; k < NFLAGS; k++)
                if (allowed & flags[k].flag)
                    cands[nc++] = flags[k].name;
            return bad_usage("unknown flag", a, closest(name, nlen, cands, nc), "--");
        }
        if (!(allowed & f->flag))
            return bad_usage("flag not accepted by this command", a, NULL, NULL);
        const char *val;
        if (eq) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return bad_usage("flag needs a value", a, NULL, NULL);
            val = argv[++i];
        }
        if (strcmp(f->name, "config") == 0)
            o.config_path = val;
        else if (strcmp(f->name, "kubeconfig") == 0)
            o.kubeconfig = val;
        else if (strcmp(f->name, "context") == 0)
            o.context = val;
        else if (strcmp(f->name, "listen") == 0)
            o.listen = val;
        else if (strcmp(f->name, "log-level") == 0)
            o.log_level = val;
        else if (strcmp(f->name, "log-format") == 0)
            o.log_format = val;
        else if (strcmp(f->name, "output") == 0)
            output = val;
    }
    if (output) {
        static const char *const formats[] = {"text", "json"};
        if (strcmp(output, "json") == 0)
            o.output_json = 1;
        else if (strcmp(output, "text") != 0)
            return bad_usage("--output must be text or json", output,
                             closest(output, strlen(output), formats, 2), NULL);
    }
    /* The deployed configuration when no --config is given. */
    if (!o.config_path && cmd != CMD_VERSION && access(APP_DEFAULT_CONFIG, F_OK) == 0)
        o.config_path = APP_DEFAULT_CONFIG;

    switch (cmd) {
    case CMD_RUN:
        return app_run(&o);
    case CMD_CHECK:
        return app_check(&o);
    case CMD_VALIDATE:
        return app_config_validate(&o);
    case CMD_VERSION:
        return app_version();
    case CMD_COMPLETION:
        break;
    }
    return APP_EXIT_USAGE;
}
