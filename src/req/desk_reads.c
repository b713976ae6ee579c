/* What the desk reads: the queue, a request's audit log, the canned replies, an attachment. See
 * req.h ("the desk's reads"). */
#include "req.h"

#include "../core/arena.h"
#include "../db/db.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the queue ---- */

/*
 * A list is one keyset query per status it holds (status = ?), each read in index order and
 * stopped after a page, merged here by (updated, id): an open status without a filter through
 * the partial index requests_open, another through requests_status, and with a filter through
 * the index of the narrowest one given (requests_member_status, requests_status_assignee,
 * _country, _topic); the other filters are checked on the rows the index gives. Parameters, in
 * order: status, [the driving value], topic, topic, country, country ('' for any), assignee,
 * assignee, assignee (0 any, 1 nobody, 2 the user), user id, created before, keyset updated,
 * updated, id, limit. Every parameter has a type both engines infer from the SQL (compared with
 * '' or 0, never alone in `? IS NULL`).
 */
#define QUEUE_SELECT                                                                                                   \
	"SELECT r.id, r.number, r.subject, r.member_id, r.topic, r.country, r.status, u.login, r.created, r.updated "  \
	"FROM requests r LEFT JOIN users u ON u.id = r.assignee WHERE "
#define QUEUE_FILTERS                                                                                                  \
	" AND r.merged_into IS NULL AND (? = '' OR r.topic = ?) AND (? = '' OR r.country = ?) "                        \
	"AND (? = 0 OR (? = 1 AND r.assignee IS NULL) OR (? = 2 AND r.assignee = ?)) AND r.created <= ? "
#define QUEUE_ASC "AND r.updated >= ? AND (r.updated > ? OR r.id > ?) ORDER BY r.updated, r.id LIMIT ?"
#define QUEUE_DESC "AND r.updated <= ? AND (r.updated < ? OR r.id < ?) ORDER BY r.updated DESC, r.id DESC LIMIT ?"
#define QUEUE_OPEN "r.status IN ('new', 'open', 'waiting') AND "
#define QUEUE(open, drive, order) QUEUE_SELECT open "r.status = ?" drive QUEUE_FILTERS order
/* [desc][open] of one driving filter. */
#define QUEUE_DRIVER(drive)                                                                                            \
	{                                                                                                              \
		{QUEUE("", drive, QUEUE_ASC), QUEUE(QUEUE_OPEN, drive, QUEUE_ASC)},                                    \
		{                                                                                                      \
			QUEUE("", drive, QUEUE_DESC), QUEUE(QUEUE_OPEN, drive, QUEUE_DESC)                             \
		}                                                                                                      \
	}

/* Every statement of the queue, each a literal of its own (db.h: SQL is never built at run time). */
static const char *const queue_sql[REQ_QUEUE_DRIVERS][2][2] = {
    [REQ_QUEUE_ANY] = QUEUE_DRIVER(""),
    [REQ_QUEUE_TOPIC] = QUEUE_DRIVER(" AND r.topic = ?"),
    [REQ_QUEUE_COUNTRY] = QUEUE_DRIVER(" AND r.country = ?"),
    [REQ_QUEUE_MINE] = QUEUE_DRIVER(" AND r.assignee = ?"),
    [REQ_QUEUE_UNASSIGNED] = QUEUE_DRIVER(" AND r.assignee IS NULL"),
    [REQ_QUEUE_MEMBER] = QUEUE_DRIVER(" AND r.member_id = ?"),
};

const char *req_queue_sql(enum req_queue_driver driver, bool desc, bool open)
{
	return queue_sql[driver][desc][open];
}

static bool is_open(const char *status)
{
	return !strcmp(status, "new") || !strcmp(status, "open") || !strcmp(status, "waiting");
}

/* The keyset and the filters as bound, shared by the statements of one list. */
struct queue_binds {
	const char *topic, *country, *member;
	int64_t assignee_mode, user_id, created_before, after_updated, after_id;
	bool desc;
};

/* Runs the statement of one status of the list, appending up to REQ_QUEUE_PAGE + 1 rows. False
 * on a database error. */
