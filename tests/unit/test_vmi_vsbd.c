/* Tests of the vsbd introspection backend (vmi/mem_vsbd.c) and of the
 * control-socket commands behind it (vmm/control.c): against a real vsbd
 * ($VSB_BUILD/vsbd, two vCPUs, the PVH echo guest, which never starts its
 * second vCPU) and against fake control servers in a thread of this test,
 * which send what vsbd never would. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mem_vsbd.h"
#include "vmi_mem.h"

#define MIB (1ull << 20)
#define GUEST_RAM (64 * MIB)
#define CONTROL_TEST_CLIENTS 8 /* what vsbd serves at once */

static struct {
	char dir[64];
	char ctl[128];
	char fake[128];
	char err_path[128];
	char guest[PATH_MAX];
	uint8_t *elf;
	size_t elf_len;
	pid_t pid; /* vsbd, 0 when it could not run */
} g;

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;

	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size);
	if (buf && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void print_vsbd_stderr(void)
{
	size_t len;
	uint8_t *s = read_file(g.err_path, &len);

	if (s) {
		fprintf(stderr, "# vsbd stderr: %.*s\n", (int)len, s);
		free(s);
	}
}

/* Starts vsbd and waits until its control socket answers. */
static int start_vsbd(void **state)
{
	const char *build = getenv("VSB_BUILD");
	char vsbd[PATH_MAX];

	(void)state;
	if (!build)
		build = "build";
	snprintf(vsbd, sizeof(vsbd), "%s/vsbd", build);
	snprintf(g.guest, sizeof(g.guest), "%s/guests/echo.elf", build);
	strcpy(g.dir, "/tmp/vsb-vmi-vsbd-XXXXXX");
	if (!mkdtemp(g.dir))
		return -1;
	snprintf(g.ctl, sizeof(g.ctl), "%s/ctl.sock", g.dir);
	snprintf(g.fake, sizeof(g.fake), "%s/fake.sock", g.dir);
	snprintf(g.err_path, sizeof(g.err_path), "%s/stderr", g.dir);
	g.elf = read_file(g.guest, &g.elf_len);
	if (!g.elf || access(vsbd, X_OK) || access("/dev/kvm", R_OK | W_OK)) {
		fprintf(stderr, "# no %s, %s or /dev/kvm: vsbd tests skip\n",
			vsbd, g.guest);
		return 0;
	}
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		int err = open(g.err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (null < 0 || err < 0)
			_exit(127);
		dup2(null, 0);
		dup2(null, 1);
		dup2(err, 2);
		execl(vsbd, "vsbd", "run", "--control", g.ctl, "--console",
		      "none", "-c", "2", "-m", "64M", g.guest, (char *)NULL);
		_exit(127);
	}
	g.pid = pid;
	for (int64_t end = now_ms() + 10000; now_ms() < end;) {
		int fd = unix_connect(g.ctl);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			fprintf(stderr, "# vsbd exited\n");
			print_vsbd_stderr();
			g.pid = 0;
			return -1;
		}
		usleep(20000);
	}
	fprintf(stderr, "# vsbd's control socket never appeared\n");
	return -1;
}

/* vsbd must still be running and leave as SIGTERM asks (a sanitizer
 * report at exit would change its status). */
static int stop_vsbd(void **state)
{
	int ret = 0;

	(void)state;
	if (g.pid > 0) {
		int st = 0;
		bool gone = false;
		kill(g.pid, SIGTERM);
		for (int i = 0; i < 1000 && !gone; i++) {
			gone = waitpid(g.pid, &st, WNOHANG) == g.pid;
			if (!gone)
				usleep(10000);
		}
		if (!gone) {
			kill(g.pid, SIGKILL);
			waitpid(g.pid, &st, 0);
		}
		if (!gone || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 128 + SIGTERM) {
			fprintf(stderr, "# vsbd did not exit with status %d "
				"on SIGTERM (wait status %#x)\n",
				128 + SIGTERM, st);
			print_vsbd_stderr();
			ret = -1;
		}
	}
	free(g.elf);
	unlink(g.ctl);
	unlink(g.fake);
	unlink(g.err_path);
	rmdir(g.dir);
	return ret;
}

#define NEED_VSBD()                   \
	do {                          \
		if (g.pid <= 0)       \
			skip();       \
	} while (0)

static void assert_vsbd_alive(void)
{
	if (waitpid(g.pid, NULL, WNOHANG) == g.pid) {
		g.pid = 0;
		print_vsbd_stderr();
		fail_msg("vsbd died");
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* A raw control client: sends cmd (any bytes) and reads one line. */
static void ctl_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static int ctl_read(int fd, char *line, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 5000) != 1)
			return -ETIMEDOUT;
		ssize_t n = recv(fd, line + len, 1, 0);
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		if (line[len] == '\n') {
			line[len] = '\0';
			return 0;
		}
		len++;
	}
	return -E2BIG;
}

static void ctl_expect(int fd, const char *cmd, const char *want)
{
	char line[2048];

	ctl_send(fd, cmd, strlen(cmd));
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	if (strcmp(line, want)) {
		fail_msg("'%s' gave '%s', expected '%s'", cmd, line, want);
	}
}

