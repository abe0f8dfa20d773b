/* Backend: a guest running in vsbd, reached through its control socket
 * (vmm/control.h). The socket hands over the guest RAM memfd (`memory`,
 * or `memory rw` to write), which is mapped with vsbd's layout through
 * mem_file; registers (`regs N`) and pause/resume are further commands on
 * the same connection, kept open until vmi_mem_close. One handle is for
 * one thread at a time (commands and replies share the connection). */
#ifndef VSB_VMI_MEM_VSBD_H
#define VSB_VMI_MEM_VSBD_H

#include <stdbool.h>
#include <stddef.h>

#include "vmi_mem.h"

/* How long each reply may take by default. */
#define VMI_VSBD_TIMEOUT_MS 5000

/* Connects to vsbd's control socket at control_path and maps the guest's
 * RAM, writable when asked. 0 with *out set, or -errno with a message in
 * err: -ENOENT/-ECONNREFUSED/... (no vsbd there), -ETIMEDOUT (no reply in
 * time), -EOPNOTSUPP (a vsbd without the `memory` command), -EPROTO (a
 * reply that is not what vsbd sends). vmi_mem_close leaves the guest
 * paused or running as it is. */
int vmi_mem_vsbd_open(const char *control_path, bool writable,
		      struct vmi_mem **out, char *err, size_t errlen);
/* The same with each reply's time limit in milliseconds (> 0). */
int vmi_mem_vsbd_open_timeout(const char *control_path, bool writable,
			      int timeout_ms, struct vmi_mem **out, char *err,
			      size_t errlen);

#endif
