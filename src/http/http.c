/* The HTTP server. See http.h for what it owns and promises. */
#include "http.h"

#include "../core/arena.h"
#include "../core/netaddr.h"
#include "../core/text.h"
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include "cache.h"
#include "gzip.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PARAMS 64
#define BODY_MAX (8u << 20)

/* ---- per-connection state: the raw request target, the header deadline, the body's pace ---- */

/* Where a request body is: the worker thread and the reaper race for READING -> NONE / CUT. */
enum body_phase { BODY_NONE, BODY_READING, BODY_CUT };

struct conn_state {
	struct conn_state *prev, *next;
	int fd;
	struct MHD_Connection *conn;
	_Atomic uint64_t deadline_us; /* 0 = not waiting for headers */
	char *uri;		      /* raw request target of the current request (malloc) */
	const char *uri_at;	      /* where it lies in libmicrohttpd's read buffer (compared only) */
	size_t uri_len;
	bool uri_too_long;
	bool api; /* the target starts with /api/ (known even when too long) */
	/* The body of the current request: its phase and bytes so far (set by the worker); the
	 * reaper's last mark (set by the worker when the body starts, then by the reaper only). */
	_Atomic int body;
	_Atomic uint64_t body_bytes;
	_Atomic uint64_t mark_us, mark_bytes; /* atomic: a keep-alive request may restart them */
	uint64_t cut_us;
	_Atomic uint64_t resume_at_us; /* http_delay: resume then (0: not delayed) */
	/* The peer as text and as a limit key, made on the connection's first request: a peer
	 * that is not a trusted proxy is the client of every request on the connection. */
	bool peer_known;
	char peer_addr[NETADDR_TEXT], peer_key[NETADDR_TEXT];
};

struct http_server {
	struct MHD_Daemon *d;
	struct http_options o;
	http_dispatch_fn dispatch;
	void *app;
	int port;
	pthread_mutex_t conns_lock;
	struct conn_state conns; /* list head */
	pthread_t reaper;
	_Atomic bool stopping;
	_Atomic bool draining;	  /* http_drain: new requests get 503 */
	_Atomic bool closed;	  /* http_close: no handler runs any more */
	_Atomic long dispatching; /* handlers running now */
	_Atomic long in_flight;
	_Atomic long suspended; /* suspended and not yet asked to resume */
	_Atomic long held;	/* suspended at some point and not yet completed (answer sent) */
	struct netaddr_list *proxies;
	struct page_cache *cache;
	bool cache_on; /* cache_mb > 0 and cache_entries != 0 */
	struct metrics *metrics;
};

uint64_t http_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn_state *cs = xcalloc(1, sizeof *cs);
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		cs->fd = ci ? ci->connect_fd : -1;
		cs->conn = c;
		atomic_store(&cs->deadline_us, http_now_us() + (uint64_t)s->o.header_timeout * 1000000u);
		pthread_mutex_lock(&s->conns_lock);
		cs->next = s->conns.next;
		cs->prev = &s->conns;
		s->conns.next->prev = cs;
		s->conns.next = cs;
		pthread_mutex_unlock(&s->conns_lock);
		*socket_context = cs;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		/* libmicrohttpd closes the socket after this returns, so the reaper, which only
		 * shuts down sockets on the list under the lock, never touches a reused fd. */
		struct conn_state *cs = *socket_context;
		if (!cs)
			return;
		pthread_mutex_lock(&s->conns_lock);
		cs->prev->next = cs->next;
		cs->next->prev = cs->prev;
		pthread_mutex_unlock(&s->conns_lock);
		free(cs->uri);
		free(cs);
		*socket_context = NULL;
	}
}

static struct conn_state *conn_state_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* Called with the raw request target as soon as the request line is read. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct http_server *s = cls;
	struct conn_state *cs = conn_state_of(c);
	if (cs) {
		free(cs->uri);
		cs->uri = NULL;
		cs->uri_at = uri;
		cs->uri_len = strlen(uri);
		cs->uri_too_long = cs->uri_len > (size_t)s->o.max_url_bytes;
		cs->api = !strncmp(uri, "/api/", 5);
		if (!cs->uri_too_long)
			cs->uri = xstrdup(uri);
	}
	return NULL;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A body too slow. libmicrohttpd 0.9.75 cannot queue a response while it reads a body, and
 * nothing has been written for this request yet (a "100 Continue" at most, after which a final
 * status is still valid), so the reaper writes the 408 itself and ends the sending side. The
 * worker thread, which lost the race for the body (BODY_CUT), refuses whatever else arrives,
 * and a second later the reading side is shut too, so that libmicrohttpd closes the connection
 * even if the client sends nothing more (the second lets the client read the 408 before it
 * could be reset).
 */
static void cut_slow_body(struct conn_state *cs, uint64_t now)
{
	static const char answer[] = "HTTP/1.1 408 Request Timeout\r\n"
				     "Content-Type: text/plain; charset=utf-8\r\n"
				     "Content-Length: 63\r\n"
				     "Connection: close\r\n\r\n"
				     "Данные приходят слишком медленно.\n";
	_Static_assert(sizeof "Данные приходят слишком медленно.\n" - 1 == 63, "Content-Length");
	ssize_t n = send(cs->fd, answer, sizeof answer - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)n; /* a full send buffer: the connection is closed without an answer */
	shutdown(cs->fd, SHUT_WR);
	cs->cut_us = now;
}

bool http_body_too_slow(uint64_t now_us, uint64_t mark_us, uint64_t bytes, unsigned rate, uint64_t window_us)
{
	/* A body that began after the reaper read the clock (mark_us > now_us) has had no time
	 * yet; unsigned, now_us - mark_us would be near 2^64 and cut it at once. */
	if (rate == 0 || mark_us >= now_us || now_us - mark_us < window_us)
		return false;
	return bytes < (uint64_t)rate * (now_us - mark_us) / 1000000u;
}

static void *reaper_main(void *arg)
{
	struct http_server *s = arg;
	int ticks = 0;
	pthread_setname_np(pthread_self(), "spravka-reaper");
	uint64_t window = (uint64_t)s->o.body_grace * 1000000u;
	while (!atomic_load(&s->stopping)) {
		usleep(200 * 1000);
		uint64_t now = http_now_us();
		bool draining = atomic_load(&s->draining);
		struct MHD_Connection *resume[64];
		int n_resume = 0;
		pthread_mutex_lock(&s->conns_lock);
		for (struct conn_state *cs = s->conns.next; cs != &s->conns; cs = cs->next) {
			uint64_t dl = atomic_load(&cs->deadline_us);
			if (dl && now > dl && cs->fd >= 0) {
				shutdown(cs->fd, SHUT_RDWR);
				atomic_store(&cs->deadline_us, 0);
			}
			/* The body's pace, over windows of body_grace seconds: a client that sends a
			 * burst and then trickles is cut in its first slow window. */
			int phase = atomic_load(&cs->body);
			uint64_t mark = atomic_load(&cs->mark_us);
			if (phase == BODY_READING && s->o.min_body_rate > 0 && now > mark && now - mark >= window) {
				uint64_t got = atomic_load(&cs->body_bytes), us = now - mark;
				int expected = BODY_READING;
				if (http_body_too_slow(now, mark, got - cs->mark_bytes, (unsigned)s->o.min_body_rate,
						       window) &&
				    atomic_compare_exchange_strong(&cs->body, &expected, BODY_CUT)) {
					cut_slow_body(cs, now);
					log_line("spravka: a request body came at %llu bytes/s, under min_body_rate: "
						 "answered 408 and closed\n",
						 (unsigned long long)((got - cs->mark_bytes) * 1000000u / us));
				} else {
					cs->mark_us = now;
					cs->mark_bytes = got;
				}
			} else if (phase == BODY_CUT && cs->cut_us && now - cs->cut_us > 1000000u && cs->fd >= 0) {
				shutdown(cs->fd, SHUT_RDWR);
				cs->cut_us = 0;
			}
			uint64_t at = atomic_load(&cs->resume_at_us);
			if (at && (now >= at || draining) && n_resume < 64) {
				atomic_store(&cs->resume_at_us, 0);
				resume[n_resume++] = cs->conn;
			}
		}
		pthread_mutex_unlock(&s->conns_lock);
		/* Outside the lock (libmicrohttpd takes its own); a suspended connection is never
		 * closed meanwhile. */
		for (int i = 0; i < n_resume; i++) {
			MHD_resume_connection(resume[i]);
			atomic_fetch_sub(&s->suspended, 1); /* after: see http_resume */
		}
		if (++ticks % 5 == 0)
			http_log_flush();
	}
	return NULL;
}

