/* vsbd's control socket: a UNIX stream socket (mode 0600) that local
 * administrators and TCB components use to manage a running VM. One
 * command per line, one reply line per command:
 *   status   -> "ok running" | "ok paused"
 *   pause    -> "ok paused"   (returns once every vCPU is parked)
 *   resume   -> "ok running"
 *   stop     -> "ok stopping" (the VM stops as if powered off by signal)
 * Anything else gets "error unknown command". Lines longer than 256 bytes
 * are refused and the connection closed. */
#ifndef VSB_CONTROL_H
#define VSB_CONTROL_H

struct vm;
struct control;

struct control *control_open(const char *path, struct vm *vm);
void control_close(struct control *c);

#endif
