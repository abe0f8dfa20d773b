/* The SSH server's listening socket (see ssh_listen.h). */
#include "ssh_listen.h"
#include "../vmm/log.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int parse_port(const char *s, int *port)
{
	long v = 0;

	if (!*s || strlen(s) > 5)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

int ssh_listen_parse(const char *spec, char *host, size_t hostlen,
		     int *port)
{
	const char *colon, *hs;
	size_t hl;

	if (!spec || !*spec)
		return -EINVAL;
	if (spec[0] == '[') {
		const char *end = strchr(spec, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		hs = spec + 1;
		hl = (size_t)(end - hs);
		colon = end + 1;
		if (hl == 0)
			return -EINVAL;
	} else {
		colon = strrchr(spec, ':');
		if (!colon) {
			if (hostlen < 1)
				return -EINVAL;
			host[0] = '\0';
			return parse_port(spec, port);
		}
		hs = spec;
		hl = (size_t)(colon - spec);
		/* A bare IPv6 address needs brackets. */
		if (memchr(hs, ':', hl) || hl == 0)
			return -EINVAL;
	}
	if (hl + 1 > hostlen)
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	return parse_port(colon + 1, port);
}

static int bind_addr(const struct sockaddr *sa, socklen_t salen, bool dual)
{
	int one = 1, zero = 0;
	int fd = socket(sa->sa_family,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (dual)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, salen) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int ssh_listen_open(const char *spec, int *port)
{
	char host[256];
	int p, fd;

	if (ssh_listen_parse(spec, host, sizeof(host), &p)) {
		log_error("SSH listen address '%s': use PORT, ADDR:PORT or [ADDR6]:PORT",
			  spec ? spec : "");
		return -EINVAL;
	}
	if (!host[0]) {
		/* Every address: one IPv6 socket that takes IPv4 too, or IPv4
		 * alone where IPv6 is off. */
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
					   .sin6_port = htons((uint16_t)p),
					   .sin6_addr = IN6ADDR_ANY_INIT };
		struct sockaddr_in s4 = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)p),
					  .sin_addr.s_addr = htonl(INADDR_ANY) };
		fd = bind_addr((struct sockaddr *)&s6, sizeof(s6), true);
		if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
			fd = bind_addr((struct sockaddr *)&s4, sizeof(s4),
				       false);
	} else {
		struct addrinfo hints = { .ai_family = AF_UNSPEC,
					  .ai_socktype = SOCK_STREAM,
					  .ai_flags = AI_PASSIVE |
						      AI_NUMERICSERV };
		struct addrinfo *res = NULL;
		char ps[8];
		snprintf(ps, sizeof(ps), "%d", p);
		int rc = getaddrinfo(host, ps, &hints, &res);
		if (rc) {
			log_error("SSH listen address '%s': %s", spec,
				  gai_strerror(rc));
			return -EINVAL;
		}
		fd = -EADDRNOTAVAIL;
		for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
			fd = bind_addr(ai->ai_addr, ai->ai_addrlen, false);
		freeaddrinfo(res);
	}
	if (fd < 0)
		return log_errno(fd, "SSH server: cannot listen on %s", spec);
	*port = bound_port(fd);
	return fd;
}