static void status_is(const char *want)
{
	int fd = unix_connect(g.ctl);

	assert_true(fd >= 0);
	ctl_expect(fd, "status\n", want);
	close(fd);
}

/* The guest image's PT_LOAD segments. */
static const Elf64_Phdr *phdrs(unsigned *n)
{
	const Elf64_Ehdr *e = (const Elf64_Ehdr *)g.elf;

	assert_true(g.elf_len >= sizeof(*e));
	assert_memory_equal(e->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(e->e_phentsize, sizeof(Elf64_Phdr));
	assert_true(e->e_phoff + (uint64_t)e->e_phnum * sizeof(Elf64_Phdr) <=
		    g.elf_len);
	*n = e->e_phnum;
	return (const Elf64_Phdr *)(g.elf + e->e_phoff);
}

static void test_memory_matches_image(void **state)
{
	char err[256] = "";
	struct vmi_mem *m;
	unsigned n, compared = 0;

	(void)state;
	NEED_VSBD();
	assert_int_equal(vmi_mem_vsbd_open(g.ctl, false, &m, err,
					   sizeof(err)), 0);
	assert_string_equal(vmi_mem_name(m), "vsbd");
	assert_true(vmi_mem_is_live(m));
	assert_int_equal(vmi_mem_nr_vcpus(m), 2);
	assert_int_equal(vmi_mem_max_pa(m), GUEST_RAM);
	const Elf64_Phdr *ph = phdrs(&n);
	for (unsigned i = 0; i < n; i++) {
		/* Writable segments (.data, .bss) change as the guest runs. */
		if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W) ||
		    !ph[i].p_filesz)
			continue;
		assert_true(ph[i].p_offset + ph[i].p_filesz <= g.elf_len);
		uint8_t *buf = malloc(ph[i].p_filesz);
		assert_non_null(buf);
		assert_int_equal(vmi_read_pa_full(m, ph[i].p_paddr, buf,
						  ph[i].p_filesz), 0);
		assert_memory_equal(buf, g.elf + ph[i].p_offset,
				    ph[i].p_filesz);
		free(buf);
		compared++;
	}
	assert_true(compared > 0);
	uint8_t b = 0;
	assert_int_equal(vmi_write_pa(m, 0x100000, &b, 1), -EROFS);
	assert_int_equal(vmi_read_pa(m, GUEST_RAM, &b, 1), -EFAULT);
	vmi_mem_close(m);
	assert_vsbd_alive();
}

static void test_registers(void **state)
{
	char err[256] = "";
	struct vmi_mem *m;
	struct vmi_regs r;
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned n;

	(void)state;
	NEED_VSBD();
	const Elf64_Phdr *ph = phdrs(&n);
	for (unsigned i = 0; i < n; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (ph[i].p_vaddr < lo)
			lo = ph[i].p_vaddr;
		if (ph[i].p_vaddr + ph[i].p_memsz > hi)
			hi = ph[i].p_vaddr + ph[i].p_memsz;
	}
	assert_int_equal(vmi_mem_vsbd_open(g.ctl, false, &m, err,
					   sizeof(err)), 0);
	assert_int_equal(vmi_mem_get_regs(m, 0, &r), 0);
	assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR |
				  VMI_REGS_DT);
	assert_int_equal(r.cpu_id, 0);
	assert_true(r.rip >= lo && r.rip < hi);
	assert_true(r.cr0 & 1); /* PE */
	/* vCPU 1 never got INIT/SIPI: still its reset state, readable. */
	assert_int_equal(vmi_mem_get_regs(m, 1, &r), 0);
	assert_int_equal(r.cpu_id, 1);
	assert_false(r.cr0 & 1);
	assert_int_equal(vmi_mem_get_regs(m, 2, &r), -EINVAL);
	assert_int_equal(vmi_mem_get_regs(m, UINT_MAX, &r), -EINVAL);
	/* The connection is still in step. */
	assert_int_equal(vmi_mem_get_regs(m, 0, &r), 0);
	vmi_mem_close(m);
	assert_vsbd_alive();
}

static void test_pause_resume(void **state)
{
	char err[256] = "";
	struct vmi_mem *m;
	struct vmi_regs a, b;

	(void)state;
	NEED_VSBD();
	assert_int_equal(vmi_mem_vsbd_open(g.ctl, false, &m, err,
					   sizeof(err)), 0);
	status_is("ok running");
	assert_int_equal(vmi_mem_pause(m), 0);
	/* Another client is served while the backend keeps its own. */
	status_is("ok paused");
	assert_int_equal(vmi_mem_get_regs(m, 0, &a), 0);
	usleep(50000);
	assert_int_equal(vmi_mem_get_regs(m, 0, &b), 0);
	assert_int_equal(a.rip, b.rip); /* it did not run meanwhile */
	status_is("ok paused");
	assert_int_equal(vmi_mem_resume(m), 0);
	status_is("ok running");
	/* A pause outlives the handle (as QEMU's stop outlives QMP): `vmi
	 * pause` and `vmi resume` are separate runs of the tool. */
	assert_int_equal(vmi_mem_pause(m), 0);
	status_is("ok paused");
	vmi_mem_close(m);
	status_is("ok paused");
	assert_int_equal(vmi_mem_vsbd_open(g.ctl, false, &m, err,
					   sizeof(err)), 0);
	assert_int_equal(vmi_mem_resume(m), 0);
	vmi_mem_close(m);
	status_is("ok running");
	assert_vsbd_alive();
}

