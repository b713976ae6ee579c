/*
 * The content directory format of docs/content.md: reading and checking it, importing a batch in
 * one transaction, and exporting the database back in canonical form (so that import -> export
 * -> import changes nothing).
 */
#include "kb.h"
#include "kb_int.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../db/db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define MAX_FILE_BYTES (1u << 20)
#define MAX_TITLE_CHARS 200
#define MAX_SUMMARY_CHARS 500
#define MAX_LIST_CHARS 2000
#define MAX_DESCRIPTION_CHARS 300

/* Reads a whole file (<= MAX_FILE_BYTES), checks UTF-8 and drops '\r' before '\n'. */
static char *read_file(struct arena *a, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	/* As much memory as the file needs (not the limit: 50,000 files of a few KB each must not
	 * take 50 GB); one byte more to see a file that grew past the limit while it was read. */
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size > (off_t)MAX_FILE_BYTES) {
		fclose(f);
		errorf(err, errlen, "%s: larger than %u bytes", path, MAX_FILE_BYTES);
		return NULL;
	}
	size_t want = (size_t)st.st_size + 1;
	char *data = arena_alloc(a, want + 1);
	size_t n = fread(data, 1, want, f);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		errorf(err, errlen, "%s: read error", path);
		return NULL;
	}
	if (n == want) {
		errorf(err, errlen, "%s: changed while it was read; try again", path);
		return NULL;
	}
	if (!utf8_valid(data, n)) {
		/* Find the line for the message. */
		int line = 1;
		for (size_t i = 0; i < n && utf8_valid(data, i + 1 < n ? i + 1 : n); i++)
			line += data[i] == '\n';
		errorf(err, errlen, "%s:%d: not valid UTF-8 (or contains a NUL byte)", path, line);
		return NULL;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!(data[i] == '\r' && i + 1 < n && data[i + 1] == '\n'))
			data[k++] = data[i];
	data[k] = '\0';
	return data;
}

/* "a,b ,, c" -> "a, b, c" (upper-cased when upper). */
static const char *canon_list(struct arena *a, const char *s, bool upper)
{
	char **items;
	size_t n = split_list(a, s, &items);
	struct buf b;
	buf_init(&b, MAX_LIST_CHARS * 4 + 16);
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_adds(&b, ", ");
		if (upper)
			for (char *p = items[i]; *p; p++)
				if (*p >= 'a' && *p <= 'z')
					*p = (char)(*p - 'a' + 'A');
		buf_adds(&b, items[i]);
	}
	const char *r = arena_strdup(a, buf_str(&b));
	buf_free(&b);
	return r;
}

static bool too_long(const char *s, size_t max_chars)
{
	return utf8_length(s) > max_chars;
}

static bool parse_sections(struct arena *a, const char *dir, struct kb_batch *b, char *err, size_t errlen)
{
	char *path = arena_printf(a, "%s/sections", dir);
	char *data = read_file(a, path, err, errlen);
	if (!data)
		return false;
	size_t cap = 8;
	b->sections = arena_alloc(a, cap * sizeof *b->sections);
	int line = 0;
	for (char *p = data, *next; *p; p = next) {
		line++;
		char *nl = strchr(p, '\n');
		next = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = '\0';
		str_trim(p);
		if (!*p || *p == '#')
			continue;
		char *f[4];
		int nf = 0;
		for (char *q = p; nf < 4; nf++) {
			f[nf] = q;
			char *bar = strchr(q, '|');
			if (!bar) {
				nf++;
				break;
			}
			*bar = '\0';
			q = bar + 1;
		}
		if (nf != 4 || strchr(f[3], '|'))
			return errorf(err, errlen, "%s:%d: expected 4 fields: slug | title | order | description", path,
				      line);
		for (int i = 0; i < 4; i++)
			str_trim(f[i]);
		if (!slug_valid(f[0]))
			return errorf(err, errlen, "%s:%d: bad section slug \"%s\" (use a-z, 0-9, -)", path, line,
				      f[0]);
		if (!*f[1] || too_long(f[1], MAX_TITLE_CHARS))
			return errorf(err, errlen, "%s:%d: title must be 1-%d characters", path, line, MAX_TITLE_CHARS);
		char *end;
		long pos = strtol(f[2], &end, 10);
		if (!*f[2] || *end || pos < -100000 || pos > 100000)
			return errorf(err, errlen, "%s:%d: order must be an integer, got \"%s\"", path, line, f[2]);
		if (too_long(f[3], MAX_DESCRIPTION_CHARS))
			return errorf(err, errlen, "%s:%d: description longer than %d characters", path, line,
				      MAX_DESCRIPTION_CHARS);
		for (size_t i = 0; i < b->n_sections; i++)
			if (!strcmp(b->sections[i].slug, f[0]))
				return errorf(err, errlen, "%s:%d: section \"%s\" listed twice", path, line, f[0]);
		if (b->n_sections == cap) {
			struct kb_section *bigger = arena_alloc(a, 2 * cap * sizeof *bigger);
			memcpy(bigger, b->sections, cap * sizeof *bigger);
			b->sections = bigger;
			cap *= 2;
		}
		b->sections[b->n_sections++] =
		    (struct kb_section){.slug = f[0], .title = f[1], .position = (int)pos, .description = f[3]};
	}
	return true;
}

enum {
	K_SLUG,
	K_COUNTRY,
	K_TITLE,
	K_SECTION,
	K_SUMMARY,
	K_UPDATED,
	K_COUNTRIES,
	K_KEYWORDS,
	K_RELATED,
	K_ORDER,
	K_PREPARE,
	K_REVIEW_BY,
	K_OWNER,
	K_COUNT
};
static const char *const key_names[K_COUNT] = {"slug",	  "country",   "title",	   "section", "summary",
					       "updated", "countries", "keywords", "related", "order",
					       "prepare", "review_by", "owner"};
#define MAX_ORDER 1000000

/* An owner's login as the desk takes it (auth.c): 2-64 of [a-z0-9._-]. */
static bool login_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > 64)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/*
 * Parses one article file. name is the file name; its stem gives the slug and, for a variant,
 * the country ("payout-setup.kz.md").
 */
