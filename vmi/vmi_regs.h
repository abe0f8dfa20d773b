/* One vCPU's registers as the introspection layer needs them: enough to
 * find the page tables (cr3, cr4), the current stack and code (rsp, rip) and
 * the per-CPU area (gs_base). Backends fill what they know and say which
 * groups are valid in `valid`. */
#ifndef VSB_VMI_REGS_H
#define VSB_VMI_REGS_H

#include <stdint.h>

#define VMI_REGS_GPR  0x1u /* rax..r15, rip, rflags */
#define VMI_REGS_SEG  0x2u /* selectors, fs_base, gs_base */
#define VMI_REGS_CR   0x4u /* cr0, cr2, cr3, cr4 */
#define VMI_REGS_DT   0x8u /* gdt, idt */

#define VMI_CR4_LA57 (1ull << 12)

struct vmi_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
	uint64_t cr0, cr2, cr3, cr4;
	uint64_t fs_base, gs_base;
	uint64_t gdt_base, idt_base;
	uint32_t gdt_limit, idt_limit;
	uint16_t cs, ss, ds, es, fs, gs;
	uint32_t valid;    /* VMI_REGS_* */
	uint32_t cpu_id;   /* backend's CPU number (core: pr_pid) */
};

#endif
