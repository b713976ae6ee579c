/* Reads of the knowledge base. See kb.h. */
#include "kb.h"

#include "../core/arena.h"
#include "../core/text.h"
#include "../db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs st and collects rows with fill(); returns the row count or -1. */
static int collect(struct db_stmt *st, struct arena *a, size_t size, void **out,
		   void (*fill)(struct db_stmt *, struct arena *, void *))
{
	if (!st)
		return -1;
	size_t cap = 16, n = 0;
	char *items = arena_alloc(a, cap * size);
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		if (n == cap) {
			char *bigger = arena_alloc(a, 2 * cap * size);
			memcpy(bigger, items, cap * size);
			items = bigger;
			cap *= 2;
		}
		fill(st, a, items + n * size);
		n++;
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return -1;
	*out = items;
	return (int)n;
}

#define COL(i) arena_strdup(a, db_col_text(st, (i)))

static void fill_section(struct db_stmt *st, struct arena *a, void *item)
{
	struct kb_section *s = item;
	*s = (struct kb_section){.slug = COL(0),
				 .title = COL(1),
				 .position = (int)db_col_int(st, 2),
				 .description = COL(3),
				 .n_articles = (int)db_col_int(st, 4)};
}

#define SECTION_SELECT "SELECT s.slug, s.title, s.position, s.description, s.article_count FROM sections s "

int kb_sections(struct db *db, struct arena *a, struct kb_section **out)
{
	return collect(db_prepare(db, SECTION_SELECT "ORDER BY s.position, s.slug"), a, sizeof **out, (void **)out,
		       fill_section);
}

/* The one section a statement (its slug bound) finds: 1 and *out, 0 none, -1 error. */
static int one_section(struct db_stmt *st, struct arena *a, const char *slug, struct kb_section *out)
{
	if (st)
		db_bind_text(st, 1, slug);
	struct kb_section *list;
	int n = collect(st, a, sizeof *list, (void **)&list, fill_section);
	if (n > 0)
		*out = list[0];
	return n < 0 ? -1 : n > 0;
}

int kb_section_get(struct db *db, struct arena *a, const char *slug, struct kb_section *out)
{
	return one_section(db_prepare(db, SECTION_SELECT "WHERE s.slug = ?"), a, slug, out);
}

int kb_section_name(struct db *db, struct arena *a, const char *slug, struct kb_section *out)
{
	return one_section(
	    db_prepare(db, "SELECT s.slug, s.title, s.position, s.description, -1 FROM sections s WHERE s.slug = ?"), a,
	    slug, out);
}

#define TEXT_COLS                                                                                                      \
	"a.slug, a.country, a.section, a.title, a.summary, a.updated, a.countries, "                                   \
	"a.keywords, a.related, a.prepare, a.review_by, a.owner, a.position"
#define TEXT_COLS_N 13

static void fill_text(struct db_stmt *st, struct arena *a, void *item)
{
	struct kb_text *t = item;
	*t = (struct kb_text){.slug = COL(0),
			      .country = COL(1),
			      .section = COL(2),
			      .title = COL(3),
			      .summary = COL(4),
			      .updated = COL(5),
			      .countries = COL(6),
			      .keywords = COL(7),
			      .related = COL(8),
			      .prepare = COL(9),
			      .review_by = COL(10),
			      .owner = COL(11)};
	int64_t position = db_column_count(st) > 12 ? db_col_int(st, 12) : KB_POSITION_NONE;
	t->position = position > 0 && position < KB_POSITION_NONE ? (int)position : 0;
	if (db_column_count(st) > TEXT_COLS_N)
		t->body = COL(TEXT_COLS_N);
}

int kb_section_total(struct db *db)
{
	struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM sections");
	if (!st)
		return -1;
	int n = db_step(st) == DB_ROW ? (int)db_col_int(st, 0) : -1;
	db_finalize(st);
	return n;
}

int kb_section_list(struct db *db, struct arena *a, int offset, int limit, struct kb_section **out)
{
	struct db_stmt *st = db_prepare(db, SECTION_SELECT "ORDER BY s.position, s.slug LIMIT ? OFFSET ?");
	if (st) {
		db_bind_int(st, 1, limit);
		db_bind_int(st, 2, offset);
	}
	return collect(st, a, sizeof **out, (void **)out, fill_section);
}

