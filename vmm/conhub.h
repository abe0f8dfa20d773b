/* The console hub: fans the guest's serial output out to any number of
 * readers (SSH sessions, watchers) and takes input from at most one writer.
 *
 * Output is kept in a ring of recent bytes, so a reader that attaches late
 * gets the recent history replayed, and a slow reader never stalls the guest:
 * if it falls more than a ring behind, it skips ahead and is told how many
 * bytes it lost. Input goes into the UART only as fast as its RX FIFO has
 * room (see uart16550_rx), so typed bytes are never dropped.
 *
 * Thread safety: every function may be called from any thread.
 * conhub_output and conhub_rx_room are called from UART callbacks (with the
 * UART lock held) and never block or call back into the UART. */
#ifndef VSB_CONHUB_H
#define VSB_CONHUB_H

#include <stddef.h>
#include <stdint.h>

struct uart16550;
struct conhub;
struct conhub_reader;

/* history: ring size in bytes (at least 4096). Returns NULL on error. */
struct conhub *conhub_new(size_t history);
void conhub_free(struct conhub *h);
void conhub_attach_uart(struct conhub *h, struct uart16550 *uart);

/* Guest -> hub (UART tx callback). Never blocks. */
void conhub_output(struct conhub *h, const uint8_t *buf, size_t len);
/* UART rx_room callback: wakes the writer (conhub_room_fd). */
void conhub_rx_room(struct conhub *h);

/* A reader starts with up to `replay` bytes of recent output. Its fd (an
 * eventfd) becomes readable when new output arrived; conhub_read drains it.
 * Returns NULL on allocation failure. */
struct conhub_reader *conhub_reader_open(struct conhub *h, size_t replay);
int conhub_reader_fd(const struct conhub_reader *r);
/* Copies up to len pending bytes; never blocks; returns 0 when nothing is
 * pending. *lost (if not NULL) is set to the bytes skipped because the
 * reader fell a whole ring behind since the last call. */
size_t conhub_read(struct conhub_reader *r, uint8_t *buf, size_t len,
		   uint64_t *lost);
void conhub_reader_close(struct conhub_reader *r);

/* The single writer. owner is any unique pointer (e.g. the session).
 * Returns 0, or -EBUSY if someone else holds the input. */
int conhub_claim_writer(struct conhub *h, const void *owner);
void conhub_release_writer(struct conhub *h, const void *owner);
/* Writer -> guest: returns how many bytes the UART accepted now (0 if
 * owner is not the writer); retry the rest when conhub_room_fd becomes
 * readable (read it to clear it). */
size_t conhub_input(struct conhub *h, const void *owner, const uint8_t *buf,
		    size_t len);
int conhub_room_fd(const struct conhub *h);
/* Optional: told of the bytes conhub_input gave the UART (only those it
 * accepted, once each), after the UART took them and without any lock
 * held. vsb-ghv's operator tap uses it; vsbd sets none. Set it before
 * writers start; NULL fn removes it. */
void conhub_set_input_observer(struct conhub *h,
			       void (*fn)(void *ctx, const uint8_t *buf,
					  size_t len),
			       void *ctx);
/* Sends a serial break to the guest (only the writer may: else -EPERM).
 * Its 0 byte needs room in the RX FIFO like any other: -EAGAIN when full,
 * then retry when conhub_room_fd becomes readable. Returns 0 when sent. */
int conhub_break(struct conhub *h, const void *owner);

#endif
