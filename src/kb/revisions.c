/*
 * Revisions of articles (kb.h): drafts, review and publishing. A publication goes through
 * kb_write_batch, as an import does, so that everything that follows content changes (the change
 * log, the content version, the nodes' indexes and caches) follows it too.
 */
#include "kb.h"
#include "kb_int.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../db/db.h"
#include "../md/md.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

const char kb_overtaken_sql[] = "UPDATE article_revisions SET status = 'superseded' WHERE slug = ? AND country = ? AND "
				"status IN ('draft', 'review') AND n < ?";

const char kb_supersede_sql[] =
    "UPDATE article_revisions SET status = 'superseded' WHERE slug = ? AND country = ? AND status = 'published'";

/* kb_revision_insert, or the removal of t's variant when removed. */
static int64_t revision_insert(struct db *db, const struct kb_text *t, const char *status, int64_t author,
			       const char *message, bool removed)
{
	struct db_stmt *st = db_prepare(
	    db, "INSERT INTO article_revisions(slug, n, country, status, section, title, summary, countries, keywords, "
		"related, body, prepare, review_by, owner, author, created, message, removed) VALUES (?, (SELECT "
		"COALESCE(max(n), 0) + 1 FROM article_revisions WHERE slug = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		"?, ?, ?, ?) RETURNING n");
	if (!st)
		return -1;
	const char *v[] = {t->slug,	 t->slug,     t->country, status,  t->section, t->title,     t->summary,
			   t->countries, t->keywords, t->related, t->body, t->prepare, t->review_by, t->owner};
	int nv = (int)(sizeof v / sizeof v[0]);
	for (int i = 0; i < nv; i++)
		db_bind_text(st, i + 1, v[i] ? v[i] : "");
	if (author > 0)
		db_bind_int(st, nv + 1, author);
	else
		db_bind_null(st, nv + 1);
	db_bind_int(st, nv + 2, (int64_t)time(NULL));
	db_bind_text(st, nv + 3, message ? message : "");
	db_bind_int(st, nv + 4, removed ? 1 : 0);
	int64_t n = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return n;
}

int64_t kb_revision_insert(struct db *db, const struct kb_text *t, const char *status, int64_t author,
			   const char *message)
{
	return revision_insert(db, t, status, author, message, false);
}

/* A write transaction in which nobody else changes slug's revisions (PostgreSQL: an advisory
 * lock on the slug; SQLite's write lock is enough). */
static bool begin_on(struct db *db, const char *slug)
{
	if (db_begin_write(db) != DB_OK)
		return false;
	char key[128];
	snprintf(key, sizeof key, "article:%s", slug);
	if (db_lock_key(db, key) != DB_OK) {
		db_rollback(db);
		return false;
	}
	return true;
}

static bool commit_or_roll_back(struct db *db, bool ok)
{
	if (ok && db_commit(db) == DB_OK)
		return true;
	db_rollback(db);
	return false;
}

/* The newest revision number of slug (0: none), -1 on error. */
static int64_t newest_of(struct db *db, const char *slug)
{
	struct db_stmt *st = db_prepare(db, "SELECT COALESCE(max(n), 0) FROM article_revisions WHERE slug = ?");
	int64_t n = st && db_bind_text(st, 1, slug) == DB_OK && db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return n;
}

int64_t kb_draft_save(struct db *db, const struct kb_text *t, int64_t author, const char *message, int64_t base,
		      int64_t *newest, char *err, size_t errlen)
{
	if (!begin_on(db, t->slug)) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return -1;
	}
	if (base > 0) {
		*newest = newest_of(db, t->slug);
		if (*newest != base) {
			db_rollback(db);
			snprintf(err, errlen, "revision %lld was saved since revision %lld", (long long)*newest,
				 (long long)base);
			return *newest < 0 ? -1 : KB_CONFLICT;
		}
	}
	int64_t n = kb_revision_insert(db, t, "draft", author, message);
	char detail[64];
	snprintf(detail, sizeof detail, "revision %lld", (long long)n);
	if (n > 0 && !kb_audit_add(db, author, "draft", t->slug, detail))
		n = -1;
	if (n < 0)
		snprintf(err, errlen, "database: %s", db_errmsg(db));
	if (!commit_or_roll_back(db, n > 0)) {
		if (n > 0)
			snprintf(err, errlen, "commit failed: %s", db_errmsg(db));
		return -1;
	}
	return n;
}

/* The columns of a revision in a list (kb_revisions, kb_pending): list_of reads them. */
#define LIST_COLUMNS                                                                                                   \
	"SELECT r.slug, r.n, r.country, r.status, COALESCE(u.login, ''), r.message, r.created, r.title, r.section, "   \
	"r.removed, r.review_comment, COALESCE(w.login, '') FROM article_revisions r LEFT JOIN users u ON u.id = "     \
	"r.author LEFT JOIN users w ON w.id = r.reviewer "

