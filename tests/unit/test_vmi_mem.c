/* Unit tests of the guest-physical access layer (vmi/vmi_mem.c) and the
 * RAM file backend (vmi/mem_file.c, vmi/layout.c): QEMU's PC layouts and
 * vsbd's, reads crossing regions, holes, bad region lists. Guest RAM is a
 * sparse memfd, so a 5 GiB "guest" costs a few pages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem_file.h"
#include "vmi_mem.h"

#define GIB (1ull << 30)
#define MIB (1ull << 20)

static int ram_fd(uint64_t size)
{
	int fd = memfd_create("vmi-test", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

static void put64(int fd, uint64_t off, uint64_t v)
{
	assert_int_equal(pwrite(fd, &v, 8, off), 8);
}

static void test_pc_lowmem_rules(void **state)
{
	struct vmi_region r[2];

	(void)state;
	/* i440fx: split at 3 GiB once RAM reaches 3.5 GiB. */
	assert_int_equal(vmi_layout_pc(VMI_PC_I440FX, 1 * GIB, r), 1);
	assert_int_equal(r[0].len, 1 * GIB);
	assert_int_equal(vmi_layout_pc(VMI_PC_I440FX, 0xe0000000 - 4096, r),
			 1);
	assert_int_equal(r[0].len, 0xe0000000 - 4096);
	assert_int_equal(vmi_layout_pc(VMI_PC_I440FX, 0xe0000000, r), 2);
	assert_int_equal(r[0].len, 0xc0000000);
	assert_int_equal(r[1].gpa, 4 * GIB);
	assert_int_equal(r[1].off, 0xc0000000);
	assert_int_equal(r[1].len, 0x20000000);
	/* q35: split at 2 GiB once RAM reaches 2.75 GiB. */
	assert_int_equal(vmi_layout_pc(VMI_PC_Q35, 0xb0000000 - 4096, r), 1);
	assert_int_equal(vmi_layout_pc(VMI_PC_Q35, 0xb0000000, r), 2);
	assert_int_equal(r[0].len, 0x80000000);
	assert_int_equal(r[1].off, 0x80000000);
	assert_int_equal(r[1].len, 0x30000000);
	/* vsbd: 3 GiB low, rest at 4 GiB. */
	assert_int_equal(vmi_layout_vsbd(512 * MIB, r), 1);
	assert_int_equal(vmi_layout_vsbd(4 * GIB, r), 2);
	assert_int_equal(r[0].len, 3 * GIB);
	assert_int_equal(r[1].gpa, 4 * GIB);
	assert_int_equal(r[1].len, 1 * GIB);
	assert_int_equal(vmi_layout_vsbd(0, r), -EINVAL);
}

/* A q35 guest of 3 GiB: [0, 2G) at file 0, [4G, 5G) at file 2G. */
static void test_q35_file_reads(void **state)
{
	struct vmi_region r[2];
	struct vmi_mem *m;
	struct vmi_regs regs;
	struct vmi_range rg;
	char err[160] = "";
	uint8_t buf[16];
	uint64_t v;
	int n = vmi_layout_pc(VMI_PC_Q35, 3 * GIB, r);
	int fd = ram_fd(3 * GIB);

	(void)state;
	assert_int_equal(n, 2);
	put64(fd, 0x80000000 - 8, 0x1111111111111111ull); /* last low */
	put64(fd, 0x80000000, 0x2222222222222222ull);     /* first high */
	put64(fd, 3 * GIB - 8, 0x3333333333333333ull);    /* last byte */
	assert_int_equal(vmi_mem_file_open_fd(fd, r, n, &m, err, sizeof(err)),
			 0);
	close(fd); /* the mapping stays */

	assert_int_equal(vmi_read_u64_pa(m, 0x80000000 - 8, &v), 0);
	assert_true(v == 0x1111111111111111ull);
	/* Just below lowmem: 4 bytes, then the hole. */
	assert_int_equal(vmi_read_pa(m, 0x80000000 - 4, buf, 8), 4);
	assert_int_equal(vmi_read_u64_pa(m, 0x80000000 - 4, &v), -EFAULT);
	/* lowmem itself and just below 4 GiB: the PCI hole. */
	assert_int_equal(vmi_read_pa(m, 0x80000000, buf, 8), -EFAULT);
	assert_int_equal(vmi_read_pa(m, 4 * GIB - 1, buf, 1), -EFAULT);
	/* 4 GiB: file offset lowmem. */
	assert_int_equal(vmi_read_u64_pa(m, 4 * GIB, &v), 0);
	assert_true(v == 0x2222222222222222ull);
	assert_int_equal(vmi_read_u64_pa(m, 5 * GIB - 8, &v), 0);
	assert_true(v == 0x3333333333333333ull);
	/* Past the end, and at the very top of the address space. */
	assert_int_equal(vmi_read_pa(m, 5 * GIB - 4, buf, 8), 4);
	assert_int_equal(vmi_read_pa(m, 5 * GIB, buf, 1), -EFAULT);
	assert_int_equal(vmi_read_pa(m, UINT64_MAX, buf, 16), -EFAULT);
	assert_int_equal(vmi_read_pa(m, 0, buf, 0), 0);

	assert_true(vmi_mem_max_pa(m) == 5 * GIB);
	assert_int_equal(vmi_mem_next_range(m, 0x80000000, &rg), 0);
	assert_true(rg.pa == 4 * GIB && rg.len == 1 * GIB);
	assert_int_equal(vmi_mem_next_range(m, 5 * GIB, &rg), -ENOENT);
	assert_int_equal(vmi_write_pa(m, 0, buf, 1), -EROFS);
	assert_int_equal(vmi_mem_get_regs(m, 0, &regs), -ENOSYS);
	assert_int_equal(vmi_mem_nr_vcpus(m), 0);
	assert_string_equal(vmi_mem_name(m), "file");
	vmi_mem_close(m);
}

