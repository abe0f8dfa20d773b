/* Unit tests of the keysym to PS/2 scancode map: known codes of both sets
 * (from the usual IBM PC/AT tables), key-not-character mapping, and
 * consistency over every keysym. Keysyms are spelled with libvncserver's
 * rfb/keysym.h names, so the numbers in keymap.c are checked too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <rfb/keysym.h>

#include "keymap.h"

/* One key, both sets: set-1 make code and set-2 make code, with or
 * without the 0xE0 prefix (the same in both sets for these keys). */
struct known {
	uint32_t keysym;
	uint8_t s1, s2;
	int ext;
};

static const struct known known[] = {
	{ XK_a, 0x1e, 0x1c, 0 },         { XK_A, 0x1e, 0x1c, 0 },
	{ XK_b, 0x30, 0x32, 0 },         { XK_m, 0x32, 0x3a, 0 },
	{ XK_q, 0x10, 0x15, 0 },         { XK_Z, 0x2c, 0x1a, 0 },
	{ XK_1, 0x02, 0x16, 0 },         { XK_exclam, 0x02, 0x16, 0 },
	{ XK_0, 0x0b, 0x45, 0 },         { XK_parenright, 0x0b, 0x45, 0 },
	{ XK_5, 0x06, 0x2e, 0 },         { XK_percent, 0x06, 0x2e, 0 },
	{ XK_minus, 0x0c, 0x4e, 0 },     { XK_underscore, 0x0c, 0x4e, 0 },
	{ XK_equal, 0x0d, 0x55, 0 },     { XK_plus, 0x0d, 0x55, 0 },
	{ XK_bracketleft, 0x1a, 0x54, 0 }, { XK_braceright, 0x1b, 0x5b, 0 },
	{ XK_semicolon, 0x27, 0x4c, 0 }, { XK_colon, 0x27, 0x4c, 0 },
	{ XK_apostrophe, 0x28, 0x52, 0 }, { XK_quotedbl, 0x28, 0x52, 0 },
	{ XK_grave, 0x29, 0x0e, 0 },     { XK_asciitilde, 0x29, 0x0e, 0 },
	{ XK_backslash, 0x2b, 0x5d, 0 }, { XK_bar, 0x2b, 0x5d, 0 },
	{ XK_comma, 0x33, 0x41, 0 },     { XK_less, 0x33, 0x41, 0 },
	{ XK_period, 0x34, 0x49, 0 },    { XK_greater, 0x34, 0x49, 0 },
	{ XK_slash, 0x35, 0x4a, 0 },     { XK_question, 0x35, 0x4a, 0 },
	{ XK_space, 0x39, 0x29, 0 },
	{ XK_Return, 0x1c, 0x5a, 0 },    { XK_Linefeed, 0x1c, 0x5a, 0 },    { XK_BackSpace, 0x0e, 0x66, 0 },
	{ XK_Tab, 0x0f, 0x0d, 0 },       { XK_ISO_Left_Tab, 0x0f, 0x0d, 0 },
	{ XK_Escape, 0x01, 0x76, 0 },
	{ XK_Shift_L, 0x2a, 0x12, 0 },   { XK_Shift_R, 0x36, 0x59, 0 },
	{ XK_Control_L, 0x1d, 0x14, 0 }, { XK_Control_R, 0x1d, 0x14, 1 },
	{ XK_Alt_L, 0x38, 0x11, 0 },     { XK_Alt_R, 0x38, 0x11, 1 },
	{ XK_ISO_Level3_Shift, 0x38, 0x11, 1 },
	{ XK_Super_L, 0x5b, 0x1f, 1 },   { XK_Menu, 0x5d, 0x2f, 1 },
	{ XK_Caps_Lock, 0x3a, 0x58, 0 }, { XK_Num_Lock, 0x45, 0x77, 0 },
	{ XK_Scroll_Lock, 0x46, 0x7e, 0 },
	{ XK_F1, 0x3b, 0x05, 0 },        { XK_F2, 0x3c, 0x06, 0 },
	{ XK_F3, 0x3d, 0x04, 0 },        { XK_F4, 0x3e, 0x0c, 0 },
	{ XK_F5, 0x3f, 0x03, 0 },        { XK_F6, 0x40, 0x0b, 0 },
	{ XK_F7, 0x41, 0x83, 0 },        { XK_F8, 0x42, 0x0a, 0 },
	{ XK_F9, 0x43, 0x01, 0 },        { XK_F10, 0x44, 0x09, 0 },
	{ XK_F11, 0x57, 0x78, 0 },       { XK_F12, 0x58, 0x07, 0 },
	{ XK_Left, 0x4b, 0x6b, 1 },      { XK_Right, 0x4d, 0x74, 1 },
	{ XK_Up, 0x48, 0x75, 1 },        { XK_Down, 0x50, 0x72, 1 },
	{ XK_Home, 0x47, 0x6c, 1 },      { XK_End, 0x4f, 0x69, 1 },
	{ XK_Page_Up, 0x49, 0x7d, 1 },   { XK_Page_Down, 0x51, 0x7a, 1 },
	{ XK_Insert, 0x52, 0x70, 1 },    { XK_Delete, 0x53, 0x71, 1 },
	{ XK_KP_Enter, 0x1c, 0x5a, 1 },  { XK_KP_Divide, 0x35, 0x4a, 1 },
	{ XK_KP_Multiply, 0x37, 0x7c, 0 }, { XK_KP_Subtract, 0x4a, 0x7b, 0 },
	{ XK_KP_Add, 0x4e, 0x79, 0 },    { XK_KP_Decimal, 0x53, 0x71, 0 },
	{ XK_KP_0, 0x52, 0x70, 0 },      { XK_KP_Insert, 0x52, 0x70, 0 },
	{ XK_KP_7, 0x47, 0x6c, 0 },      { XK_KP_Home, 0x47, 0x6c, 0 },
	{ XK_KP_5, 0x4c, 0x73, 0 },      { XK_KP_Begin, 0x4c, 0x73, 0 },
	{ XK_KP_9, 0x49, 0x7d, 0 },      { XK_KP_Left, 0x4b, 0x6b, 0 },
};

