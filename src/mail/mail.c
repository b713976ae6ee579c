/*
 * mail — the outbox, the letter's wire format, SMTP delivery through libcurl, the delivery thread.
 * The contract is in mail.h; docs/mail.md says how to run and test it.
 */
#include "mail.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/netaddr.h"
#include "../core/text.h"
#include "../db/db.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
	CONNECT_TIMEOUT = 5,  /* seconds to reach the relay */
	SESSION_TIMEOUT = 15, /* seconds for a whole SMTP session */
	CLAIM_SECONDS = 120,  /* a claimed letter is left alone this long (longer than a session) */
	BACKOFF_FIRST = 30,   /* seconds after the first failure, doubled after each next one */
	BACKOFF_MAX = 3600,
	SUBJECT_CHUNK = 36,  /* bytes of subject per encoded word: the word stays within 60 chars */
	WORKER_BATCH = 20,   /* letters per mail_deliver call of the worker */
	LAST_ERROR_MAX = 300 /* bytes of curl's message kept in last_error */
};

/* ---- checks ---------------------------------------------------------------------------------- */

bool mail_address_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n == 0 || n > 254 || !at || at == s || strchr(at + 1, '@') || at - s > 64)
		return false;
	for (const char *p = s; p < at; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c >= 0x7f || strchr("\"<>(),;:[]\\", c))
			return false;
	}
	/* The domain: labels of letters, digits and '-', separated by single dots. */
	const char *label = at + 1;
	for (const char *p = at + 1;; p++) {
		char c = *p;
		if (c == '.' || c == '\0') {
			size_t len = (size_t)(p - label);
			if (len == 0 || len > 63 || label[0] == '-' || p[-1] == '-')
				return false;
			if (c == '\0')
				return true;
			label = p + 1;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) {
			return false;
		}
	}
}

/* Subject text: valid UTF-8, no control characters but tab (so no CR or LF), bounded. */
static bool subject_valid(const char *s)
{
	size_t n = strlen(s);
	if (n > MAIL_MAX_SUBJECT || !utf8_valid(s, n))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < ' ' && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

/* ---- TLS ------------------------------------------------------------------------------------- */

bool mail_relay_loopback(const char *relay)
{
	const char *p = relay ? strstr(relay, "://") : NULL;
	if (!p)
		return false;
	p += 3;
	const char *end = p + strcspn(p, "/?#");
	const char *at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1; /* user:password@ */
	char host[256];
	size_t n;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close)
			return false;
		p++;
		n = (size_t)(close - p);
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n == 0 || n >= sizeof host)
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost."))
		return true;
	struct netaddr addr;
	return netaddr_parse(host, n, &addr) && netaddr_is_loopback(&addr);
}

enum mail_tls mail_tls_for(const char *relay, bool tls_none)
{
	if (tls_none)
		return MAIL_TLS_OFF;
	return mail_relay_loopback(relay) ? MAIL_TLS_TRY : MAIL_TLS_REQUIRED;
}

/* ---- the outbox ------------------------------------------------------------------------------ */

bool mail_enqueue(struct db *db, int64_t request_id, const char *to, const char *subject, const char *body)
{
	if (!mail_address_valid(to) || !subject || !subject_valid(subject) || !body)
		return false;
	size_t body_len = strlen(body);
	if (body_len > MAIL_MAX_BODY || !utf8_valid(body, body_len))
		return false;
	struct db_stmt *st = db_prepare(db, "INSERT INTO outbox(request_id, to_addr, subject, body, "
					    "status, attempts, next_attempt, created) "
					    "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)");
	if (!st)
		return false;
	int64_t now = (int64_t)time(NULL);
	if (request_id)
		db_bind_int(st, 1, request_id);
	else
		db_bind_null(st, 1);
	db_bind_text(st, 2, to);
	db_bind_text(st, 3, subject);
	db_bind_text(st, 4, body);
	db_bind_int(st, 5, now);
	db_bind_int(st, 6, now);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	return rc == DB_DONE;
}

/* ---- the letter ------------------------------------------------------------------------------ */

static void base64(struct buf *b, const unsigned char *p, size_t n, size_t line)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
			     i + 2 < n ? tab[v & 63] : '='};
		buf_add(b, q, 4);
		col += 4;
		if (line && col >= line && i + 3 < n) {
			buf_adds(b, "\r\n");
			col = 0;
		}
	}
}

