/* Unit tests of the i8042 PS/2 controller model: controller commands,
 * keyboard and mouse commands, interrupts, the reset pulse, the input
 * queue, and Linux's i8042 probe sequence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "i8042.h"

#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08
#define STS_UNLOCK 0x10
#define STS_AUXDATA 0x20

struct harness {
	struct i8042 *k;
	int level[13];
	int rises[13];
	int resets;
};

static void h_irq(void *ctx, unsigned irq, int level)
{
	struct harness *h = ctx;

	assert_true(irq == 1 || irq == 12);
	assert_int_not_equal(level, h->level[irq]); /* changes only */
	if (level)
		h->rises[irq]++;
	h->level[irq] = level;
}

static void h_reset(void *ctx)
{
	struct harness *h = ctx;
	h->resets++;
}

static const struct i8042_ops ops = { .irq = h_irq, .reset = h_reset };

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->k = i8042_new(&ops, h);
	assert_non_null(h->k);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	i8042_free(h->k);
	free(h);
	return 0;
}

static uint8_t status(struct harness *h)
{
	uint8_t v;
	i8042_cmd_io(h->k, 0, &v, 1, false);
	return v;
}

static uint8_t in60(struct harness *h)
{
	uint8_t v;
	i8042_data_io(h->k, 0, &v, 1, false);
	return v;
}

static void out64(struct harness *h, uint8_t v)
{
	i8042_cmd_io(h->k, 0, &v, 1, true);
}

static void out60(struct harness *h, uint8_t v)
{
	i8042_data_io(h->k, 0, &v, 1, true);
}

/* Expects exactly the given bytes in the output buffer, then nothing. */
static void expect_bytes(struct harness *h, const uint8_t *want, size_t n,
			 bool aux)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t st = status(h);
		if (!(st & STS_OBF))
			fail_msg("byte %zu (%#x): output buffer empty", i,
				 want[i]);
		assert_int_equal(st & STS_AUXDATA, aux ? STS_AUXDATA : 0);
		assert_int_equal(in60(h), want[i]);
	}
	assert_int_equal(status(h) & STS_OBF, 0);
}

/* One mouse packet, with more input allowed to follow. */
#define EXPECT_NOEND(h, pkt)                                                 \
	do {                                                                 \
		for (size_t j_ = 0; j_ < 3; j_++) {                          \
			assert_int_equal(status(h) & (STS_OBF | STS_AUXDATA), \
					 STS_OBF | STS_AUXDATA);             \
			assert_int_equal(in60(h), (pkt)[j_]);                \
		}                                                            \
	} while (0)

#define EXPECT(h, aux, ...)                                                  \
	do {                                                                 \
		static const uint8_t want_[] = { __VA_ARGS__ };              \
		expect_bytes(h, want_, sizeof(want_), aux);                  \
	} while (0)

/* Linux's i8042_command(): command, parameters, then the replies. */
static void command(struct harness *h, uint8_t cmd, const uint8_t *param,
		    size_t nparam)
{
	out64(h, cmd);
	for (size_t i = 0; i < nparam; i++)
		out60(h, param[i]);
}

static uint8_t read_ctr(struct harness *h)
{
	out64(h, 0x20);
	assert_int_equal(status(h) & (STS_OBF | STS_AUXDATA), STS_OBF);
	return in60(h);
}

static void write_ctr(struct harness *h, uint8_t v)
{
	command(h, 0x60, &v, 1);
}

static void test_reset_state(void **state)
{
	struct harness *h = *state;

	assert_int_equal(status(h), STS_UNLOCK | STS_SYS);
	assert_int_equal(read_ctr(h), 0x65);
	assert_int_equal(i8042_kbd_scancode_set(h->k), 1);
	assert_int_equal(h->resets, 0);
}

static void test_self_tests(void **state)
{
	struct harness *h = *state;

	out64(h, 0xaa);
	assert_int_equal(status(h) & STS_CMD, STS_CMD);
	EXPECT(h, false, 0x55);
	out64(h, 0xab);
	EXPECT(h, false, 0x00);
	out64(h, 0xa9);
	EXPECT(h, false, 0x00);
	out64(h, 0xe0);
	EXPECT(h, false, 0x00);
	out60(h, 0xee);
	assert_int_equal(status(h) & STS_CMD, 0);
	EXPECT(h, false, 0xee);
}

