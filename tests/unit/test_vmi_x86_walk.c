/* Unit tests of x86-64 translation (vmi/x86_walk.c): page tables built by
 * hand in a 16 MiB memfd read through the file backend; 4- and 5-level,
 * 2 MiB and 1 GiB pages, a miss at every level, tables outside RAM,
 * reserved bits, the cache and its invalidation, reads across pages. */
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
#include "x86_walk.h"

#define RAM (16u << 20)
#define P 0x1ull
#define RW 0x2ull
#define PS 0x80ull

struct ram {
	int fd;
	uint8_t *host; /* writable view of the same memfd */
	uint64_t next; /* next free page for tables */
	struct vmi_mem *m;
	struct vmi_x86_pt pt;
};

static void ram_new(struct ram *r, unsigned levels)
{
	const struct vmi_region reg = { 0, 0, RAM };

	r->fd = memfd_create("vmi-walk", MFD_CLOEXEC);
	assert_true(r->fd >= 0);
	assert_int_equal(ftruncate(r->fd, RAM), 0);
	r->host = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd,
		       0);
	assert_true(r->host != MAP_FAILED);
	r->next = 0x100000;
	assert_int_equal(vmi_mem_file_open_fd(r->fd, &reg, 1, &r->m, NULL, 0),
			 0);
	assert_int_equal(vmi_x86_pt_init(&r->pt, r->m, levels), 0);
}

static void ram_free(struct ram *r)
{
	vmi_mem_close(r->m);
	munmap(r->host, RAM);
	close(r->fd);
}

static uint64_t *pte(struct ram *r, uint64_t table, unsigned idx)
{
	return (uint64_t *)(r->host + table + idx * 8);
}

static uint64_t new_table(struct ram *r)
{
	uint64_t t = r->next;

	r->next += 4096;
	assert_true(r->next <= RAM);
	return t;
}

/* Maps va to pa with a leaf at `leaf` (1: 4K, 2: 2M, 3: 1G), creating
 * tables as needed; returns the leaf entry's address in RAM. */
static uint64_t *map(struct ram *r, uint64_t cr3, uint64_t va, uint64_t pa,
		     unsigned leaf)
{
	uint64_t table = cr3;

	for (unsigned level = r->pt.levels; level > leaf; level--) {
		uint64_t *e = pte(r, table, (va >> (12 + 9 * (level - 1))) & 511);

		if (!(*e & P))
			*e = new_table(r) | P | RW;
		table = *e & ~0xfffull;
	}
	uint64_t *e = pte(r, table, (va >> (12 + 9 * (leaf - 1))) & 511);
	*e = pa | P | RW | (leaf > 1 ? PS : 0);
	return e;
}

static void expect_fault(struct ram *r, uint64_t cr3, uint64_t va, int ret,
			 enum vmi_x86_fault_kind kind, unsigned level)
{
	struct vmi_x86_fault f;
	uint64_t pa = 0xdead;
	char msg[160];

	assert_int_equal(vmi_x86_translate(&r->pt, cr3, va, &pa, &f), ret);
	assert_int_equal(f.kind, kind);
	if (kind != VMI_XF_NONCANONICAL)
		assert_int_equal(f.level, level);
	assert_true(pa == 0xdead);
	vmi_x86_fault_str(&f, msg, sizeof(msg));
	assert_true(msg[0] != '\0');
}

static uint64_t xlate(struct ram *r, uint64_t cr3, uint64_t va)
{
	uint64_t pa = 0;

	assert_int_equal(vmi_x86_translate(&r->pt, cr3, va, &pa, NULL), 0);
	return pa;
}

