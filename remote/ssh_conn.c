/* One SSH connection (see ssh_conn.h).
 *
 * The session is non-blocking from the start: the key exchange, the
 * authentication and every channel are driven by one ssh_event loop that
 * also watches the server's stop eventfd, so a connection in any phase
 * ends promptly when the server stops. libssh callbacks only record what
 * happened; the channels' pumps do the I/O after each round. */
#include "ssh_conn.h"
#include "ssh_auth.h"
#include "ssh_console.h"
#include "ssh_forward.h"
#include "ssh_server.h"
#include "ssh_util.h"
#include "../vmm/log.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fd_event(socket_t fd, int revents, void *userdata)
{
	struct ssh_fdwatch *w = userdata;
	(void)fd;
	w->revents |= (short)revents;
	return 0;
}

void ssh_conn_watch(struct ssh_conn *c, struct ssh_fdwatch *w, int fd,
		    short events)
{
	if (w->events && (w->fd != fd || w->events != events)) {
		ssh_event_remove_fd(c->event, w->fd);
		w->events = 0;
	}
	w->fd = fd;
	if (events && !w->events) {
		if (ssh_event_add_fd(c->event, fd, events, fd_event, w) ==
		    SSH_OK)
			w->events = events;
		else
			log_warn("ssh %s: cannot watch fd %d", c->peer, fd);
	}
}

void ssh_conn_add_chan(struct ssh_conn *c, struct ssh_chan *ch)
{
	/* At the tail: the pump loop may be walking the list when a libssh
	 * call inside a pump opens a channel. */
	struct ssh_chan **pp = &c->chans;
	while (*pp)
		pp = &(*pp)->next;
	ch->next = NULL;
	*pp = ch;
	c->nchans++;
}

static void chan_free(struct ssh_conn *c, struct ssh_chan *ch)
{
	ssh_channel lch = ch->ch;

	if (ch->cb_set)
		ssh_remove_channel_callbacks(lch, &ch->cb);
	ch->ops->destroy(ch);
	/* Sends our close if not done yet; libssh frees it once both sides
	 * have closed (or with the session). */
	if (lch)
		ssh_channel_free(lch);
	c->nchans--;
}

static struct ssh_chan *find_chan(struct ssh_conn *c, ssh_channel lch)
{
	for (struct ssh_chan *ch = c->chans; ch; ch = ch->next)
		if (ch->ch == lch)
			return ch;
	return NULL;
}

/* Logs the first refusal of a connection (later ones at debug level) and
 * counts it; too many end the connection. */
static void refuse(struct ssh_conn *c, const char *user, const char *why)
{
	char u[SSH_LOGSTR_MAX];

	c->auth_failures++;
	if (!c->refusal_logged) {
		c->refusal_logged = true;
		log_info("ssh: auth refused for user %s from %s: %s",
			 ssh_logstr(user, u), c->peer, why);
	} else {
		log_debug("ssh: auth refused for user %s from %s: %s",
			  ssh_logstr(user, u), c->peer, why);
	}
	if (c->auth_failures >= SSH_CONN_MAX_AUTH_TRIES && !c->drop) {
		c->drop = true;
		log_info("ssh: %s: too many authentication failures, disconnecting",
			 c->peer);
	}
}

static const struct ssh_vm *find_vm(const struct ssh_conn *c,
				    const char *user, size_t *index)
{
	if (!user)
		return NULL;
	for (size_t i = 0; i < c->cfg->nvms; i++) {
		if (c->cfg->vms[i].name && strcmp(c->cfg->vms[i].name, user) == 0) {
			*index = i;
			return &c->cfg->vms[i];
		}
	}
	return NULL;
}

/* libssh calls this for the key probe (state NONE: "would this key do?")
 * and for the signed request (state VALID once libssh has checked the
 * signature). A wrong key and an unknown VM get the same answer. */
