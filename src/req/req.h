/*
 * req — support requests: taking one right the first time, refusing duplicates kindly, and the
 * member's private link.
 *
 * Owns the `requests`, `messages`, `attachments`, `idempotency`, `counters`, `throttle`,
 * `deflections`, `held_additions`, `held_files` (the hashes of held files, for the sweep),
 * `request_counts` (the desk's counts per status, kept with every status change), `audit` (what
 * agents and the server did to a request) and `canned_replies` (the agents' templates) rows; the attachments' contents
 * are kept in the content-addressed store of src/files (DATA/files, or the database when cfg->files_in_db: every node
 * of a PostgreSQL cluster reads them), removed only by the sweep, req_sweep_files, never on the request path. Checks
 * every field (Russian messages per field, what was typed is the caller's to keep), detects the file type from the
 * content (JPEG, PNG, PDF only), refuses a duplicate (an open request of the same member on the same topic, or with
 * nearly the same text), replays the answer of a repeated Idempotency-Key or form token, enforces the creation rate
 * limits, and writes a request, its first message, its attachments and its notification in one durable transaction
 * (files fsynced before the commit). Never renders HTML or JSON; never trusts a file name.
 *
 * Private links: a request is read or written only through its link /r/<token> (or by an agent
 * in the desk); a member ID, a number, an e-mail or a phone is never enough. The token is 256
 * bits, base64url (43 characters): HMAC-SHA-256 of the request's random link_nonce under the
 * server's key (cfg->link_key, DATA/link.key). The database keeps the nonce and the token's
 * SHA-256, not the token, so a copy of the database alone opens no request, while the server can
 * put the same link into every letter it writes (req_link) without ever rotating it. Tokens are
 * looked up by their hash (an index lookup, no comparison of secrets).
 *
 * Idempotency: a key ("api:KEY", "form:TOKEN", "reply:TOKEN") is bound to its route and to the
 * SHA-256 of a canonical form of the input (req_input_digest). The same key with the same input
 * replays the first answer (link included) for 24 hours; with another input or route it gives
 * REQ_MISMATCH and nothing of the first answer. req_prune removes expired keys.
 *
 * Duplicates are answered according to who asks: when the submitted e-mail or phone is the open
 * request's own contact, its number, status and date; otherwise nothing about it, and its link is
 * mailed again to its own e-mail (at most 3 times a day per request). Text and files offered from
 * the duplicate screen are held (held_additions: at most REQ_MAX_HELD per request, 72 hours) and
 * become a message only when confirmed on the request's private page.
 */
#ifndef SPRAVKA_REQ_H
#define SPRAVKA_REQ_H

#include "../core/workers.h"
#include "../db/db.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct http_file;

struct req_topic {
	const char *slug, *title;
	const char *section; /* knowledge-base section for suggestions */
	bool order;	     /* the order number field applies */
};

struct req_config {
	const char *data_dir; /* attachments go to DATA/files (uploads come in DATA/tmp) */
	/* The attachments' contents live in the database (files.h), not in DATA/files: the server sets it
	 * on PostgreSQL, so that a file stored through one node is read through any other. */
	bool files_in_db;
	/* With files_in_db: connections for the file threads, which store a creation's files before
	 * its transaction (req_create_submit); NULL in the synchronous calls (they use their db). */
	struct db_pool *files_pool;
	int member_id_min, member_id_max; /* digits */
	const struct req_topic *topics;
	int n_topics;
	int max_per_ip_hour, max_per_member_day;
	int auto_close_days;
	const char *public_url;	      /* for links in mail, e.g. "https://help.example.com" */
	const char *const *countries; /* allowed country codes */
	int n_countries;
	const char *mail_from_name;
	/* 32 bytes: the key private links are derived with (DATA/link.key). NULL: a random key for
	 * this process only (unit tests). */
	const unsigned char *link_key;
};

/* The default topics (registration ... other). */
extern const struct req_topic req_default_topics[];
extern const int req_default_topic_count;

#define REQ_MAX_FILES 5
#define REQ_MAX_FILE_BYTES (10u << 20)
#define REQ_MAX_TOTAL_BYTES (25u << 20)
#define REQ_MIN_DESCRIPTION 20

