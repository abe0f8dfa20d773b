/* Unit tests for PVH direct boot (boot/pvh.c), image_probe for ELF, and the
 * PROT32 entry state. The PVH kernels are synthetic ELF images built here,
 * both ELF64 and ELF32, with the entry note's value in 4 or 8 bytes. */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../boot/boot.h"
#include "guest_buf.h"

#define MiB (1ULL << 20)

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t g64(const uint8_t *p)
{
	return (uint64_t)g32(p) | (uint64_t)g32(p + 4) << 32;
}

/* ---- building synthetic PVH kernels ---- */

struct seg {
	uint64_t paddr, filesz, memsz;
};

struct elf_spec {
	bool is64;
	uint16_t machine; /* 0: the right one for the class */
	uint16_t type;    /* 0: ET_EXEC */
	uint64_t entry;   /* value of the PHYS32_ENTRY note */
	unsigned desc_size;
	bool no_note;
	const struct seg *segs;
	unsigned nseg;
};

/* Segment file bytes, recognisable per segment. */
static uint8_t seg_byte(unsigned seg, uint64_t i)
{
	return (uint8_t)(seg * 31 + i * 7 + 1);
}

static size_t put_note(uint8_t *p, const char *name, uint32_t type,
		       const void *desc, uint32_t descsz)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t off = 12;

	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, desc, descsz);
	off += (descsz + 3) & ~3u;
	return off;
}

/* Layout: ELF header | program headers (segments, then PT_NOTE) | notes |
 * segment data. Returns the image length. */
static size_t build_elf(const struct elf_spec *s, uint8_t *out, size_t cap)
{
	size_t ehsize = s->is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
	size_t phsize = s->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
	unsigned phnum = s->nseg + 1;
	size_t notes_off = ehsize + phnum * phsize, off;
	uint8_t build_id[20];

	memset(out, 0, cap);
	/* An unrelated note first, so the scanner has to step over it. */
	memset(build_id, 0xB1, sizeof(build_id));
	off = notes_off + put_note(out + notes_off, "GNU", NT_GNU_BUILD_ID,
				   build_id, sizeof(build_id));
	if (!s->no_note) {
		uint64_t v = s->entry;

		off += put_note(out + off, "Xen", 18, &v, s->desc_size);
	} else {
		uint32_t v = 0x100000; /* XEN_ELFNOTE_ENTRY: not PVH */

		off += put_note(out + off, "Xen", 1, &v, 4);
	}
	size_t notes_len = off - notes_off;

	for (unsigned i = 0; i <= s->nseg; i++) {
		bool note = i == s->nseg;
		uint32_t type = note ? PT_NOTE : PT_LOAD;
		uint64_t o = note ? notes_off : off;
		uint64_t fs = note ? notes_len : s->segs[i].filesz;
		uint64_t ms = note ? notes_len : s->segs[i].memsz;
		uint64_t pa = note ? 0 : s->segs[i].paddr;
		uint8_t *ph = out + ehsize + i * phsize;

		if (s->is64) {
			Elf64_Phdr h = { .p_type = type, .p_offset = o,
					 .p_vaddr = pa, .p_paddr = pa,
					 .p_filesz = fs, .p_memsz = ms,
					 .p_align = note ? 4 : 0x1000 };
			memcpy(ph, &h, sizeof(h));
		} else {
			Elf32_Phdr h = { .p_type = type,
					 .p_offset = (uint32_t)o,
					 .p_vaddr = (uint32_t)pa,
					 .p_paddr = (uint32_t)pa,
					 .p_filesz = (uint32_t)fs,
					 .p_memsz = (uint32_t)ms,
					 .p_align = note ? 4 : 0x1000 };
			memcpy(ph, &h, sizeof(h));
		}
		if (!note) {
			assert_true(off + fs <= cap);
			for (uint64_t b = 0; b < fs; b++)
				out[off + b] = seg_byte(i, b);
			off += fs;
		}
	}

	unsigned char ident[EI_NIDENT] = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3,
					   s->is64 ? ELFCLASS64 : ELFCLASS32,
					   ELFDATA2LSB, EV_CURRENT };
	uint16_t type = s->type ? s->type : ET_EXEC;

	if (s->is64) {
		Elf64_Ehdr h = { .e_type = type,
				 .e_machine = s->machine ? s->machine
							 : EM_X86_64,
				 .e_version = EV_CURRENT,
				 .e_entry = 0xFFFFFFFF81000000ULL,
				 .e_phoff = ehsize,
				 .e_ehsize = (uint16_t)ehsize,
				 .e_phentsize = (uint16_t)phsize,
				 .e_phnum = (uint16_t)phnum };
		memcpy(h.e_ident, ident, EI_NIDENT);
		memcpy(out, &h, sizeof(h));
	} else {
		Elf32_Ehdr h = { .e_type = type,
				 .e_machine = s->machine ? s->machine : EM_386,
				 .e_version = EV_CURRENT,
				 .e_entry = 0xC1000000,
				 .e_phoff = (uint32_t)ehsize,
				 .e_ehsize = (uint16_t)ehsize,
				 .e_phentsize = (uint16_t)phsize,
				 .e_phnum = (uint16_t)phnum };
		memcpy(h.e_ident, ident, EI_NIDENT);
		memcpy(out, &h, sizeof(h));
	}
	return off;
}

