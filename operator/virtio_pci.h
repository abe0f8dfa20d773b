/* The legacy virtio-pci transport (virtio 1.0, 4.1.4.8 and the "legacy
 * interface" sections): a PCI type 0 header with one I/O BAR holding the
 * legacy register block, INTx interrupts (no MSI-X, no capabilities), and
 * one virtqueue. A device model (virtio_blk.c) embeds a struct vpci and
 * supplies its identity, feature bits, config bytes and queue handler.
 *
 * Not thread safe: the caller serializes every call into one device. */
#ifndef VSB_VIRTIO_PCI_H
#define VSB_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"

struct guest_mem;
struct virtio_pci_ops; /* virtio_blk.h */

#define VPCI_BAR_SIZE 64   /* power of two covering header + device config */
#define VPCI_CFG_OFF 20    /* device config offset without MSI-X */
#define VPCI_CFG_MAX (VPCI_BAR_SIZE - VPCI_CFG_OFF)

/* Legacy register block (offsets in BAR0). */
#define VPCI_HOST_FEATURES 0x00 /* u32, RO */
#define VPCI_GUEST_FEATURES 0x04 /* u32 */
#define VPCI_QUEUE_PFN 0x08     /* u32, ring address / 4096 */
#define VPCI_QUEUE_NUM 0x0c     /* u16, RO */
#define VPCI_QUEUE_SEL 0x0e     /* u16 */
#define VPCI_QUEUE_NOTIFY 0x10  /* u16 */
#define VPCI_STATUS 0x12        /* u8, 0 resets */
#define VPCI_ISR 0x13           /* u8, RO, reading clears */

#define VPCI_S_ACKNOWLEDGE 0x01
#define VPCI_S_DRIVER 0x02
#define VPCI_S_DRIVER_OK 0x04
#define VPCI_S_NEEDS_RESET 0x40
#define VPCI_S_FAILED 0x80

#define VPCI_ISR_QUEUE 0x01

/* PCI command register bits the guest may set. */
#define VPCI_CMD_IO 0x0001
#define VPCI_CMD_MASTER 0x0004
#define VPCI_CMD_INTX_DISABLE 0x0400
#define VPCI_STATUS_INTX 0x0008 /* PCI status: INTx pending */

/* What the device model behind the transport provides. */
struct vpci_device {
	uint16_t pci_device_id; /* 0x1000 + n for transitional devices */
	uint16_t virtio_id;     /* subsystem ID: the virtio device type */
	uint32_t class_code;    /* class, subclass, prog-if */
	uint32_t features;      /* offered feature bits 0..31 */
	/* Queue 0 has work (the guest notified it, bus mastering on, ring
	 * in RAM). Returns whether anything went into the used ring. */
	bool (*notify)(void *dev, struct virtqueue *vq);
};

struct vpci {
	const struct vpci_device *dev;
	void *devctx;
	const struct virtio_pci_ops *ops;
	void *ctx;
	/* Device config (read-only to the guest), VPCI_CFG_MAX bytes; the
	 * device model fills it, unused bytes read 0. */
	uint8_t config[VPCI_CFG_MAX];
	/* PCI config space */
	uint16_t command;
	uint32_t bar;     /* BAR0 address bits (6..31) */
	uint8_t int_line; /* interrupt line register, storage only */
	bool mapped;      /* I/O decode as last reported through ops->bar */
	uint64_t map_base;
	bool line;        /* INTx level as last reported through ops->irq */
	/* legacy registers */
	uint32_t guest_features;
	uint16_t queue_sel;
	uint8_t status, isr;
	struct virtqueue vq;
};

void vpci_init(struct vpci *t, const struct guest_mem *mem,
	       const struct vpci_device *dev, void *devctx,
	       const struct virtio_pci_ops *ops, void *ctx);

/* The calls of virtio_blk.h, for any device on this transport. */
uint32_t vpci_cfg_read(struct vpci *t, unsigned fn, unsigned reg,
		       unsigned len);
void vpci_cfg_write(struct vpci *t, unsigned fn, unsigned reg, unsigned len,
		    uint32_t val);
void vpci_bar_io(struct vpci *t, uint64_t off, void *data, uint32_t len,
		 bool is_write);

#endif
