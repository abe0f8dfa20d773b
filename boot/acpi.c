/* Minimal ACPI tables, so that an unmodified Linux guest finds its vCPUs
 * (MADT), powers off through the PM1a control register (FADT + \_S5 in the
 * DSDT), still probes the legacy devices (FADT IAPC_BOOT_ARCH), binds its
 * pvpanic driver (a QEMU0001 device in the DSDT) and scans PCI bus 0 behind
 * a PCI root bridge (\_SB.PCI0 in the DSDT: windows and INTx routing).
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
 *   0xF0080  XSDT (FADT, MADT)
 *   0xF00C0  RSDT (the same, 32-bit, for ACPI 1.0 parsers)
 *   0xF0100  FADT (276 B)
 *   0xF0240  MADT (44 B + 8 B per CPU + 28 B; <= 2104 B for 254 CPUs)
 *   0xF1000  DSDT (header + AML for \_S5, \_SB.PEVT and \_SB.PCI0, about
 *            1.8 KiB, most of it the _PRT; DSDT_MAX_LEN = 4 KiB reserved)
 * All of it lies below BOOT_ACPI_ADDR + BOOT_ACPI_SIZE. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "../vmm/framebuffer.h"
#include "boot_priv.h"

#define RSDP_OFF 0x000
#define FACS_OFF 0x040
#define XSDT_OFF 0x080
#define RSDT_OFF 0x0C0
#define FADT_OFF 0x100
#define MADT_OFF 0x240
#define DSDT_OFF 0x1000
/* The DSDT's room: the AML emitter below never writes past it. */
#define DSDT_MAX_LEN (BOOT_ACPI_SIZE - DSDT_OFF)

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

/* ---- Resource descriptors: the bytes of a _CRS buffer (ACPI 6.3, 6.4) ---- */

/* Small item, type 8: I/O port descriptor, ASL IO() (6.4.2.5). */
struct res_io {
	uint8_t tag;            /* RES_TAG_IO: type 8 << 3 | 7 bytes follow */
	uint8_t info;           /* bit 0: decodes 16 address bits */
	uint16_t min, max;      /* lowest and highest base address */
	uint8_t aln;            /* base alignment */
	uint8_t len;            /* ports */
} __attribute__((packed));

/* Large item 0x88: Word Address Space Descriptor, ASL WordIO() and
 * WordBusNumber() (6.4.3.5.3). */
struct res_word {
	uint8_t tag;            /* RES_TAG_WORD */
	uint16_t length;        /* 13: the bytes after this field */
	uint8_t type;           /* RES_SPACE_* */
	uint8_t flags;          /* general flags: RES_PRODUCER_FIXED */
	uint8_t type_flags;     /* RES_IO_* for I/O, 0 for bus numbers */
	uint16_t gra, min, max, tra, len; /* _GRA _MIN _MAX _TRA _LEN */
} __attribute__((packed));

/* Large item 0x87: DWord Address Space Descriptor, ASL DWordMemory()
 * (6.4.3.5.2). */
struct res_dword {
	uint8_t tag;            /* RES_TAG_DWORD */
	uint16_t length;        /* 23 */
	uint8_t type, flags, type_flags;
	uint32_t gra, min, max, tra, len;
} __attribute__((packed));

/* Small item, type 0xF: End Tag (6.4.2.9). */
struct res_end {
	uint8_t tag;            /* RES_TAG_END: type 0xF << 3 | 1 byte */
	uint8_t checksum;       /* 0: "the template is valid", as iasl writes */
} __attribute__((packed));

_Static_assert(sizeof(struct res_io) == 8, "I/O port descriptor");
_Static_assert(sizeof(struct res_word) == 3 + 13, "Word Address Space");
_Static_assert(sizeof(struct res_dword) == 3 + 23, "DWord Address Space");
_Static_assert(sizeof(struct res_end) == 2, "End Tag");

#define RES_TAG_IO        0x47
#define RES_TAG_WORD      0x88
#define RES_TAG_DWORD     0x87
#define RES_TAG_END       0x79
#define RES_IO_DECODE16   0x01      /* res_io.info */
#define RES_SPACE_MEM     0         /* address space descriptors' type */
#define RES_SPACE_IO      1
#define RES_SPACE_BUS     2
/* General flags: bit 0 clear = ResourceProducer (a bridge window, which
 * Linux marks IORESOURCE_WINDOW), bit 1 clear = PosDecode, bit 2 _MIF,
 * bit 3 _MAF: MinFixed and MaxFixed, so _LEN = _MAX - _MIN + 1. */