/* Offset of program header i in an image built above. */
static size_t phdr_off(bool is64, unsigned i)
{
	return is64 ? sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr)
		    : sizeof(Elf32_Ehdr) + i * sizeof(Elf32_Phdr);
}

/* Two segments: code+bss at 1 MiB, data at 2 MiB; entry inside the first. */
static const struct seg std_segs[] = {
	{ 0x100000, 0x3000, 0x5000 },
	{ 0x200000, 100, 100 },
};

static struct elf_spec std_spec(bool is64, unsigned desc_size)
{
	return (struct elf_spec){ .is64 = is64, .entry = 0x100010,
				  .desc_size = desc_size, .segs = std_segs,
				  .nseg = 2 };
}

static uint8_t img[64 * 1024];

/* ---- guests ---- */

/* ---- tests ---- */

static void check_segments(const struct guest *g)
{
	for (unsigned s = 0; s < 2; s++) {
		const uint8_t *p = g->buf + std_segs[s].paddr;

		for (uint64_t i = 0; i < std_segs[s].filesz; i++)
			assert_int_equal(p[i], seg_byte(s, i));
		assert_true(all_zero(p + std_segs[s].filesz,
				     std_segs[s].memsz - std_segs[s].filesz));
	}
}

static void test_load_elf64(void **state)
{
	struct elf_spec s = std_spec(true, 8);
	size_t len = build_elf(&s, img, sizeof(img));
	size_t initrd_len = 70000;
	uint8_t *initrd = malloc(initrd_len);
	struct guest g;
	struct e820_map map;
	struct boot_entry e;
	char err[256] = "";
	const uint8_t *si, *mod, *mm;

	(void)state;
	assert_non_null(initrd);
	for (size_t i = 0; i < initrd_len; i++)
		initrd[i] = (uint8_t)(i * 13);
	assert_int_equal(image_probe(img, len), IMAGE_PVH_ELF);
	guest_new(&g, 64 * MiB);
	/* Stale bytes where the bss goes: the loader must clear them. */
	memset(g.buf + 0x100000, 0xCC, 0x6000);
	e820_build(&g.m, &map);
	struct boot_params_in in = { .kernel = img, .kernel_len = len,
				     .initrd = initrd,
				     .initrd_len = initrd_len,
				     .cmdline = "console=ttyS0 pvh",
				     .e820 = &map };
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	check_segments(&g);
	assert_int_equal(g.buf[0x105000], 0xCC); /* past memsz: untouched */

	assert_int_equal(e.mode, BOOT_MODE_PROT32);
	assert_int_equal(e.rip, 0x100010);
	assert_int_equal(e.rbx, BOOT_START_INFO_ADDR);
	assert_int_equal(e.gdt_base, BOOT_GDT_ADDR);
	assert_int_equal(e.gdt_limit, BOOT_GDT_LIMIT);

	/* struct hvm_start_info, version 1. */
	si = g.buf + e.rbx;
	assert_int_equal(g32(si + 0), 0x336ec578);
	assert_int_equal(g32(si + 4), 1);
	assert_int_equal(g32(si + 8), 0);          /* flags */
	assert_int_equal(g32(si + 12), 1);         /* nr_modules */
	assert_int_equal(g64(si + 32), 0);         /* rsdp_paddr */
	assert_string_equal((const char *)g.buf + g64(si + 24),
			    "console=ttyS0 pvh");
	assert_int_equal(g64(si + 24), BOOT_CMDLINE_ADDR);

	/* Module list: the initrd, page aligned, above the segments, high. */
	mod = g.buf + g64(si + 16);
	uint64_t rd = g64(mod), rd_len = g64(mod + 8);

	assert_int_equal(rd_len, initrd_len);
	assert_int_equal(rd & 0xFFF, 0);
	assert_true(rd >= 0x200000 + 100);
	assert_true(rd + rd_len <= 64 * MiB && rd + rd_len + 4096 > 64 * MiB);
	assert_memory_equal(g.buf + rd, initrd, initrd_len);
	assert_int_equal(g64(mod + 16), 0); /* module cmdline */

	/* Memory map: the e820 map, 24-byte entries. */
	assert_int_equal(g32(si + 48), map.n);
	mm = g.buf + g64(si + 40);
	for (unsigned i = 0; i < map.n; i++) {
		assert_int_equal(g64(mm + 24 * i), map.e[i].addr);
		assert_int_equal(g64(mm + 24 * i + 8), map.e[i].size);
		assert_int_equal(g32(mm + 24 * i + 16), map.e[i].type);
	}
	/* The structures sit where boot.h documents, below the EBDA. */
	assert_true(g64(si + 16) > BOOT_START_INFO_ADDR &&
		    g64(si + 16) < BOOT_START_INFO_ADDR + 0x1000);
	assert_true(g64(si + 40) > BOOT_START_INFO_ADDR &&
		    g64(si + 40) + 24 * map.n <= BOOT_START_INFO_ADDR + 0x1000);

	/* GDT selector 0x08: present, flat 32-bit code (D=1, L=0). */
	uint64_t cs = g64(g.buf + BOOT_GDT_ADDR + 0x08);

	assert_int_equal(cs, 0x00CF9B000000FFFFULL);
	assert_int_equal(g64(g.buf + BOOT_GDT_ADDR + 0x18),
			 0x00CF93000000FFFFULL);
	free(initrd);
	free(g.buf);
}

