/* libFuzzer target: the 16550A UART (devices/uart16550.c), the guest's
 * console port. The input is a program of guest port accesses, routed
 * through a real io_router as vsbd does (COM1 at 0x3F8, 8 ports), mixed
 * with host-side calls (uart16550_rx, _break, _rx_room).
 *
 * Program: one op byte, then operands.
 *   op bit 7     write (value bytes follow, little-endian) / read
 *   op bits 6:5  access size 1, 2, 4; 3 = host call (bits 1:0 pick it)
 *   op bits 3:0  port = 0x3F8 - 4 + n, so some accesses miss or straddle
 *
 * The receive path is checked against a model (FIFO contents with break
 * flags, capacity, overrun, DLAB, loopback) since it is where host data and
 * guest actions meet: every byte the guest reads must be one the host or
 * loopback put in, in order; rx() must accept exactly what fits; the host
 * must never cause an overrun; rx_room must fire once room appears after a
 * refusal and never otherwise. IRQ callbacks must report 0/1 on changes
 * only and never a raised line while OUT2 is clear. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "devices/uart16550.h"
#include "vmm/ioroute.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE 0x3F8
#define CAP_FIFO 16 /* UART16550_RX_FIFO_SIZE; the model follows the doc */

/* The model: the guest-visible receive state and registers it depends on. */
static struct model {
	uint8_t lcr, mcr, ier, scr, dll, dlm, rbr;
	bool fifo_on;
	unsigned trigger;
	uint8_t q[CAP_FIFO];
	bool q_brk[CAP_FIFO];
	unsigned head, count;
	bool oe, bi;     /* LSR bits pending until LSR is read */
	bool want_room;  /* the host was refused; rx_room is owed */
} md;

/* What the callbacks saw during one operation. */
static struct {
	int irq_level;  /* last level reported */
	int tx_calls;
	uint8_t tx_byte;
	int room_calls;
} cb;

static void on_tx(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (len != 1) /* one byte at a time, as uart16550.h says */
		__builtin_trap();
	cb.tx_calls++;
	cb.tx_byte = buf[0];
}

static void on_irq(void *ctx, int level)
{
	(void)ctx;
	/* 0/1 only, and only changes are reported. */
	if ((level != 0 && level != 1) || level == cb.irq_level)
		__builtin_trap();
	cb.irq_level = level;
}

static void on_rx_room(void *ctx)
{
	(void)ctx;
	cb.room_calls++;
}

static const struct uart16550_ops ops = {
	.tx = on_tx, .irq = on_irq, .rx_room = on_rx_room,
};

static bool loop(void)
{
	return md.mcr & 0x10;
}

static unsigned cap(void)
{
	return md.fifo_on ? CAP_FIFO : 1;
}

static void q_clear(void)
{
	md.head = md.count = 0;
	memset(md.q_brk, 0, sizeof(md.q_brk));
}

/* A byte arriving at the receiver. Full: with FIFOs it is lost, without
 * them it overwrites RBR; both are overruns (README). */
static void q_push(uint8_t c, bool brk)
{
	unsigned slot;

	if (md.count == cap()) {
		md.oe = true;
		md.bi |= brk;
		if (md.fifo_on)
			return;
		slot = md.head;
	} else {
		slot = (md.head + md.count++) % CAP_FIFO;
	}
	md.q[slot] = c;
	md.q_brk[slot] = brk;
	if (brk && slot == md.head) /* BI shows when the break is at the head */
		md.bi = true;
}

static uint8_t q_pop(void)
{
	md.rbr = md.q[md.head];
	md.q_brk[md.head] = false;
	md.head = (md.head + 1) % CAP_FIFO;
	if (--md.count && md.q_brk[md.head])
		md.bi = true;
	return md.rbr;
}

static bool any_brk(void)
{
	for (unsigned i = 0; i < md.count; i++)
		if (md.q_brk[(md.head + i) % CAP_FIFO])
			return true;
	return false;
}

