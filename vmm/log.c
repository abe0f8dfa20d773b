#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_prog = "vsbd";
static enum log_level log_level = LOG_INFO;

void log_init(const char *prog, enum log_level level)
{
	log_prog = prog;
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

static void vlog(enum log_level lvl, const char *suffix, const char *fmt,
		 va_list ap)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	char line[1024];

	if (lvl > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	/* One write per line so lines from several threads never interleave. */
	fprintf(stderr, "%s: %s: %s%s\n", log_prog, names[lvl], line,
		suffix ? suffix : "");
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(lvl, NULL, fmt, ap);
	va_end(ap);
}

int log_errno(int err, const char *fmt, ...)
{
	char suffix[128];
	va_list ap;

	snprintf(suffix, sizeof(suffix), ": %s", strerror(err < 0 ? -err : err));
	va_start(ap, fmt);
	vlog(LOG_ERROR, suffix, fmt, ap);
	va_end(ap);
	return err;
}