/* "Subject: =?UTF-8?B?...?=" folded into words of whole characters, each line under 76 columns. */
static void add_subject(struct buf *b, const char *s)
{
	size_t len = strlen(s);
	bool first = true;
	buf_adds(b, "Subject:");
	while (len > 0) {
		size_t n = utf8_cut(s, len, SUBJECT_CHUNK);
		if (n == 0) /* not reached for valid UTF-8; never loop */
			n = len < SUBJECT_CHUNK ? len : SUBJECT_CHUNK;
		buf_adds(b, first ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		first = false;
		base64(b, (const unsigned char *)s, n, 0);
		buf_adds(b, "?=");
		s += n;
		len -= n;
	}
	buf_adds(b, "\r\n");
}

/* RFC 5322 date in UTC, with English names whatever the locale. */
static void add_date(struct buf *b, time_t t)
{
	static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	gmtime_r(&t, &tm);
	buf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday], tm.tm_mday,
		   months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

struct letter {
	int64_t id, created;
	int attempts;
	char *to, *subject, *body;
};

/*
 * The whole message as sent after DATA. The Message-ID depends only on the outbox row, so a letter
 * sent again after a crash carries the same one.
 */
static void build_message(struct buf *b, const struct letter *l, const char *from)
{
	const char *at = strchr(from, '@');
	add_date(b, time(NULL));
	buf_printf(b, "From: %s\r\nTo: %s\r\n", from, l->to);
	add_subject(b, l->subject);
	buf_printf(b, "Message-ID: <spravka.%lld.%lld@%s>\r\n", (long long)l->id, (long long)l->created,
		   at ? at + 1 : "localhost");
	buf_adds(b, "MIME-Version: 1.0\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Auto-Submitted: auto-generated\r\n"
		    "\r\n");
	/* Canonical text form before base64 (RFC 2045): every line ends in CRLF. */
	struct buf text;
	buf_init(&text, 2 * MAIL_MAX_BODY + 16);
	for (const char *p = l->body; *p; p++) {
		if (*p == '\n' || (*p == '\r' && p[1] != '\n'))
			buf_adds(&text, "\r\n");
		else
			buf_addc(&text, *p);
	}
	base64(b, (const unsigned char *)buf_str(&text), text.len, 76);
	buf_adds(b, "\r\n");
	if (buf_failed(&text))
		b->err = true;
	buf_free(&text);
}

/* ---- SMTP ------------------------------------------------------------------------------------ */

struct upload {
	const char *data;
	size_t len, pos;
};

static size_t read_upload(char *dst, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb;
	if (n > u->len - u->pos)
		n = u->len - u->pos;
	memcpy(dst, u->data + u->pos, n);
	u->pos += n;
	return n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* One SMTP session for one letter. True when the relay accepted it; otherwise err says why. */
static bool send_letter(const struct mail_config *cfg, const struct letter *l, char *err, size_t errlen)
{
	/* Checked again here: a row may have been written by other code than mail_enqueue. */
	if (!mail_address_valid(cfg->from) || !mail_address_valid(l->to)) {
		snprintf(err, errlen, "not a valid address: %s",
			 mail_address_valid(cfg->from) ? "the recipient" : "the sender (from)");
		return false;
	}
	struct buf msg;
	buf_init(&msg, 3 * MAIL_MAX_BODY + 65536);
	build_message(&msg, l, cfg->from);
	if (buf_failed(&msg)) {
		snprintf(err, errlen, "the letter is too large");
		buf_free(&msg);
		return false;
	}
	char from[300], to[300];
	snprintf(from, sizeof from, "<%s>", cfg->from);
	snprintf(to, sizeof to, "<%s>", l->to);
	struct upload up = {.data = buf_str(&msg), .len = msg.len};
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *rcpt = curl_slist_append(NULL, to);
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	if (c && rcpt) {
		curl_easy_setopt(c, CURLOPT_URL, cfg->relay);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
		enum mail_tls tls = mail_tls_for(cfg->relay, cfg->tls_none);
		curl_easy_setopt(c, CURLOPT_USE_SSL,
				 tls == MAIL_TLS_REQUIRED ? (long)CURLUSESSL_ALL
				 : tls == MAIL_TLS_TRY	  ? (long)CURLUSESSL_TRY
							  : (long)CURLUSESSL_NONE);
		curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
		curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, read_upload);
		curl_easy_setopt(c, CURLOPT_READDATA, &up);
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)SESSION_TIMEOUT);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
		rc = curl_easy_perform(c);
	}
	if (rc == CURLE_USE_SSL_FAILED) {
		snprintf(err, errlen,
			 "the relay does not offer TLS (STARTTLS), which a relay off loopback must; "
			 "use smtps://, a relay with STARTTLS, or set [mail] tls = none (%s)",
			 curl_err[0] ? curl_err : curl_easy_strerror(rc));
	} else if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
	}
	if (rc != CURLE_OK) {
		/* The relay's words may come back in the message: keep it printable ASCII. */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7f)
				*p = '?';
	}
	curl_easy_cleanup(c);
	curl_slist_free_all(rcpt);
	buf_free(&msg);
	return rc == CURLE_OK;
}