static void model_write(unsigned reg, uint8_t v)
{
	bool dlab = md.lcr & 0x80;

	if (reg != 0 && cb.tx_calls)
		__builtin_trap(); /* only THR writes transmit */
	switch (reg) {
	case 0:
		if (dlab) {
			md.dll = v;
		} else if (loop()) {
			q_push(v, false);
		} else if (cb.tx_calls != 1 || cb.tx_byte != v) {
			__builtin_trap(); /* THR byte not sent, or altered */
		}
		if (loop() || dlab)
			if (cb.tx_calls)
				__builtin_trap();
		break;
	case 1:
		if (dlab)
			md.dlm = v;
		else
			md.ier = v & 0x0f;
		break;
	case 2: {
		static const unsigned levels[4] = { 1, 4, 8, 14 };
		bool on = v & 1;

		if (on != md.fifo_on) {
			md.fifo_on = on;
			q_clear();
		}
		if (on) {
			if (v & 2)
				q_clear();
			md.trigger = levels[v >> 6];
		}
		break;
	}
	case 3:
		md.lcr = v;
		break;
	case 4:
		md.mcr = v & 0x1f;
		break;
	case 7:
		md.scr = v;
		break;
	default: /* LSR, MSR: ignored */
		break;
	}
}

/* Checks a register read against the model. Returns true if the read is
 * one after which the UART re-evaluates rx_room (see reg_read). */