struct req_input {
	const char *member_id, *name, *email, *phone, *country, *topic, *order_number;
	const char *subject, *description;
	const char *honeypot;	 /* must be empty */
	struct http_file *files; /* taken (moved) on success */
	int n_files;
	const char *idempotency_key; /* "api:KEY" or "form:TOKEN", or NULL */
	const char *route;	     /* what the key is bound to, e.g. "POST /api/v1/requests" */
	const char *client_ip;
};

#define REQ_MAX_ERRORS 16
struct req_errors {
	int n;
	const char *field[REQ_MAX_ERRORS];
	const char *message[REQ_MAX_ERRORS]; /* Russian */
};

enum req_result {
	REQ_CREATED,   /* 201: out->number, out->token, out->status */
	REQ_REPLAYED,  /* the same key again: out->stored_status and out->stored_json */
	REQ_DUPLICATE, /* 409: out->existing_* when existing_owner, else out->contact_masked */
	REQ_INVALID,   /* 422: errors */
	REQ_LIMITED,   /* 429: out->message */
	REQ_SPAM,      /* the honeypot was filled: pretend success, store nothing */
	REQ_FAILED,    /* 500/503: the database */
	REQ_MISMATCH,  /* 422: the idempotency key was used with another input or route */
};

/* What happened to the private link when a duplicate or a held addition mailed it. */
enum req_link_mail {
	REQ_LINK_SENT,	   /* a letter with the link is in the outbox */
	REQ_LINK_RECENT,   /* not again: it was mailed too often lately */
	REQ_LINK_NO_EMAIL, /* the request has only a phone; no SMS is sent */
};

struct req_outcome {
	const char *number, *token, *status; /* created */
	int stored_status;		     /* replayed */
	const char *stored_json;
	const char *existing_number, *existing_status; /* only when existing_owner */
	int64_t existing_created;
	bool existing_owner;	    /* the submitted e-mail or phone is the open request's contact */
	const char *contact_masked; /* a duplicate or a hold: "a***@example.org", "+7 *** ***-**-22" */
	enum req_link_mail link_mail;
	const char *message;
	struct req_errors errors;
	/* normalized input, for re-display */
	const char *phone_e164;
};

/* The topic with this slug, or NULL. */
const struct req_topic *req_topic(const struct req_config *cfg, const char *slug);
/* "+7 (912) 345-67-89", "89123456789" → "+79123456789"; NULL when not a phone number. */
const char *req_normalize_phone(struct arena *a, const char *phone);
/* A plausible e-mail address (one @, a dot in the domain, no spaces, <= 254 bytes). */
bool req_email_valid(const char *email);
/* "jpeg", "png", "pdf" from the first bytes, or NULL. */
const char *req_sniff_type(const unsigned char *head, size_t n);
/* A file name safe to keep as metadata: no path, no control, bidi or zero-width characters
 * (left out), <= 200 chars; "file" when nothing is left. The file itself is always kept. */
const char *req_clean_filename(struct arena *a, const char *name);
/* The name a download gets: the stored name's base with the extension of the detected type
 * (mime): "photo.html" as image/jpeg → "photo.jpg", "scan" as PDF → "scan.pdf"; a name whose
 * extension already fits ("a.JPEG") is kept. */
const char *req_download_name(struct arena *a, const char *filename, const char *mime);
/* The Content-Disposition of a download (RFC 6266): attachment, an ASCII fallback filename=
 * (no quote, backslash, '%', ';' or control character can reach it) and filename*=UTF-8''... */
const char *req_content_disposition(struct arena *a, const char *filename, const char *mime);
/* "anna@example.org" → "a***@example.org"; "+79123456722" → "+7 *** ***-**-22" (other countries:
 * "+** *** ***-**-22"); "" → "". */
const char *req_mask_email(struct arena *a, const char *email);
const char *req_mask_phone(struct arena *a, const char *e164);
/*
 * True when the submitted e-mail (trimmed, case-insensitive) or phone (normalised with
 * req_normalize_phone) is the stored contact of a request (stored: trimmed e-mail, E.164 phone).
 * An empty field never matches.
 */
bool req_contact_matches(struct arena *a, const char *stored_email, const char *stored_phone, const char *email,
			 const char *phone);