static void test_command_byte(void **state)
{
	struct harness *h = *state;

	write_ctr(h, 0x43);
	assert_int_equal(read_ctr(h), 0x43);
	assert_int_equal(status(h) & STS_SYS, 0); /* mirrors CTR bit 2 */
	write_ctr(h, 0x47);
	assert_int_equal(status(h) & STS_SYS, STS_SYS);

	out64(h, 0xad);
	assert_int_equal(read_ctr(h), 0x57);
	out64(h, 0xae);
	assert_int_equal(read_ctr(h), 0x47);
	out64(h, 0xa7);
	assert_int_equal(read_ctr(h), 0x67);
	out64(h, 0xa8);
	assert_int_equal(read_ctr(h), 0x47);

	/* The rest of controller RAM is plain storage. */
	command(h, 0x65, (const uint8_t[]){ 0x9c }, 1);
	out64(h, 0x25);
	EXPECT(h, false, 0x9c);

	/* A new command cancels one still waiting for its data byte: the
	 * next data byte goes to the keyboard (echo). */
	out64(h, 0x60);
	out64(h, 0xa8);
	out60(h, 0xee);
	EXPECT(h, false, 0xee);
	assert_int_equal(read_ctr(h), 0x47);
}

static void test_keyboard_commands(void **state)
{
	struct harness *h = *state;

	out60(h, 0xff);
	EXPECT(h, false, 0xfa, 0xaa);
	out60(h, 0xf2);
	EXPECT(h, false, 0xfa, 0xab, 0x83);
	out60(h, 0xed);
	EXPECT(h, false, 0xfa);
	out60(h, 0x07);
	EXPECT(h, false, 0xfa);
	out60(h, 0xf3);
	out60(h, 0x20);
	EXPECT(h, false, 0xfa, 0xfa);
	out60(h, 0xf0);
	out60(h, 0x00);
	EXPECT(h, false, 0xfa, 0xfa, 0x02);
	out60(h, 0xf0);
	out60(h, 0x03);
	EXPECT(h, false, 0xfa, 0xfa);
	out60(h, 0xf0);
	out60(h, 0x00);
	EXPECT(h, false, 0xfa, 0xfa, 0x03);
	out60(h, 0xf0);
	out60(h, 0x07); /* no such set */
	EXPECT(h, false, 0xfa, 0xfe);
	out60(h, 0xee);
	EXPECT(h, false, 0xee);
	out60(h, 0xf6);
	EXPECT(h, false, 0xfa);
	out60(h, 0xf8);
	EXPECT(h, false, 0xfa);
	out60(h, 0xea); /* unknown (extended enable) */
	EXPECT(h, false, 0xfe);
	out60(h, 0x01);
	EXPECT(h, false, 0xfe);
	out60(h, 0xfe); /* resend the last byte */
	EXPECT(h, false, 0xfe);
	out60(h, 0xf2);
	EXPECT(h, false, 0xfa, 0xab, 0x83);
	out60(h, 0xfe);
	EXPECT(h, false, 0x83);

	/* Reset brings back set 2. */
	out60(h, 0xff);
	EXPECT(h, false, 0xfa, 0xaa);
	out60(h, 0xf0);
	out60(h, 0x00);
	EXPECT(h, false, 0xfa, 0xfa, 0x02);
	assert_int_equal(h->resets, 0);
}

static void test_scanning_and_input(void **state)
{
	struct harness *h = *state;
	static const uint8_t a_make_break[] = { 0x1e, 0x9e };

	i8042_kbd_input(h->k, a_make_break, 2);
	EXPECT(h, false, 0x1e, 0x9e);

	/* Disabled scanning drops input, as a real keyboard (not counted). */
	out60(h, 0xf5);
	EXPECT(h, false, 0xfa);
	i8042_kbd_input(h->k, a_make_break, 2);
	assert_int_equal(status(h) & STS_OBF, 0);
	out60(h, 0xf4);
	EXPECT(h, false, 0xfa);
	i8042_kbd_input(h->k, a_make_break, 1);
	EXPECT(h, false, 0x1e);

	/* A disabled keyboard port holds input until re-enabled. */
	out64(h, 0xad);
	i8042_kbd_input(h->k, a_make_break, 2);
	assert_int_equal(status(h) & STS_OBF, 0);
	out64(h, 0xae);
	EXPECT(h, false, 0x1e, 0x9e);
	assert_int_equal(i8042_kbd_dropped(h->k), 0);
}

static void test_input_overflow(void **state)
{
	struct harness *h = *state;
	uint8_t buf[100];

	for (int i = 0; i < 100; i++)
		buf[i] = (uint8_t)(i + 1);
	i8042_kbd_input(h->k, buf, 100);
	assert_int_equal(i8042_kbd_dropped(h->k), 100 - I8042_QUEUE_SIZE);
	expect_bytes(h, buf, I8042_QUEUE_SIZE, false);
	/* The queue works again once drained. */
	i8042_kbd_input(h->k, buf, 1);
	EXPECT(h, false, 0x01);
}

