/* libFuzzer target: vsb-ghv's virtio-blk on the legacy virtio-pci
 * transport (operator/virtio_blk.c, virtio_pci.c, virtqueue.c), against
 * 64 KiB of guest RAM and a memfd disk, as a hostile guest would drive it.
 *
 * Input: one set-up byte, then a program of one op byte and operands.
 *   set-up bit 0      read-only disk
 *   set-up bits 2:1   disk size: 0, 512, 16 sectors + 100 bytes, 64 sectors
 *   op bits 7:5  0  BAR0 read:  offset byte (& 0x7f: 64..127 are outside)
 *                1  BAR0 write: offset byte, value bytes
 *                2  config read:  reg byte, fn byte (& 7)
 *                3  config write: reg byte, fn byte, value bytes
 *                   (op bits 1:0: size 1, 2, 4, 4; a reg crossing its
 *                   dword is moved to the dword's start, as the PCI host
 *                   never produces such an access)
 *                4  poke guest RAM: gpa (2 bytes), count byte (& 63), bytes
 *                5  what Linux does to bring the device up: BAR0 at 0xC000,
 *                   I/O + bus master, reset, ACK, DRIVER, features, queue
 *                   PFN = operand & 15 (13 is the last whose ring fits),
 *                   DRIVER_OK
 *                6  queue a request (header, data, status in three
 *                   descriptors) into the ring op 5 set up: type byte
 *                   (& 7 picks IN OUT FLUSH GET_ID IN OUT 2 0x80000000),
 *                   sector byte, data length byte (& 7 sectors, bit 3:
 *                   one byte more, bit 4: device-readable), data page
 *                   byte (gpa = byte << 8)
 *                7  operand < 0xf0: notify queue 0; else the host shrinks
 *                   or grows the image to (operand & 15) * 512 + 17 bytes
 * The other op bits select the BAR access size (bits 1:0 as above). A
 * program that runs out of bytes reads zeros.
 *
 * Checked beyond ASan/UBSan: the IRQ callback reports changes only, 0 or
 * 1, and always equals "PCI status INTx pending and INTx not disabled";
 * an ISR read leaves it deasserted; the bar callback alternates map and
 * unmap of one 64-byte, 64-aligned range inside port space, and what is
 * mapped always equals what the command register and BAR0 say; the
 * command register holds only I/O, master and INTx disable; status only
 * the INTx bit; absent functions read all-ones and IDs never change; BAR0
 * bytes past 64 read all-ones and host features are the offered set;
 * NEEDS_RESET, once set, stays until a reset; counters are consistent
 * (errors <= requests, nothing written on a read-only disk); a read-only
 * image is byte for byte unchanged, and no image ever grows past its
 * capacity or what the host made it. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "operator/virtio_blk.h"
#include "vmm/guest_mem.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x10000u
#define IOBASE 0xc000
#define QSZ 256
#define HDR_GPA 0xf000u
#define STATUS_GPA 0xf800u

#define F_OFFERED ((1u << 2) | (1u << 6) | (1u << 9)) /* SEG_MAX BLK_SIZE FLUSH */
#define F_RO (1u << 5)

static uint8_t ram[RAM_SIZE] __attribute__((aligned(4096)));
static struct guest_mem mem;
static int disk = -1;

static struct {
	struct virtio_blk *b;
	bool ro;
	int irq;
	bool mapped;
	uint64_t base;
	uint64_t max_size; /* the largest the image may be */
	bool needs_reset;
	/* the driver's view, from op 5 */
	bool ring;
	uint64_t ring_gpa;
	uint16_t avail_idx, next_desc;
} st;

static void on_irq(void *ctx, int level)
{
	(void)ctx;
	if ((level != 0 && level != 1) || level == st.irq)
		__builtin_trap();
	st.irq = level;
}

static void on_bar(void *ctx, bool mapped, uint64_t base, uint64_t len)
{
	(void)ctx;
	if (len != 64 || mapped == st.mapped)
		__builtin_trap();
	if (mapped && (!base || base % 64 || base + len > 0x10000))
		__builtin_trap();
	if (!mapped && base != st.base)
		__builtin_trap();
	st.mapped = mapped;
	st.base = base;
}

static const struct virtio_pci_ops ops = { .irq = on_irq, .bar = on_bar };

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9));
}

static int disk_init(uint64_t size)
{
	static uint8_t buf[64 * 512];

	if (disk < 0) {
		disk = memfd_create("fuzz-vblk", MFD_CLOEXEC);
		if (disk < 0)
			abort();
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(i);
	}
	if (ftruncate(disk, 0) || pwrite(disk, buf, size, 0) != (ssize_t)size)
		abort();
	return disk;
}