const char kb_revisions_sql[] = LIST_COLUMNS "WHERE r.slug = ? ORDER BY r.n DESC LIMIT 1000";

/* The rows of st (LIST_COLUMNS, bound) as revisions without bodies; finalizes st. Their count,
 * -1 on error. */
static int list_of(struct db_stmt *st, struct arena *a, struct kb_revision **out)
{
	int n = 0;
	size_t cap = 0;
	struct kb_revision *r = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		r = arena_grow(a, r, (size_t)n, &cap, sizeof *r);
		const char *slug = arena_strdup(a, db_col_text(st, 0)), *country = arena_strdup(a, db_col_text(st, 2));
		r[n++] = (struct kb_revision){
		    .n = db_col_int(st, 1),
		    .slug = slug,
		    .country = country,
		    .status = arena_strdup(a, db_col_text(st, 3)),
		    .author = arena_strdup(a, db_col_text(st, 4)),
		    .message = arena_strdup(a, db_col_text(st, 5)),
		    .created = db_col_int(st, 6),
		    .text = {.slug = slug,
			     .country = country,
			     .title = arena_strdup(a, db_col_text(st, 7)),
			     .section = arena_strdup(a, db_col_text(st, 8))},
		    .removed = db_col_int(st, 9) != 0,
		    .comment = arena_strdup(a, db_col_text(st, 10)),
		    .reviewer = arena_strdup(a, db_col_text(st, 11)),
		};
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return -1;
	*out = r;
	return n;
}

int kb_revisions(struct db *db, struct arena *a, const char *slug, struct kb_revision **out)
{
	*out = NULL;
	struct db_stmt *st = db_prepare(db, kb_revisions_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, slug);
	return list_of(st, a, out);
}

/* The columns text_at reads, in its order. */
#define TEXT_AT "country, section, title, summary, countries, keywords, related, body, prepare, review_by, owner"
#define TEXT_AT_N 11

/* The text in st's columns col.. col+10 (TEXT_AT; copied into a; slug as given). */
static struct kb_text text_at(struct db_stmt *st, struct arena *a, int col, const char *slug)
{
	const char *c[TEXT_AT_N];
	for (int i = 0; i < TEXT_AT_N; i++)
		c[i] = arena_strdup(a, db_col_text(st, col + i));
	return (struct kb_text){.slug = slug,
				.country = c[0],
				.section = c[1],
				.title = c[2],
				.summary = c[3],
				.countries = c[4],
				.keywords = c[5],
				.related = c[6],
				.body = c[7],
				.prepare = c[8],
				.review_by = c[9],
				.owner = c[10]};
}

