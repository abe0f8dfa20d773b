/* Unit tests of VMCOREINFO (vmi/vmcoreinfo.c): the text as Linux 6.1
 * writes it (keys, hexadecimal, decimal and negative numbers), malformed
 * texts refused with their message, and the kernel's page found in a
 * memfd-backed guest RAM among decoys: a copy not at a page start (as in
 * the kernel's ELF note), a page without KERNELOFFSET, a page that does
 * not parse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem_file.h"
#include "vmcoreinfo.h"

/* Shaped like Debian 6.1's (crash_core.c, arch/x86/kernel/crash_core_64.c),
 * shortened. */
static const char good[] =
	"OSRELEASE=6.1.0-56-amd64\n"
	"BUILD-ID=3c9f2a4e8d1b0f7a6e5d4c3b2a1908f7e6d5c4b3\n"
	"PAGESIZE=4096\n"
	"SYMBOL(init_uts_ns)=ffffffff82c16720\n"
	"OFFSET(uts_namespace.name)=0\n"
	"SYMBOL(_stext)=ffffffff81000000\n"
	"SIZE(page)=64\n"
	"OFFSET(page.flags)=0\n"
	"LENGTH(zone.free_area)=11\n"
	"NUMBER(PG_lru)=4\n"
	"NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-129\n"
	"NUMBER(phys_base)=0x1000000\n"
	"NUMBER(pgtable_l5_enabled)=0\n"
	"SYMBOL(init_top_pgt)=ffffffff82c10000\n"
	"KERNELOFFSET=3c000000\n"
	"NUMBER(KERNEL_IMAGE_SIZE)=1073741824\n";

static struct vmi_vmcoreinfo *parse_ok(const char *text, size_t len)
{
	struct vmi_vmcoreinfo *v;
	char err[160] = "";
	int r = vmi_vmcoreinfo_parse(text, len, &v, err, sizeof(err));

	if (r)
		fail_msg("parse: %d %s", r, err);
	return v;
}

static void expect_u64(const struct vmi_vmcoreinfo *v, const char *key,
		       uint64_t want)
{
	uint64_t got = 0;
	int r = vmi_vmcoreinfo_u64(v, key, &got);

	if (r || got != want)
		fail_msg("%s: %d 0x%llx, want 0x%llx", key, r,
			 (unsigned long long)got, (unsigned long long)want);
}

static void test_parse_good(void **state)
{
	struct vmi_vmcoreinfo *v = parse_ok(good, sizeof(good) - 1);
	uint64_t x = 7;

	(void)state;
	assert_string_equal(vmi_vmcoreinfo_get(v, "OSRELEASE"),
			    "6.1.0-56-amd64");
	assert_string_equal(vmi_vmcoreinfo_get(v, "SIZE(page)"), "64");
	assert_null(vmi_vmcoreinfo_get(v, "SIZE(pag"));
	assert_null(vmi_vmcoreinfo_get(v, "CRASHTIME"));
	expect_u64(v, "PAGESIZE", 4096);
	expect_u64(v, "SYMBOL(init_uts_ns)", 0xffffffff82c16720ull);
	expect_u64(v, "SYMBOL(_stext)", 0xffffffff81000000ull);
	expect_u64(v, "KERNELOFFSET", 0x3c000000);
	expect_u64(v, "OFFSET(uts_namespace.name)", 0);
	expect_u64(v, "LENGTH(zone.free_area)", 11);
	expect_u64(v, "NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)", (uint64_t)-129);
	expect_u64(v, "NUMBER(phys_base)", 0x1000000);
	expect_u64(v, "NUMBER(KERNEL_IMAGE_SIZE)", 1u << 30);
	assert_int_equal(vmi_vmcoreinfo_u64(v, "NUMBER(nope)", &x), -ENOENT);
	/* 160 bits of hex in a decimal key. */
	assert_int_equal(vmi_vmcoreinfo_u64(v, "BUILD-ID", &x), -EINVAL);
	assert_int_equal(vmi_vmcoreinfo_u64(v, "OSRELEASE", &x), -EINVAL);
	assert_true(x == 7);
	vmi_vmcoreinfo_free(v);
	vmi_vmcoreinfo_free(NULL);

	/* A NUL ends the text; len ends it without one; no final newline;
	 * empty lines; '=' in a value. */
	v = parse_ok("OSRELEASE=6.1\nA=1\0B=2\n", 22);
	assert_string_equal(vmi_vmcoreinfo_get(v, "A"), "1");
	assert_null(vmi_vmcoreinfo_get(v, "B"));
	vmi_vmcoreinfo_free(v);
	v = parse_ok("OSRELEASE=6.1\nA=12345", 19);
	assert_string_equal(vmi_vmcoreinfo_get(v, "A"), "123");
	vmi_vmcoreinfo_free(v);
	v = parse_ok("\n\nOSRELEASE=x\n\nK=a=b\nE=\n", 25);
	assert_string_equal(vmi_vmcoreinfo_get(v, "K"), "a=b");
	assert_string_equal(vmi_vmcoreinfo_get(v, "E"), "");
	assert_int_equal(vmi_vmcoreinfo_u64(v, "E", &x), -EINVAL);
	vmi_vmcoreinfo_free(v);
}

