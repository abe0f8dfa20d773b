/* Unit tests of the 16550A UART model: register semantics, FIFOs, the
 * interrupt logic, loopback, the host RX path, and Linux's 8250 probe. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "uart16550.h"

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2,
       LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct harness {
	struct uart16550 *u;
	uint8_t tx[64];
	size_t ntx;
	int irq;       /* current line level */
	int irq_rises; /* 0 -> 1 transitions */
	int irq_calls;
	int room_calls;
};

static void h_tx(void *ctx, const uint8_t *buf, size_t len)
{
	struct harness *h = ctx;
	for (size_t i = 0; i < len && h->ntx < sizeof(h->tx); i++)
		h->tx[h->ntx++] = buf[i];
}

static void h_irq(void *ctx, int level)
{
	struct harness *h = ctx;
	/* The device reports changes only. */
	assert_int_not_equal(level, h->irq);
	h->irq_calls++;
	if (level)
		h->irq_rises++;
	h->irq = level;
}

static void h_room(void *ctx)
{
	struct harness *h = ctx;
	h->room_calls++;
}

static const struct uart16550_ops ops = {
	.tx = h_tx, .irq = h_irq, .rx_room = h_room,
};

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->u = uart16550_new(&ops, h);
	assert_non_null(h->u);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	uart16550_free(h->u);
	free(h);
	return 0;
}

static uint8_t rd(struct harness *h, unsigned reg)
{
	uint8_t v = 0x5a;
	uart16550_io(h->u, reg, &v, 1, false);
	return v;
}

static void wr(struct harness *h, unsigned reg, uint8_t v)
{
	uart16550_io(h->u, reg, &v, 1, true);
}

static size_t rx_str(struct harness *h, const char *s)
{
	return uart16550_rx(h->u, (const uint8_t *)s, strlen(s));
}

static void test_reset_state(void **state)
{
	struct harness *h = *state;

	assert_int_equal(rd(h, LSR), 0x60); /* THRE | TEMT */
	assert_int_equal(rd(h, IIR), 0x01); /* nothing pending, no FIFO */
	assert_int_equal(rd(h, IER), 0x00);
	assert_int_equal(rd(h, MSR), 0xb0); /* CTS | DSR | DCD, no deltas */
	assert_int_equal(rd(h, MCR), 0x00);
	assert_int_equal(h->irq_calls, 0);
	assert_int_equal(uart16550_rx_room(h->u), 1);
}

static void test_dlab(void **state)
{
	struct harness *h = *state;

	wr(h, IER, 0x05);
	wr(h, LCR, 0x83);
	wr(h, DLL, 0x01);
	wr(h, DLM, 0x02);
	assert_int_equal(rd(h, DLL), 0x01);
	assert_int_equal(rd(h, DLM), 0x02);
	assert_int_equal(h->ntx, 0); /* DLL write did not transmit */
	assert_int_equal(rd(h, LCR), 0x83);
	wr(h, LCR, 0x03);
	assert_int_equal(rd(h, IER), 0x05); /* IER untouched by DLM */
	wr(h, THR, 'A');
	assert_int_equal(h->ntx, 1);
	assert_int_equal(h->tx[0], 'A');
	wr(h, LCR, 0x80);
	assert_int_equal(rd(h, DLL), 0x01);
	assert_int_equal(rd(h, DLM), 0x02);
}

static void test_scratch_and_ier_mask(void **state)
{
	struct harness *h = *state;

	wr(h, SCR, 0xa5);
	assert_int_equal(rd(h, SCR), 0xa5);
	wr(h, SCR, 0x5a);
	assert_int_equal(rd(h, SCR), 0x5a);
	wr(h, IER, 0xff);
	assert_int_equal(rd(h, IER), 0x0f);
	wr(h, MCR, 0xff);
	assert_int_equal(rd(h, MCR), 0x1f);
}

static void test_tx_and_lsr(void **state)
{
	struct harness *h = *state;

	for (const char *p = "hello"; *p; p++) {
		assert_int_equal(rd(h, LSR) & 0x60, 0x60);
		wr(h, THR, (uint8_t)*p);
	}
	assert_int_equal(h->ntx, 5);
	assert_memory_equal(h->tx, "hello", 5);
	assert_int_equal(rd(h, LSR), 0x60);
}