int kb_revision_get(struct db *db, struct arena *a, const char *slug, int64_t n, struct kb_revision *out)
{
	struct db_stmt *st = db_prepare(
	    db, "SELECT r.country, r.section, r.title, r.summary, r.countries, r.keywords, r.related, r.body, "
		"r.prepare, r.review_by, r.owner, r.status, COALESCE(u.login, ''), r.message, r.created, r.removed, "
		"r.review_comment, COALESCE(w.login, '') FROM article_revisions r LEFT JOIN users u ON u.id = "
		"r.author LEFT JOIN users w ON w.id = r.reviewer WHERE r.slug = ? AND r.n = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, slug);
	db_bind_int(st, 2, n);
	enum db_rc rc = db_step(st);
	if (rc == DB_ROW) {
		const char *s = arena_strdup(a, slug);
		*out = (struct kb_revision){.n = n,
					    .slug = s,
					    .status = arena_strdup(a, db_col_text(st, 11)),
					    .author = arena_strdup(a, db_col_text(st, 12)),
					    .message = arena_strdup(a, db_col_text(st, 13)),
					    .created = db_col_int(st, 14),
					    .removed = db_col_int(st, 15) != 0,
					    .comment = arena_strdup(a, db_col_text(st, 16)),
					    .reviewer = arena_strdup(a, db_col_text(st, 17)),
					    .text = text_at(st, a, 0, s)};
		out->country = out->text.country;
	}
	db_finalize(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* The newest draft or revision in review of slug: its id, number, status, author and text. */
struct pending {
	int64_t id, n, author;
	const char *status;
	bool removed;
	struct kb_text t;
};

static int pending_of(struct db *db, struct arena *a, const char *slug, struct pending *p)
{
	struct db_stmt *st = db_prepare(db, "SELECT id, n, status, COALESCE(author, 0), removed, " TEXT_AT
					    " FROM article_revisions WHERE slug = ? AND status IN ('draft', "
					    "'review') ORDER BY n DESC LIMIT 1");
	if (!st)
		return -1;
	db_bind_text(st, 1, slug);
	enum db_rc rc = db_step(st);
	if (rc == DB_ROW)
		*p = (struct pending){.id = db_col_int(st, 0),
				      .n = db_col_int(st, 1),
				      .status = arena_strdup(a, db_col_text(st, 2)),
				      .author = db_col_int(st, 3),
				      .removed = db_col_int(st, 4) != 0,
				      .t = text_at(st, a, 5, slug)};
	db_finalize(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* The batch that publishes p: the slug's published texts with p's in place of its country's (or
 * without it, when p removes its variant). */
static bool batch_with(struct db *db, struct arena *a, const struct pending *p, struct kb_batch *b)
{
	struct db_stmt *st =
	    db_prepare(db, "SELECT " TEXT_AT ", updated FROM articles WHERE slug = ? ORDER BY country");
	if (!st)
		return false;
	db_bind_text(st, 1, p->t.slug);
	size_t cap = 0, n = 0;
	struct kb_text *t = NULL;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		if (!strcmp(db_col_text(st, 0), p->t.country))
			continue;
		t = arena_grow(a, t, n, &cap, sizeof *t);
		t[n] = text_at(st, a, 0, p->t.slug);
		if (!*p->t.country) /* the variants follow their general text to another section */
			t[n].section = p->t.section;
		t[n++].updated = arena_strdup(a, db_col_text(st, TEXT_AT_N));
	}
	db_finalize(st);
	if (rc != DB_DONE)
		return false;
	t = arena_grow(a, t, n, &cap, sizeof *t); /* room for p's text */
	char today[16];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(today, sizeof today, "%Y-%m-%d", &tm);
	if (!p->removed) {
		t[n] = p->t;
		t[n].updated = arena_strdup(a, today);
		n++;
	}
	const char **files = arena_alloc(a, n * sizeof *files);
	int *lines = arena_alloc(a, n * sizeof *lines);
	for (size_t i = 0; i < n; i++) {
		files[i] = arena_printf(a, "%s%s%s", p->t.slug, *t[i].country ? "." : "", t[i].country);
		lines[i] = 0;
	}
	*b = (struct kb_batch){.texts = t, .n_texts = n, .files = files, .related_lines = lines};
	return true;
}

enum kb_publish_result kb_publish(struct db *db, const char *slug, int64_t publisher, bool admin, bool review_required,
				  int64_t *rev, char *err, size_t errlen)
{
	*rev = 0;
	snprintf(err, errlen, "database: unavailable");
	if (!begin_on(db, slug)) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return KB_FAILED;
	}
	struct arena *a = arena_new();
	struct pending p;
	int found = pending_of(db, a, slug, &p);
	enum kb_publish_result res = found < 0 ? KB_FAILED : found == 0 ? KB_NO_DRAFT : KB_PUBLISHED;
	if (found > 0) {
		*rev = p.n;
		/* Review required: never one's own revision; another's once submitted, or by an admin. */
		if (review_required && (p.author == publisher || (!admin && strcmp(p.status, "review") != 0)))
			res = KB_REVIEW_REQUIRED;
	}
	struct kb_batch b;
	long changed = 0;
	if (res == KB_PUBLISHED) {
		if (!batch_with(db, a, &p, &b))
			res = KB_FAILED;
		else if (!kb_write_batch(db, &b, false, &changed, err, errlen))
			res = KB_REFUSED;
	}
	if (res == KB_PUBLISHED) {
		struct db_stmt *st = db_prepare(db, kb_supersede_sql);
		bool ok = st && db_bind_text(st, 1, slug) == DB_OK && db_bind_text(st, 2, p.t.country) == DB_OK &&
			  db_step(st) == DB_DONE;
		db_finalize(st);
		st = ok ? db_prepare(db, "UPDATE article_revisions SET status = 'published' WHERE id = ?") : NULL;
		ok = st && db_bind_int(st, 1, p.id) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
		/* The older drafts of the same text are overtaken (a later publish must not bring one
		 * back; the history keeps them, restore works). */
		st = ok ? db_prepare(db, kb_overtaken_sql) : NULL;
		ok = st && db_bind_text(st, 1, slug) == DB_OK && db_bind_text(st, 2, p.t.country) == DB_OK &&
		     db_bind_int(st, 3, p.n) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
		char detail[64];
		snprintf(detail, sizeof detail, "revision %lld%s%s", (long long)p.n, p.removed ? ": removed " : "",
			 p.removed ? p.t.country : "");
		ok = ok && kb_audit_add(db, publisher, "publish", slug, detail);
		if (!ok)
			res = KB_FAILED;
	}
	if (res == KB_FAILED)
		snprintf(err, errlen, "database: %s", db_errmsg(db));
	if (!commit_or_roll_back(db, res == KB_PUBLISHED) && res == KB_PUBLISHED) {
		snprintf(err, errlen, "commit failed: %s", db_errmsg(db));
		res = KB_FAILED;
	}
	arena_free(a);
	return res;
}

enum kb_publish_result kb_submit(struct db *db, const char *slug, int64_t user, int64_t *rev)
{
	*rev = 0;
	if (!begin_on(db, slug))
		return KB_FAILED;
	struct db_stmt *st = db_prepare(db, "UPDATE article_revisions SET status = 'review' WHERE id = (SELECT id FROM "
					    "article_revisions WHERE slug = ? AND status = 'draft' ORDER BY n DESC "
					    "LIMIT 1) RETURNING n");
	enum db_rc rc = st && db_bind_text(st, 1, slug) == DB_OK ? db_step(st) : DB_ERR;
	if (rc == DB_ROW)
		*rev = db_col_int(st, 0);
	db_finalize(st);
	bool ok = rc == DB_ROW || rc == DB_DONE;
	char detail[64];
	snprintf(detail, sizeof detail, "revision %lld", (long long)*rev);
	if (rc == DB_ROW)
		ok = kb_audit_add(db, user, "submit", slug, detail);
	if (!commit_or_roll_back(db, ok))
		return KB_FAILED;
	return rc == DB_ROW ? KB_SUBMITTED : KB_NO_DRAFT;
}

enum kb_publish_result kb_reject(struct db *db, const char *slug, int64_t user, const char *comment, int64_t *rev)
{
	*rev = 0;
	if (!begin_on(db, slug))
		return KB_FAILED;
	struct db_stmt *st = db_prepare(db, "SELECT id, n, COALESCE(author, 0) FROM article_revisions WHERE slug = ? "
					    "AND status = 'review' ORDER BY n DESC LIMIT 1");
	enum db_rc rc = st && db_bind_text(st, 1, slug) == DB_OK ? db_step(st) : DB_ERR;
	int64_t id = rc == DB_ROW ? db_col_int(st, 0) : 0, author = rc == DB_ROW ? db_col_int(st, 2) : 0;
	*rev = rc == DB_ROW ? db_col_int(st, 1) : 0;
	db_finalize(st);
	enum kb_publish_result res = rc == DB_DONE    ? KB_NO_DRAFT
				     : rc != DB_ROW   ? KB_FAILED
				     : author == user ? KB_OWN_REVISION
						      : KB_RETURNED;
	if (res == KB_RETURNED) {
		st = db_prepare(db, "UPDATE article_revisions SET status = 'draft', review_comment = ?, reviewer = ? "
				    "WHERE id = ?");
		bool ok = st && db_bind_text(st, 1, comment) == DB_OK && db_bind_int(st, 2, user) == DB_OK &&
			  db_bind_int(st, 3, id) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
		char detail[4 * KB_COMMENT_MAX + 64]; /* whole UTF-8 characters: never cut */
		snprintf(detail, sizeof detail, "revision %lld: %s", (long long)*rev, comment);
		if (!ok || !kb_audit_add(db, user, "reject", slug, detail))
			res = KB_FAILED;
	}
	if (!commit_or_roll_back(db, res == KB_RETURNED) && res == KB_RETURNED)
		res = KB_FAILED;
	return res;
}

int kb_variant_exists(struct db *db, const char *slug, const char *country)
{
	struct db_stmt *st = db_prepare(db, "SELECT removed FROM article_revisions WHERE slug = ? AND country = ? "
					    "ORDER BY n DESC LIMIT 1");
	enum db_rc rc =
	    st && db_bind_text(st, 1, slug) == DB_OK && db_bind_text(st, 2, country) == DB_OK ? db_step(st) : DB_ERR;
	int r = rc == DB_ROW ? db_col_int(st, 0) == 0 : rc == DB_DONE ? 0 : -1;
	db_finalize(st);
	return r;
}

int64_t kb_variant_remove(struct db *db, const char *slug, const char *country, int64_t author, const char *message,
			  char *err, size_t errlen)
{
	if (!*country)
		return 0;
	if (!begin_on(db, slug)) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return -1;
	}
	struct arena *a = arena_new();
	struct db_stmt *st = db_prepare(db, "SELECT removed, " TEXT_AT " FROM article_revisions WHERE slug = ? AND "
					    "country = ? ORDER BY n DESC LIMIT 1");
	enum db_rc rc =
	    st && db_bind_text(st, 1, slug) == DB_OK && db_bind_text(st, 2, country) == DB_OK ? db_step(st) : DB_ERR;
	int64_t n = rc == DB_DONE ? 0 : rc == DB_ROW ? 1 : -1;
	struct kb_text t = {0};
	if (rc == DB_ROW) {
		if (db_col_int(st, 0))
			n = 0; /* removed already */
		else
			t = text_at(st, a, 1, slug);
	}
	db_finalize(st);
	if (n > 0) {
		n = revision_insert(db, &t, "draft", author, message, true);
		char detail[64];
		snprintf(detail, sizeof detail, "revision %lld: remove %s", (long long)n, country);
		if (n > 0 && !kb_audit_add(db, author, "draft", slug, detail))
			n = -1;
	}
	if (n < 0)
		snprintf(err, errlen, "database: %s", db_errmsg(db));
	if (!commit_or_roll_back(db, n > 0) && n > 0) {
		snprintf(err, errlen, "commit failed: %s", db_errmsg(db));
		n = -1;
	}
	arena_free(a);
	return n;
}

/* ---- checks and the editors' list ---- */

const char *kb_prepare_canon(struct arena *a, const char *s)
{
	struct buf b;
	buf_init(&b, 1u << 20);
	char *copy = arena_strdup(a, s ? s : "");
	for (char *p = copy, *next; *p; p = next) {
		char *nl = strchr(p, '\n');
		next = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = '\0';
		char *item = str_trim(p);
		if ((item[0] == '-' || item[0] == '*') && (item[1] == ' ' || item[1] == '\t'))
			item = str_trim(item + 2);
		if (!*item)
			continue;
		if (b.len)
			buf_addc(&b, '\n');
		buf_adds(&b, item);
	}
	const char *r = arena_strdup(a, b.data && !buf_failed(&b) ? b.data : "");
	buf_free(&b);
	return r;
}

/* NULL when s is fine for a field of at most max characters, else why not (arena). */
static const char *text_problem(struct arena *a, const char *s, size_t max, bool required)
{
	if (!s || !*s)
		return required ? "Заполните это поле." : NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t')
			return "Текст содержит управляющие символы: уберите их.";
	if (!utf8_valid(s, strlen(s)))
		return "Текст не в кодировке UTF-8.";
	return utf8_length(s) > max ? arena_printf(a, "Не больше %zu знаков.", max) : NULL;
}

/* The first image without alt text (blank alt counts as none). */
struct no_alt {
	struct arena *a;
	const char *url;
};

static void image_without_alt(void *arg, const char *url, const char *alt)
{
	struct no_alt *na = arg;
	const char *p = alt;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p || na->url)
		return;
	size_t n = strlen(url);
	if (n > 200)
		for (n = 200; n && ((unsigned char)url[n] & 0xc0) == 0x80;)
			n--; /* not inside a UTF-8 sequence */
	na->url = arena_strndup(na->a, url, n);
}

