/* Error messages for callers: constructors take (err, errlen) like
 * vmconf_parse and put one line there saying what is wrong. */
#ifndef VSB_VMI_ERR_H
#define VSB_VMI_ERR_H

#include <stddef.h>

/* Formats into err (if non-NULL) and returns ret, a -errno. */
int vmi_err(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
