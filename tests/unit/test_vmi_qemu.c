/* Unit tests of the QEMU backend (vmi/mem_qemu.c), its QMP client
 * (vmi/qmp.c) and the `info registers` parser (vmi/hmp_regs.c).
 *
 * Against a real QEMU (TCG, RAM in a shared file under /dev/shm): the PVH
 * test guest hello.elf booted with -kernel and "halt" (it ends in cli; hlt
 * at CPL0, in long mode), read through the backend and compared with the
 * ELF file; pause/resume seen on a second QMP socket; registers; writes
 * checked with HMP xp; split layouts (q35 3 GiB, pc with
 * max-ram-below-4g) checked with xp above 4 GiB; share=off, a memfd
 * backend and another file of the same size refused. Skipped without
 * qemu-system-x86_64.
 *
 * Without QEMU: fake QMP servers on a socketpair or a socket path (garbage,
 * an HMP banner, silence, an oversized or malformed message, EOF, events
 * forever, stale replies, errors) and a fake QEMU answering what the
 * backend asks (layouts with max-ram-below-4g, info mtree disagreeing,
 * unknown machines, bad register text); the parser on text captured from
 * QEMU 7.2 and on damaged copies of it. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "hmp_regs.h"
#include "mem_file.h"
#include "mem_qemu.h"
#include "qmp.h"
#include "vmi_mem.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)

static const char regs64[] =
	"\r\n"
	"CPU#0\r\n"
	"RAX=0000000000000060 RBX=0000000000000003 RCX=0000000000000074 RDX=00000000000003fd\r\n"
	"RSI=000000000010111d RDI=00000000000011c0 RBP=0000000000000002 RSP=000000000011a138\r\n"
	"R8 =0000000000000074 R9 =0000000000000000 R10=00000000000011c4 R11=00000000000003f8\r\n"
	"R12=000000000010111d R13=0000000000000020 R14=00000000000011c0 R15=0000000000000004\r\n"
	"RIP=000000000010007b RFL=00003046 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1\r\n"
	"ES =0023 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]\r\n"
	"CS =0008 0000000000000000 ffffffff 00af9b00 DPL=0 CS64 [-RA]\r\n"
	"SS =0000 0000000000000000 00000000 00000000\r\n"
	"DS =0023 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]\r\n"
	"FS =0023 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]\r\n"
	"GS =0023 0000000000000000 ffffffff 00cff300 DPL=3 DS   [-WA]\r\n"
	"LDT=0000 0000000000000000 0000ffff 00008200 DPL=0 LDT\r\n"
	"TR =0028 00000000001080b0 00002068 00008900 DPL=0 TSS64-avl\r\n"
	"GDT=     0000000000108000 00000037\r\n"
	"IDT=     0000000000108070 0000003f\r\n"
	"CR0=80000011 CR2=0000000000000000 CR3=0000000000102000 CR4=00000020\r\n"
	"DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \r\n"
	"DR6=00000000ffff0ff0 DR7=0000000000000400\r\n"
	"EFER=0000000000000500\r\n"
	"FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\r\n"
	"FPR0=0000000000000000 0000 FPR1=0000000000000000 0000\r\n"
	"FPR2=0000000000000000 0000 FPR3=0000000000000000 0000\r\n"
	"FPR4=0000000000000000 0000 FPR5=0000000000000000 0000\r\n"
	"FPR6=0000000000000000 0000 FPR7=0000000000000000 0000\r\n"
	"XMM00=0000000000000000 0000000000000000 XMM01=0000000000000000 0000000000000000\r\n"
	"XMM02=0000000000000000 0000000000000000 XMM03=0000000000000000 0000000000000000\r\n"
	"XMM04=0000000000000000 0000000000000000 XMM05=0000000000000000 0000000000000000\r\n"
	"XMM06=0000000000000000 0000000000000000 XMM07=0000000000000000 0000000000000000\r\n"
	"XMM08=0000000000000000 0000000000000000 XMM09=0000000000000000 0000000000000000\r\n"
	"XMM10=0000000000000000 0000000000000000 XMM11=0000000000000000 0000000000000000\r\n"
	"XMM12=0000000000000000 0000000000000000 XMM13=0000000000000000 0000000000000000\r\n"
	"XMM14=0000000000000000 0000000000000000 XMM15=0000000000000000 0000000000000000\r\n";

static const char regs32[] =
	"\r\n"
	"CPU#0\r\n"
	"EAX=00000000 EBX=00000000 ECX=00000000 EDX=00060fb1\r\n"
	"ESI=00000000 EDI=00000000 EBP=00000000 ESP=00000000\r\n"
	"EIP=0000fff0 EFL=00000002 [-------] CPL=0 II=0 A20=1 SMM=0 HLT=0\r\n"
	"ES =0000 00000000 0000ffff 00009300\r\n"
	"CS =f000 ffff0000 0000ffff 00009b00\r\n"
	"SS =0000 00000000 0000ffff 00009300\r\n"
	"DS =0000 00000000 0000ffff 00009300\r\n"
	"FS =0000 00000000 0000ffff 00009300\r\n"
	"GS =0000 00000000 0000ffff 00009300\r\n"
	"LDT=0000 00000000 0000ffff 00008200\r\n"
	"TR =0000 00000000 0000ffff 00008b00\r\n"
	"GDT=     00000000 0000ffff\r\n"
	"IDT=     00000000 0000ffff\r\n"
	"CR0=60000010 CR2=00000000 CR3=00000000 CR4=00000000\r\n"
	"DR0=0000000000000000 DR1=0000000000000000 DR2=0000000000000000 DR3=0000000000000000 \r\n"
	"DR6=00000000ffff0ff0 DR7=0000000000000400\r\n"
	"EFER=0000000000000000\r\n"
	"FCW=037f FSW=0000 [ST=0] FTW=00 MXCSR=00001f80\r\n"
	"FPR0=0000000000000000 0000 FPR1=0000000000000000 0000\r\n"
	"FPR2=0000000000000000 0000 FPR3=0000000000000000 0000\r\n"
	"FPR4=0000000000000000 0000 FPR5=0000000000000000 0000\r\n"
	"FPR6=0000000000000000 0000 FPR7=0000000000000000 0000\r\n"
	"XMM00=0000000000000000 0000000000000000 XMM01=0000000000000000 0000000000000000\r\n"
	"XMM02=0000000000000000 0000000000000000 XMM03=0000000000000000 0000000000000000\r\n"
	"XMM04=0000000000000000 0000000000000000 XMM05=0000000000000000 0000000000000000\r\n"
	"XMM06=0000000000000000 0000000000000000 XMM07=0000000000000000 0000000000000000\r\n";

static char tmpdir[64];
static char guest_elf[512];
static bool have_qemu;

/* Closed by the per-test teardown, so a failed assertion does not leave
 * a QMP socket held for the next test. */
static struct vmi_mem *open_m;
static struct qmp *open_q;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool in_path(const char *prog)
{
	const char *p = getenv("PATH");
	char buf[4096];

