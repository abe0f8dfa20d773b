/* A virtio-blk disk behind vsbd's forwarded accesses: see ghv_disk.h. */
#include "ghv_disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../vmm/log.h"
#include "ghv_client.h"
#include "virtio_blk.h"

struct ghv_disk {
	char *path;
	int fd;
	bool ro;
	unsigned slot;
	uint32_t gsi;
	struct ghv_client *client;
	struct virtio_blk *blk;
	bool bar_mapped; /* as last sent to vsbd */
	uint64_t bar_base, bar_len;
};

/* Takes ",ro" and ",slot=N" off the end of spec, as often as they come,
 * so a file name may itself contain commas. */
static int parse_spec(struct ghv_disk *d, char *spec)
{
	char *comma;

	while ((comma = strrchr(spec, ','))) {
		const char *opt = comma + 1;
		if (!strcmp(opt, "ro")) {
			d->ro = true;
		} else if (!strncmp(opt, "slot=", 5)) {
			char *end;
			errno = 0;
			unsigned long n = strtoul(opt + 5, &end, 10);
			if (errno || *end || end == opt + 5 || n < 1 || n > 31)
				return log_error("--disk: slot must be 1..31"),
				       -EINVAL;
			d->slot = (unsigned)n;
		} else {
			break;
		}
		*comma = 0;
	}
	if (!*spec)
		return log_error("--disk: no file name"), -EINVAL;
	return 0;
}

struct ghv_disk *ghv_disk_open(const char *spec)
{
	struct ghv_disk *d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(spec))) {
		free(d);
		return NULL;
	}
	d->fd = -1;
	d->slot = GHV_DISK_DEFAULT_SLOT;
	if (parse_spec(d, d->path) < 0) {
		ghv_disk_free(d);
		errno = EINVAL; /* a usage error, for the exit status */
		return NULL;
	}
	d->fd = open(d->path, (d->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (d->fd < 0) {
		log_errno(-errno, "opening disk image %s", d->path);
		goto fail;
	}
	return d;
fail:
	ghv_disk_free(d);
	return NULL;
}

static void disk_irq(void *ctx, int level)
{
	struct ghv_disk *d = ctx;
	ghv_client_irq(d->client, d->gsi, level);
}

/* The guest enabled, moved or disabled the BAR. This runs inside the
 * config write's handling: the map goes on the ring before that write's
 * IO_DONE, and its reply is not waited for (a failure is logged when it
 * arrives). */
static void disk_bar(void *ctx, bool mapped, uint64_t base, uint64_t len)
{
	struct ghv_disk *d = ctx;
	struct ghv_map_io m = { .space = GHV_SPACE_PIO, .base = base };

	if (mapped) {
		m.len = len;
		if (ghv_client_request(d->client, GHV_MAP_IO, &m, sizeof(m),
				       NULL) < 0)
			return;
		d->bar_mapped = true;
		d->bar_base = base;
		d->bar_len = len;
		log_debug("disk BAR at ports %#llx+%llu",
			  (unsigned long long)base, (unsigned long long)len);
	} else if (d->bar_mapped) {
		m.base = d->bar_base;
		d->bar_mapped = false;
		ghv_client_request(d->client, GHV_UNMAP_IO, &m, sizeof(m), NULL);
	}
}

static const struct virtio_pci_ops disk_ops = {
	.irq = disk_irq,
	.bar = disk_bar,
};

int ghv_disk_attach(struct ghv_disk *d, struct ghv_client *c)
{
	struct ghv_pci_attach a = { .slot = (uint8_t)d->slot };
	struct ghv_reply r;

	d->client = c;
	int ret = ghv_client_request(c, GHV_PCI_ATTACH, &a, sizeof(a), &r);
	if (ret < 0)
		return log_errno(ret, "attaching the disk at PCI slot %u",
				 d->slot);
	if (r.val[0] >= GHV_NR_GSI)
		return log_error("vsbd gave the disk GSI %llu",
				 (unsigned long long)r.val[0]), -EPROTO;
	d->gsi = (uint32_t)r.val[0];
	d->blk = virtio_blk_new(ghv_client_mem(c), d->fd, d->ro, &disk_ops, d);
	if (!d->blk)
		return log_errno(-errno, "creating the virtio-blk device");
	log_info("disk %s%s at PCI 00:%02x.0, GSI %u", d->path,
		 d->ro ? " (read-only)" : "", d->slot, d->gsi);
	return 0;
}

bool ghv_disk_io(struct ghv_disk *d, const struct ghv_io *io, uint64_t *data)
{
	if (!d || !d->blk)
		return false;
	if (io->space == GHV_SPACE_PCI_CFG) {
		unsigned slot = (unsigned)(io->addr >> 16) & 0x1f;
		unsigned fn = (unsigned)(io->addr >> 8) & 0xff;
		unsigned reg = (unsigned)io->addr & 0xff;
		if (slot != d->slot)
			return false;
		if (io->is_write)
			virtio_blk_cfg_write(d->blk, fn, reg, io->len,
					     (uint32_t)io->data);
		else
			*data = virtio_blk_cfg_read(d->blk, fn, reg, io->len);
		return true;
	}
	if (io->space != GHV_SPACE_PIO || !d->bar_mapped ||
	    io->addr < d->bar_base || io->len > 4 ||
	    io->addr + io->len > d->bar_base + d->bar_len)
		return false;
	uint64_t v = io->is_write ? io->data : 0;
	virtio_blk_bar_io(d->blk, io->addr - d->bar_base, &v, io->len,
			  io->is_write);
	*data = v;
	return true;
}

void ghv_disk_free(struct ghv_disk *d)
{
	if (!d)
		return;
	if (d->blk) {
		struct virtio_blk_stats s;
		virtio_blk_stats(d->blk, &s);
		log_info("disk: %llu requests, %llu bytes read, %llu written, "
			 "%llu failed", (unsigned long long)s.reqs,
			 (unsigned long long)s.read_bytes,
			 (unsigned long long)s.written_bytes,
			 (unsigned long long)s.errors);
		virtio_blk_free(d->blk);
	}
	if (d->fd >= 0)
		close(d->fd);
	free(d->path);
	free(d);
}
