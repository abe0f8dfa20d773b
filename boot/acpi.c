/* Minimal ACPI tables, so that an unmodified Linux guest finds its vCPUs
 * (MADT), powers off through the PM1a control register (FADT + \_S5 in the
 * DSDT), still probes the legacy devices (FADT IAPC_BOOT_ARCH) and binds its
 * pvpanic driver (a QEMU0001 device in the DSDT).
 *
 * Layouts follow ACPI 6.3 (FADT 6.3, MADT revision 5); Linux accepts any
 * FADT revision >= 2 and copies only as much of the FADT as it knows.
 *
 * Guest-physical layout, inside the BIOS area that e820_build reserves
 * ([0xF0000, 0x100000)), so no loader places anything on top of it and
 * Linux's scan of 0xE0000-0xFFFFF for "RSD PTR " finds the RSDP even
 * without boot_params.acpi_rsdp_addr / hvm_start_info.rsdp_paddr:
 *   0xF0000  RSDP (36 B, revision 2: RSDT and XSDT)
 *   0xF0040  FACS (64 B; the spec wants it 64-byte aligned)
 *   0xF0080  DSDT (header + AML for \_S5 and \_SB.PEVT; <= 98 B)
 *   0xF0100  XSDT (FADT, MADT)
 *   0xF0140  RSDT (the same, 32-bit, for ACPI 1.0 parsers)
 *   0xF0180  FADT (276 B)
 *   0xF02C0  MADT (44 B + 8 B per CPU + 28 B; < 2.1 KiB for 254 CPUs)
 * All of it lies below BOOT_ACPI_ADDR + BOOT_ACPI_SIZE. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot_priv.h"

#define RSDP_OFF 0x000
#define FACS_OFF 0x040
#define DSDT_OFF 0x080
#define XSDT_OFF 0x100
#define RSDT_OFF 0x140
#define FADT_OFF 0x180
#define MADT_OFF 0x2C0

#define ACPI_MAX_CPUS 254 /* xAPIC IDs are 8 bits, 0xFF is broadcast, and
			   * the I/O APIC takes the ID after the last CPU */

#define OEM_ID       "VSBD  "   /* 6 bytes, space padded */
#define OEM_TABLE_ID "VSBDVM  " /* 8 bytes */
#define CREATOR_ID   "VSBD"     /* we are the "compiler" of these tables */

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8];
	uint8_t checksum;       /* over the first 20 bytes (ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision;       /* 2: the fields below exist */
	uint32_t rsdt_addr;
	uint32_t length;
	uint64_t xsdt_addr;
	uint8_t ext_checksum;   /* over all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

struct acpi_facs {
	char signature[4];
	uint32_t length;
	uint32_t hardware_signature;
	uint32_t firmware_waking_vector;
	uint32_t global_lock;
	uint32_t flags;
	uint64_t x_firmware_waking_vector;
	uint8_t version;
	uint8_t reserved[3];
	uint32_t ospm_flags;
	uint8_t reserved2[24];
} __attribute__((packed));

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
} __attribute__((packed));

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_addr;
	uint32_t flags;
} __attribute__((packed));

struct madt_lapic {          /* type 0: Processor Local APIC */
	uint8_t type, length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));

