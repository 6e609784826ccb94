/*
 * log: one line per event, written with a single write(2) so lines from
 * several worker threads never interleave.  A line says what happened, with
 * whom, why, and (for failures) what an operator can change.
 *
 * This is not a tracing facility: debug lines exist, but the default level
 * (info) is meant to be read by people.
 */
#ifndef PARLEY_CORE_LOG_H
#define PARLEY_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level {
	LOG_ERROR = 0,
	LOG_WARN = 1,
	LOG_INFO = 2,
	LOG_DEBUG = 3,
};

/* Configuration (call before threads start). */

/* Lines at or below `level` are written to `fd` (default: stderr, info). */
void log_setup(enum log_level level, int fd);

/* Parses "error", "warn", "info", "debug"; returns -1 on an unknown name. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

/* Names the calling thread in its lines ("main", "w0", "w1", ...). */
void log_thread_name(const char *name);

/* Writing */

bool log_enabled(enum log_level level);

/* Writes "<time> <level> <module>[<thread>]: <message>\n". */
void log_write(enum log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vwrite(enum log_level level, const char *module, const char *fmt, va_list ap);

#define log_error(mod, ...) log_write(LOG_ERROR, mod, __VA_ARGS__)
#define log_warn(mod, ...) log_write(LOG_WARN, mod, __VA_ARGS__)
#define log_info(mod, ...) log_write(LOG_INFO, mod, __VA_ARGS__)
#define log_debug(mod, ...)                               \
	do {                                              \
		if (log_enabled(LOG_DEBUG))               \
			log_write(LOG_DEBUG, mod, __VA_ARGS__); \
	} while (0)

/* Aborts the process after logging; for allocation failure and broken
 * invariants only (see STYLE.md: allocation failure aborts). */
_Noreturn void log_fatal(const char *module, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
