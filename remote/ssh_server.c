/* The tenant SSH server (see ssh_server.h): the listening socket, the
 * accept thread, one thread per connection (ssh_conn.c) under a cap, and
 * the orderly stop.
 *
 * We bind and accept ourselves and hand libssh the accepted fds
 * (ssh_bind_accept_fd): that gives the real port for port 0, lets the
 * accept loop also watch the stop eventfd, and lets a connection over the
 * cap be turned away without libssh. */
#include "ssh_server.h"
#include "ssh_auth.h"
#include "ssh_conn.h"
#include "ssh_escape.h"
#include "ssh_hostkeys.h"
#include "ssh_listen.h"
#include "ssh_util.h"
#include "../vmm/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

#define DEFAULT_MAX_SESSIONS 64
#define DEFAULT_GRACE_S 30
#define DEFAULT_REPLAY 4096
/* Connections turned away are given this long to read why. */
#define REFUSED_LINGER_MS 2000
#define MAX_REFUSED 16
#define PEER_MAX (INET6_ADDRSTRLEN + 16)

struct conn_thread {
	struct ssh_server *srv;
	pthread_t th;
	ssh_session session;
	char peer[PEER_MAX];
	atomic_bool done;
	struct conn_thread *next;
};

struct refused {
	int fd;
	long long until;
};