/* The inner select reads only the index (section, country, position, title, slug); the join then
 * reads the rows of one page by primary key. The second form walks from the section's end. At
 * 50,000 articles (3 sections, every 50th placed), EXPLAIN shows on SQLite a SEARCH USING COVERING
 * INDEX articles_section_position and a temporary B-tree for the page's rows only, on PostgreSQL
 * an Index Only Scan of it under the Limit and a Sort of the 20 rows (tests/unit/test_kb_sections.c
 * checks SQLite's). */
const char kb_section_page_sql[] = "SELECT " TEXT_COLS " FROM articles a JOIN "
				   "(SELECT slug FROM articles WHERE section = ? AND country = '' "
				   "ORDER BY position, title, slug LIMIT ? OFFSET ?) p "
				   "ON a.slug = p.slug AND a.country = '' ORDER BY a.position, a.title, a.slug";
const char kb_section_page_from_end_sql[] =
    "SELECT " TEXT_COLS " FROM articles a JOIN "
    "(SELECT slug FROM articles WHERE section = ? AND country = '' "
    "ORDER BY position DESC, title DESC, slug DESC LIMIT ? OFFSET ?) p "
    "ON a.slug = p.slug AND a.country = '' ORDER BY a.position, a.title, a.slug";

int kb_section_articles(struct db *db, struct arena *a, const char *section, int offset, int limit, int total,
			struct kb_text **out)
{
	bool from_end = total > 0 && offset > total / 2 && offset < total;
	if (from_end) {
		/* The same rows counted from the other end: [offset, offset + limit) of total is
		 * [total - offset - limit, total - offset) backwards. */
		int end = total - offset;
		limit = limit < end ? limit : end;
		offset = end - limit;
	}
	struct db_stmt *st = db_prepare(db, from_end ? kb_section_page_from_end_sql : kb_section_page_sql);
	if (st) {
		db_bind_text(st, 1, section);
		db_bind_int(st, 2, limit);
		db_bind_int(st, 3, offset);
	}
	return collect(st, a, sizeof **out, (void **)out, fill_text);
}

int kb_all_texts(struct db *db, struct arena *a, struct kb_text **out)
{
	return collect(db_prepare(db, "SELECT " TEXT_COLS ", a.body FROM articles a "
				      "ORDER BY a.slug, a.country"),
		       a, sizeof **out, (void **)out, fill_text);
}

static bool listed(struct arena *a, const char *list, const char *code)
{
	char **items;
	size_t n = split_list(a, list, &items);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(items[i], code))
			return true;
	return false;
}

int kb_article_for(struct db *db, struct arena *a, const char *slug, const char *country, struct kb_view *out)
{
	struct db_stmt *st =
	    db_prepare(db, "SELECT " TEXT_COLS ", a.body FROM articles a WHERE a.slug = ? ORDER BY a.country");
	if (st)
		db_bind_text(st, 1, slug);
	struct kb_text *texts;
	int n = collect(st, a, sizeof *texts, (void **)&texts, fill_text);
	if (n <= 0)
		return n;
	memset(out, 0, sizeof *out);
	out->variants = arena_alloc(a, (size_t)n * sizeof(char *));
	const struct kb_text *general = NULL, *own = NULL;
	for (int i = 0; i < n; i++) {
		if (!*texts[i].country)
			general = &texts[i];
		else
			out->variants[out->n_variants++] = texts[i].country;
		if (country && *country && !strcmp(texts[i].country, country))
			own = &texts[i];
	}
	if (!general)
		return 0; /* import never allows this; treat a half-deleted article as missing */
	if (own) {
		out->text = *own;
		/* Keep the general text's list of countries for the notice logic of callers. */
		out->text.countries = general->countries;
	} else {
		out->text = *general;
		out->foreign = country && *country && *general->countries && !listed(a, general->countries, country);
	}
	return 1;
}

const char *kb_title(struct db *db, struct arena *a, const char *slug)
{
	struct db_stmt *st = db_prepare(db, "SELECT title FROM articles WHERE slug = ? AND country = ''");
	if (!st)
		return NULL;
	db_bind_text(st, 1, slug);
	const char *t = db_step(st) == DB_ROW ? COL(0) : NULL;
	db_finalize(st);
	return t;
}

