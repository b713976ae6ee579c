/*
 * Unit tests of src/mail: the outbox inside the caller's transaction, refused input (header
 * injection), the letter as a real SMTP server receives it, retries with backoff, giving up, no
 * relay, the delivery thread; and the [mail] configuration section.
 *
 * Delivery goes to tests/e2e/smtp_sink.py (started with fork/exec on a free port; tests run from
 * the repository root), which writes every accepted message to a file.
 */
#include "../../src/core/config.h"
#include "../../src/db/db.h"
#include "../../src/mail/mail.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *db_dir, *sink_dir;
static struct db *db;
static pid_t sink_pid;
static char relay[64];

/* ---- the sink -------------------------------------------------------------------------------- */

static int free_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	cr_assert(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0);
	cr_assert(getsockname(s, (struct sockaddr *)&a, &len) == 0);
	close(s);
	return ntohs(a.sin_port);
}

/* Starts the sink on a free port (answering 451 to the first fail_first DATA commands) and waits
 * up to 10 s for its "ready"; sets relay. */
static void start_sink(int fail_first)
{
	int port = free_port(), fds[2];
	char port_s[16], fail_s[16];
	snprintf(port_s, sizeof port_s, "%d", port);
	snprintf(fail_s, sizeof fail_s, "%d", fail_first);
	snprintf(relay, sizeof relay, "smtp://127.0.0.1:%d", port);
	cr_assert(pipe(fds) == 0);
	sink_pid = fork();
	cr_assert(sink_pid >= 0);
	if (sink_pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl("/usr/bin/python3", "python3", "tests/e2e/smtp_sink.py", port_s, sink_dir, "--fail-first", fail_s,
		      "--seconds", "30", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char got[64] = "";
	size_t n = 0;
	struct pollfd p = {.fd = fds[0], .events = POLLIN};
	while (!strstr(got, "ready\n") && n < sizeof got - 1 && poll(&p, 1, 10000) == 1) {
		ssize_t r = read(fds[0], got + n, sizeof got - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		got[n] = '\0';
	}
	close(fds[0]);
	cr_assert(strstr(got, "ready\n"), "the SMTP sink did not start (got \"%s\")", got);
}

static void stop_sink(void)
{
	if (sink_pid <= 0)
		return;
	kill(sink_pid, SIGTERM);
	for (int i = 0; i < 50 && waitpid(sink_pid, NULL, WNOHANG) == 0; i++)
		usleep(100 * 1000);
	if (waitpid(sink_pid, NULL, WNOHANG) == 0) {
		kill(sink_pid, SIGKILL);
		waitpid(sink_pid, NULL, 0);
	}
	sink_pid = 0;
}

static void setup(void)
{
	char err[512];
	db_dir = tmp_dir();
	sink_dir = tmp_dir();
	sink_pid = 0;
	cr_assert_eq(db_open(test_db(db_dir), &db, err, sizeof err), DB_OK, "%s", err);
}

static void teardown(void)
{
	stop_sink();
	db_close(db);
	rm_tree(db_dir);
	rm_tree(sink_dir);
	free(db_dir);
	free(sink_dir);
}

TestSuite(mail, .init = setup, .fini = teardown, .timeout = 60);

/* ---- helpers --------------------------------------------------------------------------------- */

static void enqueue(const char *to, const char *subject, const char *body)
{
	cr_assert_eq(db_begin_write(db), DB_OK);
	cr_assert(mail_enqueue(db, 0, to, subject, body), "%s", db_errmsg(db));
	cr_assert_eq(db_commit(db), DB_OK);
}

/* The integer the query returns (one row, one column). */
static int64_t num(const char *sql)
{
	struct db_stmt *st = db_prepare(db, sql);
	cr_assert_not_null(st, "%s: %s", sql, db_errmsg(db));
	cr_assert_eq(db_step(st), DB_ROW, "%s", sql);
	int64_t v = db_col_int(st, 0);
	db_finalize(st);
	return v;
}

/* The text the query returns, copied (static storage, overwritten by the next call). */
static const char *text(const char *sql)
{
	static char out[4096];
	struct db_stmt *st = db_prepare(db, sql);
	cr_assert_not_null(st, "%s: %s", sql, db_errmsg(db));
	cr_assert_eq(db_step(st), DB_ROW, "%s", sql);
	snprintf(out, sizeof out, "%s", db_col_text(st, 0));
	db_finalize(st);
	return out;
}

/* Makes every pending letter due now, as if its backoff had passed. */
static void make_due(void)
{
	cr_assert_eq(db_exec(db, "UPDATE outbox SET next_attempt = 0 WHERE status = 'pending'"), DB_OK);
}

static int n_files(void)
{
	DIR *d = opendir(sink_dir);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strlen(e->d_name) > 4 && !strcmp(e->d_name + strlen(e->d_name) - 4, ".eml"))
			n++;
	closedir(d);
	return n;
}

/* The sink's file number i (1-based), malloc'd. */
static char *sink_file(int i)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%04d.eml", sink_dir, i);
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "no %s", path);
	char *s = calloc(1, 1 << 22);
	size_t n = fread(s, 1, (1 << 22) - 1, f);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The value of header `name` in msg, folded lines joined (static storage), or NULL. */
static const char *header(const char *msg, const char *name)
{
	static char out[8192];
	size_t nl = strlen(name);
	const char *end = strstr(msg, "\r\n\r\n");
	cr_assert_not_null(end, "no end of headers");
	for (const char *p = msg; p < end; p = strstr(p, "\r\n") + 2) {
		if (strncasecmp(p, name, nl) || p[nl] != ':')
			continue;
		size_t n = 0;
		const char *v = p + nl + 1;
		while (*v == ' ')
			v++;
		for (; v < end + 2; v++) {
			if (v[0] == '\r' && v[1] == '\n' && v[2] != ' ' && v[2] != '\t')
				break;
			if (*v != '\r' && *v != '\n' && n < sizeof out - 1)
				out[n++] = *v;
		}
		out[n] = '\0';
		return out;
	}
	return NULL;
}

/* Base64 (line breaks and spaces ignored) to a NUL-terminated string (static storage). */
static const char *unbase64(const char *b64, size_t len)
{
	static char out[1 << 21];
	size_t n = 0;
	cr_assert_eq(sodium_base642bin((unsigned char *)out, sizeof out - 1, b64, len, "\r\n ", &n, NULL,
				       sodium_base64_VARIANT_ORIGINAL),
		     0, "not base64: %.*s", (int)len, b64);
	out[n] = '\0';
	return out;
}

/* An RFC 2047 Subject made of =?UTF-8?B?...?= words, decoded (static storage). */
static const char *decode_subject(const char *v)
{
	static char out[4096];
	out[0] = '\0';
	while (*v) {
		while (*v == ' ')
			v++;
		if (!*v)
			break;
		cr_assert(!strncmp(v, "=?UTF-8?B?", 10), "not an encoded word: %s", v);
		const char *end = strstr(v + 10, "?=");
		cr_assert_not_null(end);
		strcat(out, unbase64(v + 10, (size_t)(end - v - 10)));
		v = end + 2;
	}
	return out;
}

static const char *body_of(const char *msg)
{
	const char *b = strstr(msg, "\r\n\r\n");
	cr_assert_not_null(b);
	return unbase64(b + 4, strlen(b + 4));
}

/* ---- the outbox ------------------------------------------------------------------------------ */

Test(mail, enqueue_is_part_of_the_callers_transaction)
{
	cr_assert_eq(db_begin_write(db), DB_OK);
	cr_assert(mail_enqueue(db, 0, "member@example.kz", "Тема", "Текст"));
	cr_assert_eq(db_rollback(db), DB_OK);
	cr_assert_eq(num("SELECT count(*) FROM outbox"), 0, "a rolled-back letter stayed");
	int64_t before = (int64_t)time(NULL);
	enqueue("member@example.kz", "Тема", "Текст");
	cr_assert_eq(num("SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 0 "
			 "AND request_id IS NULL AND last_error = '' AND sent_at IS NULL"),
		     1);
	cr_assert_str_eq(text("SELECT to_addr || '|' || subject || '|' || body FROM outbox"),
			 "member@example.kz|Тема|Текст");
	cr_assert_geq(num("SELECT created FROM outbox"), before);
	cr_assert_leq(num("SELECT next_attempt FROM outbox"), (int64_t)time(NULL));
}

Test(mail, refuses_header_injection_and_bad_input)
{
	static const char *bad_to[] = {
	    "member@example.kz\r\nBcc: victim@example.com",
	    "member@example.kz\n",
	    "member@example.kz\rX",
	    "",
	    "no-at-sign",
	    "a@b@example.kz",
	    "<member@example.kz>",
	    "Member <member@example.kz>",
	    "a b@example.kz",
	    "a,b@example.kz",
	    "@example.kz",
	    "member@",
	    "member@-example.kz",
	    "member@example..kz",
	    "member@.example.kz",
	    "member@example.kz.",
	    "имя@example.kz",
	};
	static const char *bad_subject[] = {
	    "Тема\r\nBcc: victim@example.com", "Тема\n", "Тема\r", "Тема\x01", "\xff\xfe",
	};
	cr_assert_eq(db_begin_write(db), DB_OK);
	for (size_t i = 0; i < sizeof bad_to / sizeof bad_to[0]; i++) {
		cr_assert(!mail_address_valid(bad_to[i]), "accepted address \"%s\"", bad_to[i]);
		cr_assert(!mail_enqueue(db, 0, bad_to[i], "Тема", "Текст"), "enqueued to \"%s\"", bad_to[i]);
	}
	for (size_t i = 0; i < sizeof bad_subject / sizeof bad_subject[0]; i++)
		cr_assert(!mail_enqueue(db, 0, "member@example.kz", bad_subject[i], "Текст"), "enqueued subject %zu",
			  i);
	cr_assert(!mail_enqueue(db, 0, "member@example.kz", "Тема", "\xc3\x28"), "invalid UTF-8 body");
	char *big = malloc(MAIL_MAX_BODY + 2);
	memset(big, 'a', MAIL_MAX_BODY + 1);
	big[MAIL_MAX_BODY + 1] = '\0';
	cr_assert(!mail_enqueue(db, 0, "member@example.kz", "Тема", big), "a body over the cap");
	free(big);
	/* A request that does not exist is a database (foreign key) error. */
	cr_assert(!mail_enqueue(db, 987654, "member@example.kz", "Тема", "Текст"));
	cr_assert_eq(db_rollback(db), DB_OK);
	cr_assert_eq(num("SELECT count(*) FROM outbox"), 0);
	/* What is accepted: ordinary addresses, a tab in the subject, an empty body. */
	cr_assert(mail_address_valid("ivan.petrov+orders@mail.example-kz.com"));
	cr_assert(mail_address_valid("a@localhost"));
	enqueue("ivan.petrov+orders@mail.example-kz.com", "Тема\tс табуляцией", "");
	cr_assert_eq(num("SELECT count(*) FROM outbox"), 1);
}

/* ---- delivery -------------------------------------------------------------------------------- */

Test(mail, delivers_a_utf8_letter_that_the_sink_can_decode)
{
	const char *subject = "Ваш запрос № 2024-000123: ответ поддержки — «Вывод средств на карту» ✓";
	const char *body = "Здравствуйте, Иван!\n\nМы ответили на ваш запрос.\n.Строка с точкой в "
			   "начале\nДлинная строка: "
			   "ёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёё\n";
	start_sink(0);
	struct mail_config cfg = {.relay = relay, .from = "support@example.com", .max_attempts = 8};
	enqueue("member@example.kz", subject, body);
	int64_t before = (int64_t)time(NULL);
	cr_assert_eq(mail_deliver(db, &cfg, 10), 1, "%s", text("SELECT last_error FROM outbox"));
	cr_assert_eq(n_files(), 1);
	cr_assert_str_eq(text("SELECT status FROM outbox"), "sent");
	cr_assert_eq(num("SELECT attempts FROM outbox"), 0);
	cr_assert_geq(num("SELECT sent_at FROM outbox"), before);

	char *msg = sink_file(1);
	/* The envelope, as the sink saw it. */
	cr_assert_str_eq(header(msg, "X-Sink-Mail-From"), "<support@example.com>");
	cr_assert_str_eq(header(msg, "X-Sink-Rcpt-To"), "<member@example.kz>");
	/* The headers. */
	cr_assert_str_eq(header(msg, "From"), "support@example.com");
	cr_assert_str_eq(header(msg, "To"), "member@example.kz");
	cr_assert_str_eq(header(msg, "MIME-Version"), "1.0");
	cr_assert_str_eq(header(msg, "Content-Type"), "text/plain; charset=utf-8");
	cr_assert_str_eq(header(msg, "Content-Transfer-Encoding"), "base64");
	const char *mid = header(msg, "Message-ID");
	cr_assert(mid && mid[0] == '<' && strstr(mid, "@example.com>"), "Message-ID %s", mid);
	const char *date = header(msg, "Date");
	int day, year, h, m, s;
	char wd[4], mon[4];
	cr_assert_not_null(date);
	cr_assert_eq(sscanf(date, "%3s, %d %3s %d %d:%d:%d +0000", wd, &day, mon, &year, &h, &m, &s), 7, "Date: %s",
		     date);
	cr_assert(strstr("MonTueWedThuFriSatSun", wd) && strstr("JanFebMarAprMayJunJulAugSepOctNovDec", mon),
		  "Date: %s", date);
	/* The subject: encoded words only, folded, decoding to the original. */
	const char *raw_subject = header(msg, "Subject");
	cr_assert_not_null(raw_subject);
	cr_assert_str_eq(decode_subject(raw_subject), subject);
	/* Every line ends in CRLF and stays within 78 characters. */
	const char *line = msg;
	for (const char *p = msg; *p; p++) {
		if (*p == '\n') {
			cr_assert(p > msg && p[-1] == '\r', "a bare LF at offset %ld", (long)(p - msg));
			cr_assert_leq(p - line - 1, 78, "a long line: %.*s", (int)(p - line), line);
			line = p + 1;
		}
	}
	/* The body: base64 of the text with CRLF line ends. */
	cr_assert_str_eq(body_of(msg), "Здравствуйте, Иван!\r\n\r\nМы ответили на ваш запрос.\r\n.Строка с точкой в "
				       "начале\r\nДлинная строка: "
				       "ёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёёё\r\n");
	free(msg);
	/* Sent once only. */
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_eq(n_files(), 1);
}

Test(mail, sends_oldest_first_up_to_max)
{
	start_sink(0);
	struct mail_config cfg = {.relay = relay, .from = "support@example.com", .max_attempts = 8};
	enqueue("first@example.kz", "1", "один");
	enqueue("second@example.kz", "2", "два");
	enqueue("third@example.kz", "3", "три");
	cr_assert_eq(mail_deliver(db, &cfg, 2), 2);
	cr_assert_eq(n_files(), 2);
	char *a = sink_file(1), *b = sink_file(2);
	cr_assert_str_eq(header(a, "X-Sink-Rcpt-To"), "<first@example.kz>");
	cr_assert_str_eq(header(b, "X-Sink-Rcpt-To"), "<second@example.kz>");
	free(a);
	free(b);
	cr_assert_str_eq(text("SELECT to_addr FROM outbox WHERE status = 'pending'"), "third@example.kz");
	cr_assert_eq(mail_deliver(db, &cfg, 2), 1);
	cr_assert_eq(num("SELECT count(*) FROM outbox WHERE status = 'sent'"), 3);
}

Test(mail, refused_delivery_backs_off_and_is_retried_after_next_attempt)
{
	start_sink(2);
	struct mail_config cfg = {.relay = relay, .from = "support@example.com", .max_attempts = 8};
	enqueue("member@example.kz", "Повтор", "Текст");

	int64_t t0 = (int64_t)time(NULL);
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_str_eq(text("SELECT status FROM outbox"), "pending");
	cr_assert_eq(num("SELECT attempts FROM outbox"), 1);
	cr_assert(strstr(text("SELECT last_error FROM outbox"), "451"), "last_error: %s",
		  text("SELECT last_error FROM outbox"));
	int64_t next = num("SELECT next_attempt FROM outbox");
	cr_assert(next >= t0 + 30 && next <= (int64_t)time(NULL) + 30, "next_attempt %lld, now %lld", (long long)next,
		  (long long)t0);
	/* Not due yet: nothing is tried. */
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_eq(num("SELECT attempts FROM outbox"), 1);

	/* The second failure waits twice as long. */
	make_due();
	t0 = (int64_t)time(NULL);
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_eq(num("SELECT attempts FROM outbox"), 2);
	next = num("SELECT next_attempt FROM outbox");
	cr_assert(next >= t0 + 60 && next <= (int64_t)time(NULL) + 60, "next_attempt %lld, now %lld", (long long)next,
		  (long long)t0);
	cr_assert_eq(n_files(), 0);

	/* Once due again, the sink takes it. */
	make_due();
	cr_assert_eq(mail_deliver(db, &cfg, 10), 1);
	cr_assert_str_eq(text("SELECT status FROM outbox"), "sent");
	cr_assert_eq(num("SELECT attempts FROM outbox"), 2);
	cr_assert_eq(n_files(), 1);
}

Test(mail, gives_up_after_max_attempts)
{
	start_sink(100);
	struct mail_config cfg = {.relay = relay, .from = "support@example.com", .max_attempts = 3};
	enqueue("member@example.kz", "Не дойдёт", "Текст");
	for (int i = 1; i <= 3; i++) {
		make_due();
		cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
		cr_assert_eq(num("SELECT attempts FROM outbox"), i);
		cr_assert_str_eq(text("SELECT status FROM outbox"), i < 3 ? "pending" : "failed");
	}
	/* A failed letter stays failed: never tried again. */
	cr_assert_eq(db_exec(db, "UPDATE outbox SET next_attempt = 0"), DB_OK);
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_eq(num("SELECT attempts FROM outbox"), 3);
	cr_assert_str_eq(text("SELECT status FROM outbox"), "failed");
	cr_assert_eq(n_files(), 0);
}

Test(mail, backoff_is_capped_at_an_hour)
{
	start_sink(100);
	struct mail_config cfg = {.relay = relay, .from = "support@example.com", .max_attempts = 100};
	enqueue("member@example.kz", "Тема", "Текст");
	cr_assert_eq(db_exec(db, "UPDATE outbox SET attempts = 12"), DB_OK);
	int64_t t0 = (int64_t)time(NULL);
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	int64_t next = num("SELECT next_attempt FROM outbox");
	cr_assert(next >= t0 + 3600 && next <= (int64_t)time(NULL) + 3600, "next_attempt %lld, now %lld",
		  (long long)next, (long long)t0);
	cr_assert_eq(num("SELECT attempts FROM outbox"), 13);
}

Test(mail, unreachable_relay_is_a_failure_with_curls_message)
{
	char unused[64];
	snprintf(unused, sizeof unused, "smtp://127.0.0.1:%d", free_port());
	struct mail_config cfg = {.relay = unused, .from = "support@example.com", .max_attempts = 8};
	enqueue("member@example.kz", "Тема", "Текст");
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_eq(num("SELECT attempts FROM outbox"), 1);
	cr_assert_str_eq(text("SELECT status FROM outbox"), "pending");
	cr_assert(strlen(text("SELECT last_error FROM outbox")) > 0);
}

Test(mail, no_relay_keeps_mail_in_the_outbox)
{
	start_sink(0);
	struct mail_config cfg = {.relay = "", .from = "support@example.com", .max_attempts = 8};
	enqueue("member@example.kz", "Тема", "Текст");
	cr_assert_eq(mail_deliver(db, &cfg, 10), 0);
	cr_assert_eq(num("SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 0 "
			 "AND last_error = ''"),
		     1);
	cr_assert_eq(n_files(), 0);
}

Test(mail, worker_delivers_when_woken_and_stops)
{
	char err[512];
	start_sink(0);
	struct db_pool *pool;
	cr_assert_eq(db_pool_open(test_db(db_dir), 2, &pool, err, sizeof err), DB_OK, "%s", err);
	struct mail_config cfg = {.relay = relay, .from = "support@example.com", .max_attempts = 8};
	struct mail_worker *w = mail_start(pool, &cfg);
	cr_assert_not_null(w);
	enqueue("member@example.kz", "Тема", "Текст");
	mail_wake(w);
	for (int i = 0; i < 100 && n_files() < 1; i++)
		usleep(50 * 1000);
	cr_assert_eq(n_files(), 1, "the worker did not deliver within 5 s");
	/* And without a wake, on its own tick. */
	enqueue("other@example.kz", "Тема", "Текст");
	for (int i = 0; i < 100 && n_files() < 2; i++)
		usleep(50 * 1000);
	cr_assert_eq(n_files(), 2, "the worker did not deliver within 5 s");
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	mail_stop(w);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt(b.tv_sec - a.tv_sec, 3, "mail_stop took too long");
	db_pool_close(pool);
	/* The outcomes are recorded after the relay's answer, so certainly once the thread is joined. */
	cr_assert_eq(num("SELECT count(*) FROM outbox WHERE status = 'sent'"), 2);
}

/* ---- [mail] in the configuration -------------------------------------------------------------- */

static char *write_ini(const char *body)
{
	static char path[64];
	strcpy(path, "/tmp/spravka-mail-XXXXXX.ini");
	int fd = mkstemps(path, 4);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	close(fd);
	return path;
}

Test(mail_config, defaults_and_the_section)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	cr_assert_str_eq(c.mail_relay, "");
	cr_assert_str_eq(c.mail_from, "support@example.com");
	cr_assert_eq(c.mail_max_attempts, 8);
	cr_assert_str_eq(c.mail_tls, "required");
	char *p = write_ini("[mail]\nrelay = smtp://127.0.0.1:2525\nfrom = help@example.kz\n"
			    "max_attempts = 3\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert(config_check(&c, err, sizeof err), "%s", err);
	cr_assert_str_eq(c.mail_relay, "smtp://127.0.0.1:2525");
	cr_assert_str_eq(c.mail_from, "help@example.kz");
	cr_assert_eq(c.mail_max_attempts, 3);
	config_free(&c);
}

Test(mail_config, refuses_bad_values)
{
	static const char *bad_files[] = {"[mail]\nmax_attempts = 0\n", "[mail]\nmax_attempts = 101\n",
					  "[mail]\nrelya = smtp://x\n"};
	for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
		struct config c;
		char err[256];
		config_defaults(&c);
		char *p = write_ini(bad_files[i]);
		cr_assert(!config_load(&c, p, err, sizeof err), "accepted %s", bad_files[i]);
		unlink(p);
		cr_assert(strstr(err, ":2:"), "%s", err);
		config_free(&c);
	}
	static const char *bad_checks[] = {"[mail]\nrelay = http://127.0.0.1:25\n",
					   "[mail]\nfrom = Поддержка <support@example.com>\n",
					   "[mail]\nfrom = support\n",
					   "[mail]\nfrom = support@example..com\n",
					   "[mail]\ntls = off\n",
					   "[mail]\ntls = \n"};
	for (size_t i = 0; i < sizeof bad_checks / sizeof bad_checks[0]; i++) {
		struct config c;
		char err[256];
		config_defaults(&c);
		char *p = write_ini(bad_checks[i]);
		cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
		unlink(p);
		cr_assert(!config_check(&c, err, sizeof err), "accepted %s", bad_checks[i]);
		cr_assert(strstr(err, "[mail]"), "%s", err);
		config_free(&c);
	}
}