/* ---- requests ---- */

struct req_ctx {
	struct http_request req;
	struct http_response resp;
	struct http_server *s;
	size_t bytes;
	bool answered;
	bool suspended; /* http_suspend: the answer comes when http_resume is called */
	int delay_ms;	/* http_delay */
	bool held;	/* was suspended: counted in held until completed */
	struct conn_state *cs;
	/* body reading */
	struct http_body_rules rules;
	struct MHD_PostProcessor *pp;
	struct buf raw;
	int cur_file; /* index of the file being written, -1 none */
	int fd;
	EVP_MD_CTX *sha; /* the upload being received; OpenSSL uses the CPU's SHA instructions */
	size_t cap_fields, cap_files;
	uint64_t statements; /* run by the dispatcher's thread (http_options.thread_statements) */
};

void http_suspend(struct http_request *req)
{
	struct req_ctx *x = (struct req_ctx *)req; /* req is the first member */
	x->suspended = true;
	if (!x->held) {
		x->held = true;
		atomic_fetch_add(&x->s->held, 1);
	}
	atomic_fetch_add(&x->s->suspended, 1);
	MHD_suspend_connection(req->conn);
}

void http_resume(struct http_request *req)
{
	struct req_ctx *x = (struct req_ctx *)req;
	if (x->delay_ms && x->cs && !atomic_load(&x->s->draining)) {
		/* The handler that ran on another thread asked for http_delay: the reaper resumes
		 * the connection when the delay is over (or at once when draining). */
		atomic_store(&x->cs->resume_at_us, http_now_us() + (uint64_t)x->delay_ms * 1000u);
		return;
	}
	/* Counted after: once MHD_resume_connection has returned, the resumption is pending and
	 * MHD_stop_daemon processes it before it checks for suspended connections (it panics, and
	 * aborts the process, on one still suspended). Counted before, http_stop could see 0 in
	 * the moment between the count and the call. */
	struct http_server *s = x->s; /* x may be freed as soon as the connection is resumed */
	MHD_resume_connection(req->conn);
	atomic_fetch_sub(&s->suspended, 1);
}

void http_delay(struct http_request *req, int ms)
{
	struct req_ctx *x = (struct req_ctx *)req;
	x->delay_ms = ms < 0 ? 0 : ms > 10000 ? 10000 : ms;
}

/* After the handler: a delayed answer waits suspended for the reaper (see http_delay). */
static bool delay_answer(struct req_ctx *x)
{
	if (!x->delay_ms || !x->cs || atomic_load(&x->s->draining))
		return false;
	x->suspended = true;
	if (!x->held) {
		x->held = true;
		atomic_fetch_add(&x->s->held, 1);
	}
	atomic_fetch_add(&x->s->suspended, 1);
	MHD_suspend_connection(x->req.conn);
	atomic_store(&x->cs->resume_at_us, http_now_us() + (uint64_t)x->delay_ms * 1000u);
	return true;
}

const char *http_param(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_params; i++)
		if (!strcmp(req->params[i].name, name))
			return req->params[i].value;
	return NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

struct cookie_find {
	const struct http_request *req;
	const char *name;
	const char *value;
};

/* One Cookie header: "a=1; b=2". Pairs without "=" or with an empty name are skipped; names
 * are compared exactly (RFC 6265: case matters); a value in double quotes loses them. */
static enum MHD_Result find_cookie(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct cookie_find *f = cls;
	if (f->value || !key || !value || strcasecmp(key, "Cookie"))
		return MHD_YES;
	size_t nlen = strlen(f->name);
	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			const char *ne = eq;
			while (ne > p && (ne[-1] == ' ' || ne[-1] == '\t'))
				ne--;
			if (ne > p && (size_t)(ne - p) == nlen && !memcmp(p, f->name, nlen)) {
				const char *v = eq + 1, *ve = end;
				while (v < ve && (*v == ' ' || *v == '\t'))
					v++;
				while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
					ve--;
				if (ve - v >= 2 && *v == '"' && ve[-1] == '"')
					v++, ve--;
				f->value = arena_strndup(f->req->arena, v, (size_t)(ve - v));
				return MHD_NO;
			}
		}
		p = end;
	}
	return MHD_YES;
}

/* Read from the Cookie header itself, not from libmicrohttpd's cookie table: that one compares
 * names ignoring case and, for a value of a single '"', records a length of SIZE_MAX. */
const char *http_cookie(const struct http_request *req, const char *name)
{
	struct cookie_find f = {req, name, NULL};
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, find_cookie, &f);
	return f.value;
}

/* ---- the request head: strict framing (RFC 9112), see http.h ---- */

struct head_scan {
	size_t bytes;
	int n_cl, n_te, n_host;
	const char *cl, *te, *host;
	bool cl_differs, cl_bad;
	bool bad_name, bad_value;
	/* The layout check (libmicrohttpd 0.9.75 parses the head in place): the head's bytes
	 * [head_start, head_end) and where the previous line's last token ended. */
	bool check_layout, layout_bad;
	uintptr_t prev_end, head_start, head_end;
};

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool all_digits(const char *v)
{
	if (!*v)
		return false;
	for (; *v; v++)
		if (*v < '0' || *v > '9')
			return false;
	return true;
}

/* Host = uri-host [ ":" port ]: a reg-name / IPv4 of unreserved, sub-delims and pct-encoded
 * characters, or an IP literal in brackets; empty is allowed (RFC 9112 section 3.2). */
