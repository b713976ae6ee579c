/*
 * req — support requests: taking one right the first time, refusing duplicates kindly, and the
 * member's private link.
 *
 * Owns the `requests`, `messages`, `attachments`, `idempotency`, `counters`, `throttle` and
 * `deflections` rows and the content-addressed attachment files under DATA/files. Checks every
 * field (Russian messages per field, what was typed is the caller's to keep), detects the file
 * type from the content (JPEG, PNG, PDF only), refuses a duplicate (an open request of the same
 * member on the same topic, or with nearly the same text), replays the answer of a repeated
 * Idempotency-Key or form token, enforces the creation rate limits, and writes a request, its
 * first message, its attachments and its notification in one durable transaction (files fsynced
 * before the commit). Never renders HTML or JSON; never trusts a file name.
 *
 * Tokens: 256 random bits (libsodium), base64url; the database keeps only their SHA-256, so a
 * copy of the database opens no request. The idempotency table keeps the first answer (link
 * included) for 24 hours so that a retry gets the same answer.
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
	bool order;          /* the order number field applies */
};

struct req_config {
	const char *data_dir;   /* attachments go to DATA/files */
	int member_id_min, member_id_max; /* digits */
	const struct req_topic *topics;
	int n_topics;
	int max_per_ip_hour, max_per_member_day;
	int auto_close_days;
	const char *public_url; /* for links in mail, e.g. "https://help.example.com" */
	const char *const *countries; /* allowed country codes */
	int n_countries;
	const char *mail_from_name;
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
	const char *honeypot;           /* must be empty */
	struct http_file *files;        /* taken (moved) on success */
	int n_files;
	const char *idempotency_key;    /* "api:KEY" or "form:TOKEN", or NULL */
	const char *client_ip;
};

#define REQ_MAX_ERRORS 16
struct req_errors {
	int n;
	const char *field[REQ_MAX_ERRORS];
	const char *message[REQ_MAX_ERRORS]; /* Russian */
};

enum req_result {
	REQ_CREATED,    /* 201: out->number, out->token, out->status */
	REQ_REPLAYED,   /* the same key again: out->stored_status and out->stored_json */
	REQ_DUPLICATE,  /* 409: out->existing_* */
	REQ_INVALID,    /* 422: errors */
	REQ_LIMITED,    /* 429: out->message */
	REQ_SPAM,       /* the honeypot was filled: pretend success, store nothing */
	REQ_FAILED,     /* 500/503: the database */
};

struct req_outcome {
	const char *number, *token, *status; /* created */
	int stored_status;                   /* replayed */
	const char *stored_json;
	const char *existing_number, *existing_status;
	int64_t existing_created;
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
/* A file name safe to keep as metadata: no path, no control or bidi characters, <= 200 chars. */
const char *req_clean_filename(struct arena *a, const char *name);

struct http_request;
/*
 * Fills in's text fields and files from a multipart or urlencoded form. A field name with
 * brackets (`topic[]`) or a field sent twice is not coerced: it is reported in shape (Russian
 * messages) and false is returned; a value that is not valid UTF-8 is kept as "" (the check in
 * req_create reports it). The values live as long as req.
 */
bool req_input_from_form(const struct http_request *req, struct req_input *in,
			 struct req_errors *shape);

/*
 * Checks and creates a request. On REQ_CREATED the files of in were moved into the attachment
 * store (their paths set to NULL) and, with an idempotency key, the answer
 * {"number","status","url"} is stored with it in the same transaction; the same key later gives
 * REQ_REPLAYED with that JSON. Duplicates, invalid input and rate limits store nothing, so a
 * retry is judged afresh.
 */
enum req_result req_create(struct db *db, const struct req_config *cfg, struct arena *a,
			   const struct req_input *in, struct req_outcome *out);

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
	struct work files_work; /* storing the files on a worker thread */
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
	const char *merged_from;        /* the link's own request, when it was merged into this one */
	const char *merged_into_number; /* then this request's number */
	struct req_message *messages;
	int n_messages;
	struct req_attachment *attachments;
	int n_attachments;
};

/*
 * The request a private link opens: the request of the token (or, when it was merged, the one
 * it was merged into, with merged_into_number set). 1 found, 0 not, -1 error. Internal notes
 * are left out when member is true.
 */
int req_by_token(struct db *db, struct arena *a, const char *token, bool member, struct req_view *out);
/* The same by number, for the desk (internal notes included). */
int req_by_number(struct db *db, struct arena *a, const char *number, struct req_view *out);

/*
 * The member's reply through the private link: a message (and files), reopens the request
 * (resolved, waiting or closed → open). form_key makes a double submit add one message.
 * REQ_CREATED on success; REQ_INVALID with errors; REQ_FAILED on a database error.
 */
enum req_result req_member_reply(struct db *db, const struct req_config *cfg, struct arena *a,
				 int64_t request_id, const char *text, struct http_file *files,
				 int n_files, const char *form_key, struct req_outcome *out);

/*
 * Adds the text and files of a refused duplicate to the member's open request number (which
 * must belong to member_id and be open) as a member message. REQ_CREATED, REQ_INVALID (no such
 * open request of this member, or bad text/files) or REQ_FAILED.
 */
enum req_result req_append(struct db *db, const struct req_config *cfg, struct arena *a,
			   const char *number, const char *member_id, const char *text,
			   struct http_file *files, int n_files, const char *form_key,
			   struct req_outcome *out);

/* "Это решило мой вопрос": records a deflection. */
bool req_deflect(struct db *db, const char *slug, const char *topic);

/*
 * Counts a hit of key in the current window of window_s seconds; true when the count is now
 * above limit (the caller refuses). Writes at once (its own transaction unless one is open).
 */
bool req_throttle_hit(struct db *db, const char *key, int window_s, int limit);
/* True when key is already at or above limit in its window (no hit counted). */
bool req_throttled(struct db *db, const char *key, int window_s, int limit);
/* The hits of key in its current window (0 when none), -1 on a database error. */
int req_throttle_count(struct db *db, const char *key, int window_s);

/* Random token (256 bits, base64url, 43 chars) and the hex SHA-256 it is stored as. */
const char *req_new_token(struct arena *a);
const char *req_token_hash(struct arena *a, const char *token);

/* ---- the desk's changes (desk_ops.c); each is one transaction with its audit row and, when
 * the member should know, its outbox mail ---- */

/* A public answer (status becomes new_status, or 'waiting' when NULL) and mail to the member. */
bool req_agent_reply(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id,
		     int64_t user_id, const char *text, const char *new_status);
/* An internal note, never shown to the member. */
bool req_agent_note(struct db *db, int64_t request_id, int64_t user_id, const char *text);
/* Assigns to an agent (0: nobody). */
bool req_assign(struct db *db, int64_t request_id, int64_t user_id, int64_t assignee);
/* Changes the status (and mails the member). False for an unknown status. */
bool req_set_status(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id,
		    int64_t user_id, const char *status);
/* Merges request id into target (by number): messages and files move, the link keeps working. */
bool req_merge(struct db *db, struct arena *a, int64_t request_id, int64_t user_id,
	       const char *target_number, char *err, size_t errlen);
/* Closes requests resolved more than auto_close_days ago (at most 100 a call), each with an
 * audit row without a user and a letter; returns how many, -1 on error. */
int req_auto_close(struct db *db, const struct req_config *cfg);
/* Russian name of a status. */
const char *req_status_ru(const char *status);

#endif
