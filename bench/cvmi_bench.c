/* cvmi_bench: CryptVMI's figures, each beside its comparison in the same
 * run:
 *
 *   encrypted `ps` through the handler: a tenant seals the request, the
 *   handler checks the token and forwards it to the agent, the agent
 *   opens it, walks the guest's task list, seals the answer, the tenant
 *   opens it. Latency median and p99 (one client, a kept-alive HTTPS
 *   connection), and queries per second with CLIENTS concurrent clients;
 *
 *   the same `ps` run directly on the guest's memory with no encryption,
 *   no HTTP: the vmi library's walk and its JSON, in this process.
 *
 *   cvmi_bench TENANT_DIR INSTANCE RAMFILE [N] [CLIENTS] [SECONDS]
 *
 * TENANT_DIR is a configured `cryptvmi` directory; RAMFILE the guest's
 * shared RAM (QEMU pc layout). Prints "key value" lines. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cryptvmi/cli_config.h"
#include "../cryptvmi/proto.h"
#include "../vmi/linux.h"
#include "../vmi/mem_file.h"
#include "../vmi/vmi_json.h"

struct ctx {
	struct cli_config cfg;
	struct cvmi_keypair me;
	uint8_t agent[CVMI_KEY_BYTES];
	const char *instance;
	char url[600];
	double stop_at;
	long ok;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *d, size_t s, size_t n, void *arg)
{
	struct buf *b = arg;
	char *p = realloc(b->p, b->n + s * n + 1);

	if (!p)
		return 0;
	memcpy(p + b->n, d, s * n);
	b->p = p;
	b->n += s * n;
	b->p[b->n] = '\0';
	return s * n;
}

/* One encrypted ps through the handler on handle e: 0 or -1. */
static int query(struct ctx *c, CURL *e, struct curl_slist *h)
{
	char id[CVMI_ID_HEX + 1], err[256], *ct = NULL, *body = NULL;
	char *agent_error = NULL;
	struct buf b = { 0 };
	json_t *req, *ans = NULL, *res = NULL;
	long status = 0;
	int r = -1;

	if (cvmi_request_seal(c->cfg.tenant, c->instance, "ps", NULL,
			      time(NULL), c->agent, c->me.sk, id, &ct, err,
			      sizeof(err)) < 0)
		return -1;
	req = json_pack("{s:i, s:s, s:s, s:s}", "v", CVMI_VERSION, "tenant",
			c->cfg.tenant, "instance", c->instance, "ciphertext",
			ct);
	body = json_dumps(req, JSON_COMPACT);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	if (curl_easy_perform(e) == CURLE_OK &&
	    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status == 200 && (ans = json_loads(b.p, 0, NULL)) &&
	    cvmi_response_open(json_string_value(json_object_get(ans,
								 "ciphertext")),
			       id, c->instance, c->agent, c->me.sk, &res,
			       &agent_error, err, sizeof(err)) == 0 &&
	    !agent_error && json_array_size(res) > 0)
		r = 0;
	else
		fprintf(stderr, "cvmi_bench: query failed (HTTP %ld): %s\n",
			status, agent_error ? agent_error : err);
	json_decref(req);
	json_decref(ans);
	json_decref(res);
	free(ct);
	free(body);
	free(b.p);
	free(agent_error);
	return r;
}