static bool parse_article(struct arena *a, const char *path, const char *name, struct kb_text *t, int *related_line,
			  char *err, size_t errlen)
{
	char *data = read_file(a, path, err, errlen);
	if (!data)
		return false;
	char *stem = arena_strndup(a, name, strlen(name) - 3);
	const char *file_country = "";
	char *dot = strchr(stem, '.');
	if (dot) {
		*dot = '\0';
		const char *cc = dot + 1;
		if (strlen(cc) != 2 || cc[0] < 'a' || cc[0] > 'z' || cc[1] < 'a' || cc[1] > 'z')
			return errorf(err, errlen,
				      "%s:1: file name must be <slug>.md or <slug>.<cc>.md (cc: two letters)", path);
		char *up = arena_strdup(a, cc);
		up[0] = (char)(up[0] - 'a' + 'A');
		up[1] = (char)(up[1] - 'a' + 'A');
		file_country = up;
	}
	const char *val[K_COUNT] = {0};
	int lines[K_COUNT] = {0};
	int line = 1;
	char *p = data;
	char *nl = strchr(p, '\n');
	if (!nl || strncmp(p, "---", 3) != 0 || nl != p + 3)
		return errorf(err, errlen, "%s:1: the file must start with a front-matter line \"---\"", path);
	p = nl + 1;
	bool closed = false;
	/* "prepare:" with an empty value takes the "- item" lines under it (a YAML list). */
	struct buf list;
	buf_init(&list, MAX_LIST_CHARS * 4);
	bool in_list = false;
	while (*p) {
		line++;
		nl = strchr(p, '\n');
		char *next = nl ? nl + 1 : p + strlen(p);
		if (nl)
			*nl = '\0';
		if (!strcmp(p, "---")) {
			closed = true;
			p = next;
			break;
		}
		char *s = str_trim(p);
		if (in_list && s[0] == '-' && (s[1] == ' ' || !s[1])) {
			if (list.len)
				buf_addc(&list, '\n');
			buf_adds(&list, str_trim(s + 1));
			p = next;
			continue;
		}
		in_list = false;
		if (*s) {
			char *colon = strchr(s, ':');
			if (!colon)
				return buf_free(&list),
				       errorf(err, errlen, "%s:%d: expected \"key: value\"", path, line);
			*colon = '\0';
			char *key = str_trim(s), *value = str_trim(colon + 1);
			int k = 0;
			while (k < K_COUNT && strcmp(key_names[k], key) != 0)
				k++;
			if (k == K_COUNT)
				return buf_free(&list),
				       errorf(err, errlen, "%s:%d: unknown key \"%s\"", path, line, key);
			if (val[k]) {
				buf_free(&list);
				return errorf(err, errlen, "%s:%d: key \"%s\" given twice", path, line, key);
			}
			val[k] = value;
			lines[k] = line;
			in_list = k == K_PREPARE && !*value;
		}
		p = next;
	}
	if (val[K_PREPARE] && !*val[K_PREPARE])
		val[K_PREPARE] = arena_strdup(a, list.data && !buf_failed(&list) ? list.data : "");
	bool list_too_long = buf_failed(&list);
	buf_free(&list);
	if (!closed)
		return errorf(err, errlen, "%s:%d: the front matter is not closed with \"---\"", path, line);
	if (list_too_long)
		return errorf(err, errlen, "%s:%d: prepare: the list is too long", path, lines[K_PREPARE]);
	static const int required[] = {K_SLUG, K_TITLE, K_SECTION, K_UPDATED};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
		if (!val[required[i]] || !*val[required[i]])
			return errorf(err, errlen, "%s:%d: missing required key \"%s\"", path, line,
				      key_names[required[i]]);
	if (!slug_valid(val[K_SLUG]))
		return errorf(err, errlen, "%s:%d: bad slug \"%s\" (use a-z, 0-9, -)", path, lines[K_SLUG],
			      val[K_SLUG]);
	if (strcmp(val[K_SLUG], stem) != 0)
		return errorf(err, errlen, "%s:%d: slug \"%s\" does not match the file name", path, lines[K_SLUG],
			      val[K_SLUG]);
	const char *country = val[K_COUNTRY] ? val[K_COUNTRY] : "";
	if (*file_country || *country) {
		if (strcmp(country, file_country) != 0)
			return errorf(err, errlen,
				      "%s:%d: a country variant needs \"country: %s\" matching its file "
				      "name <slug>.<cc>.md",
				      path, lines[K_COUNTRY] ? lines[K_COUNTRY] : 1,
				      *file_country ? file_country : "XX");
		if (val[K_COUNTRIES])
			return errorf(err, errlen,
				      "%s:%d: a country variant has no \"countries\" key (it is for %s only)", path,
				      lines[K_COUNTRIES], country);
		if (val[K_ORDER])
			return errorf(
			    err, errlen,
			    "%s:%d: a country variant has no \"order\" key (it takes its general text's place)", path,
			    lines[K_ORDER]);
	}
	long order = 0;
	if (val[K_ORDER] && *val[K_ORDER]) {
		char *end;
		order = strtol(val[K_ORDER], &end, 10);
		if (*end || order < 1 || order > MAX_ORDER)
			return errorf(err, errlen, "%s:%d: order must be a whole number from 1 to %d, got \"%s\"", path,
				      lines[K_ORDER], MAX_ORDER, val[K_ORDER]);
	}
	if (too_long(val[K_TITLE], MAX_TITLE_CHARS))
		return errorf(err, errlen, "%s:%d: title longer than %d characters", path, lines[K_TITLE],
			      MAX_TITLE_CHARS);
	if (val[K_SUMMARY] && too_long(val[K_SUMMARY], MAX_SUMMARY_CHARS))
		return errorf(err, errlen, "%s:%d: summary longer than %d characters", path, lines[K_SUMMARY],
			      MAX_SUMMARY_CHARS);
	if (!date_valid(val[K_UPDATED]))
		return errorf(err, errlen, "%s:%d: updated must be a date YYYY-MM-DD, got \"%s\"", path,
			      lines[K_UPDATED], val[K_UPDATED]);
	for (int k = K_COUNTRIES; k <= K_RELATED; k++)
		if (val[k] && too_long(val[k], MAX_LIST_CHARS))
			return errorf(err, errlen, "%s:%d: %s longer than %d characters", path, lines[k], key_names[k],
				      MAX_LIST_CHARS);
	const char *prepare = kb_prepare_canon(a, val[K_PREPARE]);
	int n_items = 0;
	for (const char *q = prepare; *q; n_items++) {
		const char *e = strchr(q, '\n');
		size_t len = e ? (size_t)(e - q) : strlen(q);
		if (too_long(arena_strndup(a, q, len), KB_PREPARE_ITEM_CHARS))
			return errorf(err, errlen, "%s:%d: prepare: an item longer than %d characters", path,
				      lines[K_PREPARE], KB_PREPARE_ITEM_CHARS);
		q += len + (e ? 1 : 0);
	}
	if (n_items > KB_PREPARE_ITEMS)
		return errorf(err, errlen, "%s:%d: prepare: more than %d items", path, lines[K_PREPARE],
			      KB_PREPARE_ITEMS);
	if (val[K_REVIEW_BY] && *val[K_REVIEW_BY] && !date_valid(val[K_REVIEW_BY]))
		return errorf(err, errlen, "%s:%d: review_by must be a date YYYY-MM-DD, got \"%s\"", path,
			      lines[K_REVIEW_BY], val[K_REVIEW_BY]);
	if (val[K_OWNER] && *val[K_OWNER] && !login_valid(val[K_OWNER]))
		return errorf(err, errlen, "%s:%d: owner must be a desk login (letters, digits, . _ -), got \"%s\"",
			      path, lines[K_OWNER], val[K_OWNER]);
	const char *countries = canon_list(a, val[K_COUNTRIES] ? val[K_COUNTRIES] : "", true);
	char **items;
	size_t n = split_list(a, countries, &items);
	for (size_t i = 0; i < n; i++)
		if (!country_code_valid(items[i]))
			return errorf(err, errlen, "%s:%d: countries: \"%s\" is not a two-letter upper-case code", path,
				      lines[K_COUNTRIES], items[i]);
	const char *related = canon_list(a, val[K_RELATED] ? val[K_RELATED] : "", false);
	n = split_list(a, related, &items);
	for (size_t i = 0; i < n; i++)
		if (!slug_valid(items[i]))
			return errorf(err, errlen, "%s:%d: related: \"%s\" is not a slug", path, lines[K_RELATED],
				      items[i]);
	/* The body: without leading blank lines and trailing white space, ending in one '\n'. */
	while (*p == '\n' || *p == ' ' || *p == '\t') {
		char *e = p;
		while (*e == ' ' || *e == '\t')
			e++;
		if (*e != '\n')
			break;
		p = e + 1;
	}
	size_t blen = strlen(p);
	while (blen > 0 && (p[blen - 1] == '\n' || p[blen - 1] == ' ' || p[blen - 1] == '\t'))
		blen--;
	if (blen == 0)
		return errorf(err, errlen, "%s:%d: the article has no text after the front matter", path, line);
	*t = (struct kb_text){
	    .slug = val[K_SLUG],
	    .country = country,
	    .section = val[K_SECTION],
	    .title = val[K_TITLE],
	    .summary = val[K_SUMMARY] ? val[K_SUMMARY] : "",
	    .updated = val[K_UPDATED],
	    .countries = countries,
	    .keywords = canon_list(a, val[K_KEYWORDS] ? val[K_KEYWORDS] : "", false),
	    .related = related,
	    .body = arena_printf(a, "%.*s\n", (int)blen, p),
	    .position = (int)order,
	    .prepare = prepare,
	    .review_by = val[K_REVIEW_BY] ? val[K_REVIEW_BY] : "",
	    .owner = val[K_OWNER] ? val[K_OWNER] : "",
	};
	*related_line = lines[K_RELATED] ? lines[K_RELATED] : 1;
	return true;
}

