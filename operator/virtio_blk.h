/* A virtio block device on the legacy (transitional) virtio-pci interface,
 * for vsb-ghv: PCI 1af4:1001, subsystem 1af4:0002, class 0x010000, one I/O
 * BAR of 64 bytes, INTx. Linux binds it with virtio_pci_legacy and
 * virtio_blk. One virtqueue of 256 entries; requests are served
 * synchronously, with pread/pwrite on the image, when the guest notifies.
 * operator/README.md has what is modelled, simplified and checked.
 *
 * The guest is untrusted: every ring index, descriptor and buffer it
 * gives is checked (gmem_ptr for every guest address, chains bounded by
 * the queue size, ring indices read once), so a hostile guest gets error
 * statuses or a device that needs a reset, never host memory.
 *
 * Thread safety: none inside. The caller serializes every call into one
 * device (vsb-ghv serves a device from one thread); different devices are
 * independent. The ops callbacks are called synchronously from within
 * virtio_blk_cfg_write / virtio_blk_bar_io and must not call back into the
 * device. */
#ifndef VSB_VIRTIO_BLK_H
#define VSB_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct virtio_blk;

struct virtio_pci_ops {
	void (*irq)(void *ctx, int level);   /* INTx line: 1 asserted, 0 deasserted */
	void (*bar)(void *ctx, bool mapped, uint64_t base, uint64_t len); /* I/O BAR0 decode */
};

/* disk_fd: the image, opened by the caller (read-write unless read_only);
 * it stays the caller's (virtio_blk_free does not close it). Its size
 * (fstat; a block device's size via BLKGETSIZE64) rounded down to 512 is
 * the capacity. Returns NULL with errno set (EINVAL: a missing argument or
 * callback, or an fd that is neither a regular file nor a block device).
 * mem must outlive the device; its host mapping must be 8-byte aligned
 * (a real mapping is page aligned). */
struct virtio_blk *virtio_blk_new(const struct guest_mem *mem, int disk_fd, bool read_only,
				  const struct virtio_pci_ops *ops, void *ctx);
void virtio_blk_free(struct virtio_blk *b);
/* PCI config space of the device's slot: fn 0..7, reg 0..255, len 1/2/4 not crossing a dword. */
uint32_t virtio_blk_cfg_read(struct virtio_blk *b, unsigned fn, unsigned reg, unsigned len);
void virtio_blk_cfg_write(struct virtio_blk *b, unsigned fn, unsigned reg, unsigned len, uint32_t val);
/* An access to BAR0 at offset off (0..63), len 1/2/4. */
void virtio_blk_bar_io(struct virtio_blk *b, uint64_t off, void *data, uint32_t len, bool is_write);
/* Counters for logs and benchmarks: requests taken from the ring, bytes
 * read from and written to the image, requests that failed (any status
 * but OK, or no status byte to write). */
struct virtio_blk_stats { uint64_t reqs, read_bytes, written_bytes, errors; };
void virtio_blk_stats(const struct virtio_blk *b, struct virtio_blk_stats *out);

#endif