static bool host_ok(const char *h)
{
	const char *p = h;
	if (*p == '[') {
		for (p++; *p && *p != ']'; p++)
			if (!strchr("0123456789abcdefABCDEF:.vV", *p))
				return false;
		if (*p++ != ']')
			return false;
	} else {
		for (; *p && *p != ':'; p++) {
			unsigned char c = (unsigned char)*p;
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      strchr("-._~!$&'()*+,;=%", c)))
				return false;
		}
	}
	if (*p == ':') {
		p++;
		if (strlen(p) > 5)
			return false;
		for (; *p; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	return *p == '\0';
}

/* The layout of one parsed header line in the read buffer: "Name\0<OWS>value" right after the
 * previous line's end, which must have been a CRLF (two zero bytes there now). A bare LF
 * leaves one zero byte, a NUL in a value cuts it short (more bytes before the next line), an
 * obs-fold moves the value elsewhere (libmicrohttpd joins the lines in a new allocation).
 * Only bytes between two pointers into the buffer are read. */
static void check_line_layout(struct head_scan *h, const char *key, size_t key_size, const char *value)
{
	uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
	if (!h->check_layout || h->layout_bad)
		return;
	const char *prev = (const char *)h->prev_end;
	if (k != h->prev_end + 2 || v <= k + key_size || v > h->head_end || prev[0] || prev[1] || key[key_size]) {
		h->layout_bad = true;
		return;
	}
	for (const char *p = key + key_size + 1; p < value; p++)
		if (*p != ' ' && *p != '\t') {
			h->layout_bad = true;
			return;
		}
}

static enum MHD_Result scan_head(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
				 const char *value, size_t value_size)
{
	(void)kind;
	struct head_scan *h = cls;
	if (!key)
		return MHD_YES;
	if (!value)
		value = "", value_size = 0;
	if (h->check_layout && (uintptr_t)value + value_size + 4 > h->head_end)
		h->layout_bad = true; /* (also keeps every read of the layout check in the head) */
	h->bytes += key_size + value_size + 4;
	if (!key_size)
		h->bad_name = true;
	for (size_t i = 0; i < key_size; i++)
		if (!is_tchar((unsigned char)key[i]))
			h->bad_name = true;
	for (size_t i = 0; i < value_size; i++) {
		unsigned char c = (unsigned char)value[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) /* a bare CR, other controls */
			h->bad_value = true;
	}
	check_line_layout(h, key, key_size, value);
	if (!h->layout_bad)
		h->prev_end = (uintptr_t)(value + value_size);
	if (!strcasecmp(key, "Content-Length")) {
		if (h->n_cl++ && strcmp(h->cl, value))
			h->cl_differs = true;
		h->cl = value;
		if (!all_digits(value))
			h->cl_bad = true;
	} else if (!strcasecmp(key, "Transfer-Encoding")) {
		h->n_te++;
		h->te = value;
	} else if (!strcasecmp(key, "Host")) {
		h->n_host++;
		h->host = value;
	}
	return MHD_YES;
}

/* "chunked" alone, with optional white space around it. */
static bool te_is_chunked(const char *te)
{
	while (*te == ' ' || *te == '\t')
		te++;
	if (strncasecmp(te, "chunked", 7))
		return false;
	for (te += 7; *te; te++)
		if (*te != ' ' && *te != '\t')
			return false;
	return true;
}

/*
 * Checks the head of a request once libmicrohttpd has parsed it. Returns 0, or the status of a
 * framing error (400, 501) with *problem in Russian: the caller answers at once and closes.
 * 431 (header block too large) is answered like the other refusals, by the application.
 */
static int check_head(struct MHD_Connection *c, const struct conn_state *cs, const char *method, const char *version,
		      size_t max_header_bytes, const char **problem)
{
	struct head_scan h = {0};
#if MHD_VERSION == 0x00097500
	/* The request line: METHOD SP target SP version, single spaces, nothing cut by a NUL.
	 * The head is [method, method + its size) in the read buffer. */
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
	if (cs && cs->uri_at && *version && ci && ci->header_size) {
		uintptr_t m = (uintptr_t)method, u = (uintptr_t)cs->uri_at, v = (uintptr_t)version;
		h.check_layout = true;
		h.head_start = m;
		h.head_end = m + ci->header_size;
		h.prev_end = v + strlen(version);
		h.layout_bad = u != m + strlen(method) + 1 || v != u + cs->uri_len + 1 || h.prev_end + 4 > h.head_end;
	}
#else
	(void)method, (void)cs;
#endif
	MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_head, &h);
	/* After the last header line: exactly its CRLF and the empty line's, nothing else (a line
	 * libmicrohttpd dropped, a bare LF, a NUL at the end of the last value). */
	if (h.check_layout && !h.layout_bad) {
		const char *end = (const char *)h.prev_end;
		h.layout_bad = h.prev_end + 4 != h.head_end || end[0] || end[1] || end[2] || end[3];
	}
	/* The target: visible characters only (a space would have split the request line). */
	for (const unsigned char *p = cs && cs->uri ? (const unsigned char *)cs->uri : NULL; p && *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			h.layout_bad = true;
	*problem = "Некорректный запрос: неверный формат заголовков.";
	if (h.bad_name || h.bad_value || h.layout_bad)
		return 400;
	if (h.bytes > max_header_bytes)
		return 431;
	bool http10 = !strcmp(version, "HTTP/1.0");
	if (h.n_host > 1 || (h.host && !host_ok(h.host)) || (!h.n_host && !http10)) {
		*problem = "Некорректный запрос: нужен ровно один правильный заголовок Host.";
		return 400;
	}
	if (h.n_te && (h.n_cl || http10)) {
		*problem = "Некорректный запрос: Transfer-Encoding вместе с Content-Length.";
		return 400;
	}
	if (h.n_cl && (h.cl_differs || h.cl_bad)) {
		*problem = "Некорректный запрос: неверный Content-Length.";
		return 400;
	}
	if (h.n_te && (h.n_te > 1 || !te_is_chunked(h.te))) {
		*problem = "Такое кодирование тела запроса (Transfer-Encoding) не поддерживается.";
		return 501;
	}
	return 0;
}

/* Decodes the path and the query of the raw target; false for 400. */
static bool parse_target(struct http_request *req, const char *raw)
{
	/* A target is visible characters (raw UTF-8 is decoded and checked below): a space,
	 * a control character or DEL is refused. */
	for (const unsigned char *p = (const unsigned char *)raw; *p; p++)
		if (*p <= 0x20 || *p == 0x7f)
			return false;
	const char *q = strchr(raw, '?');
	size_t plen = q ? (size_t)(q - raw) : strlen(raw);
	char *path;
	if (plen == 0 || raw[0] != '/' || !pct_decode(req->arena, raw, plen, false, &path))
		return false;
	/* No dot segments, plain or encoded: no path here ever names a file, but a request
	 * that tries is refused outright. */
	for (const char *p = path; (p = strstr(p, "/.")); p++) {
		const char *e = p + 2;
		if (*e == '.')
			e++;
		if (*e == '/' || *e == '\0')
			return false;
	}
	req->path = path;
	req->params = arena_alloc(req->arena, MAX_PARAMS * sizeof *req->params);
	if (!q)
		return true;
	for (const char *p = q + 1; *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);
		if (len) {
			if (req->n_params == MAX_PARAMS)
				return false;
			const char *eq = memchr(p, '=', len);
			size_t klen = eq ? (size_t)(eq - p) : len;
			char *k, *v = "";
			if (!pct_decode(req->arena, p, klen, true, &k) ||
			    (eq && !pct_decode(req->arena, eq + 1, len - klen - 1, true, &v)))
				return false;
			req->params[req->n_params++] = (struct http_param){k, v};
		}
		p += len + (amp ? 1 : 0);
	}
	return true;
}

const char *http_field(const struct http_request *req, const char *name, int *count)
{
	const char *first = NULL;
	int n = 0;
	for (size_t i = 0; i < req->n_fields; i++) {
		if (!strcmp(req->fields[i].name, name)) {
			if (!n++)
				first = req->fields[i].value;
		}
	}
	if (count)
		*count = n;
	return first;
}

const char *http_client_ip(const struct http_request *req)
{
	return req->client_key ? req->client_key : "?";
}

static enum MHD_Result join_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	struct buf *b = cls;
	if (value && !strcasecmp(key, "X-Forwarded-For")) {
		if (b->len)
			buf_addc(b, ',');
		buf_adds(b, value);
	}
	return MHD_YES;
}

/* The client: the peer, or behind trusted proxies the address X-Forwarded-For gives (every
 * X-Forwarded-For header, in the order received, as one list: haproxy adds a header of its own,
 * nginx appends to the last one). */
static void find_client(struct http_server *s, struct http_request *req, struct MHD_Connection *c,
			struct conn_state *cs)
{
	if (cs && cs->peer_known) {
		req->client_addr = arena_strdup(req->arena, cs->peer_addr);
		req->client_key = arena_strdup(req->arena, cs->peer_key);
		return;
	}
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct netaddr peer, client;
	if (!ci || !netaddr_from_sockaddr(ci->client_addr, &peer))
		memset(&peer, 0, sizeof peer);
	const char *xff = NULL;
	struct buf b;
	bool trusted = netaddr_list_has(s->proxies, &peer);
	if (trusted) {
		buf_init(&b, 16384);
		MHD_get_connection_values(c, MHD_HEADER_KIND, join_xff, &b);
		xff = b.len && !buf_failed(&b) ? arena_strdup(req->arena, buf_str(&b)) : NULL;
		buf_free(&b);
	}
	netaddr_client(&peer, s->proxies, xff, &client);
	char text[NETADDR_TEXT];
	netaddr_format(&client, text);
	req->client_addr = arena_strdup(req->arena, text);
	if (cs && !trusted)
		memcpy(cs->peer_addr, text, sizeof text);
	netaddr_limit_key(&client, text);
	req->client_key = arena_strdup(req->arena, text);
	if (cs && !trusted) {
		memcpy(cs->peer_key, text, sizeof text);
		cs->peer_known = true;
	}
}

#define MAX_FIELDS 64

