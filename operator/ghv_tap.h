/* The operator tap: what an operator with root on the compute node can
 * record from its own guest hypervisor, as in VSBypass's eavesdropping
 * experiment. vsb-ghv --tap DIR writes there every I/O it handles, every
 * console byte and key it serves and the screens it serves. Files:
 *   DIR/io.log       one line per forwarded access:
 *                    "<space> <r|w> <addr hex> <len> <data hex>\n"
 *                    space: pio, mmio, pcicfg
 *   DIR/console-out.log  the guest's console output, raw, as served
 *   DIR/console-in.log   the tenant's console input, raw, as the UART
 *                    took it (two files: an echoing guest would
 *                    interleave the directions byte by byte)
 *   DIR/keys.log     one line per key event served: "<keysym hex> <down 0|1>\n"
 *   DIR/screen-NNNN.ppm  a binary PPM (P6) of each distinct screen served,
 *                    at most a few a second
 * Thread safe; every write is flushed, so a test reads it while vsb-ghv
 * runs and after it is killed. */
#ifndef VSB_GHV_TAP_H
#define VSB_GHV_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ghv_tap;
struct ghv_io;

/* Creates DIR if needed. Returns NULL with errno set. */
struct ghv_tap *ghv_tap_open(const char *dir);
void ghv_tap_close(struct ghv_tap *t);

/* All are no-ops on a NULL tap. */
void ghv_tap_io(struct ghv_tap *t, const struct ghv_io *io, uint64_t data);
void ghv_tap_console(struct ghv_tap *t, bool from_tenant, const uint8_t *buf,
		     size_t len);
void ghv_tap_key(struct ghv_tap *t, uint32_t keysym, bool down);
/* XRGB8888 little endian (byte 0 blue), as the framebuffer. */
void ghv_tap_screen(struct ghv_tap *t, const uint8_t *pixels, uint32_t width,
		    uint32_t height, uint32_t stride);

#endif
