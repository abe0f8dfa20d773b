/* Console hub: see conhub.h. One mutex guards the ring, the reader list and
 * the writer; eventfds carry the wake-ups, so readers never hold the lock
 * while they write to their (possibly slow) clients. */
#include "conhub.h"
#include "log.h"
#include "../devices/uart16550.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct conhub_reader {
	struct conhub *hub;
	struct conhub_reader *next;
	uint64_t pos;   /* absolute offset of the next byte to read */
	int efd;
	bool signalled; /* efd written since the last conhub_read */
};

struct conhub {
	pthread_mutex_t lock;
	uint8_t *ring;
	size_t cap;
	uint64_t head; /* bytes of output ever written */
	struct conhub_reader *readers;
	struct uart16550 *uart;
	const void *writer;
	int room_efd;
	void (*observe)(void *ctx, const uint8_t *buf, size_t len);
	void *observe_ctx;
};

static void efd_signal(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn_once("console hub eventfd: %s", strerror(errno));
}

static void efd_clear(int fd)
{
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn_once("console hub eventfd: %s", strerror(errno));
}

struct conhub *conhub_new(size_t history)
{
	struct conhub *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cap = history < 4096 ? 4096 : history;
	h->ring = malloc(h->cap);
	h->room_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!h->ring || h->room_efd < 0) {
		if (h->room_efd >= 0)
			close(h->room_efd);
		free(h->ring);
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

void conhub_free(struct conhub *h)
{
	if (!h)
		return;
	/* Readers belong to sessions, which must be gone by now. */
	if (h->readers)
		log_warn("console hub freed with readers attached");
	close(h->room_efd);
	pthread_mutex_destroy(&h->lock);
	free(h->ring);
	free(h);
}

void conhub_attach_uart(struct conhub *h, struct uart16550 *uart)
{
	pthread_mutex_lock(&h->lock);
	h->uart = uart;
	pthread_mutex_unlock(&h->lock);
}

void conhub_output(struct conhub *h, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&h->lock);
	/* Only the last cap bytes of a long write can survive in the ring. */
	if (len > h->cap) {
		h->head += len - h->cap;
		buf += len - h->cap;
		len = h->cap;
	}
	while (len > 0) {
		size_t at = (size_t)(h->head % h->cap);
		size_t n = h->cap - at < len ? h->cap - at : len;
		memcpy(h->ring + at, buf, n);
		h->head += n;
		buf += n;
		len -= n;
	}
	for (struct conhub_reader *r = h->readers; r; r = r->next) {
		if (!r->signalled) {
			r->signalled = true;
			efd_signal(r->efd);
		}
	}
	pthread_mutex_unlock(&h->lock);
}

void conhub_rx_room(struct conhub *h)
{
	efd_signal(h->room_efd);
}

struct conhub_reader *conhub_reader_open(struct conhub *h, size_t replay)
{
	struct conhub_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		free(r);
		return NULL;
	}
	r->hub = h;
	pthread_mutex_lock(&h->lock);
	uint64_t avail = h->head < h->cap ? h->head : h->cap;
	r->pos = h->head - (replay < avail ? replay : avail);
	r->next = h->readers;
	h->readers = r;
	if (r->pos != h->head) {
		r->signalled = true;
		efd_signal(r->efd);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

int conhub_reader_fd(const struct conhub_reader *r)
{
	return r->efd;
}

size_t conhub_read(struct conhub_reader *r, uint8_t *buf, size_t len,
		   uint64_t *lost)
{
	struct conhub *h = r->hub;
	size_t done = 0;

	pthread_mutex_lock(&h->lock);
	uint64_t oldest = h->head > h->cap ? h->head - h->cap : 0;
	if (lost)
		*lost = r->pos < oldest ? oldest - r->pos : 0;
	if (r->pos < oldest)
		r->pos = oldest;
	while (done < len && r->pos < h->head) {
		size_t at = (size_t)(r->pos % h->cap);
		size_t n = h->cap - at;
		if (n > h->head - r->pos)
			n = (size_t)(h->head - r->pos);
		if (n > len - done)
			n = len - done;
		memcpy(buf + done, h->ring + at, n);
		done += n;
		r->pos += n;
	}
	/* Re-arm only once drained, so output keeps one pending wake-up. */
	if (r->pos == h->head && r->signalled) {
		r->signalled = false;
		efd_clear(r->efd);
	}
	pthread_mutex_unlock(&h->lock);
	return done;
}

void conhub_reader_close(struct conhub_reader *r)
{
	if (!r)
		return;
	struct conhub *h = r->hub;
	pthread_mutex_lock(&h->lock);
	for (struct conhub_reader **p = &h->readers; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	close(r->efd);
	free(r);
}

int conhub_claim_writer(struct conhub *h, const void *owner)
{
	int ret = 0;

	pthread_mutex_lock(&h->lock);
	if (h->writer && h->writer != owner)
		ret = -EBUSY;
	else
		h->writer = owner;
	pthread_mutex_unlock(&h->lock);
	return ret;
}

void conhub_release_writer(struct conhub *h, const void *owner)
{
	pthread_mutex_lock(&h->lock);
	if (h->writer == owner)
		h->writer = NULL;
	pthread_mutex_unlock(&h->lock);
}

/* Returns the UART if owner is the writer. The UART is called without the
 * hub lock: its callbacks (conhub_output) take that lock. */
static struct uart16550 *writer_uart(struct conhub *h, const void *owner)
{
	struct uart16550 *u = NULL;

	pthread_mutex_lock(&h->lock);
	if (owner && h->writer == owner)
		u = h->uart;
	pthread_mutex_unlock(&h->lock);
	return u;
}

size_t conhub_input(struct conhub *h, const void *owner, const uint8_t *buf,
		    size_t len)
{
	void (*observe)(void *ctx, const uint8_t *buf, size_t len);
	void *octx;
	struct uart16550 *u;
	size_t n;

	pthread_mutex_lock(&h->lock);
	u = owner && h->writer == owner ? h->uart : NULL;
	observe = h->observe;
	octx = h->observe_ctx;
	pthread_mutex_unlock(&h->lock);
	n = u && len ? uart16550_rx(u, buf, len) : 0;
	if (n && observe)
		observe(octx, buf, n);
	return n;
}

void conhub_set_input_observer(struct conhub *h,
			       void (*fn)(void *ctx, const uint8_t *buf,
					  size_t len),
			       void *ctx)
{
	pthread_mutex_lock(&h->lock);
	h->observe = fn;
	h->observe_ctx = ctx;
	pthread_mutex_unlock(&h->lock);
}

int conhub_room_fd(const struct conhub *h)
{
	return h->room_efd;
}

int conhub_break(struct conhub *h, const void *owner)
{
	struct uart16550 *u = writer_uart(h, owner);

	if (!u)
		return -EPERM;
	/* A query of 0 arms rx_room, so the writer is woken for the retry. */
	if (uart16550_rx_room(u) == 0)
		return -EAGAIN;
	uart16550_break(u);
	return 0;
}
