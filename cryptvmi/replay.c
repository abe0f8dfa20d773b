/* CryptVMI replay cache (proto.h): the (tenant, id) of every request
 * accepted in the last 2 * max_skew seconds, in a ring in arrival order
 * (so the oldest is forgotten first) indexed by a hash table with
 * chains. SipHash with a random key, so that tenants cannot choose ids
 * that all land in one chain. A full cache refuses: forgetting early
 * would let a replay through. */
#include "proto.h"
#include "proto_plain.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define NONE UINT32_MAX
#define ENTRIES_MAX (1u << 22)

struct entry {
	char tenant[CVMI_NAME_MAX + 1];
	char id[CVMI_ID_HEX + 1];
	int64_t expires;	/* forgotten once now is past it */
	uint32_t bucket;
	uint32_t next;		/* in the bucket's chain */
};

struct cvmi_replay {
	pthread_mutex_t lock;
	int64_t created, skew;
	size_t max, head, count;	/* ring[head] is the oldest */
	struct entry *ring;
	uint32_t *buckets;
	uint32_t mask;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

struct cvmi_replay *cvmi_replay_new(int64_t now, int max_skew,
				    size_t max_entries)
{
	struct cvmi_replay *r;
	size_t nb = 1;

	if (max_skew < 0 || !max_entries || max_entries > ENTRIES_MAX) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < 2 * max_entries)
		nb <<= 1;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->ring = calloc(max_entries, sizeof(*r->ring));
	r->buckets = malloc(nb * sizeof(*r->buckets));
	if (!r->ring || !r->buckets || pthread_mutex_init(&r->lock, NULL)) {
		free(r->ring);
		free(r->buckets);
		free(r);
		errno = ENOMEM;
		return NULL;
	}
	memset(r->buckets, 0xff, nb * sizeof(*r->buckets));
	r->mask = (uint32_t)(nb - 1);
	r->created = now;
	r->skew = max_skew;
	r->max = max_entries;
	randombytes_buf(r->key, sizeof(r->key));
	return r;
}

void cvmi_replay_free(struct cvmi_replay *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->ring);
	free(r->buckets);
	free(r);
}

static uint32_t bucket_of(const struct cvmi_replay *r, const char *tenant,
			  const char *id)
{
	/* '/' is in neither names nor ids: the pair is unambiguous. */
	char buf[CVMI_NAME_MAX + 1 + CVMI_ID_HEX];
	size_t tl = strlen(tenant);
	uint8_t h[crypto_shorthash_BYTES];
	uint32_t v;

	memcpy(buf, tenant, tl);
	buf[tl] = '/';
	memcpy(buf + tl + 1, id, CVMI_ID_HEX);
	crypto_shorthash(h, (const uint8_t *)buf, tl + 1 + CVMI_ID_HEX,
			 r->key);
	memcpy(&v, h, sizeof(v));
	return v & r->mask;
}

/* |a - b| > limit, without overflow for any int64 values. */
static bool too_far(int64_t a, int64_t b, int64_t limit)
{
	uint64_t d = a > b ? (uint64_t)a - (uint64_t)b
			   : (uint64_t)b - (uint64_t)a;

	return d > (uint64_t)limit;
}

static void forget_oldest(struct cvmi_replay *r)
{
	uint32_t idx = (uint32_t)r->head;
	uint32_t *p = &r->buckets[r->ring[idx].bucket];

	while (*p != idx)
		p = &r->ring[*p].next;
	*p = r->ring[idx].next;
	r->head = (r->head + 1) % r->max;
	r->count--;
}

int cvmi_replay_check(struct cvmi_replay *r, const char *tenant,
		      const char *id, int64_t ts, int64_t now)
{
	struct entry *e;
	uint32_t b, i;
	int64_t expires;
	int ret = 0;

	if (!r || !cvmi_valid_name(tenant) || !cvmi_valid_id(id))
		return -EINVAL;
	/* Before the cache existed, an earlier agent may have accepted it
	 * and this cache cannot know. */
	if (ts < r->created || too_far(ts, now, r->skew))
		return -ETIME;
	/* A ts within skew of now stops being accepted by now + 2 * skew
	 * at the latest; remember it until then. */
	if (__builtin_add_overflow(now, 2 * r->skew, &expires))
		expires = INT64_MAX;
	b = bucket_of(r, tenant, id);
	pthread_mutex_lock(&r->lock);
	/* Arrival order is expiry order while the clock goes forward; if
	 * it goes back, entries are merely kept longer. */
	while (r->count && r->ring[r->head].expires < now)
		forget_oldest(r);
	for (i = r->buckets[b]; i != NONE; i = r->ring[i].next)
		if (!strcmp(r->ring[i].id, id) &&
		    !strcmp(r->ring[i].tenant, tenant)) {
			ret = -EALREADY;
			goto out;
		}
	if (r->count == r->max) {
		ret = -ENOSPC;
		goto out;
	}
	i = (uint32_t)((r->head + r->count) % r->max);
	e = &r->ring[i];
	strcpy(e->tenant, tenant);
	strcpy(e->id, id);
	e->expires = expires;
	e->bucket = b;
	e->next = r->buckets[b];
	r->buckets[b] = i;
	r->count++;
out:
	pthread_mutex_unlock(&r->lock);
	return ret;
}