static void test_rx_without_fifo(void **state)
{
	struct harness *h = *state;

	assert_int_equal(rx_str(h, "abc"), 1); /* a 16450 holds one byte */
	assert_int_equal(rd(h, LSR), 0x61);
	assert_int_equal(uart16550_rx_room(h->u), 0);
	assert_int_equal(h->room_calls, 0);
	assert_int_equal(rd(h, RBR), 'a');
	assert_int_equal(h->room_calls, 1);
	assert_int_equal(rd(h, LSR), 0x60);
	assert_int_equal(rx_str(h, "bc"), 1);
	assert_int_equal(rd(h, RBR), 'b');
	assert_int_equal(h->room_calls, 2);
	/* An empty RBR reads the stale byte and notifies nobody. */
	assert_int_equal(rd(h, RBR), 'b');
	assert_int_equal(h->room_calls, 2);
	assert_int_equal(rd(h, LSR) & 0x02, 0); /* no overrun ever */
}

static void test_rx_with_fifo(void **state)
{
	struct harness *h = *state;
	uint8_t buf[40];

	for (int i = 0; i < 40; i++)
		buf[i] = (uint8_t)i;
	wr(h, FCR, 0x01);
	assert_int_equal(uart16550_rx_room(h->u), UART16550_RX_FIFO_SIZE);
	assert_int_equal(uart16550_rx(h->u, buf, 40), UART16550_RX_FIFO_SIZE);
	assert_int_equal(uart16550_rx(h->u, buf, 40), 0);
	assert_int_equal(rd(h, LSR), 0x61); /* DR, no OE */
	for (int i = 0; i < UART16550_RX_FIFO_SIZE; i++) {
		assert_int_equal(rd(h, RBR), i);
		/* Room is announced once, on the first read of a full FIFO. */
		assert_int_equal(h->room_calls, 1);
	}
	assert_int_equal(rd(h, LSR), 0x60);
	assert_int_equal(uart16550_rx_room(h->u), UART16550_RX_FIFO_SIZE);
}

static void test_fifo_enable_and_clear(void **state)
{
	struct harness *h = *state;

	assert_int_equal(rd(h, IIR) & 0xc0, 0x00);
	wr(h, FCR, 0x01);
	assert_int_equal(rd(h, IIR) & 0xc0, 0xc0);
	assert_int_equal(rx_str(h, "0123456789abcdefXYZ"), 16);

	/* Bit 1 clears the RX FIFO (and tells the host about the room). */
	wr(h, FCR, 0x03);
	assert_int_equal(rd(h, LSR) & 0x01, 0);
	assert_int_equal(h->room_calls, 1);
	assert_int_equal(rd(h, IIR) & 0xc0, 0xc0);

	/* Bit 2 (TX clear) leaves RX data alone. */
	assert_int_equal(rx_str(h, "xy"), 2);
	wr(h, FCR, 0x05);
	assert_int_equal(rd(h, RBR), 'x');

	/* Leaving FIFO mode resets the FIFO; then capacity is 1. */
	wr(h, FCR, 0x00);
	assert_int_equal(rd(h, IIR) & 0xc0, 0x00);
	assert_int_equal(rd(h, LSR) & 0x01, 0);
	assert_int_equal(rx_str(h, "pq"), 1);

	/* Entering FIFO mode resets it too. */
	wr(h, FCR, 0x01);
	assert_int_equal(rd(h, LSR) & 0x01, 0);
}

static void test_trigger_levels(void **state)
{
	struct harness *h = *state;
	static const struct { uint8_t fcr; unsigned level; } t[] = {
		{ 0x01, 1 }, { 0x41, 4 }, { 0x81, 8 }, { 0xc1, 14 },
	};
	const uint8_t z = 'z';

	wr(h, MCR, 0x08); /* OUT2 */
	wr(h, IER, 0x01); /* received data */
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		wr(h, FCR, t[i].fcr | 0x02);
		assert_int_equal(rd(h, IIR), 0xc1);
		assert_int_equal(h->irq, 0);
		for (unsigned n = 1; n <= t[i].level; n++) {
			assert_int_equal(uart16550_rx(h->u, &z, 1), 1);
			/* Below the trigger: character timeout (0x0C), at it:
			 * data available (0x04). Both raise the line. */
			assert_int_equal(rd(h, IIR),
					 n < t[i].level ? 0xcc : 0xc4);
			assert_int_equal(h->irq, 1);
		}
	}
	/* Draining the FIFO drops the line. */
	while (rd(h, LSR) & 0x01)
		rd(h, RBR);
	assert_int_equal(rd(h, IIR), 0xc1);
	assert_int_equal(h->irq, 0);
}