	while (p && *p) {
		const char *c = strchr(p, ':');
		size_t n = c ? (size_t)(c - p) : strlen(p);

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, prog);
		if (n && access(buf, X_OK) == 0)
			return true;
		p += n + (c ? 1 : 0);
	}
	return false;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static void make_file(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* ---- a real QEMU ---- */

struct qemu {
	pid_t pid;
	char mem[128], sock[128], sock2[128], serial[128], log[128];
};

static struct qemu pcq; /* the booted hello guest, started once */

static void print_log(const struct qemu *q)
{
	char buf[2048];
	int fd = open(q->log, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (n > 0) {
		buf[n] = 0;
		print_message("qemu log: %s\n", buf);
	}
	if (fd >= 0)
		close(fd);
}

/* QEMU with `size` of RAM in <tmpdir>/<name>.ram (a memfd backend if
 * backend is "memfd"), two QMP sockets, COM1 into a file; extra
 * arguments (NULL-terminated) after those. Returns once both sockets are
 * there. */
static void qemu_start(struct qemu *q, const char *name, const char *size,
		       const char *machine, const char *backend,
		       const char *const *extra)
{
	char obj[512], mach[256], qmp1[160], qmp2[160], ser[160];
	const char *argv[40] = {
		"qemu-system-x86_64", "-accel", "tcg", "-nodefaults",
		"-no-user-config", "-display", "none", "-m", size,
		"-object", obj, "-machine", mach, "-qmp", qmp1, "-qmp", qmp2,
		"-serial", ser,
	};
	unsigned n = 19;
	int64_t end;

	memset(q, 0, sizeof(*q));
	snprintf(q->mem, sizeof(q->mem), "%s/%s.ram", tmpdir, name);
	snprintf(q->sock, sizeof(q->sock), "%s/%s.sock", tmpdir, name);
	snprintf(q->sock2, sizeof(q->sock2), "%s/%s-2.sock", tmpdir, name);
	snprintf(q->serial, sizeof(q->serial), "%s/%s.serial", tmpdir, name);
	snprintf(q->log, sizeof(q->log), "%s/%s.log", tmpdir, name);
	if (!strcmp(backend, "memfd"))
		snprintf(obj, sizeof(obj), "memory-backend-memfd,id=m,size=%s",
			 size);
	else
		snprintf(obj, sizeof(obj), "memory-backend-file,id=m,size=%s,"
			 "mem-path=%s,%s", size, q->mem, backend);
	snprintf(mach, sizeof(mach), "%s,memory-backend=m", machine);
	snprintf(qmp1, sizeof(qmp1), "unix:%s,server=on,wait=off", q->sock);
	snprintf(qmp2, sizeof(qmp2), "unix:%s,server=on,wait=off", q->sock2);
	snprintf(ser, sizeof(ser), "file:%s", q->serial);
	for (; extra && *extra && n < 38; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	q->pid = fork();
	assert_true(q->pid >= 0);
	if (q->pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(q->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* Dies with the test, whatever way the test ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
		    dup2(out, 2) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (end = now_ms() + 10000; now_ms() < end; usleep(20000)) {
		int st;

		if (access(q->sock, F_OK) == 0 && access(q->sock2, F_OK) == 0)
			return;
		if (waitpid(q->pid, &st, WNOHANG) == q->pid) {
			q->pid = 0;
			print_log(q);
			fail_msg("QEMU exited at start");
		}
	}
	print_log(q);
	fail_msg("QEMU's QMP sockets did not appear");
}

static void qemu_stop(struct qemu *q)
{
	if (q->pid > 0) {
		kill(q->pid, SIGKILL);
		waitpid(q->pid, NULL, 0);
	}
	q->pid = 0;
	unlink(q->mem);
	unlink(q->sock);
	unlink(q->sock2);
	unlink(q->serial);
	unlink(q->log);
}

static bool file_has(const char *path, const char *text)
{
	char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return strstr(buf, text) != NULL;
}

static struct vmi_mem *open_ok(const char *mem, const char *sock,
			       bool writable)
{
	char err[256] = "";
	int r = vmi_mem_qemu_open(mem, sock, writable, &open_m, err,
				  sizeof(err));

	if (r)
		fail_msg("vmi_mem_qemu_open: %d %s", r, err);
	return open_m;
}

static struct qmp *qmp_ok(const char *sock)
{
	char err[256] = "";
	int r = qmp_open(sock, 0, &open_q, err, sizeof(err));

	if (r)
		fail_msg("qmp_open: %d %s", r, err);
	return open_q;
}

/* The hello guest, booted and halted (cli; hlt at CPL0), 128 MiB. */
static void need_pc(void)
{
	static const char *const extra[] = {
		"-machine", "pc", "-kernel", guest_elf, "-append", "halt",
		"-no-reboot", NULL,
	};
	int64_t end;

	if (!have_qemu)
		skip();
	if (pcq.pid > 0)
		return;
	qemu_start(&pcq, "pc", "128M", "pc", "share=on", extra);
	for (end = now_ms() + 20000; now_ms() < end; usleep(20000))
		if (file_has(pcq.serial, "cmdline: halt"))
			break;
	if (!file_has(pcq.serial, "cmdline: halt")) {
		print_log(&pcq);
		fail_msg("the guest did not print its command line");
	}
	/* Then it traps to CPL0 and halts there: wait for that too, so the
	 * registers the tests read are the halted ones. */
	qmp_ok(pcq.sock2);
	for (end = now_ms() + 10000; now_ms() < end; usleep(20000)) {
		char err[256] = "", *text;
		bool halted;

		assert_int_equal(qmp_hmp(open_q, "info registers", 0, &text,
					 err, sizeof(err)), 0);
		halted = strstr(text, "HLT=1") != NULL;
		free(text);
		if (halted) {
			qmp_close(open_q);
			open_q = NULL;
			return;
		}
	}
	fail_msg("the guest did not halt");
}

static void close_m(void)
{
	vmi_mem_close(open_m);
	open_m = NULL;
}

static int teardown(void **state)
{
	(void)state;
	close_m();
	qmp_close(open_q);
	open_q = NULL;
	return 0;
}

/* HMP xp: what QEMU itself reads at a guest-physical address. */
static uint64_t xp64(struct qmp *q, uint64_t pa)
{
	char cmd[64], err[256] = "", *text, *p;
	uint64_t v;

	snprintf(cmd, sizeof(cmd), "xp /1gx 0x%" PRIx64, pa);
	assert_int_equal(qmp_hmp(q, cmd, -1, &text, err, sizeof(err)), 0);
	p = strstr(text, ": 0x");
	if (!p)
		fail_msg("xp said: %s", text);
	v = strtoull(p + 2, NULL, 16);
	free(text);
	return v;
}

static void expect_ranges(struct vmi_mem *m, const struct vmi_range *want,
			  unsigned n)
{
	struct vmi_range r;
	uint64_t pa = 0;
	unsigned i = 0;

	while (vmi_mem_next_range(m, pa, &r) == 0) {
		assert_true(i < n);
		assert_int_equal(r.pa, want[i].pa);
		assert_int_equal(r.len, want[i].len);
		pa = r.pa + r.len;
		i++;
	}
	assert_int_equal(i, n);
}

/* ---- the guest ELF ---- */

struct elf {
	uint8_t *b;
	size_t len;
	const Elf64_Phdr *ph;
	unsigned phnum;
};

static void elf_read(struct elf *e)
{
	struct stat st;
	const Elf64_Ehdr *eh;
	int fd = open(guest_elf, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	e->len = (size_t)st.st_size;
	e->b = malloc(e->len);
	assert_non_null(e->b);
	assert_int_equal(read(fd, e->b, e->len), (ssize_t)e->len);
	close(fd);
	eh = (const Elf64_Ehdr *)e->b;
	assert_memory_equal(eh->e_ident, ELFMAG, SELFMAG);
	assert_true(eh->e_phoff + eh->e_phnum * sizeof(Elf64_Phdr) <= e->len);
	e->ph = (const Elf64_Phdr *)(e->b + eh->e_phoff);
	e->phnum = eh->e_phnum;
}

/* ---- tests against a real QEMU ---- */

/* The bytes at the code segment's p_paddr are the ELF file's: the
 * layout and the file are QEMU's. */
static void test_guest_memory_is_the_elf(void **state)
{
	static const struct vmi_range whole = { 0, 128 * MIB };
	struct vmi_mem *m;
	struct elf e;
	unsigned checked = 0;
	uint8_t b = 0x5a;

	(void)state;
	need_pc();
	m = open_ok(pcq.mem, pcq.sock, false);
	assert_string_equal(vmi_mem_name(m), "qemu");
	assert_true(vmi_mem_is_live(m));
	assert_int_equal(vmi_mem_max_pa(m), 128 * MIB);
	expect_ranges(m, &whole, 1);
	assert_int_equal(vmi_mem_nr_vcpus(m), 1);
	assert_non_null(vmi_mem_qemu_qmp(m));
	elf_read(&e);
	for (unsigned i = 0; i < e.phnum; i++) {
		const Elf64_Phdr *p = &e.ph[i];
		uint8_t *buf;

		/* Code only: the data segment changes as the guest runs. */
		if (p->p_type != PT_LOAD || !(p->p_flags & PF_X))
			continue;
		assert_true(p->p_offset + p->p_filesz <= e.len);
		buf = malloc(p->p_filesz);
		assert_non_null(buf);
		assert_int_equal(vmi_read_pa_full(m, p->p_paddr, buf,
						  p->p_filesz), 0);
		assert_memory_equal(buf, e.b + p->p_offset, p->p_filesz);
		free(buf);
		checked++;
	}
	assert_true(checked > 0);
	free(e.b);
	assert_int_equal(vmi_write_pa(m, 0x1000, &b, 1), -EROFS);
	assert_int_equal(vmi_read_u8_pa(m, 128 * MIB, &b), -EFAULT);
}

static void test_pause_registers_resume(void **state)
{
	struct vmi_mem *m;
	struct vmi_regs r;
	struct qmp *q2;
	struct elf e;
	uint64_t lo = UINT64_MAX, hi = 0;
	char status[32], err[256] = "";
	bool running;

	(void)state;
	need_pc();
	m = open_ok(pcq.mem, pcq.sock, false);
	q2 = qmp_ok(pcq.sock2);
	elf_read(&e);
	for (unsigned i = 0; i < e.phnum; i++) {
		const Elf64_Phdr *p = &e.ph[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_paddr < lo)
			lo = p->p_paddr;
		if (p->p_paddr + p->p_memsz > hi)
			hi = p->p_paddr + p->p_memsz;
	}
	free(e.b);

	assert_int_equal(vmi_mem_pause(m), 0);
	assert_int_equal(qmp_query_status(q2, &running, status, sizeof(status),
					  err, sizeof(err)), 0);
	assert_false(running);
	assert_string_equal(status, "paused");
	assert_int_equal(vmi_mem_get_regs(m, 0, &r), 0);
	assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR |
			 VMI_REGS_DT);
	assert_true(r.cr0 & 1);			/* PE */
	assert_true(r.cr0 & 0x80000000);	/* PG: the stub's long mode */
	assert_true(r.rip >= lo && r.rip < hi);
	assert_true(r.cr3 >= lo && r.cr3 < hi);	/* its page tables */
	assert_true(r.gdt_base >= lo && r.gdt_base < hi);
	assert_int_equal(r.cs, 0x08);		/* KCODE_SEL */
	assert_int_equal(r.cpu_id, 0);
	assert_int_equal(vmi_mem_get_regs(m, 1, &r), -EINVAL);

	assert_int_equal(vmi_mem_resume(m), 0);
	assert_int_equal(qmp_query_status(q2, &running, status, sizeof(status),
					  err, sizeof(err)), 0);
	assert_true(running);
	assert_string_equal(status, "running");
	/* Running: a snapshot, still well formed. */
	assert_int_equal(vmi_mem_get_regs(m, 0, &r), 0);
	assert_true(r.cr0 & 1);
	/* The backend's own connection answers too. */
	assert_int_equal(qmp_query_status(vmi_mem_qemu_qmp(m), &running, NULL,
					  0, err, sizeof(err)), 0);
	assert_true(running);
}

static void test_write_through_mapping(void **state)
{
	const uint64_t pa = 64 * MIB, v = 0x1122334455667788ull;
	struct vmi_mem *m;
	struct qmp *q2;
	uint64_t old, got;

	(void)state;
	need_pc();
	m = open_ok(pcq.mem, pcq.sock, true);
	q2 = qmp_ok(pcq.sock2);
	assert_int_equal(vmi_read_u64_pa(m, pa, &old), 0);
	assert_int_equal(vmi_write_pa(m, pa, &v, 8), 8);
	assert_int_equal(vmi_read_u64_pa(m, pa, &got), 0);
	assert_int_equal(got, v);
	assert_int_equal(xp64(q2, pa), v);	/* QEMU sees it */
	assert_int_equal(vmi_write_pa(m, pa, &old, 8), 8);
	assert_int_equal(xp64(q2, pa), old);
}

static void test_wrong_file_refused(void **state)
{
	char other[128], link[128], err[256] = "";
	struct vmi_mem *m = NULL;

	(void)state;
	need_pc();
	tmp_path(other, sizeof(other), "other.ram");
	make_file(other, 128 * MIB);
	assert_int_equal(vmi_mem_qemu_open(other, pcq.sock, false, &m, err,
					   sizeof(err)), -EINVAL);
	assert_null(m);
	assert_non_null(strstr(err, "is not the RAM of this QEMU"));
	assert_non_null(strstr(err, pcq.mem));
	unlink(other);
	assert_int_equal(vmi_mem_qemu_open(other, pcq.sock, false, &m, err,
					   sizeof(err)), -ENOENT);
	/* Another name for the same file is the same file. */
	tmp_path(link, sizeof(link), "link.ram");
	assert_int_equal(symlink(pcq.mem, link), 0);
	open_ok(link, pcq.sock, false);
	close_m();
	unlink(link);
}

/* Layouts split at 4 GiB, checked against what QEMU reads there. */
static void check_split(const char *name, const char *size,
			const char *machine, const struct vmi_range *want)
{
	struct qemu q;
	struct vmi_mem *m;
	struct qmp *q2;
	uint64_t lo_end = want[0].len, v = 0xfeedface12345678ull;
	uint8_t b;

	qemu_start(&q, name, size, machine, "share=on",
		   (const char *const[]){ "-S", NULL });
	m = open_ok(q.mem, q.sock, true);
	q2 = qmp_ok(q.sock2);
	expect_ranges(m, want, 2);
	assert_int_equal(vmi_read_u8_pa(m, lo_end, &b), -EFAULT);
	assert_int_equal(vmi_write_pa(m, 4 * GIB + 0x1000, &v, 8), 8);
	assert_int_equal(xp64(q2, 4 * GIB + 0x1000), v);
	v = ~v;
	assert_int_equal(vmi_write_pa(m, lo_end - 8, &v, 8), 8);
	assert_int_equal(xp64(q2, lo_end - 8), v);
	v = 0x0123456789abcdefull;
	assert_int_equal(vmi_write_pa(m, 4 * GIB + want[1].len - 8, &v, 8), 8);
	assert_int_equal(xp64(q2, 4 * GIB + want[1].len - 8), v);
	teardown(NULL);
	qemu_stop(&q);
}

static void test_split_layouts(void **state)
{
	static const struct vmi_range q35[] = {
		{ 0, 2 * GIB }, { 4 * GIB, 1 * GIB },
	}, pc[] = {
		{ 0, 512 * MIB }, { 4 * GIB, 512 * MIB },
	}, q35_1g[] = {
		{ 0, 1 * GIB }, { 4 * GIB, 2 * GIB },
	};

	(void)state;
	if (!have_qemu)
		skip();
	check_split("q35", "3G", "q35", q35);
	check_split("pcmax", "1G", "pc,max-ram-below-4g=512M", pc);
	check_split("q35max", "3G", "q35,max-ram-below-4g=1G", q35_1g);
}

static void test_unshared_or_memfd_refused(void **state)
{
	struct vmi_mem *m = NULL;
	struct qemu q;
	char err[256] = "", mem[128];

	(void)state;
	if (!have_qemu)
		skip();
	qemu_start(&q, "priv", "64M", "pc", "share=off",
		   (const char *const[]){ "-S", NULL });
	assert_int_equal(vmi_mem_qemu_open(q.mem, q.sock, false, &m, err,
					   sizeof(err)), -EOPNOTSUPP);
	assert_null(m);
	assert_non_null(strstr(err, "share=off"));
	assert_non_null(strstr(err, "share=on"));
	qemu_stop(&q);

	qemu_start(&q, "memfd", "64M", "pc", "memfd",
		   (const char *const[]){ "-S", NULL });
	tmp_path(mem, sizeof(mem), "memfd-other.ram");
	make_file(mem, 64 * MIB);
	assert_int_equal(vmi_mem_qemu_open(mem, q.sock, false, &m, err,
					   sizeof(err)), -EOPNOTSUPP);
	assert_non_null(strstr(err, "memory-backend-memfd, not a file"));
	unlink(mem);
	qemu_stop(&q);
}

static void test_no_socket(void **state)
{
	struct vmi_mem *m = NULL;
	char err[256] = "", sock[128], mem[128];

	(void)state;
	tmp_path(sock, sizeof(sock), "absent.sock");
	tmp_path(mem, sizeof(mem), "absent.ram");
	assert_int_equal(vmi_mem_qemu_open(mem, sock, false, &m, err,
					   sizeof(err)), -ENOENT);
	assert_null(m);
	assert_non_null(strstr(err, sock));
	assert_non_null(strstr(err, "-qmp unix:"));
	memset(sock, 'x', sizeof(sock) - 1);
	sock[0] = '/';
	sock[sizeof(sock) - 1] = 0;
	assert_int_equal(vmi_mem_qemu_open(mem, sock, false, &m, err,
					   sizeof(err)), -ENAMETOOLONG);
	assert_non_null(strstr(err, "at most 107"));
}

/* ---- fake QMP servers ---- */

#define HANG ((char *)1)    /* answer: say nothing until the client leaves */
#define EVENTS ((char *)2)  /* answer: an event every 20 ms, forever */
#define TRICKLE ((char *)3) /* answer: a good reply, one byte per 50 ms */

struct fake;
typedef char *(*answer_fn)(struct fake *f, const char *cmd, json_t *args);

struct fake {
	int fd, lfd;        /* the connection; the listener (path mode) */
	const char *greeting;
	size_t glen;
	bool close_after_greeting;
	answer_fn answer;   /* NULL: hang after the greeting */
	void *ctx;
	pthread_t th;
};

static const char std_greeting[] =
	"{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
	"\"major\": 7}, \"package\": \"fake\"}, \"capabilities\": "
	"[\"oob\"]}}\r\n";

static bool put(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		s += w;
		n -= (size_t)w;
	}
	return true;
}

static void drain(int fd)
{
	char b[4096];

	while (read(fd, b, sizeof(b)) > 0)
		;
}

/* One command line from the client: answers it; false to stop. */
static bool serve(struct fake *f, const char *line)
{
	json_t *cmd = json_loads(line, 0, NULL);
	const char *c = json_string_value(json_object_get(cmd, "execute"));
	char *a;
	bool go = true;

	if (!c) {
		json_decref(cmd);
		return false;
	}
	if (!strcmp(c, "qmp_capabilities"))
		a = strdup("{\"return\": {}}\r\n");
	else if (!f->answer)
		a = HANG;
	else
		a = f->answer(f, c, json_object_get(cmd, "arguments"));
	json_decref(cmd);
	if (a == HANG) {
		drain(f->fd);
		return false;
	}
	if (a == EVENTS) {
		while (put(f->fd, "{\"event\": \"X\", \"data\": {}}\r\n", 28))
			usleep(20000);
		return false;
	}
	if (a == TRICKLE) {
		static const char r[] = "{\"return\": {}}\r\n";

		for (size_t i = 0; i < sizeof(r) - 1 && go; i++) {
			go = put(f->fd, r + i, 1);
			usleep(50000);
		}
		drain(f->fd);
		return false;
	}
	if (!a)
		return false;
	go = put(f->fd, a, strlen(a));
	free(a);
	return go;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	char line[65536];
	size_t len = 0;

	if (f->lfd >= 0) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };

		if (poll(&p, 1, 5000) != 1)
			return NULL;
		f->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (f->fd < 0)
			return NULL;
	}
	if (!put(f->fd, f->greeting ? f->greeting : std_greeting,
		 f->greeting ? f->glen : strlen(std_greeting)) ||
	    f->close_after_greeting)
		goto out;
	for (;;) {
		ssize_t n = read(f->fd, line + len, sizeof(line) - 1 - len);
		char *nl;

		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = 0;
		while ((nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!serve(f, line))
				goto out;
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len + 1);
		}
		if (len == sizeof(line) - 1)
			break;
	}
out:
	close(f->fd);
	return NULL;
}

/* A fake on a socketpair: returns the client's end. */
static int fake_pair(struct fake *f)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    sv), 0);
	f->fd = sv[1];
	f->lfd = -1;
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
	return sv[0];
}

