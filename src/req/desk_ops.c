/* What agents do to a request, each change with its audit row and the member's mail. */
#include "req.h"

#include "../core/arena.h"
#include "../core/text.h"
#include "../db/db.h"
#include "../mail/mail.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char *req_status_ru(const char *s)
{
	static const char *const map[][2] = {{"new", "Новое"},
					     {"open", "В работе"},
					     {"waiting", "Ждём вашего ответа"},
					     {"resolved", "Решено"},
					     {"closed", "Закрыто"}};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(map[i][0], s))
			return map[i][1];
	return s;
}

const char *const req_statuses[REQ_N_STATUSES] = {"new", "open", "waiting", "resolved", "closed"};

/* ---- kept counts per status ---- */

/* DB_SLOTS rows per status (db.h: concurrent changes do not wait for each other), summed. */
const char req_counts_sql[] = "SELECT status, sum(n) FROM request_counts GROUP BY status";
const char req_counts_add_sql[] = "UPDATE request_counts SET n = n + ? WHERE status = ? AND slot = ?";
/* A request's counted state: its status, or nothing once merged away. */
const char req_counted_state_sql[] = "SELECT status, merged_into FROM requests WHERE id = ?";
/* The same, the request's row locked until the transaction ends (PostgreSQL; SQLite's write
 * transaction already excludes every other writer). */
const char req_counted_lock_sql[] = "SELECT status, merged_into FROM requests WHERE id = ? FOR UPDATE";
const char req_counts_real_sql[] = "SELECT count(*) FROM requests WHERE status = ? AND merged_into IS NULL";
/* The repair: the real count in slot 0, nothing in the others. */
const char req_counts_set_sql[] =
    "UPDATE request_counts SET n = CASE WHEN slot = 0 THEN CAST(? AS BIGINT) ELSE 0 END WHERE status = ?";

static int status_index(const char *s)
{
	for (int i = 0; s && i < REQ_N_STATUSES; i++)
		if (!strcmp(req_statuses[i], s))
			return i;
	return -1;
}

bool req_counts(struct db *db, int64_t n[REQ_N_STATUSES])
{
	memset(n, 0, REQ_N_STATUSES * sizeof *n);
	struct db_stmt *st = db_prepare(db, req_counts_sql);
	if (!st)
		return false;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		int i = status_index(db_col_text(st, 0));
		if (i >= 0)
			n[i] = db_col_int(st, 1);
	}
	db_finalize(st);
	return rc == DB_DONE;
}

bool req_counts_add(struct db *db, const char *status, int64_t delta)
{
	struct db_stmt *st = db_prepare(db, req_counts_add_sql);
	bool ok = st && db_bind_int(st, 1, delta) == DB_OK && db_bind_text(st, 2, status) == DB_OK &&
		  db_bind_int(st, 3, db_slot()) == DB_OK && db_step(st) == DB_DONE && db_changes(db) == 1;
	db_finalize(st);
	return ok;
}

/* The index in req_statuses of request id's counted status; -1 when it is merged away or
 * missing; -2 on error. lock: the row stays locked until the transaction ends. */
static int counted_state(struct db *db, int64_t id, bool lock)
{
	struct db_stmt *st = db_prepare(db, lock ? db_engine_sql(db, req_counted_state_sql, req_counted_lock_sql)
						 : req_counted_state_sql);
	if (!st)
		return -2;
	db_bind_int(st, 1, id);
	enum db_rc rc = db_step(st);
	int r = rc == DB_ROW ? (db_col_null(st, 1) ? status_index(db_col_text(st, 0)) : -1) : rc == DB_DONE ? -1 : -2;
	db_finalize(st);
	return r;
}

