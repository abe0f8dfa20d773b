/* Unit tests of the pvpanic port: the supported-events read, which write
 * calls which callback, a NULL crash_loaded, wide and misplaced accesses,
 * re-entry from a callback and concurrent writers. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "pvpanic.h"

struct harness {
	struct pvpanic *p;
	atomic_int panics, crashes;
};

static void h_panicked(void *ctx)
{
	struct harness *h = ctx;
	atomic_fetch_add(&h->panics, 1);
}

static void h_crash_loaded(void *ctx)
{
	struct harness *h = ctx;
	atomic_fetch_add(&h->crashes, 1);
}

static const struct pvpanic_ops ops = { .panicked = h_panicked,
					.crash_loaded = h_crash_loaded };

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->p = pvpanic_new(&ops, h);
	assert_non_null(h->p);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	pvpanic_free(h->p);
	free(h);
	return 0;
}

static uint8_t in8(struct pvpanic *p)
{
	uint8_t v = 0;
	pvpanic_io(p, 0, &v, 1, false);
	return v;
}

static void out8(struct pvpanic *p, uint8_t v)
{
	pvpanic_io(p, 0, &v, 1, true);
}

/* pvpanic-mmio's probe ANDs its capabilities with this byte: both events
 * must be announced or Linux would never write them. */
static void test_read_events(void **state)
{
	struct harness *h = *state;

	assert_int_equal(in8(h->p), 0x03);
	assert_int_equal(in8(h->p), PVPANIC_EVENTS);
	assert_int_equal(h->panics, 0);
	assert_int_equal(h->crashes, 0);
}

static void test_panicked(void **state)
{
	struct harness *h = *state;

	out8(h->p, PVPANIC_PANICKED);
	assert_int_equal(h->panics, 1);
	assert_int_equal(h->crashes, 0);
	/* Unknown bits beside it change nothing. */
	out8(h->p, 0xF1);
	assert_int_equal(h->panics, 2);
	assert_int_equal(h->crashes, 0);
	/* Reads are not affected by writes. */
	assert_int_equal(in8(h->p), 0x03);
}

static void test_crash_loaded(void **state)
{
	struct harness *h = *state;

	out8(h->p, PVPANIC_CRASH_LOADED);
	assert_int_equal(h->panics, 0);
	assert_int_equal(h->crashes, 1);
	out8(h->p, 0xFE); /* bit 1 with unknown bits, no bit 0 */
	assert_int_equal(h->panics, 0);
	assert_int_equal(h->crashes, 2);
}

/* Both bits in one write: one event, the panic (as QEMU). */
static void test_both_bits(void **state)
{
	struct harness *h = *state;

	out8(h->p, PVPANIC_PANICKED | PVPANIC_CRASH_LOADED);
	assert_int_equal(h->panics, 1);
	assert_int_equal(h->crashes, 0);
}

static void test_other_bits_ignored(void **state)
{
	struct harness *h = *state;

	for (unsigned v = 0; v < 256; v++)
		if (!(v & PVPANIC_EVENTS))
			out8(h->p, (uint8_t)v);
	assert_int_equal(h->panics, 0);
	assert_int_equal(h->crashes, 0);
}

static void test_null_crash_loaded(void **state)
{
	(void)state;
	struct harness h = { 0 };
	static const struct pvpanic_ops panic_only = { .panicked = h_panicked };
	struct pvpanic *p = pvpanic_new(&panic_only, &h);

	assert_non_null(p);
	out8(p, PVPANIC_CRASH_LOADED);
	assert_int_equal(h.panics, 0);
	out8(p, PVPANIC_PANICKED);
	assert_int_equal(h.panics, 1);
	pvpanic_free(p);
	pvpanic_free(NULL);
}

/* Only offset 0 is the register; anything else is empty bus. */
static void test_wide_and_offset(void **state)
{
	struct harness *h = *state;
	uint32_t v = 0;
	uint8_t b = 0;

	pvpanic_io(h->p, 0, &v, 4, false);
	assert_int_equal(v, 0xffffff03);
	v = 0;
	pvpanic_io(h->p, 0, &v, 2, false);
	assert_int_equal(v, 0xff03);
	pvpanic_io(h->p, 1, &b, 1, false);
	assert_int_equal(b, 0xff);

	v = 0x0101; /* the register byte is the low one */
	pvpanic_io(h->p, 0, &v, 2, true);
	assert_int_equal(h->panics, 1);
	v = 0x0100;
	pvpanic_io(h->p, 0, &v, 2, true);
	assert_int_equal(h->panics, 1);
	b = PVPANIC_PANICKED;
	pvpanic_io(h->p, 1, &b, 1, true);
	assert_int_equal(h->panics, 1);
	assert_int_equal(h->crashes, 0);
}

/* Callbacks run with nothing held, so they may use the device (a VMM
 * reading the port back while stopping). */
static struct pvpanic *reenter_dev;
static uint8_t reenter_val;

static void reenter_panicked(void *ctx)
{
	(void)ctx;
	reenter_val = in8(reenter_dev);
}

static void test_callback_reentry(void **state)
{
	(void)state;
	static const struct pvpanic_ops rops = { .panicked = reenter_panicked };

	reenter_dev = pvpanic_new(&rops, NULL);
	assert_non_null(reenter_dev);
	out8(reenter_dev, PVPANIC_PANICKED);
	assert_int_equal(reenter_val, 0x03);
	pvpanic_free(reenter_dev);
}

/* Several vCPUs panicking at once (Linux's panic path runs on one CPU,
 * but a device must not rely on that): every write is seen once. */
#define THREADS 4
#define WRITES 20000

static void *writer(void *arg)
{
	struct harness *h = arg;

	for (int i = 0; i < WRITES; i++) {
		out8(h->p, (i & 1) ? PVPANIC_CRASH_LOADED : PVPANIC_PANICKED);
		if (in8(h->p) != 0x03)
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct harness *h = *state;
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, h), 0);
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
	assert_int_equal(h->panics, THREADS * WRITES / 2);
	assert_int_equal(h->crashes, THREADS * WRITES / 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_read_events),
		T(test_panicked),
		T(test_crash_loaded),
		T(test_both_bits),
		T(test_other_bits_ignored),
		cmocka_unit_test(test_null_crash_loaded),
		T(test_wide_and_offset),
		cmocka_unit_test(test_callback_reentry),
		T(test_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
