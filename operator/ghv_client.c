/* The boundary protocol's client: see ghv_client.h. vsbd is trusted, but
 * what it sends is still checked, so a bug there shows up as a log line
 * here rather than as a wild access. */
#include "ghv_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../boundary/ghv_check.h"
#include "../boundary/ghv_ring.h"
#include "../vmm/log.h"
#include "../vmm/mono_clock.h"

#define MAX_WAITERS 16
#define HELLO_TIMEOUT_S 10
#define CONNECT_WAIT_MS 10000 /* for vsbd's socket to appear */
#define UP_FULL_WAIT_MS 2000 /* give up pushing after this long */

struct waiter {
	uint64_t id; /* 0: free */
	bool done;
	struct ghv_reply reply;
};

struct ghv_client {
	int sock, fds[GHV_MAX_FDS];
	struct ghv_welcome welcome;
	struct ghv_shm *shm;
	struct guest_mem mem;
	uint8_t *fb;
	size_t fb_map_len;

	/* Up ring: any thread, under up_lock. */
	pthread_mutex_t up_lock;
	struct ghv_ring up;
	uint32_t up_seq;
	uint64_t next_id;
	int8_t irq_level[GHV_NR_GSI]; /* last level sent, -1 none */

	/* Down ring: only the thread holding the consumer role. */
	struct ghv_ring down;
	uint32_t down_seq;
	ghv_io_fn io_fn;
	void *io_ctx;

	/* Everything below: under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool consuming; /* some thread holds the consumer role */
	bool gone;      /* vsbd closed the socket or broke a ring */
	int gone_err;
	bool stopped;
	int stop_status;
	struct waiter waiters[MAX_WAITERS];
	struct ghv_client_stats stats;
};

/* Set on the consuming thread while it handles messages: waiting for a
 * reply there would wait for itself. */
static __thread bool in_dispatch;

/* ---- the handshake ---- */

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* vsbd and vsb-ghv are often started together: a socket not there yet
 * (ENOENT) or not listening yet (ECONNREFUSED) is waited for a while. */
static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timespec nap = { 0, 50000000 };
	int err = 0;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	for (unsigned tries = 0; tries < CONNECT_WAIT_MS / 50; tries++) {
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (s < 0)
			return log_errno(-errno, "socket");
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			struct timeval tv = { .tv_sec = HELLO_TIMEOUT_S };
			setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
			return s;
		}
		err = -errno;
		close(s);
		if (err != -ENOENT && err != -ECONNREFUSED)
			break;
		if (tries == 0)
			log_info("waiting for vsbd's socket %s", path);
		nanosleep(&nap, NULL);
	}
	return log_errno(err, "connecting to vsbd at %s", path);
}

/* Receives the welcome and its descriptors into c->welcome and c->fds. */
static int recv_welcome(struct ghv_client *c)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * (GHV_MAX_FDS + 1))];
		struct cmsghdr align;
	} ctl;
	struct ghv_welcome w;
	/* One byte more than a welcome, to tell a longer datagram apart. */
	char data[sizeof(w) + 1];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n;

	do
		n = recvmsg(c->sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return log_errno(errno == EAGAIN ? -ETIMEDOUT : -errno,
				 "waiting for vsbd's welcome");
	int nfds = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
	     cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (nfds < GHV_MAX_FDS)
				c->fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0) {
		log_error("vsbd closed the socket instead of welcoming us");
		return -ECONNRESET;
	}
	if ((size_t)n != sizeof(w) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		log_error("vsbd's welcome is %zd bytes, not %zu%s", n, sizeof(w),
			  (mh.msg_flags & MSG_CTRUNC) ? " (descriptors cut)" : "");
		return -EPROTO;
	}
	memcpy(&w, data, sizeof(w));
	c->welcome = w;
	if (w.magic != GHV_MAGIC || w.version != GHV_VERSION) {
		log_error("vsbd's welcome: bad magic or version %u", w.version);
		return -EPROTO;
	}
	unsigned want = w.routing == GHV_ROUTING_TRADITIONAL ? 5 : 4;
	if (w.routing > GHV_ROUTING_TRADITIONAL || w.nfds != want ||
	    (unsigned)nfds != want) {
		log_error("vsbd's welcome: routing %u with %u descriptors "
			  "(%d received)", w.routing, w.nfds, nfds);
		return -EPROTO;
	}
	return 0;
}

static bool is_eventfd(int fd)
{
	char path[64], target[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return true; /* no /proc: nothing to check against */
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]");
}

static bool file_size_is(int fd, uint64_t min, bool exact)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
		return false;
	return exact ? (uint64_t)st.st_size == min : (uint64_t)st.st_size >= min;
}