static int on_auth_pubkey(ssh_session session, const char *user,
			  struct ssh_key_struct *key, char state,
			  void *userdata)
{
	struct ssh_conn *c = userdata;
	char fp[SSH_FP_MAX], why[128];
	size_t idx = 0;
	(void)session;

	if (c->vm || c->drop)
		return SSH_AUTH_DENIED;
	const struct ssh_vm *vm = find_vm(c, user, &idx);
	if (!vm) {
		refuse(c, user, "unknown VM");
		return SSH_AUTH_DENIED;
	}
	if (state != SSH_PUBLICKEY_STATE_NONE &&
	    state != SSH_PUBLICKEY_STATE_VALID) {
		refuse(c, user, "bad signature");
		return SSH_AUTH_DENIED;
	}
	int m = ssh_ak_match(vm->authorized_keys, key, &c->cfg->aklog[idx]);
	if (m != 1) {
		snprintf(why, sizeof(why), "%s %s",
			 m < 0 ? "authorized_keys unusable; key" : "key not authorized:",
			 ssh_key_fp(key, fp));
		refuse(c, user, why);
		return SSH_AUTH_DENIED;
	}
	if (state == SSH_PUBLICKEY_STATE_NONE)
		return SSH_AUTH_SUCCESS; /* "key OK": the client will sign */
	c->vm = vm;
	c->vm_index = idx;
	atomic_fetch_sub(c->cfg->unauth, 1);
	log_info("ssh: %s authenticated for VM %s with key %s", c->peer,
		 vm->name, ssh_key_fp(key, fp));
	return SSH_AUTH_SUCCESS;
}

static ssh_channel on_session_open(ssh_session session, void *userdata)
{
	struct ssh_conn *c = userdata;

	if (!c->vm || c->stopping)
		return NULL;
	if (c->nchans >= SSH_CONN_MAX_CHANNELS) {
		log_info("ssh: %s (VM %s): too many channels, session refused",
			 c->peer, c->vm->name);
		return NULL;
	}
	ssh_channel ch = ssh_channel_new(session);
	if (!ch)
		return NULL;
	if (!ssh_console_open(c, ch)) {
		ssh_channel_free(ch);
		return NULL;
	}
	return ch;
}

/* Whatever the server callbacks do not take: direct-tcpip opens, channel
 * requests libssh does not parse (a break), other auth methods. Returns 0
 * when handled (replied), 1 for libssh's default refusal. */
static int on_message(ssh_session session, ssh_message msg, void *userdata)
{
	struct ssh_conn *c = userdata;
	int type = ssh_message_type(msg), sub = ssh_message_subtype(msg);
	(void)session;

	switch (type) {
	case SSH_REQUEST_CHANNEL_OPEN:
		if (sub == SSH_CHANNEL_DIRECT_TCPIP && c->vm && !c->stopping) {
			ssh_forward_request(c, msg);
			return 0;
		}
		if (c->vm)
			log_info("ssh: %s (VM %s): channel type %d refused",
				 c->peer, c->vm->name, sub);
		return 1;
	case SSH_REQUEST_CHANNEL:
		if (sub == SSH_CHANNEL_REQUEST_UNKNOWN) {
			struct ssh_chan *ch = find_chan(
				c, ssh_message_channel_request_channel(msg));
			if (ch && ch->ops->unknown_request &&
			    ch->ops->unknown_request(ch)) {
				ssh_message_channel_request_reply_success(msg);
				return 0;
			}
		}
		return 1;
	case SSH_REQUEST_AUTH:
		/* "none" is how clients ask for the method list: no failure. */
		if (sub != SSH_AUTH_METHOD_NONE)
			refuse(c, ssh_message_auth_user(msg),
			       sub == SSH_AUTH_METHOD_PASSWORD
				       ? "password authentication is not offered"
				       : "only public keys are accepted");
		return 1;
	default:
		return 1;
	}
}

static void chans_stop(struct ssh_conn *c)
{
	for (struct ssh_chan *ch = c->chans; ch; ch = ch->next)
		ch->ops->stop(ch);
}

static void chans_pump(struct ssh_conn *c)
{
	struct ssh_chan **pp = &c->chans;

	while (*pp) {
		struct ssh_chan *ch = *pp;
		if (ch->ops->pump(ch)) {
			pp = &ch->next;
			continue;
		}
		*pp = ch->next;
		chan_free(c, ch);
	}
}

