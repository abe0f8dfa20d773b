/* The boundary protocol between vsbd (the TCB) and the operator's guest
 * hypervisor vsb-ghv, version 1. boundary/PROTOCOL.md is the specification;
 * this header is its wire format. Everything is little endian (x86-64 only).
 *
 * A UNIX seqpacket socket carries one handshake (hello, welcome with file
 * descriptors) and then only tells each side that the other is alive. All
 * traffic after that goes through two single-producer single-consumer rings
 * of fixed 64-byte slots in one shared memory region, with one eventfd per
 * direction to wake the consumer. */
#ifndef VSB_GHV_PROTO_H
#define VSB_GHV_PROTO_H

#include <stdint.h>

#define GHV_MAGIC 0x47425356u /* "VSBG" */
#define GHV_VERSION 1

/* ---- shared memory ---- */

#define GHV_SLOTS 256 /* per ring, a power of two */
#define GHV_SLOT_SIZE 64
#define GHV_NAME_MAX 32 /* VM names, NUL padded */

/* A ring's indices are free-running 32-bit counters: the producer's head
 * counts slots written, the consumer's tail slots consumed; slot i lives at
 * i % GHV_SLOTS. Each side only writes its own index; a reader of the
 * peer's index must check 0 <= head - tail <= GHV_SLOTS. */
struct ghv_ring_idx {
	uint32_t head; /* written by the producer */
	uint8_t pad0[60];
	uint32_t tail; /* written by the consumer */
	uint8_t pad1[60];
};

struct ghv_ring_shm {
	struct ghv_ring_idx idx;
	uint8_t slot[GHV_SLOTS][GHV_SLOT_SIZE];
};

/* The region vsbd creates (a sealed memfd): ring 0 carries vsbd -> ghv
 * ("down"), ring 1 ghv -> vsbd ("up"). vsbd never reads anything from it
 * but the up ring's head, the down ring's tail and up-ring slots, each
 * copied before use. */
struct ghv_shm {
	uint32_t magic;   /* GHV_MAGIC, written by vsbd, informative */
	uint32_t version;
	uint8_t pad[56];
	struct ghv_ring_shm down;
	struct ghv_ring_shm up;
};

#define GHV_SHM_SIZE ((sizeof(struct ghv_shm) + 4095) & ~(size_t)4095)

/* ---- messages (one per slot) ---- */

enum ghv_msg_type {
	/* vsbd -> ghv */
	GHV_IO_REQ = 1,   /* a forwarded exit; answer with GHV_IO_DONE */
	GHV_REPLY = 2,    /* the answer to one of ghv's requests */
	GHV_EVENT = 3,    /* the VM changed state */
	/* ghv -> vsbd */
	GHV_IO_DONE = 16, /* the answer to GHV_IO_REQ, same id */
	GHV_CREATE = 17,  /* requests: each gets one GHV_REPLY, same id */
	GHV_START = 18,
	GHV_STOP = 19,
	GHV_DESTROY = 20,
	GHV_MAP_IO = 21,
	GHV_UNMAP_IO = 22,
	GHV_PCI_ATTACH = 23,
	GHV_IRQ_LINE = 24,
};

/* Address spaces of a forwarded access. */
enum ghv_space {
	GHV_SPACE_PIO = 0,
	GHV_SPACE_MMIO = 1,
	GHV_SPACE_PCI_CFG = 2, /* addr = slot << 16 | fn << 8 | reg */
};

enum ghv_routing {
	GHV_ROUTING_BYPASS = 0,      /* UART, keyboard, framebuffer in vsbd */
	GHV_ROUTING_TRADITIONAL = 1, /* ... emulated by vsb-ghv */
};

enum ghv_event_kind {
	GHV_EV_RUNNING = 1,
	GHV_EV_PAUSED = 2,
	GHV_EV_STOPPED = 3, /* arg: vsbd's stop reason (exit status) */
};

enum ghv_destroy_how {
	GHV_DESTROY_POWEROFF = 0,
	GHV_DESTROY_RESET = 1, /* the guest asked for a reset (i8042 pulse) */
};

/* Common header: type, flags (0), the sender's sequence number (1, 2, 3...
 * per direction; anything else is a replay or a loss and is refused) and
 * the request id that pairs a request with its answer. */
