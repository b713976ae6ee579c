/*
 * http — the HTTP server: libmicrohttpd underneath, requests and responses above.
 *
 * What it owns: the MHD daemon and its threads; per-connection state (the absolute deadline for
 * request headers that libmicrohttpd lacks, and the pace of request bodies: a reaper thread shuts
 * down connections whose headers are late, and answers 408 and closes those whose body arrives
 * slower than min_body_rate once body_grace has passed); the client's address (the TCP peer, or
 * behind a trusted proxy the address X-Forwarded-For gives: netaddr_client); the checks every request passes before any
 * handler runs (request-target length -> 414, header block size -> 431, valid percent-encoding, UTF-8 and no NUL in the
 * path and the query -> 400, the framing of the head -> 400/501, see below); the page cache of finished responses (with
 * their lazily made gzip form, ETags and 304s; entries kept by cache.c within [limits] cache_mb); access logging (one
 * line per request: method, route, status, bytes, microseconds, client address — never the query, headers or bodies;
 * buffered apart from stderr, which stays line buffered for everything else); the request metrics; the shutdown
 * (http_drain, http_wait, http_close, http_stop: no connection is left suspended when the daemon stops).
 *
 * What it does not do: routing, rendering, knowing about articles. The application gives one
 * dispatch function; it runs in the worker threads, any number at once.
 *
 * libmicrohttpd 0.9.75 notes (measured): a response queued on the first call of the access
 * handler closes keep-alive connections, so requests are answered on the second call; and its
 * connection timeout only counts inactivity, hence the header deadline here.
 *
 * Framing (RFC 9112), checked on the first call, where the head is complete: Content-Length with
 * Transfer-Encoding, differing or non-digit Content-Length, Transfer-Encoding in HTTP/1.0, no
 * Host (HTTP/1.1), two Hosts or a Host that is not host[:port], a header name that is not a token,
 * a value with a control byte (NUL, bare CR...), obs-fold, bare-LF line ends, extra spaces in the
 * request line or a space/control byte in the target -> 400; Transfer-Encoding other than one
 * "chunked" -> 501. These are answered on that first call on purpose: libmicrohttpd then closes
 * the connection (Connection: close) without reading more of it. The application never sees them.
 * libmicrohttpd 0.9.75 itself accepts bare LF, joins obs-folds, cuts values at a NUL and drops
 * some malformed lines silently; it parses the head in place, so on 0.9.75 (and only there: see
 * MHD_VERSION in http.c) the layout of its parsed head in the read buffer (every line must end in
 * exactly CRLF, which it replaces by two NULs; the head's size is MHD's REQUEST_HEADER_SIZE) is
 * checked to see what it hid.
 *
 * libmicrohttpd's own error answers (found with raw sockets): errors it finds in
 * parse_connection_headers — a missing Host with MHD_OPTION_STRICT_FOR_CLIENT >= 1, a malformed
 * or too large Content-Length — send the header block twice ("HTTP/1.1 400 ..." twice, the second
 * inside the first's body). Cause: transmit_error_response builds the reply header, then
 * MHD_connection_handle_idle moves the state on to HEADERS_PROCESSED anyway and builds it again
 * (fixed in libmicrohttpd 1.0, which checks the state after parse_connection_headers). The Host
 * check is therefore done here (strict level 0); the Content-Length ones cannot be reached from
 * the application (the access handler is never called): the connection is closed right after,
 * so nothing can be smuggled, but the client sees a garbled 400/413. A Cookie value ending in
 * a lone '"' (`a="`) makes its cookie parser, in the same function, record a length of SIZE_MAX
 * and answer 431 for the whole request, doubled as well (found by the cookie fuzz harness);
 * http_cookie reads the Cookie header itself, so no length from that table is ever used.
 *
 * Forms: a part or pair without a usable name (libmicrohttpd passes NULL for a part without
 * Content-Disposition or without a quoted name) refuses the whole form with 400, answered when
 * the body ends like every other body error; routes never see such a part.
 */
#ifndef SPRAVKA_HTTP_H
#define SPRAVKA_HTTP_H

#include "../core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct arena;
struct http_server;
struct page_entry;

struct http_param {
	/* Never NULL, no NUL. Query parameters: percent-decoded, valid UTF-8; the name may be
	 * empty ("?=x" is harmless: no lookup asks for ""). Form fields: the name as
	 * HTTP_MAX_FIELD_NAME says; the value's UTF-8 is checked by the handler. */
	const char *name, *value;
};

/* A form field name is 1..HTTP_MAX_FIELD_NAME bytes of valid UTF-8 without control characters;
 * a part or pair with any other name (none at all, empty, unquoted...) refuses the form: 400. */
#define HTTP_MAX_FIELD_NAME 100

