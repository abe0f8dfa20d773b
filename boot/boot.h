/* Boot protocols: load a kernel image into guest memory and describe the
 * boot vCPU's entry state. Pure functions over a guest_mem, so they are unit
 * tested without /dev/kvm. Two protocols:
 *  - Linux x86-64 boot protocol for bzImage (64-bit entry, boot_params);
 *  - PVH direct boot for ELF kernels (XEN_ELFNOTE_PHYS32_ENTRY, 32-bit
 *    protected mode entry, hvm_start_info in EBX). */
#ifndef VSB_BOOT_H
#define VSB_BOOT_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../vmm/guest_mem.h"

#define E820_RAM      1
#define E820_RESERVED 2

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define E820_MAX 32

struct e820_map {
	struct e820_entry e[E820_MAX];
	unsigned n;
};

/* The map for a guest_mem: low RAM up to the EBDA, a reserved hole for the
 * legacy BIOS area, RAM from 1 MiB to low_size, and RAM above 4 GiB if any. */
void e820_build(const struct guest_mem *m, struct e820_map *out);
/* Adds an entry (e.g. a framebuffer or reserved MMIO); -ENOSPC if full,
 * -EINVAL for an empty range or one that wraps past 2^64. */
int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);

/* Fixed guest-physical addresses the loaders use, all in conventional memory
 * below the EBDA (0x9FC00) and below 1 MiB, where no kernel is loaded. Both
 * protocols share one GDT; the selectors are distinct because Linux's 64-bit
 * entry needs __BOOT_CS = 0x10 to be a 64-bit code segment while PVH enters
 * in 32-bit protected mode and needs a 32-bit code segment. */
#define BOOT_GDT_ADDR        0x500ULL   /* just above the BIOS data area */
#define BOOT_GDT_LIMIT       0x2F       /* 6 slots: null, cs32, cs64, ds, tss */
#define BOOT_SEL_CODE32      0x08       /* PVH CS: flat 32-bit code */
#define BOOT_SEL_CODE64      0x10       /* Linux __BOOT_CS: 64-bit code */
#define BOOT_SEL_DATA        0x18       /* Linux __BOOT_DS and PVH DS/SS */
#define BOOT_SEL_TSS         0x20       /* busy TSS, 16-byte descriptor */
#define BOOT_START_INFO_ADDR 0x6000ULL  /* PVH hvm_start_info, modlist, memmap */
#define BOOT_ZERO_PAGE_ADDR  0x7000ULL  /* Linux struct boot_params */
#define BOOT_PML4_ADDR       0x9000ULL  /* Linux identity page tables: */
#define BOOT_PDPT_ADDR       0xA000ULL  /*   PML4, PDPT and four PDs of */
#define BOOT_PD_ADDR         0xB000ULL  /*   2 MiB pages map [0, 4 GiB) */
#define BOOT_PT_END          0xF000ULL
#define BOOT_CMDLINE_ADDR    0x20000ULL /* kernel command line */
#define BOOT_CMDLINE_AREA    0x10000ULL /* bytes reserved for it, with NUL */
#define BOOT_PVH_CMDLINE_MAX 4095       /* PVH command line limit, w/o NUL */
#define BOOT_KERNEL_MIN      0x100000ULL /* kernels load at or above 1 MiB */
/* ACPI tables (acpi_build), RSDP first: inside the BIOS area e820_build
 * reserves, 16-byte aligned in [0xE0000, 0x100000) where Linux's
 * low-memory scan for the RSDP looks. */
#define BOOT_ACPI_ADDR       0xF0000ULL
#define BOOT_ACPI_SIZE       0x2000ULL  /* bytes the tables may use */

/* PCI bus 0 as the ACPI tables describe it (\_SB.PCI0 in the DSDT): the
 * root bridge forwards all I/O ports but 0xCF8-0xCFF (configuration
 * mechanism #1, devices/pci_host.c) and this memory window, where Linux
 * assigns BARs: inside the PCI hole, above the framebuffer (0xD0000000,
 * up to 64 MiB) and below the I/O APIC at 0xFEC00000. */
#define BOOT_PCI_MEM_BASE    0xE0000000u
#define BOOT_PCI_MEM_END     0xFEBFFFFFu /* inclusive */

/* PCI INTx routing on bus 0, the rule the DSDT's \_SB.PCI0._PRT states:
 * pin (0..3 = INTA..INTD) of the device in slot (1..31) is wired straight
 * to I/O APIC input
 *     GSI = 16 + ((slot + pin) & 7),
 * the usual swizzle, over the 8 pins 16-23 the ISA IRQs leave free on
 * KVM's 24-pin in-kernel I/O APIC (KVM's default GSI routing maps GSI n
 * to pin n). The guest programs these lines level-triggered, active low
 * (ACPI's rule for _PRT entries without a link device); KVM's I/O APIC
 * ignores the polarity, so a device model asserts INTx with
 * vm_irq_line(vm, boot_pci_intx_gsi(slot, pin), 1) and deasserts it with
 * 0. Lines are shared (slot 1 INTB and slot 2 INTA both reach GSI 18, as
 * do slots 8 apart): the levels of all devices on one GSI must be ORed
 * before they reach vm_irq_line. vsbd's code and the operator's device
 * models both use this function, so they cannot disagree. */
