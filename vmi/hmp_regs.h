/* The text of QEMU's HMP `info registers` (x86 targets, QEMU 7.2
 * target/i386/cpu-dump.c) parsed into struct vmi_regs. QEMU prints the
 * 64-bit form (RAX=%016x ...) while CS is a 64-bit code segment and the
 * 32-bit form (EAX=%08x ...) otherwise; segments, GDT/IDT and CR2/CR3 are
 * 64 bits wide whenever EFER.LMA is set. Both forms are read, in any mix.
 * Unknown lines and fields are skipped; the ones read must be well formed
 * and appear once. */
#ifndef VSB_VMI_HMP_REGS_H
#define VSB_VMI_HMP_REGS_H

#include <stddef.h>

#include "vmi_regs.h"

#define VMI_HMP_REGS_MAX_TEXT 65536 /* QEMU's is ~2.5 KiB, 6 with AVX-512 */

/* Fills *r (zeroed first) from text[0..len) and sets r->valid: GPR always
 * (rax..r15, rip, rflags; r8..r15 read as 0 in the 32-bit form), SEG when
 * ES CS SS DS FS GS are all there (selectors; fs_base, gs_base from the FS
 * and GS lines), DT for GDT and IDT, CR for CR0 CR2 CR3 CR4. A group
 * partly there is an error. *cpu (if cpu) gets N of a "CPU#N" line, or -1
 * without one; r->cpu_id too. 0, or -EPROTO with the reason in err. */
int vmi_hmp_parse_regs(const char *text, size_t len, struct vmi_regs *r,
		       int *cpu, char *err, size_t errlen);

#endif
