/* Unit tests for the ACPI tables (boot/acpi.c). The tables are built into a
 * plain buffer and read back the way a guest does: scan the BIOS area for
 * the RSDP, follow XSDT/RSDT, check every checksum, then the FADT, MADT and
 * DSDT contents (byte by byte, and through ACPICA's own parser: iasl
 * disassembles the DSDT and compiles the result back to the same AML).
 * Also: the e820 map reserves them, and both loaders pass the RSDP address
 * on (boot_params.acpi_rsdp_addr, hvm_start_info.rsdp_paddr). */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../boot/boot.h"
#include "guest_buf.h"

#define MiB (1ULL << 20)
#define GUEST_SIZE (64 * MiB)

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t g64(const uint8_t *p)
{
	return (uint64_t)g32(p) | (uint64_t)g32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

static const struct acpi_config std_cfg = {
	.nr_cpus = 4, .pm1a_evt = 0x600, .pm1a_cnt = 0x604, .sci_irq = 9,
	.pvpanic_port = 0x505,
};

/* ---- reading the tables back, as a guest ---- */

/* Linux's acpi_find_root_pointer: 16-byte steps over 0xE0000-0xFFFFF for
 * the signature with a valid ACPI 1.0 checksum. Asserts exactly one. */
static uint64_t scan_rsdp(const struct guest *g)
{
	uint64_t found = 0;
	unsigned n = 0;

	for (uint64_t a = 0xE0000; a < 0x100000; a += 16) {
		const uint8_t *p = g->buf + a;

		if (memcmp(p, "RSD PTR ", 8) == 0 && sum8(p, 20) == 0) {
			found = a;
			n++;
		}
	}
	assert_int_equal(n, 1);
	return found;
}

/* Checks a table's header at addr and returns a pointer to it. */
static const uint8_t *table(const struct guest *g, uint64_t addr,
			    const char *sig, uint8_t min_rev)
{
	const uint8_t *t;
	uint32_t len;

	/* Every table lies in the area acpi_build owns. */
	assert_true(addr >= BOOT_ACPI_ADDR &&
		    addr + 36 <= BOOT_ACPI_ADDR + BOOT_ACPI_SIZE);
	t = g->buf + addr;
	assert_memory_equal(t, sig, 4);
	len = g32(t + 4);
	assert_true(len >= 36);
	assert_true(addr + len <= BOOT_ACPI_ADDR + BOOT_ACPI_SIZE);
	assert_true(t[8] >= min_rev);
	if (sum8(t, len) != 0)
		fail_msg("%s at 0x%llx: bad checksum", sig,
			 (unsigned long long)addr);
	assert_memory_equal(t + 10, "VSBD  ", 6); /* OEM ID */
	return t;
}

struct found {
	const uint8_t *fadt, *madt, *dsdt, *facs;
	uint64_t rsdp;
};

/* RSDP, XSDT, RSDT; returns the tables they lead to. */
static struct found walk_roots(const struct guest *g)
{
	struct found f = { 0 };
	const uint8_t *r, *x, *rs;
	unsigned nx, nr;

	f.rsdp = scan_rsdp(g);
	r = g->buf + f.rsdp;
	assert_int_equal(f.rsdp % 16, 0);
	assert_int_equal(r[15], 2);              /* revision */
	assert_int_equal(g32(r + 20), 36);       /* length */
	assert_int_equal(sum8(r, 36), 0);        /* extended checksum */
	assert_memory_equal(r + 9, "VSBD  ", 6);

	x = table(g, g64(r + 24), "XSDT", 1);
	rs = table(g, g32(r + 16), "RSDT", 1);
	nx = (g32(x + 4) - 36) / 8;
	nr = (g32(rs + 4) - 36) / 4;
	assert_int_equal(g32(x + 4), 36 + nx * 8);
	assert_int_equal(nx, 2);
	assert_int_equal(nr, nx);
	for (unsigned i = 0; i < nx; i++) {
		uint64_t a = g64(x + 36 + i * 8);

		/* The RSDT lists the same tables, in 32 bits. */
		assert_int_equal(g32(rs + 36 + i * 4), a);
		if (memcmp(g->buf + a, "FACP", 4) == 0) {
			assert_null(f.fadt);
			f.fadt = table(g, a, "FACP", 2);
		} else if (memcmp(g->buf + a, "APIC", 4) == 0) {
			assert_null(f.madt);
			f.madt = table(g, a, "APIC", 1);
		} else {
			fail_msg("unexpected table %.4s", g->buf + a);
		}
	}
	assert_non_null(f.fadt);
	assert_non_null(f.madt);
	return f;
}

/* ACPI GAS: space, bit width, offset, access size, address. */
static void check_io_gas(const uint8_t *gas, uint16_t port, unsigned bytes)
{
	assert_int_equal(gas[0], 1); /* SystemIO */
	assert_int_equal(gas[1], bytes * 8);
	assert_int_equal(gas[2], 0);
	assert_int_equal(g64(gas + 4), port);
}

static void check_fadt(const struct guest *g, struct found *f,
		       const struct acpi_config *cfg)
{
	const uint8_t *t = f->fadt;
	uint64_t dsdt = g64(t + 140), facs;

	assert_int_equal(g32(t + 4), 276);
	assert_int_equal(t[8], 6);
	/* DSDT and X_DSDT agree; the FACS in exactly one of its fields. */
	assert_int_equal(g32(t + 40), dsdt);
	facs = g32(t + 36);
	assert_int_equal(g64(t + 132), 0);
	assert_int_not_equal(facs, 0);
	assert_int_equal(facs % 64, 0);
	assert_true(facs >= BOOT_ACPI_ADDR &&
		    facs + 64 <= BOOT_ACPI_ADDR + BOOT_ACPI_SIZE);
	f->facs = g->buf + facs;
	assert_memory_equal(f->facs, "FACS", 4);
	assert_int_equal(g32(f->facs + 4), 64);
	f->dsdt = table(g, dsdt, "DSDT", 2);

	assert_int_equal(g16(t + 46), cfg->sci_irq);  /* SCI_INT */
	assert_int_equal(g32(t + 48), 0);             /* SMI_CMD: ACPI mode */
	assert_int_equal(g32(t + 56), cfg->pm1a_evt); /* PM1a_EVT_BLK */
	assert_int_equal(g32(t + 60), 0);             /* no PM1b */
	assert_int_equal(g32(t + 64), cfg->pm1a_cnt); /* PM1a_CNT_BLK */
	assert_int_equal(g32(t + 76), 0);             /* no PM timer */
	assert_int_equal(g32(t + 80), 0);             /* no GPE0 */
	assert_int_equal(t[88], 4);                   /* PM1_EVT_LEN */
	assert_int_equal(t[89], 2);                   /* PM1_CNT_LEN */
	assert_int_equal(t[91], 0);                   /* PM_TMR_LEN */
	assert_int_equal(g16(t + 109) & 3, 3);        /* LEGACY_DEVICES|8042 */
	assert_int_equal(g32(t + 112) & (1u << 20), 0); /* not HW_REDUCED */
	assert_int_equal(g32(t + 112) & 1, 1);        /* WBINVD */
	check_io_gas(t + 148, cfg->pm1a_evt, 4);      /* X_PM1a_EVT_BLK */
	check_io_gas(t + 172, cfg->pm1a_cnt, 2);      /* X_PM1a_CNT_BLK */
	assert_int_equal(g64(t + 208 + 4), 0);        /* X_PM_TMR_BLK */
	assert_int_equal(g64(t + 244 + 4), 0);        /* no sleep registers */
}

static void check_madt(const struct found *f, const struct acpi_config *cfg)
{
	const uint8_t *t = f->madt;
	uint32_t len = g32(t + 4);
	bool seen[256] = { false };
	unsigned lapics = 0, ioapics = 0, nmis = 0, sci_iso = 0;

	assert_int_equal(g32(t + 36), 0xFEE00000);   /* local APIC address */
	assert_int_equal(g32(t + 40) & 1, 1);        /* PCAT_COMPAT */
	for (uint32_t off = 44; off < len;) {
		const uint8_t *e = t + off;

		assert_true(off + 2 <= len);
		assert_true(e[1] >= 2 && off + e[1] <= len);
		switch (e[0]) {
		case 0: /* Processor Local APIC */
			assert_int_equal(e[1], 8);
			assert_int_equal(g32(e + 4) & 1, 1); /* enabled */
			assert_true(e[3] < cfg->nr_cpus);
			assert_false(seen[e[3]]);
			seen[e[3]] = true;
			assert_int_equal(e[2], e[3]); /* UID = APIC ID */
			lapics++;
			break;
		case 1: /* I/O APIC */
			assert_int_equal(e[1], 12);
			assert_int_equal(e[2], cfg->nr_cpus);
			assert_int_equal(g32(e + 4), 0xFEC00000);
			assert_int_equal(g32(e + 8), 0);
			ioapics++;
			break;
		case 2: /* Interrupt Source Override */
			assert_int_equal(e[1], 10);
			assert_int_equal(e[2], 0); /* ISA */
			/* IRQ0 stays on GSI 0: KVM's default routing puts
			 * the PIT there (see boot/acpi.c). */
			assert_int_not_equal(e[3], 0);
			if (e[3] == cfg->sci_irq) {
				assert_int_equal(g32(e + 4), cfg->sci_irq);
				assert_int_equal(g16(e + 8), 0x000D);
				sci_iso++;
			}
			break;
		case 4: /* Local APIC NMI */
			assert_int_equal(e[1], 6);
			assert_int_equal(e[2], 0xFF);
			assert_int_equal(e[5], 1); /* LINT1 */
			nmis++;
			break;
		default:
			fail_msg("unexpected MADT entry type %u", e[0]);
		}
		off += e[1];
	}
	assert_int_equal(lapics, cfg->nr_cpus);
	for (unsigned i = 0; i < cfg->nr_cpus; i++)
		assert_true(seen[i]);
	assert_int_equal(ioapics, 1);
	assert_int_equal(sci_iso, 1);
	assert_int_equal(nmis, 1);
}

/* One AML integer: ZeroOp, OneOp or Byte/Word/DWord/QWordPrefix. */
static uint64_t aml_int(const uint8_t **p)
{
	const uint8_t *q = *p;

	switch (q[0]) {
	case 0x00: *p = q + 1; return 0;
	case 0x01: *p = q + 1; return 1;
	case 0x0A: *p = q + 2; return q[1];
	case 0x0B: *p = q + 3; return g16(q + 1);
	case 0x0C: *p = q + 5; return g32(q + 1);
	case 0x0E: *p = q + 9; return g64(q + 1);
	default: fail_msg("AML: not an integer opcode 0x%02x", q[0]);
	}
	return 0;
}

/* An AML PkgLength (1 to 4 bytes); *p moves past it. */
static uint32_t aml_pkglen(const uint8_t **p)
{
	const uint8_t *q = *p;
	unsigned extra = q[0] >> 6;
	uint32_t len;

	if (extra == 0) {
		len = q[0] & 0x3F;
	} else {
		assert_int_equal(q[0] & 0x30, 0); /* reserved bits */
		len = q[0] & 0x0F;
		for (unsigned i = 0; i < extra; i++)
			len |= (uint32_t)q[1 + i] << (4 + 8 * i);
	}
	*p = q + 1 + extra;
	return len;
}

/* A NameString of NameSegs: '\' or '^'s, then one seg, a dual or a multi
 * name prefix; *p moves past it. */
static void aml_name(const uint8_t **p)
{
	const uint8_t *q = *p;
	unsigned segs = 1;

	while (*q == 0x5C || *q == 0x5E)
		q++;
	if (*q == 0x2E) {
		segs = 2;
		q++;
	} else if (*q == 0x2F) {
		segs = q[1];
		q += 2;
	}
	for (unsigned i = 0; i < segs; i++, q += 4)
		for (int c = 0; c < 4; c++)
			assert_true(q[c] == '_' || (q[c] >= 'A' && q[c] <= 'Z') ||
				    (c > 0 && q[c] >= '0' && q[c] <= '9'));
	*p = q;
}

/* The DSDT's top-level terms, which must be Name(..., Package) or
 * Device(...) and end exactly at the table's end: a PkgLength that is off
 * by one shows up here. Returns how many Devices it saw. */
static unsigned walk_aml(const uint8_t *aml, const uint8_t *end)
{
	const uint8_t *p = aml;
	unsigned devices = 0;

	while (p < end) {
		const uint8_t *start;

		if (p[0] == 0x08) {                     /* NameOp */
			p++;
			aml_name(&p);
			assert_int_equal(p[0], 0x12);   /* PackageOp */
			p++;
			start = p;
			p = start + aml_pkglen(&p);
		} else if (p[0] == 0x5B && p[1] == 0x82) { /* DeviceOp */
			p += 2;
			start = p;
			p = start + aml_pkglen(&p);
			devices++;
		} else {
			fail_msg("AML: unexpected top-level opcode 0x%02x",
				 p[0]);
		}
		assert_true(p <= end);
	}
	assert_true(p == end);
	return devices;
}

/* Finds the pvpanic device by its _HID and checks it is
 * Device(\_SB.PEVT){ Name(_HID, "QEMU0001") Name(_CRS, ResourceTemplate(){
 * IO(Decode16, port, port, 1, 1) }) } (absent when port is 0). */
static void check_pvpanic(const uint8_t *aml, const uint8_t *end,
			  uint16_t port)
{
	const uint8_t *hid = NULL, *p, *dev_end;
	unsigned n = 0;

	for (const uint8_t *q = aml; q + 8 <= end; q++)
		if (memcmp(q, "QEMU0001", 8) == 0) {
			hid = q;
			n++;
		}
	/* \_SB.PEVT if there is a port, and \_SB.PCI0 always. */
	assert_int_equal(walk_aml(aml, end), port ? 2 : 1);
	if (!port) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, 1);
	/* Name(_HID, String) inside the Device that opens the AML after \_S5. */
	assert_int_equal(hid[8], 0x00);                     /* NUL */
	assert_int_equal(hid[-1], 0x0D);                    /* StringPrefix */
	assert_memory_equal(hid - 6, "\x08_HID", 5);
	p = hid - 6 - 13;
	assert_memory_equal(p, "\x5B\x82", 2);              /* DeviceOp */
	p += 2;
	dev_end = p;
	dev_end += aml_pkglen(&p);
	assert_true(dev_end <= end);
	assert_memory_equal(p, "\\\x2E_SB_PEVT", 10);
	/* Name(_CRS, Buffer) right after the _HID, ending the Device. */
	p = hid + 9;
	assert_memory_equal(p, "\x08_CRS\x11", 6);
	p += 6;
	const uint8_t *buf_end = p;
	buf_end += aml_pkglen(&p);
	assert_true(buf_end == dev_end);
	assert_int_equal(p[0], 0x0A);                       /* BytePrefix */
	assert_int_equal(p[1], buf_end - (p + 2));          /* BufferSize */
	p += 2;
	assert_int_equal(p[0], 0x47);                       /* IO, 7 bytes */
	assert_int_equal(p[1], 0x01);                       /* Decode16 */
	assert_int_equal(g16(p + 2), port);                 /* _MIN */
	assert_int_equal(g16(p + 4), port);                 /* _MAX */
	assert_int_equal(p[6], 1);                          /* _ALN */
	assert_int_equal(p[7], 1);                          /* _LEN */
	assert_int_equal(p[8], 0x79);                       /* End tag */
	assert_int_equal(p[9], 0x00);
	assert_true(p + 10 == buf_end);
}

