/* PVH direct boot of an ELF kernel (the x86/HVM direct boot ABI that Xen
 * defined and QEMU, Firecracker and Cloud Hypervisor implement).
 *
 * The kernel advertises a 32-bit physical entry point in an ELF note
 * (owner "Xen", type XEN_ELFNOTE_PHYS32_ENTRY). The loader copies the
 * PT_LOAD segments to their physical addresses, builds a struct
 * hvm_start_info, and starts the vCPU in flat 32-bit protected mode with
 * paging off and EBX pointing at the start info.
 *
 * Guest-physical layout (see boot.h):
 *   0x00500  GDT shared with the Linux loader; CS = 0x08 (32-bit code),
 *            DS/ES/SS = 0x18 (flat data), TR = 0x20
 *   0x06000  struct hvm_start_info (56 bytes)
 *   0x06040  module list: one struct hvm_modlist_entry for the initrd
 *   0x06080  memory map: struct hvm_memmap_table_entry[], up to E820_MAX
 *   0x20000  command line, at most BOOT_PVH_CMDLINE_MAX bytes + NUL
 *   high     initrd, page aligned, as high as RAM below 4 GiB allows and
 *            above every loaded segment
 *
 * The image is untrusted input: every offset and size is checked against
 * the file and against guest RAM before anything is written, so a rejected
 * image leaves guest memory untouched. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot_priv.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578
#define HVM_START_VERSION        1 /* version 1 adds the memory map */

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* The ABI fixes these layouts; the guest reads them at these offsets. */
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info size");
_Static_assert(offsetof(struct hvm_start_info, memmap_paddr) == 40,
	       "memmap_paddr offset");
_Static_assert(offsetof(struct hvm_start_info, memmap_entries) == 48,
	       "memmap_entries offset");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "modlist entry size");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24,
	       "memmap entry size");

#define START_INFO_ADDR BOOT_START_INFO_ADDR
#define MODLIST_ADDR    (BOOT_START_INFO_ADDR + 0x40)
#define MEMMAP_ADDR     (BOOT_START_INFO_ADDR + 0x80)
#define START_INFO_AREA 0x1000ULL
_Static_assert(0x80 + E820_MAX * sizeof(struct hvm_memmap_table_entry) <=
		       START_INFO_AREA,
	       "memmap fits in the start info page");

/* The loader's own areas; a segment landing on one would be clobbered. */
static const struct {
	uint64_t addr, len;
	const char *what;
} fixed_areas[] = {
	{ BOOT_GDT_ADDR, BOOT_GDT_LIMIT + 1, "GDT" },
	{ START_INFO_ADDR, START_INFO_AREA, "start info" },
	{ BOOT_CMDLINE_ADDR, BOOT_PVH_CMDLINE_MAX + 1, "command line" },
};

/* The ELF header fields we use, widened from ELF32 or ELF64. */
struct elf_info {
	bool is64;
	uint64_t phoff;
	uint16_t phnum;
	uint16_t phentsize;
};

/* One program header, widened likewise. */
struct phdr {
	uint32_t type;
	uint64_t offset, filesz, memsz, paddr, align;
};