/* Checks the welcome's fields and that each descriptor is what it claims. */
static int check_welcome(struct ghv_client *c)
{
	const struct ghv_welcome *w = &c->welcome;
	size_t nlen = strnlen(w->name, sizeof(w->name));

	if (w->shm_size != GHV_SHM_SIZE ||
	    !file_size_is(c->fds[GHV_FD_SHM], GHV_SHM_SIZE, true))
		return log_error("vsbd's shared region is not %zu bytes",
				 (size_t)GHV_SHM_SIZE), -EPROTO;
	if (!is_eventfd(c->fds[GHV_FD_KICK_DOWN]) ||
	    !is_eventfd(c->fds[GHV_FD_KICK_UP]))
		return log_error("vsbd's kick descriptors are not eventfds"),
		       -EPROTO;
	uint64_t low = w->ram_size < GMEM_LOW_MAX ? w->ram_size : GMEM_LOW_MAX;
	if (!w->ram_size || w->ram_low_size != low ||
	    !file_size_is(c->fds[GHV_FD_RAM], w->ram_size, true))
		return log_error("vsbd's RAM descriptor does not hold %llu "
				 "bytes (low %llu)",
				 (unsigned long long)w->ram_size,
				 (unsigned long long)w->ram_low_size), -EPROTO;
	if (nlen == 0 || nlen == sizeof(w->name))
		return log_error("vsbd's welcome has no VM name"), -EPROTO;
	if (w->routing != GHV_ROUTING_TRADITIONAL)
		return 0;
	uint64_t fb = (uint64_t)w->fb_stride * w->fb_height;
	if (!w->fb_width || !w->fb_height || w->fb_stride / 4 < w->fb_width ||
	    w->fb_stride % 4 || !file_size_is(c->fds[GHV_FD_FB], fb, false))
		return log_error("vsbd's framebuffer (%ux%u, stride %u) does "
				 "not fit its descriptor", w->fb_width,
				 w->fb_height, w->fb_stride), -EPROTO;
	return 0;
}

static int map_memory(struct ghv_client *c)
{
	const struct ghv_welcome *w = &c->welcome;
	void *p = mmap(NULL, GHV_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       c->fds[GHV_FD_SHM], 0);
	if (p == MAP_FAILED)
		return log_errno(-errno, "mapping the shared region");
	c->shm = p;
	if (c->shm->magic != GHV_MAGIC)
		log_warn("shared region has magic %#x", c->shm->magic);
	p = mmap(NULL, w->ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 c->fds[GHV_FD_RAM], 0);
	if (p == MAP_FAILED)
		return log_errno(-errno, "mapping guest RAM");
	c->mem.host = p;
	c->mem.size = w->ram_size;
	c->mem.low_size = w->ram_low_size;
	c->mem.fd = c->fds[GHV_FD_RAM];
	if (w->routing == GHV_ROUTING_TRADITIONAL) {
		size_t len = (size_t)w->fb_stride * w->fb_height;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
			 c->fds[GHV_FD_FB], 0);
		if (p == MAP_FAILED)
			return log_errno(-errno, "mapping the framebuffer");
		c->fb = p;
		c->fb_map_len = len;
	}
	ghv_ring_init(&c->down, &c->shm->down, false);
	ghv_ring_init(&c->up, &c->shm->up, true);
	return 0;
}