struct madt_ioapic {         /* type 1: I/O APIC */
	uint8_t type, length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct madt_iso {            /* type 2: Interrupt Source Override */
	uint8_t type, length;
	uint8_t bus;         /* 0: ISA */
	uint8_t source;      /* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;      /* MPS INTI flags: polarity 1:0, trigger 3:2 */
} __attribute__((packed));

struct madt_lapic_nmi {      /* type 4: Local APIC NMI */
	uint8_t type, length;
	uint8_t processor_uid; /* 0xFF: all processors */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

/* The sizes and offsets the spec fixes (ACPI 6.3, section 5.2). */
#define AT(type, field, off)                                                 \
	_Static_assert(offsetof(struct type, field) == (off),                \
		       #type "." #field " at " #off)
_Static_assert(sizeof(struct acpi_header) == 36, "table header");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
AT(acpi_rsdp, revision, 15);
AT(acpi_rsdp, rsdt_addr, 16);
AT(acpi_rsdp, xsdt_addr, 24);
AT(acpi_rsdp, ext_checksum, 32);
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS");
_Static_assert(sizeof(struct acpi_facs) == 64, "FACS");
AT(acpi_facs, version, 32);
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT 6.x");
AT(acpi_fadt, firmware_ctrl, 36);
AT(acpi_fadt, sci_int, 46);
AT(acpi_fadt, smi_cmd, 48);
AT(acpi_fadt, pm1a_evt_blk, 56);
AT(acpi_fadt, pm1a_cnt_blk, 64);
AT(acpi_fadt, pm_tmr_blk, 76);
AT(acpi_fadt, pm1_evt_len, 88);
AT(acpi_fadt, p_lvl2_lat, 96);
AT(acpi_fadt, century, 108);
AT(acpi_fadt, iapc_boot_arch, 109);
AT(acpi_fadt, flags, 112);
AT(acpi_fadt, reset_reg, 116);
AT(acpi_fadt, minor_version, 131);
AT(acpi_fadt, x_firmware_ctrl, 132);
AT(acpi_fadt, x_dsdt, 140);
AT(acpi_fadt, x_pm1a_evt_blk, 148);
AT(acpi_fadt, x_pm1a_cnt_blk, 172);
AT(acpi_fadt, x_pm_tmr_blk, 208);
AT(acpi_fadt, sleep_control_reg, 244);
AT(acpi_fadt, hypervisor_vendor_id, 268);
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT fixed part");
_Static_assert(sizeof(struct madt_lapic) == 8, "MADT LAPIC");
_Static_assert(sizeof(struct madt_ioapic) == 12, "MADT IOAPIC");
_Static_assert(sizeof(struct madt_iso) == 10, "MADT ISO");
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT LAPIC NMI");

#define FADT_WBINVD           (1u << 0)
#define FADT_PROC_C1          (1u << 2)
#define FADT_PWR_BUTTON       (1u << 4) /* set: no fixed-feature button */
#define FADT_SLP_BUTTON       (1u << 5)
#define BOOT_ARCH_LEGACY_DEVS (1u << 0)
#define BOOT_ARCH_8042        (1u << 1)
#define GAS_SYSTEM_IO         1
#define GAS_ACCESS_WORD       2
#define LAT_C2_NONE           0x0FFF    /* > 100 us: C2 not supported */
#define LAT_C3_NONE           0x0FFF    /* > 1000 us: C3 not supported */
#define CMOS_CENTURY          0x32      /* devices/cmos.c keeps it there */

#define MADT_PCAT_COMPAT      (1u << 0) /* dual 8259s present too */
#define MADT_ENABLED          (1u << 0)
#define LAPIC_ADDR            0xFEE00000u
#define IOAPIC_ADDR           0xFEC00000u
#define INTI_HIGH_LEVEL       0x000D    /* active high, level triggered */

/* \_S5 as AML: the package Linux's acpi_get_sleep_type_data reads before
 * writing SLP_TYP, then SLP_EN, to PM1a_CNT. devices/acpi_pm powers off on
 * SLP_EN with any SLP_TYP; 5 is only the conventional value. */
static const uint8_t dsdt_aml[] = {
	0x08,                   /* NameOp */
	0x5C,                   /* RootChar '\' */
	'_', 'S', '5', '_',     /* NameSeg "_S5_" */
	0x12,                   /* PackageOp */
	0x08,                   /* PkgLength: 8 bytes, counting itself */
	0x04,                   /* NumElements */
	0x0A, 0x05,             /* BytePrefix 5: SLP_TYPa */
	0x0A, 0x05,             /* BytePrefix 5: SLP_TYPb */
	0x00,                   /* ZeroOp: reserved */
	0x00,                   /* ZeroOp: reserved */
};
_Static_assert(sizeof(dsdt_aml) == 15, "PkgLength above must match");

/* The pvpanic device as QEMU's ISA pvpanic describes it, minus the
 * OperationRegion and methods that Linux never uses:
 *   Device(\_SB.PEVT) {
 *     Name(_HID, "QEMU0001")
 *     Name(_CRS, ResourceTemplate() { IO(Decode16, port, port, 1, 1) })
 *   }
 * Linux's pvpanic-mmio.ko matches the _HID; ACPI turns the device into a
 * platform device whose resource 0 is the port (IORESOURCE_IO, which the
 * driver maps with ioport_map). No _STA: a device without one is present
 * and enabled. \_SB is predefined by every ACPI interpreter, so a full
 * path needs no Scope(). The port is patched in at PVPANIC_MIN/MAX. */
static const uint8_t pvpanic_aml[] = {
	0x5B, 0x82,             /* ExtOpPrefix, DeviceOp */
	0x2D,                   /* PkgLength: 45 bytes, counting itself */
	0x5C, 0x2E,             /* RootChar '\', DualNamePrefix */
	'_', 'S', 'B', '_',     /* NameSeg "_SB_" */
	'P', 'E', 'V', 'T',     /* NameSeg "PEVT" (QEMU's name) */
	0x08,                   /* NameOp */
	'_', 'H', 'I', 'D',     /* NameSeg "_HID" */
	0x0D,                   /* StringPrefix */
	'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00, /* "QEMU0001", NUL */
	0x08,                   /* NameOp */
	'_', 'C', 'R', 'S',     /* NameSeg "_CRS" */
	0x11,                   /* BufferOp */
	0x0D,                   /* PkgLength: 13 bytes, counting itself */
	0x0A, 0x0A,             /* BufferSize: BytePrefix 10 */
	0x47,                   /* I/O port descriptor: small, type 8, 7 bytes */
	0x01,                   /* Information: 16-bit address decode */
	0x00, 0x00,             /* _MIN (patched: the port) */
	0x00, 0x00,             /* _MAX (patched: the same port) */
	0x01,                   /* _ALN: 1 */
	0x01,                   /* _LEN: 1 port */
	0x79, 0x00,             /* End tag; checksum 0 means "valid" */
};
/* _MIN and _MAX counted back from the end: _MIN _MAX _ALN _LEN End tag. */
#define PVPANIC_MIN (sizeof(pvpanic_aml) - 8)
#define PVPANIC_MAX (sizeof(pvpanic_aml) - 6)
/* The one-byte PkgLength 0x2D (< 0x40) covers all but the two opcodes. */
_Static_assert(sizeof(pvpanic_aml) == 2 + 0x2D, "DeviceOp PkgLength");

#define MADT_MAX_LEN                                                        \
	(sizeof(struct acpi_madt) + ACPI_MAX_CPUS * sizeof(struct madt_lapic) + \
	 sizeof(struct madt_ioapic) + sizeof(struct madt_iso) +             \
	 sizeof(struct madt_lapic_nmi))
_Static_assert(FACS_OFF % 64 == 0, "FACS alignment");
_Static_assert(RSDP_OFF + sizeof(struct acpi_rsdp) <= FACS_OFF, "RSDP");
_Static_assert(FACS_OFF + sizeof(struct acpi_facs) <= DSDT_OFF, "FACS");
_Static_assert(DSDT_OFF + sizeof(struct acpi_header) + sizeof(dsdt_aml) +
			       sizeof(pvpanic_aml) <=
		       XSDT_OFF, "DSDT");
_Static_assert(XSDT_OFF + sizeof(struct acpi_header) + 2 * 8 <= RSDT_OFF,
	       "XSDT");
_Static_assert(RSDT_OFF + sizeof(struct acpi_header) + 2 * 4 <= FADT_OFF,
	       "RSDT");
_Static_assert(FADT_OFF + sizeof(struct acpi_fadt) <= MADT_OFF, "FADT");
_Static_assert(MADT_OFF + MADT_MAX_LEN <= BOOT_ACPI_SIZE, "MADT");
_Static_assert(BOOT_ACPI_ADDR % 16 == 0 && BOOT_ACPI_ADDR >= 0xE0000 &&
		       BOOT_ACPI_ADDR + BOOT_ACPI_SIZE <= 0x100000,
	       "RSDP where the legacy scan looks");

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static void header(struct acpi_header *h, const char sig[4], uint32_t len,
		   uint8_t rev)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, CREATOR_ID, 4);
	h->creator_revision = 1;
}

/* Sets the checksum of the table at area + off once its bytes are final. */
static void seal(uint8_t *area, size_t off)
{
	struct acpi_header h;

	uint8_t *sum = area + off + offsetof(struct acpi_header, checksum);

	memcpy(&h, area + off, sizeof(h));
	*sum = 0;
	*sum = checksum(area + off, h.length);
}

static struct acpi_gas io_gas(uint16_t port, uint8_t bytes)
{
	return (struct acpi_gas){ .space_id = GAS_SYSTEM_IO,
				  .bit_width = (uint8_t)(bytes * 8),
				  .access_size = GAS_ACCESS_WORD,
				  .address = port };
}

static void build_fadt(uint8_t *area, const struct acpi_config *cfg)
{
	struct acpi_fadt f;

	memset(&f, 0, sizeof(f));
	header(&f.h, "FACP", sizeof(f), 6);
	f.minor_version = 3;
	/* The spec allows only one of FIRMWARE_CTRL / X_FIRMWARE_CTRL to be
	 * non-zero; the FACS is below 4 GiB, so the 32-bit field it is. The
	 * DSDT fields carry no such rule and old parsers read only DSDT. */
	f.firmware_ctrl = (uint32_t)(BOOT_ACPI_ADDR + FACS_OFF);
	f.dsdt = (uint32_t)(BOOT_ACPI_ADDR + DSDT_OFF);
	f.x_dsdt = BOOT_ACPI_ADDR + DSDT_OFF;
	f.sci_int = cfg->sci_irq;
	/* SMI_CMD 0: no SMM handshake, the machine is always in ACPI mode
	 * (acpi_pm starts with SCI_EN set), which is what Linux then assumes. */
	f.smi_cmd = 0;
	f.pm1a_evt_blk = cfg->pm1a_evt;
	f.pm1_evt_len = 4; /* 2-byte status + 2-byte enable register */
	f.x_pm1a_evt_blk = io_gas(cfg->pm1a_evt, 4);
	f.pm1a_cnt_blk = cfg->pm1a_cnt;
	f.pm1_cnt_len = 2;
	f.x_pm1a_cnt_blk = io_gas(cfg->pm1a_cnt, 2);
	/* No PM timer, GPE blocks, PM2 or reset register: all left zero. */
	f.p_lvl2_lat = LAT_C2_NONE;
	f.p_lvl3_lat = LAT_C3_NONE;
	f.century = CMOS_CENTURY;
	/* Without the 8042 bit Linux (FADT rev >= 2) marks the i8042 absent
	 * and, as the DSDT lists no PNP devices, would never probe it. */
	f.iapc_boot_arch = BOOT_ARCH_LEGACY_DEVS | BOOT_ARCH_8042;
	/* Not HW_REDUCED: poweroff goes through PM1a_CNT. The button bits say
	 * there are no fixed-feature buttons, since acpi_pm has no PWRBTN_STS
	 * and raises no SCI. */
	f.flags = FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON |
		  FADT_SLP_BUTTON;
	memcpy(area + FADT_OFF, &f, sizeof(f));
	seal(area, FADT_OFF);
}

static void build_dsdt(uint8_t *area, const struct acpi_config *cfg)
{
	uint8_t *t = area + DSDT_OFF;
	size_t len = sizeof(struct acpi_header);
	struct acpi_header h;

	memcpy(t + len, dsdt_aml, sizeof(dsdt_aml));
	len += sizeof(dsdt_aml);
	if (cfg->pvpanic_port) {
		uint8_t *d = t + len;

		memcpy(d, pvpanic_aml, sizeof(pvpanic_aml));
		/* Fixed port: _MIN = _MAX, little endian. */
		d[PVPANIC_MIN] = d[PVPANIC_MAX] = (uint8_t)cfg->pvpanic_port;
		d[PVPANIC_MIN + 1] = d[PVPANIC_MAX + 1] =
			(uint8_t)(cfg->pvpanic_port >> 8);
		len += sizeof(pvpanic_aml);
	}
	header(&h, "DSDT", (uint32_t)len, 2); /* revision 2: 64-bit AML */
	memcpy(t, &h, sizeof(h));
	seal(area, DSDT_OFF);
}

static void build_madt(uint8_t *area, const struct acpi_config *cfg)
{
	uint8_t *t = area + MADT_OFF;
	struct acpi_madt madt;
	size_t off = sizeof(madt);

	for (unsigned i = 0; i < cfg->nr_cpus; i++) {
		/* vmm/cpu_setup gives vCPU i APIC ID i; the ACPI processor UID
		 * is the same number, as no DSDT Processor objects exist. */
		struct madt_lapic l = { .type = 0, .length = sizeof(l),
					.processor_uid = (uint8_t)i,
					.apic_id = (uint8_t)i,
					.flags = MADT_ENABLED };

		memcpy(t + off, &l, sizeof(l));
		off += sizeof(l);
	}
	/* KVM's in-kernel I/O APIC. Its ID follows the CPUs' (as SeaBIOS
	 * does) so no reader sees it collide with a local APIC ID. */
	struct madt_ioapic io = { .type = 1, .length = sizeof(io),
				  .ioapic_id = (uint8_t)cfg->nr_cpus,
				  .address = IOAPIC_ADDR, .gsi_base = 0 };
	memcpy(t + off, &io, sizeof(io));
	off += sizeof(io);
	/* ISA IRQs map to GSIs 0-15 one to one unless overridden. No IRQ0
	 * override: vsbd keeps KVM's default GSI routing, which sends the
	 * in-kernel PIT's GSI 0 to I/O APIC pin 0 (QEMU reroutes it to pin 2
	 * and so lists 0 -> 2; here that would leave the timer on a dead pin).
	 * The SCI is level triggered, active high, as acpi_pm would drive it
	 * (Linux's default for an SCI without override is active low). */
	struct madt_iso sci = { .type = 2, .length = sizeof(sci), .bus = 0,
				.source = cfg->sci_irq, .gsi = cfg->sci_irq,
				.flags = INTI_HIGH_LEVEL };
	memcpy(t + off, &sci, sizeof(sci));
	off += sizeof(sci);
	/* NMI wired to LINT1 of every CPU, as on PCs (KVM's LAPIC model). */
	struct madt_lapic_nmi nmi = { .type = 4, .length = sizeof(nmi),
				      .processor_uid = 0xFF, .flags = 0,
				      .lint = 1 };
	memcpy(t + off, &nmi, sizeof(nmi));
	off += sizeof(nmi);

	memset(&madt, 0, sizeof(madt));
	header(&madt.h, "APIC", (uint32_t)off, 5);
	madt.lapic_addr = LAPIC_ADDR;
	madt.flags = MADT_PCAT_COMPAT;
	memcpy(t, &madt, sizeof(madt));
	seal(area, MADT_OFF);
}

int acpi_build(const struct guest_mem *m, const struct acpi_config *cfg,
	       uint64_t *rsdp, char *err, size_t errlen)
{
	uint8_t *area;
	struct acpi_header h;

	if (cfg->nr_cpus == 0 || cfg->nr_cpus > ACPI_MAX_CPUS)
		return boot_fail(err, errlen, -EINVAL,
				 "ACPI: %u CPUs, the MADT describes 1 to %d",
				 cfg->nr_cpus, ACPI_MAX_CPUS);
	area = gmem_ptr(m, BOOT_ACPI_ADDR, BOOT_ACPI_SIZE);
	if (!area)
		return boot_fail(err, errlen, -ENOMEM,
				 "guest RAM too small for the ACPI tables at "
				 "0x%llx", BOOT_ACPI_ADDR);
	memset(area, 0, BOOT_ACPI_SIZE);

	struct acpi_facs facs = { .signature = { 'F', 'A', 'C', 'S' },
				  .length = sizeof(facs), .version = 2 };
	memcpy(area + FACS_OFF, &facs, sizeof(facs)); /* no checksum */

	build_dsdt(area, cfg);
	build_fadt(area, cfg);
	build_madt(area, cfg);

	/* The root tables list the FADT first, by custom. */
	const uint64_t tables[] = { BOOT_ACPI_ADDR + FADT_OFF,
				    BOOT_ACPI_ADDR + MADT_OFF };
	const size_t n = sizeof(tables) / sizeof(tables[0]);

	header(&h, "XSDT", (uint32_t)(sizeof(h) + n * 8), 1);
	memcpy(area + XSDT_OFF, &h, sizeof(h));
	for (size_t i = 0; i < n; i++)
		memcpy(area + XSDT_OFF + sizeof(h) + i * 8, &tables[i], 8);
	seal(area, XSDT_OFF);

	header(&h, "RSDT", (uint32_t)(sizeof(h) + n * 4), 1);
	memcpy(area + RSDT_OFF, &h, sizeof(h));
	for (size_t i = 0; i < n; i++) {
		uint32_t a = (uint32_t)tables[i];

		memcpy(area + RSDT_OFF + sizeof(h) + i * 4, &a, 4);
	}
	seal(area, RSDT_OFF);

	struct acpi_rsdp r = { .revision = 2,
			       .rsdt_addr = (uint32_t)(BOOT_ACPI_ADDR +
						       RSDT_OFF),
			       .length = sizeof(r),
			       .xsdt_addr = BOOT_ACPI_ADDR + XSDT_OFF };
	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, OEM_ID, 6);
	/* The 20-byte checksum first: the extended one covers it. */
	r.checksum = checksum((const uint8_t *)&r, 20);
	r.ext_checksum = checksum((const uint8_t *)&r, sizeof(r));
	memcpy(area + RSDP_OFF, &r, sizeof(r));

	*rsdp = BOOT_ACPI_ADDR + RSDP_OFF;
	return 0;
}