static uint64_t disk_size(void)
{
	struct stat s;

	if (fstat(disk, &s))
		abort();
	return (uint64_t)s.st_size;
}

static void ro_disk_intact(uint64_t size)
{
	static uint8_t buf[64 * 512];

	if (disk_size() != size || pread(disk, buf, size, 0) != (ssize_t)size)
		__builtin_trap();
	for (uint64_t i = 0; i < size; i++)
		if (buf[i] != pattern(i))
			__builtin_trap();
}

static void io(uint64_t off, uint8_t *buf, uint32_t len, bool is_write)
{
	virtio_blk_bar_io(st.b, off, buf, len, is_write);
}

static void io_wr(uint64_t off, uint32_t len, uint32_t v)
{
	uint8_t buf[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
			   (uint8_t)(v >> 24) };
	io(off, buf, len, true);
}

static uint32_t io_rd(uint64_t off, uint32_t len)
{
	uint8_t buf[4] = { 0 };

	io(off, buf, len, false);
	return (uint32_t)buf[0] | (uint32_t)buf[1] << 8 |
	       (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
}

/* The config space and callbacks agree after every step. */
static void check_state(void)
{
	uint32_t cs = virtio_blk_cfg_read(st.b, 0, 0x04, 4);
	uint32_t bar = virtio_blk_cfg_read(st.b, 0, 0x10, 4);
	uint16_t cmd = (uint16_t)cs, status = (uint16_t)(cs >> 16);
	uint32_t base = bar & ~0x3fu;
	bool decode = (cmd & 1) && base && base <= 0x10000 - 64;

	if ((cmd & ~0x0405) || (status & ~0x0008) || (bar & 0x3f) != 1)
		__builtin_trap();
	if (st.mapped != decode || (decode && st.base != base))
		__builtin_trap();
	if (st.irq != ((status & 8) && !(cmd & 0x0400)))
		__builtin_trap();
	if (virtio_blk_cfg_read(st.b, 0, 0, 4) != 0x10011af4 ||
	    virtio_blk_cfg_read(st.b, 0, 0x2c, 4) != 0x00021af4)
		__builtin_trap();
}

static void check_bar_read(uint64_t off, const uint8_t *buf, uint32_t len)
{
	uint32_t f = F_OFFERED | (st.ro ? F_RO : 0);

	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (o >= 64 && buf[i] != 0xff)
			__builtin_trap();
		if (o < 4 && buf[i] != (uint8_t)(f >> (8 * o)))
			__builtin_trap();
		if (o == 0x12 && st.needs_reset && !(buf[i] & 0x40))
			__builtin_trap();
		if (o == 0x12 && (buf[i] & 0x40))
			st.needs_reset = true;
	}
	if (off <= 0x13 && off + len > 0x13 &&
	    (st.irq || (virtio_blk_cfg_read(st.b, 0, 0x06, 2) & 8)))
		__builtin_trap(); /* an ISR read acknowledges */
}

static void bar_write(uint64_t off, const uint8_t *buf, uint32_t len)
{
	/* A 0 written to the status register resets the device. */
	if (off <= 0x12 && off + len > 0x12 && buf[0x12 - off] == 0)
		st.needs_reset = false;
	io(off, (uint8_t *)buf, len, true);
}

static void linux_init(uint32_t pfn)
{
	virtio_blk_cfg_write(st.b, 0, 0x10, 4, IOBASE);
	virtio_blk_cfg_write(st.b, 0, 0x04, 2, 0x0005);
	io_wr(0x12, 1, 0);
	st.needs_reset = false;
	io_wr(0x12, 1, 1);
	io_wr(0x12, 1, 3);
	io_wr(0x04, 4, io_rd(0x00, 4));
	io_wr(0x0e, 2, 0);
	io_wr(0x08, 4, pfn);
	io_wr(0x12, 1, 7);
	st.ring_gpa = (uint64_t)pfn << 12;
	st.ring = pfn && st.ring_gpa + 3 * 4096 <= RAM_SIZE;
	if (st.ring)
		memset(ram + st.ring_gpa, 0, 3 * 4096);
	st.avail_idx = st.next_desc = 0;
}

static void put(uint64_t gpa, const void *p, size_t n)
{
	if (gpa <= RAM_SIZE && n <= RAM_SIZE - gpa)
		memcpy(ram + gpa, p, n);
}

static void put_desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags)
{
	uint8_t d[16];
	uint16_t next = (uint16_t)((i + 1) % QSZ);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	put(st.ring_gpa + 16 * i, d, 16);
}