static bool session_gone(ssh_session s)
{
	return (ssh_get_status(s) & (SSH_CLOSED | SSH_CLOSED_ERROR)) ||
	       !ssh_is_connected(s);
}

void ssh_conn_serve(const struct ssh_srv_cfg *cfg, ssh_session session,
		    const char *peer)
{
	struct ssh_conn c = {
		.cfg = cfg,
		.session = session,
		.peer = peer,
		.stop_w = { .fd = -1 },
	};
	const char *why = "client closed the connection";
	bool kex_done = false;
	int poll_errors = 0;
	long long deadline = now_ms() + cfg->grace_ms;
	int rc;

	c.scb = (struct ssh_server_callbacks_struct){
		.userdata = &c,
		.auth_pubkey_function = on_auth_pubkey,
		.channel_open_request_session_function = on_session_open,
	};
	ssh_callbacks_init(&c.scb);
	ssh_set_server_callbacks(session, &c.scb);
	ssh_set_message_callback(session, on_message, &c);
	ssh_set_auth_methods(session, SSH_AUTH_METHOD_PUBLICKEY);
	ssh_set_blocking(session, 0);

	/* The first call sends our banner and sets up the socket's poll
	 * handle, which ssh_event_add_session needs. */
	rc = ssh_handle_key_exchange(session);
	c.event = ssh_event_new();
	if (rc == SSH_ERROR || !c.event ||
	    ssh_event_add_session(c.event, session) != SSH_OK) {
		why = rc == SSH_ERROR ? "connection failed" : "out of memory";
		log_debug("ssh: %s: %s", peer, ssh_get_error(session));
		goto out;
	}
	kex_done = rc == SSH_OK;
	ssh_conn_watch(&c, &c.stop_w, cfg->stop_fd, POLLIN);

	for (;;) {
		int timeout = -1;
		if (!c.vm) {
			long long left = deadline - now_ms();
			timeout = left > 0 ? (int)left : 0;
		}
		rc = ssh_event_dopoll(c.event, timeout);
		if (session_gone(session))
			break;
		if (rc == SSH_ERROR && ++poll_errors > 100) {
			why = "event loop failure";
			log_warn("ssh: %s: poll keeps failing: %s", peer,
				 strerror(errno));
			break;
		} else if (rc != SSH_ERROR) {
			poll_errors = 0;
		}
		if (c.stop_w.revents) {
			c.stopping = true;
			why = "server stopping";
			chans_stop(&c);
			break;
		}
		if (!kex_done) {
			rc = ssh_handle_key_exchange(session);
			if (rc == SSH_ERROR) {
				why = "key exchange failed";
				log_debug("ssh: %s: key exchange: %s", peer,
					  ssh_get_error(session));
				break;
			}
			kex_done = rc == SSH_OK;
			if (kex_done) {
				const char *b = ssh_get_clientbanner(session);
				c.openssh_client =
					b && strncmp(b, "SSH-2.0-OpenSSH_", 16) == 0;
			}
		}
		if (c.drop) {
			why = "too many authentication failures";
			break;
		}
		if (!c.vm && now_ms() >= deadline) {
			why = "did not authenticate in time";
			log_info("ssh: %s: login grace time (%d s) over, disconnecting",
				 peer, cfg->grace_ms / 1000);
			break;
		}
		chans_pump(&c);
		if (session_gone(session))
			break;
	}
out:
	while (c.chans) {
		struct ssh_chan *ch = c.chans;
		c.chans = ch->next;
		chan_free(&c, ch);
	}
	if (c.event) {
		ssh_conn_watch(&c, &c.stop_w, cfg->stop_fd, 0);
		ssh_event_remove_session(c.event, session);
		ssh_event_free(c.event);
	}
	if (ssh_is_connected(session)) {
		if (c.stopping)
			ssh_session_set_disconnect_message(session,
							   "vsbd is stopping");
		ssh_disconnect(session);
	}
	if (!c.vm)
		atomic_fetch_sub(cfg->unauth, 1);
	if (c.vm)
		log_info("ssh: connection from %s (VM %s) closed: %s", peer,
			 c.vm->name, why);
	else
		log_info("ssh: connection from %s closed before authentication: %s",
			 peer, why);
}