static int elf_parse(const uint8_t *img, size_t len, struct elf_info *ei,
		     char *err, size_t errlen)
{
	uint16_t type, machine, want_machine;
	size_t ehsize, phsize;

	if (!img || len < EI_NIDENT || memcmp(img, ELFMAG, SELFMAG) != 0)
		return boot_fail(err, errlen, -ENOEXEC, "not an ELF file");
	if (img[EI_CLASS] == ELFCLASS64) {
		ei->is64 = true;
		ehsize = sizeof(Elf64_Ehdr);
		phsize = sizeof(Elf64_Phdr);
		want_machine = EM_X86_64;
	} else if (img[EI_CLASS] == ELFCLASS32) {
		ei->is64 = false;
		ehsize = sizeof(Elf32_Ehdr);
		phsize = sizeof(Elf32_Phdr);
		want_machine = EM_386;
	} else {
		return boot_fail(err, errlen, -ENOEXEC,
				 "unsupported ELF class %u", img[EI_CLASS]);
	}
	if (img[EI_DATA] != ELFDATA2LSB)
		return boot_fail(err, errlen, -ENOEXEC,
				 "not a little-endian ELF file");
	if (len < ehsize)
		return boot_fail(err, errlen, -EINVAL,
				 "ELF header truncated (%zu bytes)", len);
	/* Host and image are both little-endian x86, so the fields are read
	 * with memcpy into glibc's structs (no unaligned pointer casts). */
	if (ei->is64) {
		Elf64_Ehdr eh;

		memcpy(&eh, img, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		ei->phoff = eh.e_phoff;
		ei->phnum = eh.e_phnum;
		ei->phentsize = eh.e_phentsize;
	} else {
		Elf32_Ehdr eh;

		memcpy(&eh, img, sizeof(eh));
		type = eh.e_type;
		machine = eh.e_machine;
		ei->phoff = eh.e_phoff;
		ei->phnum = eh.e_phnum;
		ei->phentsize = eh.e_phentsize;
	}
	if (type != ET_EXEC)
		return boot_fail(err, errlen, -ENOEXEC,
				 "not an ELF executable (e_type %u)", type);
	if (machine != want_machine)
		return boot_fail(err, errlen, -ENOEXEC,
				 "wrong ELF machine %u for ELF%d", machine,
				 ei->is64 ? 64 : 32);
	/* PN_XNUM moves the count into section 0; no kernel needs that. */
	if (ei->phnum == 0 || ei->phnum == PN_XNUM)
		return boot_fail(err, errlen, -EINVAL,
				 "unsupported program header count %u",
				 ei->phnum);
	if (ei->phentsize < phsize)
		return boot_fail(err, errlen, -EINVAL,
				 "program header entry size %u too small",
				 ei->phentsize);
	if (!in_file(ei->phoff, (uint64_t)ei->phnum * ei->phentsize, len))
		return boot_fail(err, errlen, -EINVAL,
				 "program headers truncated: %u x %u bytes at "
				 "0x%llx, file is %zu bytes",
				 ei->phnum, ei->phentsize,
				 (unsigned long long)ei->phoff, len);
	return 0;
}

/* Program header i; elf_parse has checked that the table is in the file. */
static struct phdr elf_phdr(const uint8_t *img, const struct elf_info *ei,
			    unsigned i)
{
	const uint8_t *p = img + ei->phoff + (uint64_t)i * ei->phentsize;
	struct phdr ph;

	if (ei->is64) {
		Elf64_Phdr h;

		memcpy(&h, p, sizeof(h));
		ph = (struct phdr){ h.p_type, h.p_offset, h.p_filesz,
				    h.p_memsz, h.p_paddr, h.p_align };
	} else {
		Elf32_Phdr h;

		memcpy(&h, p, sizeof(h));
		ph = (struct phdr){ h.p_type, h.p_offset, h.p_filesz,
				    h.p_memsz, h.p_paddr, h.p_align };
	}
	return ph;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1); /* v < 2^33 here: no overflow */
}

/* Scans the notes of one PT_NOTE segment for the PHYS32 entry note.
 * 1 when found (entry set), 0 when absent, -EINVAL when malformed. */
static int scan_notes(const uint8_t *img, const struct phdr *ph,
		      uint64_t *entry, char *err, size_t errlen)
{
	/* Each note is a 12-byte header (namesz, descsz, type), the name,
	 * then the descriptor; name and descriptor end on a 4-byte boundary,
	 * or 8 in a segment aligned so (gABI; GNU property notes do this). */
	uint64_t a = ph->align == 8 ? 8 : 4;
	const uint8_t *p = img + ph->offset;
	uint64_t left = ph->filesz;

	while (left >= 12) {
		uint32_t namesz = rd32(p), descsz = rd32(p + 4);
		uint32_t type = rd32(p + 8);
		/* 32-bit sizes in 64-bit sums: these cannot overflow. */
		uint64_t desc_off = align_up(12 + (uint64_t)namesz, a);
		uint64_t next = align_up(desc_off + descsz, a);
		const uint8_t *desc = p + desc_off;

		if (desc_off + descsz > left)
			return boot_fail(err, errlen, -EINVAL,
					 "ELF note truncated (name %u, desc %u "
					 "bytes, %llu left)",
					 namesz, descsz,
					 (unsigned long long)left);
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(p + 12, "Xen", 4) == 0) {
			/* The entry is stored as a 32- or 64-bit value
			 * depending on the toolchain; accept both. */
			if (descsz == 4) {
				*entry = rd32(desc);
			} else if (descsz == 8) {
				*entry = rd64(desc);
			} else {
				return boot_fail(err, errlen, -EINVAL,
						 "PHYS32_ENTRY note has a "
						 "%u-byte value", descsz);
			}
			return 1;
		}
		/* The last note's padding may lie past the segment's end. */
		if (next >= left)
			break;
		p += next;
		left -= next;
	}
	return 0;
}

