/* Unit tests for the ACPI tables (boot/acpi.c). The tables are built into a
 * plain buffer and read back the way a guest does: scan the BIOS area for
 * the RSDP, follow XSDT/RSDT, check every checksum, then the FADT, MADT and
 * DSDT contents. Also: the e820 map reserves them, and both loaders pass the
 * RSDP address on (boot_params.acpi_rsdp_addr, hvm_start_info.rsdp_paddr). */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* One AML integer: ZeroOp, OneOp or BytePrefix. */
static unsigned aml_int(const uint8_t **p)
{
	const uint8_t *q = *p;

	switch (q[0]) {
	case 0x00: *p = q + 1; return 0;
	case 0x01: *p = q + 1; return 1;
	case 0x0A: *p = q + 2; return q[1];
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
	assert_int_equal(walk_aml(aml, end), port ? 1 : 0);
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
		cmocka_unit_test(test_e820_reserved),
		cmocka_unit_test(test_linux_rsdp),
		cmocka_unit_test(test_pvh_rsdp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
