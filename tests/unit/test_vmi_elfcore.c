/* Unit tests of the ELF core backend (vmi/mem_elfcore.c,
 * vmi/elfcore_notes.c) on a core written here the way QEMU's
 * dump-guest-memory writes one: three PT_LOADs (a hole, then two adjacent
 * segments, the first with p_memsz > p_filesz), NT_PRSTATUS and QEMU notes
 * for 2 vCPUs, VMCOREINFO. Then corrupted variants: every truncation,
 * broken headers, overflowing notes, random byte flips. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem_elfcore.h"
#include "mem_file.h"
#include "vmi_mem.h"

#define PRSTATUS_SIZE 336
#define QEMU_SIZE 432
#define VMCI "OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\n" \
	"SYMBOL(swapper_pg_dir)=ffffffff8260a000\r\nKERNELOFFSET=1c000000\n"

/* Segments: [0, 0x3000) with 0x2000 in the file, hole, [0x4000, 0x6000)
 * and [0x6000, 0x7000) adjacent. */
static const struct { uint64_t pa, filesz, memsz; } loads[] = {
	{ 0x0000, 0x2000, 0x3000 },
	{ 0x4000, 0x2000, 0x2000 },
	{ 0x6000, 0x1000, 0x1000 },
};
#define NLOADS 3

struct core {
	uint8_t *b;
	size_t len;
	size_t phoff, notes_off, notes_len;
	size_t data_off[NLOADS];
};

static void put(struct core *c, size_t off, const void *p, size_t n)
{
	assert_true(off + n <= c->len);
	memcpy(c->b + off, p, n);
}

static void put64(struct core *c, size_t off, uint64_t v)
{
	put(c, off, &v, 8);
}

static void put32(struct core *c, size_t off, uint32_t v)
{
	put(c, off, &v, 4);
}

/* One note at *off; returns the offset of its data. */
static size_t note(struct core *c, size_t *off, const char *name,
		   uint32_t type, uint32_t descsz)
{
	Elf64_Nhdr h = { strlen(name) + 1, descsz, type };
	size_t d = *off + sizeof(h) + ((h.n_namesz + 3) & ~3u);

	put(c, *off, &h, sizeof(h));
	put(c, *off + sizeof(h), name, h.n_namesz);
	*off = d + ((descsz + 3) & ~3u);
	return d;
}

