#include "control.h"
#include "log.h"
#include "vm.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_LINE_MAX 256

struct control {
	struct vm *vm;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int stop_efd;
	pthread_t thread;
	bool paused;
};

static void reply(int fd, const char *text)
{
	if (send(fd, text, strlen(text), MSG_NOSIGNAL) < 0)
		log_debug("control reply: %s", strerror(errno));
}

static void run_command(struct control *c, int fd, const char *cmd)
{
	if (strcmp(cmd, "status") == 0) {
		reply(fd, c->paused ? "ok paused\n" : "ok running\n");
	} else if (strcmp(cmd, "pause") == 0) {
		vm_pause(c->vm);
		c->paused = true;
		reply(fd, "ok paused\n");
	} else if (strcmp(cmd, "resume") == 0) {
		vm_resume(c->vm);
		c->paused = false;
		reply(fd, "ok running\n");
	} else if (strcmp(cmd, "stop") == 0) {
		reply(fd, "ok stopping\n");
		vm_request_stop(c->vm, VM_STOP_SIGNAL + SIGTERM);
	} else {
		reply(fd, "error unknown command\n");
	}
}

/* Serves one client until it hangs up or sends an over-long line. Clients
 * are local administrators, served one at a time. */
static void serve(struct control *c, int fd)
{
	char line[CONTROL_LINE_MAX + 1];
	size_t len = 0;

	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN, 0 },
				       { c->stop_efd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[1].revents)
			return;
		ssize_t n = recv(fd, line + len, CONTROL_LINE_MAX - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(line, '\n', len))) {
			*nl = '\0';
			if (nl > line && nl[-1] == '\r')
				nl[-1] = '\0';
			run_command(c, fd, line);
			len -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len);
		}
		if (len == CONTROL_LINE_MAX) {
			reply(fd, "error line too long\n");
			return;
		}
	}
}

static void *control_thread(void *arg)
{
	struct control *c = arg;

	for (;;) {
		struct pollfd p[2] = { { c->listen_fd, POLLIN, 0 },
				       { c->stop_efd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(c, fd);
		close(fd);
	}
	return NULL;
}

struct control *control_open(const char *path, struct vm *vm)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct control *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (strlen(path) >= sizeof(a.sun_path)) {
		log_error("control socket path too long: %s", path);
		free(c);
		return NULL;
	}
	c->vm = vm;
	strcpy(c->path, path);
	strcpy(a.sun_path, path);
	c->stop_efd = eventfd(0, EFD_CLOEXEC);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	/* Only the owner may control the VM. */
	mode_t old = umask(0177);
	int ok = c->stop_efd >= 0 && c->listen_fd >= 0 &&
		 bind(c->listen_fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		 listen(c->listen_fd, 4) == 0;
	umask(old);
	if (!ok || pthread_create(&c->thread, NULL, control_thread, c) != 0) {
		log_errno(-errno, "control socket %s", path);
		if (c->listen_fd >= 0)
			close(c->listen_fd);
		if (c->stop_efd >= 0)
			close(c->stop_efd);
		free(c);
		return NULL;
	}
	return c;
}

void control_close(struct control *c)
{
	uint64_t one = 1;

	if (!c)
		return;
	if (write(c->stop_efd, &one, sizeof(one)) < 0)
		log_debug("control stop: %s", strerror(errno));
	pthread_join(c->thread, NULL);
	close(c->listen_fd);
	close(c->stop_efd);
	unlink(c->path);
	free(c);
}