static int cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

bool kb_read_dir(struct arena *a, const char *dir, struct kb_batch *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	if (!parse_sections(a, dir, b, err, errlen))
		return false;
	char *syn = arena_printf(a, "%s/synonyms.txt", dir);
	struct stat st;
	if (stat(syn, &st) == 0) {
		b->synonyms = read_file(a, syn, err, errlen);
		if (!b->synonyms)
			return false;
	}
	DIR *d = opendir(dir);
	if (!d)
		return errorf(err, errlen, "%s: cannot open directory: %s", dir, strerror(errno));
	size_t n = 0, cap = 64;
	char **names = xmalloc(cap * sizeof *names);
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".md") != 0)
			continue;
		if (n == cap)
			names = xrealloc(names, (cap *= 2) * sizeof *names);
		names[n++] = arena_strdup(a, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_names);
	b->positions = true;
	b->texts = arena_alloc(a, (n ? n : 1) * sizeof *b->texts);
	b->files = arena_alloc(a, (n ? n : 1) * sizeof *b->files);
	b->related_lines = arena_alloc(a, (n ? n : 1) * sizeof *b->related_lines);
	b->drafts = arena_alloc(a, (n ? n : 1) * sizeof *b->drafts);
	b->draft_files = arena_alloc(a, (n ? n : 1) * sizeof *b->draft_files);
	bool ok = true;
	for (size_t i = 0; i < n && ok; i++) {
		const char *path = arena_printf(a, "%s/%s", dir, names[i]);
		size_t len = strlen(names[i]);
		/* <slug>[.<cc>].draft.md: a draft, read as the published file of the same name. */
		bool draft = len > 9 && !strcmp(names[i] + len - 9, ".draft.md");
		if (draft) {
			const char *as = arena_printf(a, "%.*s.md", (int)(len - 9), names[i]);
			int unused;
			ok = parse_article(a, path, as, &b->drafts[b->n_drafts], &unused, err, errlen);
			if (ok)
				b->draft_files[b->n_drafts++] = path;
			continue;
		}
		struct kb_text *t = &b->texts[b->n_texts];
		ok = parse_article(a, path, names[i], t, &b->related_lines[b->n_texts], err, errlen);
		if (ok)
			b->files[b->n_texts++] = path;
	}
	free(names);
	return ok;
}

/* ---- import ---- */

