/* Unit tests of vsb-ghv's virtio-blk (operator/virtio_blk.c, virtio_pci.c,
 * virtqueue.c), driven as Linux's virtio_pci_legacy and virtio_blk drive
 * it: PCI IDs, BAR sizing and assignment, command register, reset, status,
 * features, queue PFN, DRIVER_OK, then descriptor chains built in a
 * malloc'd "guest RAM" against a temp-file disk with a known pattern. And
 * what a hostile guest can do: buffers outside RAM, loops, bogus indices,
 * rings outside RAM. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "guest_mem.h"
#include "virtio_blk.h"

#define RAM_SIZE (1u << 20)
#define RING_PFN 0x10 /* ring at 64 KiB */
#define RING_GPA ((uint64_t)RING_PFN << 12)
#define QSZ 256
#define AVAIL_GPA (RING_GPA + 16 * QSZ)
#define USED_GPA (RING_GPA + 0x2000) /* 4096 + 6 + 512 rounded up */
#define HDR_GPA 0x20000               /* 16-byte request headers */
#define STATUS_GPA 0x28000            /* status bytes */
#define DATA_GPA 0x30000
#define SECTORS 64
#define IOBASE 0xc040

/* Legacy registers and bits, spelled out here as a driver would. */
#define R_HOST_F 0x00
#define R_GUEST_F 0x04
#define R_PFN 0x08
#define R_QNUM 0x0c
#define R_QSEL 0x0e
#define R_NOTIFY 0x10
#define R_STATUS 0x12
#define R_ISR 0x13
#define R_CFG 0x14
#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_NEEDS_RESET 0x40
#define F_SEG_MAX (1u << 2)
#define F_RO (1u << 5)
#define F_BLK_SIZE (1u << 6)
#define F_FLUSH (1u << 9)
#define D_NEXT 1
#define D_WRITE 2
#define D_INDIRECT 4
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define NO_STATUS 0xee /* what status bytes hold before the device writes */

struct fx {
	uint8_t *ram;
	struct guest_mem mem;
	int fd;
	struct virtio_blk *b;
	int irq, irq_calls;
	struct {
		bool mapped;
		uint64_t base, len;
	} bar_log[16];
	int bar_calls;
	uint16_t avail_idx, next_desc, used_seen;
};

static void on_irq(void *ctx, int level)
{
	struct fx *f = ctx;

	assert_true(level == 0 || level == 1);
	assert_int_not_equal(level, f->irq); /* changes only */
	f->irq = level;
	f->irq_calls++;
}

static void on_bar(void *ctx, bool mapped, uint64_t base, uint64_t len)
{
	struct fx *f = ctx;

	assert_true(f->bar_calls < 16);
	f->bar_log[f->bar_calls].mapped = mapped;
	f->bar_log[f->bar_calls].base = base;
	f->bar_log[f->bar_calls].len = len;
	f->bar_calls++;
}

static const struct virtio_pci_ops ops = { .irq = on_irq, .bar = on_bar };

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off >> 9) * 31 + (off & 511) * 7 + 1);
}

/* A disk of SECTORS sectors plus 100 bytes (capacity rounds down);
 * rdonly_fd: opened O_RDONLY, else read-write. */
static int make_disk(bool rdonly_fd)
{
	char path[] = "/tmp/vsb-vblk-XXXXXX";
	int fd = mkstemp(path);
	uint8_t buf[SECTORS * 512 + 100];

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(i);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	if (rdonly_fd) {
		close(fd);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		assert_true(fd >= 0);
	}
	unlink(path);
	return fd;
}

static struct fx *fx_new(bool read_only, bool rdonly_fd)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	gmem_wrap(&f->mem, f->ram, RAM_SIZE);
	f->fd = make_disk(rdonly_fd);
	f->b = virtio_blk_new(&f->mem, f->fd, read_only, &ops, f);
	assert_non_null(f->b);
	return f;
}

static int setup(void **state)
{
	*state = fx_new(false, false);
	return 0;
}

/* A read-only device on a read-write fd: the device itself must refuse
 * writes (the kernel would not). */
static int setup_ro(void **state)
{
	*state = fx_new(true, false);
	return 0;
}

/* And on an O_RDONLY fd, as vsb-ghv opens a read-only image. */
static int setup_ro_fd(void **state)
{
	*state = fx_new(true, true);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virtio_blk_free(f->b);
	close(f->fd);
	free(f->ram);
	free(f);
	return 0;
}

/* ---- accesses ---- */

static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned len)
{
	return virtio_blk_cfg_read(f->b, 0, reg, len);
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned len, uint32_t v)
{
	virtio_blk_cfg_write(f->b, 0, reg, len, v);
}

/* A BAR0 read; bytes past len must stay untouched. */
static uint32_t io_rd(struct fx *f, unsigned off, unsigned len)
{
	uint8_t buf[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };
	uint32_t v = 0;

	virtio_blk_bar_io(f->b, off, buf, len, false);
	for (unsigned i = 0; i < 4; i++) {
		if (i < len)
			v |= (uint32_t)buf[i] << (8 * i);
		else
			assert_int_equal(buf[i], 0xa5);
	}
	return v;
}

static void io_wr(struct fx *f, unsigned off, unsigned len, uint32_t v)
{
	uint8_t buf[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			   (uint8_t)(v >> 24) };
	virtio_blk_bar_io(f->b, off, buf, len, true);
}

/* Config bytes the way virtio_pci_legacy's vp_get reads them: ioread8. */
static uint64_t blk_cfg(struct fx *f, unsigned off, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)io_rd(f, R_CFG + off + i, 1) << (8 * i);
	return v;
}

/* ---- the driver's side ---- */

/* pci_read_bases with decoding off, then the resource assignment and
 * pci_enable_device / pci_set_master. */
static void pci_enable(struct fx *f)
{
	assert_int_equal(cfg_rd(f, 0x00, 4), 0x10011af4);
	assert_int_equal(cfg_rd(f, 0x10, 4), 0x00000001);
	cfg_wr(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x10, 4), 0xffffffc1);
	cfg_wr(f, 0x10, 4, 0);
	assert_int_equal(f->bar_calls, 0);
	cfg_wr(f, 0x10, 4, IOBASE);
	cfg_wr(f, 0x04, 2, cfg_rd(f, 0x04, 2) | 0x1);
	cfg_wr(f, 0x04, 2, cfg_rd(f, 0x04, 2) | 0x4);
	assert_int_equal(f->bar_calls, 1);
	assert_true(f->bar_log[0].mapped);
	assert_int_equal(f->bar_log[0].base, IOBASE);
	assert_int_equal(f->bar_log[0].len, 64);
}

