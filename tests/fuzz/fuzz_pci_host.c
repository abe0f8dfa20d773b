/* libFuzzer target: PCI configuration mechanism #1 and the host bridge
 * (devices/pci_host.c). The input is a program of guest port accesses,
 * routed through a real io_router as vsbd does (0xCF8, eight ports), mixed
 * with host-side pci_host_attach calls that put test devices on bus 0.
 *
 * Program: one op byte, then operands.
 *   op bit 7     write (value bytes follow, little-endian) / read
 *   op bits 6:5  access size 1, 2, 4; 3 = attach (a slot byte follows;
 *                op bit 0 passes ops without cfg_write)
 *   op bits 3:0  port = 0xCF4 + n, so some accesses miss or straddle
 *
 * Checked against a model: CONFIG_ADDRESS latching and masking (dword
 * accesses to 0xCF8 only), all-ones from absent ports, disabled accesses,
 * other buses, empty slots and functions; the host bridge's config space
 * byte for byte with its documented writable masks; attach's return codes;
 * attached devices get fn < 8, reg < 256, len 1/2/4 never crossing a dword,
 * write values that fit in len bytes, and their read values back unchanged,
 * and may call back into the host (they run without its mutex). */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/pci_host.h"
#include "vmm/ioroute.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE 0xCF8

static struct model {
	uint32_t addr;
	uint8_t cfg[256], wmask[256]; /* host bridge 00:00.0 */
	bool attached[PCI_HOST_DEVS];
} md;

/* What the attached test devices saw. */
static struct {
	struct pci_host *h;
	int calls;
	uintptr_t slot;
	unsigned fn, reg, len;
	uint32_t val; /* written, or returned by a read */
	bool is_write;
} cb;

/* A callback's access must be one config mechanism #1 can produce. */
static void check_access(void *ctx, unsigned fn, unsigned reg, unsigned len)
{
	uint32_t addr = 0;

	if (fn > 7 || reg > 255 || (len != 1 && len != 2 && len != 4) ||
	    (reg & 3) + len > 4)
		__builtin_trap();
	cb.calls++;
	cb.slot = (uintptr_t)ctx;
	cb.fn = fn;
	cb.reg = reg;
	cb.len = len;
	/* Devices run without the host's mutex (pci_host.h), so calling
	 * back in must not deadlock; CONFIG_ADDRESS is as the guest set it. */
	pci_host_io(cb.h, 0, &addr, 4, false);
	if (addr != md.addr)
		__builtin_trap();
}

static uint32_t dev_read(void *ctx, unsigned fn, unsigned reg, unsigned len)
{
	check_access(ctx, fn, reg, len);
	cb.is_write = false;
	/* Some value that depends on everything, with junk above len bytes
	 * that the host must drop. */
	cb.val = 0x9e3779b9u *
		 (uint32_t)((uintptr_t)ctx << 16 | fn << 8 | reg) + len;
	return cb.val;
}

static void dev_write(void *ctx, unsigned fn, unsigned reg, unsigned len,
		      uint32_t val)
{
	check_access(ctx, fn, reg, len);
	if (len < 4 && val >> (8 * len))
		__builtin_trap(); /* bytes the guest did not write */
	cb.is_write = true;
	cb.val = val;
}

static const struct pci_dev_ops dev_ops = { dev_read, dev_write };
static const struct pci_dev_ops bad_ops = { dev_read, NULL };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* The host bridge as README.md describes it. */
static void model_init(void)
{
	memset(&md, 0, sizeof(md));
	put16(&md.cfg[0x00], 0x8086);
	put16(&md.cfg[0x02], 0x1237);
	put16(&md.cfg[0x04], 0x0006);
	put16(&md.cfg[0x06], 0x0280);
	md.cfg[0x08] = 0x02;
	md.cfg[0x0b] = 0x06; /* class 0x060000 */
	put16(&md.wmask[0x04], 0x0147);
	md.wmask[0x0c] = md.wmask[0x0d] = md.wmask[0x3c] = 0xff;
	memset(&md.wmask[0x40], 0xff, 256 - 0x40);
}

