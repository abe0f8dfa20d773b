#include "control.h"
#include "log.h"
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_LINE_MAX 256
/* An introspection tool keeps its connection for its whole session, so
 * several clients are served at once (one command at a time). */
#define CONTROL_CLIENTS 8
#define REPLY_MAX 1536

struct client {
	int fd; /* -1: free slot */
	size_t len;
	char line[CONTROL_LINE_MAX + 1];
};

struct control {
	struct vm *vm;
	struct control_hooks hooks;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int stop_efd;
	pthread_t thread;
	bool paused;
	struct client clients[CONTROL_CLIENTS];
};

/* Sends one reply line, with pass_fd attached when >= 0. Never blocks: a
 * client that leaves its replies unread until its socket fills up is
 * dropped (-1) rather than stalling the other clients and vsbd's exit. */
static int reply_fd(int fd, const char *text, int pass_fd)
{
	size_t len = strlen(text);
	struct iovec iov = { .iov_base = (void *)text, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;

	if (pass_fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == (ssize_t)len)
		return 0;
	log_debug("control reply: %s", n < 0 ? strerror(errno) : "short");
	return -1;
}

static int reply(int fd, const char *text)
{
	return reply_fd(fd, text, -1);
}

/* "memory" / "memory rw": a new open file description of the RAM memfd,
 * read-only unless asked, so a reader cannot write guest RAM by mistake. */
static int cmd_memory(struct control *c, int fd, bool rw)
{
	char path[64], text[128];
	int mfd, ret;

	if (c->vm->mem.fd < 0)
		return reply(fd, "error no guest RAM file\n");
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->vm->mem.fd);
	mfd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (mfd < 0) {
		log_warn("control: cannot reopen guest RAM: %s",
			 strerror(errno));
		return reply(fd, "error cannot open guest RAM\n");
	}
	snprintf(text, sizeof(text), "ok memory size=%llu vcpus=%d\n",
		 (unsigned long long)c->vm->mem.size, c->vm->nr_vcpus);
	ret = reply_fd(fd, text, mfd);
	close(mfd);
	return ret;
}

/* A vCPU number: digits only. -EINVAL when malformed, -ERANGE when no
 * such vCPU (however many digits). */
static int parse_vcpu(const char *s, int nr, int *out)
{
	long v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v < nr) /* saturates: no overflow */
			v = v * 10 + (*s - '0');
	}
	if (v >= nr)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

struct text {
	char buf[REPLY_MAX];
	size_t len;
};

static void put(struct text *t, const char *name, unsigned long long v)
{
	int n = snprintf(t->buf + t->len, sizeof(t->buf) - t->len,
			 " %s=0x%llx", name, v);
	if (n > 0 && (size_t)n < sizeof(t->buf) - t->len)
		t->len += (size_t)n;
}

