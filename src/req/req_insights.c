/* The editors' reports on requests (req.h, "insights"): requests by topic and by country, and
 * the deflections, over a range of creation times. */
#include "req.h"

#include "../core/arena.h"
#include "../db/db.h"

/* Both read the range of requests_created (created, topic, country): the index alone. */
const char req_by_topic_sql[] = "SELECT topic, count(*) FROM requests WHERE created >= ? GROUP BY topic ORDER BY "
				"count(*) DESC, topic LIMIT ?";
const char req_by_country_sql[] = "SELECT country, count(*) FROM requests WHERE created >= ? GROUP BY country "
				  "ORDER BY count(*) DESC, country LIMIT ?";
/* Through deflections_at. */
const char req_deflections_sql[] = "SELECT count(*) FROM deflections WHERE at >= ?";

int req_insights_by(struct db *db, struct arena *a, bool by_country, int64_t since, int limit,
		    struct req_insight_count **out)
{
	*out = NULL;
	struct db_stmt *st = db_prepare(db, by_country ? req_by_country_sql : req_by_topic_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, since);
	db_bind_int(st, 2, limit);
	size_t n = 0, cap = 0;
	struct req_insight_count *r = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		r = arena_grow(a, r, n, &cap, sizeof *r);
		r[n++] = (struct req_insight_count){arena_strdup(a, db_col_text(st, 0)), db_col_int(st, 1)};
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return -1;
	*out = r;
	return (int)n;
}

int64_t req_deflections_since(struct db *db, int64_t since)
{
	struct db_stmt *st = db_prepare(db, req_deflections_sql);
	int64_t n = st && db_bind_int(st, 1, since) == DB_OK && db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return n;
}
