/* Unit tests of the PCI host bridge: CONFIG_ADDRESS latching, config reads
 * of the host bridge at every access size and offset, absent devices,
 * read-only fields, and attached devices. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pci_host.h"

static uint32_t addr_of(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
	return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

static void outl_cf8(struct pci_host *h, uint32_t v)
{
	pci_host_io(h, 0, &v, 4, true);
}

static uint32_t inl_cf8(struct pci_host *h)
{
	uint32_t v;
	pci_host_io(h, 0, &v, 4, false);
	return v;
}

/* A config read of len bytes at port 0xCF8 + offset; returns the value
 * zero-extended (the unread bytes of the buffer must stay untouched). */
static uint32_t in(struct pci_host *h, unsigned offset, unsigned len)
{
	uint8_t buf[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };
	uint32_t v = 0;

	pci_host_io(h, offset, buf, len, false);
	for (unsigned i = 0; i < 4; i++) {
		if (i < len)
			v |= (uint32_t)buf[i] << (8 * i);
		else
			assert_int_equal(buf[i], 0xa5);
	}
	return v;
}

static void out(struct pci_host *h, unsigned offset, unsigned len, uint32_t v)
{
	uint8_t buf[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			   (uint8_t)(v >> 24) };
	pci_host_io(h, offset, buf, len, true);
}

/* Reads config register reg of 0:dev.fn the way an OS does. */
static uint32_t cfg_read(struct pci_host *h, unsigned bus, unsigned dev,
			 unsigned fn, unsigned reg, unsigned len)
{
	outl_cf8(h, addr_of(bus, dev, fn, reg));
	return in(h, 4 + (reg & 3), len);
}

static void cfg_write(struct pci_host *h, unsigned dev, unsigned reg,
		      unsigned len, uint32_t v)
{
	outl_cf8(h, addr_of(0, dev, 0, reg));
	out(h, 4 + (reg & 3), len, v);
}

static int setup(void **state)
{
	*state = pci_host_new();
	assert_non_null(*state);
	return 0;
}

static int teardown(void **state)
{
	pci_host_free(*state);
	return 0;
}

static void test_host_bridge_id(void **state)
{
	struct pci_host *h = *state;

	assert_int_equal(cfg_read(h, 0, 0, 0, 0x00, 4), 0x12378086);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x00, 2), 0x8086);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x02, 2), 0x1237);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x00, 1), 0x86);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x01, 1), 0x80);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x02, 1), 0x37);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x03, 1), 0x12);
	/* A word inside the dword but not aligned to it. */
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x01, 2), 0x3780);

	assert_int_equal(cfg_read(h, 0, 0, 0, 0x08, 4), 0x06000002);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x0a, 2), 0x0600); /* class */
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x0b, 1), 0x06);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x0e, 1), 0x00); /* type 0 */
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x10, 4), 0);    /* no BAR */
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x34, 1), 0);    /* no caps */
	assert_int_equal(cfg_read(h, 0, 0, 0, 0xfc, 4), 0);
}

static void test_absent_devices(void **state)
{
	struct pci_host *h = *state;

	assert_int_equal(cfg_read(h, 0, 1, 0, 0x00, 4), 0xffffffff);
	assert_int_equal(cfg_read(h, 0, 31, 0, 0x00, 4), 0xffffffff);
	assert_int_equal(cfg_read(h, 0, 5, 3, 0x0a, 2), 0xffff);
	assert_int_equal(cfg_read(h, 0, 5, 0, 0x0e, 1), 0xff);
	/* Other functions of the host bridge, and other buses. */
	assert_int_equal(cfg_read(h, 0, 0, 1, 0x00, 4), 0xffffffff);
	assert_int_equal(cfg_read(h, 1, 0, 0, 0x00, 4), 0xffffffff);
	assert_int_equal(cfg_read(h, 255, 31, 7, 0xfc, 4), 0xffffffff);
	/* Writes there go nowhere. */
	cfg_write(h, 7, 0x04, 2, 0x0007);
	assert_int_equal(cfg_read(h, 0, 7, 0, 0x04, 2), 0xffff);

	/* With the enable bit clear CONFIG_DATA is not a config access. */
	outl_cf8(h, 0x00000000);
	assert_int_equal(in(h, 4, 4), 0xffffffff);
	out(h, 4, 2, 0x0000);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x04, 2), 0x0006);
}

static void test_config_address(void **state)
{
	struct pci_host *h = *state;

	assert_int_equal(inl_cf8(h), 0);
	outl_cf8(h, 0x80001234);
	assert_int_equal(inl_cf8(h), 0x80001234);
	/* Reserved bits 30:24 and type bits 1:0 read 0. */
	outl_cf8(h, 0xffffffff);
	assert_int_equal(inl_cf8(h), 0x80fffffc);

	/* Only dword accesses latch: byte/word accesses are other ports. */
	outl_cf8(h, 0x80000000);
	out(h, 3, 1, 0x01); /* Linux's pci_check_type1 pokes 0xCFB */
	out(h, 0, 2, 0x1234);
	out(h, 2, 1, 0xff);
	assert_int_equal(inl_cf8(h), 0x80000000);
	assert_int_equal(in(h, 0, 1), 0xff);
	assert_int_equal(in(h, 1, 1), 0xff);
	assert_int_equal(in(h, 2, 2), 0xffff);
	assert_int_equal(in(h, 0, 2), 0xffff);

	/* The rest of pci_check_type1 and pci_sanity_check. */
	uint32_t tmp = inl_cf8(h);
	outl_cf8(h, 0x80000000);
	assert_int_equal(inl_cf8(h), 0x80000000);
	int found = 0;
	for (unsigned devfn = 0; devfn < 256; devfn++) {
		uint32_t class = cfg_read(h, 0, devfn >> 3, devfn & 7, 0x0a, 2);
		uint32_t vendor = cfg_read(h, 0, devfn >> 3, devfn & 7, 0, 2);
		if (class == 0x0600 || vendor == 0x8086)
			found++;
	}
	assert_int_equal(found, 1);
	outl_cf8(h, tmp);
	assert_int_equal(inl_cf8(h), tmp);
}

