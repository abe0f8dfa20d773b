/* One-line logging to stderr, prefixed with the program name. Never log guest
 * data or secrets here: logs may be read by people who must not see them. */
#ifndef VSB_LOG_H
#define VSB_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(const char *prog, enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Logs "msg: strerror(-err)" as an error and returns err (a -errno). */
int log_errno(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_get_level() >= LOG_DEBUG)        \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)
/* Logs only the first time this call site is reached. */
#define log_warn_once(...)                          \
	do {                                        \
		static _Atomic bool once_;          \
		if (!once_) {                       \
			once_ = true;               \
			log_msg(LOG_WARN, __VA_ARGS__); \
		}                                   \
	} while (0)

#endif