/* Expects Name(seg, ...) at *p and moves to the value. */
static void expect_name(const uint8_t **p, const char *seg)
{
	assert_int_equal((*p)[0], 0x08); /* NameOp */
	assert_memory_equal(*p + 1, seg, 4);
	*p += 5;
}

/* A Word (0x88) or DWord (0x87) Address Space Descriptor at *p of the
 * given resource type, producer, MinFixed, MaxFixed, PosDecode, granularity
 * and translation 0, covering [min, max]; *p moves past it. */
static void expect_addr_desc(const uint8_t **p, unsigned width,
			     unsigned type, unsigned type_flags, uint64_t min,
			     uint64_t max)
{
	const uint8_t *d = *p;
	uint64_t f[5]; /* _GRA _MIN _MAX _TRA _LEN */

	assert_int_equal(d[0], width == 2 ? 0x88 : 0x87);
	assert_int_equal(g16(d + 1), 3 + 5 * width); /* bytes that follow */
	assert_int_equal(d[3], type);
	assert_int_equal(d[4], 0x0C); /* _MAF | _MIF, PosDecode, producer */
	assert_int_equal(d[5], type_flags);
	for (unsigned i = 0; i < 5; i++)
		f[i] = width == 2 ? g16(d + 6 + 2 * i) : g32(d + 6 + 4 * i);
	assert_int_equal(f[0], 0);
	assert_int_equal(f[1], min);
	assert_int_equal(f[2], max);
	assert_int_equal(f[3], 0);
	assert_int_equal(f[4], max - min + 1);
	*p = d + 6 + 5 * width;
}

