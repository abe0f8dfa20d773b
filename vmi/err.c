/* See vmi_err.h. */
#include "vmi_err.h"

#include <stdarg.h>
#include <stdio.h>

int vmi_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return ret;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}
