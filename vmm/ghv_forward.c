/* Forwarded exits: a vCPU thread whose access falls in an operator range
 * (or an operator PCI slot's configuration space) sends a GHV_IO_REQ and
 * sleeps until the GHV_IO_DONE, the timeout or the operator going down.
 * Whatever happens, the vCPU gets an answer: all-ones on failure, as a PC
 * bus with nothing behind the address. */
#include "ghv_link_priv.h"
#include "log.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool past(const struct timespec *d)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > d->tv_sec ||
	       (now.tv_sec == d->tv_sec && now.tv_nsec >= d->tv_nsec);
}

static struct ghv_waiter *waiter_get(struct ghv_link *l, uint64_t id)
{
	for (unsigned i = 0; i < GHV_WAITERS; i++)
		if (l->waiters[i].id == 0) {
			l->waiters[i].id = id;
			l->waiters[i].done = false;
			l->waiters[i].data = 0;
			return &l->waiters[i];
		}
	return NULL;
}

bool ghv_forward_complete(struct ghv_link *l, uint64_t id, uint64_t data)
{
	bool found = false;

	if (id == 0)
		return false;
	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < GHV_WAITERS; i++) {
		struct ghv_waiter *w = &l->waiters[i];
		if (w->id == id && !w->done) {
			w->done = true;
			w->data = data;
			pthread_cond_signal(&w->cond);
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return found;
}

/* Sends the request, waiting (lock dropped) while the ring is full. */
static int send_request(struct ghv_link *l, struct ghv_msg *m,
			const struct timespec *deadline)
{
	for (;;) {
		if (l->state != LINK_UP)
			return -ENOTCONN;
		int ret = ghv_link_send_locked(l, m);
		if (ret != -EAGAIN)
			return ret;
		if (past(deadline))
			return -ETIMEDOUT;
		pthread_mutex_unlock(&l->lock);
		usleep(100);
		pthread_mutex_lock(&l->lock);
	}
}

/* One round trip. Returns true with *out set when the operator answered. */
static bool forward(struct ghv_link *l, uint8_t space, uint64_t addr,
		    uint32_t len, bool is_write, uint64_t wdata, uint64_t *out)
{
	struct timespec deadline;
	bool ok = false;

	deadline_after(&deadline, l->opts.timeout_ms);
	pthread_mutex_lock(&l->lock);
	if (l->state != LINK_UP) {
		pthread_mutex_unlock(&l->lock);
		return false;
	}
	uint64_t id = ++l->next_id;
	struct ghv_waiter *w = waiter_get(l, id);
	if (!w) { /* more waiters than vCPUs: cannot happen */
		pthread_mutex_unlock(&l->lock);
		return false;
	}
	struct ghv_msg m = { .hdr = { .type = GHV_IO_REQ, .id = id } };
	m.u.io = (struct ghv_io){
		.space = space, .len = (uint8_t)len, .is_write = is_write,
		.vcpu = (uint8_t)(vcpu_self_id < 0 ? 0xff : vcpu_self_id),
		.addr = addr, .data = is_write ? wdata : 0,
	};
	int ret = send_request(l, &m, &deadline);
	if (ret == -EPROTO)
		ghv_link_down_locked(l, "the operator broke the down ring");
	else if (ret == -ETIMEDOUT)
		ghv_link_down_locked(l, "the operator stopped reading its ring");
	while (!ret && !w->done && l->state == LINK_UP) {
		if (pthread_cond_timedwait(&w->cond, &l->lock, &deadline) ==
		    ETIMEDOUT && !w->done) {
			atomic_fetch_add(&l->timeouts, 1);
			ghv_link_down_locked(l, "a forwarded access timed out");
		}
	}
	if (w->done) {
		*out = w->data;
		ok = true;
	}
	w->id = 0;
	pthread_mutex_unlock(&l->lock);
	if (ok)
		atomic_fetch_add(&l->forwarded, 1);
	return ok;
}

static void put_le(void *data, uint32_t len, uint64_t v)
{
	uint8_t *b = data;

	for (uint32_t i = 0; i < len && i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const void *data, uint32_t len)
{
	const uint8_t *b = data;
	uint64_t v = 0;

	for (uint32_t i = 0; i < len && i < 8; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

void ghv_forward_io(void *opaque, uint64_t off, void *data, uint32_t len,
		    bool is_write)
{
	struct ghv_map *mp = opaque;
	uint64_t v = ~0ULL;

	if (len == 0 || len > 8)
		return;
	if (!forward(mp->link, mp->space, mp->base + off, len, is_write,
		     is_write ? get_le(data, len) : 0, &v))
		v = ~0ULL;
	if (!is_write)
		put_le(data, len, v);
}

static uint32_t cfg_read(void *ctx, unsigned fn, unsigned reg, unsigned len)
{
	struct ghv_pci_slot *s = ctx;
	uint64_t v;

	if (!forward(s->link, GHV_SPACE_PCI_CFG,
		     (uint64_t)s->slot << 16 | fn << 8 | reg, len, false, 0, &v))
		return len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
	/* Only the bytes asked for: the operator's upper bits are noise. */
	return len >= 4 ? (uint32_t)v : (uint32_t)v & ((1u << (8 * len)) - 1);
}

static void cfg_write(void *ctx, unsigned fn, unsigned reg, unsigned len,
		      uint32_t val)
{
	struct ghv_pci_slot *s = ctx;
	uint64_t ignored;

	forward(s->link, GHV_SPACE_PCI_CFG,
		(uint64_t)s->slot << 16 | fn << 8 | reg, len, true, val,
		&ignored);
}

const struct pci_dev_ops ghv_forward_pci_ops = {
	.cfg_read = cfg_read,
	.cfg_write = cfg_write,
};
