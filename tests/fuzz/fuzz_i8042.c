/* libFuzzer target: the i8042 PS/2 controller (devices/i8042.c). The input
 * is a program of guest port accesses, routed through a real io_router as
 * vsbd does (0x60 and 0x64, one port each), mixed with host keyboard input
 * (i8042_kbd_input).
 *
 * Program: one op byte, then operands.
 *   op bit 7     write (value bytes follow) / read
 *   op bits 6:5  access size 1, 2, 4; 3 = host keyboard input (a length
 *                byte, up to 31 scancodes)
 *   op bits 3:0  port = 0x5E + n: hits 0x60 and 0x64, misses the rest
 *
 * A model tracks the command byte, controller RAM, output port, pending
 * controller command and keyboard state. Checked after every step: the
 * status register against the model; IRQ1/IRQ12 callbacks report 0/1, on
 * changes only, and equal "output buffer full from that port with its
 * interrupt enabled"; a byte read drops the line before the next raises it;
 * reset fires exactly on the documented commands, after the device mutex is
 * released (the callback re-enters the device); the first reply to a
 * command reaches an empty output buffer; the drop counter and scancode set
 * behave as documented. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/i8042.h"
#include "vmm/ioroute.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08
#define STS_UNLOCK 0x10
#define STS_AUX 0x20

static struct model {
	uint8_t ram[32];    /* ram[0] is the command byte (CTR) */
	uint8_t outport;
	uint8_t pending;    /* controller command waiting for a data byte */
	bool last_was_cmd;
	uint8_t kbd_arg;    /* keyboard command waiting for its argument */
	bool scanning;
	uint8_t kbd_set;
} md;

static struct {
	struct i8042 *dev;
	int level[2];      /* IRQ1, IRQ12 as last reported */
	int drops[2];      /* 0 reports during the current step */
	int resets;
} cb;

static void on_irq(void *ctx, unsigned irq, int level)
{
	int i = irq == I8042_AUX_IRQ;

	(void)ctx;
	if ((irq != I8042_KBD_IRQ && irq != I8042_AUX_IRQ) ||
	    (level != 0 && level != 1) || level == cb.level[i])
		__builtin_trap();
	cb.level[i] = level;
	cb.drops[i] += !level;
}

static void on_reset(void *ctx)
{
	uint8_t st = 0;

	(void)ctx;
	cb.resets++;
	/* Called after the mutex is released (i8042.h), so this must not
	 * deadlock: vsbd's reset path may touch the device again. */
	i8042_cmd_io(cb.dev, 0, &st, 1, false);
}

static const struct i8042_ops ops = { .irq = on_irq, .reset = on_reset };

static uint8_t port_read(struct io_router *rt, uint64_t port)
{
	uint8_t v = 0;

	io_router_dispatch(rt, IO_SPACE_PIO, port, &v, 1, false);
	return v;
}

/* First byte a keyboard command answers with; -1 when the model does not
 * know (resend of the last byte). Updates the keyboard model. */
static int kbd_write(uint8_t b)
{
	uint8_t cmd = md.kbd_arg;

	if (cmd) {
		md.kbd_arg = 0;
		if (cmd == 0xf0 && b > 3)
			return 0xfe;
		if (cmd == 0xf0 && b)
			md.kbd_set = b;
		return 0xfa;
	}
	switch (b) {
	case 0xed: case 0xf3: case 0xf0:
		md.kbd_arg = b;
		return 0xfa;
	case 0xee:
		return 0xee;
	case 0xf4:
		md.scanning = true;
		return 0xfa;
	case 0xf5:
		md.scanning = false;
		return 0xfa;
	case 0xfe:
		return -1;
	case 0xff:
		md.scanning = true;
		md.kbd_set = 2;
		return 0xfa;
	default:
		return b >= 0xf2 ? 0xfa : 0xfe;
	}
}

/* A byte the guest writes to port 0x64. Sets *reply to the controller's
 * answer (or -1) and returns whether a reset pulse is due. */
static bool cmd_write(uint8_t c, int *reply)
{
	md.pending = 0;
	md.last_was_cmd = true;
	if (c >= 0x20 && c <= 0x3f)
		*reply = md.ram[c & 0x1f];
	else if ((c >= 0x60 && c <= 0x7f) || (c >= 0xd1 && c <= 0xd4))
		md.pending = c;
	else if (c >= 0xf0)
		return !(c & 1);
	else if (c == 0xa7)
		md.ram[0] |= 0x20;
	else if (c == 0xa8)
		md.ram[0] &= (uint8_t)~0x20;
	else if (c == 0xa9 || c == 0xab || c == 0xe0)
		*reply = 0x00;
	else if (c == 0xaa) {
		md.ram[0] |= 0x04;
		*reply = 0x55;
	} else if (c == 0xad)
		md.ram[0] |= 0x10;
	else if (c == 0xae)
		md.ram[0] &= (uint8_t)~0x10;
	else if (c == 0xd0)
		*reply = md.outport & 0xcf; /* asked with the buffer empty */
	else if (c == 0xdd)
		md.outport &= (uint8_t)~0x02;
	else if (c == 0xdf)
		md.outport |= 0x02;
	return false;
}

/* A byte the guest writes to port 0x60: its reply (*reply, *aux) and
 * whether a reset pulse is due. */