static bool section_exists(struct db *db, const char *slug)
{
	struct db_stmt *st = db_prepare(db, "SELECT 1 FROM sections WHERE slug = ?");
	if (!st)
		return false;
	db_bind_text(st, 1, slug);
	bool found = db_step(st) == DB_ROW;
	db_finalize(st);
	return found;
}

/* Section of the general text of slug ("" when there is none) into buf. */
static bool general_section(struct db *db, const char *slug, char *out, size_t outlen)
{
	struct db_stmt *st = db_prepare(db, "SELECT section FROM articles WHERE slug = ? AND country = ''");
	out[0] = '\0';
	if (!st)
		return false;
	db_bind_text(st, 1, slug);
	bool found = db_step(st) == DB_ROW;
	if (found)
		snprintf(out, outlen, "%s", db_col_text(st, 0));
	db_finalize(st);
	return found;
}

/* Orders indexes of batch texts (qsort_r's context: the batch) by slug, then country. */
static int cmp_texts(const void *x, const void *y, void *batch)
{
	const struct kb_batch *kb = batch;
	const struct kb_text *a = &kb->texts[*(const size_t *)x];
	const struct kb_text *b = &kb->texts[*(const size_t *)y];
	int c = strcmp(a->slug, b->slug);
	return c ? c : strcmp(a->country, b->country);
}

/* The texts an import wrote or removed, for the change log (up to KB_CHANGES_MAX + 1). */
struct changed_keys {
	struct {
		const char *slug; /* the batch's string */
		char country[3];
	} k[KB_CHANGES_MAX + 1];
	int n;
};

static void key_changed(struct changed_keys *ck, const char *slug, const char *country)
{
	if (ck->n > KB_CHANGES_MAX)
		return;
	ck->k[ck->n].slug = slug;
	snprintf(ck->k[ck->n].country, sizeof ck->k[ck->n].country, "%s", country);
	ck->n++;
}

/* A changed text's state as its next revision, published (an import's), the one before it
 * superseded (kb.h, revisions). */
static bool record_revision(struct db *db, const struct kb_text *t, const char *message)
{
	struct db_stmt *st = db_prepare(db, kb_supersede_sql);
	bool ok = st && db_bind_text(st, 1, t->slug) == DB_OK && db_bind_text(st, 2, t->country) == DB_OK &&
		  db_step(st) == DB_DONE;
	db_finalize(st);
	return ok && kb_revision_insert(db, t, "published", 0, message) > 0;
}

static bool import_rows(struct db *db, const struct kb_batch *b, long *changed, struct changed_keys *ck, bool revisions,
			char *err, size_t errlen)
{
	/* The columns compared are NOT NULL, so <> says "differs" (no IS DISTINCT FROM needed). */
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO sections(slug, title, position, description) VALUES (?, ?, ?, ?) "
			   "ON CONFLICT (slug) DO UPDATE SET title = excluded.title, position = excluded.position, "
			   "description = excluded.description WHERE sections.title <> excluded.title "
			   "OR sections.position <> excluded.position "
			   "OR sections.description <> excluded.description");
	if (!st)
		return errorf(err, errlen, "database: %s", db_errmsg(db));
	for (size_t i = 0; i < b->n_sections; i++) {
		const struct kb_section *s = &b->sections[i];
		db_reset(st);
		db_bind_text(st, 1, s->slug);
		db_bind_text(st, 2, s->title);
		db_bind_int(st, 3, s->position);
		db_bind_text(st, 4, s->description);
		if (db_step(st) != DB_DONE) {
			errorf(err, errlen, "database: %s", db_errmsg(db));
			db_finalize(st);
			return false;
		}
		*changed += (long)db_changes(db);
	}
	db_finalize(st);

	/* Texts of a slug that the batch no longer has are removed; the rest are upserted. */
	struct db_stmt *existing = db_prepare(db, "SELECT country FROM articles WHERE slug = ?");
	struct db_stmt *del = db_prepare(db, "DELETE FROM articles WHERE slug = ? AND country = ?");
	struct db_stmt *up =
	    db_prepare(db, "INSERT INTO articles(slug, country, section, title, summary, updated, countries, "
			   "keywords, related, body, prepare, review_by, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
			   "?, ?, ?) ON CONFLICT (slug, country) DO UPDATE SET section = excluded.section, "
			   "position = CASE WHEN articles.section <> excluded.section THEN 1000000000 "
			   "ELSE articles.position END, "
			   "title = excluded.title, summary = excluded.summary, updated = excluded.updated, "
			   "countries = excluded.countries, keywords = excluded.keywords, "
			   "related = excluded.related, body = excluded.body, prepare = excluded.prepare, "
			   "review_by = excluded.review_by, owner = excluded.owner "
			   "WHERE articles.section <> excluded.section OR articles.title <> excluded.title "
			   "OR articles.summary <> excluded.summary OR articles.updated <> excluded.updated "
			   "OR articles.countries <> excluded.countries "
			   "OR articles.keywords <> excluded.keywords OR articles.related <> excluded.related "
			   "OR articles.body <> excluded.body OR articles.prepare <> excluded.prepare "
			   "OR articles.review_by <> excluded.review_by OR articles.owner <> excluded.owner");
	struct db_stmt *unredirect = db_prepare(db, kb_unredirect_sql);
	/* The batch's place of a general text (import: `order:`, or none). */
	struct db_stmt *place =
	    db_prepare(db, "UPDATE articles SET position = ? WHERE slug = ? AND country = '' AND position <> ?");
	bool ok = existing && del && up && unredirect && place;
	if (!ok)
		errorf(err, errlen, "database: %s", db_errmsg(db));
	/* The batch's texts in (slug, country) order, so that each slug's texts are one run: linear
	 * work per slug instead of a scan of the whole batch per text. */
	size_t *order = xmalloc((b->n_texts ? b->n_texts : 1) * sizeof *order);
	for (size_t i = 0; i < b->n_texts; i++)
		order[i] = i;
	qsort_r(order, b->n_texts, sizeof *order, cmp_texts, (void *)b);
	for (size_t g = 0; ok && g < b->n_texts;) {
		const char *slug = b->texts[order[g]].slug;
		size_t end = g + 1;
		while (end < b->n_texts && !strcmp(b->texts[order[end]].slug, slug))
			end++;
		/* A slug written is on the portal again: not archived nor renamed away. */
		db_reset(unredirect);
		db_bind_text(unredirect, 1, slug);
		ok = db_step(unredirect) == DB_DONE;
		*changed += (long)db_changes(db);
		db_reset(existing);
		db_bind_text(existing, 1, slug);
		char stale[64][3];
		int nstale = 0;
		while (db_step(existing) == DB_ROW && nstale < 64) {
			const char *c = db_col_text(existing, 0);
			bool kept = false;
			for (size_t j = g; j < end && !kept; j++)
				kept = !strcmp(b->texts[order[j]].country, c);
			if (!kept)
				snprintf(stale[nstale++], 3, "%s", c);
		}
		for (int k = 0; k < nstale && ok; k++) {
			db_reset(del);
			db_bind_text(del, 1, slug);
			db_bind_text(del, 2, stale[k]);
			ok = db_step(del) == DB_DONE;
			if (ok && db_changes(db) > 0)
				key_changed(ck, slug, stale[k]);
			*changed += (long)db_changes(db);
		}
		g = end;
	}
	/* In (slug, country) order too: an article's revisions are numbered general text first. */
	for (size_t k = 0; ok && k < b->n_texts; k++) {
		size_t i = order[k];
		const struct kb_text *t = &b->texts[i];
		if (ok && !section_exists(db, t->section)) {
			ok = errorf(err, errlen, "%s: section \"%s\" does not exist (see the sections file)",
				    b->files[i], t->section);
			break;
		}
		/* Published into another section (not an import, whose files give the places): the
		 * article goes to the end of its new section. */
		char was[128] = "";
		bool to_end = !b->positions && !*t->country && general_section(db, t->slug, was, sizeof was) &&
			      strcmp(was, t->section) != 0;
		db_reset(up);
		const char *v[] = {t->slug,    t->country,   t->section,  t->title,   t->summary,
				   t->updated, t->countries, t->keywords, t->related, t->body,
				   t->prepare, t->review_by, t->owner};
		for (int col = 0; col < (int)(sizeof v / sizeof v[0]); col++)
			db_bind_text(up, col + 1, v[col] ? v[col] : "");
		if (ok && db_step(up) != DB_DONE)
			ok = false;
		long n = ok ? (long)db_changes(db) : 0;
		if (ok && n > 0 && revisions)
			ok = record_revision(db, t, b->message ? b->message : "импорт");
		if (ok && to_end && !kb_place_at_end(db, t->section, t->slug))
			ok = false;
		long moved = 0; /* only its place changed: no revision (a place is not the text's) */
		if (ok && b->positions && !*t->country) {
			int64_t pos = t->position > 0 ? t->position : KB_POSITION_NONE;
			db_reset(place);
			db_bind_int(place, 1, pos);
			db_bind_text(place, 2, t->slug);
			db_bind_int(place, 3, pos);
			ok = db_step(place) == DB_DONE;
			moved = ok ? (long)db_changes(db) : 0;
		}
		if (!ok)
			errorf(err, errlen, "%s: database: %s", b->files[i], db_errmsg(db));
		else if (n + moved > 0)
			key_changed(ck, t->slug, t->country);
		*changed += n + moved;
	}
	free(order);
	db_finalize(existing);
	db_finalize(del);
	db_finalize(up);
	db_finalize(unredirect);
	db_finalize(place);
	return ok;
}