/* virtio core + virtblk_probe: reset, ACK, DRIVER, features, config,
 * setup_vq, DRIVER_OK. The ring at pfn is zeroed first, as Linux's is. */
static void virtio_init(struct fx *f, uint32_t pfn)
{
	io_wr(f, R_STATUS, 1, 0);
	assert_int_equal(io_rd(f, R_STATUS, 1), 0);
	io_wr(f, R_STATUS, 1, ST_ACK);
	io_wr(f, R_STATUS, 1, ST_ACK | ST_DRIVER);
	uint32_t host = io_rd(f, R_HOST_F, 4);
	io_wr(f, R_GUEST_F, 4, host & (F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_RO));
	assert_int_equal(blk_cfg(f, 0, 8), SECTORS);
	io_wr(f, R_QSEL, 2, 0);
	assert_int_equal(io_rd(f, R_QNUM, 2), QSZ);
	assert_int_equal(io_rd(f, R_PFN, 4), 0);
	if ((uint64_t)pfn << 12 < RAM_SIZE)
		memset(f->ram + ((uint64_t)pfn << 12), 0,
		       RAM_SIZE - ((uint64_t)pfn << 12) < 3 * 4096
			       ? RAM_SIZE - ((uint64_t)pfn << 12)
			       : 3 * 4096);
	io_wr(f, R_PFN, 4, pfn);
	io_wr(f, R_STATUS, 1, ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	f->avail_idx = f->next_desc = f->used_seen = 0;
}

static void linux_probe(struct fx *f)
{
	pci_enable(f);
	virtio_init(f, RING_PFN);
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void put_desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	uint8_t *d = f->ram + RING_GPA + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	put16(d + 12, flags);
	put16(d + 14, next);
}

/* Offers the chain starting at descriptor head. */
static void offer(struct fx *f, uint16_t head)
{
	put16(f->ram + AVAIL_GPA + 4 + 2 * (f->avail_idx % QSZ), head);
	f->avail_idx++;
	put16(f->ram + AVAIL_GPA + 2, f->avail_idx);
}

struct seg {
	uint64_t addr;
	uint32_t len;
	bool w;
};

/* Writes segs as a chain in the next free descriptors and offers it. */
static uint16_t submit(struct fx *f, const struct seg *s, unsigned n)
{
	uint16_t head = f->next_desc;

	for (unsigned i = 0; i < n; i++) {
		unsigned idx = (head + i) % QSZ;
		put_desc(f, idx, s[i].addr, s[i].len,
			 (uint16_t)((s[i].w ? D_WRITE : 0) |
				    (i + 1 < n ? D_NEXT : 0)),
			 (uint16_t)((idx + 1) % QSZ));
	}
	f->next_desc = (uint16_t)((head + n) % QSZ);
	offer(f, head);
	return head;
}

static void kick(struct fx *f)
{
	io_wr(f, R_NOTIFY, 2, 0);
}

static uint16_t used_idx(struct fx *f)
{
	return get16(f->ram + USED_GPA + 2);
}

/* The next used element: checks its id, returns its length. */
static uint32_t next_used(struct fx *f, uint16_t head)
{
	const uint8_t *e = f->ram + USED_GPA + 4 + 8 * (f->used_seen % QSZ);

	assert_true((uint16_t)(used_idx(f) - f->used_seen) >= 1);
	assert_int_equal(get32(e), head);
	f->used_seen++;
	return get32(e + 4);
}

/* Header at a slot of its own per outstanding request. */
static uint64_t hdr(struct fx *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = HDR_GPA + 16 * (f->avail_idx % 64);
	uint8_t *p = f->ram + gpa;

	memcpy(p, &type, 4);
	memset(p + 4, 0, 4);
	memcpy(p + 8, &sector, 8);
	return gpa;
}

static uint64_t status_gpa(struct fx *f)
{
	uint64_t gpa = STATUS_GPA + f->avail_idx % 64;

	f->ram[gpa] = NO_STATUS;
	return gpa;
}

/* One request as virtio_blk queues it: header, data segments (device-
 * writable for reads and GET_ID), status. Returns the head. */
static uint16_t blk_submit(struct fx *f, uint32_t type, uint64_t sector,
			   const struct seg *data, unsigned n,
			   uint64_t *status)
{
	struct seg s[8];

	assert_true(n + 2 <= 8);
	s[0] = (struct seg){ hdr(f, type, sector), 16, false };
	for (unsigned i = 0; i < n; i++)
		s[1 + i] = data[i];
	*status = status_gpa(f);
	s[n + 1] = (struct seg){ *status, 1, true };
	return submit(f, s, n + 2);
}

/* Submits, notifies, checks the completion; returns the status byte and
 * the used length in *len. */
static uint8_t blk_do(struct fx *f, uint32_t type, uint64_t sector,
		      const struct seg *data, unsigned n, uint32_t *len)
{
	uint64_t st;
	uint16_t head = blk_submit(f, type, sector, data, n, &st);

	kick(f);
	*len = next_used(f, head);
	assert_int_equal(used_idx(f), f->used_seen);
	return f->ram[st];
}

static uint8_t ack_isr(struct fx *f)
{
	return (uint8_t)io_rd(f, R_ISR, 1);
}

/* ---- tests: creation and PCI ---- */

static void test_new_errors(void **state)
{
	struct fx *f = *state;
	struct virtio_pci_ops half = { .irq = on_irq };
	int p[2];

	errno = 0;
	assert_null(virtio_blk_new(NULL, f->fd, false, &ops, f));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(virtio_blk_new(&f->mem, f->fd, false, NULL, f));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(virtio_blk_new(&f->mem, f->fd, false, &half, f));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(virtio_blk_new(&f->mem, -1, false, &ops, f));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	errno = 0;
	assert_null(virtio_blk_new(&f->mem, p[1], false, &ops, f));
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_null(virtio_blk_new(&f->mem, p[0], false, &ops, f));
	assert_int_equal(errno, EINVAL); /* a pipe has no size */
	close(p[0]);
}

static void test_pci_ids(void **state)
{
	struct fx *f = *state;

	assert_int_equal(cfg_rd(f, 0x00, 4), 0x10011af4);
	assert_int_equal(cfg_rd(f, 0x00, 2), 0x1af4);
	assert_int_equal(cfg_rd(f, 0x02, 2), 0x1001);
	assert_int_equal(cfg_rd(f, 0x01, 2), 0x011a); /* unaligned word */
	assert_int_equal(cfg_rd(f, 0x03, 1), 0x10);
	assert_int_equal(cfg_rd(f, 0x04, 4), 0); /* command 0, status 0 */
	assert_int_equal(cfg_rd(f, 0x08, 4), 0x01000000); /* rev 0, 010000 */
	assert_int_equal(cfg_rd(f, 0x0b, 1), 0x01);
	assert_int_equal(cfg_rd(f, 0x0e, 1), 0x00); /* type 0, one function */
	assert_int_equal(cfg_rd(f, 0x2c, 4), 0x00021af4);
	assert_int_equal(cfg_rd(f, 0x2e, 2), 2);
	assert_int_equal(cfg_rd(f, 0x34, 1), 0); /* no capabilities */
	assert_int_equal(cfg_rd(f, 0x06, 2) & 0x10, 0);
	assert_int_equal(cfg_rd(f, 0x3c, 4), 0x00000100); /* INTA */
	for (unsigned reg = 0x40; reg < 0x100; reg += 4)
		assert_int_equal(cfg_rd(f, reg, 4), 0);
	/* Functions 1-7 do not exist. */
	for (unsigned fn = 1; fn < 8; fn++) {
		assert_int_equal(virtio_blk_cfg_read(f->b, fn, 0, 4),
				 0xffffffff);
		assert_int_equal(virtio_blk_cfg_read(f->b, fn, 2, 2), 0xffff);
		assert_int_equal(virtio_blk_cfg_read(f->b, fn, 0x3d, 1), 0xff);
		virtio_blk_cfg_write(f->b, fn, 0x04, 2, 0xffff);
		virtio_blk_cfg_write(f->b, fn, 0x10, 4, IOBASE);
	}
	assert_int_equal(cfg_rd(f, 0x04, 2), 0);
	assert_int_equal(cfg_rd(f, 0x10, 4), 1);
	assert_int_equal(f->bar_calls, 0);
}

static void test_read_only_config(void **state)
{
	struct fx *f = *state;
	/* IDs, class, header, BARs 1-5 and the ROM (they size to 0: absent),
	 * subsystem, capability pointer, and the rest of the space. */
	static const unsigned ro[] = { 0x00, 0x08, 0x0c, 0x14, 0x18, 0x1c,
				       0x20, 0x24, 0x28, 0x2c, 0x30, 0x34,
				       0x38, 0x40, 0x80, 0xfc };
	uint32_t before[sizeof(ro) / sizeof(ro[0])];

	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		before[i] = cfg_rd(f, ro[i], 4);
		cfg_wr(f, ro[i], 4, 0xffffffff);
		cfg_wr(f, ro[i] + 1, 1, 0x5a);
	}
	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		assert_int_equal(cfg_rd(f, ro[i], 4), before[i]);
	/* Command: only I/O, bus master and INTx disable stick; the status
	 * half ignores writes. */
	cfg_wr(f, 0x04, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x04, 4), 0x00000405);
	cfg_wr(f, 0x05, 1, 0x00);
	assert_int_equal(cfg_rd(f, 0x04, 2), 0x0005);
	cfg_wr(f, 0x04, 2, 0);
	assert_int_equal(f->bar_calls, 0); /* BAR still 0: never decoded */
	/* The interrupt line is storage; the pin is not. */
	cfg_wr(f, 0x3c, 2, 0xff0b);
	assert_int_equal(cfg_rd(f, 0x3c, 2), 0x010b);
	cfg_wr(f, 0x3c, 4, 0xffffff0a);
	assert_int_equal(cfg_rd(f, 0x3c, 4), 0x0000010a);
}

