/* vsbd's end of the boundary protocol: the socket, the handshake, the link
 * thread that drains the up ring, and the operator's requests. See
 * ghv_link.h and boundary/PROTOCOL.md. */
#include "ghv_link_priv.h"
#include "framebuffer.h"
#include "log.h"
#include "../boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HELLO_TIMEOUT_MS 5000
#define DRAIN_BATCH GHV_SLOTS /* messages per round before polling again */

static void kick(int efd)
{
	uint64_t one = 1;

	/* Nonblocking: a full counter means the peer has a wakeup pending. */
	if (write(efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_debug("operator: kick: %s", strerror(errno));
}

static void drain_efd(int efd)
{
	uint64_t v;

	if (read(efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("operator: eventfd read: %s", strerror(errno));
}

int ghv_link_send_locked(struct ghv_link *l, struct ghv_msg *m)
{
	if (!l->shm)
		return -ENOTCONN;
	m->hdr.seq = l->down_seq + 1;
	int ret = ghv_ring_push(&l->down, m);
	if (ret)
		return ret;
	l->down_seq++;
	kick(l->kick_down);
	return 0;
}

void ghv_link_down_locked(struct ghv_link *l, const char *reason)
{
	if (l->state == LINK_DOWN)
		return;
	l->state = LINK_DOWN;
	snprintf(l->down_reason, sizeof(l->down_reason), "%s", reason);
	log_warn("operator side down: %s; operator devices now read as "
		 "absent", reason);
	for (unsigned i = 0; i < GHV_WAITERS; i++)
		pthread_cond_signal(&l->waiters[i].cond);
	pthread_cond_broadcast(&l->cond);
	kick(l->quit_efd); /* the link thread closes the connection */
}

/* A reply or event; dropped (and counted) when the operator's ring is full,
 * since vsbd never waits for the operator. */
static void send_or_drop(struct ghv_link *l, struct ghv_msg *m)
{
	pthread_mutex_lock(&l->lock);
	if (l->state != LINK_UP || ghv_link_send_locked(l, m))
		atomic_fetch_add(&l->dropped_replies, 1);
	pthread_mutex_unlock(&l->lock);
}

static void reply(struct ghv_link *l, uint64_t id, int status, uint64_t val0)
{
	struct ghv_msg m = { .hdr = { .type = GHV_REPLY, .id = id } };

	m.u.reply.status = status;
	m.u.reply.val[0] = val0;
	send_or_drop(l, &m);
}

static void event(struct ghv_link *l, uint32_t kind, int arg)
{
	struct ghv_msg m = { .hdr = { .type = GHV_EVENT } };

	m.u.event.kind = kind;
	m.u.event.arg = arg;
	send_or_drop(l, &m);
}

static bool is_request(uint16_t type)
{
	return type >= GHV_CREATE && type <= GHV_IRQ_LINE;
}

/* Refusals are logged at most once a second: a flooding operator must not
 * flood vsbd's log. */
static void refuse(struct ghv_link *l, const struct ghv_msg *m, int err,
		   const char *why)
{
	unsigned long n = atomic_fetch_add(&l->refused, 1) + 1;
	unsigned long now = (unsigned long)time(NULL);
	unsigned long last = atomic_load(&l->last_log);

	if (now != last && atomic_compare_exchange_strong(&l->last_log, &last,
							  now))
		log_warn("operator: refused %s (seq %u): %s (%lu refused so "
			 "far)", ghv_msg_name(m->hdr.type), m->hdr.seq, why, n);
	if (is_request(m->hdr.type))
		reply(l, m->hdr.id, err, 0);
}

static int map_io(struct ghv_link *l, const struct ghv_map_io *mp,
		  bool fixed)
{
	int ret;

	pthread_mutex_lock(&l->lock);
	if (!fixed && l->nmaps_live >= GHV_MAX_MAPS) {
		ret = -ENOSPC;
	} else if (l->nmaps_used >= GHV_MAP_ENTRIES) {
		ret = -ENOSPC;
	} else {
		struct ghv_map *e = &l->maps[l->nmaps_used];
		*e = (struct ghv_map){ .link = l, .space = mp->space,
				       .live = true, .fixed = fixed,
				       .base = mp->base, .len = mp->len };
		ret = io_router_add(&l->vm->io, mp->space == GHV_SPACE_PIO ?
					IO_SPACE_PIO : IO_SPACE_MMIO,
				    mp->base, mp->len, IO_OWNER_OPERATOR,
				    ghv_forward_io, e, "operator");
		if (!ret) {
			l->nmaps_used++;
			l->nmaps_live += !fixed;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

/* The entry stays allocated: a vCPU may still be forwarding through it. */
static int unmap_io(struct ghv_link *l, const struct ghv_map_io *mp)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&l->lock);
	for (unsigned i = 0; i < l->nmaps_used; i++) {
		struct ghv_map *e = &l->maps[i];
		if (!e->live || e->space != mp->space || e->base != mp->base)
			continue;
		if (e->fixed) {
			ret = -EPERM;
			break;
		}
		ret = io_router_remove(&l->vm->io, mp->space == GHV_SPACE_PIO ?
					   IO_SPACE_PIO : IO_SPACE_MMIO,
				       mp->base);
		if (!ret) {
			e->live = false;
			l->nmaps_live--;
		}
		break;
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

static void start(struct ghv_link *l, uint64_t id)
{
	pthread_mutex_lock(&l->lock);
	bool first = !l->started;
	l->started = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (first)
		kick(l->main_efd);
	else
		vm_resume(l->vm);
	reply(l, id, 0, 0);
	event(l, GHV_EV_RUNNING, 0);
}

static void destroy(struct ghv_link *l, uint64_t id, uint32_t how)
{
	int status = how == GHV_DESTROY_RESET ? VM_STOP_RESET : VM_STOP_POWEROFF;

	log_info("operator destroys the VM (%s)",
		 how == GHV_DESTROY_RESET ? "reset" : "power off");
	vm_request_stop(l->vm, status);
	pthread_mutex_lock(&l->lock);
	if (!l->started)
		l->start_status = status;
	pthread_mutex_unlock(&l->lock);
	kick(l->main_efd);
	reply(l, id, 0, 0);
}

/* Carries out one checked message. */
static void act(struct ghv_link *l, const struct ghv_msg *m)
{
	uint64_t id = m->hdr.id;
	int ret;

	switch (m->hdr.type) {
	case GHV_IO_DONE:
		if (!ghv_forward_complete(l, id, m->u.io_done.data))
			refuse(l, m, -ENOENT, "no forwarded access waits for "
			       "this id (late or replayed answer)");
		return;
	case GHV_CREATE:
		log_info("operator created VM %s", l->opts.vm_name);
		reply(l, id, 0, 0);
		return;
	case GHV_START:
		start(l, id);
		return;
	case GHV_STOP:
		pthread_mutex_lock(&l->lock);
		l->pending_stop = true;
		l->pending_stop_id = id;
		pthread_mutex_unlock(&l->lock);
		kick(l->main_efd);
		return;
	case GHV_DESTROY:
		destroy(l, id, m->u.destroy.how);
		return;
	case GHV_MAP_IO:
		ret = map_io(l, &m->u.map, false);
		if (ret)
			refuse(l, m, ret, "range overlaps or too many maps");
		else
			reply(l, id, 0, 0);
		return;
	case GHV_UNMAP_IO:
		ret = unmap_io(l, &m->u.map);
		if (ret)
			refuse(l, m, ret, "not a range the operator mapped");
		else
			reply(l, id, 0, 0);
		return;
	case GHV_PCI_ATTACH: {
		unsigned slot = m->u.pci.slot;
		ret = pci_host_attach(l->pci, slot, &ghv_forward_pci_ops,
				      &l->slots[slot]);
		if (ret)
			refuse(l, m, ret, "PCI slot taken");
		else
			reply(l, id, 0, boot_pci_intx_gsi(slot, 0));
		return;
	}
	case GHV_IRQ_LINE:
		vm_irq_line(l->vm, m->u.irq.gsi, (int)m->u.irq.level);
		return;
	}
}

static void handle(struct ghv_link *l, const struct ghv_msg *m)
{
	const char *why;
	int ret = ghv_check_up(&l->sess, m, &why);

	if (ret)
		refuse(l, m, ret, why);
	else
		act(l, m);
}

/* Returns true when messages may remain (the batch ran out). */
static bool drain_up(struct ghv_link *l)
{
	for (int i = 0; i < DRAIN_BATCH; i++) {
		struct ghv_msg m;
		int r = ghv_ring_pop(&l->up, &m);
		if (r == 0)
			return false;
		if (r < 0) {
			pthread_mutex_lock(&l->lock);
			ghv_link_down_locked(l, "the operator broke the up "
					     "ring's indices");
			pthread_mutex_unlock(&l->lock);
			return false;
		}
		handle(l, &m);
		if (l->state != LINK_UP)
			return false;
	}
	return true;
}

/* ---- handshake ---- */

static int make_shm(struct ghv_link *l)
{
	l->shm_fd = memfd_create("vsbd-ghv-rings", MFD_CLOEXEC |
				 MFD_ALLOW_SEALING);
	if (l->shm_fd < 0)
		return -errno;
	/* Sealed: the operator cannot shrink it under vsbd's mapping. */
	if (ftruncate(l->shm_fd, GHV_SHM_SIZE) ||
	    fcntl(l->shm_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
		  F_SEAL_SEAL))
		return -errno;
	void *p = mmap(NULL, GHV_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		       l->shm_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	l->shm = p;
	l->shm->magic = GHV_MAGIC;
	l->shm->version = GHV_VERSION;
	l->kick_down = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->kick_up = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->kick_down < 0 || l->kick_up < 0)
		return -errno;
	ghv_ring_init(&l->down, &l->shm->down, true);
	ghv_ring_init(&l->up, &l->shm->up, false);
	return 0;
}

static int read_hello(int fd, const char **why)
{
	struct pollfd p = { fd, POLLIN, 0 };
	struct ghv_hello h;

	if (poll(&p, 1, HELLO_TIMEOUT_MS) != 1)
		return *why = "no hello within 5 s", -ETIMEDOUT;
	ssize_t n = recv(fd, &h, sizeof(h), MSG_DONTWAIT | MSG_TRUNC);
	if (n != (ssize_t)sizeof(h))
		return *why = "hello of the wrong size", -EINVAL;
	if (h.magic != GHV_MAGIC)
		return *why = "bad magic", -EINVAL;
	if (h.version_min > GHV_VERSION || h.version_max < GHV_VERSION)
		return *why = "no common protocol version", -EPROTONOSUPPORT;
	return 0;
}

static int send_welcome(struct ghv_link *l, int fd)
{
	struct ghv_welcome w = {
		.magic = GHV_MAGIC, .version = GHV_VERSION,
		.routing = (uint16_t)l->opts.routing,
		.ram_size = l->vm->mem.size,
		.ram_low_size = l->vm->mem.low_size,
		.nr_vcpus = (uint32_t)l->vm->nr_vcpus,
		.shm_size = (uint32_t)GHV_SHM_SIZE,
	};
	int fds[GHV_MAX_FDS] = { l->shm_fd, l->kick_down, l->kick_up,
				 l->vm->mem.fd, l->fb_fd };
	unsigned nfds = l->fb_fd >= 0 ? 5 : 4;

	if (l->fb_fd >= 0) {
		w.fb_gpa = l->fb_gpa;
		w.fb_width = l->fb_w;
		w.fb_height = l->fb_h;
		w.fb_stride = l->fb_stride;
	}
	w.nfds = nfds;
	strncpy(w.name, l->opts.vm_name, sizeof(w.name) - 1);

	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * GHV_MAX_FDS)];
	} u;
	struct iovec iov = { .iov_base = &w, .iov_len = sizeof(w) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = CMSG_SPACE(sizeof(int) * nfds) };
	memset(&u, 0, sizeof(u));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(w) ? 0 : -EIO;
}

/* One connection: checks who it is and what it says, then welcomes it. */
static void accept_operator(struct ghv_link *l)
{
	int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	const char *why = NULL;
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (fd < 0)
		return;
	if (l->state != LINK_WAITING) {
		close(fd); /* one operator per VM life */
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl)) {
		why = "no peer credentials";
	} else if (l->opts.check_uid && cr.uid != l->opts.uid) {
		why = "connecting uid is not the operator's";
	} else if (read_hello(fd, &why) == 0) {
		int ret = l->shm ? 0 : make_shm(l);
		if (ret)
			log_errno(ret, "operator: cannot create the rings");
		else if ((ret = send_welcome(l, fd)))
			why = "cannot send the welcome";
		if (ret && !why)
			why = "internal error";
	}
	if (why) {
		log_warn("operator: refused a connection: %s", why);
		close(fd);
		return;
	}
	pthread_mutex_lock(&l->lock);
	l->conn_fd = fd;
	l->state = LINK_UP;
	ghv_session_init(&l->sess, l->opts.vm_name, l->opts.routing);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	log_info("operator connected (pid %d, uid %u), %s routing", cr.pid,
		 cr.uid, l->opts.routing == GHV_ROUTING_BYPASS ? "bypass" :
		 "traditional");
}

/* The socket carries nothing after the handshake: data is refused, a
 * hangup means the operator is gone. */
static void watch_conn(struct ghv_link *l, short revents)
{
	char buf[64];
	ssize_t n = 0;

	if (revents & POLLIN)
		n = recv(l->conn_fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0) {
		atomic_fetch_add(&l->refused, 1);
		return;
	}
	if (n < 0 && errno == EAGAIN)
		return;
	pthread_mutex_lock(&l->lock);
	ghv_link_down_locked(l, "the operator closed its socket");
	pthread_mutex_unlock(&l->lock);
}

static void *link_thread(void *arg)
{
	struct ghv_link *l = arg;
	bool more = false;

	for (;;) {
		struct pollfd p[4] = {
			{ l->quit_efd, POLLIN, 0 },
			{ l->listen_fd, POLLIN, 0 },
			{ l->state == LINK_UP ? l->conn_fd : -1, POLLIN, 0 },
			{ l->state == LINK_UP ? l->kick_up : -1, POLLIN, 0 },
		};
		if (poll(p, 4, more ? 0 : -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			drain_efd(l->quit_efd);
			if (l->state == LINK_DOWN && l->conn_fd >= 0) {
				close(l->conn_fd);
				l->conn_fd = -1;
			}
			if (atomic_load(&l->quitting))
				break;
		}
		if (p[1].revents)
			accept_operator(l);
		if (l->state == LINK_UP && p[2].revents)
			watch_conn(l, p[2].revents);
		bool again = more;
		more = false;
		if (l->state == LINK_UP && (p[3].revents || again)) {
			drain_efd(l->kick_up);
			more = drain_up(l);
		}
	}
	return NULL;
}

/* ---- setup and the main thread's side ---- */

static int listen_on(struct ghv_link *l)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(l->opts.path) >= sizeof(a.sun_path))
		return log_errno(-ENAMETOOLONG, "--operator %s", l->opts.path);
	strcpy(a.sun_path, l->opts.path);
	strcpy(l->path, l->opts.path);
	l->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
			      SOCK_NONBLOCK, 0);
	if (l->listen_fd < 0)
		return log_errno(-errno, "operator socket");
	struct stat st;
	if (lstat(a.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(a.sun_path);
	mode_t old = umask(0177);
	int ret = bind(l->listen_fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (ret)
		return log_errno(-errno, "cannot bind %s", a.sun_path);
	if (l->opts.check_uid && chown(a.sun_path, l->opts.uid, l->opts.gid))
		return log_errno(-errno, "cannot give %s to the operator",
				 a.sun_path);
	if (listen(l->listen_fd, 4))
		return log_errno(-errno, "listen on %s", a.sun_path);
	return 0;
}

/* Traditional routing: the consoles are the operator's. */
static int route_consoles(struct ghv_link *l)
{
	static const struct ghv_map_io ranges[] = {
		{ .space = GHV_SPACE_PIO, .base = 0x3f8, .len = 8 },
		{ .space = GHV_SPACE_PIO, .base = 0x60, .len = 1 },
		{ .space = GHV_SPACE_PIO, .base = 0x64, .len = 1 },
	};

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		int ret = map_io(l, &ranges[i], true);
		if (ret)
			return log_errno(ret, "cannot route port %#llx to the "
					 "operator", (unsigned long long)
					 ranges[i].base);
	}
	return 0;
}

static int init_sync(struct ghv_link *l)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, &ca);
	for (unsigned i = 0; i < GHV_WAITERS; i++)
		pthread_cond_init(&l->waiters[i].cond, &ca);
	pthread_condattr_destroy(&ca);
	l->quit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->main_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return l->quit_efd < 0 || l->main_efd < 0 ? -errno : 0;
}

struct ghv_link *ghv_link_open(const struct ghv_link_opts *o, struct vm *vm,
			       struct pci_host *pci,
			       const struct framebuffer *fb)
{
	struct ghv_link *l = calloc(1, sizeof(*l));

	if (!l || !(l->maps = calloc(GHV_MAP_ENTRIES, sizeof(*l->maps)))) {
		free(l);
		log_error("operator link: out of memory");
		return NULL;
	}
	l->opts = *o;
	l->opts.timeout_ms = o->timeout_ms ? o->timeout_ms :
					     GHV_DEFAULT_TIMEOUT_MS;
	l->vm = vm;
	l->pci = pci;
	l->listen_fd = l->conn_fd = l->shm_fd = -1;
	l->kick_down = l->kick_up = l->fb_fd = -1;
	l->start_status = -1;
	for (unsigned i = 0; i < PCI_HOST_DEVS; i++)
		l->slots[i] = (struct ghv_pci_slot){ l, (uint8_t)i };
	if (o->routing == GHV_ROUTING_TRADITIONAL && fb && fb->memfd >= 0) {
		l->fb_fd = fb->memfd;
		l->fb_gpa = fb->gpa;
		l->fb_w = fb->width;
		l->fb_h = fb->height;
		l->fb_stride = fb->stride;
	}
	if (init_sync(l) || listen_on(l) ||
	    (o->routing == GHV_ROUTING_TRADITIONAL && route_consoles(l)))
		goto fail;
	if (pthread_create(&l->thread, NULL, link_thread, l)) {
		log_error("operator link: cannot start its thread");
		goto fail;
	}
	l->thread_started = true;
	log_info("waiting for the operator's vsb-ghv on %s", l->path);
	return l;
fail:
	ghv_link_close(l);
	return NULL;
}

bool ghv_link_wait_start(struct ghv_link *l, int sfd, int *status)
{
	for (;;) {
		pthread_mutex_lock(&l->lock);
		int st = l->start_status;
		bool go = l->started;
		pthread_mutex_unlock(&l->lock);
		if (st >= 0)
			return *status = st, false;
		if (go)
			return true;
		/* No reconnection in version 1: a VM whose operator left
		 * before START would wait for nothing. */
		if (l->state == LINK_DOWN) {
			log_error("the operator left before starting the VM");
			return *status = VM_STOP_ERROR, false;
		}
		struct pollfd p[2] = { { sfd, POLLIN, 0 },
				       { l->main_efd, POLLIN, 0 } };
		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			return *status = VM_STOP_ERROR, false;
		if (p[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("stopping on signal %u", si.ssi_signo);
				*status = VM_STOP_SIGNAL + (int)si.ssi_signo;
				return false;
			}
		}
		if (p[1].revents & POLLIN)
			drain_efd(l->main_efd);
	}
}

int ghv_link_fd(const struct ghv_link *l)
{
	return l->main_efd;
}

void ghv_link_service(struct ghv_link *l)
{
	drain_efd(l->main_efd);
	pthread_mutex_lock(&l->lock);
	bool stop = l->pending_stop;
	uint64_t id = l->pending_stop_id;
	l->pending_stop = false;
	pthread_mutex_unlock(&l->lock);
	if (!stop)
		return;
	vm_pause(l->vm);
	reply(l, id, 0, 0);
	event(l, GHV_EV_PAUSED, 0);
}

void ghv_link_vm_stopped(struct ghv_link *l, int status)
{
	if (!l)
		return;
	event(l, GHV_EV_STOPPED, status);
	pthread_mutex_lock(&l->lock);
	/* vCPUs waiting for the operator must not hold the exit up. */
	ghv_link_down_locked(l, "the VM stopped");
	pthread_mutex_unlock(&l->lock);
}

void ghv_link_describe(void *link, char *buf, size_t len)
{
	struct ghv_link *l = link;

	pthread_mutex_lock(&l->lock);
	enum link_state st = l->state;
	char reason[sizeof(l->down_reason)];
	memcpy(reason, l->down_reason, sizeof(reason));
	pthread_mutex_unlock(&l->lock);
	const char *routing = l->opts.routing == GHV_ROUTING_BYPASS ?
				      "bypass" : "traditional";
	unsigned long fwd = atomic_load(&l->forwarded);
	unsigned long ref = atomic_load(&l->refused);
	unsigned long tmo = atomic_load(&l->timeouts);

	if (st == LINK_WAITING)
		snprintf(buf, len, "waiting routing=%s", routing);
	else if (st == LINK_UP)
		snprintf(buf, len, "up routing=%s forwarded=%lu refused=%lu",
			 routing, fwd, ref);
	else
		snprintf(buf, len, "down routing=%s forwarded=%lu refused=%lu "
			 "timeouts=%lu reason=%s", routing, fwd, ref, tmo,
			 reason);
}

void ghv_link_close(struct ghv_link *l)
{
	if (!l)
		return;
	if (l->thread_started) {
		atomic_store(&l->quitting, true);
		kick(l->quit_efd);
		pthread_join(l->thread, NULL);
	}
	if (l->listen_fd >= 0) {
		close(l->listen_fd);
		unlink(l->path);
	}
	int fds[] = { l->conn_fd, l->shm_fd, l->kick_down, l->kick_up,
		      l->quit_efd, l->main_efd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (l->shm)
		munmap(l->shm, GHV_SHM_SIZE);
	free(l->maps);
	free(l);
}
