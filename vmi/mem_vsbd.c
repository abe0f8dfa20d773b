/* Backend: a vsbd guest through vsbd's control socket (see mem_vsbd.h).
 * The peer is trusted to be vsbd but every reply is checked as if it were
 * not: bounded lines within a time limit, exact formats, exactly one fd
 * where one is expected, so a broken or hostile peer gives an error
 * (-EPROTO, -ETIMEDOUT), never a crash or a leaked descriptor. */
#include "mem_vsbd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mem_file.h"
#include "vmi_err.h"
#include "vmi_text.h"

/* vsbd's longest reply ("ok regs ...") is about 1 KiB. */
#define REPLY_MAX 4096
/* Room for more fds than expected, so extra ones are seen (and closed). */
#define MAX_FDS 8
#define MAX_VCPUS 4096

struct mem_vsbd {
	struct vmi_mem mem;
	struct vmi_mem *ram; /* mem_file over the RAM memfd */
	int sock;
	int timeout_ms;
	unsigned nr_vcpus;
	bool broken; /* replies may be out of step: no more commands */
	size_t len;  /* bytes in buf not yet returned */
	char buf[REPLY_MAX];
};

static struct mem_vsbd *to_vs(struct vmi_mem *m)
{
	return (struct mem_vsbd *)m;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n && i < MAX_FDS; i++)
		close(fds[i]);
}

static int send_cmd(struct mem_vsbd *v, const char *cmd, char *err,
		    size_t errlen)
{
	char line[64];
	size_t len, done = 0;

	len = (size_t)snprintf(line, sizeof(line), "%s\n", cmd);
	while (done < len) {
		ssize_t n = send(v->sock, line + done, len - done,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int ret = n < 0 && errno != EAGAIN ? -errno
							   : -ETIMEDOUT;
			v->broken = true;
			return vmi_err(err, errlen, ret, "cannot send '%s' to "
				       "vsbd: %s", cmd, strerror(-ret));
		}
		done += (size_t)n;
	}
	return 0;
}

/* Takes the SCM_RIGHTS fds of one recvmsg: the first MAX_FDS into fds,
 * all of them counted in *nfds. */
static void take_fds(struct msghdr *msg, int *fds, unsigned *nfds)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
	     cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS ||
		    cm->cmsg_len < CMSG_LEN(0))
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (*nfds < MAX_FDS)
				fds[*nfds] = fd;
			else
				close(fd);
			(*nfds)++;
		}
	}
}

/* Receives one reply line into line[REPLY_MAX] (without its '\n') and the
 * fds sent with it: at most MAX_FDS kept in fds, *nfds counting all. On
 * error every fd is closed and the connection marked broken. */