/*
 * The hex SHA-256 an idempotency key is bound to: over "spravka-idempotency-v1", the route, each
 * field of in (member_id, name, email, phone, country, topic, order_number, subject, description)
 * as name, byte length and raw bytes (absent and empty differ), and each file's SHA-256 and size
 * in order. Not over the raw body: a retry's multipart boundary differs, and the same fields as
 * JSON or as a form give the same digest. File names are not part of it.
 */
const char *req_input_digest(struct arena *a, const char *route, const struct req_input *in);

struct http_request;
/*
 * Fills in's text fields and files from a multipart or urlencoded form. A field name with
 * brackets (`topic[]`) or a field sent twice is not coerced: it is reported in shape (Russian
 * messages) and false is returned; a value that is not valid UTF-8 is kept as "" (the check in
 * req_create reports it). The values live as long as req.
 */
bool req_input_from_form(const struct http_request *req, struct req_input *in, struct req_errors *shape);

/*
 * Checks and creates a request. On REQ_CREATED the files of in were moved into the attachment
 * store (their paths set to NULL) and, with an idempotency key, the answer
 * {"number","status","url"} is stored with it in the same transaction; the same key later gives
 * REQ_REPLAYED with that JSON. Duplicates, invalid input and rate limits store nothing, so a
 * retry is judged afresh.
 */
enum req_result req_create(struct db *db, const struct req_config *cfg, struct arena *a, const struct req_input *in,
			   struct req_outcome *out);

/*
 * The same in two steps, for the server: the checks and the files on the handler's connection,
 * then the transaction on the group committer (db.h), which commits many creations with one
 * flush to disk. The job lives in the request's arena; fill cfg, a, in and finish.
 */
struct req_create_job {
	struct db_job job; /* first: the group's handle */
	const struct req_config *cfg;
	struct arena *a;
	struct req_input in;
	/* The outcome, as req_create gives it. */
	enum req_result result;
	struct req_outcome out;
	/* Called on the group's thread once result is final (the request committed or not). */
	void (*finish)(struct req_create_job *j);
	void *user;
	/* Between the steps. */
	const char **mimes;
	const char *member, *topic, *desc, *ip_key, *member_key;
	const char *route, *digest; /* the idempotency key's binding */
	struct work files_work;	    /* storing the files on a worker thread */
	struct db_group *group;
	bool files_failed;
};
/*
 * Step 1 on db: replay, honeypot, field checks, rate limits. False when the result is already
 * final (REQ_REPLAYED, REQ_SPAM, REQ_INVALID, REQ_DUPLICATE, REQ_LIMITED): then there is no
 * step 2 and finish is not called.
 */
bool req_create_check(struct db *db, struct req_create_job *j);
/*
 * Step 2: the files made durable on a thread of files (so that their fsyncs do not hold an
 * HTTP thread and several run at once), then the transaction on g; j->finish is called from
 * g's thread.
 */
void req_create_submit(struct db_group *g, struct workers *files, struct req_create_job *j);

/* A request as the member or an agent sees it. */
struct req_message {
	int64_t id;
	const char *author; /* member, agent, system */
	const char *agent;  /* agent's login, or NULL */
	bool internal;
	const char *body;
	int64_t created;
};

struct req_attachment {
	int64_t id, message_id;
	const char *sha256, *mime, *filename;
	int64_t size;
};

struct req_view {
	int64_t id;
	const char *number, *member_id, *name, *email, *phone, *country, *topic, *order_number;
	const char *subject, *status, *assignee;
	int64_t created, updated;
	const char *merged_from;	/* the link's own request, when it was merged into this one */
	const char *merged_into_number; /* then this request's number */
	struct req_message *messages;
	int n_messages;
	int n_messages_total; /* the request's messages in all (more than n_messages: the latest shown) */
	struct req_attachment *attachments;
	int n_attachments;
};

/* Messages the member's view holds at most, the latest: a thread of any length stays a page far
 * below the response cap (50 texts of 10,000 characters, escaped, are a few MB at worst). */