static void fake_listen(struct fake *f, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->fd = -1;
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_join(struct fake *f)
{
	pthread_join(f->th, NULL);
	if (f->lfd >= 0)
		close(f->lfd);
	f->lfd = -1;
}

/* qmp_open_fd against a fake whose greeting is g (length n); the error. */
static int open_fake_greeting(const char *g, size_t n, bool close_after,
			      char *err, size_t errlen, int64_t *ms)
{
	struct fake f = { .greeting = g, .glen = n,
			  .close_after_greeting = close_after };
	struct qmp *q = NULL;
	int64_t t0 = now_ms();
	int r = qmp_open_fd(fake_pair(&f), 300, &q, err, errlen);

	if (ms)
		*ms = now_ms() - t0;
	assert_null(q);
	fake_join(&f);
	return r;
}

static void test_qmp_bad_greetings(void **state)
{
	static const char hmp[] = "QEMU 7.2.22 monitor - type 'help' for more "
				  "information\r\n(qemu) ";
	static const char bad_json[] = "{\"QMP\": {\"version\": }}\r\n";
	static const char not_qmp[] = "{\"hello\": 1}\r\n";
	static const char cut[] = "{\"QMP\": {\"version\": {";
	char err[256] = "", *big;
	size_t n;
	int64_t ms;

	(void)state;
	assert_int_equal(open_fake_greeting("hello\r\n", 7, false, err,
					    sizeof(err), NULL), -EPROTO);
	assert_non_null(strstr(err, "not a QMP socket"));
	assert_int_equal(open_fake_greeting(hmp, strlen(hmp), false, err,
					    sizeof(err), NULL), -EPROTO);
	assert_int_equal(open_fake_greeting(bad_json, strlen(bad_json), false,
					    err, sizeof(err), NULL), -EPROTO);
	assert_non_null(strstr(err, "malformed JSON"));
	assert_int_equal(open_fake_greeting(not_qmp, strlen(not_qmp), false,
					    err, sizeof(err), NULL), -EPROTO);
	assert_non_null(strstr(err, "not a QMP greeting"));
	/* EOF in the middle of a message. */
	assert_int_equal(open_fake_greeting(cut, strlen(cut), true, err,
					    sizeof(err), NULL), -ECONNRESET);
	assert_non_null(strstr(err, "closed"));
	/* Nothing at all: the deadline. */
	assert_int_equal(open_fake_greeting("", 0, false, err, sizeof(err),
					    &ms), -ETIMEDOUT);
	assert_non_null(strstr(err, "no greeting within 300 ms"));
	assert_true(ms >= 250 && ms < 3000);
	/* 5 MiB in one string: refused at 4 MiB, not buffered whole. */
	n = 5 * MIB;
	big = malloc(n + 64);
	assert_non_null(big);
	strcpy(big, "{\"QMP\": {\"x\": \"");
	memset(big + strlen(big), 'a', n);
	strcpy(big + 15 + n, "\"}}\r\n");
	assert_int_equal(open_fake_greeting(big, strlen(big), false, err,
					    sizeof(err), &ms), -EMSGSIZE);
	assert_non_null(strstr(err, "larger than"));
	assert_true(ms < 3000);
	/* Nested 3000 deep: jansson's depth limit, no stack overflow. */
	n = 0;
	for (int i = 0; i < 3000; i++)
		n += (size_t)sprintf(big + n, "{\"a\":");
	n += (size_t)sprintf(big + n, "1");
	for (int i = 0; i < 3000; i++)
		big[n++] = '}';
	assert_int_equal(open_fake_greeting(big, n, false, err, sizeof(err),
					    NULL), -EPROTO);
	free(big);
}

static char *dup_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT), *r;

	json_decref(j);
	assert_non_null(s);
	assert_true(asprintf(&r, "%s\r\n", s) > 0);
	free(s);
	return r;
}