/* ---- delivery -------------------------------------------------------------------------------- */

static int64_t backoff(int attempts)
{
	int64_t s = BACKOFF_FIRST;
	for (int i = 1; i < attempts && s < BACKOFF_MAX; i++)
		s *= 2;
	return s < BACKOFF_MAX ? s : BACKOFF_MAX;
}

/* The due letters in the order of outbox_pending (status, next_attempt): a letter waits for
 * its time, then goes before the later ones; letters made together keep their order (id). */
const char mail_due_sql[] = "SELECT id, created, attempts, to_addr, subject, body FROM outbox WHERE status = "
			    "'pending' AND next_attempt <= ? ORDER BY next_attempt, id LIMIT ?";
/* The claim: several workers (threads, or nodes on one PostgreSQL database) may load the same due
 * letter, and only the one whose UPDATE changes the row sends it. On PostgreSQL the second UPDATE
 * waits for the first's row lock, then re-checks its WHERE on the row as committed (READ
 * COMMITTED): next_attempt has moved past now, no row changes, the letter is skipped. An UPDATE
 * claim rather than SELECT ... FOR UPDATE SKIP LOCKED: SQLite has no row locks, and the claim
 * must outlive its transaction (the letter goes out after the commit). */
const char mail_claim_sql[] = "UPDATE outbox SET next_attempt = ? WHERE id = ? AND status = 'pending' AND "
			      "next_attempt <= ?";
const char mail_sent_sql[] = "UPDATE outbox SET status = 'sent', sent_at = ?, last_error = '' WHERE id = ?";
const char mail_failed_sql[] = "UPDATE outbox SET last_error = ?, attempts = attempts + 1, next_attempt = ?, "
			       "status = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END WHERE id = ?";
/* The desk's outbox page: newest first, a page at a time by id (keyset). */
const char mail_outbox_page_sql[] = "SELECT id, created, to_addr, subject, status, attempts, last_error FROM "
				    "outbox WHERE id < ? ORDER BY id DESC LIMIT ?";

int mail_outbox_page(struct db *db, struct arena *a, int64_t before, int limit, struct mail_outbox_row **out)
{
	struct db_stmt *st = db_prepare(db, mail_outbox_page_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, before);
	db_bind_int(st, 2, limit);
	struct mail_outbox_row *rows = arena_alloc(a, (size_t)(limit > 0 ? limit : 1) * sizeof *rows);
	int n = 0;
	enum db_rc rc = DB_DONE;
	while (n < limit && (rc = db_step(st)) == DB_ROW)
		rows[n++] = (struct mail_outbox_row){.id = db_col_int(st, 0),
						     .created = db_col_int(st, 1),
						     .to = arena_strdup(a, db_col_text(st, 2)),
						     .subject = arena_strdup(a, db_col_text(st, 3)),
						     .status = arena_strdup(a, db_col_text(st, 4)),
						     .attempts = db_col_int(st, 5),
						     .last_error = arena_strdup(a, db_col_text(st, 6))};
	db_finalize(st);
	*out = rows;
	return rc == DB_ROW || rc == DB_DONE ? n : -1;
}

/* Up to max due letters, copied out so that no read transaction stays open during SMTP. */
static int load_due(struct db *db, int max, struct letter **out)
{
	struct db_stmt *st = db_prepare(db, mail_due_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL));
	db_bind_int(st, 2, max);
	struct letter *ls = xcalloc((size_t)max, sizeof *ls);
	int n = 0;
	enum db_rc rc = DB_DONE;
	while (n < max && (rc = db_step(st)) == DB_ROW) {
		struct letter *l = &ls[n++];
		l->id = db_col_int(st, 0);
		l->created = db_col_int(st, 1);
		l->attempts = (int)db_col_int(st, 2);
		l->to = xstrdup(db_col_text(st, 3));
		l->subject = xstrdup(db_col_text(st, 4));
		l->body = xstrdup(db_col_text(st, 5));
	}
	db_finalize(st);
	if (n < max && rc != DB_DONE) {
		for (int i = 0; i < n; i++)
			free(ls[i].to), free(ls[i].subject), free(ls[i].body);
		free(ls);
		return -1;
	}
	*out = ls;
	return n;
}

