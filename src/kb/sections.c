/*
 * Sections and the order of their articles, as editors change them in the desk (kb.h, issue #10):
 * create, rename, describe, reorder and delete (only when empty) a section; give an article its
 * place in its section; move an article to another section. Each change is one transaction with
 * its content_audit row, announced like an import (the content version and the notification), so
 * that every node's page caches follow.
 */
#include "kb.h"
#include "kb_int.h"

#include "../core/arena.h"
#include "../core/text.h"
#include "../db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The audit's slug of a section: "section:SLUG" (no article slug has a colon). */
static const char *audit_slug(struct arena *a, const char *section)
{
	return arena_printf(a, "section:%s", section);
}

static const char *field_problem(const char *s, size_t max, bool required)
{
	if (required && !*s)
		return "Заполните поле.";
	if (utf8_length(s) > max)
		return max == KB_SECTION_TITLE_MAX ? "Не длиннее 200 знаков." : "Не длиннее 300 знаков.";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "Без управляющих символов и переводов строки.";
		if (*p == '|')
			return "Без знака «|»: он разделяет поля в файле content/sections.";
	}
	return NULL;
}

int kb_section_check(const char *slug, const char *title, const char *description, const char **fields,
		     const char **messages, int max)
{
	int n = 0;
	const char *p;
	if (slug && !slug_valid(slug) && n < max) {
		fields[n] = "slug";
		messages[n++] = "Адрес раздела: латинские буквы a–z, цифры и дефис, от 1 до 80 знаков.";
	}
	if ((p = field_problem(title, KB_SECTION_TITLE_MAX, true)) && n < max) {
		fields[n] = "title";
		messages[n++] = p;
	}
	if ((p = field_problem(description, KB_SECTION_DESCRIPTION_MAX, false)) && n < max) {
		fields[n] = "description";
		messages[n++] = p;
	}
	return n;
}

/* A write transaction that no other change of sections or orders runs beside (PostgreSQL: an
 * advisory lock; SQLite's write lock is enough). */
static bool begin(struct db *db, char *err, size_t errlen)
{
	if (db_begin_write(db) == DB_OK) {
		if (db_lock_key(db, "sections") == DB_OK)
			return true;
		db_rollback(db);
	}
	snprintf(err, errlen, "database: %s", db_errmsg(db));
	return false;
}

/* Commits when r is KB_SECTION_OK (else rolls back); a failed commit makes it KB_SECTION_FAILED. */
static enum kb_section_result end(struct db *db, enum kb_section_result r, char *err, size_t errlen)
{
	if (r == KB_SECTION_FAILED && !*err)
		snprintf(err, errlen, "database: %s", db_errmsg(db));
	if (r == KB_SECTION_OK && db_commit(db) == DB_OK)
		return r;
	if (r == KB_SECTION_OK) {
		snprintf(err, errlen, "commit failed: %s", db_errmsg(db));
		r = KB_SECTION_FAILED;
	}
	db_rollback(db);
	return r;
}

/* The one integer a query with up to two text parameters finds (-1 on error, def when no row). */
static int64_t one_int(struct db *db, const char *sql, const char *p1, const char *p2, int64_t def)
{
	struct db_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	bool ok = (!p1 || db_bind_text(st, 1, p1) == DB_OK) && (!p2 || db_bind_text(st, 2, p2) == DB_OK);
	enum db_rc rc = ok ? db_step(st) : DB_ERR;
	int64_t v = rc == DB_ROW ? db_col_int(st, 0) : rc == DB_DONE ? def : -1;
	db_finalize(st);
	return v;
}

static bool exec_texts(struct db *db, const char *sql, const char *p1, const char *p2, const char *p3)
{
	struct db_stmt *st = db_prepare(db, sql);
	bool ok = st && db_bind_text(st, 1, p1) == DB_OK && (!p2 || db_bind_text(st, 2, p2) == DB_OK) &&
		  (!p3 || db_bind_text(st, 3, p3) == DB_OK) && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

/* The audit row and the announcement that end every change. */
static bool done(struct db *db, int64_t user, const char *action, const char *slug, const char *detail, char *err,
		 size_t errlen)
{
	if (!kb_audit_add(db, user, action, slug, detail)) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return false;
	}
	return kb_announce_change(db, err, errlen);
}

