/* Routing-table semantics: sorted insertion, overlap refusal at every
 * boundary, lookups that straddle ranges, owners, dispatch defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "../../vmm/ioroute.h"

struct probe {
	uint64_t last_off;
	uint32_t last_len;
	bool last_write;
	int calls;
};

static void probe_io(void *opaque, uint64_t off, void *data, uint32_t len,
		     bool is_write)
{
	struct probe *p = opaque;
	p->last_off = off;
	p->last_len = len;
	p->last_write = is_write;
	p->calls++;
	if (!is_write)
		memset(data, 0x5a, len);
}

static int setup(void **state)
{
	struct io_router *r = calloc(1, sizeof(*r));
	io_router_init(r);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	io_router_destroy(*state);
	free(*state);
	return 0;
}

static int add(struct io_router *r, uint64_t base, uint64_t len, void *p)
{
	return io_router_add(r, IO_SPACE_PIO, base, len, IO_OWNER_VSBD,
			     probe_io, p, "t");
}

static void test_overlaps_refused(void **state)
{
	struct io_router *r = *state;
	struct probe p = { 0 };

	assert_int_equal(add(r, 0x3f8, 8, &p), 0);          /* 3f8..3ff */
	assert_int_equal(add(r, 0x3f8, 8, &p), -EEXIST);    /* same */
	assert_int_equal(add(r, 0x3f0, 9, &p), -EEXIST);    /* ends at 3f8 */
	assert_int_equal(add(r, 0x3ff, 1, &p), -EEXIST);    /* last byte */
	assert_int_equal(add(r, 0x3fa, 2, &p), -EEXIST);    /* inside */
	assert_int_equal(add(r, 0x3f0, 0x20, &p), -EEXIST); /* covers */
	assert_int_equal(add(r, 0x3f0, 8, &p), 0);          /* adjacent below */
	assert_int_equal(add(r, 0x400, 4, &p), 0);          /* adjacent above */
	assert_int_equal(r->space[IO_SPACE_PIO].count, 3);
}

static void test_bad_ranges(void **state)
{
	struct io_router *r = *state;
	struct probe p = { 0 };

	assert_int_equal(add(r, 0x10, 0, &p), -EINVAL);
	assert_int_equal(add(r, 0xfff0, 0x20, &p), -EINVAL); /* past 64K */
	assert_int_equal(io_router_add(r, IO_SPACE_MMIO, UINT64_MAX - 3, 8,
				       IO_OWNER_VSBD, probe_io, &p, "w"),
			 -EINVAL);
	assert_int_equal(io_router_add(r, IO_SPACE_MMIO, 0x1000, 8,
				       IO_OWNER_VSBD, NULL, &p, "w"),
			 -EINVAL);
	assert_int_equal(io_router_add(r, (enum io_space)7, 0x1000, 8,
				       IO_OWNER_VSBD, probe_io, &p, "w"),
			 -EINVAL);
	/* The very top of MMIO space is a valid range. */
	assert_int_equal(io_router_add(r, IO_SPACE_MMIO, UINT64_MAX - 7, 8,
				       IO_OWNER_VSBD, probe_io, &p, "top"),
			 0);
}

static void test_lookup_boundaries(void **state)
{
	struct io_router *r = *state;
	struct probe p = { 0 };
	struct io_range hit;

	assert_int_equal(add(r, 0x60, 1, &p), 0);
	assert_int_equal(add(r, 0x64, 1, &p), 0);
	assert_int_equal(add(r, 0xcf8, 8, &p), 0);

	assert_true(io_router_lookup(r, IO_SPACE_PIO, 0xcf8, 4, &hit));
	assert_int_equal(hit.base, 0xcf8);
	assert_true(io_router_lookup(r, IO_SPACE_PIO, 0xcfc, 4, &hit));
	assert_true(io_router_lookup(r, IO_SPACE_PIO, 0xcff, 1, &hit));
	assert_false(io_router_lookup(r, IO_SPACE_PIO, 0xcfe, 4, &hit));
	assert_false(io_router_lookup(r, IO_SPACE_PIO, 0xcf7, 1, &hit));
	assert_false(io_router_lookup(r, IO_SPACE_PIO, 0xd00, 1, &hit));
	assert_false(io_router_lookup(r, IO_SPACE_PIO, 0x61, 1, &hit));
	assert_false(io_router_lookup(r, IO_SPACE_PIO, 0x0, 1, &hit));
	assert_true(io_router_lookup(r, IO_SPACE_PIO, 0x64, 1, &hit));
	assert_false(io_router_lookup(r, IO_SPACE_PIO, 0x64, 2, &hit));
	/* Port and MMIO spaces are separate. */
	assert_false(io_router_lookup(r, IO_SPACE_MMIO, 0x64, 1, &hit));
}

