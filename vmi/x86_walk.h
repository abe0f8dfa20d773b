/* x86-64 virtual-to-physical translation over a vmi_mem: 4-level and
 * 5-level (CR4.LA57) paging, 1 GiB and 2 MiB pages, with a small cache.
 *
 * The cache rule: translations are cached by (cr3, virtual page) and never
 * expire by themselves. Call vmi_x86_invalidate() whenever the guest may
 * have run since the last translation (after every resume, single-step or
 * any moment the guest was not paused), or after writing guest memory; a
 * paused guest or a core file never needs it. Failed walks are never
 * cached. */
#ifndef VSB_VMI_X86_WALK_H
#define VSB_VMI_X86_WALK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmi_mem.h"

#define VMI_X86_TCACHE_SIZE 64

enum vmi_x86_fault_kind {
	VMI_XF_NONE,
	VMI_XF_NONCANONICAL, /* -EINVAL */
	VMI_XF_NOT_PRESENT,  /* -ENOENT: P clear in the entry at `level` */
	VMI_XF_RESERVED,     /* -EIO: a reserved bit set at `level` */
	VMI_XF_TABLE_OUTSIDE_RAM, /* -EFAULT: the table at `level` unreadable */
};

/* Where a walk stopped. Levels count as the SDM does: 5 PML5, 4 PML4,
 * 3 PDPT, 2 PD, 1 PT. */
struct vmi_x86_fault {
	enum vmi_x86_fault_kind kind;
	unsigned level;
	uint64_t table; /* physical address of the table read at `level` */
	uint64_t entry; /* its entry (not present / reserved) */
};

struct vmi_x86_tentry {
	uint64_t cr3;   /* page-table root, low 12 bits cleared */
	uint64_t vpage; /* va >> 12 */
	uint64_t ppage; /* physical address of the 4 KiB page */
	int valid;
};

struct vmi_x86_pt {
	struct vmi_mem *mem;
	unsigned levels;     /* 4, or 5 with CR4.LA57 */
	unsigned maxphyaddr; /* physical address bits (52 unless told) */
	struct vmi_x86_tentry cache[VMI_X86_TCACHE_SIZE];
	uint64_t hits, misses;
};

/* levels: 4 or 5 (vmi_x86_levels(cr4)); -EINVAL otherwise. */
int vmi_x86_pt_init(struct vmi_x86_pt *pt, struct vmi_mem *mem,
		    unsigned levels);
unsigned vmi_x86_levels(uint64_t cr4);
/* Changing the paging mode drops the cache. */
int vmi_x86_set_levels(struct vmi_x86_pt *pt, unsigned levels);
void vmi_x86_invalidate(struct vmi_x86_pt *pt);

/* Whether va is canonical for the paging mode (48 or 57 bits). */
int vmi_x86_canonical(const struct vmi_x86_pt *pt, uint64_t va);
/* Translates va through the tables at cr3 (CR3's flag and PCID bits are
 * ignored). 0 with *pa set, or a -errno as listed with the fault kinds;
 * f (optional) says where the walk stopped. */
int vmi_x86_translate(struct vmi_x86_pt *pt, uint64_t cr3, uint64_t va,
		      uint64_t *pa, struct vmi_x86_fault *f);
/* "not present at level 3 (PDPT at 0x2000, entry 0x0)" etc. */
const char *vmi_x86_fault_str(const struct vmi_x86_fault *f, char *buf,
			      size_t len);

/* Like vmi_read_pa on virtual addresses, translating page by page: len
 * when all was read, a short count when an unmapped or unreadable page
 * starts after that many bytes, or the error of the first page. */
ssize_t vmi_read_va(struct vmi_x86_pt *pt, uint64_t cr3, uint64_t va,
		    void *buf, size_t len);
int vmi_read_u64_va(struct vmi_x86_pt *pt, uint64_t cr3, uint64_t va,
		    uint64_t *v);

#endif