static void test_4level(void **state)
{
	struct ram r;
	uint64_t cr3, va = 0xffffffff81000000ull;
	uint8_t buf[16];
	char msg[160];
	struct vmi_x86_fault f;
	uint64_t pa;

	(void)state;
	ram_new(&r, 4);
	cr3 = new_table(&r);
	/* Two virtually adjacent pages, physically apart. */
	map(&r, cr3, va, 0x500000, 1);
	map(&r, cr3, va + 0x1000, 0x300000, 1);
	memcpy(r.host + 0x500ff8, "01234567", 8);
	memcpy(r.host + 0x300000, "89abcdef", 8);

	assert_true(xlate(&r, cr3, va + 0x123) == 0x500123);
	/* PCID and flag bits in CR3 are not address. */
	assert_true(xlate(&r, cr3 | 0x18 | (1ull << 63), va + 0x1004) ==
		    0x300004);
	assert_int_equal(vmi_read_va(&r.pt, cr3, va + 0xff8, buf, 16), 16);
	assert_memory_equal(buf, "0123456789abcdef", 16);
	/* Into the unmapped third page: a short read, then the error. */
	assert_int_equal(vmi_read_va(&r.pt, cr3, va + 0x1ff8, buf, 16), 8);
	assert_int_equal(vmi_read_va(&r.pt, cr3, va + 0x2000, buf, 16),
			 -ENOENT);
	/* 0x00ff_8000_0000_0000 is canonical only with 57 bits. */
	expect_fault(&r, cr3, 0x00ff800000000000ull, -EINVAL,
		     VMI_XF_NONCANONICAL, 0);
	expect_fault(&r, cr3, 0x0000800000000000ull, -EINVAL,
		     VMI_XF_NONCANONICAL, 0);
	assert_int_equal(vmi_read_va(&r.pt, cr3, 0x00007ffffffffff8ull, buf,
				     16), -ENOENT);
	/* Misses at each level: PML4, PDPT, PD, PT. */
	expect_fault(&r, cr3, 0x1000, -ENOENT, VMI_XF_NOT_PRESENT, 4);
	expect_fault(&r, cr3, va ^ (1ull << 30), -ENOENT, VMI_XF_NOT_PRESENT,
		     3);
	expect_fault(&r, cr3, va ^ (1ull << 21), -ENOENT, VMI_XF_NOT_PRESENT,
		     2);
	expect_fault(&r, cr3, va + 0x5000, -ENOENT, VMI_XF_NOT_PRESENT, 1);
	assert_int_equal(vmi_x86_translate(&r.pt, cr3, va + 0x5000, &pa, &f),
			 -ENOENT);
	vmi_x86_fault_str(&f, msg, sizeof(msg));
	assert_non_null(strstr(msg, "not present at level 1 (PT at 0x"));
	ram_free(&r);
}

static void test_5level(void **state)
{
	struct ram r;
	uint64_t cr3, va = 0xff11000000001000ull; /* a 57-bit kernel VA */
	uint64_t low = 0x0000123456789000ull;

	(void)state;
	ram_new(&r, vmi_x86_levels(VMI_CR4_LA57));
	assert_int_equal(r.pt.levels, 5);
	cr3 = new_table(&r);
	map(&r, cr3, va, 0x600000, 1);
	map(&r, cr3, low, 0x601000, 1);
	assert_true(xlate(&r, cr3, va + 7) == 0x600007);
	assert_true(xlate(&r, cr3, low + 9) == 0x601009);
	assert_true(vmi_x86_canonical(&r.pt, 0x00ff800000000000ull));
	expect_fault(&r, cr3, 0x0100000000000000ull, -EINVAL,
		     VMI_XF_NONCANONICAL, 0);
	/* Misses at each level, PML5 down to PT. */
	expect_fault(&r, cr3, va ^ (1ull << 48), -ENOENT, VMI_XF_NOT_PRESENT,
		     5);
	expect_fault(&r, cr3, va ^ (1ull << 39), -ENOENT, VMI_XF_NOT_PRESENT,
		     4);
	expect_fault(&r, cr3, va ^ (1ull << 30), -ENOENT, VMI_XF_NOT_PRESENT,
		     3);
	expect_fault(&r, cr3, va ^ (1ull << 21), -ENOENT, VMI_XF_NOT_PRESENT,
		     2);
	expect_fault(&r, cr3, va ^ (1ull << 12), -ENOENT, VMI_XF_NOT_PRESENT,
		     1);
	/* The same tables read as 4-level give other answers: switching
	 * modes drops the cache. */
	assert_int_equal(vmi_x86_set_levels(&r.pt, 4), 0);
	expect_fault(&r, cr3, va, -EINVAL, VMI_XF_NONCANONICAL, 0);
	assert_int_equal(vmi_x86_set_levels(&r.pt, 3), -EINVAL);
	ram_free(&r);
}