/* Name(_CRS, ResourceTemplate(){...}) of \_SB.PCI0, at its Buffer. */
static void check_pci0_crs(const uint8_t **pp)
{
	const uint8_t *p = *pp, *buf_end;
	uint64_t size;

	assert_int_equal(p[0], 0x11);                        /* BufferOp */
	p++;
	buf_end = p;
	buf_end += aml_pkglen(&p);
	size = aml_int(&p);                                  /* BufferSize */
	assert_int_equal(size, buf_end - p);
	/* WordBusNumber: bus 0 only. */
	expect_addr_desc(&p, 2, 2, 0, 0, 0);
	/* IO(Decode16, 0xCF8, 0xCF8, 1, 8): the config ports, consumed. */
	assert_memory_equal(p, "\x47\x01\xF8\x0C\xF8\x0C\x01\x08", 8);
	p += 8;
	/* WordIO windows, EntireRange: every port but 0xCF8-0xCFF. */
	expect_addr_desc(&p, 2, 1, 0x03, 0x0000, 0x0CF7);
	expect_addr_desc(&p, 2, 1, 0x03, 0x0D00, 0xFFFF);
	/* DWordMemory window, non-cacheable, read-write: above the
	 * framebuffer (0xD0000000 + 64 MiB) and below the I/O APIC. */
	expect_addr_desc(&p, 4, 0, 0x01, 0xE0000000, 0xFEBFFFFF);
	assert_int_equal(BOOT_PCI_MEM_BASE, 0xE0000000);
	assert_int_equal(BOOT_PCI_MEM_END, 0xFEBFFFFF);
	assert_memory_equal(p, "\x79\x00", 2);              /* End tag */
	p += 2;
	assert_true(p == buf_end);
	*pp = p;
}