static bool queue_run(struct db *db, struct arena *a, enum req_queue_driver driver, const char *status,
		      const struct queue_binds *q, struct req_queue_row *rows, int *n)
{
	struct db_stmt *st = db_prepare(db, req_queue_sql(driver, q->desc, is_open(status)));
	if (!st)
		return false;
	int i = 1;
	db_bind_text(st, i++, status);
	if (driver == REQ_QUEUE_TOPIC)
		db_bind_text(st, i++, q->topic);
	else if (driver == REQ_QUEUE_COUNTRY)
		db_bind_text(st, i++, q->country);
	else if (driver == REQ_QUEUE_MINE)
		db_bind_int(st, i++, q->user_id);
	else if (driver == REQ_QUEUE_MEMBER)
		db_bind_text(st, i++, q->member);
	db_bind_text(st, i++, q->topic), db_bind_text(st, i++, q->topic);
	db_bind_text(st, i++, q->country), db_bind_text(st, i++, q->country);
	db_bind_int(st, i++, q->assignee_mode), db_bind_int(st, i++, q->assignee_mode);
	db_bind_int(st, i++, q->assignee_mode);
	db_bind_int(st, i++, q->user_id);
	db_bind_int(st, i++, q->created_before);
	db_bind_int(st, i++, q->after_updated), db_bind_int(st, i++, q->after_updated);
	db_bind_int(st, i++, q->after_id);
	db_bind_int(st, i++, REQ_QUEUE_PAGE + 1);
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW)
		rows[(*n)++] =
		    (struct req_queue_row){.id = db_col_int(st, 0),
					   .number = arena_strdup(a, db_col_text(st, 1)),
					   .subject = arena_strdup(a, db_col_text(st, 2)),
					   .member_id = arena_strdup(a, db_col_text(st, 3)),
					   .topic = arena_strdup(a, db_col_text(st, 4)),
					   .country = arena_strdup(a, db_col_text(st, 5)),
					   .status = arena_strdup(a, db_col_text(st, 6)),
					   .assignee = db_col_null(st, 7) ? NULL : arena_strdup(a, db_col_text(st, 7)),
					   .created = db_col_int(st, 8),
					   .updated = db_col_int(st, 9)};
	db_finalize(st);
	return rc == DB_DONE;
}

static int by_updated_asc(const void *x, const void *y)
{
	const struct req_queue_row *p = x, *q = y;
	if (p->updated != q->updated)
		return p->updated < q->updated ? -1 : 1;
	return p->id < q->id ? -1 : p->id > q->id;
}

static int by_updated_desc(const void *x, const void *y)
{
	return by_updated_asc(y, x);
}

int req_queue(struct db *db, struct arena *a, const struct req_queue_filter *f, struct req_queue_row **out, bool *more)
{
	/* Which statuses the list holds, and in which order: the open ones oldest first (who has
	 * waited longest), the resolved, closed and all newest first. */
	const char *set[REQ_N_STATUSES];
	int n_set = 0;
	bool open_queue = !f->status || !*f->status;
	if (open_queue)
		set[n_set++] = "new", set[n_set++] = "open", set[n_set++] = "waiting";
	else if (!strcmp(f->status, "all"))
		for (int i = 0; i < REQ_N_STATUSES; i++)
			set[n_set++] = req_statuses[i];
	else
		for (int i = 0; i < REQ_N_STATUSES; i++)
			if (!strcmp(f->status, req_statuses[i]))
				set[n_set++] = req_statuses[i];
	bool me = f->assignee && !strcmp(f->assignee, "me"), nobody = f->assignee && !strcmp(f->assignee, "none");
	struct queue_binds q = {.topic = f->topic ? f->topic : "",
				.country = f->country ? f->country : "",
				.member = f->member,
				.assignee_mode = nobody ? 1
						 : me	? 2
							: 0,
				.user_id = f->user_id,
				.created_before = f->created_before,
				.desc = !open_queue && !is_open(f->status)};
	q.after_updated = f->paged ? f->after_updated : q.desc ? INT64_MAX : INT64_MIN;
	q.after_id = f->paged ? f->after_id : q.desc ? INT64_MAX : -1;
	/* The filter that drives the index: the narrowest one given. */
	enum req_queue_driver driver = f->member    ? REQ_QUEUE_MEMBER
				       : me	    ? REQ_QUEUE_MINE
				       : nobody	    ? REQ_QUEUE_UNASSIGNED
				       : f->country ? REQ_QUEUE_COUNTRY
				       : f->topic   ? REQ_QUEUE_TOPIC
						    : REQ_QUEUE_ANY;
	struct req_queue_row *rows = arena_alloc(a, (size_t)REQ_N_STATUSES * (REQ_QUEUE_PAGE + 1) * sizeof *rows);
	int n = 0;
	for (int i = 0; i < n_set; i++)
		if (!queue_run(db, a, driver, set[i], &q, rows, &n))
			return -1;
	qsort(rows, (size_t)n, sizeof *rows, q.desc ? by_updated_desc : by_updated_asc);
	*more = n > REQ_QUEUE_PAGE;
	*out = rows;
	return *more ? REQ_QUEUE_PAGE : n;
}

