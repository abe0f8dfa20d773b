/* One interface to a guest's physical memory, whatever holds it: a mapped
 * RAM file or memfd, an ELF core, later a live VMM. A backend is a small
 * vtable; the helpers below do the rest (reads crossing regions, holes,
 * fixed-size values) so backends only answer "what is at this address, up
 * to the end of its region".
 *
 * Errors are negative errnos: -EFAULT for a hole or an address beyond RAM,
 * -EROFS for a write to a read-only backend, -ENOSYS for something the
 * backend cannot do (registers of a plain RAM file). */
#ifndef VSB_VMI_MEM_H
#define VSB_VMI_MEM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmi_regs.h"

struct vmi_mem;

/* A run of guest-physical addresses a backend holds, [pa, pa + len). */
struct vmi_range {
	uint64_t pa;
	uint64_t len;
};

struct vmi_mem_ops {
	const char *name;
	/* Copies up to len (> 0) bytes at pa from the one region holding pa,
	 * never past its end. Returns the bytes copied (1..len) or -EFAULT
	 * when no region holds pa. Required. */
	ssize_t (*read)(struct vmi_mem *m, uint64_t pa, void *buf, size_t len);
	/* Same contract for writes; NULL (or -EROFS from it) means
	 * read-only. */
	ssize_t (*write)(struct vmi_mem *m, uint64_t pa, const void *buf,
			 size_t len);
	/* The first region ending above pa: 0, or -ENOENT past the last. */
	int (*next_range)(struct vmi_mem *m, uint64_t pa, struct vmi_range *r);
	/* Optional: vCPUs whose registers the backend knows. */
	unsigned (*nr_vcpus)(struct vmi_mem *m);
	int (*get_regs)(struct vmi_mem *m, unsigned vcpu, struct vmi_regs *r);
	/* Optional, live guests only: stop every vCPU / let them run again.
	 * 0 or -errno. Absent: the memory never changes (a core). */
	int (*pause)(struct vmi_mem *m);
	int (*resume)(struct vmi_mem *m);
	void (*close)(struct vmi_mem *m);
};

/* Backends embed this first in their own state. */
struct vmi_mem {
	const struct vmi_mem_ops *ops;
};

/* Like pread: returns len when all bytes were read, a short count when a
 * hole starts after that many bytes (the next read there gives -EFAULT),
 * or -EFAULT when pa itself is in a hole. Never writes more than len bytes
 * into buf; len 0 returns 0. */
ssize_t vmi_read_pa(struct vmi_mem *m, uint64_t pa, void *buf, size_t len);
/* All len bytes or an error: 0 or -EFAULT (buf contents then undefined). */
int vmi_read_pa_full(struct vmi_mem *m, uint64_t pa, void *buf, size_t len);
int vmi_read_u8_pa(struct vmi_mem *m, uint64_t pa, uint8_t *v);
int vmi_read_u16_pa(struct vmi_mem *m, uint64_t pa, uint16_t *v);
int vmi_read_u32_pa(struct vmi_mem *m, uint64_t pa, uint32_t *v);
int vmi_read_u64_pa(struct vmi_mem *m, uint64_t pa, uint64_t *v);
/* Same convention as vmi_read_pa; -EROFS on read-only backends. */
ssize_t vmi_write_pa(struct vmi_mem *m, uint64_t pa, const void *buf,
		     size_t len);

/* The first RAM range ending above pa (iterate with pa = r.pa + r.len). */
int vmi_mem_next_range(struct vmi_mem *m, uint64_t pa, struct vmi_range *r);
/* One past the highest guest-physical address held (0 if none). */
uint64_t vmi_mem_max_pa(struct vmi_mem *m);
unsigned vmi_mem_nr_vcpus(struct vmi_mem *m);
/* 0, -ENOSYS without registers, -EINVAL for a vCPU out of range. */
int vmi_mem_get_regs(struct vmi_mem *m, unsigned vcpu, struct vmi_regs *r);
/* -ENOSYS for backends whose guest never runs (cores, plain files). */
int vmi_mem_pause(struct vmi_mem *m);
int vmi_mem_resume(struct vmi_mem *m);
/* Whether the guest may run (the backend can pause it): translations
 * must then be invalidated after every resume or unpaused read. */
int vmi_mem_is_live(const struct vmi_mem *m);
const char *vmi_mem_name(const struct vmi_mem *m);
void vmi_mem_close(struct vmi_mem *m);

#endif