static void test_u64_edges(void **state)
{
	static const char text[] =
		"OSRELEASE=6.1\n"
		"SIZE(max)=18446744073709551615\n"
		"SIZE(over)=18446744073709551616\n"
		"SIZE(neg)=-1\n"
		"SIZE(hex)=0xffffffffffffffff\n"
		"SIZE(hexover)=0x10000000000000000\n"
		"SIZE(sp)= 1\n"
		"SIZE(plus)=+1\n"
		"SIZE(tail)=12x\n"
		"SIZE(0x)=0x\n"
		"SYMBOL(a)=0xff\n"
		"SYMBOL(b)=DEADbeef\n"
		"SYMBOL(c)=g\n"
		"NUMBER(min)=-9223372036854775808\n"
		"NUMBER(under)=-9223372036854775809\n"
		"NUMBER(neghex)=-0x10\n"
		"NUMBER(minus)=-\n"
		"NUMBER(zero)=-0\n";
	static const char *const bad[] = {
		"SIZE(over)", "SIZE(neg)", "SIZE(hexover)", "SIZE(sp)",
		"SIZE(plus)", "SIZE(tail)", "SIZE(0x)", "SYMBOL(c)",
		"NUMBER(under)", "NUMBER(minus)",
	};
	struct vmi_vmcoreinfo *v = parse_ok(text, sizeof(text) - 1);
	uint64_t x;

	(void)state;
	expect_u64(v, "SIZE(max)", UINT64_MAX);
	expect_u64(v, "SIZE(hex)", UINT64_MAX);
	expect_u64(v, "SYMBOL(a)", 0xff);
	expect_u64(v, "SYMBOL(b)", 0xdeadbeef);
	expect_u64(v, "NUMBER(min)", 0x8000000000000000ull);
	expect_u64(v, "NUMBER(neghex)", (uint64_t)-16);
	expect_u64(v, "NUMBER(zero)", 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (vmi_vmcoreinfo_u64(v, bad[i], &x) != -EINVAL)
			fail_msg("%s accepted", bad[i]);
	vmi_vmcoreinfo_free(v);
}

static void expect_refused(const char *text, size_t len, const char *msg)
{
	struct vmi_vmcoreinfo *v = (struct vmi_vmcoreinfo *)1;
	char err[160] = "";

	assert_int_equal(vmi_vmcoreinfo_parse(text, len, &v, err, sizeof(err)),
			 -EINVAL);
	assert_null(v);
	if (!strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
}

static void test_parse_errors(void **state)
{
	char *big = malloc(1 << 16);
	size_t n;

	(void)state;
	assert_non_null(big);
	expect_refused("OSRELEASE=1\nPAGESIZE=4096\nnoequals\n", 36,
		       "line 3: no '='");
	expect_refused("OSRELEASE=1\n=4096\n", 18, "line 2: key of 0 bytes");
	expect_refused("PAGESIZE=4096\n", 14, "no OSRELEASE");
	expect_refused("", 0, "no OSRELEASE");
	expect_refused(NULL, 10, "no OSRELEASE");
	expect_refused("OSRELEASE=1\nA=\tb\n", 17, "line 2: control");
	expect_refused("OSRELEASE=1\r\n", 13, "line 1: control");
	/* 255 bytes of key or value pass, 256 do not. */
	n = (size_t)sprintf(big, "OSRELEASE=1\n%0255d=%0255d\n", 1, 2);
	vmi_vmcoreinfo_free(parse_ok(big, n));
	n = (size_t)sprintf(big, "OSRELEASE=1\n%0256d=1\n", 1);
	expect_refused(big, n, "line 2: key of 256 bytes");
	n = (size_t)sprintf(big, "OSRELEASE=1\nK=%0256d\n", 1);
	expect_refused(big, n, "value of 256");
	/* 4096 lines pass, 4097 do not. */
	n = (size_t)sprintf(big, "OSRELEASE=1\n");
	for (int i = 1; i < 4096; i++)
		n += (size_t)sprintf(big + n, "K%d=%d\n", i, i);
	vmi_vmcoreinfo_free(parse_ok(big, n));
	n += (size_t)sprintf(big + n, "L=1");
	expect_refused(big, n, "more than 4096 lines");
	free(big);
}

#define PAGE 4096

/* vmcoreinfo_data: the text, zero-filled to a page. */
static void page_of(uint8_t *p, const char *text)
{
	memset(p, 0, PAGE);
	memcpy(p, text, strlen(text));
}

static int ram(size_t size)
{
	int fd = memfd_create("vsb-vmcoreinfo", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	return fd;
}

static void put(int fd, const void *p, size_t len, uint64_t off)
{
	assert_int_equal(pwrite(fd, p, len, (off_t)off), (ssize_t)len);
}

static void test_scan(void **state)
{
	static const char no_koff[] = "OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\n";
	static const struct vmi_region reg[2] = {
		{ 0, 0, 4u << 20 },
		{ 0x100000000ull, 4u << 20, 4u << 20 },
	};
	uint8_t page[PAGE], full[2 * PAGE];
	struct vmi_vmcoreinfo *v;
	struct vmi_mem *m;
	char err[160] = "";
	uint64_t pa = 0;
	size_t n, last;
	int fd = ram(8u << 20);

	(void)state;
	/* Decoys: the ELF note's copy (24 bytes into its page), a page
	 * without KERNELOFFSET, one that does not parse. */
	put(fd, good, sizeof(good) - 1, 0x2000 + 24);
	page_of(page, no_koff);
	put(fd, page, PAGE, 0x5000);
	page_of(page, "OSRELEASE=garbage\nno equals\nKERNELOFFSET=0\n");
	put(fd, page, PAGE, 0x6000);
	/* The real one, in the second region. */
	page_of(page, good);
	put(fd, page, PAGE, (4u << 20) + 0x123000);
	assert_int_equal(vmi_mem_file_open_fd(fd, reg, 2, &m, err,
					      sizeof(err)), 0);
	assert_int_equal(vmi_vmcoreinfo_scan(m, &v, &pa, err, sizeof(err)), 0);
	assert_true(pa == 0x100123000ull);
	expect_u64(v, "KERNELOFFSET", 0x3c000000);
	vmi_vmcoreinfo_free(v);
	assert_int_equal(vmi_vmcoreinfo_scan(m, &v, NULL, err, sizeof(err)), 0);
	vmi_vmcoreinfo_free(v);
	vmi_mem_close(m);

	/* A page of text without a NUL, followed by more text: the page
	 * alone is parsed. */
	n = (size_t)sprintf((char *)full, "%s", good);
	for (int i = 0; PAGE - n > 250; i++)
		n += (size_t)sprintf((char *)full + n, "P%d=%0200d\n", i, i);
	last = PAGE - n - 3;
	full[n++] = 'L';
	full[n++] = '=';
	memset(full + n, 'y', last);
	full[PAGE - 1] = '\n';
	memset(full + PAGE, 'Z', PAGE);
	put(fd, full, sizeof(full), 0x123000);
	assert_int_equal(vmi_mem_file_open_fd(fd, reg, 2, &m, err,
					      sizeof(err)), 0);
	assert_int_equal(vmi_vmcoreinfo_scan(m, &v, &pa, err, sizeof(err)), 0);
	assert_true(pa == 0x123000);
	assert_int_equal(strlen(vmi_vmcoreinfo_get(v, "L")), last);
	vmi_vmcoreinfo_free(v);
	vmi_mem_close(m);
	close(fd);

	/* Only decoys: -ENOENT, with the count refused. */
	fd = ram(8u << 20);
	put(fd, good, sizeof(good) - 1, 0x2000 + 24);
	page_of(page, no_koff);
	put(fd, page, PAGE, 0x5000);
	assert_int_equal(vmi_mem_file_open_fd(fd, reg, 2, &m, err,
					      sizeof(err)), 0);
	v = (struct vmi_vmcoreinfo *)1;
	assert_int_equal(vmi_vmcoreinfo_scan(m, &v, &pa, err, sizeof(err)),
			 -ENOENT);
	assert_null(v);
	assert_string_equal(err, "no VMCOREINFO page in guest memory (1 "
			    "pages starting \"OSRELEASE=\" refused)");
	vmi_mem_close(m);
	close(fd);
}

/* 512 MiB of RAM, the page near its end: how long a whole scan takes. */
static void test_scan_512m(void **state)
{
	struct vmi_region reg = { 0, 0, 512u << 20 };
	struct vmi_vmcoreinfo *v;
	struct vmi_mem *m;
	uint8_t page[PAGE];
	char err[160] = "";
	uint64_t pa = 0;
	int fd = ram(512u << 20);

	(void)state;
	page_of(page, good);
	put(fd, page, PAGE, (512u << 20) - 0x5000);
	assert_int_equal(vmi_mem_file_open_fd(fd, &reg, 1, &m, err,
					      sizeof(err)), 0);
	for (int i = 0; i < 2; i++) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		assert_int_equal(vmi_vmcoreinfo_scan(m, &v, &pa, err,
						     sizeof(err)), 0);
		clock_gettime(CLOCK_MONOTONIC, &b);
		print_message("VMCOREINFO scan of 512 MiB: %.1f ms%s\n",
			      (double)(b.tv_sec - a.tv_sec) * 1e3 +
				      (double)(b.tv_nsec - a.tv_nsec) / 1e6,
			      i ? "" : " (pages touched)");
		assert_true(pa == (512u << 20) - 0x5000);
		vmi_vmcoreinfo_free(v);
	}
	vmi_mem_close(m);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_u64_edges),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_scan_512m),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