/* 1 when login is an editor's or an admin's account, 0 when not, -1 on error. */
static int owner_ok(struct db *db, const char *login)
{
	struct db_stmt *st = db_prepare(
	    db, "SELECT count(*) FROM users WHERE login = ? AND role IN ('editor', 'admin') AND disabled = 0");
	int r = st && db_bind_text(st, 1, login) == DB_OK && db_step(st) == DB_ROW ? db_col_int(st, 0) > 0 : -1;
	db_finalize(st);
	return r;
}

static bool configured(const struct kb_check *chk, const char *code)
{
	for (size_t i = 0; chk && i < chk->n_countries; i++)
		if (!strcmp(chk->countries[i], code))
			return true;
	return false;
}

int kb_draft_check(struct db *db, struct arena *a, const struct kb_text *t, const struct kb_check *chk,
		   const char **fields, const char **messages, int max)
{
	static const struct {
		const char *name;
		size_t offset, max;
		bool required;
	} rules[] = {
	    {"title", offsetof(struct kb_text, title), 200, true},
	    {"section", offsetof(struct kb_text, section), 80, true},
	    {"summary", offsetof(struct kb_text, summary), 500, false},
	    {"keywords", offsetof(struct kb_text, keywords), 1000, false},
	    {"related", offsetof(struct kb_text, related), 1000, false},
	    {"countries", offsetof(struct kb_text, countries), 1000, false},
	    {"prepare", offsetof(struct kb_text, prepare), KB_PREPARE_ITEMS * (KB_PREPARE_ITEM_CHARS + 1), false},
	    {"review_by", offsetof(struct kb_text, review_by), 10, false},
	    {"owner", offsetof(struct kb_text, owner), 64, false},
	    {"body", offsetof(struct kb_text, body), 1u << 20, true},
	};
	int n = 0;
	const char *bad[sizeof rules / sizeof rules[0]] = {0};
#define FAIL(field, why)                                                                                               \
	do {                                                                                                           \
		if (n < max) {                                                                                         \
			fields[n] = (field);                                                                           \
			messages[n++] = (why);                                                                         \
		}                                                                                                      \
	} while (0)
	for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
		const char *v = *(const char *const *)((const char *)t + rules[i].offset);
		bad[i] = text_problem(a, v, rules[i].max, rules[i].required);
		if (bad[i])
			FAIL(rules[i].name, bad[i]);
	}
	bool section_ok = !bad[1], related_ok = !bad[4], countries_ok = !bad[5], prepare_ok = !bad[6];
	if (!bad[9] && t->body) {
		/* Every image needs its alt text (what a screen reader says, what shows when the
		 * image cannot). */
		struct no_alt na = {.a = a};
		md_images(t->body, strlen(t->body), image_without_alt, &na);
		if (na.url)
			FAIL("body",
			     arena_printf(a,
					  "У изображения %s нет описания: напишите в квадратных скобках, что на "
					  "нём, например ![Форма регистрации](%s).",
					  na.url, na.url));
	}
	if (section_ok) {
		struct kb_section sec;
		int found = kb_section_name(db, a, t->section, &sec);
		if (found < 0)
			return -1;
		if (!found)
			FAIL("section", "Такого раздела нет.");
	}
	const char *country = t->country ? t->country : "";
	if (*country && !configured(chk, country))
		FAIL("country", "Такой страны нет в настройках справочного центра.");
	else if (*country && chk && chk->new_variant) {
		int has = kb_variant_exists(db, t->slug, country);
		if (has < 0)
			return -1;
		if (has)
			FAIL("country", arena_printf(a,
						     "У статьи уже есть вариант для страны %s: откройте его и правьте, "
						     "второй вариант для одной страны не нужен.",
						     country));
	}
	char **items;
	size_t k = countries_ok ? split_list(a, t->countries, &items) : 0;
	if (k && *country)
		FAIL("countries", "У варианта для страны нет списка стран: он только для своей страны.");
	for (size_t i = 0; i < k && !*country; i++) {
		bool twice = false;
		for (size_t j = 0; j < i; j++)
			twice |= !strcmp(items[i], items[j]);
		if (twice || !configured(chk, items[i])) {
			FAIL("countries", arena_printf(a,
						       twice ? "Страна %s указана дважды."
							     : "Страны %s нет в настройках справочного центра.",
						       items[i]));
			break;
		}
	}
	k = related_ok ? split_list(a, t->related, &items) : 0;
	for (size_t i = 0; i < k; i++) {
		const char *why = NULL;
		if (!slug_valid(items[i]))
			why = arena_printf(a, "«%s» — не адрес статьи (латинские буквы a–z, цифры и дефис).", items[i]);
		else if (t->slug && !strcmp(items[i], t->slug))
			why = "Статья не может ссылаться сама на себя.";
		else if (!kb_title(db, a, items[i]))
			why = arena_printf(a, "Статьи «%s» нет на портале.", items[i]);
		if (why) {
			FAIL("related", why);
			break;
		}
	}
	if (prepare_ok) {
		const char *canon = kb_prepare_canon(a, t->prepare);
		int lines = 0;
		for (const char *p = canon; *p;) {
			const char *nl = strchr(p, '\n');
			size_t len = nl ? (size_t)(nl - p) : strlen(p);
			lines++;
			if (utf8_length(arena_strndup(a, p, len)) > KB_PREPARE_ITEM_CHARS) {
				FAIL("prepare",
				     arena_printf(a, "Пункт %d длиннее %d знаков.", lines, KB_PREPARE_ITEM_CHARS));
				break;
			}
			p += len + (nl ? 1 : 0);
		}
		if (lines > KB_PREPARE_ITEMS)
			FAIL("prepare", arena_printf(a, "Не больше %d пунктов.", KB_PREPARE_ITEMS));
	}
	if (!bad[7] && t->review_by && *t->review_by && !date_valid(t->review_by))
		FAIL("review_by", "Дата в виде ГГГГ-ММ-ДД, например 2027-03-01.");
	if (!bad[8] && t->owner && *t->owner) {
		int ok = owner_ok(db, t->owner);
		if (ok < 0)
			return -1;
		if (!ok)
			FAIL("owner", "Нет такого редактора или администратора (укажите логин).");
	}
