/* direct-tcpip channels ("ssh -L LPORT:localhost:5900 VM@host"): the only
 * destination is the VM's VNC server, named as port SSH_VNC_PORT on
 * "localhost", "127.0.0.1", "::1" or "vnc"; vnc_connect gives a socket to
 * a new viewer slot, and bytes are pumped both ways until either side
 * closes. Every other destination is refused (administratively
 * prohibited). */
#ifndef VSB_SSH_FORWARD_H
#define VSB_SSH_FORWARD_H

#include <stdbool.h>

#include <libssh/libssh.h>
#include <libssh/server.h>

struct ssh_conn;

/* Does a direct-tcpip request name the VNC server? */
bool ssh_forward_allowed(const char *host, int port);

/* Answers a direct-tcpip open request (accepts or refuses it). */
void ssh_forward_request(struct ssh_conn *c, ssh_message msg);

#endif
