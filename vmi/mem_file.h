/* Guest RAM held in a file or memfd (QEMU's memory-backend-file with
 * share=on, vsbd's RAM memfd), mapped read-only. The guest-physical layout
 * is a list of regions (guest address, file offset, length); helpers build
 * the layouts of QEMU's PC machines and of vsbd. */
#ifndef VSB_VMI_MEM_FILE_H
#define VSB_VMI_MEM_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmi_mem.h"

struct vmi_region {
	uint64_t gpa;
	uint64_t off; /* in the file */
	uint64_t len;
};

enum vmi_pc_machine {
	VMI_PC_I440FX, /* QEMU "pc", pc-i440fx-* (machine versions >= 1.7) */
	VMI_PC_Q35,    /* QEMU "q35", pc-q35-* */
};

/* Writes the guest RAM layout of a machine with ram_size bytes into
 * r[0..1]; returns how many regions (1 or 2), or -EINVAL for size 0. */
int vmi_layout_pc(enum vmi_pc_machine machine, uint64_t ram_size,
		  struct vmi_region r[2]);
int vmi_layout_vsbd(uint64_t ram_size, struct vmi_region r[2]);
/* The RAM QEMU puts below 4 GiB (default max-ram-below-4g). */
uint64_t vmi_pc_lowmem(enum vmi_pc_machine machine, uint64_t ram_size);

/* Maps [min offset, max offset + len) of fd read-only (fd is not kept);
 * every region must lie inside the file. 0 with *out set, or -errno with
 * a message in err. */
int vmi_mem_file_open_fd(int fd, const struct vmi_region *r, unsigned n,
			 struct vmi_mem **out, char *err, size_t errlen);
int vmi_mem_file_open(const char *path, const struct vmi_region *r,
		      unsigned n, struct vmi_mem **out, char *err,
		      size_t errlen);
/* Guest RAM layouts a RAM file alone can have; its size gives the rest. */
enum vmi_ram_layout { VMI_RAM_PC, VMI_RAM_Q35, VMI_RAM_VSBD };
/* "pc", "q35" or "vsbd": 0, or -EINVAL for anything else. */
int vmi_ram_layout_parse(const char *name, enum vmi_ram_layout *out);
/* A RAM file with one of those layouts (its regions from its size),
 * mapped writable when asked. 0 or -errno with a message. */
int vmi_mem_ram_open(const char *path, enum vmi_ram_layout layout,
		     bool writable, struct vmi_mem **out, char *err,
		     size_t errlen);

/* The same, mapped writable too when asked (fd or path opened O_RDWR):
 * vmi_write_pa then changes the guest's memory. */
int vmi_mem_file_open_fd_rw(int fd, const struct vmi_region *r, unsigned n,
			    bool writable, struct vmi_mem **out, char *err,
			    size_t errlen);
int vmi_mem_file_open_rw(const char *path, const struct vmi_region *r,
			 unsigned n, bool writable, struct vmi_mem **out,
			 char *err, size_t errlen);

#endif