#define REQ_MEMBER_MESSAGES 50
/*
 * The request a private link opens: the request of the token (or, when it was merged, the one
 * it was merged into, with merged_into_number set). 1 found, 0 not, -1 error. Internal notes
 * are left out when member is true, and then only the latest REQ_MEMBER_MESSAGES messages are
 * loaded (n_messages_total counts them all).
 */
int req_by_token(struct db *db, struct arena *a, const char *token, bool member, struct req_view *out);
/* The same by number, for the desk (internal notes included). */
int req_by_number(struct db *db, struct arena *a, const char *number, struct req_view *out);

/*
 * The member's reply through the private link: a message (and files), reopens the request
 * (resolved, waiting or closed → open). form_key makes a double submit add one message; it is
 * bound to this request and this text and files (REQ_MISMATCH otherwise).
 * REQ_CREATED on success; REQ_INVALID with errors; REQ_FAILED on a database error.
 */
enum req_result req_member_reply(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id,
				 const char *text, struct http_file *files, int n_files, const char *form_key,
				 struct req_outcome *out);

/*
 * Adds text and files from the duplicate screen to the request that the private link `link`
 * opens (the whole URL or the token), as a member's reply. Nothing else identifies the request:
 * a number or a member ID opens nothing. REQ_CREATED (out->existing_number: the request's
 * number), REQ_INVALID (field "append_to" when the link opens nothing: the caller counts it as a
 * wrong token; or bad text/files), REQ_MISMATCH or REQ_FAILED.
 */
enum req_result req_append(struct db *db, const struct req_config *cfg, struct arena *a, const char *link,
			   const char *text, struct http_file *files, int n_files, const char *form_key,
			   struct req_outcome *out);

#define REQ_MAX_HELD 5 /* held additions waiting per request; a new one drops the oldest */
#define REQ_HELD_SECONDS (72 * 3600)
/*
 * Holds in->description and in->files for the open request that in (member ID, topic and the
 * duplicate's text `original`, or in->description when NULL) is a duplicate of, and mails its
 * private link with the held text to the request's e-mail (at most 5 such letters a day per
 * request). The addition becomes a message only through req_held_resolve, i.e. on the private
 * page. REQ_CREATED (out->contact_masked, out->link_mail), REQ_REPLAYED (out->stored_json:
 * {"contact","mail"}), REQ_INVALID (bad text or files; field "request" when there is no such
 * open request any more), REQ_LIMITED, REQ_MISMATCH or REQ_FAILED.
 */
enum req_result req_hold(struct db *db, const struct req_config *cfg, struct arena *a, const struct req_input *in,
			 const char *original, struct req_outcome *out);

struct req_held {
	int64_t id, created, expires;
	const char *body;
	const char **filenames;
	int n_files;
};
/* The additions held for request_id that have not expired, oldest first; -1 on error. */
int req_held_list(struct db *db, struct arena *a, int64_t request_id, struct req_held **out);
/*
 * Confirms (a member message with its files; the request reopens as on a reply) or discards a
 * held addition of request_id. REQ_CREATED, REQ_INVALID (no such addition, or expired) or
 * REQ_FAILED.
 */
enum req_result req_held_resolve(struct db *db, struct arena *a, int64_t request_id, int64_t held_id, bool confirm);

/*
 * "Потеряли ссылку?": mails the links of member_id's requests that are not closed (at most 20)
 * to the e-mail stored on each (one letter per address). Returns the number of letters, -1 on a
 * database error. The caller throttles and answers the same whatever the count.
 */
int req_send_links(struct db *db, const struct req_config *cfg, struct arena *a, const char *member_id);

/*
 * The private link of request_id as an absolute URL (cfg->public_url + /r/<token>), for a
 * letter. A request made before links were derived gets a derived link now (stored as its
 * link_hash; its first link keeps working), so call it inside the caller's write transaction.
 * NULL on a database error.
 */
const char *req_link(struct db *db, struct arena *a, const struct req_config *cfg, int64_t request_id);

/*
 * The key private links are derived with, kept in the database (the `secrets` row "link") so that
 * every node of a cluster makes and opens the same links. The first call on a database stores
 * imported (32 bytes: the DATA/link.key of an existing installation, so that the links already
 * sent keep working) or, when NULL, a random key, under ON CONFLICT (any number of nodes may
 * start at once: one key wins, every node reads it). Writes the key to key[32]; false on a
 * database error or a damaged row. The server uses it on PostgreSQL; on SQLite the key stays in
 * DATA/link.key.
 */