/* What only the database can tell: general texts and related articles exist. */
static bool check_references(struct db *db, const struct kb_batch *b, char *err, size_t errlen)
{
	char sect[128];
	for (size_t i = 0; i < b->n_texts; i++) {
		const struct kb_text *t = &b->texts[i];
		if (!general_section(db, t->slug, sect, sizeof sect))
			return errorf(err, errlen, "%s: variant without a general text %s.md", b->files[i], t->slug);
		if (*t->country && strcmp(sect, t->section) != 0)
			return errorf(err, errlen, "%s: a variant must be in the section of its general text (\"%s\")",
				      b->files[i], sect);
		struct arena *a = arena_new();
		char **items;
		size_t n = split_list(a, t->related, &items);
		for (size_t k = 0; k < n; k++) {
			if (!general_section(db, items[k], sect, sizeof sect)) {
				errorf(err, errlen, "%s:%d: related article \"%s\" does not exist", b->files[i],
				       b->related_lines[i], items[k]);
				arena_free(a);
				return false;
			}
		}
		arena_free(a);
	}
	return true;
}

/*
 * The change log rows of version v (see kb.h): each changed text, or one row for everything;
 * then the rows of versions older than the last KB_CHANGES_KEPT go, and content_log_from says so.
 */
static bool log_changes(struct db *db, int64_t v, const struct changed_keys *ck, bool everything)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO content_changes(version, slug, country) VALUES (?, ?, ?) "
					    "ON CONFLICT DO NOTHING");
	bool ok = st != NULL;
	everything |= ck->n > KB_CHANGES_MAX;
	for (int i = 0; ok && i < (everything ? 1 : ck->n); i++) {
		db_reset(st);
		db_bind_int(st, 1, v);
		db_bind_text(st, 2, everything ? "" : ck->k[i].slug);
		db_bind_text(st, 3, everything ? "" : ck->k[i].country);
		ok = db_step(st) == DB_DONE;
	}
	db_finalize(st);
	int64_t keep_from = v - KB_CHANGES_KEPT;
	if (ok && keep_from > 0) {
		st = db_prepare(db, "DELETE FROM content_changes WHERE version <= ?");
		ok = st && db_bind_int(st, 1, keep_from) == DB_OK && db_step(st) == DB_DONE;
		db_finalize(st);
		st = ok ? db_prepare(db, "UPDATE content_state SET log_from = ? WHERE log_from < ?") : NULL;
		ok = st && db_bind_int(st, 1, keep_from) == DB_OK && db_bind_int(st, 2, keep_from) == DB_OK &&
		     db_step(st) == DB_DONE;
		db_finalize(st);
	}
	return ok;
}