static char *ret_json(json_t *v)
{
	return dup_json(json_pack("{s:o}", "return", v));
}

static char *err_json(const char *cls, const char *desc)
{
	return dup_json(json_pack("{s:{s:s, s:s}}", "error", "class", cls,
				  "desc", desc));
}

static char *replies(struct fake *f, const char *cmd, json_t *args)
{
	(void)f;
	(void)args;
	if (!strcmp(cmd, "query-status"))
		/* A stale reply, an event, then the answer. */
		return strdup("{\"return\": {\"status\": \"running\", "
			      "\"running\": true}, \"id\": 999}\r\n"
			      "{\"event\": \"STOP\", \"timestamp\": {}}\r\n"
			      "{\"return\": {\"status\": \"paused\", "
			      "\"singlestep\": false, "
			      "\"running\": false}}\r\n");
	if (!strcmp(cmd, "stop"))
		return err_json("GenericError", "boom\nsecond line");
	if (!strcmp(cmd, "human-monitor-command"))
		return ret_json(json_string(json_string_value(
			json_object_get(args, "command-line"))));
	if (!strcmp(cmd, "x-events"))
		return EVENTS;
	if (!strcmp(cmd, "x-trickle"))
		return TRICKLE;
	if (!strcmp(cmd, "x-error"))
		return strdup("{\"error\": {\"class\": 3}}\r\n");
	if (!strcmp(cmd, "cont"))
		return strdup("[1, 2]\r\n");
	return err_json("CommandNotFound", "The command has not been found");
}