static void test_large_pages(void **state)
{
	struct ram r;
	uint64_t cr3;
	uint64_t *e;
	uint8_t buf[8];

	(void)state;
	ram_new(&r, 4);
	cr3 = new_table(&r);
	/* 2 MiB page at va 0x40000000 -> pa 0x200000; PAT bit 12 set, which
	 * is not an address bit in a large page. */
	e = map(&r, cr3, 0x40000000, 0x200000, 2);
	*e |= 1ull << 12;
	assert_true(xlate(&r, cr3, 0x40000000 + 0x1abcde) == 0x3abcde);
	/* 1 GiB page at va 0x80000000 -> pa 0 (RAM is its first 16 MiB). */
	map(&r, cr3, 0x80000000, 0, 3);
	assert_true(xlate(&r, cr3, 0x80000000 + 0xfedcba) == 0xfedcba);
	memcpy(r.host + RAM - 4, "WXYZ", 4);
	/* The 1 GiB page reaches past RAM: a read there is a hole. */
	assert_int_equal(vmi_read_va(&r.pt, cr3, 0x80000000 + RAM - 4, buf,
				     8), 4);
	assert_memory_equal(buf, "WXYZ", 4);
	assert_int_equal(vmi_read_va(&r.pt, cr3, 0x80000000 + RAM, buf, 8),
			 -EFAULT);
	/* Reserved bits: 2 MiB page with bit 13, PS in a PML4 entry. */
	*e |= 1ull << 13;
	vmi_x86_invalidate(&r.pt);
	expect_fault(&r, cr3, 0x40000000, -EIO, VMI_XF_RESERVED, 2);
	*pte(&r, cr3, 1) = 0x200000 | P | PS;
	expect_fault(&r, cr3, 1ull << 39, -EIO, VMI_XF_RESERVED, 4);
	/* Address bits beyond MAXPHYADDR. */
	map(&r, cr3, 0xc0000000, (1ull << 45), 3);
	assert_true(xlate(&r, cr3, 0xc0000000) == (1ull << 45));
	r.pt.maxphyaddr = 40;
	vmi_x86_invalidate(&r.pt);
	expect_fault(&r, cr3, 0xc0000000, -EIO, VMI_XF_RESERVED, 3);
	ram_free(&r);
}

static void test_tables_outside_ram(void **state)
{
	struct ram r;
	uint64_t cr3, *e;
	char msg[160];
	struct vmi_x86_fault f;
	uint64_t pa;

	(void)state;
	ram_new(&r, 4);
	cr3 = new_table(&r);
	e = map(&r, cr3, 0x1000, 0x1000, 1);
	(void)e;
	/* The PML4 entry points to a PDPT at 1 TiB. */
	*pte(&r, cr3, 0) = (1ull << 40) | P;
	expect_fault(&r, cr3, 0x1000, -EFAULT, VMI_XF_TABLE_OUTSIDE_RAM, 3);
	assert_int_equal(vmi_x86_translate(&r.pt, cr3, 0x1000, &pa, &f),
			 -EFAULT);
	assert_true(f.table == (1ull << 40));
	vmi_x86_fault_str(&f, msg, sizeof(msg));
	assert_non_null(strstr(msg, "outside guest RAM"));
	/* CR3 itself outside RAM, and at the top of physical space. */
	expect_fault(&r, RAM, 0x1000, -EFAULT, VMI_XF_TABLE_OUTSIDE_RAM, 4);
	expect_fault(&r, 0x000ffffffffff000ull, 0xfffffffffffff000ull, -EFAULT,
		     VMI_XF_TABLE_OUTSIDE_RAM, 4);
	ram_free(&r);
}