/* After n rows changed (ck the texts): the kept section counts, the content version, the change
 * log and the notification (nothing when n is 0). */
static bool announce(struct db *db, long n, const struct changed_keys *ck, bool synonyms_changed, char *err,
		     size_t errlen)
{
	bool ok = true;
	if (ok && n > 0) {
		/* The kept counts of kb_section_list (one pass over the index of migration 7; articles
		 * may have moved between sections, so every section). */
		struct db_stmt *st =
		    db_prepare(db, "UPDATE sections SET article_count = (SELECT count(*) FROM articles a "
				   "WHERE a.section = sections.slug AND a.country = '')");
		ok = st && db_step(st) == DB_DONE;
		db_finalize(st);
		if (!ok)
			errorf(err, errlen, "database: %s", db_errmsg(db));
	}
	if (ok && n > 0) {
		struct db_stmt *st =
		    db_prepare(db, "UPDATE content_state SET version = version + 1, changed = ? RETURNING version");
		ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK && db_step(st) == DB_ROW;
		int64_t v = ok ? db_col_int(st, 0) : -1;
		db_finalize(st);
		ok = v >= 0 && log_changes(db, v, ck, synonyms_changed) && db_notify(db, KB_CHANNEL) == DB_OK;
		if (!ok)
			errorf(err, errlen, "database: %s", db_errmsg(db));
	}
	return ok;
}

bool kb_announce_change(struct db *db, char *err, size_t errlen)
{
	struct changed_keys *ck = xcalloc(1, sizeof *ck);
	bool ok = announce(db, 1, ck, false, err, errlen);
	free(ck);
	return ok;
}

bool kb_write_batch(struct db *db, const struct kb_batch *b, bool revisions, long *changed, char *err, size_t errlen)
{
	long n = 0;
	struct changed_keys *ck = xcalloc(1, sizeof *ck);
	bool synonyms_changed = false;
	bool ok = import_rows(db, b, &n, ck, revisions, err, errlen) && check_references(db, b, err, errlen);
	if (ok && b->synonyms) {
		struct db_stmt *st =
		    db_prepare(db, "INSERT INTO meta(key, value) VALUES ('synonyms', ?) ON CONFLICT (key) DO UPDATE "
				   "SET value = excluded.value WHERE meta.value <> excluded.value");
		ok = st && db_bind_text(st, 1, b->synonyms) == DB_OK && db_step(st) == DB_DONE;
		if (ok) {
			synonyms_changed = db_changes(db) > 0;
			n += (long)db_changes(db);
		}
		db_finalize(st);
		if (!ok)
			errorf(err, errlen, "database: %s", db_errmsg(db));
	}
	if (ok)
		ok = announce(db, n, ck, synonyms_changed, err, errlen);
	free(ck);
	*changed = ok ? n : 0;
	return ok;
}

/* list ("a, b") with every item equal to from replaced by to (dropped when to is NULL, or when to
 * is there already); NULL when from is not in it. */
static const char *relinked(struct arena *a, const char *list, const char *from, const char *to)
{
	char **items;
	size_t n = split_list(a, list, &items);
	bool found = false, has_to = false;
	for (size_t i = 0; i < n; i++) {
		found |= !strcmp(items[i], from);
		has_to |= to && !strcmp(items[i], to);
	}
	if (!found)
		return NULL;
	struct buf out;
	buf_init(&out, 4096);
	for (size_t i = 0; i < n; i++) {
		const char *item = items[i];
		if (!strcmp(item, from)) {
			if (!to || has_to)
				continue;
			item = to;
			has_to = true;
		}
		if (out.len)
			buf_adds(&out, ", ");
		buf_adds(&out, item);
	}
	const char *r = arena_strdup(a, out.data ? out.data : "");
	buf_free(&out);
	return r;
}

bool kb_move_texts(struct db *db, const char *slug, const char *to, bool move, const char *message, char *err,
		   size_t errlen)
{
	struct changed_keys *ck = xcalloc(1, sizeof *ck);
	struct arena *a = arena_new();
	long n = 0;
	struct db_stmt *st = db_prepare(db, "SELECT country FROM articles WHERE slug = ?");
	enum db_rc rc = st && db_bind_text(st, 1, slug) == DB_OK ? DB_ROW : DB_ERR;
	while (rc == DB_ROW && (rc = db_step(st)) == DB_ROW) {
		const char *c = arena_strdup(a, db_col_text(st, 0));
		key_changed(ck, slug, c);
		if (move)
			key_changed(ck, to, c);
	}
	db_finalize(st);
	bool ok = rc == DB_DONE;
	if (ok) {
		st = db_prepare(db, move ? "UPDATE articles SET slug = ? WHERE slug = ?"
					 : "DELETE FROM articles WHERE slug = ?");
		ok = st && db_bind_text(st, 1, move ? to : slug) == DB_OK &&
		     (!move || db_bind_text(st, 2, slug) == DB_OK) && db_step(st) == DB_DONE;
		n += ok ? (long)db_changes(db) : 0;
		db_finalize(st);
	}
	/* The other texts that name slug among their related articles: the names are canonical
	 * ("a, b"), so LIKE finds a superset, checked item by item. */
	size_t nt = 0, cap = 8;
	struct kb_text *texts = arena_alloc(a, cap * sizeof *texts);
	if (ok) {
		st = db_prepare(db, "SELECT slug, country, section, title, summary, updated, countries, keywords, "
				    "related, body, prepare, review_by, owner FROM articles WHERE related LIKE ? ORDER "
				    "BY slug, country");
		rc = st && db_bind_text(st, 1, arena_printf(a, "%%%s%%", slug)) == DB_OK ? DB_ROW : DB_ERR;
		while (rc == DB_ROW && (rc = db_step(st)) == DB_ROW) {
			const char *related = relinked(a, db_col_text(st, 8), slug, to);
			if (!related)
				continue;
			if (nt == cap) {
				struct kb_text *more = arena_alloc(a, cap * 2 * sizeof *texts);
				memcpy(more, texts, nt * sizeof *texts);
				texts = more;
				cap *= 2;
			}
			const char *c[13];
			for (int i = 0; i < 13; i++)
				c[i] = arena_strdup(a, db_col_text(st, i));
			texts[nt++] = (struct kb_text){.slug = c[0],
						       .country = c[1],
						       .section = c[2],
						       .title = c[3],
						       .summary = c[4],
						       .updated = c[5],
						       .countries = c[6],
						       .keywords = c[7],
						       .related = related,
						       .body = c[9],
						       .prepare = c[10],
						       .review_by = c[11],
						       .owner = c[12]};
		}
		db_finalize(st);
		ok = rc == DB_DONE;
	}
	st = ok ? db_prepare(db, "UPDATE articles SET related = ? WHERE slug = ? AND country = ?") : NULL;
	ok = !ok || st;
	for (size_t i = 0; ok && i < nt; i++) {
		db_reset(st);
		db_bind_text(st, 1, texts[i].related);
		db_bind_text(st, 2, texts[i].slug);
		db_bind_text(st, 3, texts[i].country);
		ok = db_step(st) == DB_DONE && record_revision(db, &texts[i], message);
		key_changed(ck, texts[i].slug, texts[i].country);
		n++;
	}
	db_finalize(st);
	if (!ok)
		errorf(err, errlen, "database: %s", db_errmsg(db));
	else
		ok = announce(db, n, ck, false, err, errlen);
	arena_free(a);
	free(ck);
	return ok;
}