static void test_load_elf32(void **state)
{
	struct elf_spec s = std_spec(false, 4);
	size_t len = build_elf(&s, img, sizeof(img));
	struct guest g;
	struct boot_entry e;
	char err[256] = "";
	const uint8_t *si;

	(void)state;
	assert_int_equal(image_probe(img, len), IMAGE_PVH_ELF);
	guest_new(&g, 16 * MiB);
	struct boot_params_in in = { .kernel = img, .kernel_len = len };
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	check_segments(&g);
	assert_int_equal(e.rip, 0x100010);
	si = g.buf + e.rbx;
	assert_int_equal(g32(si), 0x336ec578);
	assert_int_equal(g32(si + 12), 0); /* no modules */
	assert_int_equal(g64(si + 16), 0);
	assert_int_equal(g64(si + 24), 0); /* no command line */
	assert_int_equal(g32(si + 48), 4); /* e820_build's map */

	/* The other value sizes: ELF32 with 8 bytes, ELF64 with 4. */
	s.desc_size = 8;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(e.rip, 0x100010);
	s = std_spec(true, 4);
	s.entry = 0x200000;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(e.rip, 0x200000);
	free(g.buf);
}

static void test_cpu_state_prot32(void **state)
{
	struct boot_entry e = { .mode = BOOT_MODE_PROT32, .rip = 0x100010,
				.rbx = BOOT_START_INFO_ADDR,
				.gdt_base = BOOT_GDT_ADDR,
				.gdt_limit = BOOT_GDT_LIMIT };
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	const struct kvm_segment *data[] = { &sregs.ds, &sregs.es, &sregs.fs,
					     &sregs.gs, &sregs.ss };

	(void)state;
	memset(&regs, 0x55, sizeof(regs));
	memset(&sregs, 0, sizeof(sregs));
	sregs.apic_base = 0xFEE00900;
	sregs.interrupt_bitmap[0] = 42;
	boot_cpu_state(&e, &regs, &sregs);
	assert_int_equal(regs.rip, 0x100010);
	assert_int_equal(regs.rbx, BOOT_START_INFO_ADDR);
	assert_int_equal(regs.rflags, 0x2);
	assert_int_equal(regs.rsi, 0);
	assert_int_equal(sregs.apic_base, 0xFEE00900);
	assert_int_equal(sregs.interrupt_bitmap[0], 42);

	assert_int_equal(sregs.cs.selector, 0x08);
	assert_int_equal(sregs.cs.base, 0);
	assert_int_equal(sregs.cs.limit, 0xFFFFFFFF);
	assert_int_equal(sregs.cs.type, 0xB);
	assert_int_equal(sregs.cs.db, 1);
	assert_int_equal(sregs.cs.l, 0);
	assert_int_equal(sregs.cs.s, 1);
	assert_int_equal(sregs.cs.g, 1);
	assert_int_equal(sregs.cs.present, 1);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(data[i]->selector, 0x18);
		assert_int_equal(data[i]->type, 0x3);
		assert_int_equal(data[i]->limit, 0xFFFFFFFF);
		assert_int_equal(data[i]->db, 1);
		assert_int_equal(data[i]->present, 1);
		assert_int_equal(data[i]->unusable, 0);
	}
	assert_int_equal(sregs.tr.type, 0xB);
	assert_int_equal(sregs.tr.present, 1);
	assert_int_equal(sregs.tr.limit, 0x67);
	assert_int_equal(sregs.ldt.type, 0x2);
	assert_int_equal(sregs.ldt.present, 1);
	assert_int_equal(sregs.cr0, 0x11);
	assert_int_equal(sregs.cr3, 0);
	assert_int_equal(sregs.cr4, 0);
	assert_int_equal(sregs.efer, 0);
	assert_int_equal(sregs.gdt.base, BOOT_GDT_ADDR);
}

