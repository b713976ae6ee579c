/*
 * Content gaps closed in one step (kb.h, "gaps"; issue #10): the words of a failed search added
 * to an article's keywords as a revision like any other, or to the synonym list.
 */
#include "kb.h"
#include "kb_int.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* One audit row in a transaction of its own. */
static bool audit_alone(struct db *db, int64_t user, const char *action, const char *slug, const char *detail)
{
	if (db_begin_write(db) != DB_OK)
		return false;
	if (kb_audit_add(db, user, action, slug, detail) && db_commit(db) == DB_OK)
		return true;
	db_rollback(db);
	return false;
}

/* s case-folded (Unicode), in a. */
static const char *folded(struct arena *a, const char *s)
{
	utf8proc_uint8_t *out = NULL;
	if (utf8proc_map((const utf8proc_uint8_t *)s, 0, &out,
			 UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD) < 0) {
		free(out);
		return s;
	}
	const char *r = arena_strdup(a, (const char *)out);
	free(out);
	return r;
}

/* list ("a, b") with phrase appended unless an item equals it (case-insensitively); NULL when it
 * is there already. */
static const char *with_item(struct arena *a, const char *list, const char *phrase)
{
	char **items;
	size_t n = split_list(a, list ? list : "", &items);
	const char *want = folded(a, phrase);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(folded(a, items[i]), want))
			return NULL;
	const char *have = str_trim(arena_strdup(a, list ? list : ""));
	return *have ? arena_printf(a, "%s, %s", have, phrase) : arena_strdup(a, phrase);
}

enum kb_gap_result kb_gap_keywords(struct db *db, struct arena *a, const char *slug, const char *phrase, int64_t user,
				   bool admin, bool review_required, int64_t *rev, char *err, size_t errlen)
{
	*rev = 0;
	snprintf(err, errlen, "database: unavailable");
	struct kb_revision *r;
	int n = kb_revisions(db, a, slug, &r);
	if (n < 0)
		return KB_GAP_FAILED;
	bool pending = false;
	int64_t base = n ? r[0].n : 0, general = 0;
	for (int i = 0; i < n; i++) {
		pending = pending || !strcmp(r[i].status, "draft") || !strcmp(r[i].status, "review");
		if (!general && !*r[i].country)
			general = r[i].n;
	}
	struct kb_text t;
	if (general) {
		struct kb_revision full;
		int found = kb_revision_get(db, a, slug, general, &full);
		if (found < 0)
			return KB_GAP_FAILED;
		if (!found)
			return KB_GAP_NOT_FOUND;
		t = full.text;
	} else {
		struct kb_view v;
		int found = kb_article_for(db, a, slug, "", &v);
		if (found <= 0)
			return found < 0 ? KB_GAP_FAILED : KB_GAP_NOT_FOUND;
		t = v.text;
	}
	const char *keywords = with_item(a, t.keywords, phrase);
	if (!keywords)
		return KB_GAP_ALREADY;
	if (utf8_length(keywords) > 1000) {
		snprintf(err, errlen, "keywords would exceed 1000 characters");
		return KB_GAP_TOO_LONG;
	}
	t.keywords = keywords;
	t.slug = slug;
	t.country = "";
	int64_t newest = 0;
	const char *message = arena_printf(a, "ключевые слова из поиска: %s", phrase);
	int64_t n_rev = kb_draft_save(db, &t, user, message, base, &newest, err, errlen);
	if (n_rev == KB_CONFLICT)
		return KB_GAP_CONFLICT;
	if (n_rev < 0)
		return KB_GAP_FAILED;
	*rev = n_rev;
	if (!audit_alone(db, user, "gap-keywords", slug,
			 arena_printf(a, "revision %lld: %s", (long long)n_rev, phrase)))
		return KB_GAP_FAILED;
	if (pending)
		return KB_GAP_DRAFT; /* someone's unpublished work is in the draft: publishing is theirs */
	int64_t p = 0;
	if (review_required && !admin)
		return kb_submit(db, slug, user, &p) == KB_SUBMITTED ? KB_GAP_REVIEW : KB_GAP_FAILED;
	switch (kb_publish(db, slug, user, admin, review_required, &p, err, errlen)) {
	case KB_PUBLISHED:
		return KB_GAP_PUBLISHED;
	case KB_REFUSED:
		return KB_GAP_DRAFT;
	default:
		return KB_GAP_FAILED;
	}
}

enum kb_gap_result kb_synonyms_add(struct db *db, struct arena *a, const char *line, int64_t user, char *err,
				   size_t errlen)
{
	snprintf(err, errlen, "database: unavailable");
	if (db_begin_write(db) != DB_OK)
		return KB_GAP_FAILED;
	const char *old = kb_synonyms(db, a);
	/* Already a line of the list: nothing to do. */
	for (const char *p = old; *p;) {
		size_t len = strcspn(p, "\n");
		if (len == strlen(line) && !strncmp(p, line, len)) {
			db_rollback(db);
			return KB_GAP_ALREADY;
		}
		p += len + (p[len] == '\n');
	}
	size_t ol = strlen(old);
	struct kb_batch b = {.synonyms = arena_printf(a, "%s%s%s\n", old, ol && old[ol - 1] != '\n' ? "\n" : "", line)};
	long changed = 0;
	bool ok = kb_write_batch(db, &b, false, &changed, err, errlen) && kb_audit_add(db, user, "synonyms", "", line);
	if (ok && db_commit(db) == DB_OK)
		return KB_GAP_PUBLISHED;
	db_rollback(db);
	return KB_GAP_FAILED;
}
