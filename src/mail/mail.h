/*
 * mail — e-mail to members through the outbox table.
 *
 * A member-visible event (a request created, answered, its status changed) writes its letter into
 * the `outbox` table with mail_enqueue(), inside the event's own transaction: the letter exists if
 * and only if the event does. Delivery is separate and may happen much later: mail_deliver() takes
 * pending letters whose time has come and hands each to the configured SMTP relay through libcurl,
 * one SMTP session per letter, and records every outcome at once (committed before the next letter
 * starts). A failed letter is tried again after 30 s, 60 s, 120 s... (at most an hour apart) until
 * it has failed max_attempts times; then its status is 'failed' and it stays in the outbox for the
 * desk. With no relay configured nothing is sent: letters stay 'pending' in the outbox, visible
 * in the desk. mail_start() runs mail_deliver() on its own thread once a second.
 *
 * What it owns: the outbox rows' delivery columns (status, attempts, next_attempt, last_error,
 * sent_at), the letter's wire format (RFC 5322 + MIME: UTF-8 subject as RFC 2047 base64 words, a
 * text/plain UTF-8 body in base64, CRLF line ends), and the delivery thread.
 *
 * What it never does: decide who is told about what (the callers do), commit or roll back the
 * caller's transaction, write a header from unchecked text (an address or subject with CR or LF
 * is refused, so no header can be injected), or send one letter twice on purpose. Delivery is at
 * least once: a letter is claimed before it is sent, so several threads or nodes never send the
 * same letter, but a crash between the relay's acceptance and the recorded outcome sends that one
 * letter again after the claim expires (it keeps its Message-ID, so a mail client can tell).
 */
#ifndef SPRAVKA_MAIL_H
#define SPRAVKA_MAIL_H

#include <stdbool.h>
#include <stdint.h>

struct db;
struct db_pool;
struct mail_worker;

struct mail_config {
	const char *relay; /* "smtp://127.0.0.1:2525" (smtps:// for TLS); "" = keep mail in the outbox */
	const char *from;  /* envelope sender and From: address */
	int max_attempts;  /* failed deliveries before the status becomes 'failed' (>= 1) */
	bool tls_none;	   /* [mail] tls = none: a relay off loopback may be used without TLS */
};

/* How a session with the relay uses TLS (libcurl's CURLOPT_USE_SSL). */
enum mail_tls {
	MAIL_TLS_REQUIRED, /* CURLUSESSL_ALL: STARTTLS (or smtps://) or the letter fails */
	MAIL_TLS_TRY,	   /* CURLUSESSL_TRY: a relay on loopback, TLS when it offers it */
	MAIL_TLS_OFF,	   /* CURLUSESSL_NONE: [mail] tls = none, set explicitly */
};
/* True when the relay URL's host is on loopback: localhost, 127.0.0.0/8, ::1 (or ::ffff:127.x). */
bool mail_relay_loopback(const char *relay);
/*
 * The TLS a session uses: the first letter carries the member's private link, so TLS is
 * required unless the relay is on loopback (then tried) or tls_none is set (then not used).
 */
enum mail_tls mail_tls_for(const char *relay, bool tls_none);

/* Longest accepted body, in bytes. */
#define MAIL_MAX_BODY (1u << 20)
/* Longest accepted subject, in bytes. */
#define MAIL_MAX_SUBJECT 1000

/*
 * True when s looks like a deliverable address: local@domain, printable ASCII without white space,
 * quotes, angle brackets, commas or semicolons, at most 254 bytes, one '@', a domain of letters,
 * digits, '-' and '.' with no empty label. A light check, not RFC 5321's full grammar.
 */
bool mail_address_valid(const char *s);

/*
 * Adds one letter to the outbox inside the caller's open transaction (it never commits or rolls
 * back). request_id 0 means no request. Subject and body are UTF-8 text; the body's line ends may
 * be LF or CRLF. Returns false, adding nothing, when `to` is not a valid address
 * (mail_address_valid), the subject contains CR, LF or another control character other than tab,
 * is invalid UTF-8 or longer than MAIL_MAX_SUBJECT, the body is invalid UTF-8 or longer than
 * MAIL_MAX_BODY; and on a database error (db_errmsg tells, e.g. a request_id that does not exist).
 */
bool mail_enqueue(struct db *db, int64_t request_id, const char *to, const char *subject, const char *body);

/*
 * Sends up to max pending letters whose next_attempt <= now, oldest first (by next_attempt, then
 * id: the order of the index outbox_pending), each in its own SMTP
 * session to cfg->relay (connect timeout 5 s, whole session 15 s). Call it outside a transaction:
 * every claim and outcome is committed as it happens. On success the letter gets status 'sent' and
 * sent_at; on failure attempts + 1, last_error (curl's message) and next_attempt = now +
 * min(30 * 2^(attempts - 1), 3600) seconds, and status 'failed' once attempts reaches
 * cfg->max_attempts. Returns the number sent, or -1 on a database error (letters sent before it
 * stay recorded as sent). With relay "" it does nothing and returns 0.
 */
int mail_deliver(struct db *db, const struct mail_config *cfg, int max);

/*
 * Starts the delivery thread: every second, or sooner after mail_wake(), it takes a connection
 * from the pool, calls mail_deliver() and gives the connection back. cfg's strings are copied.
 * With relay "" the thread never touches the database. Returns NULL when the thread cannot be
 * started. The pool must outlive the worker.
 */
struct mail_worker *mail_start(struct db_pool *pool, const struct mail_config *cfg);
/* Asks the worker to look at the outbox now (call it after committing an enqueue). NULL is allowed. */
void mail_wake(struct mail_worker *w);
/*
 * Stops the worker and joins its thread: a letter in flight is finished (at most the session
 * timeout), no further letter is started. Frees w; NULL is allowed.
 */
void mail_stop(struct mail_worker *w);

/* One letter as the desk's outbox page shows it. */
struct mail_outbox_row {
	int64_t id, created, attempts;
	const char *to, *subject, *status, *last_error;
};
struct arena;
/*
 * The desk's outbox page: up to limit letters with an id below before, newest first (a keyset:
 * the next page is below the last id shown). Fills *out (in a); returns the count, -1 on a
 * database error.
 */
int mail_outbox_page(struct db *db, struct arena *a, int64_t before, int limit, struct mail_outbox_row **out);

/* SQL texts, for the plans test and `spravka explain`; mail_outbox_page_sql is the desk's
 * outbox page (id < ?, limit). */
extern const char mail_due_sql[], mail_claim_sql[], mail_sent_sql[], mail_failed_sql[], mail_outbox_page_sql[];

#endif
