/* Unit tests of struct layouts from BTF (vmi/linux_btf.c): the real Debian
 * kernel's BTF (extracted from .cache/vmlinuz at setup: xz, objcopy), read
 * from the raw blob, the vmlinux ELF and a buffer; members in anonymous
 * structs, paths, bitfields, errors; malformed buffers refused without a
 * crash. The kernel tests skip when the kernel or the tools are missing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <cmocka.h>

#include "linux_btf.h"
#include "kernel_file.h"

static char tmpdir[] = "/tmp/vsb-btf.XXXXXX";
static int have_tmp;
static char raw_path[64], elf_path[64];
static unsigned char *raw;	/* the .BTF blob, or NULL: kernel tests skip */
static size_t raw_len;

static int extract_btf(void **state)
{
	char kernel[4096], cmd[8192];

	(void)state;
	/* libbpf's own warnings about the bad buffers below: not wanted. */
	libbpf_set_print(NULL);
	if (find_kernel(kernel, sizeof(kernel))) {
		print_message("no kernel ($VSB_KERNEL, $VSB_CACHE or "
			      ".cache/vmlinuz): kernel tests skipped\n");
		return 0;
	}
	if (system("command -v xz >/dev/null && command -v objcopy "
		   ">/dev/null") != 0) {
		print_message("no xz or objcopy: kernel tests skipped\n");
		return 0;
	}
	if (!mkdtemp(tmpdir))
		return 0;
	have_tmp = 1;
	snprintf(elf_path, sizeof(elf_path), "%s/vmlinux", tmpdir);
	snprintf(raw_path, sizeof(raw_path), "%s/btf.raw", tmpdir);
	/* The xz stream's offset in the bzImage; xz complains about the
	 * bytes after the stream, which is expected. */
	snprintf(cmd, sizeof(cmd),
		 "k='%s'; off=$(grep -abo \"$(printf '\\375')7zXZ\" \"$k\" | "
		 "head -1 | cut -d: -f1) && [ -n \"$off\" ] && "
		 "{ tail -c +$((off + 1)) \"$k\" | xz -dc >'%s' 2>/dev/null; "
		 "objcopy -O binary --only-section=.BTF '%s' '%s'; }",
		 kernel, elf_path, elf_path, raw_path);
	if (system(cmd) != 0 || !(raw = read_all(raw_path, &raw_len))) {
		print_message("could not extract BTF from %s: kernel tests "
			      "skipped\n", kernel);
		free(raw);
		raw = NULL;
	}
	return 0;
}

static int cleanup(void **state)
{
	(void)state;
	free(raw);
	if (have_tmp) {
		unlink(raw_path);
		unlink(elf_path);
		rmdir(tmpdir);
	}
	return 0;
}

#define NEED_BTF()                                                         \
	do {                                                               \
		if (!raw)                                                  \
			skip();                                            \
	} while (0)

static void check_within(uint32_t off, uint32_t size, uint32_t limit)
{
	assert_true(size > 0);
	assert_true((uint64_t)off + size <= limit);
}