/* A CONFIG_DATA access at byte off (0..3) of the dword: checks reads and
 * the device callbacks, updates the model on writes. */
static void config_data(unsigned off, const uint8_t *buf, uint32_t len,
			bool is_write)
{
	uint32_t a = md.addr, val = 0;
	unsigned bus = (a >> 16) & 0xff, dev = (a >> 11) & 0x1f;
	unsigned fn = (a >> 8) & 7, reg = (a & 0xfc) + off;
	bool on = (a & 0x80000000u) && bus == 0;
	bool hb = on && dev == 0 && fn == 0;
	bool to_dev = on && dev != 0 && md.attached[dev];

	for (uint32_t i = 0; i < len; i++)
		val |= (uint32_t)buf[i] << (8 * i);
	if (cb.calls != to_dev)
		__builtin_trap();
	if (to_dev) {
		uint32_t mask = len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;

		if (cb.slot != dev || cb.fn != fn || cb.reg != reg ||
		    cb.len != len || cb.is_write != is_write ||
		    (cb.val & mask) != val)
			__builtin_trap();
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		uint8_t *c = &md.cfg[reg + i], m = md.wmask[reg + i];

		if (hb && is_write)
			*c = (uint8_t)((*c & ~m) | (buf[i] & m));
		else if (!is_write && buf[i] != (hb ? *c : 0xff))
			__builtin_trap(); /* wrong byte, or no master abort */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct io_router rt;

	memset(&cb, 0, sizeof(cb));
	model_init();
	cb.h = pci_host_new();
	if (!cb.h)
		return 0;
	io_router_init(&rt);
	if (io_router_add(&rt, IO_SPACE_PIO, BASE, 8, IO_OWNER_VSBD,
			  pci_host_io, cb.h, "pci-host"))
		__builtin_trap();
	while (in.left) {
		uint8_t op = u8(&in), buf[4] = { 0 };
		unsigned sz = (op >> 5) & 3;
		uint64_t port = BASE - 4 + (op & 0x0f), off;
		uint32_t len = 1u << sz;
		bool is_write = op & 0x80, routed;

		if (sz == 3) { /* attach a test device */
			unsigned slot = u8(&in);
			bool bad = op & 1;
			int want = slot >= PCI_HOST_DEVS || bad ? -EINVAL
				 : slot == 0 || md.attached[slot] ? -EEXIST : 0;

			if (pci_host_attach(cb.h, slot,
					    bad ? &bad_ops : &dev_ops,
					    (void *)(uintptr_t)slot) != want)
				__builtin_trap();
			if (!want)
				md.attached[slot] = true;
			continue;
		}
		for (uint32_t i = 0; is_write && i < len; i++)
			buf[i] = u8(&in);
		routed = port >= BASE && port + len <= BASE + 8;
		cb.calls = 0;
		if (io_router_dispatch(&rt, IO_SPACE_PIO, port, buf, len,
				       is_write) != routed)
			__builtin_trap();
		off = port - BASE;
		if (!routed)
			continue;
		if (off >= 4) {
			config_data((unsigned)(off - 4), buf, len, is_write);
		} else if (off == 0 && len == 4) { /* CONFIG_ADDRESS */
			uint32_t v = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
				     (uint32_t)buf[2] << 16 |
				     (uint32_t)buf[3] << 24;

			if (is_write)
				md.addr = v & 0x80fffffcu; /* reserved bits 0 */
			else if (v != md.addr)
				__builtin_trap();
		} else {
			/* Byte and word accesses at 0xCF8-0xCFB are other,
			 * absent ports. */
			for (uint32_t i = 0; !is_write && i < len; i++)
				if (buf[i] != 0xff)
					__builtin_trap();
		}
		if (off < 4 && cb.calls)
			__builtin_trap();
	}
	io_router_destroy(&rt);
	pci_host_free(cb.h);
	return 0;
}