/* ncpu vCPUs; with_qemu: add QEMU notes. */
static void build(struct core *c, unsigned ncpu, int with_qemu)
{
	Elf64_Ehdr e = { 0 };
	size_t off, nsz;

	nsz = ncpu * (12 + 8 + PRSTATUS_SIZE) +
	      (with_qemu ? ncpu * (12 + 8 + QEMU_SIZE) : 0) +
	      12 + 12 + ((sizeof(VMCI) - 1 + 3) & ~3u);
	c->phoff = sizeof(e);
	c->notes_off = c->phoff + (1 + NLOADS) * sizeof(Elf64_Phdr);
	c->notes_len = nsz;
	off = (c->notes_off + nsz + 4095) & ~4095ul;
	for (unsigned i = 0; i < NLOADS; i++) {
		c->data_off[i] = off;
		off += loads[i].filesz;
	}
	c->len = off;
	c->b = calloc(1, c->len);
	assert_non_null(c->b);

	memcpy(e.e_ident, ELFMAG, SELFMAG);
	e.e_ident[EI_CLASS] = ELFCLASS64;
	e.e_ident[EI_DATA] = ELFDATA2LSB;
	e.e_ident[EI_VERSION] = EV_CURRENT;
	e.e_type = ET_CORE;
	e.e_machine = EM_X86_64;
	e.e_version = EV_CURRENT;
	e.e_phoff = c->phoff;
	e.e_ehsize = sizeof(e);
	e.e_phentsize = sizeof(Elf64_Phdr);
	e.e_phnum = 1 + NLOADS;
	put(c, 0, &e, sizeof(e));

	Elf64_Phdr ph = { .p_type = PT_NOTE, .p_offset = c->notes_off,
			  .p_filesz = nsz, .p_memsz = nsz };
	put(c, c->phoff, &ph, sizeof(ph));
	for (unsigned i = 0; i < NLOADS; i++) {
		ph = (Elf64_Phdr){ .p_type = PT_LOAD,
				   .p_offset = c->data_off[i],
				   .p_paddr = loads[i].pa,
				   .p_filesz = loads[i].filesz,
				   .p_memsz = loads[i].memsz };
		put(c, c->phoff + (1 + i) * sizeof(ph), &ph, sizeof(ph));
		/* Each guest byte is recognisable: its address, in u64s. */
		for (uint64_t a = 0; a < loads[i].filesz; a += 8)
			put64(c, c->data_off[i] + a, loads[i].pa + a);
	}

	off = c->notes_off;
	for (unsigned i = 0; i < ncpu; i++) {
		size_t d = note(c, &off, "CORE", NT_PRSTATUS, PRSTATUS_SIZE);
		put32(c, d + 32, i + 1);                  /* pr_pid */
		put64(c, d + 112 + 10 * 8, 0xa0 + i);     /* rax */
		put64(c, d + 112 + 16 * 8, 0xffffffff81000000ull + i); /* rip */
		put64(c, d + 112 + 19 * 8, 0xffffc90000010000ull + i); /* rsp */
		put64(c, d + 112 + 22 * 8, 0xffff888000000000ull + i); /* gs_base */
		put64(c, d + 112 + 17 * 8, 0x10);         /* cs */
	}
	for (unsigned i = 0; with_qemu && i < ncpu; i++) {
		size_t d = note(c, &off, "QEMU", 0, QEMU_SIZE);
		put32(c, d, 1);
		put32(c, d + 4, QEMU_SIZE);
		put64(c, d + 8, 0xa0 + i);                /* rax */
		put64(c, d + 8 + 6 * 8, 0xffffc90000010000ull + i); /* rsp */
		put64(c, d + 8 + 16 * 8, 0xffffffff81000000ull + i); /* rip */
		put32(c, d + 152, 0x10);                  /* cs selector */
		put64(c, d + 152 + 4 * 24 + 16, 0xffff888000000000ull + i);
		put64(c, d + 152 + 8 * 24 + 16, 0xfffffe0000001000ull); /* gdt */
		put64(c, d + 392 + 0 * 8, 0x80050033);     /* cr0 */
		put64(c, d + 392 + 3 * 8, 0x1000 * (i + 1)); /* cr3 */
		put64(c, d + 392 + 4 * 8, 0x3506f0 | (1u << 12)); /* cr4, LA57 */
	}
	size_t d = note(c, &off, "VMCOREINFO", 0, sizeof(VMCI) - 1);
	put(c, d, VMCI, sizeof(VMCI) - 1);
	assert_true(off == c->notes_off + nsz);
}

static void check_memory(struct vmi_mem *m)
{
	uint8_t buf[16];
	uint64_t v, w[2];

	assert_int_equal(vmi_read_u64_pa(m, 0x1ff8, &v), 0);
	assert_true(v == 0x1ff8);
	/* p_memsz > p_filesz: zeros. */
	assert_int_equal(vmi_read_u64_pa(m, 0x2ff8, &v), 0);
	assert_true(v == 0);
	/* Across file bytes into zeros. */
	assert_int_equal(vmi_read_pa(m, 0x1ff8, w, 16), 16);
	assert_true(w[0] == 0x1ff8 && w[1] == 0);
	/* The hole [0x3000, 0x4000). */
	assert_int_equal(vmi_read_pa(m, 0x2ffc, buf, 8), 4);
	assert_int_equal(vmi_read_pa(m, 0x3000, buf, 8), -EFAULT);
	assert_int_equal(vmi_read_u64_pa(m, 0x3ffc, &v), -EFAULT);
	/* Across the boundary of two adjacent PT_LOADs. */
	assert_int_equal(vmi_read_pa(m, 0x5ff8, w, 16), 16);
	assert_true(w[0] == 0x5ff8 && w[1] == 0x6000);
	/* Past the end. */
	assert_int_equal(vmi_read_pa(m, 0x6ff8, w, 16), 8);
	assert_int_equal(vmi_read_pa(m, 0x7000, w, 16), -EFAULT);
	assert_true(vmi_mem_max_pa(m) == 0x7000);
	assert_int_equal(vmi_write_pa(m, 0, buf, 1), -EROFS);
}