static void body_fail(struct req_ctx *x, int status, const char *problem)
{
	if (!x->req.body_error) {
		x->req.body_error = status;
		x->req.body_problem = problem;
	}
}

static void close_file(struct req_ctx *x)
{
	if (x->cur_file < 0)
		return;
	struct http_file *f = &x->req.files[x->cur_file];
	EVP_DigestFinal_ex(x->sha, f->sha256, NULL);
	close(x->fd);
	x->fd = -1;
	x->cur_file = -1;
}

static bool start_file(struct req_ctx *x, const char *field, const char *filename)
{
	struct http_request *req = &x->req;
	close_file(x);
	if (req->n_files >= x->rules.max_files) {
		body_fail(x, 413, arena_printf(req->arena, "Можно приложить не больше %d файлов.", x->rules.max_files));
		return false;
	}
	if ((size_t)req->n_files == x->cap_files) {
		size_t cap = x->cap_files ? x->cap_files * 2 : 4;
		struct http_file *bigger = arena_alloc(req->arena, cap * sizeof *bigger);
		if (req->n_files)
			memcpy(bigger, req->files, (size_t)req->n_files * sizeof *bigger);
		req->files = bigger;
		x->cap_files = cap;
	}
	unsigned char rnd[12];
	randombytes_buf(rnd, sizeof rnd);
	char hex[25];
	sodium_bin2hex(hex, sizeof hex, rnd, sizeof rnd);
	char *path = arena_printf(req->arena, "%s/upload-%s", x->rules.tmp_dir, hex);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		body_fail(x, 500, "Не удалось сохранить файл. Попробуйте позже.");
		return false;
	}
	struct http_file *f = &req->files[req->n_files];
	*f = (struct http_file){
	    .field = arena_strdup(req->arena, field), .filename = arena_strdup(req->arena, filename), .path = path};
	x->cur_file = req->n_files++;
	x->fd = fd;
	if (!x->sha)
		x->sha = EVP_MD_CTX_new();
	if (!x->sha || !EVP_DigestInit_ex(x->sha, EVP_sha256(), NULL)) {
		body_fail(x, 500, "Не удалось сохранить файл. Попробуйте позже.");
		return false;
	}
	return true;
}

/* A usable form field name: present, 1..HTTP_MAX_FIELD_NAME bytes of valid UTF-8 without
 * control characters. Anything else (libmicrohttpd passes NULL for a part without a quoted
 * name) refuses the whole form. */
