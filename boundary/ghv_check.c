/* The up-ring message checker; see ghv_check.h and PROTOCOL.md. */
#include "ghv_check.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

void ghv_session_init(struct ghv_session *s, const char *name,
		      enum ghv_routing routing)
{
	memset(s, 0, sizeof(*s));
	s->routing = routing;
	strncpy(s->vm_name, name, sizeof(s->vm_name) - 1);
}

const char *ghv_msg_name(uint16_t type)
{
	switch (type) {
	case GHV_IO_REQ: return "io-req";
	case GHV_REPLY: return "reply";
	case GHV_EVENT: return "event";
	case GHV_IO_DONE: return "io-done";
	case GHV_CREATE: return "create";
	case GHV_START: return "start";
	case GHV_STOP: return "stop";
	case GHV_DESTROY: return "destroy";
	case GHV_MAP_IO: return "map-io";
	case GHV_UNMAP_IO: return "unmap-io";
	case GHV_PCI_ATTACH: return "pci-attach";
	case GHV_IRQ_LINE: return "irq-line";
	default: return "unknown";
	}
}

bool ghv_gsi_allowed(enum ghv_routing routing, uint32_t gsi)
{
	switch (gsi) {
	case 0: case 2: case 8: case 9: /* PIT, cascade, RTC, ACPI SCI */
		return false;
	case 1: case 4: case 12:        /* keyboard, COM1, mouse */
		return routing == GHV_ROUTING_TRADITIONAL;
	default:
		return gsi < GHV_NR_GSI;
	}
}

static bool all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* The payload beyond the type's own struct must be zero. */
static bool tail_zero(const struct ghv_msg *m, size_t used)
{
	return all_zero(m->u.raw + used, sizeof(m->u.raw) - used);
}

static bool name_ok(const char *n, size_t cap)
{
	size_t len = strnlen(n, cap);

	if (len == 0 || len == cap)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return all_zero(n + len, cap - len);
}

static int check_map(const struct ghv_map_io *mp, bool unmap,
		     const char **why)
{
	if (!all_zero(mp->pad, sizeof(mp->pad)))
		return *why = "nonzero padding", -EINVAL;
	if (unmap) {
		if (mp->len)
			return *why = "unmap with a length", -EINVAL;
	} else if (mp->len == 0) {
		return *why = "empty range", -EINVAL;
	}
	uint64_t end = mp->base + (unmap ? 1 : mp->len);
	if (end < mp->base)
		return *why = "range wraps", -EINVAL;
	switch (mp->space) {
	case GHV_SPACE_PIO:
		if (end > GHV_PIO_LIMIT)
			return *why = "port range beyond 0xffff", -EINVAL;
		return 0;
	case GHV_SPACE_MMIO:
		if (mp->base < GHV_MMIO_BASE || end > GHV_MMIO_END)
			return *why = "MMIO range outside the PCI window",
			       -EPERM;
		return 0;
	default:
		return *why = "unknown address space", -EINVAL;
	}
}

/* Format and field ranges of one message type. */
static int check_format(const struct ghv_session *s, const struct ghv_msg *m,
			const char **why)
{
	switch (m->hdr.type) {
	case GHV_IO_DONE:
		if (!tail_zero(m, sizeof(m->u.io_done)))
			return *why = "nonzero padding", -EINVAL;
		return 0;
	case GHV_CREATE:
		if (!name_ok(m->u.create.name, sizeof(m->u.create.name)))
			return *why = "bad VM name", -EINVAL;
		return tail_zero(m, sizeof(m->u.create)) ? 0 :
		       (*why = "nonzero padding", -EINVAL);
	case GHV_START:
	case GHV_STOP:
		return tail_zero(m, 0) ? 0 : (*why = "nonzero payload", -EINVAL);
	case GHV_DESTROY:
		if (m->u.destroy.how > GHV_DESTROY_RESET)
			return *why = "unknown destroy mode", -EINVAL;
		return tail_zero(m, sizeof(m->u.destroy)) ? 0 :
		       (*why = "nonzero padding", -EINVAL);
	case GHV_MAP_IO:
	case GHV_UNMAP_IO:
		if (!tail_zero(m, sizeof(m->u.map)))
			return *why = "nonzero padding", -EINVAL;
		return check_map(&m->u.map, m->hdr.type == GHV_UNMAP_IO, why);
	case GHV_PCI_ATTACH:
		if (m->u.pci.slot < 1 || m->u.pci.slot > 31)
			return *why = "PCI slot not in 1..31", -EINVAL;
		return tail_zero(m, sizeof(m->u.pci)) ? 0 :
		       (*why = "nonzero padding", -EINVAL);
	case GHV_IRQ_LINE:
		if (m->u.irq.level > 1)
			return *why = "IRQ level not 0 or 1", -EINVAL;
		if (m->u.irq.gsi >= GHV_NR_GSI)
			return *why = "no such GSI", -EINVAL;
		if (!ghv_gsi_allowed(s->routing, m->u.irq.gsi))
			return *why = "GSI belongs to vsbd", -EPERM;
		return tail_zero(m, sizeof(m->u.irq)) ? 0 :
		       (*why = "nonzero padding", -EINVAL);
	default:
		return *why = "not a message ghv may send", -EINVAL;
	}
}

/* Lifecycle order: CREATE once, then anything; START/STOP alternate. */
static int check_state(struct ghv_session *s, const struct ghv_msg *m,
		       const char **why)
{
	if (s->destroyed)
		return *why = "VM destroyed", -EPERM;
	if (m->hdr.type == GHV_CREATE) {
		if (s->created)
			return *why = "VM already created", -EPERM;
		if (strncmp(m->u.create.name, s->vm_name, GHV_NAME_MAX))
			return *why = "no such VM", -ENOENT;
		s->created = true;
		return 0;
	}
	if (!s->created)
		return *why = "no CREATE yet", -EPERM;
	switch (m->hdr.type) {
	case GHV_START:
		if (s->started && !s->paused)
			return *why = "VM already running", -EPERM;
		s->started = true;
		s->paused = false;
		return 0;
	case GHV_STOP:
		if (!s->started || s->paused)
			return *why = "VM not running", -EPERM;
		s->paused = true;
		return 0;
	case GHV_DESTROY:
		s->destroyed = true;
		return 0;
	case GHV_IO_DONE:
		if (!s->started)
			return *why = "answer before START", -EPERM;
		return 0;
	default:
		return 0;
	}
}

int ghv_check_up(struct ghv_session *s, const struct ghv_msg *m,
		 const char **why)
{
	*why = "ok";
	if (m->hdr.seq != s->up_seq + 1)
		return *why = "sequence number out of order (replay or loss)",
		       -EPROTO;
	s->up_seq++;
	if (m->hdr.flags)
		return *why = "nonzero flags", -EINVAL;
	int ret = check_format(s, m, why);
	return ret ? ret : check_state(s, m, why);
}