enum kb_section_result kb_section_create(struct db *db, const char *slug, const char *title, const char *description,
					 int64_t user, char *err, size_t errlen)
{
	*err = 0;
	if (!begin(db, err, errlen))
		return KB_SECTION_FAILED;
	struct arena *a = arena_new();
	int64_t have = one_int(db, "SELECT count(*) FROM sections WHERE slug = ?", slug, NULL, 0);
	enum kb_section_result r = have < 0 ? KB_SECTION_FAILED : have ? KB_SECTION_TAKEN : KB_SECTION_OK;
	if (r == KB_SECTION_OK) {
		struct db_stmt *st =
		    db_prepare(db, "INSERT INTO sections(slug, title, position, description) VALUES (?, ?, "
				   "(SELECT COALESCE(max(position), 0) + 1 FROM sections), ?)");
		bool ok = st && db_bind_text(st, 1, slug) == DB_OK && db_bind_text(st, 2, title) == DB_OK &&
			  db_bind_text(st, 3, description) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
		ok = ok && done(db, user, "section-create", audit_slug(a, slug), title, err, errlen);
		r = ok ? KB_SECTION_OK : KB_SECTION_FAILED;
	}
	arena_free(a);
	return end(db, r, err, errlen);
}

enum kb_section_result kb_section_update(struct db *db, const char *slug, const char *title, const char *description,
					 int64_t user, char *err, size_t errlen)
{
	*err = 0;
	if (!begin(db, err, errlen))
		return KB_SECTION_FAILED;
	struct arena *a = arena_new();
	struct kb_section s;
	int found = kb_section_name(db, a, slug, &s);
	enum kb_section_result r = found < 0 ? KB_SECTION_FAILED : found ? KB_SECTION_OK : KB_SECTION_NOT_FOUND;
	bool renamed = r == KB_SECTION_OK && strcmp(s.title, title) != 0;
	bool described = r == KB_SECTION_OK && strcmp(s.description, description) != 0;
	if (renamed || described) {
		bool ok = exec_texts(db, "UPDATE sections SET title = ?, description = ? WHERE slug = ?", title,
				     description, slug);
		const char *action = renamed ? "section-rename" : "section-describe";
		const char *detail = renamed ? arena_printf(a, "«%s» → «%s»", s.title, title) : description;
		ok = ok && (!renamed || !described ||
			    kb_audit_add(db, user, "section-describe", audit_slug(a, slug), description));
		ok = ok && done(db, user, action, audit_slug(a, slug), detail, err, errlen);
		r = ok ? KB_SECTION_OK : KB_SECTION_FAILED;
	}
	arena_free(a);
	return end(db, r, err, errlen);
}

enum kb_section_result kb_section_move(struct db *db, const char *slug, int delta, int64_t user, char *err,
				       size_t errlen)
{
	*err = 0;
	if (!begin(db, err, errlen))
		return KB_SECTION_FAILED;
	struct arena *a = arena_new();
	struct kb_section *s;
	int n = kb_sections(db, a, &s);
	int at = -1;
	for (int i = 0; i < n; i++)
		if (!strcmp(s[i].slug, slug))
			at = i;
	enum kb_section_result r = n < 0 ? KB_SECTION_FAILED : at < 0 ? KB_SECTION_NOT_FOUND : KB_SECTION_OK;
	int to = at + delta;
	if (r == KB_SECTION_OK && to >= 0 && to < n && to != at) {
		/* The list with the section at its new place, numbered 1..n again (import may have left
		 * equal or sparse numbers); only the rows whose number changes are written. */
		struct kb_section moved = s[at];
		if (to < at)
			memmove(&s[to + 1], &s[to], (size_t)(at - to) * sizeof *s);
		else
			memmove(&s[at], &s[at + 1], (size_t)(to - at) * sizeof *s);
		s[to] = moved;
		struct db_stmt *st =
		    db_prepare(db, "UPDATE sections SET position = ? WHERE slug = ? AND position <> ?");
		bool ok = st != NULL;
		for (int i = 0; ok && i < n; i++) {
			db_reset(st);
			db_bind_int(st, 1, i + 1);
			db_bind_text(st, 2, s[i].slug);
			db_bind_int(st, 3, i + 1);
			ok = db_step(st) == DB_DONE;
		}
		db_finalize(st);
		ok = ok && done(db, user, "section-move", audit_slug(a, slug), arena_printf(a, "место %d", to + 1), err,
				errlen);
		r = ok ? KB_SECTION_OK : KB_SECTION_FAILED;
	}
	arena_free(a);
	return end(db, r, err, errlen);
}

