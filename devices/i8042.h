/* The PS/2 controller (i8042) with a keyboard and a minimal mouse behind it:
 * enough for Linux's i8042, atkbd and psmouse drivers to probe, plus the
 * reset pulse (Linux's reboot=k) and queues for host keyboard and mouse
 * input.
 *
 * Thread safety: every entry point takes the device mutex. ops->irq is called
 * with it held (IRQ edges stay in access order) and must not call back into
 * the device; ops->reset is called after the mutex is released. */
#ifndef VSB_I8042_H
#define VSB_I8042_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

/* Bytes the keyboard (and the mouse) can hold while the guest has not read
 * them yet; further input is dropped and counted. */
#define I8042_QUEUE_SIZE 64

struct i8042_ops {
	/* irq is I8042_KBD_IRQ or I8042_AUX_IRQ; level 0 or 1. */
	void (*irq)(void *ctx, unsigned irq, int level);
	/* The guest pulsed the CPU reset line. May be NULL. */
	void (*reset)(void *ctx);
};

struct i8042;

/* Returns NULL on allocation failure. ops must outlive the device. */
struct i8042 *i8042_new(const struct i8042_ops *ops, void *ctx);
void i8042_free(struct i8042 *k);

/* io_handler_fn for port 0x60 (data) and port 0x64 (status / command).
 * Accesses wider than a byte act on the low byte; reads zero-extend. */
void i8042_data_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		   bool is_write);
void i8042_cmd_io(void *opaque, uint64_t offset, void *data, uint32_t len,
		  bool is_write);

/* Queues bytes from the keyboard as the guest will read them on port 0x60
 * (no set 2 -> set 1 translation is done; see i8042_kbd_scancode_set).
 * Dropped while the guest has scanning disabled (0xF5), as a real keyboard
 * does; bytes beyond I8042_QUEUE_SIZE are dropped and counted. */
void i8042_kbd_input(struct i8042 *k, const uint8_t *scancodes, size_t n);

/* Queues bytes from the mouse (whole movement packets) as the guest will
 * read them on port 0x60 with the AUX flag. Dropped unless the guest has
 * enabled data reporting (0xF4 to the mouse; 0xF5, 0xF6 and reset disable
 * it), and dropped whole if the mouse queue has no room for all n. */
void i8042_aux_input(struct i8042 *k, const uint8_t *bytes, size_t n);

/* How many input bytes were dropped because the queue was full. */
unsigned long i8042_kbd_dropped(struct i8042 *k);

/* The scancode set the guest expects on port 0x60: 1 while the controller
 * translates (command byte bit 6, the usual PC setting), otherwise the set
 * the keyboard was told to use (2 by default). */
unsigned i8042_kbd_scancode_set(struct i8042 *k);

#endif