static void test_good_core(void **state)
{
	struct core c;
	struct vmi_mem *m;
	struct vmi_regs r;
	char err[160] = "", val[64];
	size_t len;

	(void)state;
	build(&c, 2, 1);
	assert_int_equal(vmi_mem_elfcore_from_buffer(c.b, c.len, &m, err,
						     sizeof(err)), 0);
	assert_string_equal(vmi_mem_name(m), "elfcore");
	check_memory(m);

	assert_int_equal(vmi_mem_nr_vcpus(m), 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(vmi_mem_get_regs(m, i, &r), 0);
		assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG |
					  VMI_REGS_CR | VMI_REGS_DT);
		assert_int_equal(r.cpu_id, i + 1);
		assert_true(r.rax == 0xa0 + i);
		assert_true(r.rip == 0xffffffff81000000ull + i);
		assert_true(r.rsp == 0xffffc90000010000ull + i);
		assert_true(r.gs_base == 0xffff888000000000ull + i);
		assert_true(r.cr3 == 0x1000 * (i + 1));
		assert_true(r.cr4 & VMI_CR4_LA57);
		assert_true(r.cr0 == 0x80050033);
		assert_true(r.gdt_base == 0xfffffe0000001000ull);
		assert_int_equal(r.cs, 0x10);
	}
	assert_int_equal(vmi_mem_get_regs(m, 2, &r), -EINVAL);

	assert_int_equal(vmi_elfcore_vmcoreinfo(m, "OSRELEASE", val,
						sizeof(val)), 14);
	assert_string_equal(val, "6.1.0-56-amd64");
	assert_int_equal(vmi_elfcore_vmcoreinfo(m, "SYMBOL(swapper_pg_dir)",
						val, sizeof(val)), 16);
	assert_string_equal(val, "ffffffff8260a000");
	assert_int_equal(vmi_elfcore_vmcoreinfo(m, "KERNELOFFSET", val,
						sizeof(val)), 8);
	assert_int_equal(vmi_elfcore_vmcoreinfo(m, "PAGE", val, sizeof(val)),
			 -ENOENT);
	assert_int_equal(vmi_elfcore_vmcoreinfo(m, "NOPE", val, sizeof(val)),
			 -ENOENT);
	assert_int_equal(vmi_elfcore_vmcoreinfo(m, "OSRELEASE", val, 14),
			 -ENOSPC);
	assert_non_null(vmi_elfcore_vmcoreinfo_raw(m, &len));
	assert_int_equal(len, sizeof(VMCI) - 1);
	vmi_mem_close(m);
	free(c.b);
}