bool req_update_counted(struct db *db, int64_t id, struct db_stmt *st)
{
	/* Locked first: a change committed meanwhile by another node would otherwise be counted from
	 * the status this transaction read before it, and the counts would drift. */
	int before = counted_state(db, id, true);
	if (before < -1 || db_step(st) != DB_DONE)
		return false;
	int after = counted_state(db, id, false);
	if (after < -1)
		return false;
	if (before == after)
		return true;
	return (before < 0 || req_counts_add(db, req_statuses[before], -1)) &&
	       (after < 0 || req_counts_add(db, req_statuses[after], +1));
}

int req_counts_repair(struct db *db, bool fix, int64_t kept[REQ_N_STATUSES], int64_t real[REQ_N_STATUSES])
{
	if (db_begin_write(db) != DB_OK)
		return -1;
	bool ok = req_counts(db, kept);
	int differ = 0;
	struct db_stmt *st = ok ? db_prepare(db, req_counts_real_sql) : NULL;
	for (int i = 0; st && ok && i < REQ_N_STATUSES; i++) {
		db_reset(st);
		ok = db_bind_text(st, 1, req_statuses[i]) == DB_OK && db_step(st) == DB_ROW;
		real[i] = ok ? db_col_int(st, 0) : 0;
		differ += ok && real[i] != kept[i];
	}
	ok = ok && st;
	db_finalize(st);
	st = ok && fix && differ ? db_prepare(db, req_counts_set_sql) : NULL;
	for (int i = 0; st && ok && i < REQ_N_STATUSES; i++) {
		db_reset(st);
		ok = db_bind_int(st, 1, real[i]) == DB_OK && db_bind_text(st, 2, req_statuses[i]) == DB_OK &&
		     db_step(st) == DB_DONE;
	}
	ok = ok && (!fix || !differ || st);
	db_finalize(st);
	if (ok && db_commit(db) == DB_OK)
		return differ;
	db_rollback(db);
	return -1;
}

static bool status_valid(const char *s)
{
	return s && (!strcmp(s, "new") || !strcmp(s, "open") || !strcmp(s, "waiting") || !strcmp(s, "resolved") ||
		     !strcmp(s, "closed"));
}

/* An audit row; assignee: the account an "assign" row names (0: none), kept in a column of its
 * own so that the log joins it to users without reading the free text of detail. */
static bool audit_row(struct db *db, int64_t user_id, int64_t request_id, const char *action, const char *detail,
		      int64_t assignee)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO audit(at, user_id, request_id, action, detail, assignee) "
					    "VALUES (?, ?, ?, ?, ?, ?)");
	/* user 0: the server itself (auto-closing) */
	bool ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK &&
		  (user_id ? db_bind_int(st, 2, user_id) : db_bind_null(st, 2)) == DB_OK &&
		  db_bind_int(st, 3, request_id) == DB_OK && db_bind_text(st, 4, action) == DB_OK &&
		  db_bind_text(st, 5, detail ? detail : "") == DB_OK &&
		  (assignee ? db_bind_int(st, 6, assignee) : db_bind_null(st, 6)) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

static bool audit(struct db *db, int64_t user_id, int64_t request_id, const char *action, const char *detail)
{
	return audit_row(db, user_id, request_id, action, detail, 0);
}