/* A QMP connection to the fake f, on a socketpair. */
static struct qmp *open_fake(struct fake *f)
{
	struct qmp *q = NULL;
	char err[256] = "";

	assert_int_equal(qmp_open_fd(fake_pair(f), 300, &q, err, sizeof(err)),
			 0);
	return q;
}

static void close_fake(struct qmp *q, struct fake *f)
{
	qmp_close(q);
	fake_join(f);
}

/* cmd gives up at the deadline (the fake's answer never completes), not
 * much after it. */
static void expect_timeout(struct qmp *q, const char *cmd)
{
	char err[256];
	int64_t t0 = now_ms();

	assert_int_equal(qmp_execute(q, cmd, NULL, NULL, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_true(now_ms() - t0 < 3000);
}

static void test_qmp_replies(void **state)
{
	struct fake f = { .answer = replies };
	struct qmp *q;
	char err[256] = "", st[16], *text;
	bool running = true;
	int major, minor, micro;

	(void)state;
	q = open_fake(&f);
	qmp_version(q, &major, &minor, &micro);
	assert_int_equal(major * 10000 + minor * 100 + micro, 70222);
	assert_int_equal(qmp_query_status(q, &running, st, sizeof(st), err,
					  sizeof(err)), 0);
	assert_false(running);
	assert_string_equal(st, "paused");
	assert_int_equal(qmp_stop(q, err, sizeof(err)), -EREMOTEIO);
	assert_string_equal(err, "QMP stop: boom?second line (GenericError)");
	assert_int_equal(qmp_execute(q, "nosuch", NULL, NULL, err, sizeof(err)),
			 -ENOSYS);
	assert_int_equal(qmp_hmp(q, "info version", 1, &text, err, sizeof(err)),
			 0);
	assert_string_equal(text, "info version");
	free(text);
	/* Events until the deadline: a timeout, and still usable. */
	expect_timeout(q, "x-events");
	close_fake(q, &f);

	/* A reply too slow as a whole, however lively. */
	q = open_fake(&f);
	expect_timeout(q, "x-trickle");
	close_fake(q, &f);

	/* Not QMP: the connection is given up. */
	q = open_fake(&f);
	assert_int_equal(qmp_execute(q, "x-error", NULL, NULL, err,
				     sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "without class"));
	assert_int_equal(qmp_stop(q, err, sizeof(err)), -ENOTCONN);
	close_fake(q, &f);
	q = open_fake(&f);
	assert_int_equal(qmp_cont(q, err, sizeof(err)), -EPROTO);
	assert_int_equal(qmp_stop(q, err, sizeof(err)), -ENOTCONN);
	close_fake(q, &f);
}

/* ---- a fake QEMU for the backend ---- */

struct fq {
	const char *type;
	uint64_t size, file_size;
	int64_t mb4g;          /* < 0: no such property */
	bool share;
	const char *mtree;     /* NULL: info mtree says nothing useful */
	const char *regs;
	char mem[128];
};

static char *fq_answer(struct fake *f, const char *cmd, json_t *args)
{
	struct fq *fq = f->ctx;
	const char *path = json_string_value(json_object_get(args, "path"));
	const char *prop = json_string_value(json_object_get(args, "property"));
	const char *line = json_string_value(json_object_get(args,
							     "command-line"));

	if (!strcmp(cmd, "qom-get") && !strcmp(path, "/machine")) {
		if (!strcmp(prop, "type"))
			return ret_json(json_string(fq->type));
		if (!strcmp(prop, "memory-backend"))
			return ret_json(json_string("/objects/m"));
		if (!strcmp(prop, "max-ram-below-4g") && fq->mb4g >= 0)
			return ret_json(json_integer(fq->mb4g));
	}
	if (!strcmp(cmd, "qom-get") && !strcmp(path, "/objects/m") &&
	    !strcmp(prop, "mem-path"))
		return ret_json(json_string(fq->mem));
	if (!strcmp(cmd, "qom-get"))
		return err_json("GenericError", "Property not found");
	if (!strcmp(cmd, "query-memdev"))
		return ret_json(json_pack("[{s:s, s:I, s:b}]", "id", "m",
					  "size", (json_int_t)fq->size,
					  "share", fq->share));
	if (!strcmp(cmd, "query-memory-size-summary"))
		return ret_json(json_pack("{s:I, s:i}", "base-memory",
					  (json_int_t)fq->size,
					  "plugged-memory", 0));
	if (!strcmp(cmd, "query-cpus-fast"))
		return ret_json(json_pack("[{s:i}, {s:i}]", "cpu-index", 0,
					  "cpu-index", 2));
	if (!strcmp(cmd, "human-monitor-command") &&
	    !strcmp(line, "info mtree"))
		return ret_json(json_string(fq->mtree ? fq->mtree : ""));
	if (!strcmp(cmd, "human-monitor-command") &&
	    !strcmp(line, "info registers"))
		return ret_json(json_string(fq->regs ? fq->regs : ""));
	if (!strcmp(cmd, "stop") || !strcmp(cmd, "cont"))
		return ret_json(json_object());
	return err_json("CommandNotFound", "no");
}

static struct fake fqk;

static int fq_open(struct fq *fq, struct vmi_mem **m, char *err,
		   size_t errlen)
{
	char sock[128];
	int r;

	tmp_path(fq->mem, sizeof(fq->mem), "fake.ram");
	tmp_path(sock, sizeof(sock), "fake.sock");
	make_file(fq->mem, fq->file_size ? fq->file_size : fq->size);
	fqk = (struct fake){ .answer = fq_answer, .ctx = fq };
	fake_listen(&fqk, sock);
	r = vmi_mem_qemu_open_timeout(fq->mem, sock, false, 2000, m, err,
				      errlen);
	if (r < 0) {
		assert_null(*m);
		fake_join(&fqk);
		unlink(fq->mem);
		unlink(sock);
	}
	return r;
}

static void fq_close(struct fq *fq, struct vmi_mem *m)
{
	char sock[128];

	vmi_mem_close(m);
	fake_join(&fqk);
	tmp_path(sock, sizeof(sock), "fake.sock");
	unlink(sock);
	unlink(fq->mem);
}

static void test_fake_qemu_layouts(void **state)
{
	static const struct vmi_range pc6[] = {
		{ 0, 2 * GIB }, { 4 * GIB, 4 * GIB },
	}, old4[] = {
		{ 0, 0xe0000000 }, { 4 * GIB, 0x20000000 },
	}, q35[] = {
		{ 0, 1 * GIB }, { 4 * GIB, 2 * GIB },
	};
	static const char mtree_ok[] =
		"memory-region: system\r\n"
		"  0000000000000000-ffffffffffffffff (prio 0, i/o): system\r\n"
		"    0000000000000000-000000003fffffff (prio 0, ram): alias "
		"ram-below-4g @m 0000000000000000-000000003fffffff\r\n"
		"    0000000100000000-000000017fffffff (prio 0, ram): alias "
		"ram-above-4g @m 0000000040000000-00000000bfffffff\r\n";
	struct fq fq = { .type = "pc-i440fx-7.2-machine", .size = 6 * GIB,
			 .mb4g = 2 * GIB, .share = true, .regs = regs64 };
	struct vmi_mem *m = NULL;
	struct vmi_regs r;
	char err[256] = "";

	(void)state;
	/* pc, 6 GiB, max-ram-below-4g=2G; no mtree to confirm it. */
	assert_int_equal(fq_open(&fq, &m, err, sizeof(err)), 0);
	expect_ranges(m, pc6, 2);
	assert_int_equal(vmi_mem_nr_vcpus(m), 2);
	assert_int_equal(vmi_mem_get_regs(m, 0, &r), 0);
	assert_int_equal(r.rip, 0x10007b);
	assert_int_equal(r.cpu_id, 0);
	/* vCPU 1 is QEMU's CPU 2; the text says CPU#0. */
	assert_int_equal(vmi_mem_get_regs(m, 1, &r), -EPROTO);
	assert_non_null(strstr(vmi_mem_qemu_error(m), "CPU#0"));
	assert_int_equal(vmi_mem_pause(m), 0);
	assert_int_equal(vmi_mem_resume(m), 0);
	fq_close(&fq, m);

	/* pc-i440fx-1.7: no 3 GiB cap (gigabyte_align off); the property
	 * absent. The text of info registers is garbage. */
	fq = (struct fq){ .type = "pc-i440fx-1.7-machine", .size = 4 * GIB,
			  .mb4g = -1, .share = true, .regs = "RAX=zz\r\n" };
	assert_int_equal(fq_open(&fq, &m, err, sizeof(err)), 0);
	expect_ranges(m, old4, 2);
	assert_int_equal(vmi_mem_get_regs(m, 0, &r), -EPROTO);
	assert_non_null(strstr(vmi_mem_qemu_error(m), "not a hex number"));
	fq_close(&fq, m);

	/* q35, 3 GiB, max-ram-below-4g=1G, confirmed by info mtree. */
	fq = (struct fq){ .type = "pc-q35-4.0.1-machine", .size = 3 * GIB,
			  .mb4g = 1 * GIB, .share = true, .mtree = mtree_ok };
	assert_int_equal(fq_open(&fq, &m, err, sizeof(err)), 0);
	expect_ranges(m, q35, 2);
	fq_close(&fq, m);
}

static void test_fake_qemu_refusals(void **state)
{
	static const char mtree_other[] =
		"    0000000000000000-000000007fffffff (prio 0, ram): alias "
		"ram-below-4g @m 0000000000000000-000000007fffffff\r\n"
		"    0000000100000000-000000013fffffff (prio 0, ram): alias "
		"ram-above-4g @m 0000000080000000-00000000bfffffff\r\n";
	static const char mtree_pcram[] =
		"    0000000000000000-000000003fffffff (prio 0, ram): alias "
		"ram-below-4g @pc.ram 0000000000000000-000000003fffffff\r\n";
	static const struct {
		const char *type;
		uint64_t size, file_size;
		int64_t mb4g;
		bool share;
		const char *mtree, *msg;
		int ret;
	} cases[] = {
		{ "microvm-machine", GIB, 0, -1, true, NULL,
		  "machine type 'microvm-machine'", -EOPNOTSUPP },
		{ "pc-i440fx-7.2", GIB, 0, -1, true, NULL, "machine type",
		  -EOPNOTSUPP },
		{ "pc-q35-x.2-machine", GIB, 0, -1, true, NULL,
		  "machine type", -EOPNOTSUPP },
		{ "pc-q35-7.2-machine", GIB, 0, -1, false, NULL,
		  "share=off", -EOPNOTSUPP },
		{ "pc-q35-7.2-machine", GIB, GIB / 2, -1, true, NULL,
		  "bytes, QEMU's RAM", -EINVAL },
		{ "pc-q35-7.2-machine", 3 * GIB, 0, 5 * GIB, true, NULL,
		  "max-ram-below-4g", -EPROTO },
		{ "pc-q35-7.2-machine", 3 * GIB, 0, GIB, true, mtree_other,
		  "otherwise than", -EOPNOTSUPP },
		{ "pc-i440fx-7.2-machine", GIB, 0, -1, true, mtree_pcram,
		  "not backend 'm'", -EOPNOTSUPP },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fq fq = { .type = cases[i].type, .size = cases[i].size,
				 .file_size = cases[i].file_size,
				 .mb4g = cases[i].mb4g,
				 .share = cases[i].share,
				 .mtree = cases[i].mtree };
		struct vmi_mem *m = NULL;

		err[0] = 0;
		assert_int_equal(fq_open(&fq, &m, err, sizeof(err)),
				 cases[i].ret);
		if (!strstr(err, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
				 cases[i].msg);
	}
}

/* A QMP server that sends garbage, via the socket path. */
static void test_fake_garbage_open(void **state)
{
	struct fake f = { .greeting = "\x01\x02garbage", .glen = 9 };
	struct vmi_mem *m = NULL;
	char sock[128], mem[128], err[256] = "";

	(void)state;
	tmp_path(sock, sizeof(sock), "garbage.sock");
	tmp_path(mem, sizeof(mem), "garbage.ram");
	fake_listen(&f, sock);
	assert_int_equal(vmi_mem_qemu_open_timeout(mem, sock, false, 500, &m,
						   err, sizeof(err)), -EPROTO);
	assert_null(m);
	assert_non_null(strstr(err, "byte 0x01"));
	fake_join(&f);
	unlink(sock);
}

/* ---- layouts ---- */

static void test_layout_rules(void **state)
{
	static const uint64_t sizes[] = {
		1 * MIB, 1 * GIB, 0xb0000000 - 4096, 0xb0000000, 3 * GIB,
		0xe0000000 - 4096, 0xe0000000, 4 * GIB, 64 * GIB,
	};
	struct vmi_region a[2], b[2];
	int n;

	(void)state;
	/* Unset, or set to the default QEMU reports back, is the default. */
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int mach = 0; mach < 2; mach++) {
			uint64_t dflt = mach ? 4 * GIB : 0xe0000000;

			n = vmi_layout_pc(mach, sizes[i], a);
			assert_int_equal(vmi_qemu_layout(mach, true, sizes[i],
							 0, b), n);
			assert_memory_equal(a, b, n * sizeof(a[0]));
			assert_int_equal(vmi_qemu_layout(mach, true, sizes[i],
							 dflt, b), n);
			assert_memory_equal(a, b, n * sizeof(a[0]));
		}
	}
	/* pc: the user's limit, capped at 3 GiB once RAM reaches it. */
	assert_int_equal(vmi_qemu_layout(VMI_PC_I440FX, true, 3 * GIB, 2 * GIB,
					 b), 2);
	assert_int_equal(b[0].len, 2 * GIB);
	assert_int_equal(b[1].off, 2 * GIB);
	assert_int_equal(b[1].len, 1 * GIB);
	assert_int_equal(vmi_qemu_layout(VMI_PC_I440FX, true, 8 * GIB,
					 0xf0000000, b), 2);
	assert_int_equal(b[0].len, 3 * GIB);
	assert_int_equal(vmi_qemu_layout(VMI_PC_I440FX, true, 0xe8000000,
					 0xf0000000, b), 1);
	assert_int_equal(vmi_qemu_layout(VMI_PC_I440FX, false, 4 * GIB, 0, b),
			 2);
	assert_int_equal(b[0].len, 0xe0000000);
	/* q35: min(QEMU's, the user's). */
	assert_int_equal(vmi_qemu_layout(VMI_PC_Q35, true, 4 * GIB, 3 * GIB,
					 b), 2);
	assert_int_equal(b[0].len, 2 * GIB);
	assert_int_equal(vmi_qemu_layout(VMI_PC_Q35, true, 2 * GIB, 1 * GIB,
					 b), 2);
	assert_int_equal(b[0].len, 1 * GIB);
	assert_int_equal(b[1].gpa, 4 * GIB);
	assert_int_equal(b[1].len, 1 * GIB);
	assert_int_equal(vmi_qemu_layout(VMI_PC_Q35, true, GIB, 4 * GIB + 1, b),
			 -EINVAL);
	assert_int_equal(vmi_qemu_layout(VMI_PC_Q35, true, 0, 0, b), -EINVAL);
}

/* ---- info registers ---- */

static int parse(const char *t, size_t n, struct vmi_regs *r, int *cpu,
		 char *err, size_t errlen)
{
	return vmi_hmp_parse_regs(t, n, r, cpu, err, errlen);
}

static void test_regs_captured(void **state)
{
	struct vmi_regs r;
	char err[256] = "";
	int cpu;

	(void)state;
	assert_int_equal(parse(regs64, strlen(regs64), &r, &cpu, err,
			       sizeof(err)), 0);
	assert_int_equal(cpu, 0);
	assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR |
			 VMI_REGS_DT);
	assert_int_equal(r.rax, 0x60);
	assert_int_equal(r.rdx, 0x3fd);
	assert_int_equal(r.rsi, 0x10111d);
	assert_int_equal(r.rbp, 2);
	assert_int_equal(r.rsp, 0x11a138);
	assert_int_equal(r.r8, 0x74);
	assert_int_equal(r.r11, 0x3f8);
	assert_int_equal(r.r15, 4);
	assert_int_equal(r.rip, 0x10007b);
	assert_int_equal(r.rflags, 0x3046);
	assert_int_equal(r.es, 0x23);
	assert_int_equal(r.cs, 0x08);
	assert_int_equal(r.ss, 0);
	assert_int_equal(r.gs, 0x23);
	assert_int_equal(r.gdt_base, 0x108000);
	assert_int_equal(r.gdt_limit, 0x37);
	assert_int_equal(r.idt_base, 0x108070);
	assert_int_equal(r.idt_limit, 0x3f);
	assert_int_equal(r.cr0, 0x80000011);
	assert_int_equal(r.cr3, 0x102000);
	assert_int_equal(r.cr4, 0x20);

	assert_int_equal(parse(regs32, strlen(regs32), &r, &cpu, err,
			       sizeof(err)), 0);
	assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG | VMI_REGS_CR |
			 VMI_REGS_DT);
	assert_int_equal(r.rip, 0xfff0);
	assert_int_equal(r.rdx, 0x60fb1);
	assert_int_equal(r.rflags, 2);
	assert_int_equal(r.cs, 0xf000);
	assert_int_equal(r.r8, 0);
	assert_int_equal(r.cr0, 0x60000010);
	assert_int_equal(r.gdt_limit, 0xffff);
}