/* From a file (pread path), and a core with NT_PRSTATUS only. */
static void test_file_and_prstatus_only(void **state)
{
	struct core c;
	struct vmi_mem *m, *f;
	struct vmi_regs r;
	char path[64], err[160] = "", val[8];
	int fd = memfd_create("core", MFD_CLOEXEC);

	(void)state;
	build(&c, 2, 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, c.b, c.len), (ssize_t)c.len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	assert_int_equal(vmi_mem_elfcore_open(path, &m, err, sizeof(err)), 0);
	check_memory(m);
	assert_int_equal(vmi_mem_nr_vcpus(m), 2);
	assert_int_equal(vmi_mem_get_regs(m, 1, &r), 0);
	assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG);
	assert_true(r.rip == 0xffffffff81000001ull);
	assert_true(r.gs_base == 0xffff888000000001ull);
	assert_int_equal(r.cs, 0x10);
	/* Truncated behind our back: reads fail, no SIGBUS. */
	assert_int_equal(ftruncate(fd, c.data_off[1]), 0);
	assert_int_equal(vmi_read_pa(m, 0x4000, val, 8), -EIO);
	vmi_mem_close(m);
	close(fd);
	/* The VMCOREINFO lookup refuses other backends. */
	{
		const struct vmi_region reg = { 0, 0, 4096 };
		int rfd = memfd_create("ram", MFD_CLOEXEC);

		assert_int_equal(ftruncate(rfd, 4096), 0);
		assert_int_equal(vmi_mem_file_open_fd(rfd, &reg, 1, &f, NULL,
						      0), 0);
		close(rfd);
		assert_int_equal(vmi_elfcore_vmcoreinfo(f, "X", val, 8),
				 -ENODATA);
		assert_int_equal(vmi_elfcore_vmcoreinfo(NULL, "X", val, 8),
				 -ENODATA);
		vmi_mem_close(f);
	}
	assert_int_equal(vmi_mem_elfcore_open("/nonexistent/core", &m, err,
					      sizeof(err)), -ENOENT);
	assert_int_equal(vmi_mem_elfcore_open("/proc/self", &m, err,
					      sizeof(err)), -EINVAL);
	free(c.b);
}

static void expect_bad(const struct core *c, size_t len, const char *msg)
{
	struct vmi_mem *m = (void *)1;
	char err[200] = "";
	int ret = vmi_mem_elfcore_from_buffer(c->b, len, &m, err, sizeof(err));

	if (ret != -EINVAL)
		fail_msg("len %zu: got %d (%s), want -EINVAL", len, ret, err);
	assert_null(m);
	assert_true(err[0] != '\0');
	if (msg && !strstr(err, msg))
		fail_msg("error '%s' does not mention '%s'", err, msg);
}

/* Every truncation is refused: the last PT_LOAD's bytes end the file. */
static void test_truncated(void **state)
{
	struct core c;

	(void)state;
	build(&c, 2, 1);
	for (size_t len = 0; len < c.len; len++) {
		/* Inside the note area, each step is checked; elsewhere
		 * most steps would say the same thing. */
		if (len > c.notes_off + c.notes_len && len % 61 && len != c.len - 1)
			continue;
		expect_bad(&c, len, NULL);
	}
	expect_bad(&c, 10, "too short");
	expect_bad(&c, c.len - 1, "past the end of the file");
	expect_bad(&c, c.phoff + 10, "program headers");
	free(c.b);
}

static void mutate(void (*fn)(struct core *), const char *msg)
{
	struct core c;

	build(&c, 2, 1);
	fn(&c);
	expect_bad(&c, c.len, msg);
	free(c.b);
}

#define PH(c, i) ((Elf64_Phdr *)((c)->b + (c)->phoff) + (i))
#define EH(c) ((Elf64_Ehdr *)(c)->b)

