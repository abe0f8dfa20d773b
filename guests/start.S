/* CPL0 entry stub of the PVH test guests.
 *
 * Entered per the PVH boot ABI: 32-bit flat protected mode, paging off,
 * interrupts off, EBX = physical address of struct hvm_start_info, no stack.
 *
 * On this project's hosts CPL0 code is instruction-emulated (~1M insn/s), so
 * the stub is straight-line, about twenty instructions: every table it needs
 * (page tables, GDT, the iretq frame) is built by the assembler, and control
 * registers are loaded with fixed values rather than read-modify-written.
 * Everything else (clearing .bss, C code) runs at CPL3, natively.
 *
 * The IDT has exactly one usable gate: vector 3 (#BP), DPL3, so `int3` at
 * CPL3 is the only way back to CPL0 (cpl0_halt() in rt.h: the gate executes
 * cli; hlt there forever). Vector 3 rather than a free vector such as 0x80
 * because on PVM `int $n` from CPL3 is delivered as #UD, not through gate n
 * (seen in kvm-pvm's trace for n = 0x40, 0x80, 0x81), while int3 is
 * delivered as #BP through its gate. The IDT limit ends at that gate and
 * vectors 0-2 are not-present, so any other exception or NMI still
 * escalates (#GP/#NP -> #DF -> triple fault: QEMU resets, or exits with
 * -no-reboot), deterministically. The TSS gives that gate a CPL0 stack
 * (RSP0) and holds the I/O permission bitmap PVM needs (see tss below).
 */

#define KCODE_SEL 0x08
#define KDATA_SEL 0x10
#define UCODE_SEL (0x18 | 3)
#define UDATA_SEL (0x20 | 3)
#define TSS_SEL   0x28

#define HALT_VECTOR 3 /* #BP; RT_HALT_VECTOR in rt.h */

#define CR0_PE   0x00000001
#define CR0_ET   0x00000010
#define CR0_PG   0x80000000
#define CR4_PAE  0x00000020
#define MSR_EFER 0xC0000080
#define EFER_LME 0x00000100

/* RFLAGS for CPL3: IOPL=3 so the C code may use in/out directly; IF=0. */
#define USER_RFLAGS 0x3002

#define PTE_P    0x001
#define PTE_RW   0x002
#define PTE_US   0x004 /* user: CPL3 must reach RAM and MMIO alike */
#define PTE_PWT  0x008
#define PTE_PCD  0x010
#define PTE_PS   0x080
#define MMIO_BASE 0xC0000000 /* 3 GiB: the PCI/MMIO hole, mapped uncached */

#define USER_STACK_SIZE 0x10000
#define HALT_STACK_SIZE 64 /* the gate pushes 40 bytes and nothing else runs */

	.section .text.boot, "ax", @progbits
	.code32
	.globl _start