static int recv_reply(struct mem_vsbd *v, const char *cmd, char *line,
		      int *fds, unsigned *nfds, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + v->timeout_ms;
	bool lost = false;
	char *nl;
	int ret;

	*nfds = 0;
	while (!(nl = memchr(v->buf, '\n', v->len))) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
		} u;
		struct iovec iov = { v->buf + v->len, sizeof(v->buf) - v->len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = u.buf,
				      .msg_controllen = sizeof(u.buf) };
		struct pollfd p = { v->sock, POLLIN, 0 };
		int64_t left = deadline - now_ms();

		if (v->len == sizeof(v->buf)) {
			ret = vmi_err(err, errlen, -EPROTO, "vsbd's reply to "
				      "'%s' is longer than %d bytes", cmd,
				      REPLY_MAX);
			goto fail;
		}
		if (left <= 0 || (ret = poll(&p, 1, (int)left)) == 0) {
			ret = vmi_err(err, errlen, -ETIMEDOUT, "no reply to "
				      "'%s' from vsbd within %d ms", cmd,
				      v->timeout_ms);
			goto fail;
		}
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			ret = -errno;
			vmi_err(err, errlen, ret, "waiting for vsbd: %s",
				strerror(-ret));
			goto fail;
		}
		ssize_t n = recvmsg(v->sock, &msg,
				    MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			ret = -errno;
			vmi_err(err, errlen, ret, "reading vsbd's reply to "
				"'%s': %s", cmd, strerror(-ret));
			goto fail;
		}
		take_fds(&msg, fds, nfds);
		if (msg.msg_flags & MSG_CTRUNC)
			lost = true;
		if (n == 0) {
			ret = vmi_err(err, errlen, -EPROTO, "vsbd closed the "
				      "connection before replying to '%s'",
				      cmd);
			goto fail;
		}
		v->len += (size_t)n;
	}
	size_t llen = (size_t)(nl - v->buf);
	memcpy(line, v->buf, llen);
	line[llen] = '\0';
	v->len -= llen + 1;
	memmove(v->buf, nl + 1, v->len);
	/* One command, one line: anything more is a peer out of step. */
	if (v->len) {
		ret = vmi_err(err, errlen, -EPROTO, "vsbd sent more than one "
			      "line in reply to '%s'", cmd);
		goto fail;
	}
	if (lost) {
		ret = vmi_err(err, errlen, -EPROTO, "vsbd sent more than %d "
			      "fds in reply to '%s'", MAX_FDS, cmd);
		goto fail;
	}
	for (size_t i = 0; i < llen; i++) {
		if (line[i] < 0x20 || line[i] > 0x7e) {
			ret = vmi_err(err, errlen, -EPROTO, "vsbd's reply to "
				      "'%s' is not text", cmd);
			goto fail;
		}
	}
	return 0;
fail:
	close_fds(fds, *nfds);
	*nfds = 0;
	v->broken = true;
	return ret;
}

/* Sends cmd and receives its reply line; fds as recv_reply's. */
static int transact_fds(struct mem_vsbd *v, const char *cmd, char *line,
			int *fds, unsigned *nfds, char *err, size_t errlen)
{
	*nfds = 0;
	if (v->broken)
		return vmi_err(err, errlen, -ENOTCONN, "connection to vsbd "
			       "unusable after an earlier error");
	int ret = send_cmd(v, cmd, err, errlen);
	if (ret)
		return ret;
	return recv_reply(v, cmd, line, fds, nfds, err, errlen);
}

/* The same for replies that carry no fd. */
static int transact(struct mem_vsbd *v, const char *cmd, char *line,
		    char *err, size_t errlen)
{
	int fds[MAX_FDS];
	unsigned nfds;
	int ret = transact_fds(v, cmd, line, fds, &nfds, err, errlen);

	if (ret)
		return ret;
	if (nfds) {
		close_fds(fds, nfds);
		v->broken = true;
		return vmi_err(err, errlen, -EPROTO, "vsbd sent an fd with "
			       "its reply to '%s'", cmd);
	}
	return 0;
}

static bool is_error_reply(const char *line)
{
	return strcmp(line, "error") == 0 || strncmp(line, "error ", 6) == 0;
}

/* Decimal digits (at least one) fitting 64 bits; the end, or NULL. */
static const char *parse_dec(const char *s, uint64_t *v)
{
	const char *p = s;
	uint64_t x = 0;

	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
	}
	if (p == s)
		return NULL;
	*v = x;
	return p;
}

/* "0x" and hex digits (at least one) fitting 64 bits; the end, or NULL. */
static const char *parse_hex(const char *s, uint64_t *v)
{
	const char *p;
	uint64_t x = 0;
	int d;

	if (s[0] != '0' || s[1] != 'x')
		return NULL;
	for (p = s + 2; (d = vmi_hexval(*p)) >= 0; p++) {
		if (x >> 60)
			return NULL;
		x = x << 4 | (uint64_t)d;
	}
	if (p == s + 2)
		return NULL;
	*v = x;
	return p;
}

