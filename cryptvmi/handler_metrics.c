/* The handler's counters as Prometheus text (GET /metrics). Counts only:
 * no tenant or instance names, which would tell whoever can read the
 * metrics who uses the service when. */
#include <stdio.h>
#include <stdlib.h>

#include "handler.h"

void cvmi_metrics_status(struct cvmi_metrics *m, unsigned status)
{
	if (status < sizeof(m->by_status) / sizeof(m->by_status[0]))
		atomic_fetch_add(&m->by_status[status], 1);
}

static const char *const header =
	"# HELP cryptvmi_handler_requests_total HTTP requests answered, by "
	"status.\n"
	"# TYPE cryptvmi_handler_requests_total counter\n";

char *cvmi_metrics_text(struct cvmi_metrics *m, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	unsigned long us = atomic_load(&m->forward_us);

	if (!f)
		return NULL;
	fputs(header, f);
	for (unsigned s = 100; s < 600; s++) {
		unsigned long n = atomic_load(&m->by_status[s]);
		if (n)
			fprintf(f, "cryptvmi_handler_requests_total{code=\"%u\"}"
				" %lu\n", s, n);
	}
	fprintf(f,
		"# HELP cryptvmi_handler_forwards_total Requests forwarded to "
		"an agent.\n"
		"# TYPE cryptvmi_handler_forwards_total counter\n"
		"cryptvmi_handler_forwards_total %lu\n"
		"# HELP cryptvmi_handler_forward_seconds Time from forwarding "
		"to the agent's answer or failure.\n"
		"# TYPE cryptvmi_handler_forward_seconds summary\n"
		"cryptvmi_handler_forward_seconds_sum %lu.%06lu\n"
		"cryptvmi_handler_forward_seconds_count %lu\n"
		"# HELP cryptvmi_handler_agent_errors_total Forwards that got "
		"no usable answer, by kind.\n"
		"# TYPE cryptvmi_handler_agent_errors_total counter\n"
		"cryptvmi_handler_agent_errors_total{kind=\"unreachable\"} %lu\n"
		"cryptvmi_handler_agent_errors_total{kind=\"timeout\"} %lu\n"
		"cryptvmi_handler_agent_errors_total{kind=\"bad_reply\"} %lu\n"
		"cryptvmi_handler_agent_errors_total{kind=\"unknown_node\"} %lu\n"
		"# HELP cryptvmi_handler_agent_refusals_total Agents' 4xx "
		"answers passed through.\n"
		"# TYPE cryptvmi_handler_agent_refusals_total counter\n"
		"cryptvmi_handler_agent_refusals_total %lu\n",
		atomic_load(&m->forwards), us / 1000000, us % 1000000,
		atomic_load(&m->forwards), atomic_load(&m->agent_unreachable),
		atomic_load(&m->agent_timeout),
		atomic_load(&m->agent_bad_reply),
		atomic_load(&m->unknown_node),
		atomic_load(&m->agent_refusals));
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
