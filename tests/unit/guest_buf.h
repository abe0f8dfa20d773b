/* A zeroed buffer standing in for guest RAM in the boot and ACPI tests;
 * calloc keeps untouched pages free, so large "guests" cost little. */
#ifndef VSB_TEST_GUEST_BUF_H
#define VSB_TEST_GUEST_BUF_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "../../vmm/guest_mem.h"

struct guest {
	uint8_t *buf;
	struct guest_mem m;
};

static inline void guest_new(struct guest *g, uint64_t size)
{
	g->buf = calloc(1, size);
	assert_non_null(g->buf);
	gmem_wrap(&g->m, g->buf, size);
}

static inline bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

#endif