static void test_bar_sizing_and_decode(void **state)
{
	struct fx *f = *state;

	/* Sizing with decoding off, as Linux does: no callback. */
	cfg_wr(f, 0x10, 4, 0xffffffff);
	assert_int_equal(cfg_rd(f, 0x10, 4), 0xffffffc1);
	cfg_wr(f, 0x10, 4, 0);
	assert_int_equal(cfg_rd(f, 0x10, 4), 1);
	cfg_wr(f, 0x10, 4, IOBASE | 0x3f); /* low bits are not address */
	assert_int_equal(cfg_rd(f, 0x10, 4), IOBASE | 1);
	assert_int_equal(f->bar_calls, 0);

	/* Enabling I/O maps it. */
	cfg_wr(f, 0x04, 2, 0x0001);
	assert_int_equal(f->bar_calls, 1);
	assert_true(f->bar_log[0].mapped);
	assert_int_equal(f->bar_log[0].base, IOBASE);
	assert_int_equal(f->bar_log[0].len, 64);
	cfg_wr(f, 0x04, 2, 0x0005); /* no change to decode: no call */
	assert_int_equal(f->bar_calls, 1);

	/* Moving it while enabled: unmap the old, then map the new. */
	cfg_wr(f, 0x10, 4, 0xc080);
	assert_int_equal(f->bar_calls, 3);
	assert_false(f->bar_log[1].mapped);
	assert_int_equal(f->bar_log[1].base, IOBASE);
	assert_true(f->bar_log[2].mapped);
	assert_int_equal(f->bar_log[2].base, 0xc080);
	/* A byte write to the BAR moves it too. */
	cfg_wr(f, 0x11, 1, 0xd0);
	assert_int_equal(cfg_rd(f, 0x10, 4), 0xd081);
	assert_int_equal(f->bar_calls, 5);
	assert_false(f->bar_log[3].mapped);
	assert_int_equal(f->bar_log[3].base, 0xc080);
	assert_int_equal(f->bar_log[4].base, 0xd080);

	/* Sizing with I/O on: the all-ones value is no port range. */
	cfg_wr(f, 0x10, 4, 0xffffffff);
	assert_int_equal(f->bar_calls, 6);
	assert_false(f->bar_log[5].mapped);
	assert_int_equal(f->bar_log[5].base, 0xd080);
	cfg_wr(f, 0x10, 4, 0xd080);
	assert_int_equal(f->bar_calls, 7);
	assert_true(f->bar_log[6].mapped);
	/* Port ranges past 0xFFFF and BAR 0 are not decoded either. */
	cfg_wr(f, 0x10, 4, 0x10000);
	assert_int_equal(f->bar_calls, 8);
	assert_false(f->bar_log[7].mapped);
	cfg_wr(f, 0x10, 4, 0);
	cfg_wr(f, 0x10, 4, 0xffc0); /* the last 64 ports: fine */
	assert_int_equal(f->bar_calls, 9);
	assert_true(f->bar_log[8].mapped);
	assert_int_equal(f->bar_log[8].base, 0xffc0);

	/* Disabling I/O unmaps it. */
	cfg_wr(f, 0x04, 2, 0x0004);
	assert_int_equal(f->bar_calls, 10);
	assert_false(f->bar_log[9].mapped);
	assert_int_equal(f->bar_log[9].base, 0xffc0);
	assert_int_equal(f->bar_log[9].len, 64);
}