int pvh_find_entry(const uint8_t *img, size_t len, uint32_t *entry, char *err,
		   size_t errlen)
{
	struct elf_info ei;
	int rc = elf_parse(img, len, &ei, err, errlen);

	if (rc)
		return rc;
	for (unsigned i = 0; i < ei.phnum; i++) {
		struct phdr ph = elf_phdr(img, &ei, i);
		uint64_t e = 0;

		if (ph.type != PT_NOTE)
			continue;
		if (!in_file(ph.offset, ph.filesz, len))
			return boot_fail(err, errlen, -EINVAL,
					 "note segment %u lies outside the "
					 "file", i);
		rc = scan_notes(img, &ph, &e, err, errlen);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			/* The protocol starts the CPU in 32-bit mode. */
			if (e > UINT32_MAX)
				return boot_fail(err, errlen, -EINVAL,
						 "PVH entry 0x%llx is above 4 "
						 "GiB", (unsigned long long)e);
			*entry = (uint32_t)e;
			return 0;
		}
	}
	return boot_fail(err, errlen, -ENOEXEC,
			 "not a PVH kernel: no XEN_ELFNOTE_PHYS32_ENTRY note");
}

/* Checks one PT_LOAD segment against the file, guest RAM and the loader's
 * areas. */
static int check_segment(const struct guest_mem *m,
			 const struct e820_map *map, size_t len, unsigned i,
			 const struct phdr *ph, char *err, size_t errlen)
{
	if (ph->filesz > ph->memsz)
		return boot_fail(err, errlen, -EINVAL,
				 "segment %u: file size 0x%llx exceeds memory "
				 "size 0x%llx",
				 i, (unsigned long long)ph->filesz,
				 (unsigned long long)ph->memsz);
	if (!in_file(ph->offset, ph->filesz, len))
		return boot_fail(err, errlen, -EINVAL,
				 "segment %u: 0x%llx bytes at offset 0x%llx "
				 "lie outside the %zu-byte file",
				 i, (unsigned long long)ph->filesz,
				 (unsigned long long)ph->offset, len);
	if (!e820_usable(map, m, ph->paddr, ph->memsz))
		return boot_fail(err, errlen, -ENOMEM,
				 "segment %u: [0x%llx, +0x%llx) is not in "
				 "guest RAM",
				 i, (unsigned long long)ph->paddr,
				 (unsigned long long)ph->memsz);
	for (size_t f = 0; f < sizeof(fixed_areas) / sizeof(fixed_areas[0]);
	     f++) {
		if (ranges_overlap(ph->paddr, ph->memsz, fixed_areas[f].addr,
				   fixed_areas[f].len))
			return boot_fail(err, errlen, -EINVAL,
					 "segment %u: [0x%llx, +0x%llx) "
					 "overlaps the loader's %s at 0x%llx",
					 i, (unsigned long long)ph->paddr,
					 (unsigned long long)ph->memsz,
					 fixed_areas[f].what,
					 (unsigned long long)
						 fixed_areas[f].addr);
	}
	return 0;
}

int pvh_load(const struct guest_mem *m, const struct boot_params_in *in,
	     struct boot_entry *out, char *err, size_t errlen)
{
	const struct e820_map *map = in->e820;
	struct e820_map built;
	struct elf_info ei;
	uint32_t entry;
	uint64_t seg_end = BOOT_KERNEL_MIN, initrd_addr = 0;
	bool entry_loaded = false;
	size_t cmdline_len = in->cmdline ? strlen(in->cmdline) : 0;
	int rc;

	if (!map) {
		e820_build(m, &built);
		map = &built;
	}
	rc = pvh_find_entry(in->kernel, in->kernel_len, &entry, err, errlen);
	if (rc)
		return rc;
	elf_parse(in->kernel, in->kernel_len, &ei, NULL, 0); /* succeeded */
	if (cmdline_len > BOOT_PVH_CMDLINE_MAX)
		return boot_fail(err, errlen, -E2BIG,
				 "command line is %zu bytes, PVH limit is %d",
				 cmdline_len, BOOT_PVH_CMDLINE_MAX);
	if (in->initrd_len && !in->initrd)
		return boot_fail(err, errlen, -EINVAL, "initrd length without "
				 "data");

