/* vsbd's check of every message vsb-ghv sends on the up ring: the format
 * (type, zero flags and padding, field ranges), the sequence number (a
 * replayed, lost or reordered message is refused) and what the session
 * allows (nothing before CREATE, only vsbd's own VM, only the operator's
 * interrupt lines). Pure: no I/O, so it is unit tested and fuzzed alone;
 * what needs the VM (overlaps, taken PCI slots, pending request ids) is
 * checked by the link (vmm/ghv_link.c). */
#ifndef VSB_GHV_CHECK_H
#define VSB_GHV_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "ghv_proto.h"

struct ghv_session {
	uint32_t up_seq;        /* the last sequence number accepted */
	bool created, started, paused, destroyed;
	enum ghv_routing routing;
	char vm_name[GHV_NAME_MAX];
};

/* Starts a session for VM name under a routing mode. */
void ghv_session_init(struct ghv_session *s, const char *name,
		      enum ghv_routing routing);

/* Returns 0 if m may be acted on, else a negative errno with *why set to
 * a static phrase for the log: -EPROTO (sequence: replay or loss; the
 * sequence does not advance), -EINVAL (malformed), -EPERM (not allowed in
 * this session or state), -ENOENT (CREATE for another VM). Any message
 * with the right sequence number consumes it, accepted or not. Lifecycle
 * messages update the state on acceptance. */
int ghv_check_up(struct ghv_session *s, const struct ghv_msg *m,
		 const char **why);

/* Whether the operator may drive this interrupt line: never the ones of
 * vsbd's own devices (timer, cascade, RTC, SCI; in bypass routing also the
 * UART's and the keyboard's). */
bool ghv_gsi_allowed(enum ghv_routing routing, uint32_t gsi);

/* The message type's name for logs and taps ("io-done", ...). */
const char *ghv_msg_name(uint16_t type);

#endif
