/* See x86_walk.h. The walk follows the SDM (vol. 3, 4.5 "4-level and
 * 5-level paging"): each level indexes 9 bits of the address; PS in a PDPT
 * or PD entry maps a 1 GiB or 2 MiB page; PS in a PML5/PML4 entry and
 * address bits beyond MAXPHYADDR are reserved. Access rights (R/W, U/S,
 * XD) are not checked: introspection reads what the kernel could. */
#include "x86_walk.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define PTE_P  (1ull << 0)
#define PTE_PS (1ull << 7)
#define PAGE_SHIFT 12
#define PAGE_SIZE (1ull << PAGE_SHIFT)

static const char *const level_name[] = { "", "PT", "PD", "PDPT", "PML4",
					  "PML5" };

int vmi_x86_pt_init(struct vmi_x86_pt *pt, struct vmi_mem *mem,
		    unsigned levels)
{
	memset(pt, 0, sizeof(*pt));
	pt->mem = mem;
	pt->maxphyaddr = 52;
	return vmi_x86_set_levels(pt, levels);
}

unsigned vmi_x86_levels(uint64_t cr4)
{
	return cr4 & VMI_CR4_LA57 ? 5 : 4;
}

int vmi_x86_set_levels(struct vmi_x86_pt *pt, unsigned levels)
{
	if (levels != 4 && levels != 5)
		return -EINVAL;
	if (pt->levels != levels)
		vmi_x86_invalidate(pt);
	pt->levels = levels;
	return 0;
}

void vmi_x86_invalidate(struct vmi_x86_pt *pt)
{
	memset(pt->cache, 0, sizeof(pt->cache));
}

int vmi_x86_canonical(const struct vmi_x86_pt *pt, uint64_t va)
{
	unsigned bits = pt->levels == 5 ? 57 : 48;
	int64_t s = (int64_t)(va << (64 - bits)) >> (64 - bits);

	return (uint64_t)s == va;
}

static struct vmi_x86_tentry *slot(struct vmi_x86_pt *pt, uint64_t cr3,
				   uint64_t vpage)
{
	uint64_t h = vpage ^ (vpage >> 6) ^ (cr3 >> PAGE_SHIFT);

	return &pt->cache[h % VMI_X86_TCACHE_SIZE];
}

static int fault(struct vmi_x86_fault *f, enum vmi_x86_fault_kind kind,
		 unsigned level, uint64_t table, uint64_t entry, int ret)
{
	if (f)
		*f = (struct vmi_x86_fault){ kind, level, table, entry };
	return ret;
}

/* Reserved bits of an entry at level (present assumed): address bits at
 * or above MAXPHYADDR, PS at levels 4 and 5, and the bits between the
 * PAT bit (12) and a large page's address. */
static uint64_t reserved_mask(const struct vmi_x86_pt *pt, unsigned level,
			      uint64_t e)
{
	uint64_t m = 0;

	if (pt->maxphyaddr < 52)
		m |= ((1ull << 52) - 1) & ~((1ull << pt->maxphyaddr) - 1);
	if (level >= 4)
		m |= PTE_PS;
	else if (level == 3 && (e & PTE_PS))
		m |= ((1ull << 30) - 1) & ~((1ull << 13) - 1);
	else if (level == 2 && (e & PTE_PS))
		m |= ((1ull << 21) - 1) & ~((1ull << 13) - 1);
	return m;
}

static int walk(struct vmi_x86_pt *pt, uint64_t root, uint64_t va,
		uint64_t *pa, struct vmi_x86_fault *f)
{
	const uint64_t addr_mask = ((1ull << 52) - 1) & ~(PAGE_SIZE - 1);
	uint64_t table = root;

	/* Bounded: one entry per level, levels <= 5. */
	for (unsigned level = pt->levels; level >= 1; level--) {
		unsigned shift = PAGE_SHIFT + 9 * (level - 1);
		uint64_t idx = (va >> shift) & 511, e;

		if (vmi_read_u64_pa(pt->mem, table + idx * 8, &e) < 0)
			return fault(f, VMI_XF_TABLE_OUTSIDE_RAM, level, table,
				     0, -EFAULT);
		if (!(e & PTE_P))
			return fault(f, VMI_XF_NOT_PRESENT, level, table, e,
				     -ENOENT);
		if (e & reserved_mask(pt, level, e))
			return fault(f, VMI_XF_RESERVED, level, table, e,
				     -EIO);
		if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
			uint64_t size = 1ull << shift;
			/* A large page's PAT bit (12) is not address. */
			uint64_t base = e & addr_mask & ~(size - 1);

			*pa = base | (va & (size - 1));
			return fault(f, VMI_XF_NONE, level, table, e, 0);
		}
		table = e & addr_mask;
	}
	return -EINVAL; /* not reached: level 1 always ends the walk */
}