static void test_iir_priority(void **state)
{
	struct harness *h = *state;

	/* Make every source pending: modem status deltas (loopback toggles
	 * the lines), a break (line status + data), and THRE. */
	wr(h, MCR, 0x18);
	wr(h, MCR, 0x08);
	uart16550_break(h->u);
	wr(h, IER, 0x0f);
	assert_int_equal(h->irq, 1);

	assert_int_equal(rd(h, IIR), 0x06); /* receiver line status */
	assert_int_equal(rd(h, LSR), 0x71); /* BI | THRE | TEMT | DR */
	assert_int_equal(rd(h, IIR), 0x04); /* received data */
	assert_int_equal(rd(h, RBR), 0x00); /* the break's 0 byte */
	assert_int_equal(rd(h, IIR), 0x02); /* THR empty: read clears it */
	assert_int_equal(rd(h, IIR), 0x00); /* modem status */
	assert_int_equal(rd(h, MSR) & 0x0f, 0x03); /* DCTS DDSR */
	assert_int_equal(rd(h, IIR), 0x01);
	assert_int_equal(h->irq, 0);

	/* Disabled sources do not show. */
	wr(h, IER, 0x00);
	uart16550_break(h->u);
	assert_int_equal(rd(h, IIR), 0x01);
	wr(h, IER, 0x04);
	assert_int_equal(rd(h, IIR), 0x06);
	assert_int_equal(rd(h, LSR) & 0x10, 0x10);
	assert_int_equal(rd(h, IIR), 0x01); /* ERBFI off: data not shown */
}

static void test_thre_read_clears(void **state)
{
	struct harness *h = *state;

	wr(h, MCR, 0x08);
	wr(h, IER, 0x02);
	assert_int_equal(h->irq, 1);
	assert_int_equal(rd(h, IIR), 0x02);
	assert_int_equal(h->irq, 0);
	assert_int_equal(rd(h, IIR), 0x01); /* stays cleared */
	assert_int_equal(rd(h, LSR) & 0x60, 0x60); /* yet THR is empty */

	/* Rewriting IER with ETBEI still set does not re-arm... */
	wr(h, IER, 0x02);
	assert_int_equal(rd(h, IIR), 0x01);
	/* ...a THR write does, with a fresh edge for an edge-triggered PIC. */
	int rises = h->irq_rises;
	wr(h, THR, 'x');
	assert_int_equal(h->irq_rises, rises + 1);
	assert_int_equal(rd(h, IIR), 0x02);

	/* Each THR write while THRE is pending gives a new edge too. */
	wr(h, THR, 'y');
	wr(h, THR, 'z');
	assert_int_equal(h->irq_rises, rises + 3);
	assert_int_equal(h->irq, 1);

	/* Linux's startup test: enable ETBEI, read IIR, disable, enable
	 * again: THRE must be reported again (else UART_BUG_THRE). */
	wr(h, IER, 0x00);
	wr(h, IER, 0x02);
	uint8_t iir1 = rd(h, IIR);
	wr(h, IER, 0x00);
	wr(h, IER, 0x02);
	uint8_t iir = rd(h, IIR);
	wr(h, IER, 0x00);
	assert_int_equal(iir1, 0x02);
	assert_int_equal(iir, 0x02);
	assert_int_equal(h->irq, 0);
}

static void test_out2_gates_irq(void **state)
{
	struct harness *h = *state;

	wr(h, IER, 0x01);
	assert_int_equal(rx_str(h, "a"), 1);
	assert_int_equal(rd(h, IIR), 0x04); /* pending... */
	assert_int_equal(h->irq_calls, 0);  /* ...but OUT2 is low */
	wr(h, MCR, 0x0b);                   /* DTR RTS OUT2 as Linux */
	assert_int_equal(h->irq, 1);
	wr(h, MCR, 0x03);
	assert_int_equal(h->irq, 0);
	wr(h, MCR, 0x0b);
	assert_int_equal(h->irq, 1);
	assert_int_equal(rd(h, RBR), 'a');
	assert_int_equal(h->irq, 0);
	assert_int_equal(h->irq_calls, 4);
}