static void test_write_guest_memory(void **state)
{
	const uint64_t pa = 32 * MIB; /* the echo guest never uses it */
	char err[256] = "";
	struct vmi_mem *rw, *ro;
	uint8_t old, v, seen;

	(void)state;
	NEED_VSBD();
	assert_int_equal(vmi_mem_vsbd_open(g.ctl, true, &rw, err,
					   sizeof(err)), 0);
	assert_int_equal(vmi_mem_vsbd_open(g.ctl, false, &ro, err,
					   sizeof(err)), 0);
	assert_int_equal(vmi_read_u8_pa(ro, pa, &old), 0);
	v = (uint8_t)(old ^ 0xa5);
	assert_int_equal(vmi_write_pa(rw, pa, &v, 1), 1);
	assert_int_equal(vmi_read_u8_pa(ro, pa, &seen), 0);
	assert_int_equal(seen, v);
	assert_int_equal(vmi_write_pa(ro, pa, &v, 1), -EROFS);
	assert_int_equal(vmi_write_pa(rw, pa, &old, 1), 1);
	assert_int_equal(vmi_read_u8_pa(ro, pa, &seen), 0);
	assert_int_equal(seen, old);
	vmi_mem_close(ro);
	vmi_mem_close(rw);
	assert_vsbd_alive();
}

static void test_no_vsbd_there(void **state)
{
	char err[256] = "", path[200], longp[200];
	struct vmi_mem *m = (struct vmi_mem *)&m;
	int fds = count_fds();

	(void)state;
	snprintf(path, sizeof(path), "%s/nothing.sock", g.dir);
	assert_int_equal(vmi_mem_vsbd_open(path, false, &m, err,
					   sizeof(err)), -ENOENT);
	assert_null(m);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));
	/* A file that is not a socket. */
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(vmi_mem_vsbd_open(path, false, &m, err,
					   sizeof(err)), -ECONNREFUSED);
	unlink(path);
	memset(longp, 'x', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(vmi_mem_vsbd_open(longp, false, &m, err,
					   sizeof(err)), -ENAMETOOLONG);
	assert_int_equal(vmi_mem_vsbd_open_timeout(path, false, 0, &m, err,
						   sizeof(err)), -EINVAL);
	assert_int_equal(count_fds(), fds);
}

/* The control protocol itself, with a raw client. */
static void test_control_commands(void **state)
{
	char line[2048];
	int fd;

	(void)state;
	NEED_VSBD();
	fd = unix_connect(g.ctl);
	assert_true(fd >= 0);
	ctl_expect(fd, "vcpus\n", "ok vcpus 2");
	ctl_expect(fd, "vcpus 1\n", "error unknown command");
	ctl_expect(fd, "regs\n", "error usage: regs N");
	ctl_expect(fd, "regs \n", "error usage: regs N");
	ctl_expect(fd, "regs -1\n", "error usage: regs N");
	ctl_expect(fd, "regs +0\n", "error usage: regs N");
	ctl_expect(fd, "regs 0x0\n", "error usage: regs N");
	ctl_expect(fd, "regs  0\n", "error usage: regs N");
	ctl_expect(fd, "regs 0 \n", "error usage: regs N");
	ctl_expect(fd, "regs 0 1\n", "error usage: regs N");
	ctl_expect(fd, "regs 2\n", "error no such vcpu");
	ctl_expect(fd, "regs 64\n", "error no such vcpu");
	ctl_expect(fd, "regs 4294967296\n", "error no such vcpu");
	ctl_expect(fd, "regs 99999999999999999999\n", "error no such vcpu");
	ctl_expect(fd, "regs 99999999999999999999999999999999999999999x\n",
		   "error usage: regs N");
	ctl_expect(fd, "regsx\n", "error unknown command");
	ctl_expect(fd, "memory ro\n", "error usage: memory [rw]");
	ctl_expect(fd, "memory  rw\n", "error usage: memory [rw]");
	ctl_expect(fd, "MEMORY\n", "error unknown command");
	ctl_expect(fd, "\n", "error unknown command");
	ctl_expect(fd, "\xff\xfe\x01garbage\n", "error unknown command");
	ctl_send(fd, "status\0x\n", 9);
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	assert_string_equal(line, "error bad line");
	ctl_expect(fd, "status\r\n", "ok running");
	/* Two commands in one write, two replies in order. */
	ctl_send(fd, "vcpus\nstatus\n", 13);
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	assert_string_equal(line, "ok vcpus 2");
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	assert_string_equal(line, "ok running");
	/* Register lines: every name once, all hex. */
	ctl_send(fd, "regs 00\n", 8);
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	assert_true(strncmp(line, "ok regs rax=0x", 14) == 0);
	assert_non_null(strstr(line, " efer=0x"));
	assert_non_null(strstr(line, " gs=0x"));
	close(fd);

	/* The RAM fds: read-only unless asked, of the guest's RAM size. */
	for (int rw = 0; rw < 2; rw++) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(4 * sizeof(int))];
		} u;
		char text[128] = "";
		struct iovec iov = { text, sizeof(text) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = u.buf,
				      .msg_controllen = sizeof(u.buf) };
		struct stat st;
		int mfd;

		fd = unix_connect(g.ctl);
		assert_true(fd >= 0);
		ctl_send(fd, rw ? "memory rw\n" : "memory\n", rw ? 10 : 7);
		assert_true(recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) > 0);
		assert_string_equal(text, "ok memory size=67108864 vcpus=2\n");
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		assert_non_null(cm);
		assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
		assert_int_equal(cm->cmsg_len, CMSG_LEN(sizeof(int)));
		memcpy(&mfd, CMSG_DATA(cm), sizeof(int));
		assert_int_equal(fstat(mfd, &st), 0);
		assert_int_equal(st.st_size, GUEST_RAM);
		assert_int_equal(fcntl(mfd, F_GETFL) & O_ACCMODE,
				 rw ? O_RDWR : O_RDONLY);
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			       mfd, 0);
		if (rw) {
			assert_true(p != MAP_FAILED);
			munmap(p, 4096);
		} else {
			assert_true(p == MAP_FAILED && errno == EACCES);
		}
		close(mfd);
		close(fd);
	}
	assert_vsbd_alive();
}