static bool model_read(unsigned reg, uint8_t v)
{
	bool dlab = md.lcr & 0x80;
	uint8_t want;

	switch (reg) {
	case 0:
		if (dlab) {
			want = md.dll;
			break;
		}
		want = md.count ? q_pop() : md.rbr;
		if (v != want)
			__builtin_trap();
		return true;
	case 1:
		want = dlab ? md.dlm : md.ier;
		break;
	case 2: {
		uint8_t id = v & 0x0f;
		bool rx = (md.ier & 1) && md.count;

		if ((v & 0xf0) != (md.fifo_on ? 0xc0 : 0))
			__builtin_trap();
		/* Each identification needs its source enabled and pending,
		 * and a lower-priority one never hides received data. */
		if (
		    (id == 0x04 && (!rx || (md.fifo_on &&
					    md.count < md.trigger))) ||
		    (id == 0x0c && (!rx || !md.fifo_on ||
				    md.count >= md.trigger)) ||
		    (id == 0x02 && (!(md.ier & 2) || rx)) ||
		    (id == 0x00 && (!(md.ier & 8) || rx)) ||
		    (id == 0x01 && rx) ||
		    (id != 0x06 && id != 0x04 && id != 0x0c && id != 0x02 &&
		     id != 0x00 && id != 0x01))
			__builtin_trap();
		/* Line status (OE, BI) outranks everything. */
		if ((id == 0x06) != ((md.ier & 4) && (md.oe || md.bi)))
			__builtin_trap();
		return true;
	}
	case 3:
		want = md.lcr;
		break;
	case 4:
		want = md.mcr;
		break;
	case 5:
		want = 0x60 | (md.count ? 0x01 : 0) | (md.oe ? 0x02 : 0) |
		       (md.bi ? 0x10 : 0) |
		       (md.fifo_on && any_brk() ? 0x80 : 0);
		md.oe = md.bi = false;
		if (v != want)
			__builtin_trap();
		return true;
	case 6: {
		/* Outside loopback the peer asserts CTS, DSR, DCD; in loopback
		 * RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
		uint8_t lines = 0xb0;

		if (loop())
			lines = (md.mcr & 2 ? 0x10 : 0) |
				(md.mcr & 1 ? 0x20 : 0) |
				(md.mcr & 4 ? 0x40 : 0) |
				(md.mcr & 8 ? 0x80 : 0);
		if ((v & 0xf0) != lines)
			__builtin_trap();
		return true;
	}
	default:
		want = md.scr;
		break;
	}
	if (v != want)
		__builtin_trap();
	return false;
}

/* After an operation: rx_room fired iff it was owed and room exists (the
 * UART checks after every write and after reads of RBR, IIR, LSR, MSR). */
static void check_room(bool evaluated)
{
	bool room = !loop() && md.count < cap();

	if (cb.room_calls > 1 || (cb.room_calls && !(md.want_room && room)))
		__builtin_trap();
	if (evaluated && md.want_room && room && !cb.room_calls)
		__builtin_trap();
	if (cb.room_calls)
		md.want_room = false;
}

static void host_call(struct uart16550 *u, unsigned which, struct in *in)
{
	switch (which) {
	case 0: case 1: { /* console input: up to 31 bytes */
		uint8_t buf[32];
		size_t n = u8(in) & 31, room, got;

		for (size_t i = 0; i < n; i++)
			buf[i] = u8(in);
		room = loop() ? 0 : cap() - md.count;
		got = uart16550_rx(u, buf, n);
		/* Exactly what fits, so the host never overruns. */
		if (got != (room < n ? room : n))
			__builtin_trap();
		for (size_t i = 0; i < got; i++)
			q_push(buf[i], false);
		if (!room || got < n)
			md.want_room = true;
		break;
	}
	case 2: /* serial break: the receiver hears nothing in loopback */
		uart16550_break(u);
		if (!loop())
			q_push(0, true);
		break;
	default: { /* how much room; 0 arms rx_room */
		size_t want = loop() ? 0 : cap() - md.count;

		if (uart16550_rx_room(u) != want)
			__builtin_trap();
		if (!want)
			md.want_room = true;
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct io_router rt;
	struct uart16550 *u;

	memset(&md, 0, sizeof(md));
	memset(&cb, 0, sizeof(cb));
	md.dll = 0x0c; /* reset values (README) */
	md.trigger = 1;
	u = uart16550_new(&ops, NULL);
	if (!u)
		return 0;
	io_router_init(&rt);
	if (io_router_add(&rt, IO_SPACE_PIO, BASE, 8, IO_OWNER_VSBD,
			  uart16550_io, u, "com1"))
		__builtin_trap();

	while (in.left) {
		uint8_t op = u8(&in);
		unsigned sz = (op >> 5) & 3;
		uint64_t port = BASE - 4 + (op & 0x0f);
		bool is_write = op & 0x80, routed, evaluated = true;
		uint8_t buf[4] = { 0 };
		uint32_t len = 1u << sz;

		cb.tx_calls = cb.room_calls = 0;
		if (sz == 3) {
			host_call(u, op & 3, &in);
			/* Host calls never transmit nor call rx_room. */
			if (cb.tx_calls || cb.room_calls)
				__builtin_trap();
			goto checks;
		}
		for (uint32_t i = 0; is_write && i < len; i++)
			buf[i] = u8(&in);
		routed = port >= BASE && port + len <= BASE + 8;
		if (io_router_dispatch(&rt, IO_SPACE_PIO, port, buf, len,
				       is_write) != routed)
			__builtin_trap();
		if (!routed) {
			if (cb.tx_calls || cb.room_calls)
				__builtin_trap();
			continue;
		}
		if (is_write) {
			model_write((unsigned)(port - BASE), buf[0]);
		} else {
			/* Reads act on the low byte and zero-extend. */
			for (uint32_t i = 1; i < len; i++)
				if (buf[i])
					__builtin_trap();
			evaluated = model_read((unsigned)(port - BASE), buf[0]);
			if (cb.tx_calls)
				__builtin_trap();
		}
		check_room(evaluated);
checks:
		/* OUT2 gates the interrupt line onto the ISA bus. */
		if (cb.irq_level && !(md.mcr & 0x08))
			__builtin_trap();
	}
	io_router_destroy(&rt);
	uart16550_free(u);
	return 0;
}