/* ---- tests: the legacy register block ---- */

static void test_legacy_registers(void **state)
{
	struct fx *f = *state;

	linux_probe(f);
	assert_int_equal(io_rd(f, R_HOST_F, 4),
			 F_SEG_MAX | F_BLK_SIZE | F_FLUSH);
	assert_int_equal(io_rd(f, R_GUEST_F, 4),
			 F_SEG_MAX | F_BLK_SIZE | F_FLUSH);
	io_wr(f, R_GUEST_F, 4, 0xffffffff); /* only offered bits stick */
	assert_int_equal(io_rd(f, R_GUEST_F, 4),
			 F_SEG_MAX | F_BLK_SIZE | F_FLUSH);
	io_wr(f, R_GUEST_F, 1, 0x00); /* a byte write changes that byte */
	assert_int_equal(io_rd(f, R_GUEST_F, 4), F_FLUSH);
	io_wr(f, R_HOST_F, 4, 0); /* read-only */
	assert_int_equal(io_rd(f, R_HOST_F, 2),
			 F_SEG_MAX | F_BLK_SIZE | F_FLUSH);
	assert_int_equal(io_rd(f, R_HOST_F + 1, 1), F_FLUSH >> 8);

	/* One queue: others have size 0 and ignore PFN writes. */
	assert_int_equal(io_rd(f, R_PFN, 4), RING_PFN);
	io_wr(f, R_QNUM, 2, 16); /* read-only */
	assert_int_equal(io_rd(f, R_QNUM, 2), QSZ);
	io_wr(f, R_QSEL, 2, 1);
	assert_int_equal(io_rd(f, R_QSEL, 2), 1);
	assert_int_equal(io_rd(f, R_QNUM, 2), 0);
	io_wr(f, R_PFN, 4, 0x20);
	assert_int_equal(io_rd(f, R_PFN, 4), 0);
	io_wr(f, R_NOTIFY, 2, 1); /* nothing there */
	io_wr(f, R_QSEL, 2, 0);
	assert_int_equal(io_rd(f, R_PFN, 4), RING_PFN);
	assert_int_equal(io_rd(f, R_NOTIFY, 2), 0);

	/* Device config, as Linux reads it, byte by byte. */
	assert_int_equal(blk_cfg(f, 0, 8), SECTORS);  /* capacity */
	assert_int_equal(blk_cfg(f, 8, 4), 0);        /* size_max: not offered */
	assert_int_equal(blk_cfg(f, 12, 4), QSZ - 2); /* seg_max */
	assert_int_equal(blk_cfg(f, 16, 4), 0);       /* geometry: not offered */
	assert_int_equal(blk_cfg(f, 20, 4), 512);     /* blk_size */
	assert_int_equal(io_rd(f, R_CFG, 4), SECTORS);
	assert_int_equal(io_rd(f, R_CFG + 20, 2), 512);
	for (unsigned off = R_CFG + 24; off < 64; off++)
		assert_int_equal(io_rd(f, off, 1), 0);
	io_wr(f, R_CFG, 4, 0xffffffff); /* read-only */
	assert_int_equal(blk_cfg(f, 0, 8), SECTORS);

	/* Outside the block: all-ones, writes dropped; a dword across its
	 * end is half config, half all-ones. */
	assert_int_equal(io_rd(f, 64, 1), 0xff);
	assert_int_equal(io_rd(f, 64, 4), 0xffffffff);
	assert_int_equal(io_rd(f, 62, 4), 0xffff0000);
	assert_int_equal(io_rd(f, 0x1000, 2), 0xffff);
	io_wr(f, 64, 4, 0);
	io_wr(f, 62, 4, 0);
	assert_int_equal(io_rd(f, 62, 2), 0);

	/* Status and ISR as one word; ISR writes are ignored. */
	io_wr(f, R_ISR, 1, 0xff);
	assert_int_equal(io_rd(f, R_STATUS, 2),
			 ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	/* A word at an odd offset: QSEL's high byte and NOTIFY's low. */
	assert_int_equal(io_rd(f, R_QSEL + 1, 2), 0);
	assert_int_equal(f->irq_calls, 0);
}

/* ---- tests: requests ---- */

static void check_pattern(struct fx *f, uint64_t gpa, uint64_t disk_off,
			  size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (f->ram[gpa + i] != pattern(disk_off + i))
			fail_msg("byte %zu of %zu: %#x, want %#x", i, len,
				 f->ram[gpa + i], pattern(disk_off + i));
}

static void test_read_multi(void **state)
{
	struct fx *f = *state;
	struct seg d[3] = { { DATA_GPA, 512, true },
			    { DATA_GPA + 0x1000, 1024, true },
			    { DATA_GPA + 0x3000, 512, true } };
	uint32_t len;
	struct virtio_blk_stats st;

	linux_probe(f);
	memset(f->ram + DATA_GPA, 0xcc, 0x4000);
	assert_int_equal(blk_do(f, T_IN, 5, d, 3, &len), S_OK);
	assert_int_equal(len, 2048 + 1);
	check_pattern(f, DATA_GPA, 5 * 512, 512);
	check_pattern(f, DATA_GPA + 0x1000, 6 * 512, 1024);
	check_pattern(f, DATA_GPA + 0x3000, 8 * 512, 512);
	assert_int_equal(f->ram[DATA_GPA + 512], 0xcc); /* nothing more */
	assert_int_equal(f->ram[DATA_GPA + 0x1000 + 1024], 0xcc);
	assert_int_equal(f->irq, 1);
	assert_int_equal(ack_isr(f), 1);
	assert_int_equal(f->irq, 0);

	/* The status byte may share the last data buffer's descriptor (no
	 * ANY_LAYOUT needed to accept it), and the last sector is readable. */
	struct seg s[2] = { { hdr(f, T_IN, SECTORS - 1), 16, false },
			    { DATA_GPA, 513, true } };
	uint16_t head = submit(f, s, 2);
	kick(f);
	assert_int_equal(next_used(f, head), 513);
	check_pattern(f, DATA_GPA, (SECTORS - 1) * 512, 512);
	assert_int_equal(f->ram[DATA_GPA + 512], S_OK);

	virtio_blk_stats(f->b, &st);
	assert_int_equal(st.reqs, 2);
	assert_int_equal(st.read_bytes, 2048 + 512);
	assert_int_equal(st.written_bytes, 0);
	assert_int_equal(st.errors, 0);
}

static void test_write_multi(void **state)
{
	struct fx *f = *state;
	uint8_t disk[3 * 512];
	uint32_t len;
	struct virtio_blk_stats st;

	linux_probe(f);
	for (int i = 0; i < 3 * 512; i++)
		f->ram[DATA_GPA + i] = (uint8_t)(i * 13 + 5);
	/* Header split over two descriptors, data over three. */
	uint64_t h = hdr(f, T_OUT, 10);
	uint64_t sgpa = status_gpa(f);
	struct seg s[6] = { { h, 8, false },
			    { h + 8, 8, false },
			    { DATA_GPA, 1000, false },
			    { DATA_GPA + 1000, 24, false },
			    { DATA_GPA + 1024, 512, false },
			    { sgpa, 1, true } };
	uint16_t head = submit(f, s, 6);
	kick(f);
	assert_int_equal(next_used(f, head), 1);
	assert_int_equal(f->ram[sgpa], S_OK);
	assert_int_equal(pread(f->fd, disk, sizeof(disk), 10 * 512),
			 (ssize_t)sizeof(disk));
	assert_memory_equal(disk, f->ram + DATA_GPA, sizeof(disk));
	/* Neighbours untouched. */
	assert_int_equal(pread(f->fd, disk, 1, 10 * 512 - 1), 1);
	assert_int_equal(disk[0], pattern(10 * 512 - 1));
	assert_int_equal(pread(f->fd, disk, 1, 13 * 512), 1);
	assert_int_equal(disk[0], pattern(13 * 512));

	/* And read back through the device. */
	struct seg d = { DATA_GPA + 0x2000, 3 * 512, true };
	assert_int_equal(blk_do(f, T_IN, 10, &d, 1, &len), S_OK);
	assert_memory_equal(f->ram + DATA_GPA + 0x2000, f->ram + DATA_GPA,
			    3 * 512);
	virtio_blk_stats(f->b, &st);
	assert_int_equal(st.reqs, 2);
	assert_int_equal(st.written_bytes, 3 * 512);
	assert_int_equal(st.read_bytes, 3 * 512);
}

static void test_flush(void **state)
{
	struct fx *f = *state;
	uint32_t len;

	linux_probe(f);
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(len, 1);
	/* The sector of a flush means nothing. */
	assert_int_equal(blk_do(f, T_FLUSH, ~0ull, NULL, 0, &len), S_OK);
}

static void test_get_id(void **state)
{
	struct fx *f = *state;
	struct seg d = { DATA_GPA, 20, true };
	uint32_t len;
	char id[21] = { 0 };

	linux_probe(f);
	memset(f->ram + DATA_GPA, 0xee, 32);
	assert_int_equal(blk_do(f, T_GET_ID, 0, &d, 1, &len), S_OK);
	assert_int_equal(len, 20 + 1);
	memcpy(id, f->ram + DATA_GPA, 20);
	assert_int_equal(strlen(id), 19);
	assert_memory_equal(id, "vsbghv-", 7);
	for (int i = 7; i < 19; i++)
		assert_non_null(strchr("0123456789abcdef", id[i]));
	assert_int_equal(f->ram[DATA_GPA + 20], 0xee);

	/* The same disk, the same serial; a short buffer gets a prefix. */
	struct seg s8 = { DATA_GPA + 0x100, 8, true };
	memset(f->ram + DATA_GPA + 0x100, 0xee, 16);
	assert_int_equal(blk_do(f, T_GET_ID, 0, &s8, 1, &len), S_OK);
	assert_int_equal(len, 8 + 1);
	assert_memory_equal(f->ram + DATA_GPA + 0x100, id, 8);
	assert_int_equal(f->ram[DATA_GPA + 0x108], 0xee);
}

static void test_out_of_range(void **state)
{
	struct fx *f = *state;
	struct seg one = { DATA_GPA, 512, true };
	struct seg two = { DATA_GPA, 1024, true };
	struct seg odd = { DATA_GPA, 100, true };
	struct seg w = { DATA_GPA, 512, false };
	uint32_t len;
	struct virtio_blk_stats st;

	linux_probe(f);
	/* Capacity is 64 sectors (the 100 bytes after them do not count). */
	assert_int_equal(blk_do(f, T_IN, SECTORS, &one, 1, &len), S_IOERR);
	assert_int_equal(len, 1);
	assert_int_equal(blk_do(f, T_IN, SECTORS - 1, &two, 1, &len), S_IOERR);
	assert_int_equal(blk_do(f, T_IN, ~0ull, &one, 1, &len), S_IOERR);
	assert_int_equal(blk_do(f, T_IN, ~0ull / 512, &one, 1, &len),
			 S_IOERR);
	assert_int_equal(blk_do(f, T_OUT, SECTORS, &w, 1, &len), S_IOERR);
	assert_int_equal(blk_do(f, T_IN, 0, &odd, 1, &len), S_IOERR);
	assert_int_equal(blk_do(f, T_IN, SECTORS - 1, &one, 1, &len), S_OK);
	virtio_blk_stats(f->b, &st);
	assert_int_equal(st.reqs, 7);
	assert_int_equal(st.errors, 6);
	assert_int_equal(st.written_bytes, 0);
	off_t size = lseek(f->fd, 0, SEEK_END);
	assert_int_equal(size, SECTORS * 512 + 100); /* never extended */
}

static void test_unsupported_and_short(void **state)
{
	struct fx *f = *state;
	struct seg d = { DATA_GPA, 512, true };
	uint32_t len;

	linux_probe(f);
	assert_int_equal(blk_do(f, 2, 0, &d, 1, &len), S_UNSUPP); /* SCSI */
	assert_int_equal(len, 1);
	assert_int_equal(blk_do(f, 0x80000000, 0, &d, 1, &len), S_UNSUPP);
	assert_int_equal(blk_do(f, 11, 0, &d, 1, &len), S_UNSUPP);

	/* A header of 8 bytes only. */
	uint64_t sgpa = status_gpa(f);
	struct seg s[2] = { { hdr(f, T_IN, 0), 8, false }, { sgpa, 1, true } };
	uint16_t head = submit(f, s, 2);
	kick(f);
	assert_int_equal(next_used(f, head), 1);
	assert_int_equal(f->ram[sgpa], S_IOERR);
}

static void test_read_only_disk(void **state)
{
	struct fx *f = *state;
	struct seg w = { DATA_GPA, 512, false };
	struct seg r = { DATA_GPA + 0x1000, 512, true };
	uint8_t disk[512];
	uint32_t len;

	linux_probe(f);
	assert_int_equal(io_rd(f, R_HOST_F, 4),
			 F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_RO);
	assert_int_equal(io_rd(f, R_GUEST_F, 4) & F_RO, F_RO);
	memset(f->ram + DATA_GPA, 0x77, 512);
	assert_int_equal(blk_do(f, T_OUT, 3, &w, 1, &len), S_IOERR);
	assert_int_equal(pread(f->fd, disk, 512, 3 * 512), 512);
	for (int i = 0; i < 512; i++)
		assert_int_equal(disk[i], pattern(3 * 512 + i));
	assert_int_equal(blk_do(f, T_IN, 3, &r, 1, &len), S_OK);
	check_pattern(f, DATA_GPA + 0x1000, 3 * 512, 512);
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	struct virtio_blk_stats st;
	virtio_blk_stats(f->b, &st);
	assert_int_equal(st.written_bytes, 0);
	assert_int_equal(st.errors, 1);
}

/* ---- tests: a hostile guest ---- */

static void test_desc_outside_ram(void **state)
{
	struct fx *f = *state;
	uint32_t len;
	struct virtio_blk_stats st;
	static const struct seg bad[] = {
		{ RAM_SIZE - 256, 512, true },     /* across the end of RAM */
		{ RAM_SIZE, 512, true },           /* just past it */
		{ 0xC0000000ull, 512, true },      /* the PCI hole */
		{ 0x100000000ull, 512, true },     /* "high RAM" we lack */
		{ ~0ull - 100, 512, true },        /* wrapping */
		{ DATA_GPA, 0xffffffffu, true },   /* 4 GiB long */
	};

	linux_probe(f);
	memset(f->ram + RAM_SIZE - 256, 0xcc, 256);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(blk_do(f, T_IN, 0, &bad[i], 1, &len),
				 S_IOERR);
	for (int i = 0; i < 256; i++)
		assert_int_equal(f->ram[RAM_SIZE - 256 + i], 0xcc);
	/* A writable data buffer fine, the next one outside: nothing is
	 * read into the first either. */
	struct seg two[2] = { { DATA_GPA, 512, true }, { RAM_SIZE, 512, true } };
	memset(f->ram + DATA_GPA, 0xcc, 512);
	assert_int_equal(blk_do(f, T_IN, 0, two, 2, &len), S_IOERR);
	assert_int_equal(f->ram[DATA_GPA], 0xcc);

	/* The header outside RAM. */
	uint64_t sgpa = status_gpa(f);
	struct seg h[2] = { { RAM_SIZE + 4096, 16, false }, { sgpa, 1, true } };
	uint16_t head = submit(f, h, 2);
	kick(f);
	assert_int_equal(next_used(f, head), 1);
	assert_int_equal(f->ram[sgpa], S_IOERR);

	/* The status byte outside RAM: nowhere to write it, length 0. */
	struct seg s[2] = { { hdr(f, T_IN, 0), 16, false },
			    { RAM_SIZE - 1 + 2, 1, true } };
	head = submit(f, s, 2);
	kick(f);
	assert_int_equal(next_used(f, head), 0);
	/* A read-only "status" descriptor: no status either. */
	uint64_t sg = status_gpa(f);
	struct seg r[2] = { { hdr(f, T_IN, 0), 16, false }, { sg, 1, false } };
	head = submit(f, r, 2);
	kick(f);
	assert_int_equal(next_used(f, head), 0);
	assert_int_equal(f->ram[sg], NO_STATUS);

	/* The device still works. */
	struct seg ok = { DATA_GPA, 512, true };
	assert_int_equal(blk_do(f, T_IN, 2, &ok, 1, &len), S_OK);
	check_pattern(f, DATA_GPA, 2 * 512, 512);
	virtio_blk_stats(f->b, &st);
	assert_int_equal(st.reqs, 11);
	assert_int_equal(st.errors, 10);
	assert_int_equal(st.read_bytes, 512);
}

static void test_malformed_chains(void **state)
{
	struct fx *f = *state;
	uint64_t sgpa;
	uint16_t head;
	uint32_t len;

	linux_probe(f);
	/* A loop: 0 -> 1 -> 0. Bounded; no status location: length 0. */
	put_desc(f, 0, hdr(f, T_IN, 0), 16, D_NEXT, 1);
	put_desc(f, 1, DATA_GPA, 512, D_NEXT | D_WRITE, 0);
	offer(f, 0);
	kick(f);
	assert_int_equal(next_used(f, 0), 0);
	/* A self-loop on the last descriptor of the ring. */
	put_desc(f, QSZ - 1, hdr(f, T_IN, 0), 16, D_NEXT, QSZ - 1);
	offer(f, QSZ - 1);
	kick(f);
	assert_int_equal(next_used(f, QSZ - 1), 0);
	/* next out of range. */
	put_desc(f, 2, hdr(f, T_IN, 0), 16, D_NEXT, QSZ);
	offer(f, 2);
	kick(f);
	assert_int_equal(next_used(f, 2), 0);
	/* A chain of exactly QSZ descriptors is fine: header, 254 x 512
	 * bytes, status (what seg_max allows). */
	sgpa = status_gpa(f);
	put_desc(f, 0, hdr(f, T_IN, 0), 16, D_NEXT, 1);
	for (unsigned i = 1; i < QSZ - 1; i++)
		put_desc(f, i, DATA_GPA + 512 * ((i - 1) % 32), 512,
			 D_NEXT | D_WRITE, (uint16_t)(i + 1));
	put_desc(f, QSZ - 1, sgpa, 1, D_WRITE, 0);
	/* 254 sectors do not fit a 64-sector disk: IOERR, but a status. */
	offer(f, 0);
	kick(f);
	assert_int_equal(next_used(f, 0), 1);
	assert_int_equal(f->ram[sgpa], S_IOERR);

	/* Device-readable after device-writable. */
	sgpa = status_gpa(f);
	struct seg mixed[4] = { { hdr(f, T_IN, 0), 16, false },
				{ DATA_GPA, 512, true },
				{ DATA_GPA + 512, 512, false },
				{ sgpa, 1, true } };
	f->next_desc = 10;
	head = submit(f, mixed, 4);
	kick(f);
	assert_int_equal(next_used(f, head), 1);
	assert_int_equal(f->ram[sgpa], S_IOERR);

	/* INDIRECT was not offered: an indirect descriptor is an error. */
	sgpa = status_gpa(f);
	put_desc(f, 20, hdr(f, T_IN, 0), 16, D_NEXT, 21);
	put_desc(f, 21, DATA_GPA, 32, D_NEXT | D_INDIRECT, 22);
	put_desc(f, 22, sgpa, 1, D_WRITE, 0);
	offer(f, 20);
	kick(f);
	assert_int_equal(next_used(f, 20), 1);
	assert_int_equal(f->ram[sgpa], S_IOERR);

	/* Still working. */
	struct seg ok = { DATA_GPA, 512, true };
	f->next_desc = 30;
	assert_int_equal(blk_do(f, T_IN, 1, &ok, 1, &len), S_OK);
	check_pattern(f, DATA_GPA, 512, 512);
}

static void test_bogus_avail_idx(void **state)
{
	struct fx *f = *state;
	struct seg d = { DATA_GPA, 512, true };
	uint64_t sgpa;
	uint32_t len;

	linux_probe(f);
	blk_submit(f, T_IN, 0, &d, 1, &sgpa);
	/* The guest claims 300 new entries: more than the ring holds. */
	put16(f->ram + AVAIL_GPA + 2, 300);
	kick(f);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(f->ram[sgpa], NO_STATUS);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(io_rd(f, R_STATUS, 1) & ST_NEEDS_RESET, ST_NEEDS_RESET);
	/* Stays broken: a sane idx does not revive it, nor do status writes. */
	put16(f->ram + AVAIL_GPA + 2, 1);
	io_wr(f, R_STATUS, 1, ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	assert_int_equal(io_rd(f, R_STATUS, 1),
			 ST_ACK | ST_DRIVER | ST_DRIVER_OK | ST_NEEDS_RESET);
	kick(f);
	assert_int_equal(used_idx(f), 0);

	/* A reset does. */
	virtio_init(f, RING_PFN);
	assert_int_equal(io_rd(f, R_STATUS, 1), ST_ACK | ST_DRIVER | ST_DRIVER_OK);
	assert_int_equal(blk_do(f, T_IN, 0, &d, 1, &len), S_OK);

	/* A head index out of range breaks it too. */
	offer(f, QSZ + 5);
	kick(f);
	assert_int_equal(used_idx(f), 1);
	assert_int_equal(io_rd(f, R_STATUS, 1) & ST_NEEDS_RESET, ST_NEEDS_RESET);
}

static void test_pfn_outside_ram(void **state)
{
	struct fx *f = *state;
	struct virtio_blk_stats st;
	static const uint32_t pfns[] = {
		RAM_SIZE >> 12,       /* starts at the end of RAM */
		(RAM_SIZE >> 12) - 2, /* 8 KiB before it: used ring outside */
		0xC0000,              /* the PCI hole */
		0xffffffff,
	};

	pci_enable(f);
	for (unsigned i = 0; i < sizeof(pfns) / sizeof(pfns[0]); i++) {
		virtio_init(f, pfns[i]);
		assert_int_equal(io_rd(f, R_PFN, 4), pfns[i]); /* as written */
		kick(f);
		assert_int_equal(f->irq_calls, 0);
	}
	/* Avail entries written where a driver would put them (the part in
	 * RAM) are not served either. */
	virtio_init(f, (RAM_SIZE >> 12) - 2);
	uint8_t *avail = f->ram + RAM_SIZE - 0x2000 + 16 * QSZ;
	put16(avail + 4, 0);
	put16(avail + 2, 1);
	kick(f);
	assert_int_equal(f->irq_calls, 0);
	virtio_blk_stats(f->b, &st);
	assert_int_equal(st.reqs, 0);

	/* The last PFN whose whole ring fits works. */
	uint32_t last = (RAM_SIZE - 3 * 4096) >> 12;
	virtio_init(f, last);
	uint8_t *ring = f->ram + ((uint64_t)last << 12);
	memcpy(ring, &(uint64_t){ HDR_GPA }, 8);
	memcpy(ring + 8, &(uint32_t){ 16 }, 4);
	put16(ring + 12, D_NEXT);
	put16(ring + 14, 1);
	memcpy(ring + 16, &(uint64_t){ STATUS_GPA }, 8);
	memcpy(ring + 24, &(uint32_t){ 1 }, 4);
	put16(ring + 28, D_WRITE);
	memset(f->ram + HDR_GPA, 0, 16);
	f->ram[HDR_GPA] = T_FLUSH;
	f->ram[STATUS_GPA] = NO_STATUS;
	put16(ring + 16 * QSZ + 4, 0);
	put16(ring + 16 * QSZ + 2, 1);
	kick(f);
	assert_int_equal(get16(ring + 0x2000 + 2), 1);
	assert_int_equal(f->ram[STATUS_GPA], S_OK);
	assert_int_equal(f->irq, 1);
}

static void test_isr_deasserts(void **state)
{
	struct fx *f = *state;
	uint32_t len;

	linux_probe(f);
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(f->irq, 1);
	assert_int_equal(f->irq_calls, 1);
	assert_int_equal(cfg_rd(f, 0x06, 2), 0x0008); /* INTx pending */
	/* A second completion while asserted: no new edge for a level. */
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(f->irq_calls, 1);
	assert_int_equal(ack_isr(f), 1);
	assert_int_equal(f->irq, 0);
	assert_int_equal(f->irq_calls, 2);
	assert_int_equal(cfg_rd(f, 0x06, 2), 0);
	assert_int_equal(ack_isr(f), 0);
	assert_int_equal(f->irq_calls, 2);
	/* A wider read covering ISR acknowledges too. */
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(io_rd(f, R_STATUS, 2),
			 (ST_ACK | ST_DRIVER | ST_DRIVER_OK) | 1 << 8);
	assert_int_equal(f->irq, 0);
}

static void test_intx_disable(void **state)
{
	struct fx *f = *state;
	uint32_t len;

	linux_probe(f);
	cfg_wr(f, 0x04, 2, 0x0405);
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(cfg_rd(f, 0x06, 2), 0x0008); /* pending, masked */
	cfg_wr(f, 0x04, 2, 0x0005);
	assert_int_equal(f->irq, 1);
	cfg_wr(f, 0x04, 2, 0x0405);
	assert_int_equal(f->irq, 0);
	cfg_wr(f, 0x04, 2, 0x0005);
	assert_int_equal(ack_isr(f), 1);
	assert_int_equal(f->irq, 0);
	assert_int_equal(f->irq_calls, 4);
}

static void test_no_interrupt_flag(void **state)
{
	struct fx *f = *state;
	uint32_t len;

	linux_probe(f);
	put16(f->ram + AVAIL_GPA, 1); /* VRING_AVAIL_F_NO_INTERRUPT */
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(f->irq_calls, 0);
	assert_int_equal(ack_isr(f), 0);
	put16(f->ram + AVAIL_GPA, 0);
	assert_int_equal(blk_do(f, T_FLUSH, 0, NULL, 0, &len), S_OK);
	assert_int_equal(f->irq, 1);
}

static void test_reset_clears_queue(void **state)
{
	struct fx *f = *state;
	struct seg d = { DATA_GPA, 512, true };
	uint64_t sgpa;
	uint32_t len;

	linux_probe(f);
	assert_int_equal(blk_do(f, T_IN, 0, &d, 1, &len), S_OK);
	assert_int_equal(blk_do(f, T_IN, 1, &d, 1, &len), S_OK);
	assert_int_equal(f->irq, 1);
	io_wr(f, R_QSEL, 2, 3);
	io_wr(f, R_STATUS, 1, 0);
	assert_int_equal(f->irq, 0); /* ISR cleared with the rest */
	assert_int_equal(io_rd(f, R_STATUS, 1), 0);
	assert_int_equal(io_rd(f, R_ISR, 1), 0);
	assert_int_equal(io_rd(f, R_GUEST_F, 4), 0);
	assert_int_equal(io_rd(f, R_QSEL, 2), 0);
	assert_int_equal(io_rd(f, R_PFN, 4), 0);
	/* No ring any more: a request in the old one stays there. */
	blk_submit(f, T_IN, 2, &d, 1, &sgpa);
	kick(f);
	assert_int_equal(used_idx(f), 2);
	assert_int_equal(f->ram[sgpa], NO_STATUS);

	/* A fresh ring elsewhere starts from index 0. */
	virtio_init(f, RING_PFN + 4);
	uint8_t *ring = f->ram + ((uint64_t)(RING_PFN + 4) << 12);
	memcpy(ring, &(uint64_t){ hdr(f, T_FLUSH, 0) }, 8);
	memcpy(ring + 8, &(uint32_t){ 16 }, 4);
	put16(ring + 12, D_NEXT);
	put16(ring + 14, 1);
	memcpy(ring + 16, &(uint64_t){ sgpa }, 8);
	memcpy(ring + 24, &(uint32_t){ 1 }, 4);
	put16(ring + 28, D_WRITE);
	put16(ring + 16 * QSZ + 2, 1);
	kick(f);
	assert_int_equal(get16(ring + 0x2000 + 2), 1);
	assert_int_equal(get32(ring + 0x2000 + 4), 0); /* id */
	assert_int_equal(get32(ring + 0x2000 + 8), 1); /* len */
	assert_int_equal(f->ram[sgpa], S_OK);
	/* Rewriting the PFN restarts the indices too: entry 0 is new again. */
	io_wr(f, R_PFN, 4, RING_PFN + 4);
	f->ram[sgpa] = NO_STATUS;
	kick(f);
	assert_int_equal(get16(ring + 0x2000 + 2), 1);
	assert_int_equal(f->ram[sgpa], S_OK);
}

static void test_bus_master_off(void **state)
{
	struct fx *f = *state;
	struct seg d = { DATA_GPA, 512, true };
	uint64_t sgpa;

	linux_probe(f);
	cfg_wr(f, 0x04, 2, 0x0001);
	uint16_t head = blk_submit(f, T_IN, 4, &d, 1, &sgpa);
	kick(f);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(f->ram[sgpa], NO_STATUS);
	cfg_wr(f, 0x04, 2, 0x0005);
	kick(f);
	assert_int_equal(next_used(f, head), 513);
	assert_int_equal(f->ram[sgpa], S_OK);
	check_pattern(f, DATA_GPA, 4 * 512, 512);
}

/* Batches through several laps of the ring: one notify serves all that
 * was offered, in order, with one interrupt. */
static void test_batches_wrap(void **state)
{
	struct fx *f = *state;
	uint16_t heads[40];
	uint64_t st[40];
	struct virtio_blk_stats s;

	linux_probe(f);
	for (int round = 0; round < 30; round++) {
		for (int i = 0; i < 40; i++) {
			struct seg d = { DATA_GPA + 512 * (uint64_t)i, 512,
					 true };
			heads[i] = blk_submit(f, T_IN, (uint64_t)(round + i) % SECTORS,
					      &d, 1, &st[i]);
		}
		kick(f);
		assert_int_equal(used_idx(f), (uint16_t)(f->used_seen + 40));
		for (int i = 0; i < 40; i++) {
			assert_int_equal(next_used(f, heads[i]), 513);
			assert_int_equal(f->ram[st[i]], S_OK);
			check_pattern(f, DATA_GPA + 512 * (uint64_t)i,
				      (uint64_t)((round + i) % SECTORS) * 512, 512);
		}
		assert_int_equal(f->irq, 1);
		assert_int_equal(ack_isr(f), 1);
	}
	assert_int_equal(f->irq_calls, 60);
	virtio_blk_stats(f->b, &s);
	assert_int_equal(s.reqs, 1200);
	assert_int_equal(s.read_bytes, 1200 * 512);
	assert_int_equal(s.errors, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_new_errors),
		T(test_pci_ids),
		T(test_read_only_config),
		T(test_bar_sizing_and_decode),
		T(test_legacy_registers),
		T(test_read_multi),
		T(test_write_multi),
		T(test_flush),
		T(test_get_id),
		T(test_out_of_range),
		T(test_unsupported_and_short),
		cmocka_unit_test_setup_teardown(test_read_only_disk, setup_ro,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_disk,
						setup_ro_fd, teardown),
		T(test_desc_outside_ram),
		T(test_malformed_chains),
		T(test_bogus_avail_idx),
		T(test_pfn_outside_ram),
		T(test_isr_deasserts),
		T(test_intx_disable),
		T(test_no_interrupt_flag),
		T(test_reset_clears_queue),
		T(test_bus_master_off),
		T(test_batches_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