/* "ok memory size=BYTES vcpus=N", nothing else. */
static int parse_memory(const char *line, uint64_t *size, uint64_t *ncpu)
{
	static const char head[] = "ok memory size=", mid[] = " vcpus=";
	const char *p;

	if (strncmp(line, head, sizeof(head) - 1))
		return -EPROTO;
	p = parse_dec(line + sizeof(head) - 1, size);
	if (!p || strncmp(p, mid, sizeof(mid) - 1))
		return -EPROTO;
	p = parse_dec(p + sizeof(mid) - 1, ncpu);
	if (!p || *p)
		return -EPROTO;
	return 0;
}

#define REG(n) { #n, offsetof(struct vmi_regs, n), \
		 sizeof(((struct vmi_regs *)0)->n) }

static const struct reg_field {
	const char *name;
	size_t off;
	size_t size;
} reg_fields[] = {
	REG(rax), REG(rbx), REG(rcx), REG(rdx), REG(rsi), REG(rdi),
	REG(rsp), REG(rbp), REG(r8), REG(r9), REG(r10), REG(r11),
	REG(r12), REG(r13), REG(r14), REG(r15), REG(rip), REG(rflags),
	REG(cr0), REG(cr2), REG(cr3), REG(cr4), REG(fs_base), REG(gs_base),
	REG(gdt_base), REG(gdt_limit), REG(idt_base), REG(idt_limit),
	REG(cs), REG(ss), REG(ds), REG(es), REG(fs), REG(gs),
};

#define NR_REG_FIELDS (sizeof(reg_fields) / sizeof(reg_fields[0]))
_Static_assert(NR_REG_FIELDS <= 64, "seen is a 64-bit mask");

static void store_reg(struct vmi_regs *r, const struct reg_field *f,
		      uint64_t v)
{
	char *at = (char *)r + f->off;
	uint16_t v16 = (uint16_t)v;
	uint32_t v32 = (uint32_t)v;

	if (f->size == 2)
		memcpy(at, &v16, 2);
	else if (f->size == 4)
		memcpy(at, &v32, 4);
	else
		memcpy(at, &v, 8);
}

/* "ok regs" then " name=0xHEX" for every field of reg_fields, each once,
 * fitting its width. Other well-formed names (efer) are skipped, so vsbd
 * may add registers. */
static int parse_regs(const char *line, struct vmi_regs *r)
{
	static const char head[] = "ok regs";
	uint64_t seen = 0;
	const char *p;

	if (strncmp(line, head, sizeof(head) - 1))
		return -EPROTO;
	p = line + sizeof(head) - 1;
	while (*p) {
		const char *name, *eq;
		uint64_t v;
		size_t i;

		if (*p++ != ' ')
			return -EPROTO;
		name = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		       *p == '_')
			p++;
		if (p == name || *p != '=')
			return -EPROTO;
		eq = p;
		p = parse_hex(eq + 1, &v);
		if (!p || (*p && *p != ' '))
			return -EPROTO;
		for (i = 0; i < NR_REG_FIELDS; i++)
			if (strlen(reg_fields[i].name) == (size_t)(eq - name) &&
			    !memcmp(reg_fields[i].name, name,
				    (size_t)(eq - name)))
				break;
		if (i == NR_REG_FIELDS)
			continue;
		if (seen & (1ull << i))
			return -EPROTO;
		if (reg_fields[i].size < 8 && v >> (reg_fields[i].size * 8))
			return -EPROTO;
		seen |= 1ull << i;
		store_reg(r, &reg_fields[i], v);
	}
	if (seen != (NR_REG_FIELDS == 64 ? ~0ull
					 : (1ull << NR_REG_FIELDS) - 1))
		return -EPROTO;
	return 0;
}

static ssize_t vs_read(struct vmi_mem *m, uint64_t pa, void *buf, size_t len)
{
	struct vmi_mem *ram = to_vs(m)->ram;

	return ram->ops->read(ram, pa, buf, len);
}

