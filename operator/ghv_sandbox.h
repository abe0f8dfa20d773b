/* vsb-ghv's sandbox: it runs as an unprivileged user with no way back
 * (setgroups/setgid/setuid, PR_SET_NO_NEW_PRIVS), and once set up under a
 * seccomp allow-list; the system calls an attacker who took it over would
 * want first (exec, ptrace, other processes' memory, kernel modules, BPF,
 * mounts) kill the process. operator/README.md explains the list. */
#ifndef VSB_GHV_SANDBOX_H
#define VSB_GHV_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

/* "NAME" (a passwd entry: its uid and group) or "UID[:GID]" (without GID:
 * the uid's passwd group if it has an entry, else GID = UID). Returns 0 or
 * -EINVAL (logged). uid 0 is refused. */
int ghv_sandbox_parse_user(const char *spec, uid_t *uid, gid_t *gid);

/* Drops every group and becomes uid/gid for good, then checks that root
 * cannot be regained. Keeps the process dumpable (tests read its memory).
 * Returns 0 or a negative errno (logged). */
int ghv_sandbox_drop(uid_t uid, gid_t gid);

/* Sets PR_SET_NO_NEW_PRIVS and loads the seccomp filter for every thread
 * (TSYNC). traditional: allow what the SSH and VNC servers' threads need
 * too (binding their sockets, reading keys). Returns 0 or a negative
 * errno (logged). */
int ghv_sandbox_seccomp(bool traditional);

#endif