/* ---- a request's audit log ---- */

/* The assignee of an "assign" row (audit.assignee, migration 11) is shown by login. */
const char req_audit_sql[] = "SELECT a.at, u.login, a.action, a.detail, t.login FROM audit a LEFT JOIN users u ON "
			     "u.id = a.user_id LEFT JOIN users t ON t.id = a.assignee WHERE a.request_id = ? "
			     "ORDER BY a.id";

int req_audit_list(struct db *db, struct arena *a, int64_t request_id, struct req_audit_entry **out)
{
	struct db_stmt *st = db_prepare(db, req_audit_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, request_id);
	int n = 0;
	size_t cap = 0;
	struct req_audit_entry *e = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		e = arena_grow(a, e, (size_t)n, &cap, sizeof *e);
		e[n++] = (struct req_audit_entry){
		    .at = db_col_int(st, 0),
		    .user = db_col_null(st, 1) ? NULL : arena_strdup(a, db_col_text(st, 1)),
		    .action = arena_strdup(a, db_col_text(st, 2)),
		    .detail = arena_strdup(a, db_col_text(st, 3)),
		    .assignee = db_col_null(st, 4) ? NULL : arena_strdup(a, db_col_text(st, 4)),
		};
	}
	db_finalize(st);
	*out = e;
	return rc == DB_DONE ? n : -1;
}

/* ---- canned replies (the agents' handful of templates, read whole) ---- */

const char req_canned_titles_sql[] = "SELECT id, title, '' FROM canned_replies ORDER BY title";
const char req_canned_list_sql[] = "SELECT id, title, body FROM canned_replies ORDER BY title";
const char req_canned_body_sql[] = "SELECT body FROM canned_replies WHERE id = ?";

int req_canned_list(struct db *db, struct arena *a, bool bodies, struct req_canned **out)
{
	struct db_stmt *st = db_prepare(db, bodies ? req_canned_list_sql : req_canned_titles_sql);
	if (!st)
		return -1;
	int n = 0, cap = 16;
	struct req_canned *c = arena_alloc(a, (size_t)cap * sizeof *c);
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		if (n == cap) {
			struct req_canned *bigger = arena_alloc(a, (size_t)cap * 2 * sizeof *bigger);
			memcpy(bigger, c, (size_t)cap * sizeof *bigger);
			c = bigger;
			cap *= 2;
		}
		c[n++] = (struct req_canned){.id = db_col_int(st, 0),
					     .title = arena_strdup(a, db_col_text(st, 1)),
					     .body = arena_strdup(a, db_col_text(st, 2))};
	}
	db_finalize(st);
	*out = c;
	return rc == DB_DONE ? n : -1;
}

const char *req_canned_body(struct db *db, struct arena *a, int64_t id)
{
	struct db_stmt *st = db_prepare(db, req_canned_body_sql);
	if (!st)
		return NULL;
	db_bind_int(st, 1, id);
	const char *body = db_step(st) == DB_ROW ? arena_strdup(a, db_col_text(st, 0)) : NULL;
	db_finalize(st);
	return body;
}

bool req_canned_add(struct db *db, const char *title, const char *body)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO canned_replies(title, body, created) VALUES (?, ?, ?)");
	bool ok = st && db_bind_text(st, 1, title) == DB_OK && db_bind_text(st, 2, body) == DB_OK &&
		  db_bind_int(st, 3, (int64_t)time(NULL)) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

/* ---- one attachment ---- */

const char req_attachment_sql[] = "SELECT sha256, mime, filename FROM attachments WHERE id = ?";

int req_attachment(struct db *db, struct arena *a, int64_t id, struct req_attachment *out)
{
	struct db_stmt *st = db_prepare(db, req_attachment_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, id);
	enum db_rc rc = db_step(st);
	if (rc == DB_ROW)
		*out = (struct req_attachment){.id = id,
					       .sha256 = arena_strdup(a, db_col_text(st, 0)),
					       .mime = arena_strdup(a, db_col_text(st, 1)),
					       .filename = arena_strdup(a, db_col_text(st, 2))};
	db_finalize(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}