/* Name(_PRT, Package(){...}) of \_SB.PCI0, at its Package: one entry per
 * slot 1..31 and pin 0..3, { slot << 16 | 0xFFFF, pin, 0, GSI } with
 * GSI = 16 + ((slot + pin) mod 8), in that order. */
static void check_prt(const uint8_t **pp)
{
	const uint8_t *p = *pp, *prt_end;
	unsigned entries = 0;

	assert_int_equal(p[0], 0x12);                        /* PackageOp */
	p++;
	prt_end = p;
	prt_end += aml_pkglen(&p);
	assert_int_equal(p[0], 124);                         /* NumElements */
	p++;
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			const uint8_t *e_end;
			unsigned gsi = 16 + (slot + pin) % 8;

			assert_int_equal(p[0], 0x12);
			p++;
			e_end = p;
			e_end += aml_pkglen(&p);
			assert_int_equal(p[0], 4);
			p++;
			assert_int_equal(aml_int(&p), slot << 16 | 0xFFFF);
			assert_int_equal(aml_int(&p), pin);
			assert_int_equal(aml_int(&p), 0);    /* no link */
			assert_int_equal(aml_int(&p), gsi);
			assert_int_equal(boot_pci_intx_gsi(slot, pin), gsi);
			assert_true(p == e_end);
			entries++;
		}
	}
	assert_int_equal(entries, 124);
	assert_true(p == prt_end);
	*pp = p;
}

/* Device(\_SB.PCI0){ _HID EISAID("PNP0A03"), _UID 0, _ADR 0, _BBN 0,
 * _CRS, _PRT }, once, and nothing else in it. */
static void check_pci0(const uint8_t *aml, const uint8_t *end)
{
	static const uint8_t path[10] = "\\\x2E_SB_PCI0";
	const uint8_t *dev = NULL, *p, *dev_end;
	unsigned n = 0;

	for (const uint8_t *q = aml; q + sizeof(path) <= end; q++)
		if (memcmp(q, path, sizeof(path)) == 0) {
			dev = q;
			n++;
		}
	assert_int_equal(n, 1);
	/* DeviceOp and a two-byte PkgLength (the device is > 63 bytes). */
	assert_memory_equal(dev - 4, "\x5B\x82", 2);
	p = dev - 2;
	dev_end = p;
	dev_end += aml_pkglen(&p);
	assert_true(p == dev);
	assert_true(dev_end <= end);
	p += sizeof(path);
	expect_name(&p, "_HID");
	/* EISAID("PNP0A03") = the bytes 41 D0 0A 03: a DWordConst. */
	assert_memory_equal(p, "\x0C\x41\xD0\x0A\x03", 5);
	assert_int_equal(aml_int(&p), 0x030AD041);
	expect_name(&p, "_UID");
	assert_int_equal(aml_int(&p), 0);
	expect_name(&p, "_ADR");
	assert_int_equal(aml_int(&p), 0);
	expect_name(&p, "_BBN");
	assert_int_equal(aml_int(&p), 0);
	expect_name(&p, "_CRS");
	check_pci0_crs(&p);
	expect_name(&p, "_PRT");
	check_prt(&p);
	assert_true(p == dev_end);
}

/* Finds Name(\_S5_, Package(){a, b, ...}) in the DSDT's AML and checks it
 * is well formed and inside the table; then the pvpanic device. */