static void test_regs_tolerant(void **state)
{
	struct vmi_regs r;
	char err[256] = "", *t;
	int cpu;

	(void)state;
	/* Unknown lines and fields, no CPU# line, bare \n, FS/GS bases. */
	assert_true(asprintf(&t, "%s", strstr(regs64, "RAX=")) > 0);
	t = realloc(t, strlen(t) + 400);
	strcat(t, "PKRU=55555554\nOpmask00=0000000000000000 X=1\n\n"
		  "ZMM00=0 1 2 3\n");
	assert_int_equal(parse(t, strlen(t), &r, &cpu, err, sizeof(err)), 0);
	assert_int_equal(cpu, -1);
	free(t);
	t = strdup("RAX=1 RBX=2 RCX=3 RDX=4 RSI=5 RDI=6 RBP=7 RSP=8 R8 =9 "
		   "R9=a R10=b R11=c R12=d R13=e R14=f R15=10 RIP=11 RFL=12\n"
		   "FS =0000 ffff888007a00000 ffffffff 00c00000\n"
		   "GS =0000 ffff88803ec00000 ffffffff 00c00000\n"
		   "ES =0 0 0 0\n"
		   "CS =0010 0 ffffffff 00a09b00 DPL=0 CS64 [-RA]\n"
		   "SS =0018 0 ffffffff 00c09300\nDS =0 0 0 0\n");
	assert_int_equal(parse(t, strlen(t), &r, &cpu, err, sizeof(err)), 0);
	assert_int_equal(r.valid, VMI_REGS_GPR | VMI_REGS_SEG);
	assert_int_equal(r.r8, 9);
	assert_int_equal(r.rflags, 0x12);
	assert_int_equal(r.fs_base, 0xffff888007a00000ull);
	assert_int_equal(r.gs_base, 0xffff88803ec00000ull);
	assert_int_equal(r.cs, 0x10);
	free(t);
}