static int cmp_strs(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Archives (410, history kept) every published article whose slug the batch has no text of. */
static bool archive_missing(struct db *db, const struct kb_batch *b, long *changed, char *err, size_t errlen)
{
	if (!b->n_texts)
		return errorf(err, errlen, "the directory has no articles: --archive-missing would archive them all");
	const char **slugs = xmalloc(b->n_texts * sizeof *slugs);
	for (size_t i = 0; i < b->n_texts; i++)
		slugs[i] = b->texts[i].slug;
	qsort(slugs, b->n_texts, sizeof *slugs, cmp_strs);
	struct arena *a = arena_new();
	size_t n = 0, cap = 0;
	const char **gone = NULL;
	struct db_stmt *st = db_prepare(db, "SELECT slug FROM articles WHERE country = '' ORDER BY slug");
	enum db_rc rc = st ? DB_ROW : DB_ERR;
	while (rc == DB_ROW && (rc = db_step(st)) == DB_ROW) {
		const char *slug = db_col_text(st, 0);
		if (bsearch(&slug, slugs, b->n_texts, sizeof *slugs, cmp_strs))
			continue;
		gone = arena_grow(a, gone, n, &cap, sizeof *gone);
		gone[n++] = arena_strdup(a, slug);
	}
	db_finalize(st);
	bool ok = rc == DB_DONE;
	if (!ok)
		errorf(err, errlen, "database: %s", db_errmsg(db));
	for (size_t i = 0; ok && i < n; i++) {
		ok = kb_move_texts(db, gone[i], NULL, false, "ссылка на перенесённую статью", err, errlen);
		if (ok && !(kb_redirect_set(db, gone[i], "", 410) &&
			    kb_audit_add(db, 0, "archive", gone[i], "импорт: статьи нет в каталоге")))
			ok = errorf(err, errlen, "database: %s", db_errmsg(db));
		*changed += 1;
	}
	arena_free(a);
	free(slugs);
	return ok;
}

/* Saves each draft of the batch as a draft revision, unless the newest revision of its (slug,
 * country) has its text already (so that importing twice adds nothing). */
static bool import_drafts(struct db *db, const struct kb_batch *b, long *saved, char *err, size_t errlen)
{
	struct db_stmt *st =
	    db_prepare(db, "SELECT section, title, summary, countries, keywords, related, body FROM article_revisions "
			   "WHERE slug = ? AND country = ? ORDER BY n DESC LIMIT 1");
	bool ok = st != NULL;
	for (size_t i = 0; ok && i < b->n_drafts; i++) {
		const struct kb_text *t = &b->drafts[i];
		if (!section_exists(db, t->section)) {
			ok = errorf(err, errlen, "%s: section \"%s\" does not exist (see the sections file)",
				    b->draft_files[i], t->section);
			break;
		}
		db_reset(st);
		db_bind_text(st, 1, t->slug);
		db_bind_text(st, 2, t->country);
		enum db_rc rc = db_step(st);
		bool same = false;
		if (rc == DB_ROW) {
			const char *now[] = {t->section,  t->title,   t->summary, t->countries,
					     t->keywords, t->related, t->body};
			same = true;
			for (int k = 0; k < 7 && same; k++)
				same = !strcmp(db_col_text(st, k), now[k]);
		}
		ok = rc == DB_ROW || rc == DB_DONE;
		db_reset(st);
		char detail[64];
		int64_t n = 0;
		if (ok && !same) {
			n = kb_revision_insert(db, t, "draft", 0, "импорт черновика");
			snprintf(detail, sizeof detail, "revision %lld", (long long)n);
			ok = n > 0 && kb_audit_add(db, 0, "draft", t->slug, detail);
			*saved += 1;
		}
		if (!ok)
			errorf(err, errlen, "%s: database: %s", b->draft_files[i], db_errmsg(db));
	}
	db_finalize(st);
	return ok;
}

bool kb_import(struct db *db, const struct kb_batch *b, long *changed, char *err, size_t errlen)
{
	long n = 0;
	char detail[64];
	if (db_begin_write(db) != DB_OK)
		return errorf(err, errlen, "database is busy: %s", db_errmsg(db));
	bool ok = kb_write_batch(db, b, true, &n, err, errlen);
	if (ok && b->archive_missing)
		ok = archive_missing(db, b, &n, err, errlen);
	if (ok && b->n_drafts)
		ok = import_drafts(db, b, &n, err, errlen);
	snprintf(detail, sizeof detail, "%ld changes", n);
	if (ok && n > 0 && !kb_audit_add(db, 0, "import", "", detail))
		ok = errorf(err, errlen, "database: %s", db_errmsg(db));
	if (ok && db_commit(db) != DB_OK)
		ok = errorf(err, errlen, "commit failed: %s", db_errmsg(db));
	if (!ok)
		db_rollback(db);
	if (changed)
		*changed = ok ? n : 0;
	return ok;
}

/* ---- export ---- */

static bool write_file(const char *path, const struct buf *b, char *err, size_t errlen)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "wb");
	if (!f)
		return errorf(err, errlen, "%s: %s", tmp, strerror(errno));
	bool ok = fwrite(buf_str(b), 1, b->len, f) == b->len;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		remove(tmp);
		return errorf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	}
	return true;
}