static ssize_t vs_write(struct vmi_mem *m, uint64_t pa, const void *buf,
			size_t len)
{
	struct vmi_mem *ram = to_vs(m)->ram;

	return ram->ops->write(ram, pa, buf, len);
}

static int vs_next(struct vmi_mem *m, uint64_t pa, struct vmi_range *r)
{
	struct vmi_mem *ram = to_vs(m)->ram;

	return ram->ops->next_range(ram, pa, r);
}

static unsigned vs_nr_vcpus(struct vmi_mem *m)
{
	return to_vs(m)->nr_vcpus;
}

static int vs_get_regs(struct vmi_mem *m, unsigned vcpu, struct vmi_regs *r)
{
	struct mem_vsbd *v = to_vs(m);
	struct vmi_regs regs = { 0 };
	char cmd[32], line[REPLY_MAX];
	int ret;

	if (vcpu >= v->nr_vcpus)
		return -EINVAL;
	snprintf(cmd, sizeof(cmd), "regs %u", vcpu);
	ret = transact(v, cmd, line, NULL, 0);
	if (ret)
		return ret;
	if (strcmp(line, "error no such vcpu") == 0)
		return -EINVAL;
	if (is_error_reply(line))
		return -EIO;
	if (parse_regs(line, &regs))
		return -EPROTO;
	regs.valid = VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR | VMI_REGS_DT;
	regs.cpu_id = vcpu;
	*r = regs;
	return 0;
}

/* pause / resume: the one reply vsbd gives, or an error. */
static int simple_cmd(struct mem_vsbd *v, const char *cmd, const char *ok)
{
	char line[REPLY_MAX];
	int ret = transact(v, cmd, line, NULL, 0);

	if (ret)
		return ret;
	if (strcmp(line, ok) == 0)
		return 0;
	return is_error_reply(line) ? -EIO : -EPROTO;
}

static int vs_pause(struct vmi_mem *m)
{
	return simple_cmd(to_vs(m), "pause", "ok paused");
}

static int vs_resume(struct vmi_mem *m)
{
	return simple_cmd(to_vs(m), "resume", "ok running");
}

static void vs_free(struct mem_vsbd *v)
{
	if (v->sock >= 0)
		close(v->sock);
	vmi_mem_close(v->ram);
	free(v);
}

static void vs_close(struct vmi_mem *m)
{
	/* The guest's run state is left as it is: `vmi pause` is meant to
	 * outlive the tool, as QEMU's stop does. */
	vs_free(to_vs(m));
}

/* Writes reach the file backend, which refuses them (-EROFS) unless it
 * was opened writable. */
static const struct vmi_mem_ops vsbd_ops = {
	.name = "vsbd",
	.read = vs_read,
	.write = vs_write,
	.next_range = vs_next,
	.nr_vcpus = vs_nr_vcpus,
	.get_regs = vs_get_regs,
	.pause = vs_pause,
	.resume = vs_resume,
	.close = vs_close,
};

