/* Where guest RAM sits in guest-physical space for the machines we read:
 * RAM is one block (QEMU's pc.ram, vsbd's memfd) split at a "lowmem"
 * limit below the 32-bit PCI hole, the rest mapped from 4 GiB. */
#include "mem_file.h"

#include <errno.h>

#include "../vmm/guest_mem.h"

#define GIB (1ull << 30)
#define FOUR_GIB (4 * GIB)

/* QEMU 7.2 (Debian 12), default max-ram-below-4g:
 * - hw/i386/pc_piix.c pc_init1(): max_ram_below_4g defaults to 0xe0000000
 *   (3.5 GiB); lowmem = that, and if ram_size >= it and the machine is
 *   gigabyte_align (every version since pc-1.7) lowmem is capped at
 *   0xc0000000. So: ram >= 3.5 GiB splits at 3 GiB, else all is low.
 * - hw/i386/pc_q35.c pc_q35_init(): lowmem = ram_size >= 0xb0000000 ?
 *   0x80000000 : 0xb0000000. So: ram >= 2.75 GiB splits at 2 GiB.
 * Both then: below_4g = ram >= lowmem ? lowmem : ram; the rest from
 * 4 GiB, at file offset below_4g of the RAM block. */
uint64_t vmi_pc_lowmem(enum vmi_pc_machine machine, uint64_t ram_size)
{
	if (machine == VMI_PC_Q35)
		return ram_size >= 0xb0000000ull ? 0x80000000ull
						 : 0xb0000000ull;
	return ram_size >= 0xe0000000ull ? 0xc0000000ull : 0xe0000000ull;
}

static int split(uint64_t ram_size, uint64_t lowmem, struct vmi_region r[2])
{
	uint64_t below = ram_size < lowmem ? ram_size : lowmem;

	if (ram_size == 0 || ram_size > UINT64_MAX - FOUR_GIB)
		return -EINVAL;
	r[0] = (struct vmi_region){ .gpa = 0, .off = 0, .len = below };
	if (ram_size == below)
		return 1;
	r[1] = (struct vmi_region){
		.gpa = FOUR_GIB, .off = below, .len = ram_size - below,
	};
	return 2;
}

int vmi_layout_pc(enum vmi_pc_machine machine, uint64_t ram_size,
		  struct vmi_region r[2])
{
	return split(ram_size, vmi_pc_lowmem(machine, ram_size), r);
}

/* vmm/guest_mem.h: low RAM up to GMEM_LOW_MAX, the rest at
 * GMEM_HIGH_BASE, one memfd in that order. */
int vmi_layout_vsbd(uint64_t ram_size, struct vmi_region r[2])
{
	_Static_assert(GMEM_HIGH_BASE == FOUR_GIB, "vsbd high RAM moved");
	return split(ram_size, GMEM_LOW_MAX, r);
}