#define RES_PRODUCER_FIXED 0x0C
#define RES_IO_ENTIRE     0x03      /* _RNG: ISA and non-ISA ranges */
#define RES_MEM_RW_UC     0x01      /* _RW read-write, _MEM non-cacheable,
				     * _MTP AddressRangeMemory */

/* A bridge window [lo, hi] (inclusive), granularity and translation 0. */
#define RES_WORD(space, tflags, lo, hi)                                     \
	{ .tag = RES_TAG_WORD, .length = sizeof(struct res_word) - 3,       \
	  .type = (space), .flags = RES_PRODUCER_FIXED,                     \
	  .type_flags = (tflags), .min = (lo), .max = (hi),                 \
	  .len = (hi) - (lo) + 1 }
#define RES_DWORD(space, tflags, lo, hi)                                    \
	{ .tag = RES_TAG_DWORD, .length = sizeof(struct res_dword) - 3,     \
	  .type = (space), .flags = RES_PRODUCER_FIXED,                     \
	  .type_flags = (tflags), .min = (lo), .max = (hi),                 \
	  .len = (hi) - (lo) + 1 }

/* \_SB.PCI0._CRS, the root bridge's resources:
 *   WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
 *                  0, 0, 0, 0, 1)                       bus 0 only
 *   IO (Decode16, 0x0CF8, 0x0CF8, 1, 8)                 consumed: config
 *                                                       mechanism #1
 *   WordIO (..., EntireRange, 0, 0x0000, 0x0CF7, 0, 0x0CF8)   windows:
 *   WordIO (..., EntireRange, 0, 0x0D00, 0xFFFF, 0, 0xF300)   all other
 *                                                             ports
 *   DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
 *                NonCacheable, ReadWrite, 0, BOOT_PCI_MEM_BASE,
 *                BOOT_PCI_MEM_END, 0, 0x1EC00000)       where BARs go
 * No legacy VGA window (0xA0000-0xBFFFF): no VGA device sits on the bus,
 * and Linux drives the framebuffer through screen_info. Linux (x86
 * pci_acpi_root_prepare_resources) drops the consumed 0xCF8-0xCFF range
 * and keeps the producer ranges as the bus's windows. */
static const struct {
	struct res_word bus;
	struct res_io config;
	struct res_word io_low, io_high;
	struct res_dword mem;
	struct res_end end;
} __attribute__((packed)) pci0_crs = {
	.bus = RES_WORD(RES_SPACE_BUS, 0, 0, 0),
	.config = { .tag = RES_TAG_IO, .info = RES_IO_DECODE16,
		    .min = 0xCF8, .max = 0xCF8, .aln = 1, .len = 8 },
	.io_low = RES_WORD(RES_SPACE_IO, RES_IO_ENTIRE, 0x0000, 0x0CF7),
	.io_high = RES_WORD(RES_SPACE_IO, RES_IO_ENTIRE, 0x0D00, 0xFFFF),
	.mem = RES_DWORD(RES_SPACE_MEM, RES_MEM_RW_UC, BOOT_PCI_MEM_BASE,
			 BOOT_PCI_MEM_END),
	.end = { .tag = RES_TAG_END },
};

/* The memory window lies in the PCI hole, above RAM and the framebuffer
 * and below the I/O APIC (and so below the local APIC). */
_Static_assert(BOOT_PCI_MEM_BASE >= GMEM_LOW_MAX, "window above low RAM");
_Static_assert(BOOT_PCI_MEM_BASE >= FB_GPA + FB_MAX_SIZE,
	       "window above the framebuffer");
_Static_assert(BOOT_PCI_MEM_END < IOAPIC_ADDR && IOAPIC_ADDR < LAPIC_ADDR,
	       "window below the APICs");

/* ---- AML, the DSDT's byte code (ACPI 6.3, chapter 20) ---- */

#define AML_ZERO        0x00    /* ZeroOp */
#define AML_ONE         0x01    /* OneOp */
#define AML_NAME        0x08    /* NameOp */
#define AML_BYTE        0x0A    /* BytePrefix */
#define AML_WORD        0x0B    /* WordPrefix */
#define AML_DWORD       0x0C    /* DWordPrefix */
#define AML_STRING      0x0D    /* StringPrefix */
#define AML_QWORD       0x0E    /* QWordPrefix */
#define AML_BUFFER      0x11    /* BufferOp */
#define AML_PACKAGE     0x12    /* PackageOp */
#define AML_DUAL_NAME   0x2E    /* DualNamePrefix: two NameSegs follow */
#define AML_MULTI_NAME  0x2F    /* MultiNamePrefix: SegCount, NameSegs */
#define AML_EXT         0x5B    /* ExtOpPrefix */
#define AML_DEVICE      0x82    /* DeviceOp, after ExtOpPrefix */
#define AML_ROOT        0x5C    /* RootChar '\' */