int vmi_x86_translate(struct vmi_x86_pt *pt, uint64_t cr3, uint64_t va,
		      uint64_t *pa, struct vmi_x86_fault *f)
{
	/* CR3 bits 51:12 hold the root; low bits are PCID or PWT/PCD,
	 * bit 63 is no-flush: none are address. */
	uint64_t root = cr3 & ((1ull << 52) - 1) & ~(PAGE_SIZE - 1);
	uint64_t vpage = va >> PAGE_SHIFT, p;
	struct vmi_x86_tentry *t;
	int ret;

	if (!vmi_x86_canonical(pt, va))
		return fault(f, VMI_XF_NONCANONICAL, pt->levels, root, 0,
			     -EINVAL);
	t = slot(pt, root, vpage);
	if (t->valid && t->cr3 == root && t->vpage == vpage) {
		pt->hits++;
		*pa = t->ppage | (va & (PAGE_SIZE - 1));
		return fault(f, VMI_XF_NONE, 0, 0, 0, 0);
	}
	pt->misses++;
	ret = walk(pt, root, va, &p, f);
	if (ret < 0)
		return ret;
	*t = (struct vmi_x86_tentry){ .cr3 = root, .vpage = vpage,
				      .ppage = p & ~(PAGE_SIZE - 1),
				      .valid = 1 };
	*pa = p;
	return 0;
}

const char *vmi_x86_fault_str(const struct vmi_x86_fault *f, char *buf,
			      size_t len)
{
	const char *lv = f->level <= 5 ? level_name[f->level] : "?";

	switch (f->kind) {
	case VMI_XF_NONE:
		snprintf(buf, len, "translated");
		break;
	case VMI_XF_NONCANONICAL:
		snprintf(buf, len, "non-canonical address");
		break;
	case VMI_XF_NOT_PRESENT:
		snprintf(buf, len, "not present at level %u (%s at 0x%" PRIx64
			 ", entry 0x%" PRIx64 ")", f->level, lv, f->table,
			 f->entry);
		break;
	case VMI_XF_RESERVED:
		snprintf(buf, len, "reserved bit set at level %u (%s at 0x%"
			 PRIx64 ", entry 0x%" PRIx64 ")", f->level, lv,
			 f->table, f->entry);
		break;
	case VMI_XF_TABLE_OUTSIDE_RAM:
		snprintf(buf, len, "level %u table (%s) at 0x%" PRIx64
			 " is outside guest RAM", f->level, lv, f->table);
		break;
	default:
		snprintf(buf, len, "unknown fault");
	}
	return buf;
}

ssize_t vmi_read_va(struct vmi_x86_pt *pt, uint64_t cr3, uint64_t va,
		    void *buf, size_t len)
{
	size_t done = 0;

	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	while (done < len) {
		uint64_t at = va + done, pa;
		size_t chunk = PAGE_SIZE - (at & (PAGE_SIZE - 1));
		int ret;

		if (at < va) /* wrapped past 2^64 */
			break;
		if (chunk > len - done)
			chunk = len - done;
		ret = vmi_x86_translate(pt, cr3, at, &pa, NULL);
		if (ret == 0)
			ret = vmi_read_pa_full(pt->mem, pa,
					       (uint8_t *)buf + done, chunk);
		if (ret < 0) {
			if (done)
				break;
			return ret;
		}
		done += chunk;
	}
	if (done == 0 && len)
		return -EFAULT;
	return done;
}

int vmi_read_u64_va(struct vmi_x86_pt *pt, uint64_t cr3, uint64_t va,
		    uint64_t *v)
{
	ssize_t n = vmi_read_va(pt, cr3, va, v, sizeof(*v));

	if (n < 0)
		return n;
	return n == sizeof(*v) ? 0 : -EFAULT;
}