static void test_loopback(void **state)
{
	struct harness *h = *state;

	wr(h, FCR, 0x01);
	wr(h, MCR, 0x10);
	/* Loopback wires the outputs back: all inputs low now. */
	assert_int_equal(rd(h, MSR), 0x0b); /* deltas of CTS DSR DCD */
	assert_int_equal(rd(h, MSR), 0x00);
	wr(h, MCR, 0x1f);
	assert_int_equal(rd(h, MSR), 0xfb); /* RI rising: no TERI */
	wr(h, MCR, 0x1b);                   /* OUT1 off: RI falls */
	assert_int_equal(rd(h, MSR), 0xb4); /* TERI */
	wr(h, MCR, 0x11);
	assert_int_equal(rd(h, MSR) & 0xf0, 0x20); /* DTR -> DSR */
	wr(h, MCR, 0x12);
	assert_int_equal(rd(h, MSR) & 0xf0, 0x10); /* RTS -> CTS */
	wr(h, MCR, 0x18);
	assert_int_equal(rd(h, MSR) & 0xf0, 0x80); /* OUT2 -> DCD */

	/* THR comes back on RBR and nothing reaches the host. */
	wr(h, THR, 'L');
	wr(h, THR, 'B');
	assert_int_equal(h->ntx, 0);
	assert_int_equal(rd(h, LSR), 0x61);
	assert_int_equal(rd(h, RBR), 'L');
	assert_int_equal(rd(h, RBR), 'B');

	/* The receiver is cut off from the host line. */
	assert_int_equal(rx_str(h, "h"), 0);
	assert_int_equal(uart16550_rx_room(h->u), 0);
	uart16550_break(h->u);
	assert_int_equal(rd(h, LSR), 0x60);

	/* Leaving loopback restores the lines and tells the host. */
	wr(h, MCR, 0x0b);
	assert_int_equal(h->room_calls, 1);
	assert_int_equal(rd(h, MSR), 0xb0 | 0x03); /* CTS, DSR changed */
	assert_int_equal(rx_str(h, "h"), 1);
	wr(h, THR, 'T');
	assert_int_equal(h->ntx, 1);
	assert_int_equal(h->tx[0], 'T');
}

static void test_loopback_overrun(void **state)
{
	struct harness *h = *state;

	/* Without FIFO the new byte overwrites RBR and sets OE. */
	wr(h, MCR, 0x10);
	wr(h, THR, '1');
	wr(h, THR, '2');
	assert_int_equal(rd(h, LSR), 0x63);
	assert_int_equal(rd(h, LSR), 0x61); /* read cleared OE */
	assert_int_equal(rd(h, RBR), '2');

	/* With FIFO the 17th byte is lost. */
	wr(h, FCR, 0x01);
	wr(h, MCR, 0x18);
	wr(h, IER, 0x04);
	for (int i = 0; i < 17; i++)
		wr(h, THR, (uint8_t)('a' + i));
	assert_int_equal(rd(h, IIR), 0xc6);
	assert_int_equal(h->irq, 1);
	assert_int_equal(rd(h, LSR), 0x63);
	assert_int_equal(h->irq, 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(h, RBR), 'a' + i);
	assert_int_equal(rd(h, LSR), 0x60);
}

static void test_break(void **state)
{
	struct harness *h = *state;

	/* Alone: BI with its 0 byte. */
	uart16550_break(h->u);
	assert_int_equal(rd(h, LSR), 0x71);
	assert_int_equal(rd(h, LSR), 0x61); /* BI cleared by the read */
	assert_int_equal(rd(h, RBR), 0);

	/* Behind data in the FIFO, BI shows when the 0 byte is at the head;
	 * LSR bit 7 says an errored byte is in the FIFO. */
	wr(h, FCR, 0x01);
	assert_int_equal(rx_str(h, "a"), 1);
	uart16550_break(h->u);
	assert_int_equal(rx_str(h, "b"), 1);
	assert_int_equal(rd(h, LSR), 0xe1);
	assert_int_equal(rd(h, RBR), 'a');
	assert_int_equal(rd(h, LSR), 0xf1);
	assert_int_equal(rd(h, RBR), 0);
	assert_int_equal(rd(h, LSR), 0x61);
	assert_int_equal(rd(h, RBR), 'b');
	assert_int_equal(rd(h, LSR), 0x60);

	/* A break into a full FIFO is an overrun. */
	assert_int_equal(rx_str(h, "0123456789abcdefg"), 16);
	uart16550_break(h->u);
	assert_int_equal(rd(h, LSR), 0x73);
}

