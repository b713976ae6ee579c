/* The fuzz harnesses' server and client. See fuzz.h. */
#include "fuzz.h"

#include "../../src/api/api.h"
#include "../../src/core/arena.h"
#include "../../src/core/text.h"
#include "../../src/http/http.h"
#include "../../src/req/req.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int fuzz_replay_mode;
int fuzz_failures;

static struct http_server *server;
static int port;
static char tmp_dir[64];

void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz: %s\n", why);
	if (!fuzz_replay_mode)
		abort();
	fuzz_failures++;
}

static const char *const route_names[] = {"form", "json", "other"};
static const char *const route_methods[] = {"POST", "POST", "GET"};

static void prepare(void *app, struct http_request *req, struct http_body_rules *rules)
{
	(void)app;
	*rules = (struct http_body_rules){.kind = HTTP_BODY_NONE};
	if (strcmp(req->method, "POST"))
		return;
	if (!strcmp(req->path, "/form"))
		*rules = (struct http_body_rules){.kind = HTTP_BODY_FORM,
						  .max_bytes = 1 << 20,
						  .max_field_bytes = 64 << 10,
						  .max_files = 5,
						  .max_file_bytes = 256 << 10,
						  .tmp_dir = tmp_dir};
	else if (!strcmp(req->path, "/json"))
		*rules = (struct http_body_rules){.kind = HTTP_BODY_RAW, .max_bytes = 64 << 10};
}

/* A field name as http.h promises it. */
static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	if (!len || len > HTTP_MAX_FIELD_NAME || !utf8_valid(n, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)n[i] < 0x20 || n[i] == 0x7f)
			return false;
	return true;
}

/* Reads everything a handler may read and checks the promises of http.h. */
static void dispatch(void *app, struct http_request *req, struct http_response *resp)
{
	(void)app;
	resp->content_type = "text/plain; charset=utf-8";
	resp->status = 200;
	bool post = !strcmp(req->method, "POST"); /* as prepare() decided the body rules */
	req->route = post && !strcmp(req->path, "/form") ? 0 : post && !strcmp(req->path, "/json") ? 1 : 2;
	if (req->reject || req->body_error) {
		resp->status = req->reject ? req->reject : req->body_error;
		buf_adds(&resp->body, req->body_problem ? req->body_problem : "refused");
		return;
	}
	size_t sum = 0;
	if (!req->path || !utf8_valid(req->path, strlen(req->path)))
		fuzz_fail("path: not valid UTF-8");
	for (size_t i = 0; i < req->n_params; i++) {
		const struct http_param *p = &req->params[i];
		if (!p->name || !p->value || !utf8_valid(p->name, strlen(p->name)) ||
		    !utf8_valid(p->value, strlen(p->value)))
			fuzz_fail("query parameter: NULL or not valid UTF-8");
		sum += strlen(p->name) + strlen(p->value);
	}
	for (size_t i = 0; i < req->n_fields; i++) {
		const struct http_param *f = &req->fields[i];
		if (!f->name || !f->value || !name_ok(f->name))
			fuzz_fail("form field: NULL or a name http.h does not allow");
		sum += strlen(f->value);
		(void)http_field(req, f->name, NULL);
	}
	for (int i = 0; i < req->n_files; i++) {
		const struct http_file *f = &req->files[i];
		if (!f->field || !f->filename || !f->path || !name_ok(f->field))
			fuzz_fail("file: NULL or a field name http.h does not allow");
		struct stat st;
		if (stat(f->path, &st) || (size_t)st.st_size != f->size)
			fuzz_fail("file: the temporary file does not hold what was received");
		sum += f->size + strlen(f->filename);
	}
	const char *names[] = {"session", "country", "csrf", "", "a"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *v = http_cookie(req, names[i]);
		sum += v ? strlen(v) : 0;
		v = http_param(req, names[i]);
		sum += v ? strlen(v) : 0;
		v = http_field(req, names[i], NULL);
		sum += v ? strlen(v) : 0;
	}
	const char *ct = http_header(req, "Content-Type");
	sum += ct ? strlen(ct) : 0;
	if (req->route == 0) {
		struct req_input in = {0};
		struct req_errors shape = {0};
		req_input_from_form(req, &in, &shape);
		in.files = NULL; /* the server removes the uploads */
	} else if (req->route == 1) {
		if (!req->body || strlen(req->body) > req->body_len)
			fuzz_fail("raw body: missing or not NUL-terminated");
		struct req_input in = {0};
		struct req_errors shape = {0};
		api_request_input_from_json(req->arena, req->body, req->body_len, &in, &shape);
	}
	buf_printf(&resp->body, "ok %zu\n", sum);
}

int fuzz_server(void)
{
	if (server)
		return port;
	snprintf(tmp_dir, sizeof tmp_dir, "/tmp/spravka-fuzz-%d", (int)getpid());
	mkdir(tmp_dir, 0700);
	struct http_options o = {
	    .listen = "127.0.0.1:0",
	    .threads = 2,
	    /* Heads that never end stay open until the header deadline: thousands of inputs
	     * a minute must not run into the connection limits. */
	    .max_connections = 900,
	    .max_connections_per_ip = 900,
	    .connection_timeout = 2,
	    .header_timeout = 2,
	    .max_url_bytes = 8192,
	    .max_header_bytes = 16384,
	    .connection_memory = 65536,
	    .cache_mb = 0,
	    .route_names = route_names,
	    .route_methods = route_methods,
	    .n_routes = 3,
	    .prepare = prepare,
	};
	char err[256];
	server = http_start(&o, dispatch, NULL, err, sizeof err);
	if (!server) {
		fprintf(stderr, "fuzz: cannot start the server: %s\n", err);
		exit(2);
	}
	port = http_port(server);
	return port;
}