static void expect(const uint8_t *got, size_t n, const uint8_t *want,
		   size_t wn, uint32_t keysym, const char *what)
{
	if (n != wn || memcmp(got, want, n) != 0)
		fail_msg("keysym %#x %s: %zu bytes %02x %02x %02x, want %zu",
			 keysym, what, n, n > 0 ? got[0] : 0,
			 n > 1 ? got[1] : 0, n > 2 ? got[2] : 0, wn);
}

static void test_known_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		const struct known *k = &known[i];
		uint8_t out[KEYMAP_MAX_BYTES], want[4];
		size_t p = 0;

		if (k->ext)
			want[p++] = 0xe0;
		want[p] = k->s1;
		expect(out, keymap_ps2(k->keysym, true, 1, out), want, p + 1,
		       k->keysym, "set 1 make");
		want[p] = k->s1 | 0x80;
		expect(out, keymap_ps2(k->keysym, false, 1, out), want, p + 1,
		       k->keysym, "set 1 break");
		want[p] = k->s2;
		expect(out, keymap_ps2(k->keysym, true, 2, out), want, p + 1,
		       k->keysym, "set 2 make");
		want[p] = 0xf0;
		want[p + 1] = k->s2;
		expect(out, keymap_ps2(k->keysym, false, 2, out), want, p + 2,
		       k->keysym, "set 2 break");
	}
}

/* The examples of the brief, spelled out byte by byte. */
static void test_examples(void **state)
{
	uint8_t o[KEYMAP_MAX_BYTES];

	(void)state;
	assert_int_equal(keymap_ps2(XK_a, true, 1, o), 1);
	assert_int_equal(o[0], 0x1e);
	assert_int_equal(keymap_ps2(XK_a, false, 1, o), 1);
	assert_int_equal(o[0], 0x9e);
	assert_int_equal(keymap_ps2(XK_a, true, 2, o), 1);
	assert_int_equal(o[0], 0x1c);
	assert_int_equal(keymap_ps2(XK_a, false, 2, o), 2);
	assert_memory_equal(o, ((uint8_t[]){ 0xf0, 0x1c }), 2);
	assert_int_equal(keymap_ps2(XK_Left, true, 1, o), 2);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0x4b }), 2);
	assert_int_equal(keymap_ps2(XK_Left, false, 1, o), 2);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0xcb }), 2);
	assert_int_equal(keymap_ps2(XK_Left, true, 2, o), 2);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0x6b }), 2);
	assert_int_equal(keymap_ps2(XK_Left, false, 2, o), 3);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0xf0, 0x6b }), 3);
}

static void test_print_pause(void **state)
{
	uint8_t o[KEYMAP_MAX_BYTES];

	(void)state;
	assert_int_equal(keymap_ps2(XK_Print, true, 1, o), 4);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0x2a, 0xe0, 0x37 }), 4);
	assert_int_equal(keymap_ps2(XK_Print, false, 1, o), 4);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0xb7, 0xe0, 0xaa }), 4);
	assert_int_equal(keymap_ps2(XK_Print, true, 2, o), 4);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0x12, 0xe0, 0x7c }), 4);
	assert_int_equal(keymap_ps2(XK_Print, false, 2, o), 6);
	assert_memory_equal(o, ((uint8_t[]){ 0xe0, 0xf0, 0x7c, 0xe0, 0xf0,
					     0x12 }), 6);
	assert_int_equal(keymap_ps2(XK_Pause, true, 1, o), 6);
	assert_memory_equal(o, ((uint8_t[]){ 0xe1, 0x1d, 0x45, 0xe1, 0x9d,
					     0xc5 }), 6);
	assert_int_equal(keymap_ps2(XK_Pause, true, 2, o), 8);
	assert_memory_equal(o, ((uint8_t[]){ 0xe1, 0x14, 0x77, 0xe1, 0xf0,
					     0x14, 0xf0, 0x77 }), 8);
	assert_int_equal(keymap_ps2(XK_Pause, false, 1, o), 0);
	assert_int_equal(keymap_ps2(XK_Pause, false, 2, o), 0);
}

