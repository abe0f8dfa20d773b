/* The SSH server's listening socket: "PORT" (every address, IPv6 and IPv4),
 * "ADDR:PORT" or "[ADDR6]:PORT"; port 0 picks a free port. */
#ifndef VSB_SSH_LISTEN_H
#define VSB_SSH_LISTEN_H

#include <stddef.h>

/* Splits spec into host ("" for every address; brackets removed) and
 * port. Returns 0 or -EINVAL. */
int ssh_listen_parse(const char *spec, char *host, size_t hostlen,
		     int *port);

/* Creates the listening socket (non-blocking, close-on-exec). Returns the
 * fd and stores the bound port, or returns a negative errno (logged). */
int ssh_listen_open(const char *spec, int *port);

#endif