/* An uploaded file of a multipart form, streamed to a temporary file while it arrives. */
struct http_file {
	const char *field;    /* form field name */
	const char *filename; /* as the client sent it (untrusted, may be "") */
	char *path;	      /* the temporary file; removed after the response unless taken */
	size_t size;
	unsigned char sha256[32];
	unsigned char head[16]; /* the first bytes, for type detection */
	size_t head_len;
};

/* What a route accepts as a body; the application says it before the body is read. */
enum http_body_kind { HTTP_BODY_NONE, HTTP_BODY_RAW, HTTP_BODY_FORM };
struct http_body_rules {
	enum http_body_kind kind;
	size_t max_bytes;	/* the whole body; a larger Content-Length is refused at once (413) */
	size_t max_field_bytes; /* one text field of a form */
	int max_files;		/* files in a multipart form */
	size_t max_file_bytes;	/* one file */
	const char *tmp_dir;	/* where uploads are streamed */
};

struct http_request {
	struct arena *arena; /* dies with the request */
	void *conn;	     /* struct MHD_Connection *, for the http module only */
	struct http_server *server;
	const char *method; /* as sent: "GET", "HEAD", ... */
	bool head;	    /* HEAD: answered like GET without the body */
	const char *path;   /* percent-decoded path, valid UTF-8, no NUL */
	struct http_param *params;
	size_t n_params;
	bool gzip_ok;	   /* the client accepts gzip */
	size_t body_bytes; /* request body bytes received */
	/* The body, by the route's rules: RAW gives body/body_len (NUL-terminated); FORM gives
	 * fields (text, valid UTF-8 checked by the handler) and files. */
	char *body;
	size_t body_len;
	struct http_param *fields;
	size_t n_fields;
	struct http_file *files;
	int n_files;
	/* Set while reading the body when a rule was broken: 413 (too large, too many files) or
	 * 400 (malformed); body_problem says what in Russian ("файл больше 10 МБ"). */
	int body_error;
	const char *body_problem;
	/* Set before dispatch when the request is already refused: 400, 414 or 431. */
	int reject;
	/* The client (set before prepare): its full address for logs, and the key per-client limits
	 * count under (netaddr_limit_key: an IPv6 client counts as its /64). */
	const char *client_addr;
	const char *client_key;
	/* Set by the dispatcher: */
	int route; /* index into the route names given to http_start, -1 = none */
	/* The database statements run for the request on other threads than the one that called
	 * the dispatcher, added by the application before http_resume; the server adds those of
	 * the dispatcher's thread (http_options.thread_statements) for the metrics. */
	uint64_t db_statements;
	/* Filled by the server: */
	uint64_t start_us;
	struct page_entry *cached; /* set by http_cache_lookup on a hit */
	const char *cache_key;	   /* set by http_cache_lookup on a miss: store the answer */
};

struct http_response {
	int status;		      /* 0 means 500 */
	const char *content_type;     /* default "text/html; charset=utf-8" */
	struct buf body;	      /* initialised by the server, capped at 8 MiB */
	const char *location;	      /* Location header (redirects) */
	const char *allow;	      /* Allow header (405) */
	const char *set_cookie;	      /* one Set-Cookie header value */
	const char *cache_control;    /* default "no-cache" */
	const char *vary;	      /* extra Vary tokens besides Accept-Encoding, e.g. "Cookie" */
	time_t last_modified;	      /* 0 = no Last-Modified */
	int file_fd;		      /* > 0: send this open file (from its offset 0) as the body instead (status
				       * 200); the server closes it in any case. Never 0: see files_open. */
	const char *disposition;      /* Content-Disposition header, e.g. for downloads */
	const char *link;	      /* Link header, e.g. "</s/x?page=2>; rel=\"next\"" */
	const char *www_authenticate; /* WWW-Authenticate header (401) */
	const char *csp;	      /* Content-Security-Policy of an answer that is not HTML (HTML gets the
				       * site's own), e.g. an image's; NULL: none */
};

typedef void (*http_dispatch_fn)(void *app, struct http_request *req, struct http_response *resp);
/* Called when the headers are in, before any body byte: sets req->route and the body rules. */
typedef void (*http_prepare_fn)(void *app, struct http_request *req, struct http_body_rules *rules);

struct http_options {
	const char *listen; /* HOST:PORT */
	int threads;	    /* >= 1 */
	int max_connections, max_connections_per_ip;
	int connection_timeout, header_timeout; /* seconds */
	int max_url_bytes, max_header_bytes, connection_memory;
	int cache_mb;			  /* the page cache's budget in MiB; 0 disables it */
	int cache_entries;		  /* also a cap on its entries; -1: none; 0 disables it */
	const char *trusted_proxies;	  /* netaddr_list_parse syntax; "" or NULL: none */
	int min_body_rate, body_grace;	  /* bytes/s (0: no minimum), seconds */
	const char *const *route_names;	  /* for logs and metrics; index = http_request.route */
	const char *const *route_methods; /* each route's method, for the metrics' labels */
	int n_routes;
	http_prepare_fn prepare; /* may be NULL: no bodies accepted */
	/* May be NULL. The database statements the calling thread has run so far
	 * (db_thread_statements): read around each handler, so that the metrics count the
	 * statements of each request's own thread (those of other threads: db_statements). */
	uint64_t (*thread_statements)(void);
};

