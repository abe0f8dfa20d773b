/* "vsbd run" options: the command line, merged with a VM definition file
 * (--config, see vmconf.h) whose settings the command line overrides. */
#ifndef VSB_RUN_OPTIONS_H
#define VSB_RUN_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "console.h"
#include "kernel_load.h"
#include "log.h"
#include "vm.h"
#include "vmconf.h"

#define DEFAULT_VM_NAME "vm"

struct run_opts {
	struct vm_config vm;
	struct kernel_spec kernel;
	struct console_opts console;
	bool console_none;          /* --console none */
	const char *control;
	enum log_level log_level;
	const char *name;           /* VM name: the SSH user name */
	uint32_t fb_width, fb_height; /* 0: no framebuffer */
	const char *ssh_listen;     /* NULL: no SSH server */
	const char *authorized_keys;
	const char *host_keys;      /* NULL: the default directory */
	const char *vnc_listen;     /* NULL: no VNC listener */
	const char *operator_path;  /* NULL: no operator (vsb-ghv) */
	const char *operator_user;  /* NULL: only vsbd's own uid connects */
	bool traditional;           /* --routing traditional */
	unsigned operator_timeout_ms;
	struct vmconf conf;         /* owns the strings from --config */
	char **argv;                /* the merged argument vector */
};

/* Returns 0, or an exit status (2 for usage errors, 1 for a config file
 * that cannot be read); prints the reason. --help exits 0 here. */
int run_options_parse(int argc, char **argv, struct run_opts *o);
void run_options_free(struct run_opts *o);
void run_usage(FILE *f);

/* The default host key directory: /var/lib/vsbd/host-keys for root, else
 * $XDG_STATE_HOME/vsbd/host-keys (~/.local/state/...). Caller frees. */
char *default_host_key_dir(void);

#endif