static void check_dsdt(const struct found *f, const struct acpi_config *cfg)
{
	const uint8_t *t = f->dsdt, *aml = t + 36, *end = t + g32(t + 4);
	const uint8_t *p = NULL;

	assert_int_equal(t[8], 2); /* 64-bit AML integers */
	for (const uint8_t *q = aml; q + 4 <= end; q++)
		if (memcmp(q, "_S5_", 4) == 0)
			p = q;
	assert_non_null(p);
	/* NameOp, optionally with a root prefix. */
	assert_true(p[-1] == 0x08 || (p[-1] == 0x5C && p[-2] == 0x08));
	p += 4;
	assert_int_equal(p[0], 0x12);       /* PackageOp */
	assert_int_equal(p[1] >> 6, 0);     /* one-byte PkgLength */
	const uint8_t *pkg_end = p + 1 + (p[1] & 0x3F);
	assert_true(pkg_end <= end);
	unsigned count = p[2];
	assert_true(count >= 2);
	p += 3;
	assert_int_equal(aml_int(&p), 5);   /* SLP_TYPa */
	assert_int_equal(aml_int(&p), 5);   /* SLP_TYPb */
	for (unsigned i = 2; i < count; i++)
		aml_int(&p);
	assert_true(p == pkg_end);
	check_pvpanic(aml, end, cfg->pvpanic_port);
	check_pci0(aml, end);
	/* The length, counted by hand: header 36, \_S5 15, \_SB.PEVT 47,
	 * \_SB.PCI0 1695: DeviceOp 2, PkgLength 2, NameString 10, _HID 10,
	 * _UID, _ADR, _BBN 6 each, _CRS 94 (Name 5, BufferOp 1, PkgLength 2,
	 * BufferSize 2, descriptors 16 + 8 + 16 + 16 + 26 + 2), _PRT 1559
	 * (Name 5, PackageOp 1, PkgLength 2, NumElements 1, 31 slots of
	 * 12 + 12 + 13 + 13: pins 2 and 3 need a BytePrefix, 0 and 1 are
	 * Zero and One). */
	assert_int_equal(g32(t + 4), cfg->pvpanic_port ? 1793 : 1746);
}

static void check_all(const struct guest *g, const struct acpi_config *cfg,
		      uint64_t rsdp)
{
	struct found f = walk_roots(g);

	assert_int_equal(f.rsdp, rsdp);
	check_fadt(g, &f, cfg);
	check_madt(&f, cfg);
	check_dsdt(&f, cfg);
}

/* ---- tests ---- */

static void test_tables(void **state)
{
	/* Largest first: each build must clear what the previous one left. */
	static const unsigned cpus[] = { 254, 64, 4, 2, 1 };
	struct guest g;

	(void)state;
	guest_new(&g, GUEST_SIZE);
	for (size_t i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
		struct acpi_config cfg = std_cfg;
		uint64_t rsdp = 0;
		char err[256] = "";

		cfg.nr_cpus = cpus[i];
		assert_int_equal(acpi_build(&g.m, &cfg, &rsdp, err,
					    sizeof(err)), 0);
		assert_int_equal(rsdp, BOOT_ACPI_ADDR);
		check_all(&g, &cfg, rsdp);
	}
	/* Junk in the area (a rebooted guest's leftovers) is wiped. */
	memset(g.buf + BOOT_ACPI_ADDR, 0xA5, BOOT_ACPI_SIZE);
	uint64_t rsdp = 0;
	assert_int_equal(acpi_build(&g.m, &std_cfg, &rsdp, NULL, 0), 0);
	check_all(&g, &std_cfg, rsdp);
	assert_true(g.buf[BOOT_ACPI_ADDR + BOOT_ACPI_SIZE - 1] == 0);
	free(g.buf);
}

static void test_other_ports(void **state)
{
	struct acpi_config cfg = { .nr_cpus = 3, .pm1a_evt = 0xB000,
				   .pm1a_cnt = 0xB004, .sci_irq = 10,
				   .pvpanic_port = 0xB0F1 };
	struct guest g;
	uint64_t rsdp = 0;

	(void)state;
	guest_new(&g, GUEST_SIZE);
	assert_int_equal(acpi_build(&g.m, &cfg, &rsdp, NULL, 0), 0);
	check_all(&g, &cfg, rsdp);
	/* No pvpanic port: no device, a shorter DSDT with a valid checksum
	 * (checked by check_all). */
	cfg.pvpanic_port = 0;
	assert_int_equal(acpi_build(&g.m, &cfg, &rsdp, NULL, 0), 0);
	check_all(&g, &cfg, rsdp);
	free(g.buf);
}

static void test_errors(void **state)
{
	struct acpi_config cfg = std_cfg;
	struct guest g;
	uint64_t rsdp = 0x1234;
	char err[256];

	(void)state;
	guest_new(&g, GUEST_SIZE);
	cfg.nr_cpus = 0;
	err[0] = 0;
	assert_int_equal(acpi_build(&g.m, &cfg, &rsdp, err, sizeof(err)),
			 -EINVAL);
	assert_true(err[0] != 0);
	cfg.nr_cpus = 255;
	err[0] = 0;
	assert_int_equal(acpi_build(&g.m, &cfg, &rsdp, err, sizeof(err)),
			 -EINVAL);
	assert_true(err[0] != 0);
	assert_int_equal(rsdp, 0x1234);
	assert_true(all_zero(g.buf, 2 * MiB));
	free(g.buf);

	/* RAM ending inside the area, or before it. */
	static const uint64_t small[] = { 256 * 1024, BOOT_ACPI_ADDR,
					  BOOT_ACPI_ADDR + BOOT_ACPI_SIZE - 1 };
	for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		guest_new(&g, small[i]);
		err[0] = 0;
		assert_int_equal(acpi_build(&g.m, &std_cfg, &rsdp, err,
					    sizeof(err)), -ENOMEM);
		assert_non_null(strstr(err, "ACPI"));
		assert_true(all_zero(g.buf, small[i]));
		free(g.buf);
	}
	/* Just enough RAM. */
	guest_new(&g, BOOT_ACPI_ADDR + BOOT_ACPI_SIZE);
	assert_int_equal(acpi_build(&g.m, &std_cfg, &rsdp, NULL, 0), 0);
	free(g.buf);
}