/* ---- issue #7: TLS to the relay ------------------------------------------------------------- */

Test(mail_tls, required_unless_the_relay_is_on_loopback_or_tls_is_none)
{
	static const char *const loopback[] = {
	    "smtp://127.0.0.1:2525",	   "smtp://127.8.9.10",
	    "smtp://localhost:25",	   "smtp://LOCALHOST",
	    "smtp://[::1]:2525",	   "smtp://[::ffff:127.0.0.1]:25",
	    "smtp://user:pw@127.0.0.1:25", "smtps://127.0.0.1:465",
	};
	static const char *const remote[] = {
	    "smtp://mail.example.org:587",
	    "smtp://192.0.2.2:25",
	    "smtp://10.0.0.1",
	    "smtp://[2001:db8::1]:25",
	    "smtp://128.0.0.1",
	    "smtp://127.0.0.1.example.org",
	    "smtp://localhost.example.org",
	    "smtp://127.0.0.1@mail.example.org:25",
	    "smtp://[::2]",
	    "smtp://user@[::1",
	    "smtp://",
	    "",
	    "127.0.0.1",
	};
	for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++) {
		cr_assert(mail_relay_loopback(loopback[i]), "%s", loopback[i]);
		cr_assert_eq(mail_tls_for(loopback[i], false), MAIL_TLS_TRY, "%s", loopback[i]);
		cr_assert_eq(mail_tls_for(loopback[i], true), MAIL_TLS_OFF, "%s", loopback[i]);
	}
	for (size_t i = 0; i < sizeof remote / sizeof remote[0]; i++) {
		cr_assert(!mail_relay_loopback(remote[i]), "%s", remote[i]);
		cr_assert_eq(mail_tls_for(remote[i], false), MAIL_TLS_REQUIRED, "%s", remote[i]);
		cr_assert_eq(mail_tls_for(remote[i], true), MAIL_TLS_OFF, "%s", remote[i]);
	}
	cr_assert(!mail_relay_loopback(NULL));
}

Test(mail_config, tls_none_is_read)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	char *p = write_ini("[mail]\nrelay = smtp://mail.example.org:25\ntls = none\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert(config_check(&c, err, sizeof err), "%s", err);
	cr_assert_str_eq(c.mail_tls, "none");
	config_free(&c);
}
