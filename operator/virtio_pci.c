/* Legacy virtio-pci transport; see virtio_pci.h. */
#include "virtio_pci.h"

#include <string.h>

#include "virtio_blk.h" /* struct virtio_pci_ops */

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_REVISION 0 /* legacy ABI version: Linux refuses anything else */
#define PCI_BAR_IO 0x1 /* BAR bit 0: I/O space */
#define PCI_INT_PIN_A 1
#define CMD_WMASK (VPCI_CMD_IO | VPCI_CMD_MASTER | VPCI_CMD_INTX_DISABLE)
#define IO_SPACE_END 0x10000 /* x86 port space */

void vpci_init(struct vpci *t, const struct guest_mem *mem,
	       const struct vpci_device *dev, void *devctx,
	       const struct virtio_pci_ops *ops, void *ctx)
{
	memset(t, 0, sizeof(*t));
	t->dev = dev;
	t->devctx = devctx;
	t->ops = ops;
	t->ctx = ctx;
	vq_init(&t->vq, mem);
}

static uint32_t ones(unsigned len)
{
	return len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
}

/* INTx follows "ISR non-zero and INTx not disabled"; reported on change. */
static void update_line(struct vpci *t)
{
	bool level = t->isr && !(t->command & VPCI_CMD_INTX_DISABLE);

	if (level == t->line)
		return;
	t->line = level;
	t->ops->irq(t->ctx, level);
}

/* I/O decode is on when the guest enabled I/O space and put the BAR at a
 * real port range: the all-ones sizing value (0xffffffc0) is not one, so
 * sizing never maps anything. The old range goes before the new one. */
static void update_decode(struct vpci *t)
{
	bool on = (t->command & VPCI_CMD_IO) && t->bar &&
		  t->bar <= IO_SPACE_END - VPCI_BAR_SIZE;

	if (t->mapped && (!on || t->bar != t->map_base)) {
		t->mapped = false;
		t->ops->bar(t->ctx, false, t->map_base, VPCI_BAR_SIZE);
	}
	if (on && !t->mapped) {
		t->mapped = true;
		t->map_base = t->bar;
		t->ops->bar(t->ctx, true, t->map_base, VPCI_BAR_SIZE);
	}
}

/* ---- PCI configuration space ---- */

static uint32_t cfg_dword(const struct vpci *t, unsigned reg)
{
	uint16_t status = t->isr ? VPCI_STATUS_INTX : 0; /* no caps list */

	switch (reg) {
	case 0x00:
		return PCI_VENDOR_VIRTIO | (uint32_t)t->dev->pci_device_id << 16;
	case 0x04:
		return t->command | (uint32_t)status << 16;
	case 0x08:
		return PCI_REVISION | t->dev->class_code << 8;
	case 0x10:
		return t->bar | PCI_BAR_IO;
	case 0x2c:
		return PCI_VENDOR_VIRTIO | (uint32_t)t->dev->virtio_id << 16;
	case 0x3c:
		return t->int_line | PCI_INT_PIN_A << 8;
	default:
		/* Cache line, latency, header type 0 (single function), BIST,
		 * BARs 1-5, CardBus, ROM, capability pointer, MIN_GNT and
		 * MAX_LAT, and 0x40-0xFF: all 0 and read-only. */
		return 0;
	}
}

/* A whole dword after a guest write merged into it. */
static void cfg_store(struct vpci *t, unsigned reg, uint32_t v)
{
	switch (reg) {
	case 0x04:
		t->command = (uint16_t)(v & CMD_WMASK);
		break;
	case 0x10:
		t->bar = v & ~(uint32_t)(VPCI_BAR_SIZE - 1);
		break;
	case 0x3c:
		t->int_line = (uint8_t)v;
		break;
	}
}

static bool cfg_access_ok(unsigned fn, unsigned reg, unsigned len)
{
	return fn == 0 && reg < 256 && (len == 1 || len == 2 || len == 4) &&
	       (reg & 3) + len <= 4;
}

uint32_t vpci_cfg_read(struct vpci *t, unsigned fn, unsigned reg,
		       unsigned len)
{
	if (!cfg_access_ok(fn, reg, len))
		return ones(len); /* no such function */
	return (cfg_dword(t, reg & ~3u) >> (8 * (reg & 3))) & ones(len);
}

void vpci_cfg_write(struct vpci *t, unsigned fn, unsigned reg, unsigned len,
		    uint32_t val)
{
	if (!cfg_access_ok(fn, reg, len))
		return;
	unsigned shift = 8 * (reg & 3);
	uint32_t mask = ones(len) << shift;
	uint32_t cur = cfg_dword(t, reg & ~3u);

	cfg_store(t, reg & ~3u, (cur & ~mask) | ((val << shift) & mask));
	update_decode(t);
	update_line(t);
}

/* ---- legacy register block in BAR0 ---- */

static void reset(struct vpci *t)
{
	t->guest_features = 0;
	t->queue_sel = 0;
	t->status = 0;
	t->isr = 0;
	vq_reset(&t->vq);
	update_line(t);
}

