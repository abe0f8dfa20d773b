/* Internals shared by ghv_link.c (session, link thread, requests) and
 * ghv_forward.c (forwarded exits from vCPU threads). */
#ifndef VSB_GHV_LINK_PRIV_H
#define VSB_GHV_LINK_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ghv_link.h"
#include "vm.h"
#include "../boundary/ghv_check.h"
#include "../boundary/ghv_ring.h"
#include "../devices/pci_host.h"

enum link_state { LINK_WAITING, LINK_UP, LINK_DOWN };

/* A vCPU waiting for the answer to a forwarded access. */
struct ghv_waiter {
	uint64_t id;      /* 0: free */
	bool done;
	uint64_t data;
	pthread_cond_t cond;
};

/* An operator range: the opaque of its routing-table entry. Entries are
 * never freed or reused while the VM lives, since a vCPU may still hold a
 * copy of the range after an unmap. */
struct ghv_map {
	struct ghv_link *link;
	uint8_t space;    /* enum ghv_space */
	bool live;
	bool fixed;       /* vsbd's own (traditional consoles): no unmap */
	uint64_t base, len;
};

#define GHV_MAP_ENTRIES 1024 /* lifetime total, GHV_MAX_MAPS live */
#define GHV_WAITERS VM_MAX_VCPUS

struct ghv_pci_slot {
	struct ghv_link *link;
	uint8_t slot;
};

struct ghv_link {
	struct ghv_link_opts opts;
	char path[108];
	struct vm *vm;
	struct pci_host *pci;
	int fb_fd;                /* traditional routing only, else -1 */
	uint64_t fb_gpa;
	uint32_t fb_w, fb_h, fb_stride;

	int listen_fd, conn_fd;
	int shm_fd, kick_down, kick_up;
	struct ghv_shm *shm;
	int quit_efd;             /* wakes the link thread to exit */
	int main_efd;             /* work for the main thread */
	pthread_t thread;
	bool thread_started;
	atomic_bool quitting;

	/* Under lock: the state, the down ring (several producers), waiters,
	 * maps, main-thread work. */
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* state changes, START */
	_Atomic enum link_state state; /* also peeked without the lock */
	char down_reason[96];
	struct ghv_ring down;
	uint32_t down_seq;
	uint64_t next_id;
	struct ghv_waiter waiters[GHV_WAITERS];
	struct ghv_map *maps;     /* GHV_MAP_ENTRIES */
	unsigned nmaps_used, nmaps_live;
	struct ghv_pci_slot slots[PCI_HOST_DEVS];
	bool started;             /* the operator said START once */
	int start_status;         /* >= 0: DESTROY before START */
	uint64_t pending_stop_id; /* a STOP the main thread must carry out */
	bool pending_stop;

	/* Link thread only. */
	struct ghv_ring up;
	struct ghv_session sess;

	/* Counters (any thread). */
	atomic_ulong forwarded, refused, dropped_replies, timeouts;
	atomic_ulong last_log;    /* rate limit of refusal logs, seconds */
};

/* Sends a message on the down ring (lock held), kicks the operator.
 * Returns 0 or -EAGAIN (full) / -EPROTO (broken ring). */
int ghv_link_send_locked(struct ghv_link *l, struct ghv_msg *m);
/* Marks the operator down with a reason and wakes every waiter (lock held). */
void ghv_link_down_locked(struct ghv_link *l, const char *reason);
/* The GHV_IO_DONE for id: wakes its waiter. False if nobody waits for it. */
bool ghv_forward_complete(struct ghv_link *l, uint64_t id, uint64_t data);

/* Routing-table handler of operator ranges (opaque: struct ghv_map). */
void ghv_forward_io(void *opaque, uint64_t off, void *data, uint32_t len,
		    bool is_write);
/* PCI config callbacks of operator slots (ctx: struct ghv_pci_slot). */
extern const struct pci_dev_ops ghv_forward_pci_ops;

#endif
