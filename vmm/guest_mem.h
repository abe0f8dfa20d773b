/* Host view of guest physical memory. RAM is one memfd mapped once; the part
 * above the PCI hole is placed at 4 GiB in guest physical space. Every access
 * from device or loader code goes through gmem_ptr, which bounds-checks. */
#ifndef VSB_GUEST_MEM_H
#define VSB_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_LOW_MAX   0xC0000000ULL  /* RAM below the 3 GiB PCI hole */
#define GMEM_HIGH_BASE 0x100000000ULL /* where the rest of RAM starts */

struct guest_mem {
	uint8_t *host;     /* mapping of the whole memfd */
	uint64_t size;     /* bytes of RAM */
	uint64_t low_size; /* min(size, GMEM_LOW_MAX) */
	int fd;            /* memfd, -1 for test buffers */
};

/* A host pointer to [gpa, gpa+len) if that lies wholly inside one RAM region,
 * NULL otherwise. */
static inline void *gmem_ptr(const struct guest_mem *m, uint64_t gpa,
			     uint64_t len)
{
	if (gpa < m->low_size) {
		if (len > m->low_size - gpa)
			return NULL;
		return m->host + gpa;
	}
	if (gpa >= GMEM_HIGH_BASE && m->size > m->low_size) {
		uint64_t off = gpa - GMEM_HIGH_BASE;
		uint64_t high = m->size - m->low_size;
		if (off > high || len > high - off)
			return NULL;
		return m->host + m->low_size + off;
	}
	return NULL;
}

/* Wraps a plain buffer (tests, tools). */
static inline void gmem_wrap(struct guest_mem *m, void *buf, uint64_t size)
{
	m->host = buf;
	m->size = size;
	m->low_size = size < GMEM_LOW_MAX ? size : GMEM_LOW_MAX;
	m->fd = -1;
}

#endif
