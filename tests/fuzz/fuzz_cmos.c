/* libFuzzer target: the CMOS RTC (devices/cmos.c). The first two input
 * bytes size the guest's RAM (cmos_new); the rest is a program of guest
 * port accesses routed through a real io_router as vsbd does (0x70, two
 * ports).
 *
 * Program: one op byte, then operands.
 *   op bit 7     write (value bytes follow) / read
 *   op bits 6:5  access size 1, 2, 4, 1
 *   op bits 1:0  port = 0x6F + n, so some accesses miss or straddle
 *
 * Checked: the index port reads 0xFF; registers A (UIP clear), C (0) and D
 * (0x80); plain CMOS bytes read back what was written, and the memory size
 * bytes start as the README computes them; time registers are valid BCD in
 * BCD mode and in range while the clock runs; while register B's SET bit
 * is on, a time field written reads back unchanged (the clock stands still
 * and keeps fields as written). */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/cmos.h"
#include "vmm/ioroute.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KIB 1024ull
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

#define B_SET 0x80
#define B_BINARY 0x04
#define B_24H 0x02

static struct model {
	uint8_t index;
	uint8_t ram[128];
	bool known[128]; /* ram[i] is what a read of register i returns */
} md;

static bool is_time(unsigned r)
{
	return r == 0 || r == 2 || r == 4 || (r >= 6 && r <= 9) || r == 0x32;
}

static bool bcd_mode(void)
{
	return !(md.ram[0x0b] & B_BINARY);
}

static bool valid_bcd(uint8_t v)
{
	return (v & 0x0f) <= 9 && (v >> 4) <= 9;
}

static int decode(uint8_t v)
{
	return bcd_mode() ? (v >> 4) * 10 + (v & 0x0f) : v;
}

static void forget_time(void)
{
	for (unsigned r = 0; r < 128; r++)
		if (is_time(r))
			md.known[r] = false;
}

static void set_word(unsigned reg, uint64_t v)
{
	md.ram[reg] = (uint8_t)v;
	md.ram[reg + 1] = (uint8_t)(v >> 8);
}

static uint64_t cap(uint64_t v, uint64_t max)
{
	return v > max ? max : v;
}

/* The power-on contents, computed as the README describes them. */
static void model_init(uint64_t low, uint64_t high)
{
	uint64_t blocks4g = cap(high / (64 * KIB), 0xffffff);

	memset(&md, 0, sizeof(md));
	md.ram[0x0a] = 0x26;
	md.ram[0x0b] = B_24H;
	set_word(0x15, 640);
	set_word(0x17, low > MIB ? cap((low - MIB) / KIB, 0xffff) : 0);
	set_word(0x30, low > MIB ? cap((low - MIB) / KIB, 0xffff) : 0);
	set_word(0x34, low > 16 * MIB ? cap((low - 16 * MIB) / (64 * KIB),
					     0xffff) : 0);
	md.ram[0x5b] = (uint8_t)blocks4g;
	md.ram[0x5c] = (uint8_t)(blocks4g >> 8);
	md.ram[0x5d] = (uint8_t)(blocks4g >> 16);
	for (unsigned r = 0; r < 128; r++)
		md.known[r] = !is_time(r) && r != 0x0c && r != 0x0d;
}

/* A time field written while SET is on reads back as written when the
 * encoding round-trips (valid BCD, 12 h hours 1..12, years below 100). */
static void time_write(unsigned r, uint8_t v)
{
	bool set = md.ram[0x0b] & B_SET;
	bool h12 = r == 4 && !(md.ram[0x0b] & B_24H);
	uint8_t digits = h12 ? v & 0x7f : v;
	int d = decode(digits);
	bool exact = !bcd_mode() || valid_bcd(digits);

	if (!set) {
		forget_time(); /* the clock moved */
		return;
	}
	if (h12 && (d < 1 || d > 12))
		exact = false;
	if (r == 9 && d > 99) {
		exact = false;
		md.known[0x32] = false; /* the year spilled into the century */
	}
	md.known[r] = exact;
	md.ram[r] = v;
}

static void data_write(uint8_t v)
{
	unsigned r = md.index;

	if (is_time(r)) {
		time_write(r, v);
	} else if (r == 0x0a) {
		md.ram[r] = v & 0x7f;
	} else if (r == 0x0b) {
		/* SET toggling restarts or freezes the clock, and a mode
		 * change re-encodes the fields: forget what was written. */
		if ((v ^ md.ram[r]) & (B_SET | B_BINARY | B_24H))
			forget_time();
		md.ram[r] = v;
	} else if (r != 0x0c && r != 0x0d) {
		md.ram[r] = v;
	}
}

/* A running clock's fields are in range (gmtime) and encoded in the mode. */
static void check_time(unsigned r, uint8_t v)
{
	static const int lo[10] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 0 };
	static const int hi[10] = { 59, 0, 59, 0, 23, 0, 7, 31, 12, 99 };
	bool h12 = r == 4 && !(md.ram[0x0b] & B_24H);
	uint8_t digits = h12 ? v & 0x7f : v;
	int d = decode(digits);

	if (bcd_mode() && !valid_bcd(digits))
		__builtin_trap();
	if (md.ram[0x0b] & B_SET || r == 0x32)
		return; /* fields as the guest wrote them; any century */
	if (h12 ? (d < 1 || d > 12) : (d < lo[r] || d > hi[r]))
		__builtin_trap();
}

static void data_read(uint8_t v)
{
	unsigned r = md.index;

	if (is_time(r))
		check_time(r, v);
	if ((r == 0x0c && v != 0) || (r == 0x0d && v != 0x80) ||
	    (md.known[r] && v != md.ram[r]))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	/* Low RAM up to the 3 GiB hole (16 MiB + 64 KiB steps, so the caps
	 * and the 16 MiB boundary are reached); high RAM in GiB. */
	uint64_t low = u8(&in) * 16 * MIB;
	uint64_t high, lowfrac = u8(&in) * 64 * KIB;
	struct io_router rt;
	struct cmos *c;

	high = (uint64_t)u8(&in) * GIB;
	low = cap(low + lowfrac, 3 * GIB);
	c = cmos_new(low, high);
	if (!c)
		return 0;
	model_init(low, high);
	io_router_init(&rt);
	if (io_router_add(&rt, IO_SPACE_PIO, 0x70, 2, IO_OWNER_VSBD, cmos_io,
			  c, "cmos"))
		__builtin_trap();
	while (in.left) {
		static const uint32_t sizes[4] = { 1, 2, 4, 1 };
		uint8_t op = u8(&in), buf[4] = { 0 };
		uint32_t len = sizes[(op >> 5) & 3];
		uint64_t port = 0x6f + (op & 3);
		bool is_write = op & 0x80;
		bool routed = port >= 0x70 && port + len <= 0x72;

		for (uint32_t i = 0; is_write && i < len; i++)
			buf[i] = u8(&in);
		if (io_router_dispatch(&rt, IO_SPACE_PIO, port, buf, len,
				       is_write) != routed)
			__builtin_trap();
		if (!routed)
			continue;
		/* A word access is two byte accesses at consecutive ports. */
		for (uint32_t i = 0; i < len; i++) {
			uint64_t p = port + i;

			if (p == 0x70 && is_write)
				md.index = buf[i] & 0x7f;
			else if (p == 0x70 && buf[i] != 0xff)
				__builtin_trap(); /* index is write-only */
			else if (p == 0x71 && is_write)
				data_write(buf[i]);
			else if (p == 0x71)
				data_read(buf[i]);
		}
	}
	io_router_destroy(&rt);
	cmos_free(c);
	return 0;
}