static char *without_line(const char *text, const char *prefix)
{
	char *t = strdup(text), *p = strstr(t, prefix), *nl;

	assert_non_null(p);
	nl = strchr(p, '\n');
	memmove(p, nl + 1, strlen(nl + 1) + 1);
	return t;
}

static void expect_bad(const char *t, size_t n, const char *msg)
{
	struct vmi_regs r;
	char err[256] = "";
	int cpu = 5, ret = parse(t, n, &r, &cpu, err, sizeof(err));

	if (ret != -EPROTO)
		fail_msg("%d for \"%.*s\" (expected \"%s\")", ret,
			 (int)(n < 60 ? n : 60), t, msg);
	assert_int_equal(r.valid, 0);
	assert_int_equal(cpu, -1);
	if (!strstr(err, msg))
		fail_msg("\"%s\" lacks \"%s\"", err, msg);
}

static void test_regs_refused(void **state)
{
	char *t, *u;

	(void)state;
	expect_bad("", 0, "no RAX= or EAX=");
	expect_bad("garbage\n\x01\x02", 10, "no RAX= or EAX=");
	t = without_line(regs64, "R12=");
	expect_bad(t, strlen(t), "only part of RAX..R15");
	free(t);
	t = strdup(regs64);
	u = strstr(t, "CR3=");
	memset(u, 'x', 3);	/* "xxx=...": an unknown field */
	expect_bad(t, strlen(t), "only part of CR0");
	free(t);
	t = without_line(regs64, "IDT=");
	expect_bad(t, strlen(t), "only part of GDT IDT");
	free(t);
	t = without_line(regs64, "GS =");
	expect_bad(t, strlen(t), "only part of ES CS");
	free(t);
	assert_true(asprintf(&t, "%sRAX=0\n", regs64) > 0);
	expect_bad(t, strlen(t), "RAX given twice");
	free(t);
	assert_true(asprintf(&t, "%s%s", regs64, regs32) > 0);
	expect_bad(t, strlen(t), "more than one CPU");
	free(t);
	u = without_line(regs32, "CPU#");
	assert_true(asprintf(&t, "%s%s", regs64, u) > 0);
	expect_bad(t, strlen(t), "given twice");
	free(t);
	free(u);
	expect_bad("EAX=0 R8 =0\n", 12, "both 32-bit");
	expect_bad("RAX=00000000000000000\n", 22, "longer than 16");
	expect_bad("EAX=123456789\n", 14, "EAX longer than 8");
	expect_bad("RAX=xyz\n", 8, "not a hex number");
	expect_bad("RAX=12g4\n", 9, "not a hex number");
	expect_bad("RAX=12\0004\n", 9, "not a hex number");
	expect_bad("ES =0023 0000\n", 14, "segment limit missing");
	expect_bad("ES =00230 0 0 0\n", 16, "ES longer than 4");
	expect_bad("GDT=\n", 5, "GDT is not a hex number");
	expect_bad("CPU#\nRAX=1\n", 11, "bad CPU#N");
	expect_bad("CPU#1234567890\n", 15, "bad CPU#N");
	t = calloc(1, VMI_HMP_REGS_MAX_TEXT + 2);
	memset(t, ' ', VMI_HMP_REGS_MAX_TEXT + 1);
	expect_bad(t, VMI_HMP_REGS_MAX_TEXT + 1, "at most");
	free(t);
}