static void test_probe(void **state)
{
	struct elf_spec s = std_spec(true, 8);
	size_t len = build_elf(&s, img, sizeof(img));

	(void)state;
	assert_int_equal(image_probe(img, len), IMAGE_PVH_ELF);
	assert_int_equal(image_probe(img, 40), IMAGE_UNKNOWN);
	s.no_note = true;
	len = build_elf(&s, img, sizeof(img));
	assert_int_equal(image_probe(img, len), IMAGE_UNKNOWN);
	memset(img, 0, 1024);
	assert_int_equal(image_probe(img, 1024), IMAGE_UNKNOWN);
	assert_int_equal(image_probe(img, 0), IMAGE_UNKNOWN);
}

/* The error, a one-line reason, and not a byte written to the guest. */
static void expect_fail(struct guest *g, const struct boot_params_in *in,
			int want, const char *msg)
{
	struct boot_entry e;
	char err[256] = "";

	assert_int_equal(pvh_load(&g->m, in, &e, err, sizeof(err)), want);
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	if (msg)
		assert_string_equal(err, msg);
	assert_true(all_zero(g->buf, g->m.size));
}

/* Rebuilds the standard ELF64 image with one segment replaced. */
static size_t with_seg(struct seg s0)
{
	struct seg segs[2] = { s0, std_segs[1] };
	struct elf_spec s = std_spec(true, 8);

	s.segs = segs;
	s.entry = 0x200000; /* in the untouched second segment */
	return build_elf(&s, img, sizeof(img));
}

static void set_phdr64(unsigned i, size_t field, uint64_t v)
{
	memcpy(img + phdr_off(true, i) + field, &v, sizeof(v));
}