/* What is known of the kernel (6.1) independently of its BTF. */
static void check_layout(const struct vmi_btf *b,
			 const struct vmi_linux_layout *l)
{
	uint32_t cred_size, mm_size, mod_size;

	assert_true(l->task.size > 4096);
	assert_int_equal(l->task.comm_size, 16);	/* TASK_COMM_LEN */
	assert_int_equal(l->task.tgid, l->task.pid + 4);
	assert_string_equal(l->task.state_name, "__state");
	assert_int_equal(l->task.state_size, 4);
	check_within(l->task.tasks, 16, l->task.size);
	check_within(l->task.comm, l->task.comm_size, l->task.size);
	check_within(l->task.mm, 8, l->task.size);
	check_within(l->task.active_mm, 8, l->task.size);
	assert_int_equal(l->task.active_mm, l->task.mm + 8);
	check_within(l->task.real_parent, 8, l->task.size);
	check_within(l->task.cred, 8, l->task.size);
	check_within(l->task.flags, 4, l->task.size);
	/* __state follows thread_info, the first member on x86. */
	assert_true(l->task.state < 64);
	assert_int_equal(l->list_head.next, 0);
	assert_int_equal(l->list_head.prev, 8);
	assert_int_equal(vmi_btf_struct_size(b, "cred", &cred_size, NULL, 0),
			 0);
	check_within(l->cred.uid, 4, cred_size);
	assert_int_equal(vmi_btf_struct_size(b, "mm_struct", &mm_size, NULL,
					     0), 0);
	assert_int_equal(l->mm.pgd_size, 8);
	check_within(l->mm.pgd, 8, mm_size);
	assert_int_equal(l->module.kind, VMI_MODULE_CORE_LAYOUT);
	assert_int_equal(vmi_btf_struct_size(b, "module", &mod_size, NULL, 0),
			 0);
	assert_int_equal(l->module.name_size, 56);	/* 64 - 8 */
	assert_int_equal(l->module.name, l->module.list + 16);
	assert_int_equal(l->module.state_size, 4);
	assert_int_equal(l->module.base_size, 8);
	assert_int_equal(l->module.mem_size_size, 4);
	assert_int_equal(l->module.mem_size, l->module.base + 8);
	check_within(l->module.list, 16, mod_size);
	check_within(l->module.base, 8, mod_size);
}

static void test_layout_from_raw_file(void **state)
{
	struct vmi_linux_layout l;
	struct vmi_btf *b;
	char err[160] = "";

	(void)state;
	NEED_BTF();
	assert_int_equal(vmi_btf_open_file(raw_path, &b, err, sizeof(err)),
			 0);
	assert_int_equal(vmi_linux_layout_get(b, &l, err, sizeof(err)), 0);
	check_layout(b, &l);
	print_message("task_struct (%u bytes): tasks %u pid %u tgid %u "
		      "comm %u/%u mm %u active_mm %u real_parent %u cred %u "
		      "%s %u flags %u\n", l.task.size, l.task.tasks,
		      l.task.pid, l.task.tgid, l.task.comm, l.task.comm_size,
		      l.task.mm, l.task.active_mm, l.task.real_parent,
		      l.task.cred, l.task.state_name, l.task.state,
		      l.task.flags);
	print_message("cred.uid %u, mm_struct.pgd %u, list_head %u/%u, "
		      "module: list %u name %u/%u state %u base %u size %u "
		      "(%s)\n", l.cred.uid, l.mm.pgd, l.list_head.next,
		      l.list_head.prev, l.module.list, l.module.name,
		      l.module.name_size, l.module.state, l.module.base,
		      l.module.mem_size,
		      l.module.kind == VMI_MODULE_CORE_LAYOUT ? "core_layout"
							      : "mem[MOD_TEXT]");
	vmi_btf_close(b);
}

/* The raw file, the vmlinux ELF and the blob in a buffer agree. */
static void test_file_elf_buffer_agree(void **state)
{
	struct vmi_linux_layout a, e, m;
	struct vmi_btf *b;
	unsigned char *copy;
	char err[160] = "";

	(void)state;
	NEED_BTF();
	assert_int_equal(vmi_btf_open_file(raw_path, &b, err, sizeof(err)),
			 0);
	assert_int_equal(vmi_linux_layout_get(b, &a, err, sizeof(err)), 0);
	vmi_btf_close(b);
	assert_int_equal(vmi_btf_open_file(elf_path, &b, err, sizeof(err)),
			 0);
	assert_int_equal(vmi_linux_layout_get(b, &e, err, sizeof(err)), 0);
	vmi_btf_close(b);
	/* The buffer is copied: freed before use. */
	copy = malloc(raw_len);
	assert_non_null(copy);
	memcpy(copy, raw, raw_len);
	assert_int_equal(vmi_btf_open_buffer(copy, raw_len, &b, err,
					     sizeof(err)), 0);
	memset(copy, 0xa5, raw_len);
	free(copy);
	assert_int_equal(vmi_linux_layout_get(b, &m, err, sizeof(err)), 0);
	vmi_btf_close(b);
	assert_memory_equal(&a, &e, sizeof(a));
	assert_memory_equal(&a, &m, sizeof(a));
}