/* What a hostile or careless local client could do. */
static void test_control_abuse(void **state)
{
	char line[2048], buf[300];
	int fds[CONTROL_TEST_CLIENTS + 1];
	int fd;

	(void)state;
	NEED_VSBD();
	/* An over-long line: refused, connection closed. */
	fd = unix_connect(g.ctl);
	assert_true(fd >= 0);
	memset(buf, 'a', sizeof(buf));
	ctl_send(fd, buf, sizeof(buf));
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	assert_string_equal(line, "error line too long");
	/* Closed with our unread bytes: EOF or a reset. */
	int ret = ctl_read(fd, line, sizeof(line));
	assert_true(ret == -EPIPE || ret == -ECONNRESET);
	close(fd);

	/* Eight clients at once; the ninth is turned away. */
	for (int i = 0; i < CONTROL_TEST_CLIENTS; i++) {
		fds[i] = unix_connect(g.ctl);
		assert_true(fds[i] >= 0);
		ctl_expect(fds[i], "vcpus\n", "ok vcpus 2");
	}
	fd = unix_connect(g.ctl);
	assert_true(fd >= 0);
	assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
	assert_string_equal(line, "error too many clients");
	close(fd);
	close(fds[0]);
	fds[0] = unix_connect(g.ctl);
	assert_true(fds[0] >= 0);
	ctl_expect(fds[0], "status\n", "ok running");
	for (int i = 0; i < CONTROL_TEST_CLIENTS; i++)
		close(fds[i]);

	/* A client that never reads its replies is dropped, not waited for. */
	fd = unix_connect(g.ctl);
	assert_true(fd >= 0);
	bool dropped = false;
	for (int64_t end = now_ms() + 10000; !dropped && now_ms() < end;) {
		static const char cmds[] = "vcpus\nvcpus\nvcpus\nvcpus\n";
		ssize_t n = send(fd, cmds, sizeof(cmds) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			dropped = true;
		else if (n < 0)
			usleep(1000);
	}
	assert_true(dropped);
	close(fd);
	status_is("ok running");

	/* Random bytes, line by line. */
	srand(7);
	fd = unix_connect(g.ctl);
	assert_true(fd >= 0);
	for (int i = 0; i < 200; i++) {
		size_t len = (size_t)(rand() % 200);
		for (size_t j = 0; j < len; j++) {
			buf[j] = (char)(rand() % 256);
			if (buf[j] == '\n')
				buf[j] = ' ';
		}
		buf[len] = '\n';
		ctl_send(fd, buf, len + 1);
		assert_int_equal(ctl_read(fd, line, sizeof(line)), 0);
		assert_true(strncmp(line, "error ", 6) == 0);
	}
	close(fd);
	status_is("ok running");
	assert_vsbd_alive();
}

/* --- fake control servers -------------------------------------------- */

enum fd_kind { FD_NONE, FD_MEMFD, FD_MEMFD_RO, FD_PIPE, FD_GIVEN };

static int given_fd = -1; /* what FD_GIVEN sends (a dup of it) */

struct step {
	const char *reply; /* NULL: say nothing until the client leaves */
	size_t len;        /* 0: strlen(reply) */
	enum fd_kind kind;
	int nfds;
	uint64_t fd_size;
	bool hang_up; /* close the connection right after the reply */
};

struct fake {
	int listen_fd;
	pthread_t thread;
	const struct step *steps;
	unsigned n;
	int conns; /* connections to serve */
};

static int make_fd(enum fd_kind kind, uint64_t size)
{
	int fd, p[2];

	switch (kind) {
	case FD_GIVEN:
		return fcntl(given_fd, F_DUPFD_CLOEXEC, 0);
	case FD_PIPE:
		if (pipe2(p, O_CLOEXEC))
			return -1;
		close(p[1]);
		return p[0];
	case FD_MEMFD:
	case FD_MEMFD_RO:
		fd = memfd_create("fake-ram", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)size))
			return -1;
		if (kind == FD_MEMFD_RO) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			int ro = open(path, O_RDONLY | O_CLOEXEC);
			close(fd);
			fd = ro;
		}
		return fd;
	default:
		return -1;
	}
}