#undef FAIL
	return n;
}

const char kb_pending_sql[] =
    LIST_COLUMNS "WHERE r.status IN ('draft', 'review') ORDER BY r.created DESC, r.id DESC LIMIT ?";

int kb_pending(struct db *db, struct arena *a, int limit, struct kb_revision **out)
{
	*out = NULL;
	struct db_stmt *st = db_prepare(db, kb_pending_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, limit);
	return list_of(st, a, out);
}

const char kb_returned_sql[] = LIST_COLUMNS
    "WHERE r.status IN ('draft', 'review') AND r.status = 'draft' AND r.review_comment <> '' AND r.author = ? "
    "AND r.n = (SELECT max(x.n) FROM "
    "article_revisions x WHERE x.slug = r.slug) ORDER BY r.created DESC, r.id DESC LIMIT ?";

int kb_returned(struct db *db, struct arena *a, int64_t author, int limit, struct kb_revision **out)
{
	*out = NULL;
	struct db_stmt *st = db_prepare(db, kb_returned_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, author);
	db_bind_int(st, 2, limit);
	return list_of(st, a, out);
}

/* ---- archiving, renaming, redirects and the audit ---- */

const char kb_unredirect_sql[] = "DELETE FROM article_redirects WHERE slug = ?";

bool kb_audit_add(struct db *db, int64_t user, const char *action, const char *slug, const char *detail)
{
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO content_audit(at, user_id, action, slug, detail) VALUES (?, ?, ?, ?, ?)");
	if (!st)
		return false;
	db_bind_int(st, 1, (int64_t)time(NULL));
	if (user > 0)
		db_bind_int(st, 2, user);
	else
		db_bind_null(st, 2);
	db_bind_text(st, 3, action);
	db_bind_text(st, 4, slug);
	db_bind_text(st, 5, detail ? detail : "");
	bool ok = db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

int kb_audit(struct db *db, struct arena *a, const char *slug, struct kb_audit_entry **out)
{
	*out = NULL;
	struct db_stmt *st =
	    db_prepare(db, "SELECT c.id, c.at, COALESCE(u.login, ''), c.action, c.slug, c.detail "
			   "FROM content_audit c LEFT JOIN users u ON u.id = c.user_id WHERE c.slug = ? "
			   "ORDER BY c.id DESC LIMIT 1000");
	if (!st)
		return -1;
	db_bind_text(st, 1, slug);
	int n = 0, cap = 16;
	struct kb_audit_entry *e = arena_alloc(a, (size_t)cap * sizeof *e);
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW) {
		if (n == cap) {
			struct kb_audit_entry *more = arena_alloc(a, (size_t)cap * 2 * sizeof *e);
			memcpy(more, e, (size_t)n * sizeof *e);
			e = more;
			cap *= 2;
		}
		e[n++] = (struct kb_audit_entry){.id = db_col_int(st, 0),
						 .at = db_col_int(st, 1),
						 .login = arena_strdup(a, db_col_text(st, 2)),
						 .action = arena_strdup(a, db_col_text(st, 3)),
						 .slug = arena_strdup(a, db_col_text(st, 4)),
						 .detail = arena_strdup(a, db_col_text(st, 5))};
	}
	db_finalize(st);
	*out = e;
	return rc == DB_DONE ? n : -1;
}

