/* vsb-ghv's side of the boundary protocol (boundary/PROTOCOL.md): the
 * handshake with vsbd, the shared rings and the guest memory it hands over,
 * requests and their replies, and the loop that serves forwarded accesses.
 *
 * Threads: any thread may send (the up ring has a lock). One thread at a
 * time consumes the down ring: ghv_client_run's, or a thread waiting for a
 * reply while nobody runs the loop (set-up, before START). The I/O handler
 * runs on the consuming thread and must never wait for a reply. */
#ifndef VSB_GHV_CLIENT_H
#define VSB_GHV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../boundary/ghv_proto.h"
#include "../vmm/guest_mem.h"

struct ghv_client;

/* Serves one forwarded access; returns the data read (the low io->len
 * bytes count; ignored for writes). io was checked: space known, len 1, 2,
 * 4 or 8 (PCI config: inside one dword), ports below 0x10000, write data
 * masked to len. */
typedef uint64_t (*ghv_io_fn)(void *ctx, const struct ghv_io *io);

/* How long a waiting request waits for its reply. */
#define GHV_REPLY_TIMEOUT_MS 5000

/* Connects to vsbd's socket at path and does the handshake: checks the
 * welcome and the descriptors, maps the shared region, guest RAM and (in
 * traditional routing) the framebuffer. Returns 0, or a negative errno
 * (logged): -ECONNREFUSED, -ENOENT, -ECONNRESET... when vsbd is not there
 * or closed the socket, -EPROTO when its welcome is unusable. */
int ghv_client_connect(const char *path, struct ghv_client **out);
/* Unmaps everything and closes the socket (vsbd sees the operator go). */
void ghv_client_close(struct ghv_client *c);

const struct ghv_welcome *ghv_client_welcome(const struct ghv_client *c);
const struct guest_mem *ghv_client_mem(const struct ghv_client *c);
/* The framebuffer mapping (traditional routing), else NULL. */
uint8_t *ghv_client_fb(const struct ghv_client *c);

/* Sets the forwarded-access handler; before any access can arrive (START).
 * Without one, reads return all-ones and writes are dropped. */
void ghv_client_set_handler(struct ghv_client *c, ghv_io_fn fn, void *ctx);

/* Sends request type (GHV_CREATE ... GHV_IRQ_LINE) with len bytes of
 * payload and a fresh id. With reply != NULL it waits up to
 * GHV_REPLY_TIMEOUT_MS for the GHV_REPLY and returns its status (0 or a
 * negative errno from vsbd); -ETIMEDOUT, -EPIPE (vsbd gone), -ESHUTDOWN
 * (the VM stopped meanwhile), -EDEADLK (called from the I/O handler).
 * With reply == NULL it returns once the message is on the ring; a reply
 * that reports a failure is logged when it arrives. */
int ghv_client_request(struct ghv_client *c, uint16_t type,
		       const void *payload, size_t len,
		       struct ghv_reply *reply);

/* GHV_IRQ_LINE without a wait, sent only when the line's level changes
 * (raising a raised level-triggered line does nothing anyway). */
int ghv_client_irq(struct ghv_client *c, uint32_t gsi, int level);

/* Serves the down ring until the VM stops (returns 0, *status = vsbd's
 * exit status), vsbd goes away (-EPIPE) or breaks the ring (-EPROTO). */
int ghv_client_run(struct ghv_client *c, int *status);

/* Counters for the log at exit. */
struct ghv_client_stats {
	uint64_t io_reqs, replies, events, dropped, up_full_waits;
};
void ghv_client_stats(struct ghv_client *c, struct ghv_client_stats *s);

#endif