static int connect_server(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fuzz_server())};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* A few tries: libFuzzer's SIGALRM (every second, for its -timeout) interrupts a connect
	 * now and then (EINTR). */
	for (int attempt = 0; attempt < 5; attempt++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			break;
		/* Closed with a reset, not into TIME_WAIT: a few hundred connections a second for
		 * minutes would use up the ephemeral ports. */
		struct linger lg = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			return fd;
		fprintf(stderr, "fuzz: connect: %s\n", strerror(errno));
		close(fd);
		usleep(20 * 1000);
	}
	fuzz_fail("cannot connect to the server");
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The last answer in a->bytes is complete: its head and Content-Length bytes of body. */
static bool answer_complete(const struct fuzz_answer *a)
{
	const char *start = a->bytes, *end = a->bytes + a->len;
	for (;;) {
		const char *hend = strstr(start, "\r\n\r\n");
		if (!hend)
			return false;
		const char *cl = strcasestr(start, "\r\nContent-Length:");
		if (!cl || cl > hend)
			return false;
		size_t body = strtoul(cl + 17, NULL, 10);
		const char *next = hend + 4 + body;
		if (next > end)
			return false;
		if (next == end)
			return true;
		start = next;
	}
}

void fuzz_exchange(const void *data, size_t len, struct fuzz_answer *a, unsigned idle_ms)
{
	*a = (struct fuzz_answer){0};
	size_t cap = 4096;
	a->bytes = malloc(cap);
	a->bytes[0] = '\0';
	int fd = connect_server();
	if (fd < 0)
		return;
	/* Send while reading: the server may answer (and close) before it has read it all. */
	const char *p = data;
	size_t sent = 0;
	bool wr_closed = false, idle_set = false;
	uint64_t deadline = now_ms() + 3000;
	for (;;) {
		if (sent == len && !wr_closed) {
			shutdown(fd, SHUT_WR);
			wr_closed = true;
		}
		if (wr_closed && !idle_set) {
			deadline = now_ms() + idle_ms;
			idle_set = true;
		}
		struct pollfd pfd = {fd, (short)(POLLIN | (wr_closed ? 0 : POLLOUT)), 0};
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		int ready = poll(&pfd, 1, (int)(deadline - now));
		if (ready < 0 && errno == EINTR)
			continue; /* libFuzzer's SIGALRM (its -timeout) ticks every second */
		if (ready <= 0)
			break;
		if (pfd.revents & POLLOUT) {
			ssize_t n = send(fd, p + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0)
				wr_closed = true; /* the server closed: read what it said */
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			if (a->len + 4096 + 1 > cap) {
				cap *= 2;
				a->bytes = realloc(a->bytes, cap);
			}
			ssize_t n = recv(fd, a->bytes + a->len, cap - a->len - 1, MSG_DONTWAIT);
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break;
			a->len += (size_t)n;
			a->bytes[a->len] = '\0';
			idle_set = false; /* data came: the pause starts again */
			/* A complete answer and nothing left to send: a keep-alive connection stays
			 * open, so wait only a moment for more (pipelined answers). */
			if (wr_closed && answer_complete(a))
				idle_ms = 20;
		}
	}
	close(fd);
	if (a->len >= 12 && !memcmp(a->bytes, "HTTP/1.", 7))
		a->status = atoi(a->bytes + 9);
	/* Status lines at the start of the answer or right after a header block. */
	for (size_t i = 0; i + 9 < a->len; i++)
		if (!memcmp(a->bytes + i, "HTTP/1.", 7) &&
		    (i == 0 || (i >= 4 && !memcmp(a->bytes + i - 4, "\r\n\r\n", 4))))
			a->answers++;
}

void fuzz_exchange_answered(const void *data, size_t len, struct fuzz_answer *a)
{
	fuzz_exchange(data, len, a, 3000);
	if (a->len == 0) {
		/* Nothing at all, not even a refusal: a signal may have cut the exchange short
		 * (see above). Once more; a server that does not answer fails again. */
		fuzz_answer_free(a);
		usleep(10 * 1000);
		fuzz_exchange(data, len, a, 3000);
	}
}

void fuzz_answer_free(struct fuzz_answer *a)
{
	free(a->bytes);
	a->bytes = NULL;
}

void fuzz_check_alive(void)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
	struct fuzz_answer a;
	fuzz_exchange_answered(req, sizeof req - 1, &a);
	if (a.status != 200 || a.answers != 1)
		fuzz_fail("the server does not answer /healthz after the input");
	fuzz_answer_free(&a);
}

/* libmicrohttpd 0.9.75's own error answers to what it finds before the application is called
 * (a malformed Content-Length, a Cookie value of a lone '"') repeat their header block: see
 * src/http/http.h. Known and unreachable from the server; recognised by the repeat itself and
 * by the missing Content-Type (every answer of the server's own has one). */
static bool libmicrohttpd_double(const struct fuzz_answer *a)
{
	const char *end = strstr(a->bytes, "\r\n\r\n");
	if (a->answers != 2 || !end || (a->status != 400 && a->status != 413 && a->status != 431))
		return false;
	size_t head = (size_t)(end - a->bytes) + 4;
	return !memmem(a->bytes, head, "Content-Type:", 13) && a->len >= 2 * head &&
	       !memcmp(a->bytes, a->bytes + head, 15);
}

void fuzz_check_one_answer(const struct fuzz_answer *a, const char *what)
{
	if (a->answers != 1 && !libmicrohttpd_double(a)) {
		fprintf(stderr, "fuzz: %s: %d answers, status %d: %.200s\n", what, a->answers, a->status, a->bytes);
		fuzz_fail("not exactly one answer");
	}
	if (a->status < 200 || a->status > 599)
		fuzz_fail("no valid status");
}