static int send_step(int fd, const struct step *s)
{
	int fds[32];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(fds))];
	} u;
	size_t len = s->len ? s->len : strlen(s->reply);
	struct iovec iov = { (void *)s->reply, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	int n = s->kind == FD_NONE ? 0 : s->nfds, ret = 0;

	for (int i = 0; i < n; i++)
		fds[i] = make_fd(s->kind, s->fd_size);
	if (n) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	}
	if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)len)
		ret = -1;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return ret;
}

/* Reads one command line or EOF; 0, or -1 on EOF, error or timeout. */
static int read_cmd(int fd)
{
	char c;

	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 5000) != 1 || recv(fd, &c, 1, 0) != 1)
			return -1;
		if (c == '\n')
			return 0;
	}
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	for (int c = 0; c < f->conns; c++) {
		struct pollfd lp = { f->listen_fd, POLLIN, 0 };
		if (poll(&lp, 1, 5000) != 1)
			break;
		int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		bool hang = false;
		for (unsigned i = 0; i < f->n && !hang; i++) {
			const struct step *s = &f->steps[i];
			if (read_cmd(fd) || !s->reply || send_step(fd, s))
				break;
			hang = s->hang_up;
		}
		/* Until the client hangs up (or gives up). */
		while (!hang && read_cmd(fd) == 0)
			;
		close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f, const struct step *steps, unsigned n,
		       int conns)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	f->steps = steps;
	f->n = n;
	f->conns = conns;
	unlink(g.fake);
	strcpy(a.sun_path, g.fake);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&a,
			      sizeof(a)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f),
			 0);
}

static void fake_end(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(g.fake);
}

/* Opens the backend on a fake server answering `memory` with s. */
static int fake_open(const struct step *s, int timeout_ms, bool writable,
		     char *err, size_t errlen)
{
	struct fake f;
	struct vmi_mem *m;
	int ret;

	fake_start(&f, s, 1, 1);
	ret = vmi_mem_vsbd_open_timeout(g.fake, writable, timeout_ms, &m,
					err, errlen);
	if (ret == 0)
		vmi_mem_close(m);
	else
		assert_null(m);
	fake_end(&f);
	return ret;
}

static const char ok_mem[] = "ok memory size=1048576 vcpus=2\n";
#define NUL_LINE "ok memory size=1048576\0 vcpus=2\n"

static void test_fake_memory_replies(void **state)
{
	static const char dup_line[] = "ok memory size=1048576 vcpus=2\n"
				       "ok memory size=1048576 vcpus=2\n";
	static const struct {
		struct step s;
		bool writable;
		int ret;
		const char *msg;
	} cases[] = {
		{ { ok_mem, 0, FD_MEMFD, 1, MIB, false }, false, 0, "" },
		{ { ok_mem, 0, FD_MEMFD, 1, MIB, false }, true, 0, "" },
		{ { ok_mem, 0, FD_NONE, 0, 0, false }, false, -EPROTO,
		  "sent 0 fds" },
		{ { ok_mem, 0, FD_MEMFD, 2, MIB, false }, false, -EPROTO,
		  "sent 2 fds" },
		{ { ok_mem, 0, FD_MEMFD, 20, MIB, false }, false, -EPROTO,
		  "more than 8 fds" },
		{ { ok_mem, 0, FD_MEMFD, 1, 2 * MIB, false }, false, -EPROTO,
		  "holds 2097152 bytes" },
		{ { ok_mem, 0, FD_PIPE, 1, 0, false }, false, -EPROTO,
		  "not a memfd" },
		{ { ok_mem, 0, FD_MEMFD_RO, 1, MIB, false }, true, -EPROTO,
		  "read-only" },
		{ { ok_mem, 0, FD_MEMFD_RO, 1, MIB, false }, false, 0, "" },
		{ { dup_line, 0, FD_MEMFD, 1, MIB, false }, false, -EPROTO,
		  "more than one line" },
		{ { "ok memory size=abc vcpus=2\n", 0, FD_MEMFD, 1, MIB,
		    false }, false, -EPROTO, "unexpected reply" },
		{ { "ok memory size=1048576 vcpus=0\n", 0, FD_MEMFD, 1, MIB,
		    false }, false, -EPROTO, "unexpected reply" },
		{ { "ok memory size=0 vcpus=1\n", 0, FD_MEMFD, 1, 0,
		    false }, false, -EPROTO, "unexpected reply" },
		{ { "ok memory size=1048576 vcpus=2 \n", 0, FD_MEMFD, 1, MIB,
		    false }, false, -EPROTO, "unexpected reply" },
		{ { "ok memory size=-1 vcpus=2\n", 0, FD_MEMFD, 1, MIB,
		    false }, false, -EPROTO, "unexpected reply" },
		{ { "ok memory size=99999999999999999999 vcpus=2\n", 0,
		    FD_MEMFD, 1, MIB, false }, false, -EPROTO,
		  "unexpected reply" },
		{ { "ok memory  size=1048576 vcpus=2\n", 0, FD_MEMFD, 1, MIB,
		    false }, false, -EPROTO, "unexpected reply" },
		{ { "ok running\n", 0, FD_NONE, 0, 0, false }, false,
		  -EPROTO, "unexpected reply" },
		{ { "ok memory size=1048576\x01 vcpus=2\n", 0, FD_MEMFD, 1,
		    MIB, false }, false, -EPROTO, "not text" },
		{ { NUL_LINE, sizeof(NUL_LINE) - 1, FD_MEMFD, 1, MIB, false },
		  false, -EPROTO, "not text" },
		{ { "error unknown command\n", 0, FD_NONE, 0, 0, false },
		  false, -EOPNOTSUPP, "does not serve" },
		{ { "error unknown command\n", 0, FD_MEMFD, 1, MIB, false },
		  false, -EOPNOTSUPP, "does not serve" },
		{ { "error cannot open guest RAM\n", 0, FD_NONE, 0, 0,
		    false }, false, -EIO, "vsbd: error cannot open" },
		{ { "ok memory size=1048576 vcpus=2", 0, FD_MEMFD, 1, MIB,
		    false }, false, -ETIMEDOUT, "within 300 ms" },
		{ { NULL, 0, FD_NONE, 0, 0, false }, false, -ETIMEDOUT,
		  "no reply to 'memory' from vsbd within 300 ms" },
		{ { NULL, 0, FD_NONE, 0, 0, false }, true, -ETIMEDOUT,
		  "no reply to 'memory rw'" },
		{ { "", 0, FD_NONE, 0, 0, true }, false, -EPROTO,
		  "closed the connection" },
		{ { "ok memory", 0, FD_MEMFD, 1, MIB, true }, false, -EPROTO,
		  "closed the connection" },
	};
	char err[256];
	int fds = count_fds();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		strcpy(err, "");
		int ret = fake_open(&cases[i].s, 300, cases[i].writable, err,
				    sizeof(err));
		if (ret != cases[i].ret || !strstr(err, cases[i].msg))
			fail_msg("case %zu: %d '%s', expected %d '%s'", i, ret,
				 err, cases[i].ret, cases[i].msg);
		assert_int_equal(count_fds(), fds);
	}
}

