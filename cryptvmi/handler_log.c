/* The handler's log (handler.h): one timestamped line per event. Callers
 * pass only names the directory accepts, statuses and codes: never a
 * token, a ciphertext or a body. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handler.h"

static pthread_mutex_t hlog_lock = PTHREAD_MUTEX_INITIALIZER;
static int hlog_fd = STDERR_FILENO;
static char hlog_path[CVMI_PATH_MAX];

static int open_log(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int cvmi_hlog_open(const char *path, char *err, size_t errlen)
{
	int fd;

	if (!path)
		return 0;
	if (strlen(path) >= sizeof(hlog_path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = open_log(path);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	pthread_mutex_lock(&hlog_lock);
	snprintf(hlog_path, sizeof(hlog_path), "%s", path);
	hlog_fd = fd;
	pthread_mutex_unlock(&hlog_lock);
	return 0;
}

int cvmi_hlog_reopen(void)
{
	int ret = 0;

	pthread_mutex_lock(&hlog_lock);
	if (hlog_path[0]) {
		int fd = open_log(hlog_path);
		if (fd >= 0) {
			close(hlog_fd);
			hlog_fd = fd;
		} else {
			ret = -errno;	/* keep writing to the old one */
		}
	}
	pthread_mutex_unlock(&hlog_lock);
	return ret;
}

void cvmi_vhlog(const char *fmt, va_list ap)
{
	char line[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%06ldZ ",
			      ts.tv_nsec / 1000);
	size_t room = sizeof(line) - n - 1;	/* one byte for the '\n' */
	int m = vsnprintf(line + n, room, fmt, ap);
	if (m > 0)	/* a long line is cut, not dropped */
		n += (size_t)m < room ? (size_t)m : room - 1;
	line[n++] = '\n';
	pthread_mutex_lock(&hlog_lock);
	/* Nothing useful to do if the log itself fails. */
	if (write(hlog_fd, line, n) < 0)
		(void)0;
	pthread_mutex_unlock(&hlog_lock);
}

void cvmi_hlog(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cvmi_vhlog(fmt, ap);
	va_end(ap);
}

void cvmi_hlog_close(void)
{
	pthread_mutex_lock(&hlog_lock);
	if (hlog_fd != STDERR_FILENO)
		close(hlog_fd);
	hlog_fd = STDERR_FILENO;
	hlog_path[0] = '\0';
	pthread_mutex_unlock(&hlog_lock);
}