/* The INTx rule both vsbd and the operator's device models use. */
static void test_intx_gsi(void **state)
{
	(void)state;
	for (unsigned slot = 1; slot < 32; slot++) {
		unsigned seen = 0;

		for (unsigned pin = 0; pin < 4; pin++) {
			unsigned gsi = boot_pci_intx_gsi(slot, pin);

			/* Above the ISA IRQs, on the 24-pin I/O APIC. */
			assert_true(gsi >= 16 && gsi <= 23);
			assert_int_equal(gsi, 16 + (slot + pin) % 8);
			seen |= 1u << gsi;
		}
		/* A device's four pins reach four different lines. */
		assert_int_equal(__builtin_popcount(seen), 4);
	}
	/* INTA of slots 1..8 covers all eight lines once. */
	unsigned inta = 0;
	for (unsigned slot = 1; slot <= 8; slot++)
		inta |= 1u << boot_pci_intx_gsi(slot, 0);
	assert_int_equal(inta, 0xFFu << 16);
}

/* ---- ACPICA's own parser: iasl (Debian acpica-tools) ---- */

/* Runs argv[0] (looked up in PATH) with stdout and stderr into log;
 * returns its exit status, or -1 if it could not run or was killed. */
static int run_logged(char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	extern char **environ;
	pid_t pid;
	int st, rc;

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(
				 &fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC,
				 0600), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have_iasl(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		if (n > 0 && n < sizeof(buf) - 6) {
			memcpy(buf, path, n);
			memcpy(buf + n, "/iasl", 6);
			if (access(buf, X_OK) == 0)
				return true;
		}
		path += n + (path[n] == ':');
	}
	return false;
}

/* A whole file, NUL terminated; *len (if not NULL) gets its size. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

static unsigned count_str(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* One ASL integer as iasl prints it: Zero, One or a hex constant. */
static uint64_t asl_int(const char **s)
{
	const char *p = *s + strspn(*s, " \t\r\n");
	char *endp;
	uint64_t v;

	if (strncmp(p, "Zero", 4) == 0) {
		*s = p + 4;
		return 0;
	}
	if (strncmp(p, "One", 3) == 0) {
		*s = p + 3;
		return 1;
	}
	v = strtoull(p, &endp, 0);
	if (endp == p)
		fail_msg("ASL: not an integer: %.20s", p);
	*s = endp;
	return v;
}

/* Expects c after optional white space. */
static void asl_expect(const char **s, char c)
{
	const char *p = *s + strspn(*s, " \t\r\n");

	if (*p != c)
		fail_msg("ASL: expected '%c' at: %.40s", c, p);
	*s = p + 1;
}

/* The DSDT as iasl's disassembler sees it: no complaints, the PCI root
 * bridge with its _CRS decoded as resource descriptors (a malformed one
 * is shown as a raw Buffer), the windows, and the 124 _PRT entries with
 * their values. */
static void check_disassembly(const char *dsl, const char *log,
			      bool pvpanic)
{
	static const char *const bad[] = { "Error", "Warning", "Incorrect",
					   "Unknown", "AE_", "Buffer (" };
	const char *p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (strstr(log, bad[i]))
			fail_msg("iasl -d says \"%s\":\n%s", bad[i], log);
		if (strstr(dsl, bad[i]))
			fail_msg("disassembly has \"%s\"", bad[i]);
	}
	assert_non_null(strstr(log, "Disassembly completed"));
	assert_int_equal(count_str(dsl, "Device (\\_SB.PCI0)"), 1);
	assert_int_equal(count_str(dsl, "EisaId (\"PNP0A03\")"), 1);
	assert_int_equal(count_str(dsl, "PNP0A03"), 1);
	assert_non_null(strstr(dsl, "Name (_UID, Zero)"));
	assert_non_null(strstr(dsl, "Name (_ADR, Zero)"));
	assert_non_null(strstr(dsl, "Name (_BBN, Zero)"));
	assert_int_equal(count_str(dsl, "QEMU0001"), pvpanic ? 1 : 0);
	assert_non_null(strstr(dsl, "Name (\\_S5, Package (0x04)"));
	/* _CRS: bus 0, the config ports, two I/O windows, one memory
	 * window (the only DWordMemory), in this order. */
	p = strstr(dsl, "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, "
			"PosDecode,");
	assert_non_null(p);
	p = strstr(p, "IO (Decode16,");
	assert_non_null(p);
	p += strlen("IO (Decode16,");
	assert_int_equal(asl_int(&p), 0x0CF8);          /* Range Minimum */
	p = strchr(p, '\n');
	assert_int_equal(asl_int(&p), 0x0CF8);          /* Range Maximum */
	p = strchr(p, '\n');
	assert_int_equal(asl_int(&p), 0x01);            /* Alignment */
	p = strchr(p, '\n');
	assert_int_equal(asl_int(&p), 0x08);            /* Length */
	assert_int_equal(count_str(dsl, "WordIO (ResourceProducer, MinFixed, "
				   "MaxFixed, PosDecode, EntireRange,"), 2);
	assert_non_null(strstr(dsl, "0x0CF7,             // Range Maximum"));
	assert_non_null(strstr(dsl, "0x0D00,             // Range Minimum"));
	assert_non_null(strstr(dsl, "0xFFFF,             // Range Maximum"));
	assert_int_equal(count_str(dsl, "DWordMemory (ResourceProducer, "
				   "PosDecode, MinFixed, MaxFixed, "
				   "NonCacheable, ReadWrite,"), 1);
	assert_non_null(strstr(dsl, "0xE0000000,         // Range Minimum"));
	assert_non_null(strstr(dsl, "0xFEBFFFFF,         // Range Maximum"));
	assert_non_null(strstr(dsl, "0x1EC00000,         // Length"));
	/* _PRT: 124 = 0x7C packages { address, pin, source, GSI }, the last
	 * thing in the table. */
	p = strstr(dsl, "Name (_PRT, Package (0x7C)");
	assert_non_null(p);
	assert_int_equal(count_str(dsl, "_PRT"), 2); /* and its comment */
	assert_int_equal(count_str(p, "Package (0x04)"), 124);
	p = strchr(p, '{');
	assert_non_null(p);
	p++;
	for (unsigned slot = 1; slot < 32; slot++)
		for (unsigned pin = 0; pin < 4; pin++) {
			p = strstr(p, "Package (0x04)") + 14;
			asl_expect(&p, '{');
			assert_int_equal(asl_int(&p), slot << 16 | 0xFFFF);
			asl_expect(&p, ',');
			assert_int_equal(asl_int(&p), pin);
			asl_expect(&p, ',');
			assert_int_equal(asl_int(&p), 0);
			asl_expect(&p, ',');
			assert_int_equal(asl_int(&p), 16 + (slot + pin) % 8);
			asl_expect(&p, '}');
		}
}

