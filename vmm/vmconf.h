/* VM definition files: "key = value" lines whose keys are vsbd run's long
 * option names (plus "kernel"), so a file and a command line say the same
 * things the same way. vsbadm writes them; "vsbd run --config FILE" reads
 * them. Relative paths in path-valued keys are relative to the file's
 * directory. See README.md "Defining VMs". */
#ifndef VSB_VMCONF_H
#define VSB_VMCONF_H

#include <stddef.h>

#include <stdbool.h>

#define VMCONF_MAX_BYTES (64 * 1024)
/* A VM name is the SSH user name and a directory name: 1 to 32 letters,
 * digits, '.', '_' or '-', not starting with '.' or '-'. */
#define VM_NAME_MAX 32
#define VMCONF_MAX_ENTRIES 64

struct vmconf {
	char *kernel;   /* NULL if the file names none */
	char **args;    /* "--key=value" strings, in file order */
	size_t nargs;
};

/* Parses text (len bytes, need not be NUL-terminated) of a file in dir.
 * Returns 0, or -EINVAL with "line N: reason" in err. */
int vmconf_parse(const char *text, size_t len, const char *dir,
		 struct vmconf *out, char *err, size_t errlen);
/* Reads and parses a file; errors are logged with the file name. */
int vmconf_load(const char *path, struct vmconf *out);
void vmconf_free(struct vmconf *c);

bool vmconf_valid_name(const char *name);

#endif