static void test_kbd_irq(void **state)
{
	struct harness *h = *state;
	static const uint8_t codes[] = { 0x1e, 0x9e };

	/* KBDINT is set by default. */
	i8042_kbd_input(h->k, codes, 2);
	assert_int_equal(h->level[1], 1);
	assert_int_equal(in60(h), 0x1e);
	/* The line dropped and rose again for the second byte. */
	assert_int_equal(h->rises[1], 2);
	assert_int_equal(h->level[1], 1);
	assert_int_equal(in60(h), 0x9e);
	assert_int_equal(h->level[1], 0);
	/* A stale read changes nothing. */
	assert_int_equal(in60(h), 0x9e);
	assert_int_equal(h->rises[1], 2);

	/* Clearing KBDINT lowers a pending line; setting it raises it. */
	i8042_kbd_input(h->k, codes, 1);
	assert_int_equal(h->level[1], 1);
	write_ctr(h, 0x64);
	assert_int_equal(h->level[1], 0);
	write_ctr(h, 0x65);
	assert_int_equal(h->level[1], 1);
	EXPECT(h, false, 0x1e);
	assert_int_equal(h->level[1], 0);
	assert_int_equal(h->level[12], 0);

	/* 0xD2 puts a byte in the buffer as if from the keyboard. */
	command(h, 0xd2, (const uint8_t[]){ 0x77 }, 1);
	assert_int_equal(h->level[1], 1);
	EXPECT(h, false, 0x77);
}

static void test_aux(void **state)
{
	struct harness *h = *state;

	/* Mouse bytes wait while the aux port is disabled (the default). */
	command(h, 0xd4, (const uint8_t[]){ 0xf2 }, 1);
	assert_int_equal(status(h) & STS_OBF, 0);
	write_ctr(h, 0x47); /* aux on, with IRQ12 */
	assert_int_equal(h->level[12], 1);
	assert_int_equal(h->level[1], 0);
	EXPECT(h, true, 0xfa, 0x00);
	assert_int_equal(h->level[12], 0);

	command(h, 0xd4, (const uint8_t[]){ 0xff }, 1);
	EXPECT(h, true, 0xfa, 0xaa, 0x00);
	command(h, 0xd4, (const uint8_t[]){ 0xf3 }, 1);
	command(h, 0xd4, (const uint8_t[]){ 0x28 }, 1);
	EXPECT(h, true, 0xfa, 0xfa);
	command(h, 0xd4, (const uint8_t[]){ 0xe8 }, 1);
	command(h, 0xd4, (const uint8_t[]){ 0x03 }, 1);
	EXPECT(h, true, 0xfa, 0xfa);
	command(h, 0xd4, (const uint8_t[]){ 0xe9 }, 1);
	EXPECT(h, true, 0xfa, 0x00, 0x03, 0x28);
	command(h, 0xd4, (const uint8_t[]){ 0xf4 }, 1);
	EXPECT(h, true, 0xfa);
	command(h, 0xd4, (const uint8_t[]){ 0xe6 }, 1);
	EXPECT(h, true, 0xfa);

	/* Without AUXINT the byte arrives silently. */
	write_ctr(h, 0x45);
	command(h, 0xd4, (const uint8_t[]){ 0xf6 }, 1);
	assert_int_equal(h->level[12], 0);
	EXPECT(h, true, 0xfa);
	assert_int_equal(h->rises[1], 0);
}

/* Mouse movement from the host: only while the guest enabled reporting,
 * whole packets, with the AUX flag and IRQ12. */
