/* Feedback on articles (kb.h): votes «Да / Нет» with an optional comment, counted per article. */
#include "kb.h"

#include "../core/arena.h"
#include "../db/db.h"

#include <string.h>
#include <time.h>

void kb_feedback_day(int64_t t, char out[11])
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, 11, "%Y-%m-%d", &tm);
}

bool kb_feedback_vote(struct db *db, const char *slug, const char *voter, bool helpful, const char *comment,
		      int64_t now)
{
	char day[11];
	kb_feedback_day(now, day);
	struct db_stmt *st = db_prepare(
	    db, "INSERT INTO article_feedback(slug, day, voter, helpful, comment, created) VALUES (?, ?, ?, ?, ?, ?) "
		"ON CONFLICT (slug, voter, day) DO UPDATE SET helpful = excluded.helpful, comment = excluded.comment, "
		"created = excluded.created");
	if (!st)
		return false;
	db_bind_text(st, 1, slug);
	db_bind_text(st, 2, day);
	db_bind_text(st, 3, voter);
	db_bind_int(st, 4, helpful ? 1 : 0);
	db_bind_text(st, 5, !helpful && comment ? comment : "");
	db_bind_int(st, 6, now);
	bool ok = db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

int kb_feedback_counts(struct db *db, struct arena *a, int days, int64_t now, int limit, struct kb_feedback_count **out)
{
	*out = NULL;
	char since[11];
	kb_feedback_day(now - (int64_t)(days > 0 ? days - 1 : 0) * 86400, since);
	struct db_stmt *st = db_prepare(
	    db,
	    "SELECT f.slug, COALESCE(max(a.title), ''), sum(f.helpful), sum(1 - f.helpful), "
	    "sum(CASE WHEN f.comment <> '' THEN 1 ELSE 0 END) FROM article_feedback f LEFT JOIN articles a ON "
	    "a.slug = f.slug AND a.country = '' WHERE f.day >= ? GROUP BY f.slug ORDER BY 4 DESC, 3, f.slug LIMIT ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, since);
	db_bind_int(st, 2, limit);
	int n = 0;
	size_t cap = 0;
	struct kb_feedback_count *r = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		r = arena_grow(a, r, (size_t)n, &cap, sizeof *r);
		r[n++] = (struct kb_feedback_count){.slug = arena_strdup(a, db_col_text(st, 0)),
						    .title = arena_strdup(a, db_col_text(st, 1)),
						    .yes = db_col_int(st, 2),
						    .no = db_col_int(st, 3),
						    .comments = db_col_int(st, 4)};
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return -1;
	*out = r;
	return n;
}
