/* Structured logging to stderr: one JSON object per line (ts, level, msg,
 * then key/values) or a readable text line. Modules do not print; the
 * caller that decides what happens next logs once (STYLE.md "Errors"). */
#ifndef ABC_UTIL_LOG_H
#define ABC_UTIL_LOG_H

#include <stdarg.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT };

/* Process-wide sink settings (the one piece of global state: stderr is). */
void log_setup(enum log_level min, enum log_format fmt);
int log_level_parse(const char *s, enum log_level *out);   /* 0 or -EINVAL */
int log_format_parse(const char *s, enum log_format *out); /* 0 or -EINVAL */
enum log_level log_min_level(void);
/* Error-level lines written so far (tests and the soak read it). */
unsigned long log_error_count(void);

/* log_kv(level, msg, key1, val1, key2, val2, ..., NULL): values are strings
 * (NULL values print as null/-). Keys/values are escaped for JSON. */
void log_kv(enum log_level lvl, const char *msg, ...)
    __attribute__((sentinel));
void log_kvv(enum log_level lvl, const char *msg, va_list ap);

/* printf-style message, no extra fields. */
void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