static void test_aux_input(void **state)
{
	struct harness *h = *state;
	static const uint8_t pkt[3] = { 0x09, 0x05, 0xfb };

	write_ctr(h, 0x47); /* aux port on, with IRQ12 */
	i8042_aux_input(h->k, pkt, 3); /* reporting is off after power-on */
	assert_int_equal(status(h) & STS_OBF, 0);

	command(h, 0xd4, (const uint8_t[]){ 0xf4 }, 1);
	EXPECT(h, true, 0xfa);
	command(h, 0xd4, (const uint8_t[]){ 0xe9 }, 1);
	EXPECT(h, true, 0xfa, 0x20, 0x02, 0x64); /* bit 5: reporting */
	i8042_aux_input(h->k, pkt, 3);
	assert_int_equal(h->level[12], 1);
	EXPECT(h, true, 0x09, 0x05, 0xfb);
	assert_int_equal(h->level[12], 0);
	assert_int_equal(h->rises[1], 0);

	/* The aux port disabled in the CTR holds packets until enabled. */
	out64(h, 0xa7);
	i8042_aux_input(h->k, pkt, 3);
	assert_int_equal(status(h) & STS_OBF, 0);
	out64(h, 0xa8);
	EXPECT(h, true, 0x09, 0x05, 0xfb);

	/* A full queue drops the whole packet, never a part of it. */
	for (int i = 0; i < I8042_QUEUE_SIZE / 3 + 1; i++)
		i8042_aux_input(h->k, pkt, 3);
	for (int i = 0; i < I8042_QUEUE_SIZE / 3; i++)
		EXPECT_NOEND(h, pkt);
	assert_int_equal(status(h) & STS_OBF, 0);

	/* 0xF5, 0xF6 and reset all switch reporting off. */
	command(h, 0xd4, (const uint8_t[]){ 0xf5 }, 1);
	EXPECT(h, true, 0xfa);
	i8042_aux_input(h->k, pkt, 3);
	assert_int_equal(status(h) & STS_OBF, 0);
	command(h, 0xd4, (const uint8_t[]){ 0xf4 }, 1);
	command(h, 0xd4, (const uint8_t[]){ 0xf6 }, 1);
	EXPECT(h, true, 0xfa, 0xfa);
	i8042_aux_input(h->k, pkt, 3);
	assert_int_equal(status(h) & STS_OBF, 0);
	command(h, 0xd4, (const uint8_t[]){ 0xf4 }, 1);
	command(h, 0xd4, (const uint8_t[]){ 0xff }, 1);
	EXPECT(h, true, 0xfa, 0xfa, 0xaa, 0x00);
	i8042_aux_input(h->k, pkt, 3);
	assert_int_equal(status(h) & STS_OBF, 0);
	command(h, 0xd4, (const uint8_t[]){ 0xe9 }, 1);
	EXPECT(h, true, 0xfa, 0x00, 0x02, 0x64);

	/* Keyboard bytes are not held up by mouse reporting being off. */
	i8042_kbd_input(h->k, (const uint8_t[]){ 0x1e }, 1);
	EXPECT(h, false, 0x1e);
}

static void test_output_port_and_reset(void **state)
{
	struct harness *h = *state;

	out64(h, 0xd0);
	EXPECT(h, false, 0x03);
	out64(h, 0xdd);
	out64(h, 0xd0);
	EXPECT(h, false, 0x01);
	out64(h, 0xdf);
	/* Bits 4/5 show who owns the output buffer. */
	i8042_kbd_input(h->k, (const uint8_t[]){ 0x1c }, 1);
	out64(h, 0xd0);
	EXPECT(h, false, 0x1c, 0x13);

	command(h, 0xd1, (const uint8_t[]){ 0x03 }, 1);
	assert_int_equal(h->resets, 0);
	command(h, 0xd1, (const uint8_t[]){ 0x02 }, 1); /* bit 0 low */
	assert_int_equal(h->resets, 1);

	out64(h, 0xff); /* pulse nothing */
	assert_int_equal(h->resets, 1);
	out64(h, 0xfe); /* Linux reboot=k */
	assert_int_equal(h->resets, 2);
	out64(h, 0xf0);
	assert_int_equal(h->resets, 3);
	out64(h, 0xf1);
	assert_int_equal(h->resets, 3);
}

/* The reset callback may re-enter the device: the mutex is released. */
static struct i8042 *reenter_dev;
static int reenter_status;

static void reenter_reset(void *ctx)
{
	uint8_t v;
	(void)ctx;
	i8042_cmd_io(reenter_dev, 0, &v, 1, false);
	reenter_status = v;
}

static void nop_irq(void *ctx, unsigned irq, int level)
{
	(void)ctx;
	(void)irq;
	(void)level;
}

static void test_reset_callback_unlocked(void **state)
{
	(void)state;
	static const struct i8042_ops rops = { .irq = nop_irq,
					       .reset = reenter_reset };
	uint8_t v = 0xfe;

	reenter_dev = i8042_new(&rops, NULL);
	assert_non_null(reenter_dev);
	i8042_cmd_io(reenter_dev, 0, &v, 1, true);
	assert_int_equal(reenter_status, STS_UNLOCK | STS_SYS | STS_CMD);
	i8042_free(reenter_dev);
}