/* Every letter and its capital are one key; so are digits and their
 * shifted symbols on a US keyboard. */
static void test_by_key(void **state)
{
	static const char shifted[] = ")!@#$%^&*(";

	(void)state;
	for (uint32_t c = 'a'; c <= 'z'; c++) {
		assert_int_not_equal(keymap_key(c), 0);
		assert_int_equal(keymap_key(c), keymap_key(c - 'a' + 'A'));
	}
	for (uint32_t d = 0; d < 10; d++) {
		assert_int_not_equal(keymap_key('0' + d), 0);
		assert_int_equal(keymap_key('0' + d),
				 keymap_key((uint8_t)shifted[d]));
	}
	/* Every printable ASCII character has a key. */
	for (uint32_t c = 0x20; c < 0x7f; c++)
		if (!keymap_key(c))
			fail_msg("no key for '%c'", (char)c);
}

static void test_unknown(void **state)
{
	static const uint32_t none[] = {
		0, 0x1f, 0x7f, XK_eacute, XK_Eacute, XK_ssharp,
		XK_dead_acute, XK_Multi_key, XK_Hyper_L, XK_F13, XK_KP_Equal,
		0xfdff, 0x10000, 0x1000041, 0xffffffff,
	};
	uint8_t o[KEYMAP_MAX_BYTES];

	(void)state;
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		if (keymap_key(none[i]))
			fail_msg("keysym %#x mapped", none[i]);
		assert_int_equal(keymap_ps2(none[i], true, 1, o), 0);
		assert_int_equal(keymap_ps2(none[i], false, 2, o), 0);
	}
	/* Set 3 and nonsense sets: nothing. */
	assert_int_equal(keymap_ps2(XK_a, true, 3, o), 0);
	assert_int_equal(keymap_ps2(XK_a, true, 0, o), 0);
	assert_int_equal(keymap_key_ps2(0, true, 1, o), 0);
	assert_int_equal(keymap_key_ps2(KEYMAP_NKEYS, true, 1, o), 0);
	assert_int_equal(keymap_key_ps2(0x54, true, 1, o), 0); /* no key */
}

/* Over every keysym below 2^16: the sequences have the shape of their set,
 * and two different keys never send the same bytes. */
static void test_consistency(void **state)
{
	static uint8_t seen1[2][128], seen2[2][256];
	unsigned owner1[2][128] = { { 0 } }, owner2[2][256] = { { 0 } };

	(void)state;
	memset(seen1, 0, sizeof(seen1));
	memset(seen2, 0, sizeof(seen2));
	for (uint32_t ks = 0; ks < 0x10000; ks++) {
		unsigned key = keymap_key(ks);
		uint8_t mk[KEYMAP_MAX_BYTES], br[KEYMAP_MAX_BYTES];
		size_t m, b;

		if (!key || ks == XK_Print || ks == XK_Sys_Req ||
		    ks == XK_Pause || ks == XK_Break)
			continue;
		assert_true(key < KEYMAP_NKEYS);
		m = keymap_key_ps2(key, true, 1, mk);
		b = keymap_key_ps2(key, false, 1, br);
		assert_true(m == 1 || (m == 2 && mk[0] == 0xe0));
		assert_int_equal(b, m);
		assert_memory_equal(mk, br, m - 1);
		assert_int_equal(br[m - 1], mk[m - 1] | 0x80);
		assert_true(mk[m - 1] < 0x80);
		int e = m == 2;
		if (seen1[e][mk[m - 1]] && owner1[e][mk[m - 1]] != key)
			fail_msg("keys %#x and %#x share a set-1 code",
				 owner1[e][mk[m - 1]], key);
		seen1[e][mk[m - 1]] = 1;
		owner1[e][mk[m - 1]] = key;

		m = keymap_key_ps2(key, true, 2, mk);
		b = keymap_key_ps2(key, false, 2, br);
		assert_int_equal(m, 1 + e);
		assert_int_equal(b, m + 1);
		if (e)
			assert_int_equal(br[0], 0xe0);
		assert_int_equal(br[e], 0xf0);
		assert_int_equal(br[e + 1], mk[e]);
		assert_true(mk[e] != 0xe0 && mk[e] != 0xf0 && mk[e] != 0);
		if (seen2[e][mk[e]] && owner2[e][mk[e]] != key)
			fail_msg("keys %#x and %#x share a set-2 code",
				 owner2[e][mk[e]], key);
		seen2[e][mk[e]] = 1;
		owner2[e][mk[e]] = key;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_keys),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_print_pause),
		cmocka_unit_test(test_by_key),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_consistency),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
