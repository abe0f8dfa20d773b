/* Session channels: the VM's serial console. "shell" or exec "console"
 * attaches as the console's single writer, exec "watch" as a read-only
 * watcher, exec "help" prints the commands. On attach the client gets a
 * banner line, the recent output (replay) and then live output; typed
 * bytes go to the UART at the speed the guest reads them (the SSH window
 * closes meanwhile, so nothing typed is dropped). The escape byte
 * (ssh_escape.h) detaches, sends a break or prints help; OpenSSH's own
 * "~B" break request also reaches the guest. */
#ifndef VSB_SSH_CONSOLE_H
#define VSB_SSH_CONSOLE_H

#include <stdbool.h>

#include <libssh/libssh.h>

struct ssh_conn;

/* Takes a new session channel (not yet confirmed to the client) into the
 * connection. Returns false on allocation failure. */
bool ssh_console_open(struct ssh_conn *c, ssh_channel ch);

#endif
