/* Unit tests for the guest e820 map (boot/e820.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../boot/boot.h"
#include "../../boot/boot_priv.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* e820_build only looks at the sizes, so no backing memory is needed. */
static struct guest_mem mem_of(uint64_t size)
{
	struct guest_mem m;

	gmem_wrap(&m, NULL, size);
	return m;
}

static void expect(const struct e820_entry *e, uint64_t addr, uint64_t size,
		   uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

static void test_512m(void **state)
{
	struct guest_mem m = mem_of(512 * MiB);
	struct e820_map map;

	(void)state;
	e820_build(&m, &map);
	assert_int_equal(map.n, 4);
	expect(&map.e[0], 0, 0x9FC00, E820_RAM);
	expect(&map.e[1], 0x9FC00, 0x400, E820_RESERVED);
	expect(&map.e[2], 0xF0000, 0x10000, E820_RESERVED);
	expect(&map.e[3], 0x100000, 512 * MiB - 0x100000, E820_RAM);
}

static void test_above_4g(void **state)
{
	struct guest_mem m = mem_of(6 * GiB);
	struct e820_map map;

	(void)state;
	e820_build(&m, &map);
	assert_int_equal(map.n, 5);
	expect(&map.e[3], 0x100000, GMEM_LOW_MAX - 0x100000, E820_RAM);
	expect(&map.e[4], 4 * GiB, 6 * GiB - GMEM_LOW_MAX, E820_RAM);
}

static void test_exactly_low_max(void **state)
{
	struct guest_mem m = mem_of(GMEM_LOW_MAX);
	struct e820_map map;

	(void)state;
	e820_build(&m, &map);
	assert_int_equal(map.n, 4); /* no empty high entry */
}

static void test_tiny(void **state)
{
	struct guest_mem m = mem_of(256 * 1024);
	struct e820_map map;

	(void)state;
	e820_build(&m, &map);
	assert_int_equal(map.n, 3); /* clipped low RAM + the two holes */
	expect(&map.e[0], 0, 256 * 1024, E820_RAM);
	assert_int_equal(map.e[1].type, E820_RESERVED);
	assert_int_equal(map.e[2].type, E820_RESERVED);

	m = mem_of(0);
	e820_build(&m, &map);
	assert_int_equal(map.n, 2);
}

static void test_add(void **state)
{
	struct guest_mem m = mem_of(512 * MiB);
	struct e820_map map;

	(void)state;
	e820_build(&m, &map);
	assert_int_equal(e820_add(&map, 0xFD000000, 16 * MiB, E820_RESERVED),
			 0);
	expect(&map.e[4], 0xFD000000, 16 * MiB, E820_RESERVED);
	assert_int_equal(e820_add(&map, 0x1000, 0, E820_RAM), -EINVAL);
	assert_int_equal(e820_add(&map, UINT64_MAX - 10, 100, E820_RAM),
			 -EINVAL);
	while (map.n < E820_MAX)
		assert_int_equal(e820_add(&map, 0, 1, E820_RESERVED), 0);
	assert_int_equal(e820_add(&map, 0, 1, E820_RESERVED), -ENOSPC);
	assert_int_equal(map.n, E820_MAX);
}

static void test_usable_and_place(void **state)
{
	size_t size = 64 * MiB;
	uint8_t *buf = calloc(1, size);
	struct guest_mem m;
	struct e820_map map;

	(void)state;
	assert_non_null(buf);
	gmem_wrap(&m, buf, size);
	e820_build(&m, &map);
	assert_true(e820_usable(&map, &m, 0x100000, size - 0x100000));
	assert_false(e820_usable(&map, &m, 0x100000, size)); /* past end */
	assert_false(e820_usable(&map, &m, 0x9F000, 0x2000)); /* EBDA */
	assert_false(e820_usable(&map, &m, 0xA0000, 0x1000)); /* hole */
	assert_false(e820_usable(&map, &m, 0x1000, 0)); /* empty */
	assert_false(e820_usable(&map, &m, UINT64_MAX - 5, 10)); /* wraps */

	/* Placed as high as possible, page aligned. */
	assert_int_equal(e820_place_high(&map, &m, 0x100000, size, 5000),
			 (size - 5000) & ~0xFFFULL);
	/* A reserved carve-out at the top pushes it below. */
	assert_int_equal(e820_add(&map, size - 8 * MiB, 8 * MiB,
				  E820_RESERVED), 0);
	assert_int_equal(e820_place_high(&map, &m, 0x100000, size, 4096),
			 size - 8 * MiB - 4096);
	/* Nothing fits above lo. */
	assert_int_equal(e820_place_high(&map, &m, size - 9 * MiB, size,
					 2 * MiB), 0);
	assert_int_equal(e820_place_high(&map, &m, 0x100000, size, 0), 0);
	assert_int_equal(e820_place_high(&map, &m, 0x100000, size, size), 0);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_512m),
		cmocka_unit_test(test_above_4g),
		cmocka_unit_test(test_exactly_low_max),
		cmocka_unit_test(test_tiny),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_usable_and_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