static void test_rx_room_callback(void **state)
{
	struct harness *h = *state;

	/* Not armed while the host never hit a full FIFO. */
	assert_int_equal(rx_str(h, "a"), 1);
	assert_int_equal(rd(h, RBR), 'a');
	assert_int_equal(h->room_calls, 0);

	/* Armed by a short rx() ... */
	assert_int_equal(rx_str(h, "bc"), 1);
	assert_int_equal(rd(h, RBR), 'b');
	assert_int_equal(h->room_calls, 1);
	/* ... or by rx_room() returning 0. */
	assert_int_equal(rx_str(h, "c"), 1);
	assert_int_equal(uart16550_rx_room(h->u), 0);
	assert_int_equal(rd(h, RBR), 'c');
	assert_int_equal(h->room_calls, 2);
	assert_int_equal(rd(h, RBR), 'c');
	assert_int_equal(h->room_calls, 2);
}

static void test_rx_room_may_be_null(void **state)
{
	(void)state;
	struct harness h = { 0 };
	static const struct uart16550_ops no_room = { .tx = h_tx,
						      .irq = h_irq };
	struct uart16550 *u = uart16550_new(&no_room, &h);
	uint8_t b = 'q', v;

	assert_non_null(u);
	assert_int_equal(uart16550_rx(u, &b, 1), 1);
	assert_int_equal(uart16550_rx(u, &b, 1), 0);
	uart16550_io(u, RBR, &v, 1, false);
	assert_int_equal(v, 'q');
	uart16550_free(u);
}

static void test_wide_access(void **state)
{
	struct harness *h = *state;
	uint32_t v = 0xdeadbe41;

	uart16550_io(h->u, THR, &v, 4, true);
	assert_int_equal(h->ntx, 1);
	assert_int_equal(h->tx[0], 0x41);
	uint16_t w = 0xffff;
	uart16550_io(h->u, LSR, &w, 2, false);
	assert_int_equal(w, 0x0060);
	v = 0xffffffff;
	uart16550_io(h->u, MSR, &v, 4, false);
	assert_int_equal(v, 0xb0);
}

/* Linux's 8250 autoconfig() and startup, as register accesses. */
static void test_linux_probe(void **state)
{
	struct harness *h = *state;
	uint8_t scratch, scratch2, scratch3, save_mcr, status1, status2;

	/* IER test: writable low nibble. */
	scratch = rd(h, IER);
	wr(h, IER, 0);
	scratch2 = rd(h, IER) & 0x0f;
	wr(h, IER, 0x0f);
	scratch3 = rd(h, IER) & 0x0f;
	wr(h, IER, scratch);
	assert_int_equal(scratch2, 0x00);
	assert_int_equal(scratch3, 0x0f);

	/* Loopback test: RTS -> CTS, OUT2 -> DCD. */
	save_mcr = rd(h, MCR);
	wr(h, MCR, 0x1a);
	status1 = rd(h, MSR) & 0xf0;
	wr(h, MCR, save_mcr);
	assert_int_equal(status1, 0x90);

	/* FIFO detection: EFR write (FCR 0 on a 16550), then enable. */
	wr(h, LCR, 0xbf);
	wr(h, FCR, 0x00);
	wr(h, LCR, 0x00);
	wr(h, FCR, 0x01);
	assert_int_equal(rd(h, IIR) >> 6, 3);

	/* autoconfig_16550a: no EFR behind LCR 0xBF / 0x80. */
	wr(h, LCR, 0xbf);
	assert_int_not_equal(rd(h, 2), 0);
	wr(h, LCR, 0x80);
	assert_int_not_equal(rd(h, 2), 0);
	/* Not a 16750: the 64-byte FIFO bit (IIR bit 5) never sets. */
	wr(h, FCR, 0x21);
	status1 = rd(h, IIR) >> 5;
	wr(h, FCR, 0x01);
	wr(h, LCR, 0x00);
	wr(h, FCR, 0x21);
	status2 = rd(h, IIR) >> 5;
	wr(h, FCR, 0x01);
	assert_int_equal(status1, 6);
	assert_int_equal(status2, 6);
	/* Not an XScale: IER bit 6 (UUE) is not writable. */
	scratch = rd(h, IER);
	wr(h, IER, scratch | 0x40);
	assert_int_equal(rd(h, IER) & 0x40, 0);
	wr(h, IER, scratch);

	/* The 8250 scratch register test (autoconfig_8250). */
	wr(h, SCR, 0xa5);
	status1 = rd(h, SCR);
	wr(h, SCR, 0x5a);
	status2 = rd(h, SCR);
	assert_int_equal(status1, 0xa5);
	assert_int_equal(status2, 0x5a);

	/* serial8250_do_startup: clear FIFOs, a port that reads LSR 0xFF is
	 * absent, then clear the interrupt registers. */
	wr(h, FCR, 0x01);
	wr(h, FCR, 0x07);
	wr(h, FCR, 0x00);
	assert_int_not_equal(rd(h, LSR), 0xff);
	rd(h, LSR);
	rd(h, RBR);
	rd(h, IIR);
	rd(h, MSR);
	wr(h, LCR, 0x03);
	wr(h, MCR, 0x0b);
	wr(h, FCR, 0x81); /* 16550A default: trigger 8 */
	wr(h, IER, 0x05); /* RLS + RDA */
	assert_int_equal(rd(h, IIR), 0xc1);
	assert_int_equal(h->irq, 0);

	/* Then serve a few typed bytes the way the ISR does. */
	assert_int_equal(rx_str(h, "ls\n"), 3);
	assert_int_equal(h->irq, 1);
	assert_int_equal(rd(h, IIR), 0xcc);
	char got[4] = { 0 };
	int n = 0;
	while (rd(h, LSR) & 0x01)
		got[n++] = (char)rd(h, RBR);
	assert_string_equal(got, "ls\n");
	assert_int_equal(rd(h, IIR), 0xc1);
	assert_int_equal(h->irq, 0);
}

