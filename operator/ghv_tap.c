/* The operator tap: see ghv_tap.h for the files it writes. */
#include "ghv_tap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../boundary/ghv_proto.h"

/* At most one screen per this interval (ghv_tap.h: "a few a second"). */
#define SCREEN_INTERVAL_NS 200000000ULL
/* A frame bigger than this is not a screen anyone serves. */
#define SCREEN_MAX_DIM 16384u

struct ghv_tap {
	pthread_mutex_t lock;
	int dir_fd;
	FILE *io, *con_out, *con_in, *keys;
	unsigned screens;        /* screen files written so far */
	uint64_t last_screen_ns; /* when the last one was written */
	uint8_t *last_rgb;       /* its pixels, to skip identical frames */
	size_t last_rgb_len;
	uint32_t last_width;
};

static FILE *open_log(int dir_fd, const char *name)
{
	int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			0644);
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

struct ghv_tap *ghv_tap_open(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return NULL;
	struct ghv_tap *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	t->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (t->dir_fd < 0)
		goto fail;
	t->io = open_log(t->dir_fd, "io.log");
	t->con_out = open_log(t->dir_fd, "console-out.log");
	t->con_in = open_log(t->dir_fd, "console-in.log");
	t->keys = open_log(t->dir_fd, "keys.log");
	if (!t->io || !t->con_out || !t->con_in || !t->keys)
		goto fail;
	return t;
fail:;
	int err = errno;
	ghv_tap_close(t);
	errno = err;
	return NULL;
}

void ghv_tap_close(struct ghv_tap *t)
{
	if (!t)
		return;
	if (t->io)
		fclose(t->io);
	if (t->con_out)
		fclose(t->con_out);
	if (t->con_in)
		fclose(t->con_in);
	if (t->keys)
		fclose(t->keys);
	if (t->dir_fd >= 0)
		close(t->dir_fd);
	free(t->last_rgb);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static const char *space_name(uint8_t space)
{
	switch (space) {
	case GHV_SPACE_PIO: return "pio";
	case GHV_SPACE_MMIO: return "mmio";
	case GHV_SPACE_PCI_CFG: return "pcicfg";
	default: return "unknown";
	}
}

void ghv_tap_io(struct ghv_tap *t, const struct ghv_io *io, uint64_t data)
{
	if (!t)
		return;
	if (io->len < 8)
		data &= (1ULL << (8 * io->len)) - 1;
	pthread_mutex_lock(&t->lock);
	fprintf(t->io, "%s %c %" PRIx64 " %u %" PRIx64 "\n",
		space_name(io->space), io->is_write ? 'w' : 'r', io->addr,
		io->len, data);
	fflush(t->io);
	pthread_mutex_unlock(&t->lock);
}

void ghv_tap_console(struct ghv_tap *t, bool from_tenant, const uint8_t *buf,
		     size_t len)
{
	if (!t || !len)
		return;
	FILE *f = from_tenant ? t->con_in : t->con_out;
	pthread_mutex_lock(&t->lock);
	fwrite(buf, 1, len, f);
	fflush(f);
	pthread_mutex_unlock(&t->lock);
}

void ghv_tap_key(struct ghv_tap *t, uint32_t keysym, bool down)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	fprintf(t->keys, "%" PRIx32 " %d\n", keysym, down ? 1 : 0);
	fflush(t->keys);
	pthread_mutex_unlock(&t->lock);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Writes the PPM under a temporary name and renames it, so a reader never
 * sees half a screen. Called with the lock held. */
static void write_screen(struct ghv_tap *t, const uint8_t *rgb, size_t len,
			 uint32_t width, uint32_t height)
{
	char tmp[32], name[32], head[48];
	snprintf(tmp, sizeof(tmp), ".screen-%04u.tmp", t->screens);
	snprintf(name, sizeof(name), "screen-%04u.ppm", t->screens);
	int hlen = snprintf(head, sizeof(head), "P6\n%u %u\n255\n", width,
			    height);
	int fd = openat(t->dir_fd, tmp,
			O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	bool ok = write_all(fd, (const uint8_t *)head, (size_t)hlen) &&
		  write_all(fd, rgb, len);
	close(fd);
	if (!ok || renameat(t->dir_fd, tmp, t->dir_fd, name) < 0) {
		unlinkat(t->dir_fd, tmp, 0);
		return;
	}
	t->screens++;
}

void ghv_tap_screen(struct ghv_tap *t, const uint8_t *pixels, uint32_t width,
		    uint32_t height, uint32_t stride)
{
	if (!t || !pixels || !width || !height || width > SCREEN_MAX_DIM ||
	    height > SCREEN_MAX_DIM || stride / 4 < width)
		return;
	pthread_mutex_lock(&t->lock);
	uint64_t now = now_ns();
	if (t->screens && now - t->last_screen_ns < SCREEN_INTERVAL_NS)
		goto out;
	size_t len = (size_t)width * height * 3;
	uint8_t *rgb = malloc(len);
	if (!rgb)
		goto out;
	uint8_t *o = rgb;
	for (uint32_t y = 0; y < height; y++) {
		const uint8_t *row = pixels + (size_t)y * stride;
		for (uint32_t x = 0; x < width; x++, o += 3) {
			o[0] = row[4 * x + 2]; /* red */
			o[1] = row[4 * x + 1]; /* green */
			o[2] = row[4 * x];     /* blue */
		}
	}
	if (t->last_rgb && t->last_rgb_len == len && t->last_width == width &&
	    !memcmp(t->last_rgb, rgb, len)) {
		free(rgb);
		goto out;
	}
	unsigned before = t->screens;
	write_screen(t, rgb, len, width, height);
	if (t->screens != before) {
		free(t->last_rgb);
		t->last_rgb = rgb;
		t->last_rgb_len = len;
		t->last_width = width;
		t->last_screen_ns = now;
	} else {
		free(rgb);
	}
out:
	pthread_mutex_unlock(&t->lock);
}