/* Rows of a count query with the text parameters given (NULL ends them), -1 on error. */
static int64_t count_of(struct db *db, const char *sql, const char *p1, const char *p2)
{
	struct db_stmt *st = db_prepare(db, sql);
	bool ok = st && db_bind_text(st, 1, p1) == DB_OK && (!p2 || db_bind_text(st, 2, p2) == DB_OK);
	int64_t n = ok && db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return n;
}

/* slug now answers kind (301 to target, or 410), and so do the redirects that led to it. */
static bool redirect(struct db *db, const char *slug, const char *target, int kind)
{
	struct db_stmt *st = db_prepare(
	    db, "INSERT INTO article_redirects(slug, target, kind, created) VALUES (?, ?, ?, ?) ON CONFLICT (slug) "
		"DO UPDATE SET target = excluded.target, kind = excluded.kind, created = excluded.created");
	bool ok = st && db_bind_text(st, 1, slug) == DB_OK && db_bind_text(st, 2, target) == DB_OK &&
		  db_bind_int(st, 3, kind) == DB_OK && db_bind_int(st, 4, (int64_t)time(NULL)) == DB_OK &&
		  db_step(st) == DB_DONE;
	db_finalize(st);
	st = ok ? db_prepare(db, "UPDATE article_redirects SET target = ?, kind = ? WHERE target = ?") : NULL;
	ok = st && db_bind_text(st, 1, target) == DB_OK && db_bind_int(st, 2, kind) == DB_OK &&
	     db_bind_text(st, 3, slug) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	st = ok ? db_prepare(db, "DELETE FROM article_redirects WHERE slug = target") : NULL;
	ok = st && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

bool kb_redirect_set(struct db *db, const char *slug, const char *target, int kind)
{
	return redirect(db, slug, target, kind);
}

static enum kb_move_result finish(struct db *db, enum kb_move_result r, char *err, size_t errlen)
{
	if (r == KB_MOVE_FAILED && !*err)
		snprintf(err, errlen, "database: %s", db_errmsg(db));
	if (!commit_or_roll_back(db, r == KB_MOVED) && r == KB_MOVED) {
		snprintf(err, errlen, "commit failed: %s", db_errmsg(db));
		r = KB_MOVE_FAILED;
	}
	return r;
}

enum kb_move_result kb_archive(struct db *db, const char *slug, const char *replacement, int64_t user,
			       const char *message, char *err, size_t errlen)
{
	*err = 0;
	if (replacement && !*replacement)
		replacement = NULL;
	if (!begin_on(db, slug)) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return KB_MOVE_FAILED;
	}
	int64_t texts = count_of(db, "SELECT count(*) FROM articles WHERE slug = ?", slug, NULL);
	int64_t target = !replacement		      ? 1
			 : !strcmp(replacement, slug) ? 0
						      : count_of(db,
								 "SELECT count(*) FROM articles WHERE slug = ? AND "
								 "country = ''",
								 replacement, NULL);
	enum kb_move_result r = texts < 0 || target < 0 ? KB_MOVE_FAILED
				: texts == 0		? KB_NOT_FOUND
				: target == 0		? KB_BAD_TARGET
							: KB_MOVED;
	char detail[2600]; /* a slug and a message of up to 500 characters of up to 4 bytes */
	snprintf(detail, sizeof detail, "%s%s%s%s", replacement ? "→ " : "", replacement ? replacement : "",
		 replacement && message && *message ? ": " : "", message ? message : "");
	if (r == KB_MOVED &&
	    !(kb_move_texts(db, slug, replacement, false, "ссылка на перенесённую статью", err, errlen) &&
	      redirect(db, slug, replacement ? replacement : "", replacement ? 301 : 410) &&
	      kb_audit_add(db, user, "archive", slug, detail)))
		r = KB_MOVE_FAILED;
	return finish(db, r, err, errlen);
}