static void put_regs(struct text *t, const struct kvm_regs *r,
		     const struct kvm_sregs *s)
{
	const struct { const char *name; unsigned long long v; } f[] = {
		{ "rax", r->rax }, { "rbx", r->rbx }, { "rcx", r->rcx },
		{ "rdx", r->rdx }, { "rsi", r->rsi }, { "rdi", r->rdi },
		{ "rsp", r->rsp }, { "rbp", r->rbp }, { "r8", r->r8 },
		{ "r9", r->r9 }, { "r10", r->r10 }, { "r11", r->r11 },
		{ "r12", r->r12 }, { "r13", r->r13 }, { "r14", r->r14 },
		{ "r15", r->r15 }, { "rip", r->rip }, { "rflags", r->rflags },
		{ "cr0", s->cr0 }, { "cr2", s->cr2 }, { "cr3", s->cr3 },
		{ "cr4", s->cr4 }, { "efer", s->efer },
		{ "fs_base", s->fs.base }, { "gs_base", s->gs.base },
		{ "gdt_base", s->gdt.base }, { "gdt_limit", s->gdt.limit },
		{ "idt_base", s->idt.base }, { "idt_limit", s->idt.limit },
		{ "cs", s->cs.selector }, { "ss", s->ss.selector },
		{ "ds", s->ds.selector }, { "es", s->es.selector },
		{ "fs", s->fs.selector }, { "gs", s->gs.selector },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		put(t, f[i].name, f[i].v);
}

/* "regs N". The register ioctls must not race the vCPU thread's KVM_RUN
 * (they would wait for it, or see state mid-exit): the VM is paused for
 * the read unless it already is. */
static int cmd_regs(struct control *c, int fd, const char *arg)
{
	struct vm *vm = c->vm;
	struct kvm_regs r;
	struct kvm_sregs s;
	struct text t = { .len = 0 };
	int id, ok, err = 0;

	int ret = parse_vcpu(arg, vm->nr_vcpus, &id);
	if (ret == -ERANGE)
		return reply(fd, "error no such vcpu\n");
	if (ret)
		return reply(fd, "error usage: regs N\n");
	if (vm->vcpus[id].fd < 0)
		return reply(fd, "error vcpu not created\n");
	if (!c->paused)
		vm_pause(vm);
	ok = ioctl(vm->vcpus[id].fd, KVM_GET_REGS, &r) == 0 &&
	     ioctl(vm->vcpus[id].fd, KVM_GET_SREGS, &s) == 0;
	if (!ok)
		err = errno;
	if (!c->paused)
		vm_resume(vm);
	if (!ok) {
		log_warn("control: registers of vCPU %d: %s", id,
			 strerror(err));
		return reply(fd, "error cannot read registers\n");
	}
	t.len = (size_t)snprintf(t.buf, sizeof(t.buf), "ok regs");
	put_regs(&t, &r, &s);
	if (t.len + 2 > sizeof(t.buf))
		return reply(fd, "error reply too long\n"); /* cannot happen */
	strcpy(t.buf + t.len, "\n");
	return reply(fd, t.buf);
}

static int cmd_operator(struct control *c, int fd)
{
	char text[256] = "ok none\n";

	if (c->hooks.operator_status) {
		char st[200];
		c->hooks.operator_status(c->hooks.ctx, st, sizeof(st));
		snprintf(text, sizeof(text), "ok %s\n", st);
	}
	return reply(fd, text);
}

/* Returns -1 when the client must be dropped. */
static int run_command(struct control *c, int fd, const char *cmd)
{
	char text[64];

	if (strcmp(cmd, "status") == 0)
		return reply(fd, c->paused ? "ok paused\n" : "ok running\n");
	if (strcmp(cmd, "pause") == 0) {
		vm_pause(c->vm);
		c->paused = true;
		return reply(fd, "ok paused\n");
	}
	if (strcmp(cmd, "resume") == 0) {
		vm_resume(c->vm);
		c->paused = false;
		return reply(fd, "ok running\n");
	}
	if (strcmp(cmd, "stop") == 0) {
		int ret = reply(fd, "ok stopping\n");
		vm_request_stop(c->vm, VM_STOP_SIGNAL + SIGTERM);
		return ret;
	}
	if (strcmp(cmd, "operator") == 0)
		return cmd_operator(c, fd);
	if (strcmp(cmd, "vcpus") == 0) {
		snprintf(text, sizeof(text), "ok vcpus %d\n", c->vm->nr_vcpus);
		return reply(fd, text);
	}
	if (strcmp(cmd, "memory") == 0)
		return cmd_memory(c, fd, false);
	if (strcmp(cmd, "memory rw") == 0)
		return cmd_memory(c, fd, true);
	if (strncmp(cmd, "memory ", 7) == 0)
		return reply(fd, "error usage: memory [rw]\n");
	if (strcmp(cmd, "regs") == 0)
		return reply(fd, "error usage: regs N\n");
	if (strncmp(cmd, "regs ", 5) == 0)
		return cmd_regs(c, fd, cmd + 5);
	return reply(fd, "error unknown command\n");
}

/* Reads what one client sent and runs its complete lines. Returns -1 when
 * the client hung up, sent an over-long line or must be dropped. */
static int serve(struct control *c, struct client *cl)
{
	ssize_t n = recv(cl->fd, cl->line + cl->len,
			 CONTROL_LINE_MAX - cl->len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	cl->len += (size_t)n;
	char *nl;
	while ((nl = memchr(cl->line, '\n', cl->len))) {
		size_t llen = (size_t)(nl - cl->line);
		int ret;
		/* A NUL would hide the rest of the line from strcmp. */
		bool nul = memchr(cl->line, '\0', llen) != NULL;
		*nl = '\0';
		if (llen && nl[-1] == '\r')
			nl[-1] = '\0';
		if (nul)
			ret = reply(cl->fd, "error bad line\n");
		else
			ret = run_command(c, cl->fd, cl->line);
		if (ret)
			return -1;
		cl->len -= llen + 1;
		memmove(cl->line, nl + 1, cl->len);
	}
	if (cl->len == CONTROL_LINE_MAX) {
		reply(cl->fd, "error line too long\n");
		return -1;
	}
	return 0;
}

static void accept_client(struct control *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		if (c->clients[i].fd < 0) {
			c->clients[i].fd = fd;
			c->clients[i].len = 0;
			return;
		}
	}
	reply(fd, "error too many clients\n");
	close(fd);
}

static void *control_thread(void *arg)
{
	struct control *c = arg;

	for (;;) {
		struct pollfd p[2 + CONTROL_CLIENTS];
		struct client *who[2 + CONTROL_CLIENTS];
		nfds_t n = 2;

		p[0] = (struct pollfd){ c->listen_fd, POLLIN, 0 };
		p[1] = (struct pollfd){ c->stop_efd, POLLIN, 0 };
		for (int i = 0; i < CONTROL_CLIENTS; i++) {
			if (c->clients[i].fd < 0)
				continue;
			who[n] = &c->clients[i];
			p[n++] = (struct pollfd){ c->clients[i].fd, POLLIN, 0 };
		}
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		for (nfds_t i = 2; i < n; i++) {
			if (p[i].revents && serve(c, who[i]) < 0) {
				close(who[i]->fd);
				who[i]->fd = -1;
			}
		}
		if (p[0].revents)
			accept_client(c);
	}
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			close(c->clients[i].fd);
	return NULL;
}

struct control *control_open(const char *path, struct vm *vm,
			     const struct control_hooks *hooks)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct control *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (strlen(path) >= sizeof(a.sun_path)) {
		log_error("control socket path too long: %s", path);
		free(c);
		return NULL;
	}
	c->vm = vm;
	if (hooks)
		c->hooks = *hooks;
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		c->clients[i].fd = -1;
	strcpy(c->path, path);
	strcpy(a.sun_path, path);
	c->stop_efd = eventfd(0, EFD_CLOEXEC);
	/* Non-blocking: a client gone between poll and accept must not
	 * block the thread. */
	c->listen_fd = socket(AF_UNIX,
			      SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	/* Only the owner may control the VM. */
	mode_t old = umask(0177);
	int ok = c->stop_efd >= 0 && c->listen_fd >= 0 &&
		 bind(c->listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		 listen(c->listen_fd, 4) == 0;
	umask(old);
	if (!ok || pthread_create(&c->thread, NULL, control_thread, c) != 0) {
		log_errno(-errno, "control socket %s", path);
		if (c->listen_fd >= 0)
			close(c->listen_fd);
		if (c->stop_efd >= 0)
			close(c->stop_efd);
		free(c);
		return NULL;
	}
	return c;
}

void control_close(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (write(c->stop_efd, &one, sizeof(one)) < 0)
		log_debug("control stop: %s", strerror(errno));
	pthread_join(c->thread, NULL);
	close(c->listen_fd);
	close(c->stop_efd);
	unlink(c->path);
	free(c);
}
