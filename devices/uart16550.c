/* 16550A UART model. See uart16550.h for the interface and README.md for
 * what is simplified. */
#include "uart16550.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(UART16550_RX_FIFO_SIZE >= 16,
	       "the 14-byte trigger level needs a FIFO of at least 16");

/* Register offsets. */
enum {
	REG_RBR_THR = 0, /* DLL when LCR.DLAB */
	REG_IER = 1,     /* DLM when LCR.DLAB */
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* THR empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NONE 0x01
#define IIR_MSR 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_BITS 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_BI 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define LSR_FIFO_ERR 0x80

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/* Outside loopback the peer is always there: CTS, DSR and DCD asserted. */
#define MSR_LINES_NORMAL (MSR_CTS | MSR_DSR | MSR_DCD)

static const unsigned rx_trigger_levels[4] = { 1, 4, 8, 14 };

struct uart16550 {
	pthread_mutex_t lock;
	const struct uart16550_ops *ops;
	void *ctx;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	bool fifo_on;          /* FCR bit 0 */
	unsigned rx_trigger;   /* from FCR bits 6-7 */
	uint8_t lsr_err;       /* OE|BI: sticky until LSR is read */
	uint8_t msr_lines;     /* MSR bits 4-7 as currently seen */
	uint8_t msr_delta;     /* MSR bits 0-3: sticky until MSR is read */
	bool thre_pending;     /* THR-empty interrupt armed */
	uint8_t rbr;           /* last byte read, returned when RX is empty */

	/* RX FIFO ring; rx_brk[] marks a break's 0 byte so LSR.BI shows when
	 * that byte reaches the head, as on the real chip. */
	uint8_t rx_buf[UART16550_RX_FIFO_SIZE];
	bool rx_brk[UART16550_RX_FIFO_SIZE];
	unsigned rx_head, rx_count, rx_brk_count;

	bool want_room; /* the host was refused; tell it when room appears */
	int irq_level;  /* last level reported through ops->irq */
};

static unsigned rx_capacity(const struct uart16550 *u)
{
	return u->fifo_on ? UART16550_RX_FIFO_SIZE : 1;
}

static bool loopback(const struct uart16550 *u)
{
	return u->mcr & MCR_LOOP;
}

/* The interrupt identification, in the 16550's priority order. Character
 * timeout has no timer here: data below the trigger level reports 0x0C at
 * once, data at or above it 0x04 (the guest drains both the same way, and
 * the trigger level stays visible). */
static uint8_t iir_id(const struct uart16550 *u)
{
	if ((u->ier & IER_ELSI) && u->lsr_err)
		return IIR_RLS;
	if ((u->ier & IER_ERBFI) && u->rx_count)
		return (u->fifo_on && u->rx_count < u->rx_trigger)
			       ? IIR_TIMEOUT : IIR_RDA;
	if ((u->ier & IER_ETBEI) && u->thre_pending)
		return IIR_THRE;
	if ((u->ier & IER_EDSSI) && u->msr_delta)
		return IIR_MSR;
	return IIR_NONE;
}

/* Reports the IRQ line on change only. On PC boards OUT2 gates the UART's
 * interrupt output onto the ISA line, and Linux sets OUT2 to get IRQs. */
static void update_irq(struct uart16550 *u)
{
	int level = iir_id(u) != IIR_NONE && (u->mcr & MCR_OUT2);

	if (level != u->irq_level) {
		u->irq_level = level;
		u->ops->irq(u->ctx, level);
	}
}

static void notify_room(struct uart16550 *u)
{
	if (u->want_room && !loopback(u) && u->rx_count < rx_capacity(u)) {
		u->want_room = false;
		if (u->ops->rx_room)
			u->ops->rx_room(u->ctx);
	}
}

static void rx_clear(struct uart16550 *u)
{
	u->rx_head = u->rx_count = u->rx_brk_count = 0;
	memset(u->rx_brk, 0, sizeof(u->rx_brk));
}

/* One received character. A full FIFO is an overrun: with FIFOs the new
 * character is lost, without them it overwrites RBR (both as the chip). */
static void rx_push(struct uart16550 *u, uint8_t c, bool brk)
{
	unsigned slot;

	if (u->rx_count == rx_capacity(u)) {
		u->lsr_err |= LSR_OE | (brk ? LSR_BI : 0);
		if (u->fifo_on)
			return;
		slot = u->rx_head;
		u->rx_brk_count -= u->rx_brk[slot];
	} else {
		slot = (u->rx_head + u->rx_count) % UART16550_RX_FIFO_SIZE;
		u->rx_count++;
	}
	u->rx_buf[slot] = c;
	u->rx_brk[slot] = brk;
	u->rx_brk_count += brk;
	if (brk && slot == u->rx_head)
		u->lsr_err |= LSR_BI;
}

static uint8_t rx_pop(struct uart16550 *u)
{
	unsigned slot = u->rx_head;

	u->rbr = u->rx_buf[slot];
	u->rx_brk_count -= u->rx_brk[slot];
	u->rx_brk[slot] = false;
	u->rx_head = (slot + 1) % UART16550_RX_FIFO_SIZE;
	u->rx_count--;
	if (u->rx_count && u->rx_brk[u->rx_head])
		u->lsr_err |= LSR_BI;
	return u->rbr;
}

/* The modem lines as the guest sees them; in loopback the MCR outputs are
 * wired back to the inputs. Changes latch the MSR delta bits. */
static void update_msr(struct uart16550 *u)
{
	uint8_t lines = MSR_LINES_NORMAL, changed;

	if (loopback(u)) {
		lines = (u->mcr & MCR_RTS ? MSR_CTS : 0) |
			(u->mcr & MCR_DTR ? MSR_DSR : 0) |
			(u->mcr & MCR_OUT1 ? MSR_RI : 0) |
			(u->mcr & MCR_OUT2 ? MSR_DCD : 0);
	}
	changed = lines ^ u->msr_lines;
	if (changed & MSR_CTS)
		u->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_delta |= MSR_DDSR;
	if ((changed & MSR_RI) && !(lines & MSR_RI)) /* trailing edge only */
		u->msr_delta |= MSR_TERI;
	if (changed & MSR_DCD)
		u->msr_delta |= MSR_DDCD;
	u->msr_lines = lines;
}

static void write_thr(struct uart16550 *u, uint8_t c)
{
	/* Writing THR clears the THRE interrupt; the byte leaves at once, so
	 * THR is empty again and the interrupt re-arms. Reporting both steps
	 * gives an edge-triggered PIC a fresh edge per write, as the chip
	 * does once its shift register has sent the byte. */
	u->thre_pending = false;
	update_irq(u);
	if (loopback(u))
		rx_push(u, c, false);
	else
		u->ops->tx(u->ctx, &c, 1);
	u->thre_pending = true;
}

static void write_fcr(struct uart16550 *u, uint8_t val)
{
	bool on = val & FCR_ENABLE;

	/* Toggling FIFO mode resets the FIFOs; the other bits are only
	 * programmed while bit 0 is set (16550 datasheet). The TX FIFO is
	 * always empty here, so FCR_CLEAR_TX has nothing to do. */
	if (on != u->fifo_on) {
		u->fifo_on = on;
		rx_clear(u);
	}
	if (!on)
		return;
	if (val & FCR_CLEAR_RX)
		rx_clear(u);
	u->rx_trigger = rx_trigger_levels[val >> 6];
}

static void reg_write(struct uart16550 *u, unsigned reg, uint8_t val)
{
	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = val;
		else
			write_thr(u, val);
		break;
	case REG_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = val;
			break;
		}
		/* Enabling ETBEI with THR empty raises THRE again even if a
		 * read of IIR had cleared it: Linux's THRE test relies on it. */
		if ((val & IER_ETBEI) && !(u->ier & IER_ETBEI))
			u->thre_pending = true;
		u->ier = val & IER_MASK;
		break;
	case REG_IIR_FCR:
		write_fcr(u, val);
		break;
	case REG_LCR:
		u->lcr = val;
		break;
	case REG_MCR:
		u->mcr = val & MCR_MASK;
		update_msr(u);
		break;
	case REG_SCR:
		u->scr = val;
		break;
	default: /* LSR and MSR: writes are factory-test only; ignored. */
		break;
	}
	update_irq(u);
	notify_room(u);
}