static void test_many_ranges_sorted(void **state)
{
	struct io_router *r = *state;
	struct probe p = { 0 };
	struct io_range hit;

	/* Insert in a scrambled order; lookups must find each one. */
	for (unsigned i = 0; i < 500; i++) {
		uint64_t slot = (i * 7919u) % 500;
		assert_int_equal(io_router_add(r, IO_SPACE_MMIO,
					       0xd0000000 + slot * 0x1000,
					       0x800, IO_OWNER_VSBD, probe_io,
					       &p, "m"), 0);
	}
	const struct io_table *t = &r->space[IO_SPACE_MMIO];
	for (size_t i = 1; i < t->count; i++)
		assert_true(t->ranges[i - 1].base < t->ranges[i].base);
	for (unsigned s = 0; s < 500; s++) {
		uint64_t a = 0xd0000000 + s * 0x1000;
		assert_true(io_router_lookup(r, IO_SPACE_MMIO, a + 0x7fc, 4, &hit));
		assert_int_equal(hit.base, a);
		assert_false(io_router_lookup(r, IO_SPACE_MMIO, a + 0x800, 1, &hit));
	}
}

static void test_owner_and_remove(void **state)
{
	struct io_router *r = *state;
	struct probe p = { 0 };
	struct io_range hit;

	assert_int_equal(io_router_add(r, IO_SPACE_MMIO, 0xfebf0000, 0x1000,
				       IO_OWNER_OPERATOR, probe_io, &p, "blk"), 0);
	assert_true(io_router_lookup(r, IO_SPACE_MMIO, 0xfebf0010, 4, &hit));
	assert_int_equal(hit.owner, IO_OWNER_OPERATOR);
	assert_string_equal(hit.name, "blk");
	assert_int_equal(io_router_remove(r, IO_SPACE_MMIO, 0xfebf0010), -ENOENT);
	assert_int_equal(io_router_remove(r, IO_SPACE_MMIO, 0xfebf0000), 0);
	assert_false(io_router_lookup(r, IO_SPACE_MMIO, 0xfebf0010, 4, &hit));
	assert_int_equal(io_router_remove(r, IO_SPACE_MMIO, 0xfebf0000), -ENOENT);
}

static void test_dispatch(void **state)
{
	struct io_router *r = *state;
	struct probe p = { 0 };
	uint8_t buf[4];

	assert_int_equal(add(r, 0x3f8, 8, &p), 0);
	assert_true(io_router_dispatch(r, IO_SPACE_PIO, 0x3fd, buf, 1, false));
	assert_int_equal(p.last_off, 5);
	assert_int_equal(buf[0], 0x5a);
	buf[0] = 'x';
	assert_true(io_router_dispatch(r, IO_SPACE_PIO, 0x3f8, buf, 1, true));
	assert_true(p.last_write);
	assert_int_equal(p.calls, 2);
	/* Unrouted: reads float high, writes vanish, handler untouched. */
	memset(buf, 0, sizeof(buf));
	assert_false(io_router_dispatch(r, IO_SPACE_PIO, 0x2f8, buf, 4, false));
	assert_int_equal(buf[0] & buf[1] & buf[2] & buf[3], 0xff);
	assert_false(io_router_dispatch(r, IO_SPACE_PIO, 0x2f8, buf, 1, true));
	assert_int_equal(p.calls, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_overlaps_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lookup_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_ranges_sorted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dispatch, setup, teardown),
	};
	return cmocka_run_group_tests_name("ioroute", tests, NULL, NULL);
}