static CURL *handle(struct ctx *c, struct curl_slist **h)
{
	char auth[400];
	CURL *e = curl_easy_init();

	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", c->cfg.token);
	*h = curl_slist_append(NULL, "Content-Type: application/json");
	*h = curl_slist_append(*h, auth);
	curl_easy_setopt(e, CURLOPT_URL, c->url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	if (c->cfg.ca[0]) {
		curl_easy_setopt(e, CURLOPT_CAINFO, c->cfg.ca);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	}
	return e;
}

static void *client(void *arg)
{
	struct ctx *c = arg;
	struct curl_slist *h;
	CURL *e = handle(c, &h);
	long ok = 0;

	while (now() < c->stop_at)
		if (query(c, e, h) == 0)
			ok++;
	__atomic_add_fetch(&c->ok, ok, __ATOMIC_RELAXED);
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	return NULL;
}

int main(int argc, char **argv)
{
	static struct ctx c;
	char key[PATH_MAX + 16], err[512];
	int n = argc > 4 ? atoi(argv[4]) : 300;
	int clients = argc > 5 ? atoi(argv[5]) : 16;
	double secs = argc > 6 ? atof(argv[6]) : 5;

	if (argc < 4 || n < 10 || clients < 1 || clients > 256 || secs <= 0) {
		fprintf(stderr, "usage: cvmi_bench TENANT_DIR INSTANCE RAMFILE "
			"[N] [CLIENTS] [SECONDS]\n");
		return 2;
	}
	c.instance = argv[2];
	snprintf(key, sizeof(key), "%s/tenant.key", argv[1]);
	if (cvmi_init() < 0 ||
	    cli_config_load(argv[1], &c.cfg, err, sizeof(err)) < 0 ||
	    cvmi_key_load_secret(key, &c.me, err, sizeof(err)) < 0 ||
	    cli_agent_key(&c.cfg, c.instance, c.agent, err, sizeof(err)) < 0) {
		fprintf(stderr, "cvmi_bench: %s\n", err);
		return 1;
	}
	snprintf(c.url, sizeof(c.url), "%s/v1/query", c.cfg.handler);
	curl_global_init(CURL_GLOBAL_DEFAULT);

	/* Encrypted, through the handler: latency on one kept-alive client. */
	double *lat = calloc(n, sizeof(*lat));
	struct curl_slist *h;
	CURL *e = handle(&c, &h);
	if (query(&c, e, h) < 0) /* warm: TLS, the agent opening the guest */
		return 1;
	for (int i = 0; i < n; i++) {
		double s = now();
		if (query(&c, e, h) < 0)
			return 1;
		lat[i] = now() - s;
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(e);
	qsort(lat, n, sizeof(*lat), cmp);
	printf("enc_median_ms %.3f\nenc_p99_ms %.3f\n", lat[n / 2] * 1e3,
	       lat[(int)(n * 0.99)] * 1e3);

	pthread_t *t = calloc(clients, sizeof(*t));
	c.stop_at = now() + secs;
	double s0 = now();
	for (int i = 0; i < clients; i++)
		pthread_create(&t[i], NULL, client, &c);
	for (int i = 0; i < clients; i++)
		pthread_join(t[i], NULL);
	printf("enc_qps %.0f\nenc_clients %d\n", c.ok / (now() - s0), clients);

	/* The same ps on the same memory, in this process, in the clear. */
	struct vmi_mem *m;
	struct vmi_linux *l;
	if (vmi_mem_ram_open(argv[3], VMI_RAM_PC, false, &m, err,
			     sizeof(err)) < 0 ||
	    vmi_linux_open(m, NULL, &l, err, sizeof(err)) < 0) {
		fprintf(stderr, "cvmi_bench: %s\n", err);
		return 1;
	}
	size_t tasks_n = 0;
	for (int i = 0; i < n; i++) {
		struct vmi_linux_task *tk;
		double s = now();
		vmi_linux_invalidate(l); /* as the agent on a live guest */
		if (vmi_linux_tasks(l, &tk, &tasks_n, err, sizeof(err)) < 0) {
			fprintf(stderr, "cvmi_bench: %s\n", err);
			return 1;
		}
		json_t *j = vmi_json_tasks(tk, tasks_n);
		char *out = json_dumps(j, JSON_COMPACT);
		lat[i] = now() - s;
		free(out);
		json_decref(j);
		free(tk);
	}
	qsort(lat, n, sizeof(*lat), cmp);
	printf("direct_median_ms %.3f\ndirect_p99_ms %.3f\n",
	       lat[n / 2] * 1e3, lat[(int)(n * 0.99)] * 1e3);
	printf("direct_qps %.0f\nprocesses %zu\n", 1 / lat[n / 2],
	       tasks_n - 1);
	vmi_linux_close(l);
	vmi_mem_close(m);
	free(lat);
	free(t);
	return 0;
}