static void test_member_lookup(void **state)
{
	struct vmi_btf *b;
	char err[160] = "";
	uint32_t off, size, off2, outer;

	(void)state;
	NEED_BTF();
	assert_int_equal(vmi_btf_open_buffer(raw, raw_len, &b, err,
					     sizeof(err)), 0);
	/* size may be NULL; paths add up. */
	assert_int_equal(vmi_btf_member_offset(b, "cred", "uid", &off, NULL,
					       err, sizeof(err)), 0);
	assert_int_equal(vmi_btf_member_offset(b, "cred", "uid.val", &off2,
					       &size, err, sizeof(err)), 0);
	assert_int_equal(off2, off);
	assert_int_equal(size, 4);
	assert_int_equal(vmi_btf_member_offset(b, "module", "core_layout",
					       &outer, &size, err,
					       sizeof(err)), 0);
	assert_int_equal(vmi_btf_member_offset(b, "module",
					       "core_layout.size", &off, NULL,
					       err, sizeof(err)), 0);
	assert_true(off > outer && off < outer + size);
	/* In an anonymous union (struct page: lru in the first union's
	 * anonymous struct). */
	assert_int_equal(vmi_btf_member_offset(b, "page", "lru", &off, &size,
					       err, sizeof(err)), 0);
	assert_int_equal(off, 8);
	assert_int_equal(size, 16);
	/* Errors. */
	assert_int_equal(vmi_btf_member_offset(b, "no_such_struct", "x", &off,
					       NULL, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "BTF: no struct or union no_such_struct");
	assert_int_equal(vmi_btf_member_offset(b, "task_struct", "nope", &off,
					       NULL, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "BTF: struct task_struct has no member nope");
	assert_int_equal(vmi_btf_member_offset(b, "cred", "uid.nope", &off,
					       NULL, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "BTF: struct cred has no member uid.nope");
	assert_int_equal(vmi_btf_member_offset(b, "task_struct", "pid.x",
					       &off, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a struct or union"));
	/* task_struct's sched_reset_on_fork is a 1-bit field. */
	assert_int_equal(vmi_btf_member_offset(b, "task_struct",
					       "sched_reset_on_fork", &off,
					       NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err,
			    "BTF: task_struct.sched_reset_on_fork is a bitfield");
	vmi_btf_close(b);
}

static void expect_refused(const void *buf, size_t len, const char *msg)
{
	struct vmi_btf *b = (struct vmi_btf *)1;
	char err[160] = "";

	assert_true(vmi_btf_open_buffer(buf, len, &b, err, sizeof(err)) < 0);
	assert_null(b);
	assert_true(err[0] != '\0');
	if (msg && !strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8 & 0xff;
	p[2] = v >> 16 & 0xff;
	p[3] = v >> 24;
}

/* A header and nothing: types and strings [0, 0). */
static void header(unsigned char *h, uint32_t type_len, uint32_t str_off,
		   uint32_t str_len)
{
	memset(h, 0, 24);
	h[0] = 0x9f;
	h[1] = 0xeb;
	h[2] = 1;
	put32(h + 4, 24);
	put32(h + 12, type_len);
	put32(h + 16, str_off);
	put32(h + 20, str_len);
}

static void test_bad_buffers(void **state)
{
	unsigned char h[64];
	struct vmi_linux_layout l;
	struct vmi_btf *b;
	char err[160];

	(void)state;
	expect_refused(NULL, 100, "shorter than");
	expect_refused(h, 0, "shorter than");
	header(h, 0, 0, 1);
	expect_refused(h, 23, "shorter than");
	h[0] = 0xeb;
	h[1] = 0x9f;	/* big-endian */
	expect_refused(h, sizeof(h), "bad magic 0x9feb");
	header(h, 0, 0, 1);
	h[2] = 2;
	expect_refused(h, sizeof(h), "version 2");
	header(h, 0, 0, 1);
	put32(h + 4, 65);
	expect_refused(h, sizeof(h), "header length 65");
	put32(h + 4, 8);
	expect_refused(h, sizeof(h), "header length 8");
	/* A 25-byte header: types not 4-byte aligned (fuzz_vmi_btf). */
	header(h, 0, 0, 1);
	put32(h + 4, 25);
	expect_refused(h, sizeof(h), "not 4-byte aligned");
	header(h, 0, 0, 1);
	put32(h + 8, 2);	/* type_off */
	expect_refused(h, sizeof(h), "not 4-byte aligned");
	header(h, 41, 0, 1);
	expect_refused(h, sizeof(h), "types");
	header(h, 0xfffffff0, 0, 1);
	put32(h + 8, 0x20);	/* type_off + type_len wraps 32 bits */
	expect_refused(h, sizeof(h), "types");
	header(h, 0, 40, 1);
	expect_refused(h, sizeof(h), "strings");
	header(h, 0, 1, 0xffffffff);
	expect_refused(h, sizeof(h), "strings");
	/* Well-formed enough for the header check, not for libbpf: the
	 * string section must start with "\0". */
	header(h, 0, 0, 4);
	memcpy(h + 24, "abc", 4);
	expect_refused(h, 28, "refused by libbpf");
	/* The smallest valid BTF: no types, an empty string. Valid, but
	 * no task_struct. */
	header(h, 0, 0, 1);
	h[24] = 0;
	err[0] = 0;
	assert_int_equal(vmi_btf_open_buffer(h, 25, &b, err, sizeof(err)), 0);
	assert_int_equal(vmi_linux_layout_get(b, &l, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "BTF: no struct or union task_struct");
	vmi_btf_close(b);
	vmi_btf_close(NULL);
	err[0] = 0;
	assert_true(vmi_btf_open_file("/nonexistent/btf", &b, err,
				      sizeof(err)) < 0);
	assert_null(b);
	assert_non_null(strstr(err, "/nonexistent/btf"));
}

/* Random bytes, then random bytes behind a plausible header: refused or
 * parsed, never a crash (the asan build checks the "never"). */
static void test_random_buffers(void **state)
{
	static unsigned char buf[4096];
	struct vmi_linux_layout l;
	struct vmi_btf *b;
	char err[160];
	unsigned seed = 1;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		size_t len = (size_t)rand_r(&seed) % sizeof(buf);

		for (size_t j = 0; j < len; j++)
			buf[j] = (unsigned char)rand_r(&seed);
		if (i & 1 && len >= 24) {
			uint32_t tl = (uint32_t)(len - 24) / 2;

			header(buf, tl, tl, (uint32_t)(len - 24 - tl));
			buf[24 + tl] = 0;
		}
		if (vmi_btf_open_buffer(buf, len, &b, err, sizeof(err)) == 0) {
			(void)vmi_linux_layout_get(b, &l, err, sizeof(err));
			vmi_btf_close(b);
		}
	}
}

/* The real blob truncated, and with bytes overwritten. */
static void test_damaged_kernel_btf(void **state)
{
	struct vmi_linux_layout l;
	struct vmi_btf *b;
	unsigned char *copy;
	char err[160];
	unsigned seed = 7;

	(void)state;
	NEED_BTF();
	expect_refused(raw, raw_len - 1, "past the end");
	expect_refused(raw, 100, "past the end");
	copy = malloc(raw_len);
	assert_non_null(copy);
	for (int i = 0; i < 40; i++) {
		memcpy(copy, raw, raw_len);
		for (int j = 0; j < 8; j++)
			copy[24 + (size_t)rand_r(&seed) % (raw_len - 24)] =
				(unsigned char)rand_r(&seed);
		if (vmi_btf_open_buffer(copy, raw_len, &b, err,
					sizeof(err)) == 0) {
			(void)vmi_linux_layout_get(b, &l, err, sizeof(err));
			vmi_btf_close(b);
		}
	}
	free(copy);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout_from_raw_file),
		cmocka_unit_test(test_file_elf_buffer_agree),
		cmocka_unit_test(test_member_lookup),
		cmocka_unit_test(test_bad_buffers),
		cmocka_unit_test(test_random_buffers),
		cmocka_unit_test(test_damaged_kernel_btf),
	};

	return cmocka_run_group_tests(tests, extract_btf, cleanup);
}