static void test_fake_overlong_reply(void **state)
{
	size_t len = 64 * 1024;
	char *big = malloc(len + 1), err[256] = "";
	int fds = count_fds();

	(void)state;
	assert_non_null(big);
	memset(big, 'A', len);
	big[len] = '\0';
	struct step s = { big, len, FD_NONE, 0, 0, false };
	assert_int_equal(fake_open(&s, 2000, false, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "longer than 4096 bytes"));
	/* A long line that does end, with the fd. */
	big[5000] = '\n';
	s = (struct step){ big, 5001, FD_MEMFD, 1, MIB, false };
	assert_int_equal(fake_open(&s, 2000, false, err, sizeof(err)),
			 -EPROTO);
	free(big);
	assert_int_equal(count_fds(), fds);
}

#define REGS_OK "ok regs rax=0x1 rbx=0x2 rcx=0x3 rdx=0x4 rsi=0x5 rdi=0x6 " \
	"rsp=0x7 rbp=0x8 r8=0x9 r9=0xa r10=0xb r11=0xc r12=0xd r13=0xe " \
	"r14=0xf r15=0x10 rip=0xffffffff81000000 rflags=0x246 " \
	"cr0=0x80050033 cr2=0x0 cr3=0x1234000 cr4=0x3506f0 efer=0xd01 " \
	"fs_base=0x7f0000000000 gs_base=0xffff888000000000 " \
	"gdt_base=0xfffffe0000001000 gdt_limit=0x7f " \
	"idt_base=0xfffffe0000000000 idt_limit=0xfff cs=0x10 ss=0x18 " \
	"ds=0x0 es=0x0 fs=0x0 gs=0xffff"