static void set_status(struct vpci *t, uint8_t v)
{
	if (!v) {
		reset(t);
		return;
	}
	/* NEEDS_RESET is the device's to set; only a reset clears it. */
	t->status = v | (t->status & VPCI_S_NEEDS_RESET);
}

/* Without bus mastering the device may not touch guest memory: the
 * notification is dropped and the requests wait for the next one. A
 * broken queue stays silent until reset. */
static void notify(struct vpci *t, uint16_t q)
{
	if (q != 0 || !(t->command & VPCI_CMD_MASTER) ||
	    (t->status & VPCI_S_NEEDS_RESET))
		return;
	bool pushed = t->dev->notify(t->devctx, &t->vq);

	if (t->vq.broken)
		t->status |= VPCI_S_NEEDS_RESET;
	if (pushed && vq_wants_interrupt(&t->vq)) {
		t->isr |= VPCI_ISR_QUEUE;
		update_line(t);
	}
}

/* A register's value, without side effects. Queues other than 0 do not
 * exist: size 0 is how a driver learns that. QUEUE_NOTIFY reads 0. */
static uint32_t reg_peek(const struct vpci *t, unsigned off)
{
	switch (off) {
	case VPCI_HOST_FEATURES:
		return t->dev->features;
	case VPCI_GUEST_FEATURES:
		return t->guest_features;
	case VPCI_QUEUE_PFN:
		return t->queue_sel ? 0 : t->vq.pfn;
	case VPCI_QUEUE_NUM:
		return t->queue_sel ? 0 : VQ_NUM;
	case VPCI_QUEUE_SEL:
		return t->queue_sel;
	case VPCI_STATUS:
		return t->status;
	case VPCI_ISR:
		return t->isr;
	default:
		return 0;
	}
}

static uint32_t reg_read(struct vpci *t, unsigned off)
{
	uint32_t v = reg_peek(t, off);

	if (off == VPCI_ISR) { /* reading acknowledges the interrupt */
		t->isr = 0;
		update_line(t);
	}
	return v;
}

static void reg_write(struct vpci *t, unsigned off, uint32_t v)
{
	switch (off) {
	case VPCI_GUEST_FEATURES:
		t->guest_features = v & t->dev->features;
		break;
	case VPCI_QUEUE_PFN:
		if (!t->queue_sel)
			vq_set_pfn(&t->vq, v);
		break;
	case VPCI_QUEUE_SEL:
		t->queue_sel = (uint16_t)v;
		break;
	case VPCI_QUEUE_NOTIFY:
		notify(t, (uint16_t)v);
		break;
	case VPCI_STATUS:
		set_status(t, (uint8_t)v);
		break;
	}
}

static const struct {
	uint8_t off, len;
} regs[] = {
	{ VPCI_HOST_FEATURES, 4 }, { VPCI_GUEST_FEATURES, 4 },
	{ VPCI_QUEUE_PFN, 4 },     { VPCI_QUEUE_NUM, 2 },
	{ VPCI_QUEUE_SEL, 2 },     { VPCI_QUEUE_NOTIFY, 2 },
	{ VPCI_STATUS, 1 },        { VPCI_ISR, 1 },
};

/* The part of an access [off, off+len) that falls in register r: a read
 * takes its bytes; a write merges its bytes into the current value (so a
 * byte write to a wider register changes that byte only) and stores it. */
static void reg_access(struct vpci *t, unsigned r, unsigned off,
		       uint8_t *bytes, unsigned len, bool is_write)
{
	unsigned ro = regs[r].off, rl = regs[r].len;

	if (off >= ro + rl || off + len <= ro)
		return;
	uint32_t v = is_write ? reg_peek(t, ro) : reg_read(t, ro);

	for (unsigned i = 0; i < len; i++) {
		if (off + i < ro || off + i >= ro + rl)
			continue;
		unsigned shift = 8 * (off + i - ro);
		if (is_write)
			v = (v & ~(0xffu << shift)) | (uint32_t)bytes[i] << shift;
		else
			bytes[i] = (uint8_t)(v >> shift);
	}
	if (is_write)
		reg_write(t, ro, v);
}

void vpci_bar_io(struct vpci *t, uint64_t off, void *data, uint32_t len,
		 bool is_write)
{
	uint8_t *bytes = data;

	/* Bytes outside the block read all-ones; writes to them vanish. */
	if (!is_write)
		memset(bytes, 0xff, len);
	if (off >= VPCI_BAR_SIZE || len == 0 || len > 4)
		return;
	/* Registers in ascending order: a dword write at QUEUE_NOTIFY
	 * notifies, then writes the status. */
	for (unsigned r = 0; r < sizeof(regs) / sizeof(regs[0]); r++)
		reg_access(t, r, (unsigned)off, bytes, len, is_write);
	for (unsigned i = 0; i < len && !is_write; i++) {
		unsigned o = (unsigned)off + i;
		if (o >= VPCI_CFG_OFF && o < VPCI_BAR_SIZE)
			bytes[i] = t->config[o - VPCI_CFG_OFF];
	}
}