static bool data_write(uint8_t b, int *reply, bool *aux)
{
	uint8_t c = md.pending;

	md.pending = 0;
	md.last_was_cmd = false;
	if (c >= 0x60 && c <= 0x7f) {
		md.ram[c & 0x1f] = b;
	} else if (c == 0xd1) {
		md.outport = b;
		return !(b & 1);
	} else if (c == 0xd2 || c == 0xd3) {
		*reply = b;
		*aux = c == 0xd3;
	} else if (c == 0xd4) {
		*reply = 0xfa; /* the mouse acknowledges every byte */
		*aux = true;
	} else {
		*reply = kbd_write(b);
	}
	return false;
}

/* The status register against the model, and IRQ levels against it. */
static uint8_t check_status(struct io_router *rt)
{
	uint8_t st = port_read(rt, 0x64), ctr = md.ram[0];
	bool obf = st & STS_OBF, aux = st & STS_AUX;

	if ((st & ~(STS_OBF | STS_SYS | STS_CMD | STS_UNLOCK | STS_AUX)) ||
	    !(st & STS_UNLOCK) || (aux && !obf) ||
	    !!(st & STS_SYS) != !!(ctr & 0x04) ||
	    !!(st & STS_CMD) != md.last_was_cmd)
		__builtin_trap();
	if (cb.level[0] != (obf && !aux && (ctr & 0x01)) ||
	    cb.level[1] != (obf && aux && (ctr & 0x02)))
		__builtin_trap();
	return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct io_router rt;

	memset(&md, 0, sizeof(md));
	memset(&cb, 0, sizeof(cb));
	md.ram[0] = 0x65; /* what SeaBIOS leaves (README) */
	md.outport = 0x03;
	md.scanning = true;
	md.kbd_set = 2;
	cb.dev = i8042_new(&ops, NULL);
	if (!cb.dev)
		return 0;
	io_router_init(&rt);
	if (io_router_add(&rt, IO_SPACE_PIO, 0x60, 1, IO_OWNER_VSBD,
			  i8042_data_io, cb.dev, "i8042-data") ||
	    io_router_add(&rt, IO_SPACE_PIO, 0x64, 1, IO_OWNER_VSBD,
			  i8042_cmd_io, cb.dev, "i8042-cmd"))
		__builtin_trap();

	while (in.left) {
		uint8_t op = u8(&in), before = check_status(&rt);
		unsigned sz = (op >> 5) & 3;
		uint64_t port = 0x5e + (op & 0x0f);
		uint32_t len = 1u << sz;
		bool is_write = op & 0x80, want_reset = false, aux = false;
		bool routed = len == 1 && (port == 0x60 || port == 0x64);
		uint8_t buf[4] = { 0 };
		int reply = -1; /* the byte that must reach an empty buffer */
		bool keyboard_reply = false, mouse_reply = false;
		int level_before[2] = { cb.level[0], cb.level[1] };

		cb.drops[0] = cb.drops[1] = 0;
		cb.resets = 0;
		if (sz == 3) { /* host keyboard input */
			uint8_t sc[32];
			size_t n = u8(&in) & 31;
			unsigned long d0 = i8042_kbd_dropped(cb.dev), d1;

			for (size_t i = 0; i < n; i++)
				sc[i] = u8(&in);
			i8042_kbd_input(cb.dev, sc, n);
			d1 = i8042_kbd_dropped(cb.dev);
			/* Input is discarded while scanning is off. */
			if (d1 < d0 || d1 - d0 > n ||
			    (!md.scanning && d1 != d0))
				__builtin_trap();
			if (md.scanning && n) {
				reply = sc[0];
				keyboard_reply = true;
			}
			goto checks;
		}
		for (uint32_t i = 0; is_write && i < len; i++)
			buf[i] = u8(&in);
		if (io_router_dispatch(&rt, IO_SPACE_PIO, port, buf, len,
				       is_write) != routed)
			__builtin_trap();
		if (!routed)
			goto checks;
		if (is_write && port == 0x64) {
			want_reset = cmd_write(buf[0], &reply);
		} else if (is_write) {
			uint8_t c = md.pending;

			want_reset = data_write(buf[0], &reply, &aux);
			keyboard_reply = c < 0x60 || (c > 0x7f && c < 0xd1) ||
					 c > 0xd4;
			mouse_reply = c == 0xd4;
		} else if (port == 0x60 && (before & STS_OBF)) {
			/* Reading a byte drops its line before the next one
			 * can raise it: an edge-triggered PIC sees each. */
			int i = !!(before & STS_AUX);
			if (level_before[i] && !cb.drops[i])
				__builtin_trap();
		}
checks:
		if (cb.resets != want_reset)
			__builtin_trap();
		check_status(&rt);
		/* With the buffer empty, every queue was empty or held by
		 * its disabled port, so the first reply is next, unless
		 * its own port is disabled (keyboard: CTR bit 4, mouse:
		 * bit 5; controller replies are never held). */
		if (reply >= 0 && !(before & STS_OBF) &&
		    !(keyboard_reply && (md.ram[0] & 0x10)) &&
		    !(mouse_reply && (md.ram[0] & 0x20))) {
			uint8_t st = check_status(&rt);

			if (!(st & STS_OBF) || !!(st & STS_AUX) != aux ||
			    port_read(&rt, 0x60) != reply)
				__builtin_trap();
			check_status(&rt);
		}
	}
	io_router_destroy(&rt);
	i8042_free(cb.dev);
	return 0;
}
