/* cryptvmi-handler: the operator's CryptVMI query handler (cryptvmi/
 * README.md, "Handler"). Routes tenants' sealed requests to the agent of
 * the node that runs each instance, after checking the tenant's bearer
 * token and that the instance is the tenant's. Holds no key that opens a
 * request or a result. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dir.h"
#include "handler.h"

#define PEM_MAX (1u << 20)
#define MAX_CONNECTIONS 64

static void usage(FILE *f)
{
	fprintf(f,
"Usage: cryptvmi-handler --db FILE --listen ADDR:PORT --cert CERT --key KEY\n"
"                        [--agent-timeout MS] [--max-connections N]\n"
"                        [--log FILE]\n"
"\n"
"  --db FILE            the directory (made with cryptvmi-admin)\n"
"  --listen ADDR:PORT   where tenants connect (HTTPS); [ADDR6]:PORT for\n"
"                       IPv6, port 0 for any free port\n"
"  --cert, --key        the server's certificate (chain) and key, PEM\n"
"  --agent-timeout MS   bound on connecting to an agent and on its answer\n"
"                       (default %d)\n"
"  --max-connections N  concurrent connections (default %d)\n"
"  --log FILE           request log (default stderr); SIGHUP reopens it\n"
"\n"
"Endpoints: POST /v1/query, GET /v1/health, GET /metrics. SIGINT or\n"
"SIGTERM stops it after the requests in progress.\n",
		CVMI_AGENT_TIMEOUT_MS, MAX_CONNECTIONS);
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;

	fputs("cryptvmi-handler: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* A whole PEM file, NUL-terminated, into sodium's guarded memory when it
 * is the key (so it stays out of swap and core dumps). */
static char *read_pem(const char *path, bool secret)
{
	FILE *f = fopen(path, "re");
	struct stat st;
	char *buf;
	size_t n;

	if (!f) {
		die("%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) < 0 || st.st_size <= 0 ||
	    (size_t)st.st_size > PEM_MAX) {
		die("%s: empty, unreadable or larger than %u bytes", path,
		    PEM_MAX);
		fclose(f);
		return NULL;
	}
	n = (size_t)st.st_size;
	buf = secret ? sodium_malloc(n + 1) : malloc(n + 1);
	if (!buf || fread(buf, 1, n, f) != n) {
		die("%s: cannot read", path);
		if (buf)
			secret ? sodium_free(buf) : free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static long parse_num(const char *s, long min, long max, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		die("bad %s '%s': want %ld to %ld", what, s, min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, NULL, 'd' },
		{ "listen", required_argument, NULL, 'l' },
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "agent-timeout", required_argument, NULL, 't' },
		{ "max-connections", required_argument, NULL, 'm' },
		{ "log", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *db = NULL, *log_path = NULL, *cert_path = NULL,
		   *key_path = NULL;
	struct cvmi_handler_conf conf = {
		.agent_timeout_ms = CVMI_AGENT_TIMEOUT_MS,
		.max_connections = MAX_CONNECTIONS,
	};
	struct cvmi_handler *h = NULL;
	struct cvmi_dir *dir = NULL;
	char *cert = NULL, *key = NULL, err[512];
	sigset_t sigs;
	int opt, sig, status = 1;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd': db = optarg; break;
		case 'l': conf.listen = optarg; break;
		case 'c': cert_path = optarg; break;
		case 'k': key_path = optarg; break;
		case 't':
			conf.agent_timeout_ms = parse_num(optarg, 1, 600000,
							  "agent timeout");
			break;
		case 'm':
			conf.max_connections = (unsigned)parse_num(
				optarg, 1, 4096, "connection limit");
			break;
		case 'L': log_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fputs("Try 'cryptvmi-handler --help'.\n" + 0, stderr);
			return 2;
		}
	}
	if (optind < argc || !db || !conf.listen || !cert_path || !key_path) {
		if (optind < argc)
			die("unexpected argument '%s'", argv[optind]);
		else
			die("--db, --listen, --cert and --key are required");
		fputs("Try 'cryptvmi-handler --help'.\n", stderr);
		return 2;
	}
	if (sodium_init() < 0)
		return die("libsodium failed to start");
	/* Signals are taken by sigwait below; every thread inherits the
	 * mask. A vanished peer must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (cvmi_hlog_open(log_path, err, sizeof(err)))
		return die("%s", err);
	if (cvmi_dir_sqlite_open(db, false, &dir, err, sizeof(err))) {
		die("%s", err);
		goto out;
	}
	cert = read_pem(cert_path, false);
	key = cert ? read_pem(key_path, true) : NULL;
	if (!key)
		goto out;
	if (cvmi_fwd_global_init()) {
		die("libcurl failed to start");
		goto out;
	}
	conf.dir = dir;
	conf.cert_pem = cert;
	conf.key_pem = key;
	if (cvmi_handler_start(&conf, &h, err, sizeof(err))) {
		die("%s", err);
		goto out;
	}
	/* The host part as given, the port as bound (--listen ...:0). */
	cvmi_hlog("cryptvmi-handler: listening on %.*s:%u (agent timeout %ld "
		  "ms)", (int)(strrchr(conf.listen, ':') - conf.listen),
		  conf.listen, cvmi_handler_port(h), conf.agent_timeout_ms);
	for (;;) {
		if (sigwait(&sigs, &sig))
			continue;
		if (sig != SIGHUP)
			break;
		if (cvmi_hlog_reopen())
			cvmi_hlog("cryptvmi-handler: cannot reopen the log");
	}
	cvmi_hlog("cryptvmi-handler: stopping (signal %d)", sig);
	cvmi_handler_stop(h);
	status = 0;
out:
	free(cert);
	if (key)
		sodium_free(key);
	cvmi_dir_close(dir);
	cvmi_hlog_close();
	return status;
}