enum kb_section_result kb_section_delete(struct db *db, const char *slug, int64_t user, int64_t *articles,
					 int64_t *drafts, char *err, size_t errlen)
{
	*err = 0;
	*articles = *drafts = 0;
	if (!begin(db, err, errlen))
		return KB_SECTION_FAILED;
	struct arena *a = arena_new();
	struct kb_section s;
	int found = kb_section_name(db, a, slug, &s);
	enum kb_section_result r = found < 0 ? KB_SECTION_FAILED : found ? KB_SECTION_OK : KB_SECTION_NOT_FOUND;
	if (r == KB_SECTION_OK) {
		*articles = one_int(db, "SELECT count(DISTINCT slug) FROM articles WHERE section = ?", slug, NULL, 0);
		*drafts = one_int(db,
				  "SELECT count(DISTINCT slug) FROM article_revisions WHERE status IN ('draft', "
				  "'review') AND section = ?",
				  slug, NULL, 0);
		r = *articles < 0 || *drafts < 0 ? KB_SECTION_FAILED
		    : *articles || *drafts	 ? KB_SECTION_NOT_EMPTY
						 : KB_SECTION_OK;
	}
	if (r == KB_SECTION_OK) {
		bool ok = exec_texts(db, "DELETE FROM sections WHERE slug = ?", slug, NULL, NULL) &&
			  done(db, user, "section-delete", audit_slug(a, slug), s.title, err, errlen);
		r = ok ? KB_SECTION_OK : KB_SECTION_FAILED;
	}
	arena_free(a);
	return end(db, r, err, errlen);
}

/* ---- the order of a section's articles ---- */