enum kb_move_result kb_rename(struct db *db, const char *slug, const char *to, int64_t user, char *err, size_t errlen)
{
	*err = 0;
	if (!strcmp(slug, to))
		return KB_TAKEN;
	/* Both slugs locked, in one order whoever renames which. */
	if (!begin_on(db, strcmp(slug, to) < 0 ? slug : to)) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return KB_MOVE_FAILED;
	}
	char key[128];
	snprintf(key, sizeof key, "article:%s", strcmp(slug, to) < 0 ? to : slug);
	if (db_lock_key(db, key) != DB_OK)
		return finish(db, KB_MOVE_FAILED, err, errlen);
	const char *both = "SELECT (SELECT count(*) FROM articles WHERE slug = ?) + (SELECT count(*) FROM "
			   "article_revisions WHERE slug = ?)";
	int64_t mine = count_of(db, both, slug, slug), theirs = count_of(db, both, to, to);
	enum kb_move_result r = mine < 0 || theirs < 0 ? KB_MOVE_FAILED
				: mine == 0	       ? KB_NOT_FOUND
				: theirs > 0	       ? KB_TAKEN
						       : KB_MOVED;
	char detail[256];
	snprintf(detail, sizeof detail, "%s → %s", slug, to);
	struct db_stmt *st = NULL;
	bool ok = r == KB_MOVED && kb_move_texts(db, slug, to, true, "ссылка на перенесённую статью", err, errlen);
	if (ok) {
		st = db_prepare(db, "UPDATE article_revisions SET slug = ? WHERE slug = ?");
		ok = st && db_bind_text(st, 1, to) == DB_OK && db_bind_text(st, 2, slug) == DB_OK &&
		     db_step(st) == DB_DONE;
		db_finalize(st);
	}
	if (ok) {
		st = db_prepare(db, "UPDATE content_audit SET slug = ? WHERE slug = ?");
		ok = st && db_bind_text(st, 1, to) == DB_OK && db_bind_text(st, 2, slug) == DB_OK &&
		     db_step(st) == DB_DONE;
		db_finalize(st);
	}
	if (ok) {
		st = db_prepare(db, kb_unredirect_sql);
		ok = st && db_bind_text(st, 1, to) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
	}
	ok = ok && redirect(db, slug, to, 301) && kb_audit_add(db, user, "rename", to, detail);
	if (r == KB_MOVED && !ok)
		r = KB_MOVE_FAILED;
	return finish(db, r, err, errlen);
}

int kb_redirect(struct db *db, struct arena *a, const char *slug, const char **target)
{
	*target = NULL;
	const char *cur = slug;
	/* Bounded: the writes keep chains one step long; an older chain is followed a few steps. */
	for (int hop = 0; hop < 8; hop++) {
		struct db_stmt *st = db_prepare(db, "SELECT target, kind FROM article_redirects WHERE slug = ?");
		enum db_rc rc = st && db_bind_text(st, 1, cur) == DB_OK ? db_step(st) : DB_ERR;
		const char *next = rc == DB_ROW ? arena_strdup(a, db_col_text(st, 0)) : NULL;
		int64_t kind = rc == DB_ROW ? db_col_int(st, 1) : 0;
		db_finalize(st);
		if (rc != DB_ROW && rc != DB_DONE)
			return -1;
		if (rc == DB_DONE)
			break;
		if (kind == 410)
			return 1;
		cur = next;
		if (kb_title(db, a, cur))
			break;
	}
	if (cur == slug)
		return 0;
	*target = cur;
	return 1;
}