static int connect_control(struct mem_vsbd *v, const char *path, char *err,
			   size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	/* Bounds connect (a full backlog) and every send. */
	struct timeval tv = { .tv_sec = v->timeout_ms / 1000,
			      .tv_usec = (v->timeout_ms % 1000) * 1000 };
	int ret;

	if (strlen(path) >= sizeof(a.sun_path))
		return vmi_err(err, errlen, -ENAMETOOLONG, "control socket "
			       "path too long: %s", path);
	strcpy(a.sun_path, path);
	v->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v->sock < 0 ||
	    setsockopt(v->sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		ret = -errno;
		return vmi_err(err, errlen, ret, "socket: %s", strerror(-ret));
	}
	if (connect(v->sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
		ret = errno == EAGAIN ? -ETIMEDOUT : -errno;
		return vmi_err(err, errlen, ret, "cannot connect to vsbd's "
			       "control socket %s: %s", path, strerror(-ret));
	}
	return 0;
}

/* Checks the RAM fd against the reply and maps it. */
static int map_ram(struct mem_vsbd *v, int fd, uint64_t size, bool writable,
		   char *err, size_t errlen)
{
	struct vmi_region r[2];
	struct stat st;
	int n;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;
		return vmi_err(err, errlen, ret, "cannot stat vsbd's guest "
			       "RAM fd: %s", strerror(-ret));
	}
	if (!S_ISREG(st.st_mode))
		return vmi_err(err, errlen, -EPROTO, "vsbd's guest RAM fd is "
			       "not a memfd or regular file");
	if ((uint64_t)st.st_size != size)
		return vmi_err(err, errlen, -EPROTO, "vsbd's guest RAM fd "
			       "holds %lld bytes, its reply says %" PRIu64,
			       (long long)st.st_size, size);
	if (writable && (fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
		return vmi_err(err, errlen, -EPROTO, "vsbd sent a read-only "
			       "guest RAM fd for 'memory rw'");
	n = vmi_layout_vsbd(size, r);
	if (n < 0)
		return vmi_err(err, errlen, n, "no vsbd layout for %" PRIu64
			       " bytes of RAM", size);
	return vmi_mem_file_open_fd_rw(fd, r, (unsigned)n, writable, &v->ram,
				       err, errlen);
}

int vmi_mem_vsbd_open_timeout(const char *control_path, bool writable,
			      int timeout_ms, struct vmi_mem **out, char *err,
			      size_t errlen)
{
	const char *cmd = writable ? "memory rw" : "memory";
	char line[REPLY_MAX];
	int fds[MAX_FDS];
	unsigned nfds;
	uint64_t size, ncpu;
	struct mem_vsbd *v;
	int ret;

	*out = NULL;
	if (timeout_ms <= 0)
		return vmi_err(err, errlen, -EINVAL, "timeout %d ms",
			       timeout_ms);
	v = calloc(1, sizeof(*v));
	if (!v)
		return vmi_err(err, errlen, -ENOMEM, "out of memory");
	v->sock = -1;
	v->timeout_ms = timeout_ms;
	ret = connect_control(v, control_path, err, errlen);
	if (ret)
		goto fail;
	ret = transact_fds(v, cmd, line, fds, &nfds, err, errlen);
	if (ret)
		goto fail;
	if (is_error_reply(line)) {
		close_fds(fds, nfds);
		if (strcmp(line, "error unknown command") == 0)
			ret = vmi_err(err, errlen, -EOPNOTSUPP, "this vsbd "
				      "does not serve guest memory (older "
				      "version?)");
		else
			ret = vmi_err(err, errlen, -EIO, "vsbd: %.200s",
				      line);
		goto fail;
	}
	if (parse_memory(line, &size, &ncpu) || size == 0 || ncpu == 0 ||
	    ncpu > MAX_VCPUS) {
		close_fds(fds, nfds);
		ret = vmi_err(err, errlen, -EPROTO, "unexpected reply to "
			      "'%s': \"%.200s\"", cmd, line);
		goto fail;
	}
	if (nfds != 1) {
		close_fds(fds, nfds);
		ret = vmi_err(err, errlen, -EPROTO, "vsbd sent %u fds with its "
			      "reply to '%s' (expected 1)", nfds, cmd);
		goto fail;
	}
	ret = map_ram(v, fds[0], size, writable, err, errlen);
	close(fds[0]);
	if (ret)
		goto fail;
	v->nr_vcpus = (unsigned)ncpu;
	v->mem.ops = &vsbd_ops;
	*out = &v->mem;
	return 0;
fail:
	vs_free(v);
	return ret;
}

int vmi_mem_vsbd_open(const char *control_path, bool writable,
		      struct vmi_mem **out, char *err, size_t errlen)
{
	return vmi_mem_vsbd_open_timeout(control_path, writable,
					 VMI_VSBD_TIMEOUT_MS, out, err,
					 errlen);
}