/*
 * Starts listening and serving with dispatch(app, ...). Returns NULL with a message in err
 * (address in use, bad listen address...).
 */
struct http_server *http_start(const struct http_options *o, http_dispatch_fn dispatch, void *app, char *err,
			       size_t errlen);
/* The port actually bound (useful with port 0). */
int http_port(const struct http_server *s);
/*
 * The shutdown, in steps. http_drain: stops accepting (the listening socket is closed, so new
 * clients are refused at once), answers every request that starts from now on 503 and closes
 * its connection, and sends the delayed answers (http_delay) at once. http_wait: waits up to ms
 * for every request in flight to finish (suspended_only: for those that were suspended, their
 * answers sent);
 * true when none is left. http_close: no handler runs after it returns (it waits for those
 * running); a request whose body ends later is answered 503 — called before the threads the
 * handlers hand work to are stopped. http_stop: stops the threads, frees everything and
 * flushes the access log. libmicrohttpd aborts the process when its daemon is stopped with a
 * connection still suspended, so http_stop refuses (returns false, the daemon left running)
 * while one is: whoever holds them must answer first.
 */
void http_drain(struct http_server *s);
bool http_wait(struct http_server *s, int ms, bool suspended_only);
void http_close(struct http_server *s);
bool http_stop(struct http_server *s);

/*
 * Deferred answers. A handler that hands its work to another thread calls http_suspend() before
 * handing it over and then returns at once, touching neither req nor the response again; the
 * other thread fills the response (it may use req->arena) and calls http_resume(), after which
 * the server sends it. The connection waits meanwhile without holding a worker thread. When the
 * work done on the other thread called http_delay, http_resume sends the answer only when that
 * delay is over (the reaper resumes it).
 */
void http_suspend(struct http_request *req);
void http_resume(struct http_request *req);
/*
 * Sends the response the handler filled only after ms milliseconds (at most 10 s, in steps of
 * 200 ms), without holding a worker thread meanwhile: the connection is suspended and the
 * reaper resumes it. Called by a handler before it returns (a slow-down, e.g. for logins).
 */
void http_delay(struct http_request *req, int ms);

/* A query parameter's value, or NULL when absent. */
const char *http_param(const struct http_request *req, const char *name);
/* A request header's value, or NULL. */
const char *http_header(const struct http_request *req, const char *name);
/* A cookie's value, or NULL: from the Cookie header, name compared exactly, quotes removed. */
const char *http_cookie(const struct http_request *req, const char *name);
/* A form field's value (the first), or NULL; *count (may be NULL) gets how many were sent. */
const char *http_field(const struct http_request *req, const char *name, int *count);
/*
 * The client per-client limits count under: its IPv4 address, or its IPv6 /64 network
 * ("2001:db8:1:2::/64"); behind a trusted proxy (http_options.trusted_proxies) the address
 * X-Forwarded-For gives (netaddr_client in core/netaddr.h). Not stored in the database except
 * inside the throttle keys of the limits themselves.
 */
const char *http_client_ip(const struct http_request *req);

/*
 * The page cache (cache.c: a byte budget, CLOCK eviction, sharded locks). A dispatcher that
 * knows its answer depends only on key (path, country...) calls http_cache_lookup first: on a hit
 * it returns true and must return at once (the server answers from the cache, including 304s);
 * on a miss the server stores the 200 answer that the dispatcher then produces under that key
 * (identity only; its gzip form is made on a later hit from a client that accepts gzip).
 */
bool http_cache_lookup(struct http_request *req, const char *key);
/* Drops every cached answer (content changed): O(1) under the cache's locks, the memory freed
 * afterwards on the calling thread. Safe at any time from any thread. */
void http_cache_clear(struct http_server *s);

/* Writes Prometheus text for the request metrics to b. */
void http_metrics(struct http_server *s, struct buf *b);
/* Flushes buffered access-log lines to stderr. */
void http_log_flush(void);
/* Microseconds on a monotonic clock. */
uint64_t http_now_us(void);

/*
 * The reaper's test of a request body's pace ([limits] min_body_rate, body_grace): true when
 * bytes arrived since mark_us (a window's start, CLOCK_MONOTONIC µs) are under rate bytes a
 * second and at least window_us have passed by now_us. A window that starts after now_us (a body
 * begun while the reaper was looking) is never too slow. Exposed for its unit test.
 */
bool http_body_too_slow(uint64_t now_us, uint64_t mark_us, uint64_t bytes, unsigned rate, uint64_t window_us);

#endif
