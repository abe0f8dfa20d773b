/* The console's server-side escape sequences (see ssh_escape.h). */
#include "ssh_escape.h"

#include <stdio.h>

void ssh_escape_init(struct ssh_escape *e, int byte)
{
	e->byte = byte;
	e->armed = false;
}

size_t ssh_escape_feed(struct ssh_escape *e, const uint8_t *in, size_t len,
		       uint8_t *out, size_t *outlen,
		       enum ssh_esc_action *act)
{
	size_t i = 0, o = 0;

	*act = SSH_ESC_NONE;
	if (e->byte < 0) {
		for (; i < len; i++)
			out[o++] = in[i];
		*outlen = o;
		return i;
	}
	while (i < len) {
		uint8_t c = in[i++];
		if (!e->armed) {
			if (c == e->byte)
				e->armed = true;
			else
				out[o++] = c;
			continue;
		}
		e->armed = false;
		switch (c) {
		case '.':
			*act = SSH_ESC_DETACH;
			break;
		case 'b':
		case 'B':
			*act = SSH_ESC_BREAK;
			break;
		case '?':
			*act = SSH_ESC_HELP;
			break;
		default:
			if (c != e->byte)
				out[o++] = (uint8_t)e->byte;
			out[o++] = c;
			continue;
		}
		break;
	}
	*outlen = o;
	return i;
}

const char *ssh_escape_name(int byte, char *buf)
{
	if (byte < 0)
		snprintf(buf, 16, "(none)");
	else if (byte < 0x20)
		snprintf(buf, 16, "Ctrl-%c", byte + 0x40);
	else if (byte < 0x7f)
		snprintf(buf, 16, "%c", byte);
	else
		snprintf(buf, 16, "\\x%02x", byte);
	return buf;
}