static uint8_t reg_read(struct uart16550 *u, unsigned reg)
{
	uint8_t val;

	switch (reg) {
	case REG_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		val = u->rx_count ? rx_pop(u) : u->rbr;
		break;
	case REG_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case REG_IIR_FCR:
		val = iir_id(u);
		/* Reading IIR while it reports THRE is what clears THRE. */
		if (val == IIR_THRE)
			u->thre_pending = false;
		if (u->fifo_on)
			val |= IIR_FIFO_BITS;
		break;
	case REG_LCR:
		return u->lcr;
	case REG_MCR:
		return u->mcr;
	case REG_LSR:
		val = LSR_THRE | LSR_TEMT | u->lsr_err;
		if (u->rx_count)
			val |= LSR_DR;
		if (u->fifo_on && u->rx_brk_count)
			val |= LSR_FIFO_ERR;
		u->lsr_err = 0;
		break;
	case REG_MSR:
		val = u->msr_lines | u->msr_delta;
		u->msr_delta = 0;
		break;
	case REG_SCR:
		return u->scr;
	default:
		return 0xff;
	}
	update_irq(u);
	notify_room(u);
	return val;
}

struct uart16550 *uart16550_new(const struct uart16550_ops *ops, void *ctx)
{
	struct uart16550 *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	if (pthread_mutex_init(&u->lock, NULL)) {
		free(u);
		return NULL;
	}
	u->ops = ops;
	u->ctx = ctx;
	u->dll = 0x0c; /* 9600 baud; the divisor has no effect here */
	u->rx_trigger = 1;
	u->msr_lines = MSR_LINES_NORMAL;
	/* thre_pending starts false: it arms when the guest enables ETBEI. */
	return u;
}

void uart16550_free(struct uart16550 *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

void uart16550_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		  bool is_write)
{
	struct uart16550 *u = opaque;
	uint8_t *bytes = data;

	if (len == 0)
		return;
	if (offset > REG_SCR) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		reg_write(u, (unsigned)offset, bytes[0]);
	} else {
		memset(data, 0, len);
		bytes[0] = reg_read(u, (unsigned)offset);
	}
	pthread_mutex_unlock(&u->lock);
}

static size_t room_locked(struct uart16550 *u)
{
	size_t room = loopback(u) ? 0 : rx_capacity(u) - u->rx_count;

	if (room == 0)
		u->want_room = true;
	return room;
}

size_t uart16550_rx(struct uart16550 *u, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = room_locked(u);
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		rx_push(u, buf[i], false);
	if (n < len)
		u->want_room = true;
	update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart16550_rx_room(struct uart16550 *u)
{
	size_t room;

	pthread_mutex_lock(&u->lock);
	room = room_locked(u);
	pthread_mutex_unlock(&u->lock);
	return room;
}

void uart16550_break(struct uart16550 *u)
{
	pthread_mutex_lock(&u->lock);
	/* In loopback the receiver is cut off from the line. */
	if (!loopback(u)) {
		rx_push(u, 0, true);
		update_irq(u);
	}
	pthread_mutex_unlock(&u->lock);
}
