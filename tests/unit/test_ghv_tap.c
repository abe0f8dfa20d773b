/* The operator tap (operator/ghv_tap.c): the files' formats, the PPM bytes
 * of a screen, the screens' rate limit and de-duplication, NULL taps, and
 * lines from many threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ghv_proto.h"
#include "ghv_tap.h"

struct fix {
	char base[64];
	char dir[96];
	struct ghv_tap *t;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	strcpy(f->base, "/tmp/test_ghv_tap.XXXXXX");
	assert_non_null(mkdtemp(f->base));
	snprintf(f->dir, sizeof(f->dir), "%s/tap", f->base);
	f->t = ghv_tap_open(f->dir); /* creates the directory */
	assert_non_null(f->t);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	char cmd[128];
	ghv_tap_close(f->t);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->base);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The whole file; *len its size. */
static char *slurp(const struct fix *f, const char *name, size_t *len)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = calloc(1, 1 << 24);
	*len = fread(buf, 1, (1 << 24) - 1, fp);
	fclose(fp);
	return buf;
}

static bool exists(const struct fix *f, const char *name)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	return stat(path, &st) == 0;
}

static void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static struct ghv_io io(uint8_t space, uint8_t len, bool write, uint64_t addr)
{
	struct ghv_io x = { .space = space, .len = len, .is_write = write,
			    .addr = addr };
	return x;
}

static void test_files_exist_empty(void **state)
{
	struct fix *f = *state;
	size_t len;
	const char *names[] = { "io.log", "console-out.log", "console-in.log",
				"keys.log" };

	for (int i = 0; i < 4; i++) {
		char *s = slurp(f, names[i], &len);
		assert_non_null(s);
		assert_int_equal(len, 0);
		free(s);
	}
	assert_false(exists(f, "screen-0000.ppm"));
}

static void test_io_format(void **state)
{
	struct fix *f = *state;
	struct ghv_io a = io(GHV_SPACE_PIO, 1, true, 0x3f8);
	struct ghv_io b = io(GHV_SPACE_PIO, 2, false, 0xc010);
	struct ghv_io c = io(GHV_SPACE_MMIO, 8, false, 0xfebf0000);
	struct ghv_io d = io(GHV_SPACE_PCI_CFG, 4, true, 3 << 16 | 0x10);
	size_t len;

	ghv_tap_io(f->t, &a, 0x41);
	ghv_tap_io(f->t, &b, ~0ULL);       /* read data cut to len bytes */
	ghv_tap_io(f->t, &c, 0x1122334455667788ULL);
	ghv_tap_io(f->t, &d, 0xc001);
	/* Flushed at once: readable while the tap is open. */
	char *s = slurp(f, "io.log", &len);
	assert_string_equal(s, "pio w 3f8 1 41\n"
			       "pio r c010 2 ffff\n"
			       "mmio r febf0000 8 1122334455667788\n"
			       "pcicfg w 30010 4 c001\n");
	free(s);
}

static void test_console_and_keys(void **state)
{
	struct fix *f = *state;
	const uint8_t out[] = { 'h', 'i', 0, 0xff, '\r', '\n' };
	size_t len;

	/* Each direction in its own file, raw. */
	ghv_tap_console(f->t, false, out, sizeof(out));
	ghv_tap_console(f->t, true, (const uint8_t *)"x", 1);
	ghv_tap_console(f->t, false, (const uint8_t *)"y", 1);
	ghv_tap_console(f->t, true, out, 0);
	char *s = slurp(f, "console-out.log", &len);
	assert_int_equal(len, sizeof(out) + 1);
	assert_memory_equal(s, out, sizeof(out));
	assert_int_equal(s[sizeof(out)], 'y');
	free(s);
	s = slurp(f, "console-in.log", &len);
	assert_int_equal(len, 1);
	assert_int_equal(s[0], 'x');
	free(s);

	ghv_tap_key(f->t, 0x61, true);
	ghv_tap_key(f->t, 0xff0d, false);
	s = slurp(f, "keys.log", &len);
	assert_string_equal(s, "61 1\nff0d 0\n");
	free(s);
}

/* A 3x2 frame with a padded stride: PPM P6, rows top down, RGB. */
static void test_screen_ppm_bytes(void **state)
{
	struct fix *f = *state;
	uint8_t px[2 * 16];
	size_t len;

	memset(px, 0xee, sizeof(px)); /* padding and X bytes must not show */
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 3; x++) {
			uint8_t *p = px + y * 16 + x * 4;
			p[0] = (uint8_t)(0x10 * x + y);     /* blue */
			p[1] = (uint8_t)(0x40 + x);         /* green */
			p[2] = (uint8_t)(0x80 + 0x10 * y);  /* red */
		}
	ghv_tap_screen(f->t, px, 3, 2, 16);
	char *s = slurp(f, "screen-0000.ppm", &len);
	assert_non_null(s);
	const char head[] = "P6\n3 2\n255\n";
	assert_int_equal(len, strlen(head) + 3 * 2 * 3);
	assert_memory_equal(s, head, strlen(head));
	const uint8_t *rgb = (const uint8_t *)s + strlen(head);
	for (int y = 0; y < 2; y++)
		for (int x = 0; x < 3; x++) {
			const uint8_t *p = rgb + (y * 3 + x) * 3;
			assert_int_equal(p[0], 0x80 + 0x10 * y);
			assert_int_equal(p[1], 0x40 + x);
			assert_int_equal(p[2], 0x10 * x + y);
		}
	free(s);
	assert_false(exists(f, ".screen-0000.tmp"));
}

