/* The Debian kernel the vmi tests read (scripts/setup.sh unpacks it into
 * .cache/), and whole-file reads. Header-only: static inline helpers for
 * the tests that include it. */
#ifndef VSB_TEST_KERNEL_FILE_H
#define VSB_TEST_KERNEL_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file in a malloc'd buffer, or NULL (empty or unreadable). */
static inline unsigned char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n)) &&
	    fread(buf, 1, (size_t)n, f) == (size_t)n) {
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* $VSB_KERNEL, $VSB_CACHE/vmlinuz, .cache/vmlinuz from the repository top
 * (where tests/run runs us), or next to this source file. 0 when readable
 * and safe to quote in a shell command. */
static inline int find_kernel(char *path, size_t len)
{
	const char *k = getenv("VSB_KERNEL"), *c = getenv("VSB_CACHE");
	const char *slash = strrchr(__FILE__, '/');

	if (k)
		snprintf(path, len, "%s", k);
	else if (c)
		snprintf(path, len, "%s/vmlinuz", c);
	else if (access(".cache/vmlinuz", R_OK) == 0)
		snprintf(path, len, ".cache/vmlinuz");
	else
		snprintf(path, len, "%.*s/../../.cache/vmlinuz",
			 slash ? (int)(slash - __FILE__) : 1,
			 slash ? __FILE__ : ".");
	return access(path, R_OK) == 0 && !strchr(path, '\'') ? 0 : -1;
}

#endif