#define BOOT_PCI_INTX_GSI_BASE 16u
#define BOOT_PCI_INTX_GSIS     8u
static inline unsigned boot_pci_intx_gsi(unsigned slot, unsigned pin)
{
	return BOOT_PCI_INTX_GSI_BASE +
	       ((slot + pin) & (BOOT_PCI_INTX_GSIS - 1));
}

enum image_kind { IMAGE_UNKNOWN, IMAGE_BZIMAGE, IMAGE_PVH_ELF };

/* Sniffs the image; never reads past len. */
enum image_kind image_probe(const uint8_t *img, size_t len);

enum boot_cpu_mode {
	BOOT_MODE_PROT32, /* PVH: flat 32-bit protected mode, paging off */
	BOOT_MODE_LONG64, /* Linux 64-bit entry: long mode, identity paging */
};

/* Entry state of the boot vCPU. */
struct boot_entry {
	enum boot_cpu_mode mode;
	uint64_t rip;
	uint64_t rsi;      /* LONG64: boot_params address */
	uint64_t rbx;      /* PROT32: hvm_start_info address */
	uint64_t cr3;      /* LONG64: identity page tables */
	uint64_t gdt_base; /* a GDT the loader placed in guest memory */
	uint16_t gdt_limit;
};

/* A linear framebuffer the guest may draw on: 32 bits per pixel, XRGB8888
 * (red in bits 16-23, green 8-15, blue 0-7). */
struct boot_fb {
	uint64_t base;   /* guest-physical, below 4 GiB */
	uint32_t width, height;
	uint32_t stride; /* bytes per line */
};

struct boot_params_in {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd; /* may be NULL */
	size_t initrd_len;
	const char *cmdline; /* may be NULL */
	const struct e820_map *e820; /* NULL: e820_build(m) */
	uint64_t rsdp; /* ACPI RSDP address for the kernel, 0 = none */
	const struct boot_fb *fb; /* Linux: screen_info (VLFB); NULL = none */
};

/* Each loader returns 0, or a negative errno with a one-line reason in err.
 * Errors: -ENOEXEC (wrong magic / not that format / too old a protocol),
 * -EINVAL (truncated or inconsistent headers), -E2BIG (cmdline too long),
 * -ENOMEM (kernel or initrd does not fit in RAM). */
int linux_load(const struct guest_mem *m, const struct boot_params_in *in,
	       struct boot_entry *out, char *err, size_t errlen);
int pvh_load(const struct guest_mem *m, const struct boot_params_in *in,
	     struct boot_entry *out, char *err, size_t errlen);

/* What the ACPI tables describe. */
struct acpi_config {
	unsigned nr_cpus;  /* LAPIC IDs 0..nr_cpus-1; the I/O APIC gets nr_cpus */
	uint16_t pm1a_evt; /* PM1a event block, 4 bytes (e.g. 0x600) */
	uint16_t pm1a_cnt; /* PM1a control register, 2 bytes (e.g. 0x604) */
	uint8_t sci_irq;   /* ISA IRQ = GSI of the SCI, level, active high */
	uint16_t pvpanic_port; /* QEMU0001 pvpanic port (0x505); 0: none */
};

/* Writes RSDP, XSDT, RSDT, FADT, FACS, MADT and DSDT (with \_S5, if
 * pvpanic_port is set a \_SB.PEVT pvpanic device, and the PCI root bridge
 * \_SB.PCI0 described above) into [BOOT_ACPI_ADDR, + BOOT_ACPI_SIZE) and
 * sets *rsdp to the RSDP's address (BOOT_ACPI_ADDR), for
 * boot_params_in.rsdp. Returns 0, -EINVAL if nr_cpus is 0 or above 254,
 * -ENOMEM if guest RAM does not back the area (-ENOSPC if the DSDT outgrew
 * its room, which a build-time check rules out); a one-line reason goes to
 * err. */
int acpi_build(const struct guest_mem *m, const struct acpi_config *cfg,
	       uint64_t *rsdp, char *err, size_t errlen);

/* Fills the fields of regs and sregs that the entry mode defines (segments,
 * control registers, EFER, GDT, rip, rflags, rsi/rbx), leaving the rest of
 * sregs (e.g. apic_base, interrupt bitmap) as KVM_GET_SREGS returned them. */
void boot_cpu_state(const struct boot_entry *e, struct kvm_regs *regs,
		    struct kvm_sregs *sregs);

#endif