	/* Pass 1: validate everything, so failures write nothing. */
	for (unsigned i = 0; i < ei.phnum; i++) {
		struct phdr ph = elf_phdr(in->kernel, &ei, i);

		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		rc = check_segment(m, map, in->kernel_len, i, &ph, err,
				   errlen);
		if (rc)
			return rc;
		if (ph.paddr + ph.memsz > seg_end)
			seg_end = ph.paddr + ph.memsz;
		if (entry >= ph.paddr && entry - ph.paddr < ph.memsz)
			entry_loaded = true;
	}
	if (!entry_loaded)
		return boot_fail(err, errlen, -EINVAL,
				 "PVH entry 0x%x is not inside a loaded "
				 "segment", entry);
	for (size_t f = 0; f < sizeof(fixed_areas) / sizeof(fixed_areas[0]);
	     f++) {
		if (!gmem_ptr(m, fixed_areas[f].addr, fixed_areas[f].len))
			return boot_fail(err, errlen, -ENOMEM,
					 "guest RAM too small for the loader's "
					 "%s at 0x%llx", fixed_areas[f].what,
					 (unsigned long long)
						 fixed_areas[f].addr);
	}
	if (in->initrd_len) {
		/* Like Linux: as high as possible in low RAM, above the
		 * kernel so that its bss and early allocations are safe. */
		initrd_addr = e820_place_high(map, m, seg_end, m->low_size,
					      in->initrd_len);
		if (!initrd_addr)
			return boot_fail(err, errlen, -ENOMEM,
					 "initrd of %zu bytes does not fit in "
					 "RAM between 0x%llx and 0x%llx",
					 in->initrd_len,
					 (unsigned long long)seg_end,
					 (unsigned long long)m->low_size);
	}

	/* Pass 2: write. Every range below was checked in pass 1. */
	for (unsigned i = 0; i < ei.phnum; i++) {
		struct phdr ph = elf_phdr(in->kernel, &ei, i);
		uint8_t *dst;

		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		dst = gmem_ptr(m, ph.paddr, ph.memsz);
		memcpy(dst, in->kernel + ph.offset, ph.filesz);
		memset(dst + ph.filesz, 0, ph.memsz - ph.filesz); /* bss */
	}
	if (in->initrd_len)
		memcpy(gmem_ptr(m, initrd_addr, in->initrd_len), in->initrd,
		       in->initrd_len);

	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = HVM_START_VERSION,
		.memmap_paddr = MEMMAP_ADDR,
		.rsdp_paddr = in->rsdp, /* 0: none, the kernel scans for it */
	};
	memset(gmem_ptr(m, START_INFO_ADDR, START_INFO_AREA), 0,
	       START_INFO_AREA);
	if (in->cmdline) {
		memcpy(gmem_ptr(m, BOOT_CMDLINE_ADDR, cmdline_len + 1),
		       in->cmdline, cmdline_len + 1);
		si.cmdline_paddr = BOOT_CMDLINE_ADDR;
	}
	if (in->initrd_len) {
		struct hvm_modlist_entry mod = { .paddr = initrd_addr,
						 .size = in->initrd_len };

		memcpy(gmem_ptr(m, MODLIST_ADDR, sizeof(mod)), &mod,
		       sizeof(mod));
		si.nr_modules = 1;
		si.modlist_paddr = MODLIST_ADDR;
	}
	for (unsigned i = 0; i < map->n && i < E820_MAX; i++) {
		struct hvm_memmap_table_entry me = { .addr = map->e[i].addr,
						     .size = map->e[i].size,
						     .type = map->e[i].type };

		memcpy(gmem_ptr(m, MEMMAP_ADDR + i * sizeof(me), sizeof(me)),
		       &me, sizeof(me));
		si.memmap_entries++;
	}
	memcpy(gmem_ptr(m, START_INFO_ADDR, sizeof(si)), &si, sizeof(si));
	boot_write_gdt(m); /* in RAM: checked with the fixed areas */

	memset(out, 0, sizeof(*out));
	out->mode = BOOT_MODE_PROT32;
	out->rip = entry;
	out->rbx = START_INFO_ADDR;
	out->gdt_base = BOOT_GDT_ADDR;
	out->gdt_limit = BOOT_GDT_LIMIT;
	return 0;
}