static void queue_request(struct in *in)
{
	static const uint32_t types[8] = { 0, 1, 4, 8, 0, 1, 2, 0x80000000 };
	uint32_t type = types[u8(in) & 7];
	uint64_t sector = u8(in);
	uint8_t lc = u8(in);
	uint64_t data = (uint64_t)u8(in) << 8;
	uint32_t len = (lc & 7) * 512u + ((lc & 8) ? 1 : 0);
	unsigned slot = st.avail_idx % 16, h = st.next_desc;
	uint8_t hdr[16] = { 0 };

	if (!st.ring)
		return;
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	put(HDR_GPA + 16 * slot, hdr, 16);
	put_desc(h, HDR_GPA + 16 * slot, 16, 1);
	put_desc((h + 1) % QSZ, data, len, (lc & 0x10) ? 1 : 3);
	put_desc((h + 2) % QSZ, STATUS_GPA + slot, 1, 2);
	st.next_desc = (uint16_t)((h + 3) % QSZ);
	uint16_t head = (uint16_t)h;
	put(st.ring_gpa + 16 * QSZ + 4 + 2 * (st.avail_idx % QSZ), &head, 2);
	st.avail_idx++;
	put(st.ring_gpa + 16 * QSZ + 2, &st.avail_idx, 2);
}

static void step(struct in *in)
{
	static const uint32_t sizes[4] = { 1, 2, 4, 4 };
	uint8_t op = u8(in), buf[4] = { 0 };
	uint32_t len = sizes[op & 3];

	switch (op >> 5) {
	case 0:
	case 1: {
		uint64_t off = u8(in) & 0x7f;
		if (op >> 5 == 0) {
			io(off, buf, len, false);
			check_bar_read(off, buf, len);
			break;
		}
		for (uint32_t i = 0; i < len; i++)
			buf[i] = u8(in);
		bar_write(off, buf, len);
		break;
	}
	case 2:
	case 3: {
		unsigned reg = u8(in), fn = u8(in) & 7;
		uint32_t v = 0;
		if ((reg & 3) + len > 4)
			reg &= ~3u;
		if (op >> 5 == 2) {
			v = virtio_blk_cfg_read(st.b, fn, reg, len);
			if (fn && v != (len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1))
				__builtin_trap();
			if (len < 4 && v >> (8 * len))
				__builtin_trap();
			break;
		}
		for (uint32_t i = 0; i < len; i++)
			v |= (uint32_t)u8(in) << (8 * i);
		virtio_blk_cfg_write(st.b, fn, reg, len, v);
		break;
	}
	case 4: {
		uint16_t gpa = u8(in);
		gpa |= (uint16_t)(u8(in) << 8);
		unsigned n = u8(in) & 63;
		for (unsigned i = 0; i < n; i++) {
			uint8_t b = u8(in);
			put((uint64_t)gpa + i, &b, 1);
		}
		break;
	}
	case 5:
		linux_init(u8(in) & 15);
		break;
	case 6:
		queue_request(in);
		break;
	default: {
		uint8_t x = u8(in);
		if (x < 0xf0) {
			io_wr(0x10, 2, 0);
			break;
		}
		uint64_t size = (x & 15) * 512u + 17;
		if (ftruncate(disk, (off_t)size))
			abort();
		if (size > st.max_size)
			st.max_size = size;
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[4] = { 0, 512, 16 * 512 + 100, 64 * 512 };
	struct in in = { data, size };
	uint8_t setup = u8(&in);
	uint64_t dsize = sizes[(setup >> 1) & 3];
	struct virtio_blk_stats s;

	memset(ram, 0, sizeof(ram));
	gmem_wrap(&mem, ram, sizeof(ram));
	memset(&st, 0, sizeof(st));
	st.ro = setup & 1;
	st.max_size = dsize;
	st.b = virtio_blk_new(&mem, disk_init(dsize), st.ro, &ops, NULL);
	if (!st.b)
		__builtin_trap();
	bool truncated = false;
	while (in.left) {
		if (in.p[0] >> 5 == 7 && in.left > 1 && in.p[1] >= 0xf0)
			truncated = true;
		step(&in);
		check_state();
		virtio_blk_stats(st.b, &s);
		if (s.errors > s.reqs || (st.ro && s.written_bytes))
			__builtin_trap();
		if (disk_size() > st.max_size)
			__builtin_trap();
	}
	if (st.ro && !truncated)
		ro_disk_intact(dsize);
	virtio_blk_free(st.b);
	return 0;
}