static bool exec_int2(struct db *db, const char *sql, int64_t x, int64_t y)
{
	struct db_stmt *st = db_prepare(db, sql);
	bool ok = st && db_bind_int(st, 1, x) == DB_OK && db_bind_int(st, 2, y) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

/* The member's e-mail address and request number (arena), or false. */
static bool member_contact(struct db *db, struct arena *a, int64_t id, const char **email, const char **number)
{
	struct db_stmt *st = db_prepare(db, "SELECT email, number FROM requests WHERE id = ?");
	if (!st)
		return false;
	db_bind_int(st, 1, id);
	bool found = db_step(st) == DB_ROW;
	if (found) {
		*email = arena_strdup(a, db_col_text(st, 0));
		*number = arena_strdup(a, db_col_text(st, 1));
	}
	db_finalize(st);
	return found;
}

/* Mail to the member about request id, if they gave an address, with the request's private link
 * at the end (req_link: every letter carries it). */
static bool notify(struct db *db, const struct req_config *cfg, struct arena *a, int64_t id, const char *subject_fmt,
		   const char *body)
{
	const char *email, *number;
	if (!member_contact(db, a, id, &email, &number))
		return false;
	if (!*email)
		return true;
	const char *link = req_link(db, a, cfg, id);
	if (!link)
		return false;
	char subject[256];
	snprintf(subject, sizeof subject, subject_fmt, number);
	return mail_enqueue(db, id, email, subject,
			    arena_printf(a,
					 "%s\nОбращение %s: следить за ним, отвечать и добавлять файлы можно по "
					 "ссылке:\n%s\n\nНе пересылайте эту ссылку: она открывает обращение без "
					 "пароля.\n",
					 body, number, link));
}

static bool finish(struct db *db, bool ok)
{
	if (ok && db_commit(db) == DB_OK)
		return true;
	db_rollback(db);
	return false;
}

static int64_t add_message(struct db *db, int64_t request_id, const char *author, int64_t user_id, bool internal,
			   const char *body)
{
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO messages(request_id, author, user_id, internal, body, created) "
			   "VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
	if (!st)
		return -1;
	db_bind_int(st, 1, request_id);
	db_bind_text(st, 2, author);
	if (user_id)
		db_bind_int(st, 3, user_id);
	else
		db_bind_null(st, 3);
	db_bind_int(st, 4, internal);
	db_bind_text(st, 5, body);
	db_bind_int(st, 6, (int64_t)time(NULL));
	int64_t id = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return id;
}

static bool update_status(struct db *db, int64_t id, const char *status)
{
	/* resolved_at is decided here and bound as a number or NULL (a CASE over an untyped
	 * parameter would be text to PostgreSQL, not a BIGINT). */
	struct db_stmt *st =
	    db_prepare(db, "UPDATE requests SET status = ?, updated = ?, resolved_at = ? WHERE id = ?");
	int64_t now = (int64_t)time(NULL);
	bool ok = st && db_bind_text(st, 1, status) == DB_OK && db_bind_int(st, 2, now) == DB_OK &&
		  (!strcmp(status, "resolved") ? db_bind_int(st, 3, now) : db_bind_null(st, 3)) == DB_OK &&
		  db_bind_int(st, 4, id) == DB_OK && req_update_counted(db, id, st);
	db_finalize(st);
	return ok;
}

bool req_agent_reply(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id, int64_t user_id,
		     const char *text, const char *new_status)
{
	if (!text || !*text || (new_status && !status_valid(new_status)))
		return false;
	const char *status = new_status ? new_status : "waiting";
	if (db_begin_write(db) != DB_OK)
		return false;
	bool ok = add_message(db, request_id, "agent", user_id, false, text) > 0 &&
		  update_status(db, request_id, status) && audit(db, user_id, request_id, "reply", status) &&
		  notify(db, cfg, a, request_id, "Ответ по обращению %s",
			 arena_printf(a, "Здравствуйте!\n\nПоддержка ответила на ваше обращение:\n\n%s\n", text));
	return finish(db, ok);
}

bool req_agent_note(struct db *db, int64_t request_id, int64_t user_id, const char *text)
{
	if (!text || !*text || db_begin_write(db) != DB_OK)
		return false;
	bool ok =
	    add_message(db, request_id, "agent", user_id, true, text) > 0 && audit(db, user_id, request_id, "note", "");
	return finish(db, ok);
}

bool req_assign(struct db *db, int64_t request_id, int64_t user_id, int64_t assignee)
{
	if (db_begin_write(db) != DB_OK)
		return false;
	struct db_stmt *st =
	    db_prepare(db, "UPDATE requests SET assignee = ?, updated = ?, status = CASE WHEN status = "
			   "'new' THEN 'open' ELSE status END WHERE id = ?");
	bool ok = st != NULL;
	if (ok) {
		if (assignee)
			db_bind_int(st, 1, assignee);
		else
			db_bind_null(st, 1);
		db_bind_int(st, 2, (int64_t)time(NULL));
		db_bind_int(st, 3, request_id);
		ok = req_update_counted(db, request_id, st);
	}
	db_finalize(st);
	char detail[32];
	snprintf(detail, sizeof detail, "%lld", (long long)assignee);
	ok = ok && audit_row(db, user_id, request_id, "assign", detail, assignee);
	return finish(db, ok);
}

/* The status change, its audit row and the member's letter (inside the caller's transaction). */
static bool change_status(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id,
			  int64_t user_id, const char *status)
{
	return update_status(db, request_id, status) && audit(db, user_id, request_id, "status", status) &&
	       notify(db, cfg, a, request_id, "Статус обращения %s изменён",
		      arena_printf(a, "Здравствуйте!\n\nСтатус вашего обращения: %s.\n", req_status_ru(status)));
}

bool req_set_status(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id, int64_t user_id,
		    const char *status)
{
	if (!status_valid(status) || db_begin_write(db) != DB_OK)
		return false;
	return finish(db, change_status(db, cfg, a, request_id, user_id, status));
}

/* The oldest resolved first, through the partial index requests_resolved. */
const char req_auto_close_sql[] = "SELECT id FROM requests WHERE status = 'resolved' AND merged_into IS NULL "
				  "AND resolved_at < ? ORDER BY resolved_at LIMIT 100";

int req_auto_close(struct db *db, const struct req_config *cfg)
{
	/* At most 100 a call (the maintenance thread calls once a second), each closed the way an
	 * agent would close it: audit row (no user) and a letter, in one transaction. */
	int64_t ids[100];
	int n = 0;
	/* Selected inside the write lock, so that a member's reply cannot reopen one in between. */
	if (db_begin_write(db) != DB_OK)
		return -1;
	struct db_stmt *st = db_prepare(db, req_auto_close_sql);
	if (!st) {
		db_rollback(db);
		return -1;
	}
	db_bind_int(st, 1, (int64_t)time(NULL) - (int64_t)cfg->auto_close_days * 86400);
	while (n < 100 && db_step(st) == DB_ROW)
		ids[n++] = db_col_int(st, 0);
	db_finalize(st);
	if (!n) {
		db_rollback(db);
		return 0;
	}
	/* Several nodes may select the same requests (PostgreSQL: the SELECT locks nothing): each row
	 * is locked and checked again before it is closed, so that a node that waited for another's
	 * lock sees the request closed and skips it — one audit row, one letter. (SQLite's write
	 * lock already lets one closer at a time in.) */
	struct db_stmt *lock =
	    db_prepare(db, "UPDATE requests SET updated = updated WHERE id = ? AND status = 'resolved' AND "
			   "merged_into IS NULL");
	struct arena *a = arena_new();
	bool ok = lock != NULL;
	int closed = 0;
	for (int i = 0; ok && i < n; i++) {
		db_reset(lock);
		ok = db_bind_int(lock, 1, ids[i]) == DB_OK && db_step(lock) == DB_DONE;
		if (ok && db_changes(db) > 0) {
			ok = change_status(db, cfg, a, ids[i], 0, "closed");
			closed++;
		}
	}
	db_finalize(lock);
	arena_free(a);
	return finish(db, ok) ? closed : -1;
}

/* A member ID as the form keeps it: without the white space around it (arena copy). */
static const char *member_norm(struct arena *a, const char *id)
{
	return str_trim(arena_strdup(a, id ? id : ""));
}

/* One side of a merge: id, number, subject and normalised member ID of a request not merged
 * away (by id when number is NULL). */
static bool merge_side(struct db *db, struct arena *a, int64_t id, const char *number, struct req_merge_side *out)
{
	struct db_stmt *st = db_prepare(db, number ? "SELECT id, number, subject, member_id FROM requests WHERE "
						     "number = ? AND merged_into IS NULL"
						   : "SELECT id, number, subject, member_id FROM requests WHERE "
						     "id = ? AND merged_into IS NULL");
	if (!st)
		return false;
	if (number)
		db_bind_text(st, 1, number);
	else
		db_bind_int(st, 1, id);
	bool found = db_step(st) == DB_ROW;
	if (found) {
		out->id = db_col_int(st, 0);
		out->number = arena_strdup(a, db_col_text(st, 1));
		out->subject = arena_strdup(a, db_col_text(st, 2));
		out->member_id = member_norm(a, db_col_text(st, 3));
	}
	db_finalize(st);
	return found;
}

bool req_merge_check(struct db *db, struct arena *a, int64_t request_id, const char *target_number,
		     struct req_merge_side *from, struct req_merge_side *to, char *err, size_t errlen)
{
	const char *number = member_norm(a, target_number);
	if (!merge_side(db, a, request_id, NULL, from)) {
		snprintf(err, errlen, "Это обращение уже объединено с другим или не найдено.");
		return false;
	}
	if (!*number || !merge_side(db, a, 0, number, to) || to->id == from->id) {
		snprintf(err, errlen,
			 "Обращение, с которым нужно объединить, не найдено (или оно само уже "
			 "объединено с другим). Проверьте номер.");
		return false;
	}
	if (!*from->member_id || strcmp(from->member_id, to->member_id) != 0) {
		/* A merged request's link shows the whole conversation to its member as their own:
		 * only one member's requests may become one. */
		snprintf(err, errlen,
			 "Объединить можно только обращения одного партнёра: у %s ID партнёра %s, у %s — %s. "
			 "Переписка объединённого обращения видна участнику по его ссылке, поэтому обращения "
			 "разных партнёров не объединяются.",
			 from->number, from->member_id, to->number, to->member_id);
		return false;
	}
	return true;
}

/* The request leaves the lists and the counts: merged into target (closed). */
static bool merge_away(struct db *db, int64_t id, int64_t target)
{
	struct db_stmt *st = db_prepare(db, "UPDATE requests SET merged_into = ?, status = 'closed', updated = ? "
					    "WHERE id = ?");
	bool ok = st && db_bind_int(st, 1, target) == DB_OK && db_bind_int(st, 2, (int64_t)time(NULL)) == DB_OK &&
		  db_bind_int(st, 3, id) == DB_OK && req_update_counted(db, id, st);
	db_finalize(st);
	return ok;
}

bool req_merge(struct db *db, struct arena *a, int64_t request_id, int64_t user_id, const char *target_number,
	       char *err, size_t errlen)
{
	if (db_begin_write(db) != DB_OK) {
		snprintf(err, errlen, "База данных занята, попробуйте ещё раз.");
		return false;
	}
	/* Checked again inside the write lock: what the confirmation showed may have changed. */
	struct req_merge_side from, to;
	if (!req_merge_check(db, a, request_id, target_number, &from, &to, err, errlen)) {
		db_rollback(db);
		return false;
	}
	int64_t target = to.id;
	bool ok = exec_int2(db, "UPDATE messages SET request_id = ? WHERE request_id = ?", target, request_id) &&
		  exec_int2(db, "UPDATE attachments SET request_id = ? WHERE request_id = ?", target, request_id) &&
		  merge_away(db, request_id, target) &&
		  add_message(db, target, "system", user_id, false,
			      arena_printf(a, "Обращение %s объединено с этим обращением.", from.number)) > 0 &&
		  audit(db, user_id, request_id, "merge", to.number) &&
		  audit(db, user_id, target, "merged-in", from.number);
	if (!ok)
		snprintf(err, errlen, "Не удалось объединить обращения.");
	return finish(db, ok);
}