struct ssh_server {
	int lfd;
	int port;
	int stop_fd;
	ssh_bind bind;
	pthread_t th;
	bool started;
	int max;
	int max_unauth;
	atomic_int active;
	atomic_int unauth;
	struct conn_thread *conns; /* accept thread only, then stop */
	struct refused refused[MAX_REFUSED];
	long long refused_logged_at;
	unsigned refused_quiet;
	struct ssh_srv_cfg cfg;
	struct ssh_ak_log *aklog;
	char *listen;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Threads we start take no signals: vsbd's main thread handles them. */
static int start_thread(pthread_t *th, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1 << 20);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(th, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -err;
}

static void peer_name(const struct sockaddr_storage *ss, char *out)
{
	char a[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
		snprintf(out, PEER_MAX, "%s:%d", a, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a,
				  sizeof(a));
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
		snprintf(out, PEER_MAX, strchr(a, ':') ? "[%s]:%d" : "%s:%d",
			 a, port);
	} else {
		snprintf(out, PEER_MAX, "?");
	}
}

/* Interactive traffic: no Nagle delay. A client that vanishes without a
 * FIN is noticed by keepalives (idle) or by unacknowledged output. */
static void tune_socket(int fd)
{
	int one = 1, idle = 60, intvl = 10, cnt = 6;
	unsigned timeout_ms = 120000;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms,
		   sizeof(timeout_ms));
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Over the cap: our version line and an SSH_MSG_DISCONNECT packet (still
 * unencrypted at that point), so OpenSSH prints the reason; then the
 * socket lingers a little in the accept loop so the client's own bytes do
 * not turn our close into a reset before it has read this. */
static void turn_away(struct ssh_server *s, int fd, const char *peer,
		      const char *what)
{
	static const char version[] = "SSH-2.0-vsbd\r\n";
	static const char why[] =
		"vsbd: too many SSH connections; try again later";
	uint8_t pkt[128];
	size_t payload = 1 + 4 + 4 + (sizeof(why) - 1) + 4;
	size_t pad = 8 - ((4 + 1 + payload) % 8);
	size_t n = 0;

	if (pad < 4)
		pad += 8;
	memcpy(pkt, version, sizeof(version) - 1);
	n = sizeof(version) - 1;
	put32(pkt + n, (uint32_t)(1 + payload + pad));
	n += 4;
	pkt[n++] = (uint8_t)pad;
	pkt[n++] = 1; /* SSH_MSG_DISCONNECT */
	put32(pkt + n, 12); /* SSH_DISCONNECT_TOO_MANY_CONNECTIONS */
	n += 4;
	put32(pkt + n, sizeof(why) - 1);
	n += 4;
	memcpy(pkt + n, why, sizeof(why) - 1);
	n += sizeof(why) - 1;
	put32(pkt + n, 0); /* language tag */
	n += 4;
	memset(pkt + n, 0, pad);
	n += pad;
	if (send(fd, pkt, n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* nothing more to do for it */
	}
	shutdown(fd, SHUT_WR);

	long long now = now_ms();
	if (now - s->refused_logged_at >= 10000) {
		log_warn("ssh: connection from %s refused: too many %s%s",
			 peer, what,
			 s->refused_quiet ? " (more refused since the last such line)" : "");
		s->refused_logged_at = now;
		s->refused_quiet = 0;
	} else {
		s->refused_quiet++;
	}
	for (int i = 0; i < MAX_REFUSED; i++) {
		if (s->refused[i].fd < 0) {
			s->refused[i].fd = fd;
			s->refused[i].until = now + REFUSED_LINGER_MS;
			return;
		}
	}
	close(fd);
}

static void refused_poll(struct ssh_server *s, bool all)
{
	long long now = now_ms();
	char buf[512];

	for (int i = 0; i < MAX_REFUSED; i++) {
		struct refused *r = &s->refused[i];
		if (r->fd < 0)
			continue;
		ssize_t n;
		while ((n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			;
		if (all || n == 0 || (n < 0 && errno != EAGAIN) ||
		    now >= r->until) {
			close(r->fd);
			r->fd = -1;
		}
	}
}

static void *conn_main(void *arg)
{
	struct conn_thread *ct = arg;
	struct ssh_server *s = ct->srv;

	ssh_log_setup_thread();
	ssh_conn_serve(&s->cfg, ct->session, ct->peer);
	ssh_free(ct->session);
	ct->session = NULL;
	atomic_fetch_sub(&s->active, 1);
	atomic_store(&ct->done, true);
	return NULL;
}

/* Joins finished connection threads (all of them with all). */
static void reap(struct ssh_server *s, bool all)
{
	struct conn_thread **pp = &s->conns;

	while (*pp) {
		struct conn_thread *ct = *pp;
		if (!all && !atomic_load(&ct->done)) {
			pp = &ct->next;
			continue;
		}
		pthread_join(ct->th, NULL);
		*pp = ct->next;
		free(ct);
	}
}

static void accept_one(struct ssh_server *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn_thread *ct;
	char peer[PEER_MAX];
	int fd, err;

	fd = accept4(s->lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn_once("ssh: accept: %s (connections wait)",
				      strerror(errno));
			usleep(100 * 1000);
		}
		return;
	}
	peer_name(&ss, peer);
	if (atomic_load(&s->active) >= s->max) {
		turn_away(s, fd, peer, "connections");
		return;
	}
	/* As OpenSSH's MaxStartups: strangers who do not authenticate
	 * cannot take every slot from the tenants. */
	if (atomic_load(&s->unauth) >= s->max_unauth) {
		turn_away(s, fd, peer, "connections still authenticating");
		return;
	}
	tune_socket(fd);
	ct = calloc(1, sizeof(*ct));
	if (ct)
		ct->session = ssh_new();
	if (!ct || !ct->session) {
		log_warn("ssh: connection from %s dropped: out of memory", peer);
		free(ct);
		close(fd);
		return;
	}
	ct->srv = s;
	snprintf(ct->peer, sizeof(ct->peer), "%s", peer);
	/* From here libssh owns fd (ssh_free closes it). */
	if (ssh_bind_accept_fd(s->bind, ct->session, fd) != SSH_OK) {
		log_warn("ssh: connection from %s dropped: %s", peer,
			 ssh_get_error(s->bind));
		ssh_free(ct->session);
		free(ct);
		return;
	}
	atomic_fetch_add(&s->active, 1);
	atomic_fetch_add(&s->unauth, 1);
	err = start_thread(&ct->th, conn_main, ct);
	if (err) {
		atomic_fetch_sub(&s->active, 1);
		atomic_fetch_sub(&s->unauth, 1);
		log_errno(err, "ssh: connection from %s dropped: thread", peer);
		ssh_free(ct->session);
		free(ct);
		return;
	}
	log_debug("ssh: connection from %s", peer);
	ct->next = s->conns;
	s->conns = ct;
}

static void *accept_main(void *arg)
{
	struct ssh_server *s = arg;

	ssh_log_setup_thread();
	for (;;) {
		struct pollfd p[2 + MAX_REFUSED] = {
			{ .fd = s->lfd, .events = POLLIN },
			{ .fd = s->stop_fd, .events = POLLIN },
		};
		int n = 2, timeout = -1;
		for (int i = 0; i < MAX_REFUSED; i++) {
			if (s->refused[i].fd >= 0) {
				p[n++] = (struct pollfd){ .fd = s->refused[i].fd,
							  .events = POLLIN };
				timeout = 250;
			}
		}
		if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			log_errno(-errno, "ssh: poll");
			usleep(100 * 1000);
		}
		if (p[1].revents)
			break;
		reap(s, false);
		refused_poll(s, false);
		if (p[0].revents)
			accept_one(s);
	}
	refused_poll(s, true);
	return NULL;
}

static int check_vms(const struct ssh_vm *vms, size_t nvms)
{
	if (!vms || nvms == 0) {
		log_error("SSH server: no VM to serve");
		return -EINVAL;
	}
	for (size_t i = 0; i < nvms; i++) {
		if (!vms[i].name || !vms[i].name[0] || !vms[i].hub) {
			log_error("SSH server: VM %zu has no name or no console", i);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(vms[i].name, vms[j].name) == 0) {
				log_error("SSH server: two VMs named %s",
					  vms[i].name);
				return -EINVAL;
			}
		}
		if (!vms[i].authorized_keys)
			log_warn("SSH server: VM %s has no authorized_keys file: nobody can log in to it",
				 vms[i].name);
	}
	return 0;
}

static void server_free(struct ssh_server *s)
{
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	if (s->bind)
		ssh_bind_free(s->bind);
	if (s->aklog) {
		for (size_t i = 0; i < s->cfg.nvms; i++)
			ssh_ak_log_destroy(&s->aklog[i]);
		free(s->aklog);
	}
	free(s->listen);
	free(s);
	ssh_finalize();
}

struct ssh_server *ssh_server_start(const struct ssh_server_opts *o,
				    const struct ssh_vm *vms, size_t nvms)
{
	struct ssh_server *s;
	ssh_key keys[SSH_HOSTKEYS_MAX];
	int nkeys, err;
	bool no = false;

	if (!o || check_vms(vms, nvms))
		return NULL;
	if (ssh_init() != SSH_OK) {
		log_error("SSH server: libssh initialisation failed");
		return NULL;
	}
	ssh_log_setup_thread();
	s = calloc(1, sizeof(*s));
	if (!s) {
		ssh_finalize();
		return NULL;
	}
	s->lfd = -1;
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (int i = 0; i < MAX_REFUSED; i++)
		s->refused[i].fd = -1;
	s->listen = strdup(o->listen ? o->listen : "");
	s->aklog = calloc(nvms, sizeof(*s->aklog));
	s->bind = ssh_bind_new();
	if (s->stop_fd < 0 || !s->listen || !s->aklog || !s->bind) {
		log_error("SSH server: out of resources");
		goto fail;
	}
	for (size_t i = 0; i < nvms; i++)
		ssh_ak_log_init(&s->aklog[i]);
	s->cfg = (struct ssh_srv_cfg){
		.vms = vms,
		.nvms = nvms,
		.aklog = s->aklog,
		.escape = o->escape == 0 ? SSH_ESCAPE_DEFAULT
			  : o->escape < 0 ? -1 : (o->escape & 0xff),
		.replay = o->replay ? o->replay : DEFAULT_REPLAY,
		.grace_ms = 1000 * (o->login_grace > 0 ? o->login_grace
						       : DEFAULT_GRACE_S),
		.stop_fd = s->stop_fd,
	};
	s->max = o->max_sessions > 0 ? o->max_sessions : DEFAULT_MAX_SESSIONS;
	s->max_unauth = s->max / 4 > 0 ? s->max / 4 : 1;
	s->cfg.unauth = &s->unauth;

	/* libssh must not read /etc/libssh/libssh_server.config: our policy
	 * is in the code. */
	ssh_bind_options_set(s->bind, SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
	nkeys = ssh_hostkeys_load(o->host_key_dir, keys);
	if (nkeys < 0)
		goto fail;
	for (int i = 0; i < nkeys; i++) {
		/* On success the bind owns the key. */
		if (ssh_bind_options_set(s->bind, SSH_BIND_OPTIONS_IMPORT_KEY,
					 keys[i]) != SSH_OK) {
			log_error("SSH server: host key rejected: %s",
				  ssh_get_error(s->bind));
			for (int j = i; j < nkeys; j++)
				ssh_key_free(keys[j]);
			goto fail;
		}
	}

	s->lfd = ssh_listen_open(s->listen, &s->port);
	if (s->lfd < 0)
		goto fail;
	err = start_thread(&s->th, accept_main, s);
	if (err) {
		log_errno(err, "SSH server: thread");
		goto fail;
	}
	s->started = true;
	log_info("SSH server listening on %s (port %d), %zu VM%s, public keys only",
		 s->listen, s->port, nvms, nvms == 1 ? "" : "s");
	return s;
fail:
	server_free(s);
	return NULL;
}

int ssh_server_port(const struct ssh_server *s)
{
	return s ? s->port : 0;
}

void ssh_server_stop(struct ssh_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	/* The stop eventfd stays readable: the accept loop and every
	 * connection's loop see it. */
	if (write(s->stop_fd, &one, sizeof(one)) < 0)
		log_errno(-errno, "ssh: stop");
	if (s->started)
		pthread_join(s->th, NULL);
	reap(s, true);
	server_free(s);
	log_info("SSH server stopped");
}