int ghv_client_connect(const char *path, struct ghv_client **out)
{
	struct ghv_client *c = calloc(1, sizeof(*c));
	int ret;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	for (int i = 0; i < GHV_MAX_FDS; i++)
		c->fds[i] = -1;
	memset(c->irq_level, -1, sizeof(c->irq_level));
	pthread_mutex_init(&c->up_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->sock = connect_socket(path);
	if (c->sock < 0) {
		ret = c->sock;
		goto fail;
	}
	struct ghv_hello h = { .magic = GHV_MAGIC, .version_min = GHV_VERSION,
			       .version_max = GHV_VERSION };
	if (send(c->sock, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		ret = log_errno(-errno, "sending hello to vsbd");
		goto fail;
	}
	ret = recv_welcome(c);
	if (!ret)
		ret = check_welcome(c);
	if (!ret)
		ret = map_memory(c);
	if (ret)
		goto fail;
	log_info("connected to vsbd: VM %.*s, %s routing, %llu MiB, %u vCPUs",
		 GHV_NAME_MAX, c->welcome.name,
		 c->welcome.routing ? "traditional" : "bypass",
		 (unsigned long long)(c->welcome.ram_size >> 20),
		 c->welcome.nr_vcpus);
	*out = c;
	return 0;
fail:
	ghv_client_close(c);
	return ret;
}

void ghv_client_close(struct ghv_client *c)
{
	if (!c)
		return;
	if (c->fb)
		munmap(c->fb, c->fb_map_len);
	if (c->mem.host)
		munmap(c->mem.host, c->mem.size);
	if (c->shm)
		munmap(c->shm, GHV_SHM_SIZE);
	close_fds(c->fds, GHV_MAX_FDS);
	if (c->sock >= 0)
		close(c->sock);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->up_lock);
	free(c);
}

const struct ghv_welcome *ghv_client_welcome(const struct ghv_client *c)
{
	return &c->welcome;
}

const struct guest_mem *ghv_client_mem(const struct ghv_client *c)
{
	return &c->mem;
}

uint8_t *ghv_client_fb(const struct ghv_client *c)
{
	return c->fb;
}

void ghv_client_set_handler(struct ghv_client *c, ghv_io_fn fn, void *ctx)
{
	c->io_fn = fn;
	c->io_ctx = ctx;
}

void ghv_client_stats(struct ghv_client *c, struct ghv_client_stats *s)
{
	pthread_mutex_lock(&c->lock);
	*s = c->stats;
	pthread_mutex_unlock(&c->lock);
}

/* ---- the up ring ---- */

static void set_gone(struct ghv_client *c, int err)
{
	pthread_mutex_lock(&c->lock);
	if (!c->gone) {
		c->gone = true;
		c->gone_err = err;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static bool is_gone(struct ghv_client *c)
{
	pthread_mutex_lock(&c->lock);
	bool g = c->gone;
	pthread_mutex_unlock(&c->lock);
	return g;
}

static void kick_up(struct ghv_client *c)
{
	uint64_t one = 1;
	/* EAGAIN (the counter is full) means a wake-up is pending anyway. */
	if (write(c->fds[GHV_FD_KICK_UP], &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		log_warn_once("kicking vsbd: %s", strerror(errno));
}

/* Pushes m with the next sequence number; up_lock held. The ring being
 * full means vsbd is busy: wait a little for it to drain. */
static int push_locked(struct ghv_client *c, struct ghv_msg *m)
{
	struct timespec nap = { 0, 1000000 };
	unsigned waited = 0;

	m->hdr.flags = 0;
	m->hdr.seq = c->up_seq + 1;
	for (;;) {
		int ret = ghv_ring_push(&c->up, m);
		if (ret == 0)
			break;
		if (ret == -EPROTO) {
			log_error("vsbd's up-ring tail is impossible");
			set_gone(c, -EPROTO);
			return ret;
		}
		if (waited == 0) {
			pthread_mutex_lock(&c->lock);
			c->stats.up_full_waits++;
			pthread_mutex_unlock(&c->lock);
		}
		if (waited++ >= UP_FULL_WAIT_MS || is_gone(c)) {
			log_error("up ring full for %u ms: %s dropped", waited,
				  ghv_msg_name(m->hdr.type));
			return -EAGAIN;
		}
		nanosleep(&nap, NULL);
	}
	c->up_seq++;
	kick_up(c);
	return 0;
}

static int push(struct ghv_client *c, struct ghv_msg *m)
{
	pthread_mutex_lock(&c->up_lock);
	int ret = push_locked(c, m);
	pthread_mutex_unlock(&c->up_lock);
	return ret;
}

/* Request ids carry their type in the low byte, so a late reply to a
 * request nobody waits for can still be named in the log. */
static void fill_request(struct ghv_client *c, struct ghv_msg *m,
			 uint16_t type, const void *payload, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->hdr.type = type;
	m->hdr.id = (++c->next_id << 8) | (type & 0xff);
	if (len)
		memcpy(m->u.raw, payload, len);
}

int ghv_client_irq(struct ghv_client *c, uint32_t gsi, int level)
{
	struct ghv_irq_line irq = { .gsi = gsi, .level = level ? 1 : 0 };
	struct ghv_msg m;
	int ret = 0;

	if (gsi >= GHV_NR_GSI)
		return -EINVAL;
	pthread_mutex_lock(&c->up_lock);
	if (c->irq_level[gsi] != (int8_t)irq.level) {
		fill_request(c, &m, GHV_IRQ_LINE, &irq, sizeof(irq));
		ret = push_locked(c, &m);
		if (!ret)
			c->irq_level[gsi] = (int8_t)irq.level;
	}
	pthread_mutex_unlock(&c->up_lock);
	return ret;
}

/* ---- the down ring ---- */

static void log_orphan_reply(const struct ghv_msg *m)
{
	uint16_t type = m->hdr.id & 0xff;
	if (m->u.reply.status < 0)
		log_warn("vsbd refused %s (request %llu): %s", ghv_msg_name(type),
			 (unsigned long long)(m->hdr.id >> 8),
			 strerror(-m->u.reply.status));
	else
		log_debug("vsbd accepted %s (request %llu)", ghv_msg_name(type),
			  (unsigned long long)(m->hdr.id >> 8));
}

static void on_reply(struct ghv_client *c, const struct ghv_msg *m)
{
	pthread_mutex_lock(&c->lock);
	c->stats.replies++;
	for (int i = 0; i < MAX_WAITERS; i++) {
		struct waiter *w = &c->waiters[i];
		if (w->id == m->hdr.id && !w->done) {
			w->reply = m->u.reply;
			w->done = true;
			pthread_cond_broadcast(&c->cond);
			pthread_mutex_unlock(&c->lock);
			return;
		}
	}
	pthread_mutex_unlock(&c->lock);
	log_orphan_reply(m);
}

static void on_event(struct ghv_client *c, const struct ghv_msg *m)
{
	const char *kind[] = { "?", "running", "paused", "stopped" };
	uint32_t k = m->u.event.kind;

	if (k < GHV_EV_RUNNING || k > GHV_EV_STOPPED) {
		log_warn("vsbd sent unknown event %u", k);
		return;
	}
	log_info("VM %s", kind[k]);
	pthread_mutex_lock(&c->lock);
	c->stats.events++;
	if (k == GHV_EV_STOPPED) {
		c->stopped = true;
		c->stop_status = m->u.event.arg;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
}

/* A forwarded access vsbd should never send; answered all-ones so its
 * vCPU does not wait for the timeout. */
static const char *io_invalid(const struct ghv_io *io)
{
	if (io->is_write > 1 || io->pad)
		return "bad flags or padding";
	switch (io->space) {
	case GHV_SPACE_PIO:
		if (io->len != 1 && io->len != 2 && io->len != 4)
			return "bad port access length";
		if (io->addr >= GHV_PIO_LIMIT || io->addr + io->len > GHV_PIO_LIMIT)
			return "port beyond 0xffff";
		return NULL;
	case GHV_SPACE_MMIO:
		if (io->len != 1 && io->len != 2 && io->len != 4 && io->len != 8)
			return "bad MMIO access length";
		return NULL;
	case GHV_SPACE_PCI_CFG:
		if (io->len != 1 && io->len != 2 && io->len != 4)
			return "bad config access length";
		if (io->addr >> 21 || ((io->addr >> 8) & 0xff) > 7 ||
		    (io->addr & 0xff) % 4 + io->len > 4)
			return "bad config address";
		return NULL;
	default:
		return "unknown address space";
	}
}

static void on_io_req(struct ghv_client *c, const struct ghv_msg *m)
{
	struct ghv_io io = m->u.io;
	struct ghv_msg done;
	uint64_t data = ~0ULL;
	const char *bad = io_invalid(&io);

	pthread_mutex_lock(&c->lock);
	c->stats.io_reqs++;
	pthread_mutex_unlock(&c->lock);
	if (bad) {
		log_warn("vsbd forwarded a bad access (%s)", bad);
	} else {
		if (io.len < 8)
			io.data &= (1ULL << (8 * io.len)) - 1;
		if (!io.is_write)
			io.data = 0;
		if (c->io_fn)
			data = c->io_fn(c->io_ctx, &io);
	}
	/* The handler pushed any MAP_IO it needed already: they precede this
	 * answer on the ring, so vsbd applies them before the vCPU resumes. */
	memset(&done, 0, sizeof(done));
	done.hdr.type = GHV_IO_DONE;
	done.hdr.id = m->hdr.id;
	done.u.io_done.data = io.is_write ? 0 : data;
	push(c, &done);
}

static void handle(struct ghv_client *c, const struct ghv_msg *m)
{
	if (m->hdr.seq != c->down_seq + 1) {
		log_warn("vsbd's message %u out of sequence (expected %u): "
			 "dropped", m->hdr.seq, c->down_seq + 1);
		goto drop;
	}
	c->down_seq++;
	if (m->hdr.flags) {
		log_warn("vsbd's message has flags %#x: dropped", m->hdr.flags);
		goto drop;
	}
	switch (m->hdr.type) {
	case GHV_IO_REQ:
		on_io_req(c, m);
		return;
	case GHV_REPLY:
		on_reply(c, m);
		return;
	case GHV_EVENT:
		on_event(c, m);
		return;
	default:
		log_warn("vsbd sent message type %u: dropped", m->hdr.type);
	}
drop:
	pthread_mutex_lock(&c->lock);
	c->stats.dropped++;
	pthread_mutex_unlock(&c->lock);
}

static int drain_ring(struct ghv_client *c)
{
	struct ghv_msg m;
	int ret;

	while ((ret = ghv_ring_pop(&c->down, &m)) == 1)
		handle(c, &m);
	if (ret < 0) {
		log_error("vsbd's down-ring head is impossible");
		set_gone(c, -EPROTO);
	}
	return ret;
}

/* One round as the consumer: handle what is there, wait up to timeout_ms
 * for a kick or for the socket to close, handle what came. */
static void pump(struct ghv_client *c, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = c->fds[GHV_FD_KICK_DOWN], .events = POLLIN },
		{ .fd = c->sock, .events = POLLIN | POLLRDHUP },
	};

	in_dispatch = true;
	if (drain_ring(c) < 0)
		goto out;
	if (poll(p, 2, timeout_ms) < 0) {
		if (errno != EINTR)
			set_gone(c, -errno);
		goto out;
	}
	if (p[0].revents & POLLIN) {
		uint64_t v;
		if (read(p[0].fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn_once("reading vsbd's kick: %s", strerror(errno));
	}
	if (p[1].revents) {
		/* The socket carries nothing after the welcome: any event on
		 * it is vsbd closing it, or junk to discard. */
		char junk[64];
		ssize_t n = recv(c->sock, junk, sizeof(junk), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
		    (p[1].revents & (POLLHUP | POLLERR | POLLRDHUP))) {
			drain_ring(c); /* a last STOPPED may be waiting */
			set_gone(c, -EPIPE);
			goto out;
		}
	}
	drain_ring(c);
out:
	in_dispatch = false;
}

/* Becomes the consumer for one round if nobody is; lock held. Otherwise
 * sleeps on the condition, which the consumer signals on every reply,
 * event and hand-over. */
static void consume_or_wait(struct ghv_client *c, int timeout_ms)
{
	if (!c->consuming) {
		c->consuming = true;
		pthread_mutex_unlock(&c->lock);
		pump(c, timeout_ms);
		pthread_mutex_lock(&c->lock);
		c->consuming = false;
		pthread_cond_broadcast(&c->cond);
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)timeout_ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&c->cond, &c->lock, &ts);
}

static int wait_reply(struct ghv_client *c, struct waiter *w,
		      struct ghv_reply *reply)
{
	uint64_t deadline = mono_ms() + GHV_REPLY_TIMEOUT_MS;
	int ret;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (w->done) {
			*reply = w->reply;
			ret = reply->status;
			break;
		}
		if (c->gone) {
			ret = -EPIPE;
			break;
		}
		if (c->stopped) {
			ret = -ESHUTDOWN;
			break;
		}
		if (mono_ms() >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
		consume_or_wait(c, 50);
	}
	w->id = 0;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int ghv_client_request(struct ghv_client *c, uint16_t type,
		       const void *payload, size_t len,
		       struct ghv_reply *reply)
{
	struct ghv_msg m;
	struct waiter *w = NULL;

	if (type < GHV_CREATE || type > GHV_IRQ_LINE ||
	    len > sizeof(m.u.raw))
		return -EINVAL;
	if (reply && in_dispatch) {
		log_error("waiting for a %s reply inside the I/O handler",
			  ghv_msg_name(type));
		return -EDEADLK;
	}
	pthread_mutex_lock(&c->up_lock);
	fill_request(c, &m, type, payload, len);
	if (reply) {
		/* Registered before the push: the reply may come at once. */
		pthread_mutex_lock(&c->lock);
		for (int i = 0; i < MAX_WAITERS && !w; i++)
			if (!c->waiters[i].id)
				w = &c->waiters[i];
		if (w) {
			w->id = m.hdr.id;
			w->done = false;
		}
		pthread_mutex_unlock(&c->lock);
		if (!w) {
			pthread_mutex_unlock(&c->up_lock);
			return -EBUSY;
		}
	}
	int ret = is_gone(c) ? -EPIPE : push_locked(c, &m);
	pthread_mutex_unlock(&c->up_lock);
	if (!reply)
		return ret;
	if (ret) {
		pthread_mutex_lock(&c->lock);
		w->id = 0;
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	return wait_reply(c, w, reply);
}

int ghv_client_run(struct ghv_client *c, int *status)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		if (c->stopped) {
			*status = c->stop_status;
			ret = 0;
			break;
		}
		if (c->gone) {
			ret = c->gone_err == -EPROTO ? -EPROTO : -EPIPE;
			break;
		}
		consume_or_wait(c, 1000);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}
