/* The guest's physical memory map, as handed to Linux (boot_params e820
 * table) and to PVH kernels (hvm_start_info memmap). */
#include <errno.h>
#include <string.h>

#include "boot_priv.h"

#define EBDA_START 0x9FC00ULL  /* extended BIOS data area: last 1 KiB below */
#define EBDA_END   0xA0000ULL  /* the VGA window, reserved as on real PCs */
#define BIOS_START 0xF0000ULL  /* system BIOS area; kernels scan it for */
#define BIOS_END   0x100000ULL /* tables, so it must not be called RAM */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

void e820_build(const struct guest_mem *m, struct e820_map *out)
{
	memset(out, 0, sizeof(*out));
	/* Conventional memory, clipped for (test) guests smaller than 640 KiB. */
	if (m->low_size > 0)
		e820_add(out, 0, min_u64(m->low_size, EBDA_START), E820_RAM);
	/* The two holes describe address space, not RAM, so they are listed
	 * whatever the RAM size: a kernel must never allocate there. */
	e820_add(out, EBDA_START, EBDA_END - EBDA_START, E820_RESERVED);
	e820_add(out, BIOS_START, BIOS_END - BIOS_START, E820_RESERVED);
	if (m->low_size > BIOS_END)
		e820_add(out, BIOS_END, m->low_size - BIOS_END, E820_RAM);
	/* RAM that does not fit below the PCI hole is remapped at 4 GiB. */
	if (m->size > m->low_size)
		e820_add(out, GMEM_HIGH_BASE, m->size - m->low_size, E820_RAM);
}

int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0 || addr + size < addr)
		return -EINVAL;
	if (map->n >= E820_MAX)
		return -ENOSPC;
	map->e[map->n].addr = addr;
	map->e[map->n].size = size;
	map->e[map->n].type = type;
	map->n++;
	return 0;
}

/* An entry's end, saturated: a hand-built map may hold wrapping entries. */
static uint64_t entry_end(const struct e820_entry *e)
{
	return e->addr + e->size < e->addr ? UINT64_MAX : e->addr + e->size;
}

bool e820_usable(const struct e820_map *map, const struct guest_mem *m,
		 uint64_t addr, uint64_t len)
{
	bool in_ram = false;

	if (len == 0 || addr + len < addr || !gmem_ptr(m, addr, len))
		return false;
	for (unsigned i = 0; i < map->n && i < E820_MAX; i++) {
		const struct e820_entry *e = &map->e[i];
		uint64_t end = entry_end(e);

		if (e->type == E820_RAM) {
			if (addr >= e->addr && addr + len <= end)
				in_ram = true;
		} else if (addr < end && e->addr < addr + len) {
			/* Reserved entries win over RAM they overlap, e.g. a
			 * framebuffer carved out of RAM with e820_add. */
			return false;
		}
	}
	return in_ram;
}

/* Lowest start of a non-RAM entry overlapping [addr, addr + len), or
 * UINT64_MAX if none does. */
static uint64_t first_conflict(const struct e820_map *map, uint64_t addr,
			       uint64_t len)
{
	uint64_t lowest = UINT64_MAX;

	for (unsigned i = 0; i < map->n && i < E820_MAX; i++) {
		const struct e820_entry *e = &map->e[i];

		if (e->type != E820_RAM && addr < entry_end(e) &&
		    e->addr < addr + len && e->addr < lowest)
			lowest = e->addr;
	}
	return lowest;
}

#define PAGE_MASK (~0xFFFULL)

uint64_t e820_place_high(const struct e820_map *map, const struct guest_mem *m,
			 uint64_t lo, uint64_t top, uint64_t len)
{
	uint64_t best = 0;

	if (len == 0)
		return 0;
	/* Try the top of each RAM entry below `top`, stepping down past any
	 * reserved entry in the way; keep the highest candidate found. */
	for (unsigned i = 0; i < map->n && i < E820_MAX; i++) {
		const struct e820_entry *e = &map->e[i];
		uint64_t end = min_u64(entry_end(e), top);
		uint64_t a;

		if (e->type != E820_RAM || end < len)
			continue;
		a = (end - len) & PAGE_MASK;
		/* Each step moves below a distinct reserved entry. */
		for (unsigned step = 0; step <= map->n; step++) {
			uint64_t c;

			if (a < lo || a < e->addr)
				break;
			c = first_conflict(map, a, len);
			if (c == UINT64_MAX) {
				if (a > best && e820_usable(map, m, a, len))
					best = a;
				break;
			}
			if (c < len)
				break;
			a = (c - len) & PAGE_MASK;
		}
	}
	return best;
}
