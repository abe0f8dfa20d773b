/* The PCI host bridge's configuration mechanism #1 (ports 0xCF8-0xCFF) with
 * an i440FX-style host bridge at 00:00.0 and room for devices on bus 0.
 *
 * Thread safety: the device mutex guards CONFIG_ADDRESS, the host bridge's
 * config space and the device table. Attached devices' callbacks are called
 * WITHOUT it held, so they may take their own locks freely; they must do
 * their own locking against other threads. */
#ifndef VSB_PCI_HOST_H
#define VSB_PCI_HOST_H

#include <stdbool.h>
#include <stdint.h>

#define PCI_HOST_DEVS 32

/* Config space callbacks of a device on bus 0. fn is 0..7, reg the byte
 * offset 0..255, len 1, 2 or 4; reg..reg+len-1 never crosses a dword
 * boundary (it may be unaligned inside one, e.g. a word at reg 0x01).
 * cfg_read returns the value in the low len bytes; a function the device
 * does not implement must read all-ones. */
struct pci_dev_ops {
	uint32_t (*cfg_read)(void *ctx, unsigned fn, unsigned reg,
			     unsigned len);
	void (*cfg_write)(void *ctx, unsigned fn, unsigned reg, unsigned len,
			  uint32_t val);
};

struct pci_host;

/* Returns NULL on allocation failure. */
struct pci_host *pci_host_new(void);
void pci_host_free(struct pci_host *h);

/* io_handler_fn registered on 0xCF8, length 8. */
void pci_host_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		 bool is_write);

/* Puts a device at bus 0, slot dev (1..31; 0 is the host bridge). ops must
 * outlive the host. Returns 0, -EINVAL (bad slot or ops) or -EEXIST (slot
 * taken). There is no detach. */
int pci_host_attach(struct pci_host *h, unsigned dev,
		    const struct pci_dev_ops *ops, void *ctx);

#endif
