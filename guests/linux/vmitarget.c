/* vmitarget: a process for introspection tests inside a Linux test guest.
 *
 *   vmitarget NAME SECRET [COPIES]
 *
 * Names itself NAME (what ps and task_struct.comm show), keeps SECRET in
 * its own memory, prints "vmitarget pid=P name=NAME addr=0xA" (A: where
 * SECRET lies in its address space) and sleeps until killed. COPIES > 1
 * forks that many processes in all, named NAME-1 ... (for ps on hundreds of
 * processes). Built static: the test guest has no C library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char secret[4096];

static void become(const char *name)
{
	prctl(PR_SET_NAME, name, 0, 0, 0);
	printf("vmitarget pid=%d name=%s addr=%p\n", (int)getpid(), name,
	       (void *)secret);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long copies = 1;

	if (argc < 3 || argc > 4 || strlen(argv[2]) >= sizeof(secret) ||
	    (argc == 4 && ((copies = strtol(argv[3], NULL, 10)) < 1 ||
			   copies > 100000))) {
		fprintf(stderr, "usage: vmitarget NAME SECRET [COPIES]\n");
		return 2;
	}
	strcpy(secret, argv[2]);
	if (copies == 1) {
		become(argv[1]);
	} else {
		for (long i = 1; i < copies; i++) {
			pid_t p = fork();
			if (p == 0) {
				char name[32];
				snprintf(name, sizeof(name), "%.8s-%ld",
					 argv[1], i);
				become(name);
				break;
			}
			if (p < 0) {
				perror("fork");
				return 1;
			}
			if (i == copies - 1) {
				char name[32];
				snprintf(name, sizeof(name), "%.8s-%ld",
					 argv[1], copies);
				become(name);
			}
		}
	}
	for (;;)
		pause();
}