/* The temp dir of check_iasl and the files iasl writes there; removed
 * after each check, also after a failed one (test teardown). */
static char iasl_dir[512];
static char iasl_files[4][600]; /* dsdt.dat .dsl, iasl.log, rt.aml */

static int iasl_cleanup(void **state)
{
	(void)state;
	if (!iasl_dir[0])
		return 0;
	for (int i = 0; i < 4; i++)
		if (iasl_files[i][0])
			unlink(iasl_files[i]);
	memset(iasl_files, 0, sizeof(iasl_files));
	rmdir(iasl_dir);
	iasl_dir[0] = 0;
	return 0;
}

/* Disassembles the built DSDT with iasl, checks what it shows, then
 * compiles that back (-oa: no optimizations, so iasl encodes exactly what
 * the disassembly says) and requires the same AML bytes: every PkgLength,
 * integer and descriptor was read the way acpi.c meant it. */
static void check_iasl(const struct acpi_config *cfg)
{
	const char *tmp = getenv("TMPDIR");
	char *dir = iasl_dir, *dat = iasl_files[0], *dsl_path = iasl_files[1],
	     *log_path = iasl_files[2], *aml_path = iasl_files[3];
	char prefix[600];
	struct guest g;
	struct found f;
	uint64_t rsdp = 0;
	uint32_t len;
	size_t aml_len;
	char *log, *dsl, *aml;
	FILE *out;

	guest_new(&g, GUEST_SIZE);
	assert_int_equal(acpi_build(&g.m, cfg, &rsdp, NULL, 0), 0);
	f = walk_roots(&g);
	check_fadt(&g, &f, cfg);
	len = g32(f.dsdt + 4);

	snprintf(dir, sizeof(iasl_dir), "%s/test_acpi.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(dat, sizeof(iasl_files[0]), "%s/dsdt.dat", dir);
	snprintf(dsl_path, sizeof(iasl_files[0]), "%s/dsdt.dsl", dir);
	snprintf(log_path, sizeof(iasl_files[0]), "%s/iasl.log", dir);
	snprintf(aml_path, sizeof(iasl_files[0]), "%s/rt.aml", dir);
	snprintf(prefix, sizeof(prefix), "%s/rt", dir);
	out = fopen(dat, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(f.dsdt, 1, len, out), len);
	assert_int_equal(fclose(out), 0);

	char *dis[] = { "iasl", "-vs", "-d", dat, NULL };
	int rc = run_logged(dis, log_path);
	log = slurp(log_path, NULL);
	if (rc != 0)
		fail_msg("iasl -d exited %d:\n%s", rc, log);
	dsl = slurp(dsl_path, NULL);
	check_disassembly(dsl, log, cfg->pvpanic_port != 0);
	free(log);

	/* -we: warnings are errors; -vw 3073: except "Device object requires
	 * either a _HID or _ADR, but not both": the root bridge has both, as
	 * QEMU's \_SB.PCI0 does; the spec says "should not". */
	char *comp[] = { "iasl", "-vs", "-oa", "-we", "-vw", "3073", "-p",
			 prefix, dsl_path, NULL };
	rc = run_logged(comp, log_path);
	log = slurp(log_path, NULL);
	if (rc != 0 || !strstr(log, "Compilation successful. 0 Errors, "
					"0 Warnings"))
		fail_msg("iasl could not compile its own disassembly (%d):\n%s",
			 rc, log);
	aml = slurp(aml_path, &aml_len);
	assert_int_equal(aml_len, len);
	/* Past the header, whose compiler ID and checksum differ. */
	assert_memory_equal(aml + 36, f.dsdt + 36, len - 36);

	free(aml);
	free(log);
	free(dsl);
	free(g.buf);
	assert_int_equal(iasl_cleanup(NULL), 0);
}

static void test_iasl(void **state)
{
	struct acpi_config cfg = std_cfg;

	(void)state;
	if (!have_iasl()) {
		print_message("iasl not found (Debian package acpica-tools): "
			      "skipping the ACPICA parser check\n");
		skip();
	}
	check_iasl(&cfg);
	cfg.pvpanic_port = 0;
	check_iasl(&cfg);
}

/* The tables lie in a reserved e820 entry and in no RAM entry. */
static void test_e820_reserved(void **state)
{
	struct guest g;
	struct e820_map map;
	bool covered = false;

	(void)state;
	gmem_wrap(&g.m, NULL, GUEST_SIZE); /* e820_build reads sizes only */
	e820_build(&g.m, &map);
	for (unsigned i = 0; i < map.n; i++) {
		const struct e820_entry *e = &map.e[i];
		bool overlaps = e->addr < BOOT_ACPI_ADDR + BOOT_ACPI_SIZE &&
				BOOT_ACPI_ADDR < e->addr + e->size;

		if (e->type == E820_RAM)
			assert_false(overlaps);
		if (e->type == E820_RESERVED && e->addr <= BOOT_ACPI_ADDR &&
		    e->addr + e->size >= BOOT_ACPI_ADDR + BOOT_ACPI_SIZE)
			covered = true;
	}
	assert_true(covered);
}

/* ---- the loaders pass the address on ---- */

static void p16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void p32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void p64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

#define BZ_PAYLOAD 4096
#define BZ_LEN     (2 * 512 + BZ_PAYLOAD)

/* A minimal bzImage, protocol 2.15, one setup sector. */
static void make_bz(uint8_t *img)
{
	memset(img, 0, BZ_LEN);
	img[0x1F1] = 1;                        /* setup_sects */
	p32(img + 0x1F4, BZ_PAYLOAD / 16);     /* syssize */
	p16(img + 0x1FE, 0xAA55);
	img[0x200] = 0xEB;
	img[0x201] = 0x6A;                     /* header ends at 0x26C */
	memcpy(img + 0x202, "HdrS", 4);
	p16(img + 0x206, 0x020F);
	img[0x211] = 0x01;                     /* LOADED_HIGH */
	p32(img + 0x22C, 0x7FFFFFFF);          /* initrd_addr_max */
	p32(img + 0x230, 0x200000);            /* kernel_alignment */
	img[0x234] = 1;                        /* relocatable */
	p16(img + 0x236, 0x1);                 /* XLF_KERNEL_64 */
	p32(img + 0x238, 255);                 /* cmdline_size */
	p64(img + 0x258, 0x1000000);           /* pref_address */
	p32(img + 0x260, 0x100000);            /* init_size */
	memset(img + 1024, 0x90, BZ_PAYLOAD);
}

static void test_linux_rsdp(void **state)
{
	static uint8_t img[BZ_LEN];
	struct guest g;
	struct boot_entry e;
	uint64_t rsdp = 0;
	char err[256] = "";

	(void)state;
	make_bz(img);
	guest_new(&g, GUEST_SIZE);
	assert_int_equal(acpi_build(&g.m, &std_cfg, &rsdp, err, sizeof(err)),
			 0);
	struct boot_params_in in = { .kernel = img, .kernel_len = BZ_LEN,
				     .rsdp = rsdp };
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(g64(g.buf + BOOT_ZERO_PAGE_ADDR + 0x070), rsdp);
	check_all(&g, &std_cfg, rsdp); /* the loader left the tables alone */

	/* No tables: the field stays 0. */
	in.rsdp = 0;
	assert_int_equal(linux_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(g64(g.buf + BOOT_ZERO_PAGE_ADDR + 0x070), 0);
	free(g.buf);
}

/* A minimal ELF64 PVH kernel: one PT_LOAD at 1 MiB and the PHYS32 note. */
static size_t make_pvh(uint8_t *img, size_t cap)
{
	const size_t eh = sizeof(Elf64_Ehdr), ph = sizeof(Elf64_Phdr);
	const size_t note_off = eh + 2 * ph, note_len = 12 + 4 + 4;
	const size_t code_off = 0x1000, code_len = 0x100;
	uint32_t n[3] = { 4, 4, 18 }; /* namesz, descsz, PHYS32_ENTRY */
	uint32_t entry = 0x100000;

	assert_true(code_off + code_len <= cap);
	memset(img, 0, cap);
	Elf64_Ehdr h = { .e_type = ET_EXEC, .e_machine = EM_X86_64,
			 .e_version = EV_CURRENT, .e_entry = entry,
			 .e_phoff = eh, .e_ehsize = (uint16_t)eh,
			 .e_phentsize = (uint16_t)ph, .e_phnum = 2 };
	memcpy(h.e_ident, ELFMAG, SELFMAG);
	h.e_ident[EI_CLASS] = ELFCLASS64;
	h.e_ident[EI_DATA] = ELFDATA2LSB;
	h.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(img, &h, sizeof(h));
	Elf64_Phdr load = { .p_type = PT_LOAD, .p_offset = code_off,
			    .p_vaddr = entry, .p_paddr = entry,
			    .p_filesz = code_len, .p_memsz = code_len,
			    .p_align = 0x1000 };
	Elf64_Phdr note = { .p_type = PT_NOTE, .p_offset = note_off,
			    .p_filesz = note_len, .p_memsz = note_len,
			    .p_align = 4 };
	memcpy(img + eh, &load, ph);
	memcpy(img + eh + ph, &note, ph);
	memcpy(img + note_off, n, 12);
	memcpy(img + note_off + 12, "Xen", 4);
	memcpy(img + note_off + 16, &entry, 4);
	memset(img + code_off, 0xF4, code_len); /* hlt */
	return code_off + code_len;
}

static void test_pvh_rsdp(void **state)
{
	static uint8_t img[0x2000];
	struct guest g;
	struct boot_entry e;
	uint64_t rsdp = 0;
	char err[256] = "";
	size_t len = make_pvh(img, sizeof(img));

	(void)state;
	assert_int_equal(image_probe(img, len), IMAGE_PVH_ELF);
	guest_new(&g, GUEST_SIZE);
	assert_int_equal(acpi_build(&g.m, &std_cfg, &rsdp, err, sizeof(err)),
			 0);
	struct boot_params_in in = { .kernel = img, .kernel_len = len,
				     .rsdp = rsdp };
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	/* hvm_start_info.rsdp_paddr is at offset 32. */
	assert_int_equal(g32(g.buf + e.rbx), 0x336ec578);
	assert_int_equal(g64(g.buf + e.rbx + 32), rsdp);
	check_all(&g, &std_cfg, rsdp);

	in.rsdp = 0;
	assert_int_equal(pvh_load(&g.m, &in, &e, err, sizeof(err)), 0);
	assert_int_equal(g64(g.buf + e.rbx + 32), 0);
	free(g.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_other_ports),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_intx_gsi),
		cmocka_unit_test_teardown(test_iasl, iasl_cleanup),
		cmocka_unit_test(test_e820_reserved),
		cmocka_unit_test(test_linux_rsdp),
		cmocka_unit_test(test_pvh_rsdp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