static void test_screen_rate_and_dedup(void **state)
{
	struct fix *f = *state;
	uint32_t px[4 * 4];

	memset(px, 0, sizeof(px));
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
	assert_true(exists(f, "screen-0000.ppm"));
	/* A different frame at once: too soon, dropped. */
	px[5] = 0xffffff;
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
	assert_false(exists(f, "screen-0001.ppm"));
	/* Later: written. */
	msleep(250);
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
	assert_true(exists(f, "screen-0001.ppm"));
	/* The same frame again, however late: not written. */
	msleep(250);
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
	assert_false(exists(f, "screen-0002.ppm"));
	/* Only the X byte changed: the same screen. */
	px[0] = 0xff000000u;
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
	assert_false(exists(f, "screen-0002.ppm"));
	/* A new frame: number 2. */
	px[0] = 0x00000001u;
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
	assert_true(exists(f, "screen-0002.ppm"));
	/* At most about five a second over a burst of changes. */
	for (int i = 0; i < 60; i++) {
		px[1] = (uint32_t)i;
		ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 16);
		msleep(10);
	}
	int n = 0;
	char name[32];
	for (int i = 3; i < 20; i++) {
		snprintf(name, sizeof(name), "screen-%04d.ppm", i);
		n += exists(f, name);
	}
	assert_true(n >= 1 && n <= 5); /* ~0.6 s of changes */
}

static void test_screen_bad_geometry(void **state)
{
	struct fix *f = *state;
	uint32_t px[16] = { 0 };

	ghv_tap_screen(f->t, (uint8_t *)px, 4, 4, 12); /* stride < 4 * width */
	ghv_tap_screen(f->t, (uint8_t *)px, 0, 4, 16);
	ghv_tap_screen(f->t, (uint8_t *)px, 4, 0, 16);
	ghv_tap_screen(f->t, NULL, 4, 4, 16);
	assert_false(exists(f, "screen-0000.ppm"));
}

static void test_null_tap(void **state)
{
	(void)state;
	struct ghv_io a = io(GHV_SPACE_PIO, 1, true, 0x80);
	uint32_t px[4] = { 0 };

	ghv_tap_io(NULL, &a, 1);
	ghv_tap_console(NULL, true, (const uint8_t *)"x", 1);
	ghv_tap_key(NULL, 0x61, true);
	ghv_tap_screen(NULL, (uint8_t *)px, 2, 2, 8);
	ghv_tap_close(NULL);
}

static void test_open_fails(void **state)
{
	struct fix *f = *state;
	char path[160];

	/* A directory under a regular file cannot exist. */
	snprintf(path, sizeof(path), "%s/io.log/sub", f->dir);
	errno = 0;
	assert_null(ghv_tap_open(path));
	assert_int_not_equal(errno, 0);
	/* Opening an existing tap directory again starts fresh files. */
	struct ghv_io a = io(GHV_SPACE_PIO, 1, true, 0x80);
	ghv_tap_io(f->t, &a, 1);
	struct ghv_tap *again = ghv_tap_open(f->dir);
	assert_non_null(again);
	size_t len;
	char *s = slurp(f, "io.log", &len);
	assert_int_equal(len, 0);
	free(s);
	ghv_tap_close(again);
}

#define THREADS 8
#define LINES 2000

static void *writer(void *arg)
{
	struct ghv_tap *t = arg;
	struct ghv_io a = io(GHV_SPACE_MMIO, 4, true, 0xe0000000);
	for (int i = 0; i < LINES; i++)
		ghv_tap_io(t, &a, 0xdeadbeef);
	return NULL;
}

static void test_threads(void **state)
{
	struct fix *f = *state;
	pthread_t th[THREADS];
	size_t len;

	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, writer, f->t);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	char *s = slurp(f, "io.log", &len);
	const char line[] = "mmio w e0000000 4 deadbeef\n";
	assert_int_equal(len, (sizeof(line) - 1) * THREADS * LINES);
	for (size_t off = 0; off < len; off += sizeof(line) - 1)
		assert_memory_equal(s + off, line, sizeof(line) - 1);
	free(s);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_files_exist_empty),
		T(test_io_format),
		T(test_console_and_keys),
		T(test_screen_ppm_bytes),
		T(test_screen_rate_and_dedup),
		T(test_screen_bad_geometry),
		cmocka_unit_test(test_null_tap),
		T(test_open_fails),
		T(test_threads),
	};
	return cmocka_run_group_tests_name("ghv_tap", tests, NULL, NULL);
}
