/* vsbd's end of the boundary protocol (boundary/PROTOCOL.md): it listens
 * for the operator's guest hypervisor vsb-ghv, hands it the rings, the
 * guest RAM and (traditional routing only) the framebuffer, forwards the
 * exits the routing table gives to the operator, and carries out the
 * operator's requests after boundary/ghv_check.c and its own checks.
 * Nothing the operator sends may stop vsbd or reach beyond the VM. */
#ifndef VSB_GHV_LINK_H
#define VSB_GHV_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../boundary/ghv_proto.h"

struct vm;
struct pci_host;
struct framebuffer;
struct ghv_link;

#define GHV_DEFAULT_TIMEOUT_MS 2000

struct ghv_link_opts {
	const char *path;          /* the UNIX socket to listen on */
	const char *vm_name;
	enum ghv_routing routing;
	bool check_uid;            /* only this uid may connect */
	uid_t uid;
	gid_t gid;
	unsigned timeout_ms;       /* a forwarded access waits this long */
};

/* Binds the socket and starts the link thread. In traditional routing it
 * routes COM1 and the i8042 to the operator (machine_init must have left
 * them out) and hands fb over at the handshake. NULL on error (logged). */
struct ghv_link *ghv_link_open(const struct ghv_link_opts *o, struct vm *vm,
			       struct pci_host *pci,
			       const struct framebuffer *fb);

/* Main thread, before vm_start: waits for the operator's START. Returns
 * true to start; false with *status set to vsbd's exit status when a
 * signal arrived on sfd or the operator destroyed the VM first. */
bool ghv_link_wait_start(struct ghv_link *l, int sfd, int *status);

/* Readable when ghv_link_service has work for the main thread (a STOP:
 * pausing waits for vCPUs that may themselves wait for the operator, so it
 * cannot run on the link thread). */
int ghv_link_fd(const struct ghv_link *l);
void ghv_link_service(struct ghv_link *l);

/* Tells the operator the VM stopped with this exit status. */
void ghv_link_vm_stopped(struct ghv_link *l, int status);

/* "none", "waiting", "up ..." or "down: REASON ..." with counters, for the
 * control socket's "operator" command. */
void ghv_link_describe(void *link, char *buf, size_t len);

/* Stops the thread, closes the session. NULL is fine. Call after the vCPU
 * threads exited. */
void ghv_link_close(struct ghv_link *l);

#endif