/* The cache serves stale answers until invalidated: the documented rule
 * is to invalidate whenever the guest may have run. */
static void test_cache(void **state)
{
	struct ram r;
	uint64_t cr3, cr3b, *e;

	(void)state;
	ram_new(&r, 4);
	cr3 = new_table(&r);
	cr3b = new_table(&r);
	e = map(&r, cr3, 0x7000, 0x400000, 1);
	map(&r, cr3b, 0x7000, 0x800000, 1);
	assert_true(xlate(&r, cr3, 0x7010) == 0x400010);
	assert_true(xlate(&r, cr3, 0x7020) == 0x400020);
	assert_true(r.pt.hits == 1 && r.pt.misses == 1);
	/* Another address space, same VA: its own entry. */
	assert_true(xlate(&r, cr3b, 0x7000) == 0x800000);
	/* The "guest" remaps the page. */
	*e = 0x410000 | P;
	assert_true(xlate(&r, cr3, 0x7000) == 0x400000); /* stale */
	vmi_x86_invalidate(&r.pt);
	assert_true(xlate(&r, cr3, 0x7000) == 0x410000);
	/* Failures are not cached. */
	*e = 0;
	vmi_x86_invalidate(&r.pt);
	expect_fault(&r, cr3, 0x7000, -ENOENT, VMI_XF_NOT_PRESENT, 1);
	*e = 0x420000 | P;
	assert_true(xlate(&r, cr3, 0x7000) == 0x420000);
	/* Many pages: the 64-entry cache evicts, answers stay right. */
	for (uint64_t i = 0; i < 300; i++)
		map(&r, cr3, 0x10000000 + i * 4096, 0x900000 + i * 4096, 1);
	for (int round = 0; round < 2; round++)
		for (uint64_t i = 0; i < 300; i++)
			assert_true(xlate(&r, cr3, 0x10000000 + i * 4096 + 5) ==
				    0x900000 + i * 4096 + 5);
	ram_free(&r);
}

/* A long read over many pages, and one wrapping past 2^64. */
static void test_read_va_long(void **state)
{
	struct ram r;
	uint64_t cr3, top = 0xfffffffffffff000ull;
	static uint8_t buf[5 * 4096];
	uint64_t v;

	(void)state;
	ram_new(&r, 4);
	cr3 = new_table(&r);
	for (unsigned i = 0; i < 5; i++) {
		/* Physically reversed order. */
		map(&r, cr3, 0x20000000 + i * 4096, 0xa00000 - i * 4096, 1);
		memset(r.host + 0xa00000 - i * 4096, 'a' + i, 4096);
	}
	assert_int_equal(vmi_read_va(&r.pt, cr3, 0x20000000 + 100, buf,
				     sizeof(buf) - 100), sizeof(buf) - 100);
	for (unsigned i = 0; i < sizeof(buf) - 100; i++)
		assert_int_equal(buf[i], 'a' + (i + 100) / 4096);
	map(&r, cr3, top, 0xb00000, 1);
	memcpy(r.host + 0xb00ff8, "\x01\0\0\0\0\0\0\x02", 8);
	assert_int_equal(vmi_read_u64_va(&r.pt, cr3, top + 0xff8, &v), 0);
	assert_true(v == 0x0200000000000001ull);
	assert_int_equal(vmi_read_va(&r.pt, cr3, top + 0xffc, buf, 8), 4);
	assert_int_equal(vmi_read_u64_va(&r.pt, cr3, top + 0xffc, &v),
			 -EFAULT);
	ram_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_4level),
		cmocka_unit_test(test_5level),
		cmocka_unit_test(test_large_pages),
		cmocka_unit_test(test_tables_outside_ram),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_read_va_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