/* Writes AML into buf[0, cap). A write that does not fit sets overflow
 * and writes nothing, nor does anything after it: the caller checks
 * overflow once at the end. */
struct aml {
	uint8_t *buf;
	size_t len, cap;
	bool overflow;
};

static void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (a->overflow || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* An integer in its shortest encoding, as iasl writes it: ZeroOp, OneOp,
 * or a Byte/Word/DWord/QWord prefix and the value, little endian. */
static void aml_int(struct aml *a, uint64_t v)
{
	uint8_t b[9];
	size_t n;

	if (v <= 1) {
		aml_byte(a, v ? AML_ONE : AML_ZERO);
		return;
	}
	n = v <= 0xFF ? 1 : v <= 0xFFFF ? 2 : v <= 0xFFFFFFFF ? 4 : 8;
	b[0] = n == 1 ? AML_BYTE : n == 2 ? AML_WORD :
	       n == 4 ? AML_DWORD : AML_QWORD;
	for (size_t i = 0; i < n; i++)
		b[1 + i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, 1 + n);
}

/* A NameString from an ASL path: an optional leading '\', then NameSegs
 * separated by '.', each of up to 4 characters padded with '_' ("\_SB.PCI0"
 * gives RootChar DualNamePrefix "_SB_" "PCI0"). The paths are this file's
 * own literals. */
static void aml_path(struct aml *a, const char *path)
{
	unsigned segs = 1;

	if (*path == '\\') {
		aml_byte(a, AML_ROOT);
		path++;
	}
	for (const char *c = path; *c; c++)
		segs += *c == '.';
	if (segs == 2) {
		aml_byte(a, AML_DUAL_NAME);
	} else if (segs > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)segs);
	}
	while (segs--) {
		char seg[4] = { '_', '_', '_', '_' };

		for (size_t i = 0; *path && *path != '.'; path++)
			if (i < 4)
				seg[i++] = *path;
		if (*path == '.')
			path++;
		aml_bytes(a, seg, 4);
	}
}

/* A NUL-terminated string constant. */
static void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING);
	aml_bytes(a, s, strlen(s) + 1);
}

/* Name(path, ...): the caller writes the value next. */
static void aml_name(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME);
	aml_path(a, path);
}

/* A PkgLength-prefixed scope (Device, Package, Buffer) starts here: its
 * length is only known at aml_scope_end, which inserts it. */
static size_t aml_scope_begin(struct aml *a)
{
	return a->len;
}

/* Inserts, at start, the PkgLength of what was written since: it counts
 * its own bytes too (20.2.4). Up to 63 bytes it is one byte (bits 5:0);
 * beyond, bits 7:6 of the lead byte give the number of bytes that follow
 * (1-3), its bits 3:0 are the length's low 4 bits and each following byte
 * the next 8. */