/* Regions out of file order, adjacent in guest space: a read crossing
 * them stitches both. */
static void test_adjacent_regions(void **state)
{
	const struct vmi_region r[] = {
		{ .gpa = 0x1000, .off = 0, .len = 0x1000 },
		{ .gpa = 0x0, .off = 0x1000, .len = 0x1000 },
	};
	struct vmi_mem *m;
	uint8_t buf[8];
	int fd = ram_fd(0x2000);

	(void)state;
	assert_int_equal(pwrite(fd, "ABCD", 4, 0x1ffc), 4); /* end of gpa 0 */
	assert_int_equal(pwrite(fd, "EFGH", 4, 0), 4);      /* gpa 0x1000 */
	assert_int_equal(vmi_mem_file_open_fd(fd, r, 2, &m, NULL, 0), 0);
	close(fd);
	assert_int_equal(vmi_read_pa(m, 0xffc, buf, 8), 8);
	assert_memory_equal(buf, "ABCDEFGH", 8);
	vmi_mem_close(m);
}

static void expect_refused(int fd, const struct vmi_region *r, unsigned n,
			   int ret, const char *msg)
{
	struct vmi_mem *m = (void *)1;
	char err[160] = "";

	assert_int_equal(vmi_mem_file_open_fd(fd, r, n, &m, err, sizeof(err)),
			 ret);
	assert_null(m);
	if (!strstr(err, msg))
		fail_msg("error '%s' does not mention '%s'", err, msg);
}

static void test_bad_regions(void **state)
{
	int fd = ram_fd(0x10000);
	const struct vmi_region past[] = { { 0, 0x8000, 0x9000 } };
	const struct vmi_region huge[] = { { 0, UINT64_MAX, 2 } };
	const struct vmi_region overlap[] = { { 0x1000, 0, 0x2000 },
					      { 0x2000, 0x4000, 0x1000 } };
	const struct vmi_region wrap[] = { { UINT64_MAX - 10, 0, 0x100 } };
	const struct vmi_region empty[] = { { 0, 0, 0 } };

	(void)state;
	expect_refused(fd, past, 1, -EINVAL, "beyond the file's end");
	expect_refused(fd, huge, 1, -EINVAL, "beyond the file's end");
	expect_refused(fd, overlap, 2, -EINVAL, "overlap");
	expect_refused(fd, wrap, 1, -EINVAL, "wraps");
	expect_refused(fd, empty, 1, -EINVAL, "empty");
	expect_refused(fd, past, 0, -EINVAL, "0 RAM regions");
	expect_refused(-1, past, 1, -EBADF, "cannot stat");
	close(fd);
	{
		struct vmi_mem *m;
		char err[160] = "";

		assert_int_equal(vmi_mem_file_open("/nonexistent/ram", past, 1,
						   &m, err, sizeof(err)),
				 -ENOENT);
		assert_non_null(strstr(err, "/nonexistent/ram"));
	}
}

/* A backend breaking its contract cannot make vmi_read_pa overrun. */
static ssize_t liar_read(struct vmi_mem *m, uint64_t pa, void *buf,
			 size_t len)
{
	(void)m;
	(void)buf;
	return pa == 0 ? (ssize_t)len + 1 : 0;
}

static int liar_next(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	(void)m;
	(void)pa;
	r->pa = 0;
	r->len = 0; /* never moves on */
	return 0;
}

static void liar_close(struct vmi_mem *m)
{
	(void)m;
}

static void test_backend_contract(void **state)
{
	static const struct vmi_mem_ops ops = {
		.name = "liar", .read = liar_read, .next_range = liar_next,
		.close = liar_close,
	};
	struct vmi_mem m = { &ops };
	uint8_t buf[4];

	(void)state;
	assert_int_equal(vmi_read_pa(&m, 0, buf, 4), -EIO);
	assert_int_equal(vmi_read_pa(&m, 1, buf, 4), -EIO);
	assert_true(vmi_mem_max_pa(&m) == 0); /* terminates */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pc_lowmem_rules),
		cmocka_unit_test(test_q35_file_reads),
		cmocka_unit_test(test_adjacent_regions),
		cmocka_unit_test(test_bad_regions),
		cmocka_unit_test(test_backend_contract),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
