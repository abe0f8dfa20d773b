/* X11 keysyms (what an RFB KeyEvent carries) to PS/2 scancodes.
 *
 * Keys are mapped by position on a US keyboard, not by character: 'a' and
 * 'A' are both the A key, '1' and '!' both the 1 key, because viewers send
 * Shift as a key of its own and the guest's keymap does the rest. Keysyms
 * with no key on a US PC keyboard (accented letters, dead keys, ...) map to
 * nothing. Pure functions, no state. */
#ifndef VSB_KEYMAP_H
#define VSB_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest sequence: Pause in set 2 (E1 14 77 E1 F0 14 F0 77). */
#define KEYMAP_MAX_BYTES 8

/* Keys are numbered by their set-1 make code, plus 0x80 for the keys that
 * carry an 0xE0 prefix (so 0 .. 255; 0 is no key). */
#define KEYMAP_NKEYS 256

/* The key a keysym means, or 0 if none. */
unsigned keymap_key(uint32_t keysym);

/* The bytes a keyboard sends when key goes down or up, in scancode set 1
 * or 2 (0xE0 prefix for extended keys; set 1 breaks with bit 7 set, set 2
 * with an 0xF0 prefix). Returns how many (0 for no key, for set 3, and for
 * the release of Pause, which has no break code). */
size_t keymap_key_ps2(unsigned key, bool down, unsigned set,
		      uint8_t out[KEYMAP_MAX_BYTES]);

/* keymap_key_ps2(keymap_key(keysym), ...). */
size_t keymap_ps2(uint32_t keysym, bool down, unsigned set,
		  uint8_t out[KEYMAP_MAX_BYTES]);

#endif