static void test_wide_access(void **state)
{
	struct harness *h = *state;
	uint32_t v = 0xffffffff;

	i8042_cmd_io(h->k, 0, &v, 4, false);
	assert_int_equal(v, STS_UNLOCK | STS_SYS);
	v = 0xffffffaa;
	i8042_cmd_io(h->k, 0, &v, 4, true);
	v = 0xffffffff;
	i8042_data_io(h->k, 0, &v, 2, false);
	assert_int_equal(v, 0xffff0055);
}

static void test_scancode_set(void **state)
{
	struct harness *h = *state;

	assert_int_equal(i8042_kbd_scancode_set(h->k), 1); /* translated */
	write_ctr(h, 0x25);
	assert_int_equal(i8042_kbd_scancode_set(h->k), 2);
	out60(h, 0xf0);
	out60(h, 0x03);
	EXPECT(h, false, 0xfa, 0xfa);
	assert_int_equal(i8042_kbd_scancode_set(h->k), 3);
}

/* The sequence of Linux's i8042 driver: flush, controller self-test, CTR
 * read, aux detection (loop, bit assignment, IRQ delivery), then atkbd's
 * probe of the keyboard. */
static void test_linux_probe(void **state)
{
	struct harness *h = *state;
	uint8_t ctr, param;

	/* i8042_flush */
	for (int i = 0; i < 16 && (status(h) & STS_OBF); i++)
		in60(h);
	assert_int_equal(status(h) & STS_OBF, 0);

	/* i8042_controller_selftest */
	out64(h, 0xaa);
	EXPECT(h, false, 0x55);

	/* i8042_controller_init: stable CTR, keyboard off while probing */
	ctr = read_ctr(h);
	assert_int_equal(read_ctr(h), ctr);
	ctr |= 0x10;  /* KBDDIS */
	ctr &= ~0x01; /* no KBDINT */
	assert_int_not_equal(status(h) & 0x10, 0); /* keylock off */
	write_ctr(h, ctr);

	/* i8042_check_aux: loopback through the aux port */
	command(h, 0xd3, (const uint8_t[]){ 0x5a }, 1);
	assert_int_equal(status(h) & (STS_OBF | STS_AUXDATA),
			 STS_OBF | STS_AUXDATA);
	param = in60(h);
	assert_int_equal(param, 0x5a);
	/* i8042_toggle_aux(false) then (true): AUXDIS must stick */
	write_ctr(h, ctr | 0x20);
	assert_int_equal(read_ctr(h) & 0x20, 0x20);
	write_ctr(h, ctr & ~0x20);
	assert_int_equal(read_ctr(h) & 0x20, 0);
	/* AUX IRQ delivery test: enable aux with IRQ, loop 0xa5 */
	ctr &= ~0x20;
	ctr |= 0x02;
	write_ctr(h, ctr);
	command(h, 0xd3, (const uint8_t[]){ 0xa5 }, 1);
	assert_int_equal(h->level[12], 1);
	assert_int_equal(status(h) & STS_AUXDATA, STS_AUXDATA);
	assert_int_equal(in60(h), 0xa5);
	assert_int_equal(h->level[12], 0);

	/* i8042_enable_kbd_port, then atkbd: reset, get ID, LEDs, rate. */
	ctr &= ~0x10;
	ctr |= 0x01;
	write_ctr(h, ctr);
	out60(h, 0xff);
	EXPECT(h, false, 0xfa, 0xaa);
	out60(h, 0xf2);
	EXPECT(h, false, 0xfa, 0xab, 0x83);
	out60(h, 0xed);
	EXPECT(h, false, 0xfa);
	out60(h, 0x00);
	EXPECT(h, false, 0xfa);
	out60(h, 0xf3);
	EXPECT(h, false, 0xfa);
	out60(h, 0x00);
	EXPECT(h, false, 0xfa);
	out60(h, 0xf4);
	EXPECT(h, false, 0xfa);
	/* psmouse: reset and get ID through 0xD4 */
	command(h, 0xd4, (const uint8_t[]){ 0xff }, 1);
	EXPECT(h, true, 0xfa, 0xaa, 0x00);
	command(h, 0xd4, (const uint8_t[]){ 0xf2 }, 1);
	EXPECT(h, true, 0xfa, 0x00);
	assert_int_equal(h->resets, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_reset_state),
		T(test_self_tests),
		T(test_command_byte),
		T(test_keyboard_commands),
		T(test_scanning_and_input),
		T(test_input_overflow),
		T(test_kbd_irq),
		T(test_aux),
		T(test_aux_input),
		T(test_output_port_and_reset),
		cmocka_unit_test(test_reset_callback_unlocked),
		T(test_wide_access),
		T(test_scancode_set),
		T(test_linux_probe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
