/* virtio-blk on the legacy virtio-pci transport; see virtio_blk.h and
 * operator/README.md. The transport (virtio_pci.c) owns config space, the
 * register block and the ring's address; this file turns descriptor chains
 * into I/O on the image. */
#include "virtio_blk.h"

#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "virtio_pci.h"

#define VIRTIO_ID_BLOCK 2
#define PCI_DEVICE_BLK_LEGACY 0x1001 /* transitional virtio-blk */
#define PCI_CLASS_STORAGE_SCSI 0x010000 /* what QEMU reports for it */

/* Feature bits offered. No INDIRECT_DESC, EVENT_IDX, ANY_LAYOUT or
 * NOTIFY_ON_EMPTY: Linux needs none of them (it clears NOTIFY_ON_EMPTY
 * anyway) and each would be more to trust the guest with. */
#define BLK_F_SEG_MAX (1u << 2)
#define BLK_F_RO (1u << 5)
#define BLK_F_BLK_SIZE (1u << 6)
#define BLK_F_FLUSH (1u << 9)

/* Config layout (virtio 1.0, 5.2.4), little-endian. */
#define CFG_CAPACITY 0
#define CFG_SEG_MAX 12
#define CFG_BLK_SIZE 20

#define SECTOR 512u
#define HDR_SIZE 16 /* le32 type, le32 reserved (ioprio), le64 sector */
#define ID_BYTES 20

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8

#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2

struct virtio_blk {
	struct vpci t;
	struct vpci_device dev;
	int fd;
	bool read_only;
	uint64_t sectors;
	char serial[ID_BYTES];
	struct virtio_blk_stats stats;
	/* Scratch for one request, kept here rather than on the stack. */
	struct vq_chain chain;
	struct iovec iov[VQ_NUM];
};

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- requests ---- */

/* The status byte: the last byte of the chain's last descriptor, which must
 * be device-writable and in RAM. NULL when there is none to write (a
 * looping or cut chain): then the request completes with length 0. */
static uint8_t *status_byte(const struct vq_chain *c)
{
	if (!c->complete)
		return NULL;
	const struct vq_seg *s = &c->seg[c->n - 1];

	return s->writable && s->host ? s->host + s->len - 1 : NULL;
}

/* Every buffer in RAM, and the device-readable ones all before the
 * device-writable ones. */
static bool well_formed(const struct vq_chain *c)
{
	bool writable = false;

	for (unsigned i = 0; i < c->n; i++) {
		if (c->seg[i].writable)
			writable = true;
		else if (writable)
			return false;
	}
	return !c->faulty;
}

/* Copies the first len device-readable bytes (the header, whatever the
 * descriptors' split), one load each: the guest can change them only
 * before the copy. Returns how many there were. */
static size_t copy_header(const struct vq_chain *c, uint8_t *dst, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->n && !c->seg[i].writable && done < len; i++)
		for (uint32_t j = 0; j < c->seg[i].len && done < len; j++)
			dst[done++] = __atomic_load_n(&c->seg[i].host[j],
						      __ATOMIC_RELAXED);
	return done;
}

static void add_iov(struct virtio_blk *b, int *n, uint8_t *p, uint64_t len,
		    uint64_t *bytes)
{
	if (!len)
		return;
	b->iov[*n].iov_base = p;
	b->iov[*n].iov_len = len;
	(*n)++;
	*bytes += len;
}

/* OUT data: the device-readable bytes after the header. */
static int out_iov(struct virtio_blk *b, const struct vq_chain *c,
		   uint64_t *bytes)
{
	uint64_t skip = HDR_SIZE;
	int n = 0;

	*bytes = 0;
	for (unsigned i = 0; i < c->n && !c->seg[i].writable; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		add_iov(b, &n, s->host + skip, s->len - skip, bytes);
		skip = 0;
	}
	return n;
}