bool req_shared_link_key(struct db *db, const unsigned char *imported, unsigned char key[32]);
/* The random 32-byte key of the `secrets` row name (made on first use, the same on every node),
 * for other modules' keyed hashes (the feedback's voters: web/). False on a database error. */
bool req_shared_key(struct db *db, const char *name, unsigned char key[32]);

/* Deletes expired idempotency keys and held additions, at most `batch` of each; the number
 * deleted, -1 on error. */
int req_prune(struct db *db, int batch);

/*
 * A token a page carries to vouch that a later POST comes from that page, as served here:
 * "<issued>.<HMAC-SHA256 of purpose and issued>" under a random key kept in the database
 * (`secrets`, made on first use). NULL on a database error. Not secret from whoever loads the
 * page; it keeps other sites' pages and blind scripts out, and pairs with a throttle.
 */
const char *req_form_token(struct db *db, struct arena *a, const char *purpose, int64_t issued);
/* True when token is req_form_token's for purpose, issued at most max_age seconds ago (compared
 * in constant time). */
bool req_form_token_ok(struct db *db, struct arena *a, const char *purpose, const char *token, int max_age);

/* "Это решило мой вопрос": records a deflection. */
bool req_deflect(struct db *db, const char *slug, const char *topic);

/* ---- insights (req_insights.c; issue #10, the editors' reports) ---- */
struct req_insight_count {
	const char *key; /* a topic's slug or a country's code */
	int64_t n;
};
/* The requests created since (unix time), by topic (or by country), the most first, at most limit:
 * their number, -1 on error. */
int req_insights_by(struct db *db, struct arena *a, bool by_country, int64_t since, int limit,
		    struct req_insight_count **out);
/* The deflections ("Это решило мой вопрос") recorded since; -1 on error. */
int64_t req_deflections_since(struct db *db, int64_t since);
extern const char req_by_topic_sql[], req_by_country_sql[], req_deflections_sql[];

/*
 * Counts a hit of key in the current window of window_s seconds; true when the count is now
 * above limit (the caller refuses). Writes at once (its own transaction unless one is open).
 */
bool req_throttle_hit(struct db *db, const char *key, int window_s, int limit);
/* True when key is already at or above limit in its window (no hit counted). */
bool req_throttled(struct db *db, const char *key, int window_s, int limit);
/* The hits of key in its current window (0 when none), -1 on a database error. */
int req_throttle_count(struct db *db, const char *key, int window_s);

/* The longest throttle window any caller uses; rows older than this are pruned. */
#define REQ_THROTTLE_MAX_WINDOW (2 * 86400)
/* Deletes up to max_rows throttle rows whose window ended (older than REQ_THROTTLE_MAX_WINDOW);
 * returns how many, -1 on error. */
int req_prune_throttle(struct db *db, int max_rows);

/*
 * The file sweep (files_sweep over cfg's store, with the attachments and the held files as its
 * references): removes stored contents that no row refers to and that were last stored or reused
 * before older_than (unix time; the grace period), and uploads in DATA/tmp older than that. At
 * most max_checks stored contents are looked at per call, in hash order after cursor (65 bytes,
 * "" at first; updated, "" again after the last). Nothing on the request path deletes a stored
 * file: a creation that reuses stored content touches it, and the sweep makes a candidate
 * unreachable and looks at its time and references again before removing it, so a referenced
 * file is never removed. Returns how many files were removed, -1 when the store cannot be read.
 */
int req_sweep_files(struct db *db, const struct req_config *cfg, int64_t older_than, int max_checks, char cursor[65]);
/*
 * The stored content of an attachment (its sha256, hex) opened for reading: a descriptor the
 * caller owns (files_open: from DATA/files, or copied out of the database a chunk at a time).
 * -1 with errno ENOENT when it is not stored, another errno on an I/O or database error.
 */
int req_file_open(struct db *db, const struct req_config *cfg, const char *sha256);

/* Random token (256 bits, base64url, 43 chars) and the hex SHA-256 it is stored as. */
const char *req_new_token(struct arena *a);
const char *req_token_hash(struct arena *a, const char *token);