static void test_fake_register_replies(void **state)
{
	static const struct {
		const char *reply;
		int ret;
	} cases[] = {
		{ REGS_OK "\n", 0 },
		{ REGS_OK " zz=0x1 new_reg=0x0\n", 0 }, /* unknown: skipped */
		{ REGS_OK " rax=0x1\n", -EPROTO },      /* twice */
		{ "ok regs rax=0x1\n", -EPROTO },       /* the rest missing */
		{ "ok regs\n", -EPROTO },
		{ "ok regsrax=0x1\n", -EPROTO },
		{ "ok regs \n", -EPROTO },
		{ REGS_OK " \n", -EPROTO },
		{ REGS_OK "  \n", -EPROTO },
		{ REGS_OK " cs=0x10000\n", -EPROTO },  /* too wide (and dup) */
		{ REGS_OK " zz=0x\n", -EPROTO },
		{ REGS_OK " zz=1\n", -EPROTO },
		{ REGS_OK " zz=0x1g\n", -EPROTO },
		{ REGS_OK " zz=0x10000000000000000\n", -EPROTO },
		{ REGS_OK " zz=0x00000000000000000000001\n", 0 },
		{ REGS_OK " Zz=0x1\n", -EPROTO },
		{ REGS_OK " =0x1\n", -EPROTO },
		{ REGS_OK " zz\n", -EPROTO },
		{ "ok paused\n", -EPROTO },
		{ "error no such vcpu\n", -EINVAL },
		{ "error cannot read registers\n", -EIO },
		{ "error\n", -EIO },
		{ "errorx\n", -EPROTO },
	};
	struct step steps[1 + sizeof(cases) / sizeof(cases[0])];
	char err[256] = "";
	struct vmi_mem *m;
	struct vmi_regs r;
	struct fake f;
	int fds = count_fds();

	(void)state;
	steps[0] = (struct step){ ok_mem, 0, FD_MEMFD, 1, MIB, false };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		steps[i + 1] = (struct step){ cases[i].reply, 0, FD_NONE, 0,
					      0, false };
	fake_start(&f, steps, 1 + sizeof(cases) / sizeof(cases[0]), 1);
	assert_int_equal(vmi_mem_vsbd_open_timeout(g.fake, false, 1000, &m,
						   err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0x55, sizeof(r));
		int ret = vmi_mem_get_regs(m, 1, &r);
		if (ret != cases[i].ret)
			fail_msg("case %zu: %d, expected %d", i, ret,
				 cases[i].ret);
		if (i == 0) {
			assert_int_equal(r.rax, 1);
			assert_int_equal(r.r15, 0x10);
			assert_int_equal(r.rip, 0xffffffff81000000ull);
			assert_int_equal(r.cr3, 0x1234000);
			assert_int_equal(r.cr4, 0x3506f0);
			assert_int_equal(r.gs_base, 0xffff888000000000ull);
			assert_int_equal(r.gdt_limit, 0x7f);
			assert_int_equal(r.idt_limit, 0xfff);
			assert_int_equal(r.cs, 0x10);
			assert_int_equal(r.gs, 0xffff);
			assert_int_equal(r.cpu_id, 1);
			assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG |
						  VMI_REGS_CR | VMI_REGS_DT);
		} else if (ret) {
			/* Untouched on failure. */
			assert_int_equal(r.rax, 0x5555555555555555ull);
		}
	}
	vmi_mem_close(m);
	fake_end(&f);

	/* Replies that put the connection out of step: an fd with a
	 * register line, silence, a hang-up. Later calls fail at once. */
	const struct step bad[][2] = {
		{ { ok_mem, 0, FD_MEMFD, 1, MIB, false },
		  { REGS_OK "\n", 0, FD_MEMFD, 1, MIB, false } },
		{ { ok_mem, 0, FD_MEMFD, 1, MIB, false },
		  { NULL, 0, FD_NONE, 0, 0, false } },
		{ { ok_mem, 0, FD_MEMFD, 1, MIB, false },
		  { "", 0, FD_NONE, 0, 0, true } },
		{ { ok_mem, 0, FD_MEMFD, 1, MIB, false },
		  { REGS_OK "\nok paused\n", 0, FD_NONE, 0, 0, false } },
	};
	const int want[] = { -EPROTO, -ETIMEDOUT, -EPROTO, -EPROTO };
	for (size_t i = 0; i < 4; i++) {
		fake_start(&f, bad[i], 2, 1);
		assert_int_equal(vmi_mem_vsbd_open_timeout(g.fake, false, 300,
							   &m, err,
							   sizeof(err)), 0);
		assert_int_equal(vmi_mem_get_regs(m, 0, &r), want[i]);
		assert_int_equal(vmi_mem_get_regs(m, 0, &r), -ENOTCONN);
		assert_int_equal(vmi_mem_pause(m), -ENOTCONN);
		vmi_mem_close(m);
		fake_end(&f);
	}
	assert_int_equal(count_fds(), fds);
}

/* vsbd puts RAM beyond 3 GiB at 4 GiB: a sparse 3 GiB + 1 MiB memfd. */
static void test_fake_high_ram(void **state)
{
	const uint64_t size = 3072 * MIB + MIB;
	char err[256] = "";
	struct vmi_mem *m;
	struct vmi_range r;
	struct fake f;
	uint64_t v;

	(void)state;
	given_fd = memfd_create("high-ram", MFD_CLOEXEC);
	assert_true(given_fd >= 0);
	assert_int_equal(ftruncate(given_fd, (off_t)size), 0);
	v = 0x1122334455667788ull;
	assert_int_equal(pwrite(given_fd, &v, 8, 3072 * MIB), 8);
	const struct step s = { "ok memory size=3222274048 vcpus=1\n", 0,
				FD_GIVEN, 1, 0, false };
	fake_start(&f, &s, 1, 1);
	assert_int_equal(vmi_mem_vsbd_open_timeout(g.fake, false, 1000, &m,
						   err, sizeof(err)), 0);
	assert_int_equal(vmi_mem_next_range(m, 0, &r), 0);
	assert_int_equal(r.pa, 0);
	assert_int_equal(r.len, 3072 * MIB);
	assert_int_equal(vmi_mem_next_range(m, r.len, &r), 0);
	assert_int_equal(r.pa, 4096 * MIB);
	assert_int_equal(r.len, MIB);
	assert_int_equal(vmi_mem_max_pa(m), 4096 * MIB + MIB);
	v = 0;
	assert_int_equal(vmi_read_u64_pa(m, 4096 * MIB, &v), 0);
	assert_int_equal(v, 0x1122334455667788ull);
	assert_int_equal(vmi_read_u64_pa(m, 3072 * MIB, &v), -EFAULT);
	vmi_mem_close(m);
	fake_end(&f);
	close(given_fd);
	given_fd = -1;
}