/* IN data: the device-writable bytes before the status byte. */
static int in_iov(struct virtio_blk *b, const struct vq_chain *c,
		  uint64_t *bytes)
{
	int n = 0;

	*bytes = 0;
	for (unsigned i = 0; i < c->n; i++) {
		const struct vq_seg *s = &c->seg[i];
		if (s->writable)
			add_iov(b, &n, s->host, s->len - (i == c->n - 1), bytes);
	}
	return n;
}

/* Whole sectors inside the disk; under 4 GiB, since the used length that
 * reports a read is 32 bits (Linux never asks for that much). */
static bool in_range(const struct virtio_blk *b, uint64_t sector,
		     uint64_t bytes)
{
	return bytes % SECTOR == 0 && bytes < (1ull << 32) &&
	       sector <= b->sectors && bytes / SECTOR <= b->sectors - sector;
}

/* preadv/pwritev until every iovec is done, resuming after short
 * transfers. Returns 0 or -1 (an error, or end of file: the image shrank
 * under us); *done counts the bytes moved either way. */
static int rw_all(int fd, struct iovec *iov, int n, uint64_t off,
		  bool is_write, uint64_t *done)
{
	*done = 0;
	while (n > 0) {
		ssize_t r = is_write ? pwritev(fd, iov, n, (off_t)off)
				     : preadv(fd, iov, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		*done += (uint64_t)r;
		off += (uint64_t)r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static uint8_t blk_in(struct virtio_blk *b, const struct vq_chain *c,
		      uint64_t sector, uint32_t *written)
{
	uint64_t bytes, done;
	int n = in_iov(b, c, &bytes);

	if (!in_range(b, sector, bytes))
		return S_IOERR;
	int r = rw_all(b->fd, b->iov, n, sector * SECTOR, false, &done);
	b->stats.read_bytes += done;
	*written = (uint32_t)done;
	return r ? S_IOERR : S_OK;
}

static uint8_t blk_out(struct virtio_blk *b, const struct vq_chain *c,
		       uint64_t sector)
{
	uint64_t bytes, done;
	int n = out_iov(b, c, &bytes);

	if (b->read_only || !in_range(b, sector, bytes))
		return S_IOERR;
	int r = rw_all(b->fd, b->iov, n, sector * SECTOR, true, &done);
	b->stats.written_bytes += done;
	return r ? S_IOERR : S_OK;
}

/* The serial: up to 20 bytes, NUL-padded, not necessarily terminated. */
static uint8_t blk_get_id(struct virtio_blk *b, const struct vq_chain *c,
			  uint32_t *written)
{
	uint64_t bytes;
	int n = in_iov(b, c, &bytes);
	size_t pos = 0;

	for (int i = 0; i < n && pos < ID_BYTES; i++) {
		size_t k = b->iov[i].iov_len;
		if (k > ID_BYTES - pos)
			k = ID_BYTES - pos;
		memcpy(b->iov[i].iov_base, b->serial + pos, k);
		pos += k;
	}
	*written = (uint32_t)pos;
	return S_OK;
}

/* Serves a well-placed request; *written counts the data bytes put into
 * guest buffers (the status byte comes on top). */
static uint8_t blk_request(struct virtio_blk *b, const struct vq_chain *c,
			   uint32_t *written)
{
	uint8_t hdr[HDR_SIZE];

	if (!well_formed(c) || copy_header(c, hdr, HDR_SIZE) < HDR_SIZE)
		return S_IOERR;
	uint32_t type = (uint32_t)get_le(hdr, 4);
	uint64_t sector = get_le(hdr + 8, 8);

	switch (type) {
	case T_IN:
		return blk_in(b, c, sector, written);
	case T_OUT:
		return blk_out(b, c, sector);
	case T_FLUSH:
		return fdatasync(b->fd) ? S_IOERR : S_OK;
	case T_GET_ID:
		return blk_get_id(b, c, written);
	default:
		return S_UNSUPP;
	}
}

static void serve(struct virtio_blk *b, struct virtqueue *vq,
		  const struct vq_chain *c)
{
	uint8_t *status = status_byte(c);
	uint32_t written = 0;

	b->stats.reqs++;
	if (!status) {
		b->stats.errors++;
		vq_push(vq, c->head, 0);
		return;
	}
	uint8_t st = blk_request(b, c, &written);

	if (st != S_OK)
		b->stats.errors++;
	__atomic_store_n(status, st, __ATOMIC_RELAXED);
	vq_push(vq, c->head, written + 1);
}

/* Everything available when the guest notified, once: the guest cannot
 * keep us here by adding requests as fast as we serve them. */
static bool blk_notify(void *dev, struct virtqueue *vq)
{
	struct virtio_blk *b = dev;
	int n = vq_pending(vq);
	bool pushed = false;

	for (int i = 0; i < n && vq_pop(vq, &b->chain) == 0; i++) {
		serve(b, vq, &b->chain);
		pushed = true;
	}
	return pushed;
}

/* ---- creation ---- */

static int disk_size(int fd, struct stat *st, uint64_t *size)
{
	if (fstat(fd, st))
		return -1;
	if (S_ISBLK(st->st_mode))
		return ioctl(fd, BLKGETSIZE64, size);
	if (!S_ISREG(st->st_mode)) {
		errno = EINVAL;
		return -1;
	}
	*size = (uint64_t)st->st_size;
	return 0;
}

/* A stable serial per image that does not show host inode numbers:
 * FNV-1a of device and inode. */
static void make_serial(struct virtio_blk *b, const struct stat *st)
{
	uint64_t key[2] = { (uint64_t)st->st_dev, (uint64_t)st->st_ino };
	const uint8_t *p = (const uint8_t *)key;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < sizeof(key); i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	snprintf(b->serial, sizeof(b->serial), "vsbghv-%012llx",
		 (unsigned long long)(h & 0xffffffffffffull));
}

struct virtio_blk *virtio_blk_new(const struct guest_mem *mem, int disk_fd,
				  bool read_only,
				  const struct virtio_pci_ops *ops, void *ctx)
{
	struct stat st;
	uint64_t size;

	if (!mem || disk_fd < 0 || !ops || !ops->irq || !ops->bar) {
		errno = EINVAL;
		return NULL;
	}
	if (disk_size(disk_fd, &st, &size))
		return NULL;
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->fd = disk_fd;
	b->read_only = read_only;
	b->sectors = size / SECTOR;
	make_serial(b, &st);
	b->dev = (struct vpci_device){
		.pci_device_id = PCI_DEVICE_BLK_LEGACY,
		.virtio_id = VIRTIO_ID_BLOCK,
		.class_code = PCI_CLASS_STORAGE_SCSI,
		.features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH |
			    (read_only ? BLK_F_RO : 0),
		.notify = blk_notify,
	};
	vpci_init(&b->t, mem, &b->dev, b, ops, ctx);
	put64(&b->t.config[CFG_CAPACITY], b->sectors);
	/* Header and status take two descriptors of a chain that may not
	 * exceed the ring without INDIRECT_DESC. */
	put32(&b->t.config[CFG_SEG_MAX], VQ_NUM - 2);
	put32(&b->t.config[CFG_BLK_SIZE], SECTOR);
	return b;
}

void virtio_blk_free(struct virtio_blk *b)
{
	free(b);
}

uint32_t virtio_blk_cfg_read(struct virtio_blk *b, unsigned fn, unsigned reg,
			     unsigned len)
{
	return vpci_cfg_read(&b->t, fn, reg, len);
}

void virtio_blk_cfg_write(struct virtio_blk *b, unsigned fn, unsigned reg,
			  unsigned len, uint32_t val)
{
	vpci_cfg_write(&b->t, fn, reg, len, val);
}

void virtio_blk_bar_io(struct virtio_blk *b, uint64_t off, void *data,
		       uint32_t len, bool is_write)
{
	vpci_bar_io(&b->t, off, data, len, is_write);
}

void virtio_blk_stats(const struct virtio_blk *b, struct virtio_blk_stats *out)
{
	*out = b->stats;
}