struct ghv_msg_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t seq;
	uint64_t id;
};

struct ghv_io {          /* GHV_IO_REQ */
	uint8_t space;   /* enum ghv_space */
	uint8_t len;     /* 1, 2, 4 or 8 (PCI config: 1, 2, 4) */
	uint8_t is_write;
	uint8_t vcpu;
	uint32_t pad;
	uint64_t addr;
	uint64_t data;   /* write data; 0 on reads */
};

struct ghv_io_done {     /* GHV_IO_DONE */
	uint64_t data;   /* read data (low len bytes); ignored on writes */
};

struct ghv_reply {       /* GHV_REPLY */
	int32_t status;  /* 0 or a negative errno */
	uint32_t pad;
	uint64_t val[3]; /* per request, see PROTOCOL.md */
};

struct ghv_event {       /* GHV_EVENT */
	uint32_t kind;   /* enum ghv_event_kind */
	int32_t arg;
};

struct ghv_create {      /* GHV_CREATE */
	char name[GHV_NAME_MAX];
};

struct ghv_destroy {     /* GHV_DESTROY */
	uint32_t how;    /* enum ghv_destroy_how */
};

struct ghv_map_io {      /* GHV_MAP_IO, GHV_UNMAP_IO (len ignored) */
	uint8_t space;   /* GHV_SPACE_PIO or GHV_SPACE_MMIO */
	uint8_t pad[7];
	uint64_t base;
	uint64_t len;
};

struct ghv_pci_attach {  /* GHV_PCI_ATTACH */
	uint8_t slot;    /* 1..31 */
};

struct ghv_irq_line {    /* GHV_IRQ_LINE */
	uint32_t gsi;
	uint32_t level;  /* 0 or 1 */
};

struct ghv_msg {
	struct ghv_msg_hdr hdr;
	union {
		struct ghv_io io;
		struct ghv_io_done io_done;
		struct ghv_reply reply;
		struct ghv_event event;
		struct ghv_create create;
		struct ghv_destroy destroy;
		struct ghv_map_io map;
		struct ghv_pci_attach pci;
		struct ghv_irq_line irq;
		uint8_t raw[GHV_SLOT_SIZE - sizeof(struct ghv_msg_hdr)];
	} u;
};

_Static_assert(sizeof(struct ghv_msg) == GHV_SLOT_SIZE, "one slot");
_Static_assert(sizeof(struct ghv_ring_idx) == 128, "indices on own lines");

/* ---- the handshake on the socket ---- */

struct ghv_hello {        /* ghv -> vsbd, first datagram */
	uint32_t magic;
	uint16_t version_min, version_max;
};

/* vsbd -> ghv, with SCM_RIGHTS: [shm, kick_down, kick_up, ram] and, in
 * traditional routing only, [fb]. kick_down is the eventfd vsbd writes
 * when it produced on the down ring; kick_up the one ghv writes. */
struct ghv_welcome {
	uint32_t magic;
	uint16_t version;
	uint16_t routing;         /* enum ghv_routing */
	uint64_t ram_size;        /* bytes of guest RAM in the ram memfd */
	uint64_t ram_low_size;    /* bytes mapped at GPA 0; the rest at 4 GiB */
	uint32_t nr_vcpus;
	uint32_t shm_size;        /* GHV_SHM_SIZE */
	uint64_t fb_gpa;          /* traditional routing: where the frame is */
	uint32_t fb_width, fb_height, fb_stride, nfds;
	char name[GHV_NAME_MAX];  /* the VM's name (NUL padded) */
};

enum { GHV_FD_SHM, GHV_FD_KICK_DOWN, GHV_FD_KICK_UP, GHV_FD_RAM, GHV_FD_FB,
       GHV_MAX_FDS };

/* What vsbd lets an operator map. */
#define GHV_PIO_LIMIT 0x10000ULL
#define GHV_MMIO_BASE 0xE0000000ULL /* the PCI root's memory window */
#define GHV_MMIO_END 0xFEC00000ULL  /* the IOAPIC */
#define GHV_MAX_MAPS 64
#define GHV_NR_GSI 24               /* KVM's IOAPIC pins */

#endif