/* ---- the desk's changes (desk_ops.c); each is one transaction with its audit row and, when
 * the member should know, its outbox mail ---- */

/* A public answer (status becomes new_status, or 'waiting' when NULL) and mail to the member. */
bool req_agent_reply(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id, int64_t user_id,
		     const char *text, const char *new_status);
/* An internal note, never shown to the member. */
bool req_agent_note(struct db *db, int64_t request_id, int64_t user_id, const char *text);
/* Assigns to an agent (0: nobody). */
bool req_assign(struct db *db, int64_t request_id, int64_t user_id, int64_t assignee);
/* Changes the status (and mails the member). False for an unknown status. */
bool req_set_status(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id, int64_t user_id,
		    const char *status);
/* One side of a merge, as the confirmation shows it. */
struct req_merge_side {
	int64_t id;
	const char *number, *subject, *member_id; /* member_id trimmed, as the form keeps it */
};
/*
 * Whether request id may be merged into target_number (trimmed): both exist and are not merged
 * away, they differ, and they belong to the same member ID (trimmed, compared exactly). True
 * with both sides filled; false with the reason for the agent in err (Russian). Reads only.
 */
bool req_merge_check(struct db *db, struct arena *a, int64_t request_id, const char *target_number,
		     struct req_merge_side *from, struct req_merge_side *to, char *err, size_t errlen);
/* Merges request id into target (by number) after req_merge_check passes again inside the
 * transaction: messages and files move, the link keeps working (it shows the target, which
 * holds only this member's messages), audit rows on both. False with err otherwise. */
bool req_merge(struct db *db, struct arena *a, int64_t request_id, int64_t user_id, const char *target_number,
	       char *err, size_t errlen);
/* Closes requests resolved more than auto_close_days ago (at most 100 a call), each with an
 * audit row without a user and a letter; returns how many, -1 on error. */
int req_auto_close(struct db *db, const struct req_config *cfg);
/* Russian name of a status. */
const char *req_status_ru(const char *status);

/* ---- the desk's reads (desk_reads.c); the desk runs no SQL of its own ---- */

/*
 * The queue. A list is one keyset query per status it holds, each reading an index in
 * (updated, id) order and stopping after a page, merged by (updated, id): so a page costs the
 * same at any depth and any number of requests (docs/architecture.md, "The desk at a million
 * requests"). The narrowest filter given drives the index (req_queue_sql); the others are
 * checked on the rows it yields.
 */
#define REQ_QUEUE_PAGE 100
struct req_queue_filter {
	const char *status;	     /* NULL or "": new, open and waiting; "all"; or one status (another: none) */
	const char *topic, *country; /* NULL: any */
	const char *assignee;	     /* NULL: anyone; "me": user_id; "none": nobody */
	const char *member;	     /* a member ID, or NULL */
	int64_t user_id;	     /* the agent asking ("me") */
	int64_t created_before;	     /* only requests created at or before this unix time */
	bool paged;		     /* continue after (after_updated, after_id) in the list's order */
	int64_t after_updated, after_id;
};
struct req_queue_row {
	int64_t id, created, updated;
	const char *number, *subject, *member_id, *topic, *country, *status;
	const char *assignee; /* login, or NULL */
};
/*
 * One page of the list f asks for: the open statuses oldest first (who has waited longest), the
 * others and "all" newest first. Fills *rows (in a) with at most REQ_QUEUE_PAGE rows and *more
 * when a next page exists (continue after the last row's updated and id); returns the number
 * of rows, -1 on a database error.
 */
int req_queue(struct db *db, struct arena *a, const struct req_queue_filter *f, struct req_queue_row **rows,
	      bool *more);
/*
 * The queue's statements: one status's list (status = ?) in `updated` order, ascending or
 * descending (desc), with the filter that drives the index; open adds the term that lets the
 * partial index requests_open serve an open status. For the plans test and `spravka explain`.
 */
enum req_queue_driver {
	REQ_QUEUE_ANY,
	REQ_QUEUE_TOPIC,
	REQ_QUEUE_COUNTRY,
	REQ_QUEUE_MINE,
	REQ_QUEUE_UNASSIGNED,
	REQ_QUEUE_MEMBER,
	REQ_QUEUE_DRIVERS
};
const char *req_queue_sql(enum req_queue_driver driver, bool desc, bool open);