static void test_read_only_fields(void **state)
{
	struct pci_host *h = *state;

	cfg_write(h, 0, 0x00, 4, 0xffffffff);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x00, 4), 0x12378086);
	cfg_write(h, 0, 0x08, 4, 0);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x08, 4), 0x06000002);
	/* BAR sizing: all-ones reads back 0, so there is no BAR. */
	cfg_write(h, 0, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x10, 4), 0);
	cfg_write(h, 0, 0x30, 4, 0xffffffff); /* expansion ROM */
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x30, 4), 0);
	/* Command: only the implemented bits. */
	cfg_write(h, 0, 0x04, 2, 0xffff);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x04, 2), 0x0147);
	cfg_write(h, 0, 0x04, 2, 0x0006);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x04, 4), 0x02800006);
	/* Status is not writable here. */
	cfg_write(h, 0, 0x06, 2, 0xffff);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x06, 2), 0x0280);
	/* Latency timer and interrupt line are; interrupt pin is not. */
	cfg_write(h, 0, 0x0d, 1, 0x40);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x0c, 4), 0x00004000);
	cfg_write(h, 0, 0x3c, 2, 0xffff);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x3c, 2), 0x00ff);
	/* Chipset registers (PAM at 0x59) are plain storage. */
	cfg_write(h, 0, 0x59, 1, 0x30);
	assert_int_equal(cfg_read(h, 0, 0, 0, 0x58, 4), 0x00003000);
}

/* A fake device recording the calls it gets. */
struct fake {
	struct pci_host *h;
	unsigned fn, reg, len, reads, writes;
	uint32_t val;
	int nested_attach;
};

static uint32_t fake_read(void *ctx, unsigned fn, unsigned reg, unsigned len)
{
	struct fake *f = ctx;
	f->reads++;
	f->fn = fn;
	f->reg = reg;
	f->len = len;
	if (fn != 0)
		return len == 4 ? 0xffffffff : (1u << (8 * len)) - 1;
	return 0xabcd1234 >> (8 * (reg & 3)) & (len == 4 ? 0xffffffff
							  : (1u << (8 * len)) - 1);
}

static const struct pci_dev_ops fake_ops;

static void fake_write(void *ctx, unsigned fn, unsigned reg, unsigned len,
		       uint32_t val)
{
	struct fake *f = ctx;
	f->writes++;
	f->fn = fn;
	f->reg = reg;
	f->len = len;
	f->val = val;
	/* Callbacks run unlocked: calling back into the host is fine. */
	f->nested_attach = pci_host_attach(f->h, 9, &fake_ops, f);
}

static const struct pci_dev_ops fake_ops = { fake_read, fake_write };

static void test_attach(void **state)
{
	struct pci_host *h = *state;
	struct fake f = { .h = h };
	static const struct pci_dev_ops half = { fake_read, NULL };

	assert_int_equal(pci_host_attach(h, 32, &fake_ops, &f), -EINVAL);
	assert_int_equal(pci_host_attach(h, 3, NULL, &f), -EINVAL);
	assert_int_equal(pci_host_attach(h, 3, &half, &f), -EINVAL);
	assert_int_equal(pci_host_attach(h, 0, &fake_ops, &f), -EEXIST);
	assert_int_equal(pci_host_attach(h, 3, &fake_ops, &f), 0);
	assert_int_equal(pci_host_attach(h, 3, &fake_ops, &f), -EEXIST);

	assert_int_equal(cfg_read(h, 0, 3, 0, 0x00, 4), 0xabcd1234);
	assert_int_equal(f.reg, 0x00);
	assert_int_equal(f.len, 4);
	assert_int_equal(cfg_read(h, 0, 3, 0, 0x12, 2), 0xabcd);
	assert_int_equal(f.reg, 0x12);
	assert_int_equal(f.len, 2);
	assert_int_equal(cfg_read(h, 0, 3, 2, 0x0d, 1), 0xff);
	assert_int_equal(f.fn, 2);
	assert_int_equal(f.reg, 0x0d);
	assert_int_equal(f.len, 1);
	assert_int_equal(f.reads, 3);

	/* Neighbours and other buses are not routed to it. */
	assert_int_equal(cfg_read(h, 0, 4, 0, 0x00, 4), 0xffffffff);
	assert_int_equal(cfg_read(h, 1, 3, 0, 0x00, 4), 0xffffffff);
	assert_int_equal(f.reads, 3);

	outl_cf8(h, addr_of(0, 3, 1, 0x44));
	out(h, 6, 2, 0xbeef);
	assert_int_equal(f.writes, 1);
	assert_int_equal(f.fn, 1);
	assert_int_equal(f.reg, 0x46);
	assert_int_equal(f.len, 2);
	assert_int_equal(f.val, 0xbeef);
	assert_int_equal(f.nested_attach, 0);
	assert_int_equal(cfg_read(h, 0, 9, 0, 0x00, 4), 0xabcd1234);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_host_bridge_id),
		T(test_absent_devices),
		T(test_config_address),
		T(test_read_only_fields),
		T(test_attach),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
