/* PCI configuration mechanism #1 and the host bridge. See pci_host.h for
 * the interface and README.md for what is simplified. */
#include "pci_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_ENABLE 0x80000000u
/* Bits 30:24 are reserved and bits 1:0 select the type; mechanism #1 on a
 * PC reads them as 0. */
#define ADDR_MASK 0x80fffffcu

#define PORT_DATA 4 /* CONFIG_DATA at 0xCFC = offset 4 */

/* Host bridge identity: Intel 440FX PMC, as QEMU's pc machine. */
#define HB_VENDOR 0x8086
#define HB_DEVICE 0x1237
#define HB_REVISION 0x02
#define HB_CLASS 0x060000 /* bridge, host bridge, prog-if 0 */
#define HB_STATUS 0x0280  /* fast back-to-back, medium DEVSEL */
#define HB_COMMAND 0x0006 /* memory space + bus master */

struct pci_slot {
	const struct pci_dev_ops *ops;
	void *ctx;
};

struct pci_host {
	pthread_mutex_t lock;
	uint32_t addr; /* CONFIG_ADDRESS */
	uint8_t cfg[256];   /* host bridge config space */
	uint8_t wmask[256]; /* its guest-writable bits */
	struct pci_slot slot[PCI_HOST_DEVS];
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void hb_init(struct pci_host *h)
{
	put16(&h->cfg[0x00], HB_VENDOR);
	put16(&h->cfg[0x02], HB_DEVICE);
	put16(&h->cfg[0x04], HB_COMMAND);
	put16(&h->cfg[0x06], HB_STATUS);
	h->cfg[0x08] = HB_REVISION;
	h->cfg[0x09] = (uint8_t)HB_CLASS;
	h->cfg[0x0a] = (uint8_t)(HB_CLASS >> 8);
	h->cfg[0x0b] = (uint8_t)(HB_CLASS >> 16);
	/* Header type 0, single function; no BARs (they read 0 and ignore
	 * sizing writes), no capabilities, no interrupt pin. */

	/* Writable: command (I/O, memory, master, parity, SERR), cache line
	 * size, latency timer, interrupt line, and the chipset-specific
	 * registers 0x40-0xFF (PAM, SMRAM...), which are plain storage. */
	put16(&h->wmask[0x04], 0x0147);
	h->wmask[0x0c] = 0xff;
	h->wmask[0x0d] = 0xff;
	h->wmask[0x3c] = 0xff;
	memset(&h->wmask[0x40], 0xff, 256 - 0x40);
}

static uint32_t hb_read(const struct pci_host *h, unsigned reg, unsigned len)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)h->cfg[reg + i] << (8 * i);
	return v;
}

static void hb_write(struct pci_host *h, unsigned reg, unsigned len,
		     uint32_t v)
{
	for (unsigned i = 0; i < len; i++) {
		uint8_t m = h->wmask[reg + i], b = (uint8_t)(v >> (8 * i));
		h->cfg[reg + i] = (uint8_t)((h->cfg[reg + i] & ~m) | (b & m));
	}
}

static uint32_t ones(unsigned len)
{
	return len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
}

/* A CONFIG_DATA access at byte offset off (0..3) of the dword. */
static void config_data(struct pci_host *h, unsigned off, uint8_t *bytes,
			unsigned len, bool is_write)
{
	uint32_t addr, val = 0;
	unsigned bus, dev, fn, reg;
	struct pci_slot s = { 0 };
	bool hb = false;

	if (is_write)
		for (unsigned i = 0; i < len; i++)
			val |= (uint32_t)bytes[i] << (8 * i);

	pthread_mutex_lock(&h->lock);
	addr = h->addr;
	bus = (addr >> 16) & 0xff;
	dev = (addr >> 11) & 0x1f;
	fn = (addr >> 8) & 7;
	reg = (addr & 0xfc) + off;
	if ((addr & ADDR_ENABLE) && bus == 0) {
		if (dev == 0)
			hb = fn == 0;
		else
			s = h->slot[dev];
	}
	if (hb) {
		if (is_write)
			hb_write(h, reg, len, val);
		else
			val = hb_read(h, reg, len);
	}
	pthread_mutex_unlock(&h->lock);

	/* Attached devices are called unlocked (see pci_host.h); attach
	 * never changes a filled slot, so the copy stays valid. */
	if (!hb) {
		if (s.ops && is_write)
			s.ops->cfg_write(s.ctx, fn, reg, len, val);
		else if (s.ops)
			val = s.ops->cfg_read(s.ctx, fn, reg, len);
		else
			val = ones(len); /* no device: master abort */
	}
	if (!is_write)
		for (unsigned i = 0; i < len; i++)
			bytes[i] = (uint8_t)(val >> (8 * i));
}

struct pci_host *pci_host_new(void)
{
	struct pci_host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	if (pthread_mutex_init(&h->lock, NULL)) {
		free(h);
		return NULL;
	}
	hb_init(h);
	return h;
}

void pci_host_free(struct pci_host *h)
{
	if (!h)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void pci_host_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		 bool is_write)
{
	struct pci_host *h = opaque;
	uint8_t *bytes = data;

	if (len == 0)
		return;
	if (offset >= PORT_DATA && offset + len <= 8) {
		config_data(h, (unsigned)(offset - PORT_DATA), bytes, len,
			    is_write);
		return;
	}
	if (offset == 0 && len == 4) {
		/* Only a dword access to 0xCF8 is CONFIG_ADDRESS. */
		pthread_mutex_lock(&h->lock);
		if (is_write) {
			uint32_t v = (uint32_t)bytes[0] | bytes[1] << 8 |
				     bytes[2] << 16 | (uint32_t)bytes[3] << 24;
			h->addr = v & ADDR_MASK;
		} else {
			for (unsigned i = 0; i < 4; i++)
				bytes[i] = (uint8_t)(h->addr >> (8 * i));
		}
		pthread_mutex_unlock(&h->lock);
		return;
	}
	/* Byte and word accesses to 0xCF8-0xCFB are other, absent ports
	 * (0xCF9 is the PIIX reset control register, not modelled). */
	if (!is_write)
		memset(data, 0xff, len);
}

int pci_host_attach(struct pci_host *h, unsigned dev,
		    const struct pci_dev_ops *ops, void *ctx)
{
	int ret = 0;

	if (dev >= PCI_HOST_DEVS || !ops || !ops->cfg_read || !ops->cfg_write)
		return -EINVAL;
	if (dev == 0)
		return -EEXIST; /* the host bridge */
	pthread_mutex_lock(&h->lock);
	if (h->slot[dev].ops)
		ret = -EEXIST;
	else
		h->slot[dev] = (struct pci_slot){ ops, ctx };
	pthread_mutex_unlock(&h->lock);
	return ret;
}