static void test_errors(void **state)
{
	struct guest g;
	struct elf_spec s;
	char cmd[5000];

	(void)state;
	guest_new(&g, 16 * MiB);
	struct boot_params_in in = { .kernel = img };

	/* Not ELF, wrong class/machine/type. */
	memset(img, 0x90, 4096);
	in.kernel_len = 4096;
	expect_fail(&g, &in, -ENOEXEC, "not an ELF file");
	s = std_spec(true, 8);
	s.machine = EM_AARCH64;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -ENOEXEC, NULL);
	s = std_spec(false, 4);
	s.machine = EM_X86_64; /* ELF32 must be EM_386 */
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -ENOEXEC, NULL);
	s = std_spec(true, 8);
	s.type = ET_DYN;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -ENOEXEC, NULL);
	in.kernel_len = build_elf(&s, img, sizeof(img));
	img[EI_CLASS] = 7;
	expect_fail(&g, &in, -ENOEXEC, NULL);

	/* No PHYS32 note. */
	s = std_spec(true, 8);
	s.no_note = true;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -ENOEXEC,
		    "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
	/* Note value of an odd size, or above 4 GiB. */
	s = std_spec(true, 2);
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -EINVAL, NULL);
	s = std_spec(true, 8);
	s.entry = 0x100100010ULL;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -EINVAL, NULL);
	/* Entry outside every loaded segment. */
	s.entry = 0x300000;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	expect_fail(&g, &in, -EINVAL, NULL);

	/* Truncated: ELF header, program headers, notes, segment data. */
	s = std_spec(true, 8);
	size_t full = build_elf(&s, img, sizeof(img));

	in.kernel_len = 40;
	expect_fail(&g, &in, -EINVAL, NULL);
	in.kernel_len = phdr_off(true, 2) + 10;
	expect_fail(&g, &in, -EINVAL, NULL);
	in.kernel_len = phdr_off(true, 3) + 30; /* inside the notes */
	expect_fail(&g, &in, -EINVAL, NULL);
	in.kernel_len = full - 1; /* last byte of segment 1 */
	expect_fail(&g, &in, -EINVAL, NULL);
	in.kernel_len = full;
	uint64_t phoff = UINT64_MAX - 8;

	memcpy(img + offsetof(Elf64_Ehdr, e_phoff), &phoff, 8);
	expect_fail(&g, &in, -EINVAL, NULL);
	build_elf(&s, img, sizeof(img));
	uint16_t phnum = 0xFFF0;

	memcpy(img + offsetof(Elf64_Ehdr, e_phnum), &phnum, 2);
	expect_fail(&g, &in, -EINVAL, NULL);
	build_elf(&s, img, sizeof(img));
	uint32_t namesz = 0xFFFFFFF0; /* first note claims 4 GiB of name */

	memcpy(img + phdr_off(true, 3), &namesz, 4);
	expect_fail(&g, &in, -EINVAL, NULL);

	/* Huge p_filesz, p_offset past the end, filesz > memsz. */
	build_elf(&s, img, sizeof(img));
	set_phdr64(0, offsetof(Elf64_Phdr, p_filesz), UINT64_MAX);
	set_phdr64(0, offsetof(Elf64_Phdr, p_memsz), UINT64_MAX);
	expect_fail(&g, &in, -EINVAL, NULL);
	build_elf(&s, img, sizeof(img));
	set_phdr64(0, offsetof(Elf64_Phdr, p_offset), UINT64_MAX - 0x10);
	expect_fail(&g, &in, -EINVAL, NULL);
	build_elf(&s, img, sizeof(img));
	set_phdr64(0, offsetof(Elf64_Phdr, p_filesz), 0x6000);
	expect_fail(&g, &in, -EINVAL, NULL);

	/* Segments outside RAM (past its end, wrapping, in the BIOS hole)
	 * or on the loader's own areas. */
	in.kernel_len = with_seg((struct seg){ 0xF00000, 0x1000, 0x200000 });
	expect_fail(&g, &in, -ENOMEM, NULL);
	in.kernel_len = with_seg((struct seg){ 0x40000000, 0x10, 0x10 });
	expect_fail(&g, &in, -ENOMEM, NULL);
	in.kernel_len = with_seg((struct seg){ UINT64_MAX - 0xFFF, 0x10,
					       0x2000 });
	expect_fail(&g, &in, -ENOMEM, NULL);
	in.kernel_len = with_seg((struct seg){ 0xA0000, 0x10, 0x10 });
	expect_fail(&g, &in, -ENOMEM, NULL);
	in.kernel_len = with_seg((struct seg){ 0x6800, 0x10, 0x10 });
	expect_fail(&g, &in, -EINVAL, NULL);
	in.kernel_len = with_seg((struct seg){ 0x1F000, 0x10, 0x2000 });
	expect_fail(&g, &in, -EINVAL, NULL);
	in.kernel_len = with_seg((struct seg){ 0x400, 0x200, 0x200 });
	expect_fail(&g, &in, -EINVAL, NULL);

	/* Command line: 4095 bytes fit, 4096 do not. */
	in.kernel_len = full;
	build_elf(&s, img, sizeof(img));
	memset(cmd, 'c', 4096);
	cmd[4096] = '\0';
	in.cmdline = cmd;
	expect_fail(&g, &in, -E2BIG, NULL);
	cmd[4095] = '\0';
	struct boot_entry e;
	char err[256];

	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(strlen((char *)g.buf + BOOT_CMDLINE_ADDR), 4095);
	memset(g.buf, 0, g.m.size);
	in.cmdline = NULL;

	/* An initrd that cannot fit; the loader fails before reading it. */
	static const uint8_t dummy[16];
	in.initrd = dummy;
	in.initrd_len = 15 * MiB;
	expect_fail(&g, &in, -ENOMEM, NULL);
	in.initrd = NULL;
	in.initrd_len = 0;
	free(g.buf);

	/* RAM too small for the loader's areas (segment fits, cmdline not). */
	s = std_spec(true, 8);
	struct seg tiny_seg[] = { { 0x8000, 0x100, 0x100 } };
	s.segs = tiny_seg;
	s.nseg = 1;
	s.entry = 0x8000;
	in.kernel_len = build_elf(&s, img, sizeof(img));
	guest_new(&g, 0x10000);
	expect_fail(&g, &in, -ENOMEM, NULL);
	free(g.buf);
}

