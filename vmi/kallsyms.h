/* Kernel symbols from the kernel's own kallsyms tables (CONFIG_KALLSYMS),
 * found by their shape in a kernel image: guest-physical memory of a
 * running or dumped guest, or a vmlinux file. No System.map is needed:
 * Debian ships a placeholder one, and a guest may run a kernel other than
 * the one an administrator believes. Addresses are as the tables give
 * them: in guest memory they already carry the KASLR offset (the tables'
 * relative base is relocated at boot), in a vmlinux file they do not.
 *
 * Layout handled (scripts/kallsyms.c, 4.6 and later, 64-bit,
 * base-relative with absolute per-CPU symbols, names of up to 1024 bytes):
 * kallsyms_offsets, kallsyms_relative_base, kallsyms_num_syms,
 * kallsyms_names, kallsyms_markers, [kallsyms_seqs_of_names: 6.2, and
 * Debian's 6.1.192 by backport], kallsyms_token_table,
 * kallsyms_token_index, each 8-byte aligned. See README.md. */
#ifndef VSB_VMI_KALLSYMS_H
#define VSB_VMI_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

#include "vmi_mem.h"

struct vmi_kallsyms;

/* Where the tables were found (byte offsets in the parsed buffer, or
 * guest-physical addresses after vmi_kallsyms_scan). */
struct vmi_kallsyms_where {
	uint64_t offsets, relative_base, num_syms, names, markers,
		 token_table, token_index;
};

/* Finds the tables inside buf (any bytes; a kernel image somewhere in it)
 * and decodes every symbol. 0 with *out set, -ENOENT when no tables are
 * found, -EINVAL when tables are found but inconsistent (one line in err
 * saying what). Never reads outside buf. where may be NULL. */
int vmi_kallsyms_parse(const void *buf, size_t len,
		       struct vmi_kallsyms **out,
		       struct vmi_kallsyms_where *where, char *err,
		       size_t errlen);

/* Scans guest-physical memory for the tables (the kernel image is
 * physically contiguous) and parses them; where holds guest-physical
 * addresses. Bounded: reads each RAM byte at most a few times. */
int vmi_kallsyms_scan(struct vmi_mem *m, struct vmi_kallsyms **out,
		      struct vmi_kallsyms_where *where, char *err,
		      size_t errlen);

void vmi_kallsyms_free(struct vmi_kallsyms *k);

size_t vmi_kallsyms_count(const struct vmi_kallsyms *k);
/* kallsyms_relative_base: the address of _text as the tables give it. */
uint64_t vmi_kallsyms_relative_base(const struct vmi_kallsyms *k);

/* The i-th symbol in table order: name (valid while k lives), address and
 * type letter ('T', 't', 'D', 'b', ...). -ENOENT past the end. */
int vmi_kallsyms_get(const struct vmi_kallsyms *k, size_t i,
		     const char **name, uint64_t *addr, char *type);
/* By exact name; the first in table order when a static name repeats.
 * 0 or -ENOENT. type may be NULL. */
int vmi_kallsyms_lookup(const struct vmi_kallsyms *k, const char *name,
			uint64_t *addr, char *type);
/* The symbol with the highest address <= addr (ties: first in table
 * order); *off = addr - its address. NULL when addr is below every
 * symbol. */
const char *vmi_kallsyms_symbolize(const struct vmi_kallsyms *k,
				   uint64_t addr, uint64_t *off);

#endif