static void test_fake_pause_replies(void **state)
{
	const struct step steps[] = {
		{ ok_mem, 0, FD_MEMFD, 1, MIB, false },
		{ "ok running\n", 0, FD_NONE, 0, 0, false }, /* to pause */
		{ "error busy\n", 0, FD_NONE, 0, 0, false }, /* to pause */
		{ "ok paused\n", 0, FD_NONE, 0, 0, false },  /* to pause */
		{ "ok paused\n", 0, FD_NONE, 0, 0, false },  /* to resume */
		{ "ok running\n", 0, FD_NONE, 0, 0, false }, /* to resume */
	};
	char err[256] = "";
	struct vmi_mem *m;
	struct fake f;

	(void)state;
	fake_start(&f, steps, 6, 1);
	assert_int_equal(vmi_mem_vsbd_open_timeout(g.fake, false, 1000, &m,
						   err, sizeof(err)), 0);
	assert_int_equal(vmi_mem_pause(m), -EPROTO);
	assert_int_equal(vmi_mem_pause(m), -EIO);
	assert_int_equal(vmi_mem_pause(m), 0);
	assert_int_equal(vmi_mem_resume(m), -EPROTO);
	assert_int_equal(vmi_mem_resume(m), 0);
	vmi_mem_close(m);
	fake_end(&f);
}

/* Random replies to `memory` and `regs`: errors, never a crash or leak. */
static void test_fake_random_replies(void **state)
{
	static const char alpha[] = "ok memory size= vcpus=regs rax=0x19af"
				    " cs= \x01\xff";
	static char lines[300][96];
	struct step steps[300];
	char err[256];
	struct fake f;
	int fds = count_fds();

	(void)state;
	srand(11);
	for (int i = 0; i < 300; i++) {
		size_t len = (size_t)(rand() % 90);
		if (i % 3 == 0) { /* a mutated valid reply */
			snprintf(lines[i], sizeof(lines[i]), "%s", ok_mem);
			len = strlen(lines[i]) - 1;
			for (int k = 0; k < 1 + rand() % 3; k++)
				lines[i][rand() % len] =
					alpha[rand() % (sizeof(alpha) - 1)];
		} else {
			for (size_t j = 0; j < len; j++)
				lines[i][j] =
					alpha[rand() % (sizeof(alpha) - 1)];
		}
		lines[i][len] = '\n';
		lines[i][len + 1] = '\0';
		steps[i] = (struct step){ lines[i], 0,
					  rand() % 2 ? FD_MEMFD : FD_NONE, 1,
					  MIB, false };
	}
	for (int i = 0; i < 300; i++) {
		int ret = fake_open(&steps[i], 1000, false, err, sizeof(err));
		assert_true(ret == 0 || ret == -EPROTO || ret == -EIO);
	}
	assert_int_equal(count_fds(), fds);

	/* The same against register replies, on one connection. */
	static char rl[300][sizeof(REGS_OK) + 1];
	steps[0] = (struct step){ ok_mem, 0, FD_MEMFD, 1, MIB, false };
	for (int i = 1; i < 300; i++) {
		size_t len = sizeof(REGS_OK) - 1;
		memcpy(rl[i], REGS_OK, len);
		/* Printable only: alpha ends with two other bytes. */
		for (int k = 0; k < 1 + rand() % 4; k++)
			rl[i][rand() % len] =
				alpha[rand() % (sizeof(alpha) - 3)];
		rl[i][len] = '\n';
		rl[i][len + 1] = '\0';
		steps[i] = (struct step){ rl[i], 0, FD_NONE, 0, 0, false };
	}
	struct vmi_mem *m;
	struct vmi_regs r;
	fake_start(&f, steps, 300, 1);
	assert_int_equal(vmi_mem_vsbd_open_timeout(g.fake, false, 1000, &m,
						   err, sizeof(err)), 0);
	for (int i = 1; i < 300; i++) {
		int ret = vmi_mem_get_regs(m, 0, &r);
		assert_true(ret == 0 || ret == -EPROTO || ret == -EIO ||
			    ret == -EINVAL);
	}
	vmi_mem_close(m);
	fake_end(&f);
	assert_int_equal(count_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memory_matches_image),
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_pause_resume),
		cmocka_unit_test(test_write_guest_memory),
		cmocka_unit_test(test_no_vsbd_there),
		cmocka_unit_test(test_control_commands),
		cmocka_unit_test(test_control_abuse),
		cmocka_unit_test(test_fake_memory_replies),
		cmocka_unit_test(test_fake_overlong_reply),
		cmocka_unit_test(test_fake_register_replies),
		cmocka_unit_test(test_fake_high_ram),
		cmocka_unit_test(test_fake_pause_replies),
		cmocka_unit_test(test_fake_random_replies),
	};

	return cmocka_run_group_tests(tests, start_vsbd, stop_vsbd);
}
