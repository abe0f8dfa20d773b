/* The shadow framebuffer: a linear 32-bpp frame (XRGB8888, little endian:
 * byte 0 blue, 1 green, 2 red) at a fixed guest-physical address, in its own
 * memfd and KVM memory slot that only vsbd maps. KVM's dirty log says which
 * pages the guest wrote; they become changed rectangles for the VNC server,
 * so nothing is copied or compared while the screen does not change.
 *
 * Guest view (documented in boot/README.md): Linux finds it in
 * boot_params.screen_info (VIDEO_TYPE_VLFB); PVH guests get
 * " vsb.fb=0xADDR,WxH,STRIDE" appended to their command line. */
#ifndef VSB_FRAMEBUFFER_H
#define VSB_FRAMEBUFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_GPA 0xD0000000ULL       /* in the PCI hole, below the MMIO window */
#define FB_MAX_SIZE (64ULL << 20)  /* FB_GPA .. 0xD4000000 is reserved */
#define FB_SLOT 2                  /* slots 0, 1 are guest RAM (vm.c) */
#define FB_DEFAULT_WIDTH 1024
#define FB_DEFAULT_HEIGHT 768
#define FB_MIN_DIM 64
#define FB_MAX_DIM 4096

struct framebuffer {
	uint32_t width, height; /* pixels */
	uint32_t stride;        /* bytes per line: width * 4 */
	uint64_t gpa;
	size_t size;            /* mapped bytes, page aligned */
	uint8_t *pixels;        /* vsbd's mapping of the frame */
	int memfd;
	int vm_fd;
	unsigned long *bitmap;  /* KVM dirty bitmap, one bit per page */
	size_t npages;
};

/* Parses "WxH" (FB_MIN_DIM..FB_MAX_DIM each, at most FB_MAX_SIZE bytes).
 * Returns false on a bad spec. */
bool fb_parse_geometry(const char *spec, uint32_t *w, uint32_t *h);

/* Creates the frame and registers it as slot FB_SLOT of vm_fd with dirty
 * logging. Returns 0 or a negative errno (message logged). */
int fb_init(struct framebuffer *fb, int vm_fd, uint32_t width,
	    uint32_t height);
/* Deletes the slot (call it before the VM is destroyed), unmaps, frees.
 * Also fine on a frame fb_init failed on, or never saw if it was
 * zero-filled with memfd = -1. */
void fb_destroy(struct framebuffer *fb);

typedef void (*fb_rect_fn)(void *ctx, uint32_t x, uint32_t y, uint32_t w,
			   uint32_t h);

/* Fetches and clears KVM's dirty bitmap (KVM_GET_DIRTY_LOG) and reports
 * the changed rectangles. Returns how many, or a negative errno (-EBADF for
 * a frame with no VM). Only the guest's writes are logged, not vsbd's own
 * through pixels. Not thread safe: one caller (the VNC server thread). */
int fb_collect_dirty(struct framebuffer *fb, fb_rect_fn cb, void *ctx);

/* The pure part of fb_collect_dirty: turns runs of dirty pages of a frame
 * into rectangles (a run within one line gives that span of the line,
 * otherwise whole lines), clipped to the frame. Returns how many. */
size_t fb_bitmap_to_rects(const unsigned long *bitmap, size_t npages,
			  uint32_t stride, uint32_t width, uint32_t height,
			  fb_rect_fn cb, void *ctx);

#endif
