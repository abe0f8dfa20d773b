/* vsb-ghv's privilege drop and seccomp filter: see ghv_sandbox.h. The
 * allow-list was found with strace -f on vsb-ghv in both routings (disk
 * I/O, SSH and VNC sessions, the tap); operator/README.md explains it. */
#include "ghv_sandbox.h"

#include <errno.h>
#include <grp.h>
#include <linux/sched.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../vmm/log.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

int ghv_sandbox_parse_user(const char *spec, uid_t *uid, gid_t *gid)
{
	char *end;
	unsigned long u, g;
	struct passwd *pw;

	errno = 0;
	u = strtoul(spec, &end, 10);
	if (end != spec && !errno && (*end == 0 || *end == ':') &&
	    u < (uid_t)-1) {
		*uid = (uid_t)u;
		if (*end == ':') {
			const char *gs = end + 1;
			g = strtoul(gs, &end, 10);
			if (end == gs || *end || errno || g >= (gid_t)-1)
				goto bad;
			*gid = (gid_t)g;
		} else {
			pw = getpwuid(*uid);
			*gid = pw ? pw->pw_gid : (gid_t)u;
		}
	} else if ((pw = getpwnam(spec))) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	} else {
		goto bad;
	}
	if (*uid == 0) {
		log_error("--user %s is root: give an unprivileged user", spec);
		return -EINVAL;
	}
	return 0;
bad:
	log_error("--user %s: no such user (NAME or UID[:GID])", spec);
	return -EINVAL;
}

int ghv_sandbox_drop(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0)
		return log_errno(-errno, "setgroups");
	if (setresgid(gid, gid, gid) < 0)
		return log_errno(-errno, "setresgid %u", (unsigned)gid);
	if (setresuid(uid, uid, uid) < 0)
		return log_errno(-errno, "setresuid %u", (unsigned)uid);
	/* Paranoia: a partial drop must not go unnoticed. */
	if (setresuid(0, 0, 0) == 0 || geteuid() != uid || getegid() != gid) {
		log_error("could not drop root for good");
		return -EPERM;
	}
	/* Changing credentials cleared it; tests read our memory as root. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	log_info("running as uid %u, gid %u", (unsigned)uid, (unsigned)gid);
	return 0;
}

/* What every vsb-ghv needs once set up: memory, threads and their
 * synchronization, time, signals, the rings' eventfds and socket (recv to
 * see it close), the disk image (pread/pwrite/fdatasync), the tap's files
 * (each screen is a new file, renamed into place), identity queries. */
static const int base_allow[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv),
	SCMP_SYS(pwritev), SCMP_SYS(lseek), SCMP_SYS(fsync),
	SCMP_SYS(fdatasync), SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(newfstatat), SCMP_SYS(openat), SCMP_SYS(renameat),
	SCMP_SYS(unlinkat), SCMP_SYS(fcntl), SCMP_SYS(recvfrom),
	SCMP_SYS(sendto), SCMP_SYS(poll), SCMP_SYS(ppoll), SCMP_SYS(futex),
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect),
	SCMP_SYS(madvise), SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq), SCMP_SYS(sigaltstack), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(rt_sigaction),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(nanosleep), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(clock_gettime), SCMP_SYS(gettimeofday), SCMP_SYS(getrandom),
	SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(getuid),
	SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
};

/* Traditional routing: the SSH and VNC servers' threads bind (SSH binds
 * in ghv_console_start) and accept TCP connections, wait on them and on
 * their eventfds, and read (creating the directory path if needed) host
 * keys and authorized_keys, which is re-read at every login. */
static const int console_allow[] = {
	SCMP_SYS(bind), SCMP_SYS(listen), SCMP_SYS(accept),
	SCMP_SYS(accept4), SCMP_SYS(setsockopt), SCMP_SYS(getsockopt),
	SCMP_SYS(getsockname), SCMP_SYS(getpeername), SCMP_SYS(shutdown),
	SCMP_SYS(select), SCMP_SYS(pselect6), SCMP_SYS(eventfd2),
	SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
};

/* What an attacker in control of vsb-ghv would reach for first: running
 * other programs, other processes' memory, the kernel's module, BPF,
 * perf, keyring and mount interfaces. Death, not an error, so the attempt
 * is loud. */
static const int kill_list[] = {
	SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace),
	SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
	SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(kexec_load),
	SCMP_SYS(kexec_file_load), SCMP_SYS(init_module),
	SCMP_SYS(finit_module), SCMP_SYS(delete_module), SCMP_SYS(bpf),
	SCMP_SYS(perf_event_open), SCMP_SYS(keyctl), SCMP_SYS(add_key),
	SCMP_SYS(request_key),
};

static int add_list(scmp_filter_ctx ctx, uint32_t action, const int *sys,
		    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = seccomp_rule_add(ctx, action, sys[i], 0);
		if (ret < 0) {
			char *name = seccomp_syscall_resolve_num_arch(
				SCMP_ARCH_NATIVE, sys[i]);
			log_errno(ret, "seccomp rule for %s",
				  name ? name : "?");
			free(name);
			return ret;
		}
	}
	return 0;
}

/* Threads only: clone with CLONE_THREAD (fork and vfork lack it), and
 * clone3, whose flags sit behind a pointer, fails with ENOSYS so glibc
 * falls back to clone. */
static int add_clone(scmp_filter_ctx ctx)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD,
					CLONE_THREAD));
}

/* Signals to our own threads only (abort(), pthread_kill). */
static int add_tgkill(scmp_filter_ctx ctx)
{
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
}

/* Sockets: only the IPv4 and IPv6 ones the SSH server binds, and the
 * UNIX socket pairs that carry an SSH port forward to the VNC server. */
static int add_socket(scmp_filter_ctx ctx)
{
	int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				   SCMP_A0(SCMP_CMP_EQ, AF_INET));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				       SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	if (!ret)
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW,
				       SCMP_SYS(socketpair), 1,
				       SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	return ret;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

int ghv_sandbox_seccomp(bool traditional)
{
	/* ENOSYS, not EPERM: glibc takes ENOSYS as "not in this kernel" and
	 * falls back (clone3 to clone), where EPERM would be a failure. */
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
	int ret;

	if (!ctx)
		return log_errno(-ENOMEM, "seccomp_init");
#ifdef __SANITIZE_ADDRESS__
	/* LeakSanitizer's exit check needs ptrace and fork, which the filter
	 * forbids: check now, which also turns the exit check off. */
	__lsan_do_leak_check();
#endif
	/* No setuid program may give back what was dropped. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		seccomp_release(ctx);
		return log_errno(-errno, "PR_SET_NO_NEW_PRIVS");
	}
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (!ret)
		ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (!ret)
		ret = add_list(ctx, SCMP_ACT_ALLOW, base_allow, N(base_allow));
	if (!ret)
		ret = add_clone(ctx);
	if (!ret)
		ret = add_tgkill(ctx);
	if (!ret && traditional)
		ret = add_list(ctx, SCMP_ACT_ALLOW, console_allow,
			       N(console_allow));
	if (!ret && traditional)
		ret = add_socket(ctx);
	if (!ret)
		ret = add_list(ctx, SCMP_ACT_KILL_PROCESS, kill_list,
			       N(kill_list));
	if (!ret)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret < 0)
		return log_errno(ret, "loading the seccomp filter");
	log_info("seccomp filter loaded (%s)",
		 traditional ? "with the console servers" : "disk only");
	return 0;
}