bool kb_place_at_end(struct db *db, const char *section, const char *slug)
{
	int64_t unplaced = one_int(db,
				   "SELECT count(*) FROM articles WHERE section = ? AND country = '' AND slug <> ? AND "
				   "position >= 1000000000",
				   section, slug, 0);
	if (unplaced < 0)
		return false;
	bool ok = true;
	if (unplaced > 0) {
		/* The section's order as it reads now, written out as places 1..n. */
		struct arena *a = arena_new();
		struct db_stmt *st =
		    db_prepare(db, "SELECT slug, position FROM articles WHERE section = ? AND country = "
				   "'' AND slug <> ? ORDER BY position, title, slug");
		size_t n = 0, cap = 0;
		const char **slugs = NULL;
		int64_t *pos = NULL;
		size_t pcap = 0;
		enum db_rc rc =
		    st && db_bind_text(st, 1, section) == DB_OK && db_bind_text(st, 2, slug) == DB_OK ? DB_ROW : DB_ERR;
		while (rc == DB_ROW && (rc = db_step(st)) == DB_ROW) {
			slugs = arena_grow(a, slugs, n, &cap, sizeof *slugs);
			pos = arena_grow(a, pos, n, &pcap, sizeof *pos);
			slugs[n] = arena_strdup(a, db_col_text(st, 0));
			pos[n++] = db_col_int(st, 1);
		}
		db_finalize(st);
		ok = rc == DB_DONE;
		st = ok ? db_prepare(db, "UPDATE articles SET position = ? WHERE slug = ? AND country = ''") : NULL;
		ok = ok && st;
		for (size_t i = 0; ok && i < n; i++) {
			if (pos[i] == (int64_t)i + 1)
				continue;
			db_reset(st);
			db_bind_int(st, 1, (int64_t)i + 1);
			db_bind_text(st, 2, slugs[i]);
			ok = db_step(st) == DB_DONE;
		}
		db_finalize(st);
		arena_free(a);
	}
	int64_t last =
	    ok ? one_int(db,
			 "SELECT COALESCE(max(position), 0) FROM articles WHERE section = ? AND country = '' "
			 "AND slug <> ?",
			 section, slug, 0)
	       : -1;
	struct db_stmt *st =
	    last >= 0 ? db_prepare(db, "UPDATE articles SET position = ? WHERE slug = ? AND country = ''") : NULL;
	ok =
	    st && db_bind_int(st, 1, last + 1) == DB_OK && db_bind_text(st, 2, slug) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

const char kb_article_place_sql[] = "SELECT count(*) FROM articles WHERE section = ? AND country = '' AND "
				    "(position, title, slug) < (SELECT position, title, slug FROM articles "
				    "WHERE slug = ? AND country = '')";

int kb_article_place(struct db *db, const char *section, const char *slug)
{
	int64_t in = one_int(db, "SELECT count(*) FROM articles WHERE slug = ? AND country = '' AND section = ?", slug,
			     section, 0);
	if (in <= 0)
		return (int)in;
	int64_t before = one_int(db, kb_article_place_sql, section, slug, 0);
	return before < 0 ? -1 : (int)before + 1;
}

enum kb_section_result kb_article_move_to(struct db *db, const char *section, const char *slug, int place, int64_t user,
					  char *err, size_t errlen)
{
	*err = 0;
	if (!begin(db, err, errlen))
		return KB_SECTION_FAILED;
	struct arena *a = arena_new();
	int now = kb_article_place(db, section, slug);
	int64_t placed = one_int(db,
				 "SELECT count(*) FROM articles WHERE section = ? AND country = '' AND position < "
				 "1000000000",
				 section, NULL, 0);
	enum kb_section_result r = now < 0 || placed < 0 ? KB_SECTION_FAILED
				   : now == 0		 ? KB_SECTION_NOT_FOUND
							 : KB_SECTION_OK;
	if (place < 1)
		place = 1;
	if (r == KB_SECTION_OK && place != now) {
		/* The first m articles in order (every placed one among them, the article and its new
		 * place too), the article moved among them, numbered 1..m: the articles after them have
		 * no place and stay after, in title order. Costs O(m) whatever the section's size. */
		int64_t m = placed > now ? placed : now;
		m = m > place ? m : place;
		struct db_stmt *st =
		    db_prepare(db, "SELECT slug, position FROM articles WHERE section = ? AND country = "
				   "'' ORDER BY position, title, slug LIMIT ?");
		const char **slugs = arena_alloc(a, (size_t)m * sizeof *slugs);
		int64_t *pos = arena_alloc(a, (size_t)m * sizeof *pos);
		int n = 0, at = -1;
		enum db_rc rc =
		    st && db_bind_text(st, 1, section) == DB_OK && db_bind_int(st, 2, m) == DB_OK ? DB_ROW : DB_ERR;
		while (rc == DB_ROW && (rc = db_step(st)) == DB_ROW) {
			slugs[n] = arena_strdup(a, db_col_text(st, 0));
			pos[n] = db_col_int(st, 1);
			if (!strcmp(slugs[n], slug))
				at = n;
			n++;
		}
		db_finalize(st);
		bool ok = rc == DB_DONE && at >= 0;
		if (place > n)
			place = n;
		int to = place - 1;
		if (ok && to != at) {
			const char *moved = slugs[at];
			int64_t was = pos[at];
			if (to < at) {
				memmove(&slugs[to + 1], &slugs[to], (size_t)(at - to) * sizeof *slugs);
				memmove(&pos[to + 1], &pos[to], (size_t)(at - to) * sizeof *pos);
			} else {
				memmove(&slugs[at], &slugs[at + 1], (size_t)(to - at) * sizeof *slugs);
				memmove(&pos[at], &pos[at + 1], (size_t)(to - at) * sizeof *pos);
			}
			slugs[to] = moved;
			pos[to] = was;
		}
		st = ok ? db_prepare(db, "UPDATE articles SET position = ? WHERE slug = ? AND country = ''") : NULL;
		ok = ok && st;
		for (int i = 0; ok && i < n; i++) {
			if (pos[i] == i + 1)
				continue;
			db_reset(st);
			db_bind_int(st, 1, i + 1);
			db_bind_text(st, 2, slugs[i]);
			ok = db_step(st) == DB_DONE;
		}
		db_finalize(st);
		ok = ok &&
		     done(db, user, "order", slug, arena_printf(a, "раздел %s: место %d", section, place), err, errlen);
		r = ok ? KB_SECTION_OK : KB_SECTION_FAILED;
	}
	arena_free(a);
	return end(db, r, err, errlen);
}

enum kb_section_result kb_article_to_section(struct db *db, const char *slug, const char *to, int64_t user, char *err,
					     size_t errlen)
{
	*err = 0;
	if (!begin(db, err, errlen))
		return KB_SECTION_FAILED;
	char key[128];
	snprintf(key, sizeof key, "article:%s", slug); /* as revisions.c's writers of slug */
	if (db_lock_key(db, key) != DB_OK) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		db_rollback(db);
		return KB_SECTION_FAILED;
	}
	struct arena *a = arena_new();
	struct kb_section target;
	int found = kb_section_name(db, a, to, &target);
	struct db_stmt *st = found > 0 ? db_prepare(db, "SELECT country, section, title, summary, updated, countries, "
							"keywords, related, body FROM articles WHERE slug = ? "
							"ORDER BY country")
				       : NULL;
	size_t n = 0, cap = 0;
	struct kb_text *t = NULL;
	enum db_rc rc = st && db_bind_text(st, 1, slug) == DB_OK ? DB_ROW : DB_ERR;
	const char *from = "";
	while (rc == DB_ROW && (rc = db_step(st)) == DB_ROW) {
		const char *c[9];
		for (int i = 0; i < 9; i++)
			c[i] = arena_strdup(a, db_col_text(st, i));
		if (!*c[0])
			from = c[1];
		t = arena_grow(a, t, n, &cap, sizeof *t);
		t[n++] = (struct kb_text){.slug = slug,
					  .country = c[0],
					  .section = to,
					  .title = c[2],
					  .summary = c[3],
					  .updated = c[4],
					  .countries = c[5],
					  .keywords = c[6],
					  .related = c[7],
					  .body = c[8]};
	}
	db_finalize(st);
	enum kb_section_result r = found < 0 || (found > 0 && rc != DB_DONE) ? KB_SECTION_FAILED
				   : found == 0 || !*from		     ? KB_SECTION_NOT_FOUND
									     : KB_SECTION_OK;
	if (r == KB_SECTION_OK && strcmp(from, to) != 0) {
		const char **files = arena_alloc(a, n * sizeof *files);
		int *lines = arena_alloc(a, n * sizeof *lines);
		for (size_t i = 0; i < n; i++) {
			files[i] = arena_printf(a, "%s%s%s", slug, *t[i].country ? "." : "", t[i].country);
			lines[i] = 0;
		}
		const char *message = arena_printf(a, "перенесена в раздел «%s»", target.title);
		struct kb_batch b = {
		    .texts = t, .n_texts = n, .files = files, .related_lines = lines, .message = message};
		long changed = 0;
		bool ok = kb_write_batch(db, &b, true, &changed, err, errlen) &&
			  kb_audit_add(db, user, "move", slug, arena_printf(a, "%s → %s", from, to));
		r = ok ? KB_SECTION_OK : KB_SECTION_FAILED;
	}
	arena_free(a);
	return end(db, r, err, errlen);
}