static void m_magic(struct core *c) { c->b[1] = 'X'; }
static void m_class(struct core *c) { c->b[EI_CLASS] = ELFCLASS32; }
static void m_endian(struct core *c) { c->b[EI_DATA] = ELFDATA2MSB; }
static void m_type(struct core *c) { EH(c)->e_type = ET_EXEC; }
static void m_machine(struct core *c) { EH(c)->e_machine = EM_386; }
static void m_phentsize(struct core *c) { EH(c)->e_phentsize = 32; }
static void m_phnum_huge(struct core *c) { EH(c)->e_phnum = 0xfffe; }
static void m_phnum_zero(struct core *c) { EH(c)->e_phnum = 0; }
static void m_phnum_xnum(struct core *c) { EH(c)->e_phnum = PN_XNUM; }
static void m_phoff_huge(struct core *c) { EH(c)->e_phoff = UINT64_MAX - 8; }
static void m_load_off(struct core *c) { PH(c, 2)->p_offset = UINT64_MAX - 4; }
static void m_load_filesz(struct core *c) { PH(c, 3)->p_filesz += 1; }
static void m_filesz_memsz(struct core *c) { PH(c, 1)->p_filesz = 0x3001; }
static void m_overlap(struct core *c) { PH(c, 2)->p_paddr = 0x2800; }
static void m_wrap(struct core *c) { PH(c, 3)->p_paddr = UINT64_MAX - 0x100; }
static void m_no_loads(struct core *c)
{
	for (int i = 1; i <= NLOADS; i++)
		PH(c, i)->p_type = PT_NULL;
}
static void m_note_namesz(struct core *c)
{
	put32(c, c->notes_off, 0xffffffff);
}
static void m_note_descsz(struct core *c)
{
	put32(c, c->notes_off + 4, 0xfffffffd);
}
static void m_prstatus_short(struct core *c)
{
	put32(c, c->notes_off + 4, 100);
}
static void m_qemu_size(struct core *c)
{
	/* The first QEMU note: after 2 PRSTATUS notes. */
	size_t d = c->notes_off + 2 * (20 + PRSTATUS_SIZE) + 20;
	put32(c, d + 4, 9999);
}
static void m_qemu_count(struct core *c)
{
	/* Turn the second QEMU note into an unknown one. */
	size_t h = c->notes_off + 2 * (20 + PRSTATUS_SIZE) + 20 + QEMU_SIZE;
	put32(c, h + 8, 77);
}
static void m_note_bigseg(struct core *c) { PH(c, 0)->p_filesz = c->len; }

static void test_corrupted(void **state)
{
	(void)state;
	mutate(m_magic, "not an ELF file");
	mutate(m_class, "64-bit");
	mutate(m_endian, "little-endian");
	mutate(m_type, "not a core");
	mutate(m_machine, "not x86-64");
	mutate(m_phentsize, "program header size 32");
	mutate(m_phnum_huge, "65534 program headers");
	mutate(m_phnum_zero, "no program headers");
	mutate(m_phnum_xnum, "PN_XNUM");
	mutate(m_phoff_huge, "past the end");
	mutate(m_load_off, "past the end of the file");
	mutate(m_load_filesz, "past the end of the file");
	mutate(m_filesz_memsz, "p_filesz 0x3001 > p_memsz");
	mutate(m_overlap, "overlap");
	mutate(m_wrap, "wraps");
	mutate(m_no_loads, "no PT_LOAD");
	mutate(m_note_namesz, "run past the segment");
	mutate(m_note_descsz, "run past the segment");
	mutate(m_prstatus_short, "NT_PRSTATUS of 100 bytes");
	mutate(m_qemu_size, "says 9999 bytes");
	mutate(m_qemu_count, "2 NT_PRSTATUS notes but 1 QEMU");
	mutate(m_note_bigseg, NULL);
}

/* Random corruption of the headers and notes: never a crash; success or
 * -EINVAL, and reads on a success stay within what was asked. */
static void test_random_flips(void **state)
{
	struct core c, w;
	uint32_t seed = 12345;

	(void)state;
	build(&c, 2, 1);
	w = c;
	w.b = malloc(c.len);
	assert_non_null(w.b);
	for (int iter = 0; iter < 3000; iter++) {
		struct vmi_mem *m;
		uint8_t buf[32];
		int ret;

		memcpy(w.b, c.b, c.len);
		for (int k = 0; k < 1 + iter % 4; k++) {
			seed = seed * 1103515245 + 12345;
			size_t at = (seed >> 8) % (c.notes_off + c.notes_len);
			seed = seed * 1103515245 + 12345;
			w.b[at] ^= 1u << ((seed >> 16) & 7);
		}
		ret = vmi_mem_elfcore_from_buffer(w.b, w.len, &m, NULL, 0);
		if (ret == 0) {
			ssize_t n = vmi_read_pa(m, 0x1ff0, buf, sizeof(buf));
			assert_true(n <= (ssize_t)sizeof(buf));
			vmi_mem_close(m);
		} else {
			assert_int_equal(ret, -EINVAL);
		}
	}
	free(w.b);
	free(c.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_core),
		cmocka_unit_test(test_file_and_prstatus_only),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_random_flips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
