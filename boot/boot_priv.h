/* Helpers shared by the boot loaders; not part of the module's API. */
#ifndef VSB_BOOT_PRIV_H
#define VSB_BOOT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot.h"

/* Little-endian reads from byte buffers: image fields are unaligned and the
 * images are little-endian whatever the host, so never cast pointers. */
static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* True if [off, off + n) lies inside a buffer of len bytes (no overflow). */
static inline bool in_file(uint64_t off, uint64_t n, uint64_t len)
{
	return off <= len && n <= len - off;
}

/* True if [a, a + alen) and [b, b + blen) intersect; lengths are nonzero and
 * the ranges do not wrap (callers check that first). */
static inline bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b,
				  uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Formats the one-line reason into err (if any) and returns rc, so a failure
 * is a single `return boot_fail(...)`. */
int boot_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Writes the shared GDT (see boot.h) at BOOT_GDT_ADDR; -ENOMEM if absent. */
int boot_write_gdt(const struct guest_mem *m);

/* True if [addr, addr + len) is inside one RAM entry of map, touches no
 * non-RAM entry, and is backed by m. len 0 is never usable. */
bool e820_usable(const struct e820_map *map, const struct guest_mem *m,
		 uint64_t addr, uint64_t len);

/* Highest page-aligned address a in [lo, top) with [a, a + len) usable as by
 * e820_usable, for placing an initrd "high"; 0 if there is none. */
uint64_t e820_place_high(const struct e820_map *map, const struct guest_mem *m,
			 uint64_t lo, uint64_t top, uint64_t len);

/* Validates the ELF headers of a PVH kernel and finds the entry point from
 * its XEN_ELFNOTE_PHYS32_ENTRY note. 0, -ENOEXEC or -EINVAL (see pvh.c). */
int pvh_find_entry(const uint8_t *img, size_t len, uint32_t *entry, char *err,
		   size_t errlen);

#endif