static void aml_scope_end(struct aml *a, size_t start)
{
	size_t body = a->len - start, n, total;
	uint8_t enc[4];

	if (a->overflow)
		return;
	n = body + 1 <= 0x3F ? 1 : body + 2 <= 0xFFF ? 2 :
	    body + 3 <= 0xFFFFF ? 3 : 4;
	total = body + n;
	if (total > 0xFFFFFFF || n > a->cap - a->len) {
		a->overflow = true;
		return;
	}
	if (n == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((n - 1) << 6 | (total & 0x0F));
		for (size_t i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + start + n, a->buf + start, body);
	memcpy(a->buf + start, enc, n);
	a->len += n;
}

/* Device(path) { ... aml_scope_end }. */
static size_t aml_device_begin(struct aml *a, const char *path)
{
	size_t s;

	aml_byte(a, AML_EXT);
	aml_byte(a, AML_DEVICE);
	s = aml_scope_begin(a);
	aml_path(a, path);
	return s;
}

/* Package(count) { ... aml_scope_end }; count <= 255 (NumElements is a
 * byte; longer packages would need VarPackageOp). */
static size_t aml_package_begin(struct aml *a, unsigned count)
{
	size_t s;

	aml_byte(a, AML_PACKAGE);
	s = aml_scope_begin(a);
	if (count > 0xFF)
		a->overflow = true;
	aml_byte(a, (uint8_t)count);
	return s;
}

/* Buffer(n) { bytes }, e.g. a ResourceTemplate. */
static void aml_buffer(struct aml *a, const void *p, size_t n)
{
	size_t s;

	aml_byte(a, AML_BUFFER);
	s = aml_scope_begin(a);
	aml_int(a, n); /* BufferSize */
	aml_bytes(a, p, n);
	aml_scope_end(a, s);
}

/* EISAID("PNP0A03"): three letters of 5 bits each (A = 1), then four hex
 * digits, stored big endian, i.e. the bytes 41 D0 0A 03 in memory. */
static uint32_t eisa_id(const char id[7])
{
	uint32_t v = (uint32_t)(id[0] - '@') << 26 |
		     (uint32_t)(id[1] - '@') << 21 |
		     (uint32_t)(id[2] - '@') << 16;

	for (int i = 3; i < 7; i++) {
		char c = id[i];

		v |= (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10)
		     << (4 * (6 - i));
	}
	return __builtin_bswap32(v);
}

/* \_S5: the package Linux's acpi_get_sleep_type_data reads before writing
 * SLP_TYP, then SLP_EN, to PM1a_CNT. devices/acpi_pm powers off on SLP_EN
 * with any SLP_TYP; 5 is only the conventional value.
 *   Name(\_S5, Package(){ 5, 5, 0, 0 })  (SLP_TYPa, SLP_TYPb, reserved) */
static void aml_s5(struct aml *a)
{
	size_t s;

	aml_name(a, "\\_S5");
	s = aml_package_begin(a, 4);
	aml_int(a, 5);
	aml_int(a, 5);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_scope_end(a, s);
}

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
 * path needs no Scope(). */
static void aml_pvpanic(struct aml *a, uint16_t port)
{
	const struct {
		struct res_io io;
		struct res_end end;
	} __attribute__((packed)) crs = {
		.io = { .tag = RES_TAG_IO, .info = RES_IO_DECODE16,
			.min = port, .max = port, .aln = 1, .len = 1 },
		.end = { .tag = RES_TAG_END },
	};
	size_t d = aml_device_begin(a, "\\_SB.PEVT");

	aml_name(a, "_HID");
	aml_string(a, "QEMU0001");
	aml_name(a, "_CRS");
	aml_buffer(a, &crs, sizeof(crs));
	aml_scope_end(a, d);
}

/* PCI bus 0's slots with devices behind the root bridge (0 is the host
 * bridge itself, devices/pci_host.c), and their INTx pins. */
#define PCI_FIRST_SLOT 1
#define PCI_SLOTS      32
#define PCI_PINS       4        /* INTA..INTD */
#define PRT_ENTRIES    ((PCI_SLOTS - PCI_FIRST_SLOT) * PCI_PINS)

/* The PCI root bridge, so that Linux scans bus 0 through configuration
 * mechanism #1 (devices/pci_host.c), assigns BARs inside the windows and
 * routes INTx:
 *   Device(\_SB.PCI0) {
 *     Name(_HID, EisaId("PNP0A03"))   PCI bus (not PNP0A08: no PCIe, no
 *     Name(_UID, 0)                   MCFG, so no _OSC either)
 *     Name(_ADR, 0)
 *     Name(_BBN, 0)                   bus 0
 *     Name(_CRS, ResourceTemplate() { ...pci0_crs... })
 *     Name(_PRT, Package() {
 *       Package() { 0x0001FFFF, 0, 0, 17 },   slot 1 INTA: GSI 17
 *       ...   { 0xSSSSFFFF, pin, 0, boot_pci_intx_gsi(slot, pin) }
 *       Package() { 0x001FFFFF, 3, 0, 18 },   slot 31 INTD: GSI 18
 *     })
 *   }
 * _PRT entries: address = slot << 16 | 0xFFFF (any function), pin 0-3 =
 * INTA-INTD, Source 0 so that SourceIndex is the GSI itself (no link
 * devices): level triggered, active low, shareable. KVM's I/O APIC model
 * ignores the polarity bit, so vsbd asserting the line drives it with
 * level 1 (vm_irq_line). */
static void aml_pci0(struct aml *a)
{
	size_t d, prt;

	d = aml_device_begin(a, "\\_SB.PCI0");
	aml_name(a, "_HID");
	aml_int(a, eisa_id("PNP0A03"));
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_ADR");
	aml_int(a, 0);
	aml_name(a, "_BBN");
	aml_int(a, 0);
	aml_name(a, "_CRS");
	aml_buffer(a, &pci0_crs, sizeof(pci0_crs));
	aml_name(a, "_PRT");
	prt = aml_package_begin(a, PRT_ENTRIES);
	for (unsigned slot = PCI_FIRST_SLOT; slot < PCI_SLOTS; slot++)
		for (unsigned pin = 0; pin < PCI_PINS; pin++) {
			size_t e = aml_package_begin(a, 4);

			aml_int(a, (uint64_t)slot << 16 | 0xFFFF);
			aml_int(a, pin);
			aml_int(a, 0); /* Source: none, a GSI follows */
			aml_int(a, boot_pci_intx_gsi(slot, pin));
			aml_scope_end(a, e);
		}
	aml_scope_end(a, prt);
	aml_scope_end(a, d);
}

/* What the DSDT can take, counted from the code above: the header; \_S5
 * (15 B); \_SB.PEVT (47 B); \_SB.PCI0 with its NameString, names and the
 * headers of _CRS's buffer and _PRT's package (under 80 B) and _CRS's
 * bytes; and per _PRT entry at most 13 B (PackageOp, PkgLength,
 * NumElements, DWord address, BytePrefix pin, Zero, BytePrefix GSI). The
 * build checks the real size (the emitter stops at DSDT_MAX_LEN). */
#define PRT_ENTRY_MAX_LEN 13
#define DSDT_BOUND                                                         \
	(sizeof(struct acpi_header) + 15 + 47 + 80 + sizeof(pci0_crs) +    \
	 PRT_ENTRIES * PRT_ENTRY_MAX_LEN)
_Static_assert(PRT_ENTRIES <= 0xFF, "_PRT NumElements is one byte");
_Static_assert(BOOT_PCI_INTX_GSI_BASE + BOOT_PCI_INTX_GSIS <= 24,
	       "INTx GSIs on the 24-pin I/O APIC");

#define MADT_MAX_LEN                                                        \
	(sizeof(struct acpi_madt) + ACPI_MAX_CPUS * sizeof(struct madt_lapic) + \
	 sizeof(struct madt_ioapic) + sizeof(struct madt_iso) +             \
	 sizeof(struct madt_lapic_nmi))
_Static_assert(FACS_OFF % 64 == 0, "FACS alignment");
_Static_assert(RSDP_OFF + sizeof(struct acpi_rsdp) <= FACS_OFF, "RSDP");
_Static_assert(FACS_OFF + sizeof(struct acpi_facs) <= XSDT_OFF, "FACS");
_Static_assert(XSDT_OFF + sizeof(struct acpi_header) + 2 * 8 <= RSDT_OFF,
	       "XSDT");
_Static_assert(RSDT_OFF + sizeof(struct acpi_header) + 2 * 4 <= FADT_OFF,
	       "RSDT");
_Static_assert(FADT_OFF + sizeof(struct acpi_fadt) <= MADT_OFF, "FADT");
_Static_assert(MADT_OFF + MADT_MAX_LEN <= DSDT_OFF, "MADT");
_Static_assert(DSDT_BOUND <= DSDT_MAX_LEN, "DSDT");
_Static_assert(DSDT_OFF + DSDT_MAX_LEN <= BOOT_ACPI_SIZE, "DSDT room");
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

/* The DSDT: \_S5, the pvpanic device if there is one, the PCI root
 * bridge. false if it did not fit in DSDT_MAX_LEN (it always does, see
 * DSDT_BOUND). */
static bool build_dsdt(uint8_t *area, const struct acpi_config *cfg)
{
	uint8_t *t = area + DSDT_OFF;
	struct aml a = { .buf = t + sizeof(struct acpi_header),
			 .cap = DSDT_MAX_LEN - sizeof(struct acpi_header) };
	struct acpi_header h;

	aml_s5(&a);
	if (cfg->pvpanic_port)
		aml_pvpanic(&a, cfg->pvpanic_port);
	aml_pci0(&a);
	if (a.overflow)
		return false;
	/* Revision 2: 64-bit AML integers. */
	header(&h, "DSDT", (uint32_t)(sizeof(h) + a.len), 2);
	memcpy(t, &h, sizeof(h));
	seal(area, DSDT_OFF);
	return true;
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

	if (!build_dsdt(area, cfg)) {
		memset(area, 0, BOOT_ACPI_SIZE);
		return boot_fail(err, errlen, -ENOSPC,
				 "ACPI: the DSDT exceeds its %llu bytes",
				 (unsigned long long)DSDT_MAX_LEN);
	}
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