/* Every prefix, and random damage: 0 or -EPROTO, never a crash. */
static void test_regs_damaged(void **state)
{
	static const char alphabet[] = "=\n\r 0fF#[]xRAXCSGDTEIP\t";
	size_t n = strlen(regs64);
	struct vmi_regs r;
	char err[256], *t = malloc(n);
	unsigned seed = 42, ok = 0;
	int cpu, ret;

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i <= n; i++) {
		memcpy(t, regs64, i);	/* unterminated: the length rules */
		ret = parse(t, i, &r, &cpu, err, sizeof(err));
		assert_true(ret == 0 || ret == -EPROTO);
		if (ret == 0)
			assert_true(r.valid & VMI_REGS_GPR);
	}
	for (int i = 0; i < 5000; i++) {
		memcpy(t, regs64, n);
		for (int j = 0; j < 1 + i % 4; j++) {
			size_t at = (size_t)rand_r(&seed) % n;

			t[at] = rand_r(&seed) % 3 ? alphabet[rand_r(&seed) %
				(sizeof(alphabet) - 1)] : (char)rand_r(&seed);
		}
		ret = parse(t, n, &r, &cpu, err, sizeof(err));
		assert_true(ret == 0 || ret == -EPROTO);
		ok += ret == 0;
	}
	assert_true(ok > 0);
	free(t);
}

/* ---- setup ---- */

static int setup(void **state)
{
	const char *b = getenv("VSB_BUILD");
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	(void)state;
	/* tmpfs: RAM files of a few GiB cost only the pages touched. */
	if (access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "%s/vmi-qemu.XXXXXX", base);
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(guest_elf, sizeof(guest_elf), "%s/guests/hello.elf",
		 b ? b : "build");
	have_qemu = in_path("qemu-system-x86_64");
	if (!have_qemu)
		print_message("qemu-system-x86_64 not found: QEMU tests "
			      "skipped\n");
	else if (access(guest_elf, R_OK) != 0)
		print_message("no %s (make guests): the guest tests will "
			      "fail\n", guest_elf);
	return 0;
}

static int cleanup(void **state)
{
	(void)state;
	teardown(NULL);
	qemu_stop(&pcq);
	rmdir(tmpdir);
	return 0;
}

#define T(f) cmocka_unit_test_teardown(f, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_regs_captured),
		T(test_regs_tolerant),
		T(test_regs_refused),
		T(test_regs_damaged),
		T(test_layout_rules),
		T(test_qmp_bad_greetings),
		T(test_qmp_replies),
		T(test_fake_qemu_layouts),
		T(test_fake_qemu_refusals),
		T(test_fake_garbage_open),
		T(test_no_socket),
		T(test_guest_memory_is_the_elf),
		T(test_pause_registers_resume),
		T(test_write_through_mapping),
		T(test_wrong_file_refused),
		T(test_split_layouts),
		T(test_unshared_or_memfd_refused),
	};

	return cmocka_run_group_tests(tests, setup, cleanup);
}