/* One row of a request's audit log, oldest first. */
struct req_audit_entry {
	int64_t at;
	const char *user;     /* the agent's login; NULL: the server itself (auto-closing) */
	const char *action;   /* reply, note, assign, status, merge, merged-in */
	const char *detail;   /* the status, the other request's number... as written */
	const char *assignee; /* an "assign" row: the login assigned, NULL for nobody */
};
/* The audit log of request_id into *out (in a); the count, -1 on a database error. */
int req_audit_list(struct db *db, struct arena *a, int64_t request_id, struct req_audit_entry **out);

/* A canned reply (the agents' templates). */
struct req_canned {
	int64_t id;
	const char *title, *body; /* body "" unless asked for */
};
/* Every canned reply by title, with their bodies when bodies; the count, -1 on error. */
int req_canned_list(struct db *db, struct arena *a, bool bodies, struct req_canned **out);
/* The body of canned reply id (in a), NULL when there is none or on error. */
const char *req_canned_body(struct db *db, struct arena *a, int64_t id);
/* Adds a canned reply (title and body: UTF-8, checked by the caller); false on error. */
bool req_canned_add(struct db *db, const char *title, const char *body);

/* Attachment id: 1 with its sha256 (hex), mime and stored (untrusted) filename in *out (in a);
 * 0 when there is none; -1 on a database error. */
int req_attachment(struct db *db, struct arena *a, int64_t id, struct req_attachment *out);

/* ---- counts per status (request_counts: requests not merged away) ---- */

#define REQ_N_STATUSES 5
/* new, open, waiting, resolved, closed: the first three are the open queue. */
extern const char *const req_statuses[REQ_N_STATUSES];
/*
 * The kept count of each status of req_statuses (one read of a small table: DB_SLOTS rows per
 * status, summed; never a count of the requests). False on a database error.
 */
bool req_counts(struct db *db, int64_t n[REQ_N_STATUSES]);
/*
 * Steps st, an UPDATE of request id bound by the caller, and moves the request between the kept
 * counts when its status or its merged state changed (read before, with the row locked on
 * PostgreSQL, and after, by id). Every
 * change of requests.status or merged_into goes through here (or req_counts_add for a new row),
 * inside the caller's write transaction, so that the counts commit or roll back with it.
 */
bool req_update_counted(struct db *db, int64_t id, struct db_stmt *st);
/* Adds delta to the kept count of status (a creation: "new", +1). */
bool req_counts_add(struct db *db, const char *status, int64_t delta);
/*
 * The repair: counts every status from the requests (a read of the whole status index: for
 * `spravka repair` and tests, never for a page) into real, compares with the kept counts (kept)
 * and, when fix is true and they differ, writes the real ones, in one write transaction.
 * Returns how many statuses differed, -1 on a database error.
 */
int req_counts_repair(struct db *db, bool fix, int64_t kept[REQ_N_STATUSES], int64_t real[REQ_N_STATUSES]);

/*
 * SQL texts of the queries whose plans matter at a million requests, as the module runs them:
 * for the plans test (tests/unit/test_plans.c) and `spravka explain` (desk/plans.c).
 */
extern const char req_counts_sql[], req_counts_add_sql[], req_counted_state_sql[], req_counts_real_sql[];
extern const char req_counted_lock_sql[];
extern const char req_auto_close_sql[], req_view_by_number_sql[], req_view_by_id_sql[], req_view_by_token_sql[];
extern const char req_view_messages_sql[], req_view_message_count_sql[], req_view_attachments_sql[],
    req_duplicate_sql[], req_throttle_sql[];
extern const char req_throttle_hit_sql[], req_prune_idempotency_sql[], req_prune_held_sql[], req_replay_sql[];
extern const char req_create_limits_sql[], req_create_hits_sql[];
extern const char req_prune_throttle_sql[], req_send_links_sql[], req_held_list_sql[], req_file_referenced_sql[];
extern const char req_audit_sql[], req_canned_titles_sql[], req_canned_list_sql[], req_canned_body_sql[],
    req_attachment_sql[];

#endif
