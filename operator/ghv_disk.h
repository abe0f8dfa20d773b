/* One virtio-blk disk (operator/virtio_blk.h) wired to vsbd: a PCI slot
 * attached through the protocol, its INTx line as GHV_IRQ_LINE, its I/O
 * BAR mapped and unmapped with GHV_MAP_IO / GHV_UNMAP_IO as the guest
 * programs it, and the forwarded accesses of both routed to the device. */
#ifndef VSB_GHV_DISK_H
#define VSB_GHV_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "../boundary/ghv_proto.h"

struct ghv_client;
struct ghv_disk;

#define GHV_DISK_DEFAULT_SLOT 3

/* Parses "FILE[,ro][,slot=N]" and opens FILE (read-only with ro): done
 * before privileges are dropped. NULL on error (logged). */
struct ghv_disk *ghv_disk_open(const char *spec);

/* GHV_PCI_ATTACH at the disk's slot (waits for the reply, which gives the
 * INTA GSI) and creates the device over the client's guest memory.
 * Returns 0 or a negative errno (logged). */
int ghv_disk_attach(struct ghv_disk *d, struct ghv_client *c);

/* A forwarded access: true if it is the disk's (config space of its slot,
 * or a port inside its mapped BAR), with *data the read result. */
bool ghv_disk_io(struct ghv_disk *d, const struct ghv_io *io, uint64_t *data);

void ghv_disk_free(struct ghv_disk *d);

#endif