int64_t kb_content_version(struct db *db, int64_t *changed_at)
{
	struct db_stmt *st = db_prepare(db, "SELECT version, changed FROM content_state");
	if (!st)
		return -1;
	int64_t version = -1;
	if (db_step(st) == DB_ROW) {
		version = db_col_int(st, 0);
		if (changed_at)
			*changed_at = db_col_int(st, 1);
	}
	db_finalize(st);
	return version;
}

int64_t kb_article_count(struct db *db)
{
	struct db_stmt *st = db_prepare(db, "SELECT count(*) FROM articles WHERE country = ''");
	if (!st)
		return -1;
	int64_t n = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return n;
}

const char *kb_synonyms(struct db *db, struct arena *a)
{
	struct db_stmt *st = db_prepare(db, "SELECT value FROM meta WHERE key = 'synonyms'");
	if (!st)
		return "";
	const char *v = db_step(st) == DB_ROW ? COL(0) : "";
	db_finalize(st);
	return v;
}

static void fill_change(struct db_stmt *st, struct arena *a, void *item)
{
	struct kb_change *c = item;
	c->removed = db_col_null(st, 2);
	fill_text(st, a, &c->text);
}

int kb_changes_since(struct db *db, struct arena *a, int64_t since, struct kb_change **out)
{
	struct db_stmt *st = db_prepare(db, "SELECT log_from FROM content_state");
	if (!st)
		return -1;
	int64_t from = db_step(st) == DB_ROW ? db_col_int(st, 0) : INT64_MAX;
	db_finalize(st);
	if (since < from)
		return KB_CHANGES_ALL;
	/* The texts as they are now; a text removed since has no row (a.section is NULL). At most
	 * one more than the log may hold for one version, then it is cheaper to read everything. */
	st = db_prepare(db, "SELECT c.slug, c.country, a.section, a.title, a.summary, a.updated, a.countries, "
			    "a.keywords, a.related, a.prepare, a.review_by, a.owner, a.position, a.body FROM (SELECT "
			    "DISTINCT slug, country FROM content_changes "
			    "WHERE version > ?) c LEFT JOIN articles a ON a.slug = c.slug AND a.country = c.country "
			    "ORDER BY c.slug, c.country LIMIT ?");
	if (st) {
		db_bind_int(st, 1, since);
		db_bind_int(st, 2, KB_CHANGES_MAX * 4 + 1);
	}
	int n = collect(st, a, sizeof **out, (void **)out, fill_change);
	if (n > KB_CHANGES_MAX * 4 || (n > 0 && !*(*out)[0].text.slug))
		return KB_CHANGES_ALL; /* '' sorts first: the "everything" row */
	return n;
}

static void fill_stale(struct db_stmt *st, struct arena *a, void *item)
{
	struct kb_stale *s = item;
	fill_text(st, a, &s->text);
	s->general_updated = COL(TEXT_COLS_N);
}

/* Stale texts (kb_stale): overdue by the partial index of review_by; variants behind their general
 * text by the partial index of the variants. */
const char kb_stale_review_sql[] = "SELECT " TEXT_COLS ", '' FROM articles a WHERE a.review_by <> '' AND "
				   "a.review_by < ? AND (? = '' OR a.owner = ?) ORDER BY a.review_by, a.slug, "
				   "a.country LIMIT ?";
const char kb_stale_variants_sql[] = "SELECT " TEXT_COLS ", g.updated FROM articles a JOIN articles g ON g.slug = "
				     "a.slug AND g.country = '' WHERE a.country <> '' AND a.country > '' AND a.updated "
				     "< g.updated AND (? = '' OR a.owner = ?) ORDER BY a.country, a.slug LIMIT ?";

int kb_stale(struct db *db, struct arena *a, bool variants, const char *today, const char *owner, int limit,
	     struct kb_stale **out)
{
	struct db_stmt *st = db_prepare(db, variants ? kb_stale_variants_sql : kb_stale_review_sql);
	if (st) {
		int i = 1;
		if (!variants)
			db_bind_text(st, i++, today);
		db_bind_text(st, i++, owner ? owner : "");
		db_bind_text(st, i++, owner ? owner : "");
		db_bind_int(st, i, limit);
	}
	return collect(st, a, sizeof **out, (void **)out, fill_stale);
}