_start:
	lgdt	gdt_ptr
	/* Loaded this early so a fault during the mode switch still hits
	 * not-present gates; the 32-bit base is zero-extended into long mode. */
	lidt	idt_ptr
	movl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	movl	$EFER_LME, %eax
	xorl	%edx, %edx
	wrmsr
	/* Fixed value: also clears CD/NW/TS/EM a firmware may have left set. */
	movl	$(CR0_PG | CR0_ET | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$KCODE_SEL, $long64

	.code64
long64:
	/* A 64-bit TSS must be loaded in long mode. ltr marks the descriptor
	 * busy, the one write the CPU makes to the GDT. */
	movl	$TSS_SEL, %eax
	ltr	%ax
	/* User data selector everywhere so the values survive the drop to CPL3
	 * (iretq nulls data selectors whose DPL < 3) and FS/GS bases are 0. */
	movl	$UDATA_SEL, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %fs
	movl	%eax, %gs
	/* The frame is static, so no kernel stack is needed at all. */
	leaq	iret_frame(%rip), %rsp
	iretq

/* From here on: CPL3, native speed. EBX still holds the hvm_start_info
 * address (iretq preserves general registers). */
user_entry:
	/* The loader may or may not zero memsz beyond filesz; do it here, where
	 * a loop is cheap. Nothing lives on the stack yet, so it may be inside. */
	leaq	__bss_start(%rip), %rdi
	leaq	__bss_end(%rip), %rcx
	subq	%rdi, %rcx
	xorl	%eax, %eax
	rep stosb
	movl	%ebx, %edi	/* zero-extends: upper halves are undefined after the mode switch */
	call	rt_start
1:	pause
	jmp	1b

/* Target of the DPL3 gate at HALT_VECTOR, entered at CPL0 on halt_stack.
 * The interrupt gate already cleared IF; cli once more so the state is
 * explicit. hlt with IF=0 is final (only NMI/SMI/INIT wake it, and an NMI
 * triple-faults); loop anyway rather than run off into other code. */
	.globl	halt_entry
halt_entry:
	cli
	hlt
	jmp	halt_entry

/* ---------------------------------------------------------------------- */
	.section .data.boot, "aw", @progbits

	/* Page tables first: .data.boot is placed 4 KiB aligned by guest.ld. */
	.p2align 12
pml4:
	.quad	pdpt + (PTE_P | PTE_RW | PTE_US)
	.fill	511, 8, 0

	.p2align 12
pdpt:
	.quad	pd + 0x0000 + (PTE_P | PTE_RW | PTE_US)
	.quad	pd + 0x1000 + (PTE_P | PTE_RW | PTE_US)
	.quad	pd + 0x2000 + (PTE_P | PTE_RW | PTE_US)
	.quad	pd + 0x3000 + (PTE_P | PTE_RW | PTE_US)
	.fill	508, 8, 0

	/* 2048 2 MiB pages = 4 GiB identity map. 2 MiB rather than 1 GiB pages
	 * because QEMU's default CPU model (qemu64) has no pdpe1gb, and a 1 GiB
	 * PDPTE there is a reserved-bit fault, i.e. a triple fault. */
	.p2align 12
pd:
	.set	pa, 0
	.rept	2048
	.if	pa < MMIO_BASE
	.quad	pa + (PTE_P | PTE_RW | PTE_US | PTE_PS)
	.else
	.quad	pa + (PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_PCD | PTE_PWT)
	.endif
	.set	pa, pa + 0x200000
	.endr

	/* Accessed bits preset so the CPU never writes back into the table. */
	.p2align 3
gdt:
	.quad	0			/* null */
	.quad	0x00AF9B000000FFFF	/* 0x08 kernel code, 64-bit, DPL0 */
	.quad	0x00CF93000000FFFF	/* 0x10 kernel data, DPL0 */
	.quad	0x00AFFB000000FFFF	/* 0x18 user code, 64-bit, DPL3 */
	.quad	0x00CFF3000000FFFF	/* 0x20 user data, DPL3 */
	/* 0x28: 64-bit TSS descriptor (16 bytes), type 9 (available) until
	 * ltr makes it 0xB. The base is split into bit fields the assembler
	 * cannot compute from a relocatable symbol: guest.ld provides them. */
	.word	tss_end - tss - 1	/* limit 15:0 */
	.word	tss_base_0_15
	.byte	tss_base_16_23
	.byte	0x89			/* P, DPL0, type 9 */
	.byte	0			/* G=0, limit 19:16 = 0 */
	.byte	tss_base_24_31
	.long	0			/* base 63:32: below 4 GiB */
	.long	0
gdt_end:

	/* 32-bit pseudo-descriptors: loaded before long mode is active. */
	.p2align 2
	.word	0			/* pad so the base is 4-aligned */
gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	gdt
	.word	0
idt_ptr:
	.word	idt_end - idt - 1	/* through HALT_VECTOR only */
	.long	idt

	.p2align 3
iret_frame:
	.quad	user_entry		/* RIP */
	.quad	UCODE_SEL		/* CS */
	.quad	USER_RFLAGS		/* RFLAGS */
	.quad	user_stack_top		/* RSP */
	.quad	UDATA_SEL		/* SS */

	/* IDT: vectors 0-2 not present (all zero), vectors past 3 beyond the
	 * limit, so every other exception and NMI still triple-faults. */
	.p2align 4
idt:
	.fill	HALT_VECTOR * 16, 1, 0
	/* HALT_VECTOR: 64-bit interrupt gate, DPL3 so `int3` works at CPL3,
	 * IST 0 (stack from TSS.RSP0). Offset fields from guest.ld as above. */
	.word	halt_entry_0_15
	.word	KCODE_SEL
	.byte	0			/* IST */
	.byte	0xEE			/* P, DPL3, type 0xE interrupt gate */
	.word	halt_entry_16_31
	.long	0			/* offset 63:32 */
	.long	0
idt_end:

	/* 64-bit TSS: RSP0 for the gate, and an I/O permission bitmap that
	 * allows every port. Real CPUs and TCG honour IOPL=3 and never read
	 * the bitmap, but PVM does not keep IOPL=3 at CPL3 and checks in/out
	 * against this bitmap (before ltr, against whatever TR the loader
	 * left: vsbd's limit-0x67 TSS at 0 denied COM1). */
	.p2align 4
	.globl	tss
tss:
	.long	0			/* reserved */
	.quad	halt_stack_top		/* RSP0 */
	.fill	0x66 - 12, 1, 0		/* RSP1, RSP2, IST1-7, reserved */
	.word	tss_iomap - tss		/* I/O map base */
tss_iomap:
	.fill	65536 / 8, 1, 0		/* one bit per port, 0 = allowed */
	.byte	0xFF			/* required terminator */
tss_end:

/* ---------------------------------------------------------------------- */
	.section .bss.stack, "aw", @nobits
	.p2align 4
	.skip	USER_STACK_SIZE
user_stack_top:

	/* CPL0 stack for the HALT_VECTOR gate; only ever written. */
	.p2align 4
	.skip	HALT_STACK_SIZE
halt_stack_top:

/* ---------------------------------------------------------------------- */
/* PVH entry note. The desc is 8 bytes (the entry address zero-extended), as
 * Linux emits it: QEMU 7.2 reads a size_t there, and readers that take 32
 * bits get the same value. The section stays 4-aligned because QEMU pads the
 * name to the PT_NOTE's p_align, which must therefore be 4. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
	.section .note.Xen, "a", @note
	.p2align 2
	.long	4				/* namesz: "Xen\0" */
	.long	8				/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY	/* type */
	.asciz	"Xen"
	.long	_start, 0			/* desc: 32-bit entry, physical */

	.section .note.GNU-stack, "", @progbits
