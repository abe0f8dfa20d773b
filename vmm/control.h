/* vsbd's control socket: a UNIX stream socket (mode 0600) that local
 * administrators and TCB components use to manage a running VM. One
 * command per line, one reply line per command:
 *   status      -> "ok running" | "ok paused"
 *   pause       -> "ok paused"   (returns once every vCPU is parked)
 *   resume      -> "ok running"
 *   stop        -> "ok stopping" (the VM stops as if powered off by signal)
 *   vcpus       -> "ok vcpus N"
 *   memory [rw] -> "ok memory size=BYTES vcpus=N" with the guest RAM memfd
 *                  attached (SCM_RIGHTS), opened read-only unless "rw"
 *   regs N      -> "ok regs rax=0x... ..." (vCPU N's registers, all hex;
 *                  the VM is paused for the read unless it already is)
 *   operator    -> "ok none" | "ok waiting ..." | "ok up ..." |
 *                  "ok down ... reason=..." (the operator's vsb-ghv)
 * Anything else gets "error ..." ("error unknown command", "error usage:
 * ...", "error no such vcpu"). Lines longer than 256 bytes are refused and
 * the connection closed. Up to 8 clients are served at once; a client
 * that leaves its replies unread until its socket buffer fills is dropped. */
#ifndef VSB_CONTROL_H
#define VSB_CONTROL_H

struct vm;
struct control;

#include <stddef.h>

/* Optional: who answers "operator" (ghv_link_describe). */
struct control_hooks {
	void (*operator_status)(void *ctx, char *buf, size_t len);
	void *ctx;
};

/* hooks may be NULL; it is copied. */
struct control *control_open(const char *path, struct vm *vm,
			     const struct control_hooks *hooks);
void control_close(struct control *c);

#endif