/* Thousands of random corruptions of a valid image (fixed seed): the
 * loader may accept or reject each, but must stay in bounds, report one of
 * the documented errors, and agree with image_probe. Run under ASan. */
static void test_mutations(void **state)
{
	static uint8_t base[64 * 1024];
	uint8_t rd[3000];
	struct guest g;
	struct boot_entry e;
	char err[256];
	uint64_t x = 0x2545F4914F6CDD1DULL;
	int accepted = 0;

	(void)state;
	memset(rd, 0x77, sizeof(rd));
	guest_new(&g, 8 * MiB);
	for (int iter = 0; iter < 6000; iter++) {
		bool is64 = iter & 1;
		struct elf_spec s = std_spec(is64, (iter & 2) ? 8 : 4);

		size_t len = build_elf(&s, base, sizeof(base));

		memcpy(img, base, len);
		/* Mostly small byte edits in the headers and notes, some
		 * anywhere, some truncations. */
		int edits = 1 + (int)(x % 8);
		for (int k = 0; k < edits; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t hot = phdr_off(is64, 3) + 80;
			size_t off = (x >> 8) % ((x & 3) ? hot : len);
			static const uint8_t vals[] = { 0, 0xFF, 0x80, 0x7F,
							1, 4, 8, 18 };

			img[off] = (x >> 20) & 1 ? vals[(x >> 24) % 8]
						 : (uint8_t)(x >> 32);
		}
		if ((x >> 40) % 10 == 0)
			len = (x >> 44) % (len + 1);

		struct boot_params_in in = { .kernel = img, .kernel_len = len,
					     .initrd = rd,
					     .initrd_len = (x >> 50) & 1
							   ? sizeof(rd) : 0,
					     .cmdline = "x=1" };
		int rc = pvh_load(&g.m, &in, &e, err, sizeof(err));

		assert_true(rc == 0 || rc == -ENOEXEC || rc == -EINVAL ||
			    rc == -ENOMEM);
		if (rc == 0) {
			accepted++;
			assert_int_equal(image_probe(img, len), IMAGE_PVH_ELF);
			assert_true(e.rip < g.m.size);
		} else {
			assert_true(strlen(err) > 0);
		}
	}
	/* The mutations must not all be trivially rejected. */
	assert_true(accepted > 100);
	print_message("%d of 6000 mutated images accepted\n", accepted);
	free(g.buf);
}

/* Optional: a real PVH kernel, e.g. the vmlinux ELF extracted from the
 * Debian bzImage (see boot/README.md); skipped unless $VSB_PVH_KERNEL. */
static void test_real_vmlinux(void **state)
{
	const char *path = getenv("VSB_PVH_KERNEL");
	FILE *f = path ? fopen(path, "rb") : NULL;
	struct guest g;
	struct boot_entry e;
	char err[256] = "";
	uint8_t *buf;
	long n;

	(void)state;
	if (!f) {
		print_message("no $VSB_PVH_KERNEL: skipped\n");
		skip();
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	buf = malloc((size_t)n);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	assert_int_equal(image_probe(buf, (size_t)n), IMAGE_PVH_ELF);
	guest_new(&g, 512 * MiB);
	struct boot_params_in in = { .kernel = buf, .kernel_len = (size_t)n,
				     .cmdline = "console=ttyS0" };
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	print_message("PVH entry 0x%llx\n", (unsigned long long)e.rip);
	assert_true(e.rip >= BOOT_KERNEL_MIN && e.rip < g.m.size);
	free(buf);
	free(g.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_elf64),
		cmocka_unit_test(test_load_elf32),
		cmocka_unit_test(test_cpu_state_prot32),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_real_vmlinux),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
