/* Unit tests of the console hub: replay on attach, many readers, a reader
 * that falls a ring behind, the single writer and UART backpressure. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "conhub.h"
#include "uart16550.h"

enum { RBR = 0, LSR = 5, FCR = 2 };

static struct conhub *room_hub;

static void no_tx(void *ctx, const uint8_t *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static void no_irq(void *ctx, int level)
{
	(void)ctx;
	(void)level;
}

static void room(void *ctx)
{
	(void)ctx;
	conhub_rx_room(room_hub);
}

static const struct uart16550_ops ops = {
	.tx = no_tx, .irq = no_irq, .rx_room = room,
};

static bool readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, 0) == 1;
}

static void out(struct conhub *h, const char *s)
{
	conhub_output(h, (const uint8_t *)s, strlen(s));
}

static void test_replay_and_live(void **state)
{
	(void)state;
	struct conhub *h = conhub_new(4096);
	assert_non_null(h);
	out(h, "hello ");
	out(h, "world");

	struct conhub_reader *all = conhub_reader_open(h, 4096);
	struct conhub_reader *tail = conhub_reader_open(h, 5);
	struct conhub_reader *none = conhub_reader_open(h, 0);
	uint8_t buf[64];
	uint64_t lost = 99;

	assert_true(readable(conhub_reader_fd(all)));
	assert_false(readable(conhub_reader_fd(none)));
	size_t n = conhub_read(all, buf, sizeof(buf), &lost);
	assert_int_equal(n, 11);
	assert_memory_equal(buf, "hello world", 11);
	assert_int_equal(lost, 0);
	assert_false(readable(conhub_reader_fd(all)));
	n = conhub_read(tail, buf, sizeof(buf), NULL);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "world", 5);

	out(h, "!");
	assert_true(readable(conhub_reader_fd(all)));
	assert_true(readable(conhub_reader_fd(none)));
	assert_int_equal(conhub_read(none, buf, sizeof(buf), NULL), 1);
	assert_int_equal(buf[0], '!');
	/* Reading in small pieces keeps the wake-up until drained. */
	out(h, "abc");
	assert_int_equal(conhub_read(all, buf, 2, NULL), 2);
	assert_true(readable(conhub_reader_fd(all)));
	assert_int_equal(conhub_read(all, buf, 2, NULL), 2);
	assert_false(readable(conhub_reader_fd(all)));
	assert_int_equal(conhub_read(all, buf, 2, NULL), 0);

	conhub_reader_close(all);
	conhub_reader_close(tail);
	conhub_reader_close(none);
	conhub_free(h);
}

static void test_slow_reader_skips(void **state)
{
	(void)state;
	struct conhub *h = conhub_new(4096);
	struct conhub_reader *r = conhub_reader_open(h, 0);
	uint8_t chunk[1000], buf[8192];
	uint64_t lost = 0;

	for (int i = 0; i < 10; i++) {
		memset(chunk, 'a' + i, sizeof(chunk));
		conhub_output(h, chunk, sizeof(chunk));
	}
	size_t n = conhub_read(r, buf, sizeof(buf), &lost);
	assert_int_equal(lost, 10000 - 4096);
	assert_int_equal(n, 4096);
	/* The newest bytes survive, in order. */
	assert_int_equal(buf[4095], 'j');
	assert_int_equal(buf[0], 'a' + (10000 - 4096) / 1000);

	/* One write larger than the ring keeps its tail. */
	uint8_t big[5000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	conhub_output(h, big, sizeof(big));
	n = conhub_read(r, buf, sizeof(buf), &lost);
	assert_int_equal(n, 4096);
	assert_int_equal(lost, 5000 - 4096);
	assert_memory_equal(buf, big + 5000 - 4096, 4096);
	conhub_reader_close(r);
	conhub_free(h);
}

static void test_single_writer_and_backpressure(void **state)
{
	(void)state;
	struct conhub *h = conhub_new(4096);
	struct uart16550 *u = uart16550_new(&ops, NULL);
	int a, b;
	uint8_t v = 0x07; /* FCR: FIFOs on, both cleared */

	room_hub = h;
	uart16550_io(u, FCR, &v, 1, true);
	conhub_attach_uart(h, u);
	assert_int_equal(conhub_claim_writer(h, &a), 0);
	assert_int_equal(conhub_claim_writer(h, &a), 0);
	assert_int_equal(conhub_claim_writer(h, &b), -EBUSY);

	uint8_t text[40];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)('A' + i % 26);
	/* Only the writer reaches the guest. */
	assert_int_equal(conhub_input(h, &b, text, sizeof(text)), 0);
	size_t n = conhub_input(h, &a, text, sizeof(text));
	assert_int_equal(n, 16);
	assert_false(readable(conhub_room_fd(h)));

	/* The guest reads one byte: the FIFO has room, the writer wakes. */
	uart16550_io(u, RBR, &v, 1, false);
	assert_int_equal(v, 'A');
	assert_true(readable(conhub_room_fd(h)));
	assert_int_equal(conhub_input(h, &a, text + n, sizeof(text) - n), 1);

	/* A break's 0 byte needs room too, and only the writer may send. */
	assert_int_equal(conhub_break(h, &b), -EPERM);
	assert_int_equal(conhub_break(h, &a), -EAGAIN);
	uart16550_io(u, RBR, &v, 1, false);
	assert_int_equal(conhub_break(h, &a), 0);

	conhub_release_writer(h, &b); /* not the writer: no effect */
	assert_int_equal(conhub_claim_writer(h, &b), -EBUSY);
	conhub_release_writer(h, &a);
	assert_int_equal(conhub_claim_writer(h, &b), 0);
	uart16550_free(u);
	conhub_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_and_live),
		cmocka_unit_test(test_slow_reader_skips),
		cmocka_unit_test(test_single_writer_and_backpressure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
