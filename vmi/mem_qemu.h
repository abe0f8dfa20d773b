/* Backend: a running QEMU guest (pc or q35 machine) whose RAM is a shared
 * memory-backend-file, with a QMP socket:
 *
 *   qemu-system-x86_64 -m 512 \
 *     -object memory-backend-file,id=m,size=512M,mem-path=/dev/shm/g,share=on \
 *     -machine pc,memory-backend=m -qmp unix:/tmp/q.sock,server=on,wait=off
 *
 * Memory is the file, mapped (mem_file.c) with the layout QEMU uses, found
 * over QMP: machine type, RAM size, max-ram-below-4g. Registers come from
 * HMP `info registers`, pause/resume are QMP stop/cont. The backend holds
 * QEMU's QMP socket while open (QEMU serves one client per socket). */
#ifndef VSB_VMI_MEM_QEMU_H
#define VSB_VMI_MEM_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem_file.h"
#include "vmi_mem.h"

struct qmp;

/* Connects to QMP at qmp_path, checks that mem_path is the file QEMU's RAM
 * backend uses (same file, share=on) and maps it, writable if asked. Every
 * QMP exchange is bounded by QMP_TIMEOUT_MS (qmp.h), or timeout_ms.
 * 0 with *out set, or -errno with one line in err. */
int vmi_mem_qemu_open(const char *mem_path, const char *qmp_path,
		      bool writable, struct vmi_mem **out, char *err,
		      size_t errlen);
int vmi_mem_qemu_open_timeout(const char *mem_path, const char *qmp_path,
			      bool writable, int timeout_ms,
			      struct vmi_mem **out, char *err, size_t errlen);

/* The backend's QMP connection (to run other commands), or NULL when m is
 * not this backend. */
struct qmp *vmi_mem_qemu_qmp(struct vmi_mem *m);
/* Why the last get_regs, pause or resume failed ("" if none). */
const char *vmi_mem_qemu_error(struct vmi_mem *m);

/* The RAM layout of QEMU's pc/q35 machines, max-ram-below-4g included
 * (0 = not set), as QEMU 7.2 computes it (pc_piix.c pc_init1,
 * pc_q35.c pc_q35_init); gigabyte_align is false only for pc-i440fx-1.x.
 * Writes r[0..1], returns 1 or 2 regions, or -EINVAL for a size of 0 or a
 * max-ram-below-4g above 4 GiB. */
int vmi_qemu_layout(enum vmi_pc_machine machine, bool gigabyte_align,
		    uint64_t ram_size, uint64_t max_ram_below_4g,
		    struct vmi_region r[2]);

#endif