/* A console thread pushes bytes while a "vCPU" drains them: nothing is
 * lost or reordered, and the device never reports an overrun. */
struct stream {
	struct uart16550 *u;
	size_t total;
};

static void *producer(void *arg)
{
	struct stream *s = arg;
	uint8_t buf[97];
	size_t sent = 0;

	while (sent < s->total) {
		size_t n = s->total - sent < sizeof(buf) ? s->total - sent
							 : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((sent + i) * 7);
		size_t pos = 0;
		while (pos < n) {
			size_t got = uart16550_rx(s->u, buf + pos, n - pos);
			if (!got)
				sched_yield();
			pos += got;
		}
		sent += n;
	}
	return NULL;
}

static void nop_irq(void *ctx, int level)
{
	(void)ctx;
	(void)level;
}

static void test_threaded_stream(void **state)
{
	(void)state;
	static const struct uart16550_ops tops = { .tx = h_tx,
						   .irq = nop_irq };
	struct harness h = { 0 };
	struct stream s = { uart16550_new(&tops, &h), 200000 };
	pthread_t t;
	uint8_t v;

	assert_non_null(s.u);
	v = 0xc7;
	uart16550_io(s.u, FCR, &v, 1, true);
	assert_int_equal(pthread_create(&t, NULL, producer, &s), 0);
	for (size_t got = 0; got < s.total;) {
		uart16550_io(s.u, LSR, &v, 1, false);
		if (v & 0x02)
			fail_msg("overrun after %zu bytes", got);
		if (!(v & 0x01)) {
			sched_yield();
			continue;
		}
		uart16550_io(s.u, RBR, &v, 1, false);
		if (v != (uint8_t)(got * 7))
			fail_msg("byte %zu: got %#x", got, v);
		got++;
	}
	pthread_join(t, NULL);
	uart16550_free(s.u);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_dlab),
		T(test_scratch_and_ier_mask),
		T(test_tx_and_lsr),
		T(test_rx_without_fifo),
		T(test_rx_with_fifo),
		T(test_fifo_enable_and_clear),
		T(test_trigger_levels),
		T(test_iir_priority),
		T(test_thre_read_clears),
		T(test_out2_gates_irq),
		T(test_loopback),
		T(test_loopback_overrun),
		T(test_break),
		T(test_rx_room_callback),
		cmocka_unit_test(test_rx_room_may_be_null),
		T(test_wide_access),
		T(test_linux_probe),
		cmocka_unit_test(test_threaded_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