/* Runs one UPDATE in its own (implicit) transaction; *changed gets the rows it changed. */
static bool update(struct db *db, const char *sql, const int64_t *ints, int n_ints, const char *text, int64_t *changed)
{
	struct db_stmt *st = db_prepare(db, sql);
	if (!st)
		return false;
	int i = 1;
	if (text)
		db_bind_text(st, i++, text);
	for (int k = 0; k < n_ints; k++)
		db_bind_int(st, i++, ints[k]);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	if (rc != DB_DONE)
		return false;
	if (changed)
		*changed = db_changes(db);
	return true;
}

/* mail_deliver, stopping between letters once *stop is set (the worker's shutdown). */
static int deliver(struct db *db, const struct mail_config *cfg, int max, atomic_bool *stop)
{
	if (!cfg->relay || !cfg->relay[0] || max <= 0)
		return 0;
	pthread_once(&curl_once, curl_init_once);
	struct letter *ls = NULL;
	int n = load_due(db, max, &ls);
	if (n < 0)
		return -1;
	int sent = 0;
	for (int i = 0; i < n && sent >= 0; i++) {
		struct letter *l = &ls[i];
		if (stop && atomic_load(stop))
			break;
		/* Claim it, so that another thread or node skips it while it is in flight. */
		int64_t now = (int64_t)time(NULL), changed = 0;
		int64_t claim[] = {now + CLAIM_SECONDS, l->id, now};
		if (!update(db, mail_claim_sql, claim, 3, NULL, &changed)) {
			sent = -1;
			break;
		}
		if (changed == 0)
			continue;
		char err[LAST_ERROR_MAX];
		bool ok = send_letter(cfg, l, err, sizeof err);
		now = (int64_t)time(NULL);
		if (ok) {
			int64_t v[] = {now, l->id};
			if (!update(db, mail_sent_sql, v, 2, NULL, NULL))
				sent = -1;
			else
				sent++;
		} else {
			int attempts = l->attempts + 1;
			int64_t v[] = {now + backoff(attempts), cfg->max_attempts, l->id};
			fprintf(stderr, "spravka: mail: letter %lld not delivered (attempt %d of %d): %s\n",
				(long long)l->id, attempts, cfg->max_attempts, err);
			if (!update(db, mail_failed_sql, v, 3, err, NULL))
				sent = -1;
		}
	}
	for (int i = 0; i < n; i++)
		free(ls[i].to), free(ls[i].subject), free(ls[i].body);
	free(ls);
	return sent;
}

int mail_deliver(struct db *db, const struct mail_config *cfg, int max)
{
	return deliver(db, cfg, max, NULL);
}

/* ---- the delivery thread --------------------------------------------------------------------- */

struct mail_worker {
	struct db_pool *pool;
	struct mail_config cfg; /* strings owned by the worker */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	bool wake;	     /* under lock */
	atomic_bool stop;
};

static void *worker_main(void *arg)
{
	struct mail_worker *w = arg;
	pthread_setname_np(pthread_self(), "spravka-mail");
	pthread_mutex_lock(&w->lock);
	while (!atomic_load(&w->stop)) {
		if (!w->wake) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&w->cond, &w->lock, &until);
		}
		w->wake = false;
		if (atomic_load(&w->stop))
			break;
		pthread_mutex_unlock(&w->lock);
		if (w->cfg.relay[0]) {
			int n;
			do {
				struct db *db = db_pool_get(w->pool);
				n = deliver(db, &w->cfg, WORKER_BATCH, &w->stop);
				if (n < 0)
					fprintf(stderr, "spravka: mail: cannot use the outbox: %s\n", db_errmsg(db));
				db_pool_put(w->pool, db);
			} while (n == WORKER_BATCH && !atomic_load(&w->stop));
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct mail_worker *mail_start(struct db_pool *pool, const struct mail_config *cfg)
{
	struct mail_worker *w = xcalloc(1, sizeof *w);
	w->pool = pool;
	w->cfg.relay = xstrdup(cfg->relay ? cfg->relay : "");
	w->cfg.from = xstrdup(cfg->from ? cfg->from : "");
	w->cfg.max_attempts = cfg->max_attempts;
	w->cfg.tls_none = cfg->tls_none;
	atomic_init(&w->stop, false);
	pthread_once(&curl_once, curl_init_once);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->lock, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free((char *)w->cfg.relay);
		free((char *)w->cfg.from);
		free(w);
		return NULL;
	}
	return w;
}

void mail_wake(struct mail_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->wake = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void mail_stop(struct mail_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	atomic_store(&w->stop, true);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free((char *)w->cfg.relay);
	free((char *)w->cfg.from);
	free(w);
}
