/* The console's server-side escape (like telnet's Ctrl-]): in what a client
 * types, the escape byte followed by '.' detaches, 'b' sends a serial break,
 * '?' asks for help, and a second escape byte sends one escape byte to the
 * guest. The escape byte followed by anything else sends both bytes. Only
 * input from the client is filtered; guest output is never looked at. */
#ifndef VSB_SSH_ESCAPE_H
#define VSB_SSH_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ctrl-], as telnet's escape. */
#define SSH_ESCAPE_DEFAULT 0x1d

enum ssh_esc_action {
	SSH_ESC_NONE,
	SSH_ESC_DETACH,
	SSH_ESC_BREAK,
	SSH_ESC_HELP,
};

struct ssh_escape {
	int byte;   /* the escape byte; negative: no escape at all */
	bool armed; /* the escape byte was the last byte seen */
};

void ssh_escape_init(struct ssh_escape *e, int byte);

/* Filters len bytes of client input: the bytes meant for the guest go to
 * out (which must have room for len + 1 bytes), their count to *outlen.
 * Stops right after the first escape command, which is returned in *act
 * (SSH_ESC_NONE if none). Returns how many input bytes were consumed. */
size_t ssh_escape_feed(struct ssh_escape *e, const uint8_t *in, size_t len,
		       uint8_t *out, size_t *outlen,
		       enum ssh_esc_action *act);

/* The escape byte as users type it: "Ctrl-]" or "~". buf: 16 bytes. */
const char *ssh_escape_name(int byte, char *buf);

#endif