static bool field_name_ok(const char *key)
{
	if (!key)
		return false;
	size_t n = strlen(key);
	if (n == 0 || n > HTTP_MAX_FIELD_NAME || !utf8_valid(key, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f)
			return false;
	return true;
}

static enum MHD_Result on_post_data(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
				    const char *content_type, const char *transfer_encoding, const char *data,
				    uint64_t off, size_t size)
{
	(void)kind, (void)content_type, (void)transfer_encoding;
	struct req_ctx *x = cls;
	struct http_request *req = &x->req;
	if (req->body_error)
		return MHD_NO;
	if (!field_name_ok(key)) {
		body_fail(x, 400, "В форме есть поле без имени или с недопустимым именем.");
		return MHD_NO;
	}
	/* A part that says it is not text but whose file name MHD could not read (a CR, LF or NUL
	 * in it ends the quoted name early) is still a file: kept, its name cleaned later. */
	if (!filename && content_type && strncasecmp(content_type, "text/", 5) != 0)
		filename = "";
	if (filename) {
		if (off == 0) {
			if (!*filename && size == 0) {
				close_file(x);	/* later pieces of this part must not reach the last file */
				return MHD_YES; /* an empty file input: no file chosen */
			}
			if (!start_file(x, key, filename))
				return MHD_NO;
		}
		if (x->cur_file < 0)
			return MHD_YES;
		struct http_file *f = &req->files[x->cur_file];
		if (f->size + size > x->rules.max_file_bytes) {
			body_fail(x, 413,
				  arena_printf(req->arena, "Файл «%.100s» больше %zu МБ.", f->filename,
					       x->rules.max_file_bytes >> 20));
			return MHD_NO;
		}
		for (size_t done = 0; done < size;) {
			ssize_t w = write(x->fd, data + done, size - done);
			if (w <= 0) {
				body_fail(x, 500, "Не удалось сохранить файл. Попробуйте позже.");
				return MHD_NO;
			}
			done += (size_t)w;
		}
		if (f->head_len < sizeof f->head) {
			size_t n = sizeof f->head - f->head_len < size ? sizeof f->head - f->head_len : size;
			memcpy(f->head + f->head_len, data, n);
			f->head_len += n;
		}
		EVP_DigestUpdate(x->sha, data, size);
		f->size += size;
		return MHD_YES;
	}
	/* A text field: MHD may hand it over in pieces (off > 0 continues the last one). Text
	 * never holds NUL (a urlencoded "%00" would otherwise cut the value short unseen). */
	if (size && memchr(data, 0, size)) {
		body_fail(x, 400, "В форме есть поле с недопустимым символом.");
		return MHD_NO;
	}
	struct http_param *last = req->n_fields ? &req->fields[req->n_fields - 1] : NULL;
	if (off == 0 || !last || strcmp(last->name, key) != 0) {
		if (req->n_fields >= MAX_FIELDS) {
			body_fail(x, 400, "Слишком много полей в форме.");
			return MHD_NO;
		}
		if (req->n_fields == x->cap_fields) {
			size_t cap = x->cap_fields ? x->cap_fields * 2 : 16;
			struct http_param *bigger = arena_alloc(req->arena, cap * sizeof *bigger);
			if (req->n_fields)
				memcpy(bigger, req->fields, req->n_fields * sizeof *bigger);
			req->fields = bigger;
			x->cap_fields = cap;
		}
		last = &req->fields[req->n_fields++];
		last->name = arena_strdup(req->arena, key);
		last->value = arena_strndup(req->arena, data, size);
	} else {
		size_t had = strlen(last->value);
		if (had + size > x->rules.max_field_bytes) {
			body_fail(x, 413, "Слишком длинный текст в одном из полей.");
			return MHD_NO;
		}
		char *v = arena_alloc(req->arena, had + size + 1);
		memcpy(v, last->value, had);
		memcpy(v + had, data, size);
		last->value = v;
	}
	if (strlen(last->value) > x->rules.max_field_bytes) {
		body_fail(x, 413, "Слишком длинный текст в одном из полей.");
		return MHD_NO;
	}
	return MHD_YES;
}

/* The first call's look at a body to come: rules from the app, Content-Length checked. */
static void body_begin(struct req_ctx *x, struct MHD_Connection *c)
{
	struct http_request *req = &x->req;
	if (x->s->o.prepare && !req->reject)
		x->s->o.prepare(x->s->app, req, &x->rules);
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
	if ((cl || te) && x->rules.kind == HTTP_BODY_NONE) {
		/* A route that takes no body: a small one is counted and dropped (the dispatcher
		 * refuses it), a large one is refused before it is read. */
		if (te || len > 65536)
			body_fail(x, 413, "Этот адрес не принимает данных.");
		return;
	}
	if (cl && len > x->rules.max_bytes) {
		body_fail(x, 413,
			  arena_printf(req->arena, "Слишком большой объём данных: не больше %zu МБ.",
				       (x->rules.max_bytes + (1 << 20) - 1) >> 20));
		return;
	}
	if (x->rules.kind == HTTP_BODY_RAW) {
		buf_init(&x->raw, x->rules.max_bytes);
	} else if (x->rules.kind == HTTP_BODY_FORM) {
		const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		if (ct && (!strncasecmp(ct, "multipart/form-data", 19) ||
			   !strncasecmp(ct, "application/x-www-form-urlencoded", 33)))
			x->pp = MHD_create_post_processor(c, 16384, on_post_data, x);
		if (!x->pp && (cl || te))
			body_fail(x, 400, "Форма отправлена в неизвестном формате.");
	}
}

static void body_data(struct req_ctx *x, const char *data, size_t size)
{
	x->req.body_bytes += size;
	if (x->req.body_error)
		return;
	if (x->req.body_bytes > x->rules.max_bytes && x->rules.kind != HTTP_BODY_NONE) {
		body_fail(x, 413, "Слишком большой объём данных в запросе.");
		return;
	}
	if (x->rules.kind == HTTP_BODY_RAW) {
		buf_add(&x->raw, data, size);
	} else if (x->pp && MHD_post_process(x->pp, data, size) != MHD_YES) {
		body_fail(x, 400, "Не удалось прочитать отправленную форму.");
	}
}

static void body_end(struct req_ctx *x)
{
	if (x->pp) {
		MHD_destroy_post_processor(x->pp);
		x->pp = NULL;
	}
	close_file(x);
	if (x->rules.kind == HTTP_BODY_RAW && !x->req.body_error) {
		x->req.body_len = x->raw.len;
		x->req.body = arena_strndup(x->req.arena, buf_str(&x->raw), x->raw.len);
	}
}

static bool accepts_gzip(const char *ae)
{
	if (!ae)
		return false;
	for (const char *p = ae; (p = strcasestr(p, "gzip")); p += 4) {
		const char *e = p + 4;
		while (*e == ' ')
			e++;
		if (*e == ';') {
			const char *qv = strstr(e, "q=");
			if (qv && atof(qv + 2) == 0.0)
				return false;
		}
		return true;
	}
	return false;
}

/* ---- the page cache (cache.c holds the entries; here: what an entry is) ---- */

/* What libmicrohttpd keeps per response (struct MHD_Response, its mutex) and per header (its
 * struct and two copies of the strings), rounded up: counted in the cache's budget. */
#define RESPONSE_OVERHEAD 512
#define HEADER_OVERHEAD 96
#define CACHE_SHARDS 16

/* One form of a cached answer: its response and its ETag. The identity form keeps its body (its
 * response points at it) so that the gzip form can be made from it later; the gzip form's
 * response owns its bytes. A 304 is made when asked for (revalidations are rare; a prebuilt one
 * would cost a third of a small entry). */
struct page_form {
	struct MHD_Response *r;
	char *body; /* identity only */
	size_t len;
	bool compress; /* identity only: worth a gzip form (type and size) */
	char etag[28];
};

static void form_free(void *p)
{
	struct page_form *f = p;
	MHD_destroy_response(f->r);
	free(f->body);
	free(f);
}

bool http_cache_lookup(struct http_request *req, const char *key)
{
	struct http_server *s = req->server;
	if (!s->cache_on)
		return false;
	struct page_entry *e = page_cache_get(s->cache, key);
	if (e)
		req->cached = e;
	else
		req->cache_key = arena_strdup(req->arena, key);
	return e != NULL;
}

void http_cache_clear(struct http_server *s)
{
	page_cache_clear(s->cache);
}

/* ---- building responses ---- */

static const char csp[] = "default-src 'none'; style-src 'self'; img-src 'self' data: https:; "
			  "script-src 'self'; connect-src 'self'; form-action 'self'; "
			  "base-uri 'none'; frame-ancestors 'none'";

/* Adds a header; what it costs in memory (see HEADER_OVERHEAD). */
static size_t add_header(struct MHD_Response *r, const char *name, const char *value)
{
	MHD_add_response_header(r, name, value);
	return strlen(name) + strlen(value) + HEADER_OVERHEAD;
}

/* Returns the bytes the headers cost (for the page cache's budget). */
static size_t add_headers(struct MHD_Response *r, const struct http_response *resp, const char *etag, bool gz)
{
	size_t n = 0;
	n += add_header(r, "Content-Type", resp->content_type ? resp->content_type : "text/html; charset=utf-8");
	n += add_header(r, "Cache-Control", resp->cache_control ? resp->cache_control : "no-cache");
	char vary[128];
	snprintf(vary, sizeof vary, "Accept-Encoding%s%s", resp->vary ? ", " : "", resp->vary ? resp->vary : "");
	n += add_header(r, "Vary", vary);
	if (etag)
		n += add_header(r, "ETag", etag);
	if (gz)
		n += add_header(r, "Content-Encoding", "gzip");
	if (resp->last_modified) {
		char date[64];
		struct tm tm;
		gmtime_r(&resp->last_modified, &tm);
		strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		n += add_header(r, "Last-Modified", date);
	}
	if (resp->location)
		n += add_header(r, "Location", resp->location);
	if (resp->allow)
		n += add_header(r, "Allow", resp->allow);
	if (resp->set_cookie)
		n += add_header(r, "Set-Cookie", resp->set_cookie);
	if (resp->disposition)
		n += add_header(r, "Content-Disposition", resp->disposition);
	if (resp->link)
		n += add_header(r, "Link", resp->link);
	if (resp->www_authenticate)
		n += add_header(r, "WWW-Authenticate", resp->www_authenticate);
	n += add_header(r, "X-Content-Type-Options", "nosniff");
	n += add_header(r, "Referrer-Policy", "same-origin");
	if (!resp->content_type || !strncmp(resp->content_type, "text/html", 9)) {
		n += add_header(r, "Content-Security-Policy", csp);
		n += add_header(r, "X-Frame-Options", "DENY");
	} else if (resp->csp) {
		n += add_header(r, "Content-Security-Policy", resp->csp);
	}
	return n;
}

static bool compressible(const struct http_response *resp)
{
	const char *t = resp->content_type ? resp->content_type : "text/html";
	return !strncmp(t, "text/", 5) || !strncmp(t, "application/json", 16) ||
	       !strncmp(t, "application/javascript", 22) || !strncmp(t, "image/svg", 9);
}

static struct MHD_Response *from_bytes(char *data, size_t len)
{
	return MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
}

static struct MHD_Response *empty_response(void)
{
	return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
}

/* If-None-Match lists etag (or "*"). */
static bool etag_matches(const char *inm, const char *etag)
{
	if (!inm)
		return false;
	if (strchr(inm, '*'))
		return true;
	size_t n = strlen(etag);
	for (const char *p = inm; (p = strstr(p, etag)); p += n)
		return true;
	return false;
}

static bool not_modified_since(const struct http_request *req, const struct http_response *resp)
{
	const char *ims = http_header(req, "If-Modified-Since");
	if (!ims || !resp->last_modified || http_header(req, "If-None-Match"))
		return false;
	struct tm tm = {0};
	if (!strptime(ims, "%a, %d %b %Y %H:%M:%S GMT", &tm))
		return false;
	return timegm(&tm) >= resp->last_modified;
}

/* The identity form of the answer in x (its body is taken); *cost: its bytes. */
static struct page_form *identity_form(struct req_ctx *x, size_t *cost)
{
	struct http_response *resp = &x->resp;
	struct page_form *f = xcalloc(1, sizeof *f);
	f->len = resp->body.len;
	f->body = buf_steal(&resp->body, NULL);
	char *fit = realloc(f->body, f->len + 1); /* the buffer grew by doubling: give back the rest */
	if (fit)
		f->body = fit;
	f->compress = compressible(resp) && f->len >= 256;
	snprintf(f->etag, sizeof f->etag, "\"%016llx\"", (unsigned long long)hash64_long(f->body, f->len));
	f->r = MHD_create_response_from_buffer(f->len, f->body, MHD_RESPMEM_PERSISTENT);
	*cost = sizeof *f + f->len + 1 + RESPONSE_OVERHEAD + add_headers(f->r, resp, f->etag, false);
	return f;
}

struct copy_headers {
	struct MHD_Response *to;
	const char *skip; /* a header not copied */
	size_t bytes;
};

static enum MHD_Result copy_header(void *cls, enum MHD_ValueKind kind, const char *name, const char *value)
{
	(void)kind;
	struct copy_headers *h = cls;
	if (strcasecmp(name, h->skip) != 0)
		h->bytes += add_header(h->to, name, value);
	return MHD_YES;
}

/* The gzip form of an identity form (same headers, its own ETag: the identity's with "-gz"),
 * or NULL when compressing does not make it smaller. */
static struct page_form *gzip_form(const struct page_form *id, size_t *cost)
{
	size_t zlen;
	char *z = gzip_compress(id->body, id->len, &zlen);
	if (!z || zlen >= id->len) {
		free(z);
		return NULL;
	}
	struct page_form *g = xcalloc(1, sizeof *g);
	g->len = zlen;
	snprintf(g->etag, sizeof g->etag, "%.17s-gz\"", id->etag);
	g->r = from_bytes(z, zlen);
	struct copy_headers h = {.to = g->r, .skip = "ETag"};
	MHD_get_response_headers(id->r, copy_header, &h);
	h.bytes += add_header(g->r, "ETag", g->etag) + add_header(g->r, "Content-Encoding", "gzip");
	*cost = sizeof *g + zlen + RESPONSE_OVERHEAD + h.bytes;
	return g;
}

/* A 304 with the identity form's headers and the given ETag (no body, no Content-Encoding). */
static enum MHD_Result queue_304(struct req_ctx *x, const struct page_form *id, const char *etag)
{
	x->resp.status = 304;
	x->bytes = 0;
	struct copy_headers h = {.to = empty_response(), .skip = "ETag"};
	MHD_get_response_headers(id->r, copy_header, &h);
	add_header(h.to, "ETag", etag);
	enum MHD_Result rc = MHD_queue_response(x->req.conn, 304, h.to);
	MHD_destroy_response(h.to);
	return rc;
}

/*
 * Sends a cached answer. If-None-Match may name either form's ETag (a client may hold the
 * identity form from before the gzip form existed; the gzip form's tag counts only when gzip is
 * accepted): the 304 carries the tag it matched, and needs no gzip form. Otherwise the gzip form
 * is made lazily: the first time the entry is served again (a hit, may_compress) to a client
 * that accepts gzip, by that thread, outside every lock, and attached once
 * (page_entry_claim_alt); meanwhile others get the identity form.
 */
static enum MHD_Result queue_entry(struct req_ctx *x, struct page_entry *e, bool may_compress)
{
	struct page_form *id = page_entry_payload(e), *gz = NULL;
	bool gzip = x->req.gzip_ok && id->compress;
	const char *inm = http_header(&x->req, "If-None-Match");
	if (inm) {
		char gz_etag[sizeof id->etag];
		snprintf(gz_etag, sizeof gz_etag, "%.17s-gz\"", id->etag); /* as gzip_form makes it */
		if (gzip && etag_matches(inm, gz_etag))
			return queue_304(x, id, gz_etag);
		if (etag_matches(inm, id->etag))
			return queue_304(x, id, id->etag);
	}
	if (gzip) {
		gz = page_entry_alt(e);
		if (!gz && may_compress && page_entry_claim_alt(e)) {
			size_t cost = 0;
			gz = gzip_form(id, &cost);
			page_cache_attach_alt(x->s->cache, e, gz, cost);
		}
	}
	const struct page_form *f = gz ? gz : id;
	if (not_modified_since(&x->req, &x->resp))
		return queue_304(x, id, f->etag);
	x->resp.status = 200;
	x->bytes = x->req.head ? 0 : f->len;
	return MHD_queue_response(x->req.conn, 200, f->r);
}

static enum MHD_Result answer(struct req_ctx *x)
{
	struct http_request *req = &x->req;
	struct http_response *resp = &x->resp;
	/* The entry stays referenced until the request completes (on_completed): the identity
	 * response sends the entry's bytes without copying them. */
	if (req->cached)
		return queue_entry(x, req->cached, true);
	if (resp->file_fd > 0 && resp->status == 200) {
		int fd = resp->file_fd;
		struct stat st;
		resp->file_fd = 0;
		struct MHD_Response *r =
		    fstat(fd, &st) == 0 ? MHD_create_response_from_fd((uint64_t)st.st_size, fd) : NULL;
		if (r) { /* the response owns fd now */
			add_headers(r, resp, NULL, false);
			x->bytes = req->head ? 0 : (size_t)st.st_size;
			enum MHD_Result rc = MHD_queue_response(req->conn, 200, r);
			MHD_destroy_response(r);
			return rc;
		}
		close(fd);
		resp->status = 0; /* 500 below */
	}
	if (resp->file_fd > 0) { /* set with another status: not sent */
		close(resp->file_fd);
		resp->file_fd = 0;
	}
	if (!resp->status || buf_failed(&resp->body)) {
		buf_reset(&resp->body);
		resp->status = 500;
		resp->content_type = "text/plain; charset=utf-8";
		buf_adds(&resp->body, "Внутренняя ошибка сервера. Попробуйте позже.\n");
	}
	bool get = !strcmp(req->method, "GET") || req->head;
	/* A miss: stored identity-only (headers, an estimate, counted generously); gzip comes on
	 * a later hit. An answer too large for the cache is sent like an uncached one. */
	if (resp->status == 200 && get && req->cache_key && !resp->set_cookie &&
	    page_cache_fits(x->s->cache, strlen(req->cache_key), resp->body.len + 4096)) {
		size_t cost;
		struct page_form *f = identity_form(x, &cost);
		struct page_entry *e = page_entry_new(x->s->cache, req->cache_key, f, cost);
		page_cache_put(x->s->cache, e);
		req->cached = e; /* our reference, dropped when the request completes */
		return queue_entry(x, e, false);
	}
	char etag[28] = "";
	bool gz = req->gzip_ok && compressible(resp) && resp->body.len >= 1024;
	if (resp->status == 200 && get) {
		uint64_t h = hash64_long(buf_str(&resp->body), resp->body.len);
		snprintf(etag, sizeof etag, gz ? "\"%016llx-gz\"" : "\"%016llx\"", (unsigned long long)h);
		if (etag_matches(http_header(req, "If-None-Match"), etag) || not_modified_since(req, resp)) {
			struct MHD_Response *r = empty_response();
			add_headers(r, resp, etag, false);
			resp->status = 304;
			enum MHD_Result rc = MHD_queue_response(req->conn, 304, r);
			MHD_destroy_response(r);
			return rc;
		}
	}
	size_t len = resp->body.len;
	char *data = buf_steal(&resp->body, NULL);
	if (gz) {
		size_t gzlen;
		char *z = gzip_compress(data, len, &gzlen);
		if (z && gzlen < len) {
			free(data);
			data = z;
			len = gzlen;
		} else {
			free(z);
			gz = false;
		}
	}
	struct MHD_Response *r = from_bytes(data, len);
	add_headers(r, resp, *etag ? etag : NULL, gz);
	x->bytes = req->head ? 0 : len;
	enum MHD_Result rc = MHD_queue_response(req->conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Runs the application's handler, unless http_close has been called (false then). */
static bool run_handler(struct req_ctx *x)
{
	struct http_server *s = x->s;
	atomic_fetch_add(&s->dispatching, 1);
	bool open = !atomic_load(&s->closed);
	if (open) {
		uint64_t before = s->o.thread_statements ? s->o.thread_statements() : 0;
		s->dispatch(s->app, &x->req, &x->resp);
		/* x is the server's (the handler may have handed req over): counted apart. */
		if (s->o.thread_statements)
			x->statements += s->o.thread_statements() - before;
	}
	atomic_fetch_sub(&s->dispatching, 1);
	return open;
}

/* 503 while shutting down. */
static enum MHD_Result answer_unavailable(struct req_ctx *x)
{
	x->answered = true;
	x->suspended = false;
	struct buf body = x->resp.body;
	if (x->resp.file_fd > 0)
		close(x->resp.file_fd);
	x->resp = (struct http_response){
	    .status = 503, .body = body, .content_type = "text/plain; charset=utf-8", .cache_control = "no-store"};
	buf_reset(&x->resp.body);
	buf_adds(&x->resp.body, "Сервис перезапускается. Повторите запрос через минуту.\n");
	return answer(x);
}

/* The answer to a malformed head, made here (the application never sees the request). */
static enum MHD_Result answer_framing(struct req_ctx *x, int status, const char *problem)
{
	x->answered = true;
	x->resp.status = status;
	x->resp.cache_control = "no-store";
	if (!strncmp(x->req.path, "/api/", 5)) {
		x->resp.content_type = "application/json; charset=utf-8";
		buf_printf(&x->resp.body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
			   status == 501 ? "not_implemented" : "bad_request", problem);
	} else {
		x->resp.content_type = "text/plain; charset=utf-8";
		buf_printf(&x->resp.body, "%s\n", problem);
	}
	return answer(x);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **req_cls)
{
	(void)url;
	struct http_server *s = cls;
	struct req_ctx *x = *req_cls;
	if (!x) {
		/* First call: headers are complete. Answering now would close keep-alive
		 * connections (libmicrohttpd 0.9.75), so only set up. */
		struct conn_state *cs = conn_state_of(c);
		if (cs)
			atomic_store(&cs->deadline_us, 0);
		struct arena *a = arena_new();
		x = arena_alloc(a, sizeof *x);
		x->s = s;
		x->req.arena = a;
		x->req.conn = c;
		x->req.server = s;
		x->req.method = arena_strdup(a, method);
		x->req.head = !strcmp(method, "HEAD");
		x->req.route = -1;
		x->cur_file = -1;
		x->fd = -1;
		x->req.start_us = http_now_us();
		x->cs = cs;
		buf_init(&x->resp.body, BODY_MAX);
		atomic_fetch_add(&s->in_flight, 1);
		*req_cls = x;
		find_client(s, &x->req, c, cs);
		if (atomic_load(&s->draining)) {
			/* Shutting down: answered at once, which also closes the connection. */
			x->req.path = "/";
			x->req.params = arena_alloc(a, sizeof *x->req.params);
			return answer_unavailable(x);
		}
		const char *problem;
		int framing = check_head(c, cs, method, version, (size_t)s->o.max_header_bytes, &problem);
		if (framing && framing != 431) {
			/* A malformed head (RFC 9112): answered at once, so libmicrohttpd closes the
			 * connection without reading a byte more of it. */
			x->req.path = cs && cs->api ? "/api/" : "/";
			x->req.params = arena_alloc(a, sizeof *x->req.params);
			return answer_framing(x, framing, problem);
		}
		if (!cs || cs->uri_too_long)
			x->req.reject = 414;
		else if (!parse_target(&x->req, cs->uri))
			x->req.reject = 400;
		else if (framing == 431)
			x->req.reject = 431;
		if (!x->req.path) /* refused before decoding: keep what the error format depends on */
			x->req.path = cs && cs->api ? "/api/" : "/";
		if (!x->req.params)
			x->req.params = arena_alloc(a, sizeof *x->req.params);
		x->req.gzip_ok = accepts_gzip(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding"));
		body_begin(x, c);
		if (x->req.body_error) {
			/* Refused before reading the body (Content-Length over the limit): answer now;
			 * libmicrohttpd then closes the connection instead of reading the rest. */
			x->answered = true;
			if (!run_handler(x))
				return answer_unavailable(x);
			return answer(x);
		}
		if (cs && (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length") ||
			   MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding"))) {
			/* A body follows: the reaper watches its pace from now on. */
			atomic_store(&cs->body_bytes, 0);
			cs->mark_bytes = 0;
			cs->mark_us = http_now_us();
			atomic_store(&cs->body, BODY_READING);
		}
		return MHD_YES;
	}
	if (x->cs && atomic_load(&x->cs->body) == BODY_CUT) {
		/* The reaper answered 408 (too slow a body): nothing more is read or sent. */
		x->resp.status = 408;
		x->answered = true;
		*upload_data_size = 0;
		return MHD_NO;
	}
	if (*upload_data_size) {
		if (x->cs)
			atomic_fetch_add(&x->cs->body_bytes, *upload_data_size);
		/* A rule broken mid-body (a sixth file, a file too large...) is answered when the body
		 * ends: libmicrohttpd 0.9.75 refuses to queue a response while a body is being read
		 * and would close the connection without one. The rest is counted and dropped, and
		 * never more than the route's limit (checked against Content-Length up front); a
		 * chunked body that goes over it has the connection closed. */
		body_data(x, upload_data, *upload_data_size);
		*upload_data_size = 0;
		if (x->req.body_bytes > x->rules.max_bytes && x->rules.kind != HTTP_BODY_NONE)
			return MHD_NO;
		return MHD_YES;
	}
	if (x->answered) {
		if (!x->suspended)
			return MHD_YES;
		x->suspended = false; /* resumed: the response is ready */
		return answer(x);
	}
	if (x->cs) {
		int expected = BODY_READING;
		if (!atomic_compare_exchange_strong(&x->cs->body, &expected, BODY_NONE) && expected == BODY_CUT) {
			x->resp.status = 408;
			x->answered = true;
			return MHD_NO; /* the reaper answered first */
		}
	}
	x->answered = true;
	body_end(x);
	if (!run_handler(x))
		return answer_unavailable(x);
	if (x->suspended || delay_answer(x))
		return MHD_YES; /* answered when resumed (see http_suspend, http_delay) */
	return answer(x);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct http_server *s = cls;
	struct req_ctx *x = *req_cls;
	struct conn_state *cs = conn_state_of(c);
	if (cs) { /* keep-alive: the next request's headers have a deadline again */
		atomic_store(&cs->deadline_us, http_now_us() + (uint64_t)s->o.header_timeout * 1000000u);
		int expected = BODY_READING; /* a cut body stays cut: the connection is closing */
		atomic_compare_exchange_strong(&cs->body, &expected, BODY_NONE);
	}
	if (!x)
		return;
	uint64_t us = http_now_us() - x->req.start_us;
	int status = x->answered ? x->resp.status : 0;
	static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
	const char *m = "OTHER";
	for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
		if (!strcmp(x->req.method, methods[i]))
			m = methods[i];
	const char *route = x->req.route >= 0 && x->req.route < s->o.n_routes ? s->o.route_names[x->req.route] : "-";
	log_line("%s %s %d %zu %llu %s%s\n", m, route, status, x->bytes, (unsigned long long)us,
		 x->req.client_addr ? x->req.client_addr : "?",
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
	enum metrics_cache cache = x->req.cache_key ? METRICS_MISS : x->req.cached ? METRICS_HIT : METRICS_UNCACHED;
	metrics_observe(s->metrics, x->req.route, status, us, cache, x->statements + x->req.db_statements);
	if (x->req.cached)
		page_entry_unref(x->req.cached);
	if (x->pp)
		MHD_destroy_post_processor(x->pp);
	if (x->fd >= 0 && x->cur_file >= 0)
		close(x->fd);
	EVP_MD_CTX_free(x->sha);
	/* Uploads the application did not take (it sets path to NULL) are removed. */
	for (int i = 0; i < x->req.n_files; i++)
		if (x->req.files[i].path)
			unlink(x->req.files[i].path);
	if (x->resp.file_fd > 0) /* a handler's file never answered (the connection closed first) */
		close(x->resp.file_fd);
	buf_free(&x->raw);
	buf_free(&x->resp.body);
	bool held = x->held; /* x lives in the arena */
	arena_free(x->req.arena);
	*req_cls = NULL;
	if (held)
		atomic_fetch_sub(&s->held, 1);
	atomic_fetch_sub(&s->in_flight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("libmicrohttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/*
 * The access log: whole lines gathered in a buffer of its own and written to stderr's
 * descriptor by the reaper a few times a second (a write(2) per request costs measurable
 * throughput), never a part of a line, so that they do not mix with the messages written
 * through stderr itself, which stays line buffered so that a fatal message is never lost.
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[1 << 16];
static size_t log_len;

static void log_write(void) /* under log_lock */
{
	for (size_t off = 0; off < log_len;) {
		ssize_t n = write(STDERR_FILENO, log_buf + off, log_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	log_len = 0;
}

static void log_line(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) { /* cut, still one line */
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	pthread_mutex_lock(&log_lock);
	if (log_len + (size_t)n > sizeof log_buf)
		log_write();
	memcpy(log_buf + log_len, line, (size_t)n);
	log_len += (size_t)n;
	pthread_mutex_unlock(&log_lock);
}

void http_log_flush(void)
{
	fflush(stderr);
	pthread_mutex_lock(&log_lock);
	log_write();
	pthread_mutex_unlock(&log_lock);
}

static bool parse_listen(const char *listen, struct sockaddr_storage *ss, bool *v6)
{
	const char *colon = strrchr(listen, ':');
	if (!colon)
		return false;
	char host[256];
	size_t hl = (size_t)(colon - listen);
	if (hl >= sizeof host)
		return false;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == '\0')
		return false;
	memset(ss, 0, sizeof *ss);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*v6 = true;
		return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*v6 = false;
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &a4->sin_addr) == 1;
}

struct http_server *http_start(const struct http_options *o, http_dispatch_fn dispatch, void *app, char *err,
			       size_t errlen)
{
	struct sockaddr_storage ss;
	bool v6;
	if (!parse_listen(o->listen, &ss, &v6)) {
		snprintf(err, errlen, "bad listen address \"%s\" (expected HOST:PORT)", o->listen);
		return NULL;
	}
	char why[160];
	struct netaddr_list *proxies =
	    netaddr_list_parse(o->trusted_proxies ? o->trusted_proxies : "", why, sizeof why);
	if (!proxies) {
		snprintf(err, errlen, "trusted_proxies: %s", why);
		return NULL;
	}
	struct http_server *s = xcalloc(1, sizeof *s);
	s->o = *o;
	s->proxies = proxies;
	if (s->o.body_grace < 1)
		s->o.body_grace = 1;
	s->dispatch = dispatch;
	s->app = app;
	s->conns.next = s->conns.prev = &s->conns;
	pthread_mutex_init(&s->conns_lock, NULL);
	s->cache_on = o->cache_mb > 0 && o->cache_entries != 0;
	s->cache = page_cache_new(s->cache_on ? (size_t)o->cache_mb << 20 : 0,
				  o->cache_entries > 0 ? (size_t)o->cache_entries : 0, CACHE_SHARDS, form_free);
	s->metrics = metrics_new(o->route_names, o->route_methods, o->n_routes);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	struct MHD_OptionItem opts[] = {
	    {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, NULL},
	    {MHD_OPTION_SOCK_ADDR, 0, &ss},
	    {MHD_OPTION_CONNECTION_LIMIT, o->max_connections, NULL},
	    {MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_connections_per_ip, NULL},
	    {MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout, NULL},
	    {MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->connection_memory, NULL},
	    {MHD_OPTION_STRICT_FOR_CLIENT, 0, NULL}, /* Host, spaces: checked here (see http.h) */
	    {MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, NULL},
	    {MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, s},
	    {MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s},
	    {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s},
	    {o->threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, o->threads, NULL},
	    {MHD_OPTION_END, 0, NULL},
	};
	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
	if (!s->d) {
		snprintf(err, errlen, "cannot listen on %s (address in use or not allowed?)", o->listen);
		page_cache_free(s->cache);
		metrics_free(s->metrics);
		netaddr_list_free(s->proxies);
		free(s);
		return NULL;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	pthread_create(&s->reaper, NULL, reaper_main, s);
	return s;
}

int http_port(const struct http_server *s)
{
	return s->port;
}

void http_drain(struct http_server *s)
{
	if (!s || atomic_exchange(&s->draining, true))
		return;
	/* Stop accepting and close the listening socket at once, so that new clients are
	 * refused instead of waiting in the backlog. */
	MHD_socket lsock = MHD_quiesce_daemon(s->d);
	if (lsock != MHD_INVALID_SOCKET)
		close(lsock);
}

bool http_wait(struct http_server *s, int ms, bool suspended_only)
{
	if (!s)
		return true;
	uint64_t until = http_now_us() + (uint64_t)(ms > 0 ? ms : 0) * 1000u;
	for (;;) {
		bool idle = suspended_only ? atomic_load(&s->held) <= 0 : atomic_load(&s->in_flight) <= 0;
		if (idle || http_now_us() >= until)
			return idle;
		usleep(10 * 1000);
	}
}

void http_close(struct http_server *s)
{
	if (!s)
		return;
	http_drain(s);
	atomic_store(&s->closed, true);
	while (atomic_load(&s->dispatching) > 0)
		usleep(1000);
}

bool http_stop(struct http_server *s)
{
	if (!s)
		return true;
	http_close(s);
	/* Delayed answers (http_delay) are resumed by the reaper within 200 ms of http_drain; a
	 * resumed answer is still to be sent (MHD_stop_daemon would close its connection first). */
	http_wait(s, 2000, true);
	/* A resumption counts itself off just after asking for it (http_resume): wait for it. */
	long left;
	for (int i = 0; (left = atomic_load(&s->suspended)) > 0 && i < 200; i++)
		usleep(10 * 1000);
	if (left > 0) {
		fprintf(stderr, "spravka: %ld connections are still suspended; the HTTP daemon is left running\n",
			left);
		http_log_flush();
		return false;
	}
	MHD_stop_daemon(s->d);
	atomic_store(&s->stopping, true);
	pthread_join(s->reaper, NULL);
	page_cache_free(s->cache);
	metrics_free(s->metrics);
	netaddr_list_free(s->proxies);
	pthread_mutex_destroy(&s->conns_lock);
	free(s);
	http_log_flush();
	return true;
}

void http_metrics(struct http_server *s, struct buf *b)
{
	metrics_write(s->metrics, b, (long)atomic_load(&s->in_flight));
	struct page_cache_stats st;
	page_cache_stats(s->cache, &st);
	buf_printf(
	    b,
	    "# HELP spravka_page_cache_bytes Bytes held by the page cache (entries, keys, bodies, gzip forms, "
	    "headers).\n"
	    "# TYPE spravka_page_cache_bytes gauge\nspravka_page_cache_bytes %zu\n"
	    "# HELP spravka_page_cache_budget_bytes The page cache's budget ([limits] cache_mb).\n"
	    "# TYPE spravka_page_cache_budget_bytes gauge\nspravka_page_cache_budget_bytes %zu\n"
	    "# HELP spravka_page_cache_entries Answers held by the page cache.\n"
	    "# TYPE spravka_page_cache_entries gauge\nspravka_page_cache_entries %zu\n"
	    "# HELP spravka_page_cache_hits_total Lookups answered from the page cache.\n"
	    "# TYPE spravka_page_cache_hits_total counter\nspravka_page_cache_hits_total %llu\n"
	    "# HELP spravka_page_cache_misses_total Lookups that rendered the answer.\n"
	    "# TYPE spravka_page_cache_misses_total counter\nspravka_page_cache_misses_total %llu\n"
	    "# HELP spravka_page_cache_inserts_total Answers stored in the page cache.\n"
	    "# TYPE spravka_page_cache_inserts_total counter\nspravka_page_cache_inserts_total %llu\n"
	    "# HELP spravka_page_cache_evictions_total Answers evicted to keep within the budget.\n"
	    "# TYPE spravka_page_cache_evictions_total counter\nspravka_page_cache_evictions_total %llu\n"
	    "# HELP spravka_page_cache_gzip_total Gzip forms made for cached answers (lazily, once each).\n"
	    "# TYPE spravka_page_cache_gzip_total counter\nspravka_page_cache_gzip_total %llu\n"
	    "# HELP spravka_page_cache_lock_hold_max_seconds The longest hold of a cache shard's write lock.\n"
	    "# TYPE spravka_page_cache_lock_hold_max_seconds gauge\nspravka_page_cache_lock_hold_max_seconds %.6f\n"
	    "# HELP spravka_page_cache_lock_holds_over_1ms_total Holds of a cache shard's write lock over 1 ms.\n"
	    "# TYPE spravka_page_cache_lock_holds_over_1ms_total counter\n"
	    "spravka_page_cache_lock_holds_over_1ms_total %llu\n",
	    st.bytes, st.budget, st.entries, (unsigned long long)st.hits, (unsigned long long)st.misses,
	    (unsigned long long)st.inserts, (unsigned long long)st.evictions, (unsigned long long)st.alts,
	    (double)st.hold_max_ns / 1e9, (unsigned long long)st.holds_over_1ms);
}