/* "key: value", or "key:" alone for an empty value (no trailing white space). */
static void put_key(struct buf *b, const char *key, const char *value)
{
	if (*value)
		buf_printf(b, "%s: %s\n", key, value);
	else
		buf_printf(b, "%s:\n", key);
}

/* The text of an article file (front matter and body), as kb_read_dir reads it. */
static void put_text(struct buf *b, const struct kb_text *t)
{
	buf_adds(b, "---\n");
	put_key(b, "slug", t->slug);
	if (*t->country)
		put_key(b, "country", t->country);
	put_key(b, "title", t->title);
	put_key(b, "section", t->section);
	if (!*t->country && t->position > 0)
		buf_printf(b, "order: %d\n", t->position);
	put_key(b, "summary", t->summary);
	put_key(b, "updated", t->updated);
	if (!*t->country)
		put_key(b, "countries", t->countries);
	put_key(b, "keywords", t->keywords);
	put_key(b, "related", t->related);
	if (t->prepare && *t->prepare) {
		/* A YAML list: "prepare:" then one "- item" a line. */
		buf_adds(b, "prepare:\n");
		for (const char *q = t->prepare; *q;) {
			const char *e = strchr(q, '\n');
			size_t len = e ? (size_t)(e - q) : strlen(q);
			buf_printf(b, "  - %.*s\n", (int)len, q);
			q += len + (e ? 1 : 0);
		}
	}
	if (t->review_by && *t->review_by)
		put_key(b, "review_by", t->review_by);
	if (t->owner && *t->owner)
		put_key(b, "owner", t->owner);
	buf_printf(b, "---\n%s", t->body);
}

/* dir/<slug>[.<cc>]<suffix>.md */
static const char *text_path(struct arena *a, const char *dir, const struct kb_text *t, const char *suffix)
{
	char cc[4] = {0};
	if (*t->country) {
		cc[0] = '.';
		cc[1] = (char)(t->country[0] - 'A' + 'a');
		cc[2] = (char)(t->country[1] - 'A' + 'a');
	}
	return arena_printf(a, "%s/%s%s%s.md", dir, t->slug, cc, suffix);
}

/* The newest revision of each (slug, country) when it is a draft or in review, as
 * <slug>[.<cc>].draft.md (updated: the day it was saved). */
static bool export_drafts(struct db *db, struct arena *a, const char *dir, struct buf *b, char *err, size_t errlen)
{
	struct db_stmt *st = db_prepare(
	    db, "SELECT r.slug, r.country, r.section, r.title, r.summary, r.countries, r.keywords, r.related, r.body, "
		"r.prepare, r.review_by, r.owner, r.created FROM article_revisions r WHERE r.status IN ('draft', "
		"'review') AND r.n = (SELECT max(x.n) "
		"FROM article_revisions x WHERE x.slug = r.slug AND x.country = r.country) ORDER BY r.slug, r.country");
	if (!st)
		return errorf(err, errlen, "database: %s", db_errmsg(db));
	bool ok = true;
	enum db_rc rc = DB_DONE;
	while (ok && (rc = db_step(st)) == DB_ROW) {
		const char *c[12];
		for (int i = 0; i < 12; i++)
			c[i] = arena_strdup(a, db_col_text(st, i));
		char day[16];
		time_t at = (time_t)db_col_int(st, 12);
		struct tm tm;
		gmtime_r(&at, &tm);
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		struct kb_text t = {.slug = c[0],
				    .country = c[1],
				    .section = c[2],
				    .title = c[3],
				    .summary = c[4],
				    .countries = c[5],
				    .keywords = c[6],
				    .related = c[7],
				    .body = c[8],
				    .prepare = c[9],
				    .review_by = c[10],
				    .owner = c[11],
				    .updated = day};
		buf_reset(b);
		put_text(b, &t);
		const char *path = text_path(a, dir, &t, ".draft");
		ok = buf_failed(b) ? errorf(err, errlen, "%s: too large", path) : write_file(path, b, err, errlen);
	}
	if (ok && rc != DB_DONE)
		ok = errorf(err, errlen, "database: %s", db_errmsg(db));
	db_finalize(st);
	return ok;
}

bool kb_export(struct db *db, const char *dir, bool drafts, char *err, size_t errlen)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return errorf(err, errlen, "%s: cannot create: %s", dir, strerror(errno));
	struct arena *a = arena_new();
	struct buf b;
	buf_init(&b, 8u << 20);
	bool ok = true;
	struct kb_section *secs;
	int ns = kb_sections(db, a, &secs);
	struct kb_text *texts;
	int nt = kb_all_texts(db, a, &texts);
	if (ns < 0 || nt < 0) {
		ok = errorf(err, errlen, "database: %s", db_errmsg(db));
		goto out;
	}
	buf_adds(&b, "# slug | title | order | description\n");
	for (int i = 0; i < ns; i++)
		buf_printf(&b, "%s | %s | %d | %s\n", secs[i].slug, secs[i].title, secs[i].position,
			   secs[i].description);
	ok = write_file(arena_printf(a, "%s/sections", dir), &b, err, errlen);
	const char *syn = kb_synonyms(db, a);
	if (ok && *syn) {
		buf_reset(&b);
		buf_adds(&b, syn);
		ok = write_file(arena_printf(a, "%s/synonyms.txt", dir), &b, err, errlen);
	}
	for (int i = 0; ok && i < nt; i++) {
		const struct kb_text *t = &texts[i];
		buf_reset(&b);
		put_text(&b, t);
		const char *path = text_path(a, dir, t, "");
		ok = buf_failed(&b) ? errorf(err, errlen, "%s: too large", path) : write_file(path, &b, err, errlen);
	}
	if (ok && drafts)
		ok = export_drafts(db, a, dir, &b, err, errlen);
out:
	buf_free(&b);
	arena_free(a);
	return ok;
}
