/* A 16550A UART: eight byte-wide registers, 16-byte FIFOs, the interrupt
 * logic Linux's 8250 driver expects, loopback mode, and an IRQ line gated by
 * MCR.OUT2 as on PC serial ports. Transmission is instantaneous: every byte
 * written to THR goes straight to ops->tx, so the transmitter is always empty.
 *
 * Thread safety: every entry point takes the device mutex, so vCPU threads
 * (uart16550_io) and a console thread (uart16550_rx, _rx_room, _break) may
 * call concurrently. The ops callbacks are called WITH that mutex held (this
 * keeps the order of bytes and IRQ edges exactly the order of the register
 * accesses), so a callback must not call back into the UART; rx_room should
 * only wake the thread that feeds the UART (e.g. write an eventfd). */
#ifndef VSB_UART16550_H
#define VSB_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RX FIFO capacity with FIFOs enabled: 16 as on a real 16550A, which is what
 * Linux's 8250 driver assumes for this port type. A later benchmark of the
 * console input path may raise it (the register interface does not expose
 * it; trigger levels stay 1/4/8/14). Must be at least 16. */
#define UART16550_RX_FIFO_SIZE 16

struct uart16550_ops {
	/* The guest transmitted bytes (one at a time today). */
	void (*tx)(void *ctx, const uint8_t *buf, size_t len);
	/* The IRQ line level changed (0 or 1). */
	void (*irq)(void *ctx, int level);
	/* The RX FIFO has room again after uart16550_rx or uart16550_rx_room
	 * found it full (the guest read RBR or cleared the FIFO, or left
	 * loopback mode). May be NULL. */
	void (*rx_room)(void *ctx);
};

struct uart16550;

/* Returns NULL on allocation failure. ops must outlive the device. */
struct uart16550 *uart16550_new(const struct uart16550_ops *ops, void *ctx);
void uart16550_free(struct uart16550 *u);

/* io_handler_fn for the 8 ports (offset 0..7); opaque is the uart. Accesses
 * wider than a byte act on the low byte; reads zero-extend. */
void uart16550_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		  bool is_write);

/* Host -> guest bytes. Returns how many were accepted: it stops when the RX
 * FIFO is full (16 bytes with FIFOs enabled, 1 without, none while the guest
 * holds the UART in loopback mode), so no byte is ever overrun; the caller
 * retries the rest after ops->rx_room. */
size_t uart16550_rx(struct uart16550 *u, const uint8_t *buf, size_t len);

/* How many bytes uart16550_rx would accept now. A 0 result arms rx_room. */
size_t uart16550_rx_room(struct uart16550 *u);

/* The host sends a break: a 0 byte flagged as break enters the RX FIFO; LSR.BI
 * and the line status interrupt follow when it reaches the FIFO's head. */
void uart16550_break(struct uart16550 *u);

#endif
