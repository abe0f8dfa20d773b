/* The boot vCPU's entry state and the GDT that backs it.
 *
 * The descriptors written to guest memory and the hidden segment state given
 * to KVM come from the same table (boot_seg), so a guest that reloads a
 * selector from the GDT gets exactly the segment it was started with. */
#include <errno.h>
#include <string.h>

#include "boot_priv.h"

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define SEG_TYPE_DATA_RW   0x3 /* read/write, accessed */
#define SEG_TYPE_CODE_RX   0xB /* execute/read, accessed */
#define SEG_TYPE_LDT       0x2
#define SEG_TYPE_TSS_BUSY  0xB /* same value for 32- and 64-bit busy TSS */

/* The hidden state of the segment our GDT holds at sel (0 for unknown). */
static struct kvm_segment boot_seg(uint16_t sel)
{
	struct kvm_segment s;

	memset(&s, 0, sizeof(s));
	s.selector = sel;
	s.present = 1;
	switch (sel) {
	case BOOT_SEL_CODE32: /* PVH: flat 32-bit code, 4 GiB limit */
		s.limit = 0xFFFFFFFF;
		s.type = SEG_TYPE_CODE_RX;
		s.s = 1;
		s.db = 1;
		s.g = 1;
		break;
	case BOOT_SEL_CODE64: /* Linux __BOOT_CS: long mode code, L=1 D=0 */
		s.limit = 0xFFFFFFFF;
		s.type = SEG_TYPE_CODE_RX;
		s.s = 1;
		s.l = 1;
		s.g = 1;
		break;
	case BOOT_SEL_DATA: /* flat data, valid in both modes */
		s.limit = 0xFFFFFFFF;
		s.type = SEG_TYPE_DATA_RW;
		s.s = 1;
		s.db = 1;
		s.g = 1;
		break;
	case BOOT_SEL_TSS: /* KVM insists on a busy TSS in TR; never used
			    * before the kernel installs its own. */
		s.limit = 0x67;
		s.type = SEG_TYPE_TSS_BUSY;
		break;
	default:
		memset(&s, 0, sizeof(s));
		break;
	}
	return s;
}

/* The 8-byte legacy descriptor for a segment (low half for system ones). */
static uint64_t gdt_encode(const struct kvm_segment *s)
{
	uint64_t raw_limit = s->g ? s->limit >> 12 : s->limit;
	uint64_t d = 0;

	d |= raw_limit & 0xFFFF;
	d |= (s->base & 0xFFFFFFULL) << 16;
	d |= (uint64_t)(s->type & 0xF) << 40;
	d |= (uint64_t)s->s << 44;
	d |= (uint64_t)(s->dpl & 3) << 45;
	d |= (uint64_t)s->present << 47;
	d |= ((raw_limit >> 16) & 0xF) << 48;
	d |= (uint64_t)s->avl << 52;
	d |= (uint64_t)s->l << 53;
	d |= (uint64_t)s->db << 54;
	d |= (uint64_t)s->g << 55;
	d |= ((s->base >> 24) & 0xFF) << 56;
	return d;
}

int boot_write_gdt(const struct guest_mem *m)
{
	static const uint16_t sels[] = { BOOT_SEL_CODE32, BOOT_SEL_CODE64,
					 BOOT_SEL_DATA, BOOT_SEL_TSS };
	uint8_t *gdt = gmem_ptr(m, BOOT_GDT_ADDR, BOOT_GDT_LIMIT + 1);

	if (!gdt)
		return -ENOMEM;
	/* Slot 0 is the null descriptor; the TSS descriptor is 16 bytes in
	 * long mode and its upper half (base bits 63:32) stays zero. */
	memset(gdt, 0, BOOT_GDT_LIMIT + 1);
	for (size_t i = 0; i < sizeof(sels) / sizeof(sels[0]); i++) {
		struct kvm_segment s = boot_seg(sels[i]);
		uint64_t d = gdt_encode(&s);

		for (int b = 0; b < 8; b++)
			gdt[sels[i] + b] = (uint8_t)(d >> (8 * b));
	}
	return 0;
}

void boot_cpu_state(const struct boot_entry *e, struct kvm_regs *regs,
		    struct kvm_sregs *sregs)
{
	bool long64 = e->mode == BOOT_MODE_LONG64;
	struct kvm_segment data = boot_seg(BOOT_SEL_DATA);

	/* Every general register is defined: zero unless the protocol says. */
	memset(regs, 0, sizeof(*regs));
	regs->rip = e->rip;
	regs->rflags = 0x2; /* reserved bit 1; IF=0: no interrupts at entry */
	if (long64)
		regs->rsi = e->rsi; /* Linux: boot_params */
	else
		regs->rbx = e->rbx; /* PVH: hvm_start_info */

	sregs->cs = boot_seg(long64 ? BOOT_SEL_CODE64 : BOOT_SEL_CODE32);
	sregs->ds = data;
	sregs->es = data;
	sregs->fs = data;
	sregs->gs = data;
	sregs->ss = data;
	sregs->tr = boot_seg(BOOT_SEL_TSS);
	/* No LDT is used, but KVM's guest-state checks want a usable one to
	 * look like an LDT: type 2, system, present, selector 0. */
	memset(&sregs->ldt, 0, sizeof(sregs->ldt));
	sregs->ldt.limit = 0xFFFF;
	sregs->ldt.type = SEG_TYPE_LDT;
	sregs->ldt.present = 1;

	sregs->gdt.base = e->gdt_base;
	sregs->gdt.limit = e->gdt_limit;
	memset(sregs->gdt.padding, 0, sizeof(sregs->gdt.padding));
	/* An empty IDT: an exception before the kernel loads its own IDT is a
	 * clean triple fault (KVM_EXIT_SHUTDOWN), not a jump through garbage. */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	memset(sregs->idt.padding, 0, sizeof(sregs->idt.padding));

	sregs->cr2 = 0;
	if (long64) {
		/* Linux 64-bit entry: long mode with paging on (identity map
		 * in cr3); PAE is mandatory for long mode. */
		sregs->cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs->cr3 = e->cr3;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
	} else {
		/* PVH: protected mode, paging off, every other writable CR0
		 * and CR4 bit clear (ET is hard-wired to 1 on modern CPUs). */
		sregs->cr0 = CR0_PE | CR0_ET;
		sregs->cr3 = 0;
		sregs->cr4 = 0;
		sregs->efer = 0;
	}
}
