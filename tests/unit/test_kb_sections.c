/* Unit tests of src/kb/sections.c and the import/export of order, drafts and archiving (issue #10,
 * sections): suite kb, so that they run on SQLite and on PostgreSQL with the other kb tests. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/desk/desk.h"
#include "../../src/kb/kb.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sections_file[] = "# slug | title | order | description\n"
				    "faq | Вопросы | 1 | Разное\n"
				    "money | Деньги | 2 | Выплаты\n"
				    "other | Прочее | 2 | Остальное\n";

/* n articles "s-NN" in money titled so that title order is the reverse of slug order, a variant of
 * s-00, and faq-one in faq. */
static void setup(struct kb_fixture *f, int n)
{
	kb_fixture_dirs(f);
	put_file(f->content, "sections", sections_file);
	put_file(f->content, "faq-one.md",
		 "---\nslug: faq-one\ntitle: Вопрос\nsection: faq\nupdated: 2026-09-01\n---\nОтвет.\n");
	for (int i = 0; i < n; i++) {
		char name[64], text[512];
		snprintf(name, sizeof name, "s-%02d.md", i);
		snprintf(text, sizeof text,
			 "---\nslug: s-%02d\ntitle: Статья %02d\nsection: money\nupdated: 2026-09-01\n"
			 "keywords: ключ%d\n---\nТекст %d.\n",
			 i, 99 - i, i, i);
		put_file(f->content, name, text);
	}
	put_file(f->content, "s-00.kz.md",
		 "---\nslug: s-00\ncountry: KZ\ntitle: Вариант\nsection: money\nupdated: 2026-09-01\n---\nКЗ.\n");
	kb_fixture_open(f);
}

static void import_from(struct kb_fixture *f, const char *dir, bool archive_missing)
{
	char err[512];
	long changed;
	struct kb_batch b;
	cr_assert(kb_read_dir(f->a, dir, &b, err, sizeof err), "%s", err);
	b.archive_missing = archive_missing;
	cr_assert(kb_import(f->db, &b, &changed, err, sizeof err), "%s", err);
}

/* The slugs of section's articles in the portal's order, joined by spaces, read a page of size at
 * a time (from the end for the second half when total is given). */
static const char *order_of(struct kb_fixture *f, const char *section, int size, int total)
{
	static char out[4096];
	out[0] = 0;
	for (int off = 0;; off += size) {
		struct kb_text *t;
		int n = kb_section_articles(f->db, f->a, section, off, size, total, &t);
		cr_assert_geq(n, 0, "%s", db_errmsg(f->db));
		for (int i = 0; i < n; i++) {
			strcat(out, *out ? " " : "");
			strcat(out, t[i].slug);
		}
		if (n < size)
			return out;
	}
}

static int64_t version(struct kb_fixture *f)
{
	return kb_content_version(f->db, NULL);
}

static const char *audit_action(struct kb_fixture *f, const char *slug)
{
	struct kb_audit_entry *e;
	int n = kb_audit(f->db, f->a, slug, &e);
	cr_assert_geq(n, 0);
	return n ? e[0].action : "";
}

Test(kb, sections_create_rename_describe_reorder_and_delete)
{
	struct kb_fixture f;
	setup(&f, 2);
	import_from(&f, f.content, false);
	char err[512];
	const char *fields[KB_SECTION_FIELD_ERRORS], *msgs[KB_SECTION_FIELD_ERRORS];
	cr_assert_eq(kb_section_check("Bad Slug", "", "a|b", fields, msgs, KB_SECTION_FIELD_ERRORS), 3);
	cr_assert_str_eq(fields[0], "slug");
	cr_assert_str_eq(fields[1], "title");
	cr_assert_str_eq(fields[2], "description");
	cr_assert_eq(kb_section_check(NULL, "Ок", "", fields, msgs, KB_SECTION_FIELD_ERRORS), 0);
	cr_assert_eq(kb_section_check(NULL, "a\nb", "", fields, msgs, KB_SECTION_FIELD_ERRORS), 1, "line breaks");

	int64_t v = version(&f);
	cr_assert_eq(kb_section_create(f.db, "new-one", "<script>alert(1)</script>", "Описание", 0, err, sizeof err),
		     KB_SECTION_OK, "%s", err);
	cr_assert_gt(version(&f), v, "a new section bumps the content version");
	cr_assert_eq(kb_section_create(f.db, "new-one", "Ещё", "", 0, err, sizeof err), KB_SECTION_TAKEN);
	cr_assert_eq(kb_section_create(f.db, "faq", "Ещё", "", 0, err, sizeof err), KB_SECTION_TAKEN);
	struct kb_section *s;
	cr_assert_eq(kb_sections(f.db, f.a, &s), 4);
	cr_assert_str_eq(s[3].slug, "new-one", "a new section comes last");
	cr_assert_str_eq(s[3].title, "<script>alert(1)</script>");
	cr_assert_str_eq(audit_action(&f, "section:new-one"), "section-create");

	v = version(&f);
	cr_assert_eq(kb_section_update(f.db, "new-one", "Новое имя", "Новое описание", 0, err, sizeof err),
		     KB_SECTION_OK);
	cr_assert_gt(version(&f), v);
	struct kb_section one;
	cr_assert_eq(kb_section_get(f.db, f.a, "new-one", &one), 1);
	cr_assert_str_eq(one.title, "Новое имя");
	cr_assert_str_eq(one.description, "Новое описание");
	struct kb_audit_entry *e;
	cr_assert_eq(kb_audit(f.db, f.a, "section:new-one", &e), 3, "create, describe, rename");
	cr_assert_str_eq(e[0].action, "section-rename");
	cr_assert_str_eq(e[0].detail, "«<script>alert(1)</script>» → «Новое имя»");
	v = version(&f);
	cr_assert_eq(kb_section_update(f.db, "new-one", "Новое имя", "Новое описание", 0, err, sizeof err),
		     KB_SECTION_OK);
	cr_assert_eq(version(&f), v, "nothing changed: no new version");
	cr_assert_eq(kb_section_update(f.db, "nope", "X", "", 0, err, sizeof err), KB_SECTION_NOT_FOUND);

	/* faq(1) money(2) other(2) new-one(3): up moves new-one before other, then renumbered. */
	cr_assert_eq(kb_section_move(f.db, "new-one", -1, 0, err, sizeof err), KB_SECTION_OK, "%s", err);
	cr_assert_eq(kb_sections(f.db, f.a, &s), 4);
	const char *want[] = {"faq", "money", "new-one", "other"};
	for (int i = 0; i < 4; i++) {
		cr_assert_str_eq(s[i].slug, want[i], "place %d", i + 1);
		cr_assert_eq(s[i].position, i + 1);
	}
	cr_assert_eq(kb_section_move(f.db, "faq", -1, 0, err, sizeof err), KB_SECTION_OK, "at the top: nothing");
	cr_assert_eq(kb_section_move(f.db, "faq", 1, 0, err, sizeof err), KB_SECTION_OK);
	cr_assert_eq(kb_section_list(f.db, f.a, 0, 2, &s), 2);
	cr_assert_str_eq(s[0].slug, "money");
	cr_assert_str_eq(s[1].slug, "faq");
	cr_assert_eq(kb_section_move(f.db, "nope", 1, 0, err, sizeof err), KB_SECTION_NOT_FOUND);

	int64_t articles, drafts;
	cr_assert_eq(kb_section_delete(f.db, "money", 0, &articles, &drafts, err, sizeof err), KB_SECTION_NOT_EMPTY);
	cr_assert_eq(articles, 2);
	/* A draft in a section keeps it too. */
	struct kb_text t = {.slug = "draft-only",
			    .country = "",
			    .section = "new-one",
			    .title = "Черновик",
			    .summary = "",
			    .countries = "",
			    .keywords = "",
			    .related = "",
			    .body = "Текст.\n"};
	int64_t newest;
	cr_assert_gt(kb_draft_save(f.db, &t, 0, "", 0, &newest, err, sizeof err), 0, "%s", err);
	cr_assert_eq(kb_section_delete(f.db, "new-one", 0, &articles, &drafts, err, sizeof err), KB_SECTION_NOT_EMPTY);
	cr_assert_eq(articles, 0);
	cr_assert_eq(drafts, 1);
	cr_assert_eq(kb_section_delete(f.db, "other", 0, &articles, &drafts, err, sizeof err), KB_SECTION_OK, "%s",
		     err);
	cr_assert_eq(kb_section_get(f.db, f.a, "other", &one), 0);
	cr_assert_str_eq(audit_action(&f, "section:other"), "section-delete");
	cr_assert_eq(kb_section_delete(f.db, "other", 0, &articles, &drafts, err, sizeof err), KB_SECTION_NOT_FOUND);
	kb_fixture_close(&f);
}

Test(kb, sections_articles_follow_the_editors_order)
{
	struct kb_fixture f;
	setup(&f, 30);
	import_from(&f, f.content, false);
	/* Without places: title order, which is the reverse of the slugs here. */
	const char *by_title = order_of(&f, "money", 7, 30);
	cr_assert(!strncmp(by_title, "s-29 s-28 s-27", 14), "%s", by_title);
	cr_assert_eq(kb_article_place(f.db, "money", "s-29"), 1);
	cr_assert_eq(kb_article_place(f.db, "money", "s-00"), 30);
	cr_assert_eq(kb_article_place(f.db, "faq", "s-00"), 0, "not in that section");
	char err[512];
	int64_t v = version(&f);
	/* s-00 (last) to place 1: the first 30 are placed. */
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-00", 1, 0, err, sizeof err), KB_SECTION_OK, "%s", err);
	cr_assert_gt(version(&f), v);
	cr_assert_eq(kb_article_place(f.db, "money", "s-00"), 1);
	cr_assert_eq(kb_article_place(f.db, "money", "s-29"), 2);
	cr_assert_str_eq(audit_action(&f, "s-00"), "order");
	/* s-05 (place 26) down one, then s-10 to place 3, then past the end (clamped). */
	cr_assert_eq(kb_article_place(f.db, "money", "s-05"), 26);
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-05", 27, 0, err, sizeof err), KB_SECTION_OK);
	cr_assert_eq(kb_article_place(f.db, "money", "s-05"), 27);
	cr_assert_eq(kb_article_place(f.db, "money", "s-04"), 26);
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-10", 3, 0, err, sizeof err), KB_SECTION_OK);
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-29", 999, 0, err, sizeof err), KB_SECTION_OK);
	cr_assert_eq(kb_article_place(f.db, "money", "s-29"), 30);
	cr_assert_eq(kb_article_move_to(f.db, "money", "faq-one", 1, 0, err, sizeof err), KB_SECTION_NOT_FOUND);
	/* The same order whatever the page size and direction. */
	const char *want = order_of(&f, "money", 100, -1);
	char copy[4096];
	snprintf(copy, sizeof copy, "%s", want);
	cr_assert(!strncmp(copy, "s-00 s-10 s-28 s-27", 19), "%s", copy);
	static const int sizes[] = {1, 4, 7, 13, 29};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		cr_assert_str_eq(order_of(&f, "money", sizes[i], 30), copy, "size %d from the end", sizes[i]);
		cr_assert_str_eq(order_of(&f, "money", sizes[i], -1), copy, "size %d", sizes[i]);
	}
	/* A new article without a place comes after the placed ones (all 30 are placed now). */
	put_file(f.content, "aaa.md",
		 "---\nslug: aaa\ntitle: А первая по алфавиту\nsection: money\nupdated: 2026-09-01\n---\nТ.\n");
	/* The import carries places (`order:`): export now, add the file, import. */
	char *out = tmp_dir();
	cr_assert(kb_export(f.db, out, false, err, sizeof err), "%s", err);
	put_file(out, "aaa.md",
		 "---\nslug: aaa\ntitle: А первая по алфавиту\nsection: money\nupdated: 2026-09-01\n---\nТ.\n");
	import_from(&f, out, false);
	char after[4200];
	snprintf(after, sizeof after, "%s aaa", copy);
	cr_assert_str_eq(order_of(&f, "money", 100, -1), after);
	rm_tree(out);
	free(out);
	kb_fixture_close(&f);
}

/* Moving an article: its texts (variant too) change section, each recorded as a revision; it loses
 * its place; the counts follow. A publication that changes the section does the same. */
Test(kb, sections_move_an_article_to_another_section)
{
	struct kb_fixture f;
	setup(&f, 3);
	import_from(&f, f.content, false);
	char err[512];
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-00", 1, 0, err, sizeof err), KB_SECTION_OK);
	struct kb_revision *r;
	int before = kb_revisions(f.db, f.a, "s-00", &r);
	cr_assert_eq(kb_article_to_section(f.db, "s-00", "faq", 0, err, sizeof err), KB_SECTION_OK, "%s", err);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "s-00", "KZ", &v), 1);
	cr_assert_str_eq(v.text.section, "faq", "the variant follows");
	cr_assert_eq(kb_revisions(f.db, f.a, "s-00", &r), before + 2, "a revision per text");
	cr_assert_str_eq(r[0].message, "перенесена в раздел «Вопросы»");
	cr_assert_str_eq(r[0].status, "published");
	cr_assert_str_eq(order_of(&f, "faq", 10, -1), "faq-one s-00", "after the others, no place kept");
	struct kb_section s;
	cr_assert_eq(kb_section_get(f.db, f.a, "faq", &s), 1);
	cr_assert_eq(s.n_articles, 2);
	cr_assert_str_eq(audit_action(&f, "s-00"), "move");
	cr_assert_eq(kb_article_to_section(f.db, "s-00", "nope", 0, err, sizeof err), KB_SECTION_NOT_FOUND);
	cr_assert_eq(kb_article_to_section(f.db, "nope", "faq", 0, err, sizeof err), KB_SECTION_NOT_FOUND);

	/* Through a draft and its publication (the desk's edit form): the variant follows too. */
	cr_assert_eq(kb_article_move_to(f.db, "faq", "s-00", 1, 0, err, sizeof err), KB_SECTION_OK);
	struct kb_text t = v.text;
	cr_assert_eq(kb_article_for(f.db, f.a, "s-00", "", &v), 1);
	t = v.text;
	t.section = "money";
	int64_t newest, rev;
	cr_assert_gt(kb_draft_save(f.db, &t, 0, "в деньги", 0, &newest, err, sizeof err), 0, "%s", err);
	cr_assert_eq(kb_publish(f.db, "s-00", 0, true, false, &rev, err, sizeof err), KB_PUBLISHED, "%s", err);
	cr_assert_eq(kb_article_for(f.db, f.a, "s-00", "KZ", &v), 1);
	cr_assert_str_eq(v.text.section, "money");
	cr_assert_str_eq(order_of(&f, "money", 10, -1), "s-02 s-01 s-00", "the place in faq is not kept");
	kb_fixture_close(&f);
}

static const char *read_all(struct arena *a, const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = arena_alloc(a, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, fp);
	buf[n] = 0;
	fclose(fp);
	return buf;
}

/* Export writes the order (`order:`) and, with drafts, the drafts as <slug>.draft.md; importing
 * that into an empty database gives the same order, texts and drafts, and importing twice adds
 * nothing. */
Test(kb, sections_export_import_round_trip_with_order_and_drafts)
{
	struct kb_fixture f;
	setup(&f, 3);
	import_from(&f, f.content, false);
	char err[512];
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-00", 1, 0, err, sizeof err), KB_SECTION_OK);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "s-01", "", &v), 1);
	struct kb_text t = v.text;
	t.body = "Черновик s-01.\n";
	int64_t newest;
	cr_assert_gt(kb_draft_save(f.db, &t, 0, "", 0, &newest, err, sizeof err), 0);
	struct kb_text nv = {.slug = "s-00",
			     .country = "KZ",
			     .section = "money",
			     .title = "Вариант-черновик",
			     .summary = "",
			     .countries = "",
			     .keywords = "",
			     .related = "",
			     .body = "КЗ черновик.\n"};
	cr_assert_gt(kb_draft_save(f.db, &nv, 0, "", 0, &newest, err, sizeof err), 0);
	char *out = tmp_dir(), *plain = tmp_dir();
	cr_assert(kb_export(f.db, out, true, err, sizeof err), "%s", err);
	cr_assert(kb_export(f.db, plain, false, err, sizeof err), "%s", err);
	char path[4200];
	snprintf(path, sizeof path, "%s/s-00.md", out);
	const char *s00 = read_all(f.a, path);
	cr_assert(s00 && strstr(s00, "\norder: 1\n"), "%s", s00 ? s00 : "(none)");
	snprintf(path, sizeof path, "%s/s-02.md", out);
	const char *s02 = read_all(f.a, path);
	cr_assert(s02 && strstr(s02, "\norder: 2\n"), "every article before the moved one got a place");
	snprintf(path, sizeof path, "%s/s-01.draft.md", out);
	const char *d01 = read_all(f.a, path);
	cr_assert(d01 && strstr(d01, "Черновик s-01."), "the draft file");
	cr_assert(d01 && strstr(d01, "keywords: ключ1\n"), "%s", d01);
	snprintf(path, sizeof path, "%s/s-00.kz.draft.md", out);
	cr_assert_not_null(read_all(f.a, path), "the variant's draft file");
	snprintf(path, sizeof path, "%s/s-01.draft.md", plain);
	cr_assert_null(read_all(f.a, path), "no drafts without the flag");

	/* Into an empty database. */
	char *data2 = tmp_dir();
	struct kb_fixture g = {.data = data2, .content = tmp_dir(), .a = arena_new()};
	cr_assert_eq(db_open(test_db(g.data), &g.db, err, sizeof err), DB_OK, "%s", err);
	import_from(&g, out, false);
	cr_assert_str_eq(order_of(&g, "money", 10, -1), "s-00 s-02 s-01");
	struct kb_revision *r;
	cr_assert_eq(kb_revisions(g.db, g.a, "s-01", &r), 2);
	cr_assert_str_eq(r[0].status, "draft");
	cr_assert_str_eq(r[0].message, "импорт черновика");
	struct kb_revision full;
	cr_assert_eq(kb_revision_get(g.db, g.a, "s-01", r[0].n, &full), 1);
	cr_assert_str_eq(full.text.body, "Черновик s-01.\n");
	cr_assert_eq(kb_article_for(g.db, g.a, "s-01", "", &v), 1);
	cr_assert_str_eq(v.text.body, "Текст 1.\n", "the portal shows the published text");
	cr_assert_str_eq(v.text.keywords, "ключ1");
	cr_assert_eq(kb_article_for(g.db, g.a, "s-00", "KZ", &v), 1);
	cr_assert_str_eq(v.text.title, "Вариант", "variants kept");
	int n = kb_revisions(g.db, g.a, "s-00", &r);
	cr_assert_eq(n, 3, "general, variant, the variant's draft");
	cr_assert_str_eq(r[0].country, "KZ");
	cr_assert_str_eq(r[0].status, "draft");
	int64_t ver = version(&g);
	import_from(&g, out, false);
	cr_assert_eq(kb_revisions(g.db, g.a, "s-00", &r), 3, "importing twice adds no draft");
	cr_assert_eq(version(&g), ver, "nor a version");
	/* Export again: the same files. */
	char *again = tmp_dir();
	cr_assert(kb_export(g.db, again, true, err, sizeof err), "%s", err);
	const char *names[] = {"s-00.md", "s-01.md", "s-02.md", "s-00.kz.md", "s-01.draft.md", "sections"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char p1[4200], p2[4200];
		snprintf(p1, sizeof p1, "%s/%s", out, names[i]);
		snprintf(p2, sizeof p2, "%s/%s", again, names[i]);
		const char *x = read_all(f.a, p1), *y = read_all(f.a, p2);
		cr_assert(x && y, "%s", names[i]);
		if (strstr(names[i], "draft"))
			continue; /* its updated: is the day of the draft's import */
		cr_assert_str_eq(x, y, "%s", names[i]);
	}
	/* Bad order values. */
	put_file(g.content, "sections", sections_file);
	put_file(g.content, "bad.md",
		 "---\nslug: bad\ntitle: Т\nsection: faq\norder: 0\nupdated: 2026-09-01\n---\nТ.\n");
	struct kb_batch b;
	cr_assert(!kb_read_dir(g.a, g.content, &b, err, sizeof err));
	cr_assert(strstr(err, "bad.md:5: order must be a whole number"), "%s", err);
	put_file(g.content, "bad.md", "---\nslug: bad\ntitle: Т\nsection: faq\nupdated: 2026-09-01\n---\nТ.\n");
	put_file(g.content, "bad.kz.md",
		 "---\nslug: bad\ncountry: KZ\ntitle: Т\nsection: faq\norder: 2\nupdated: 2026-09-01\n---\nТ.\n");
	cr_assert(!kb_read_dir(g.a, g.content, &b, err, sizeof err));
	cr_assert(strstr(err, "no \"order\" key"), "%s", err);
	kb_fixture_close(&g);
	rm_tree(out);
	rm_tree(plain);
	rm_tree(again);
	free(out);
	free(plain);
	free(again);
	kb_fixture_close(&f);
}

/* --archive-missing: an article the directory lacks is archived (410), its revisions kept, the
 * links to it dropped; without the flag an import keeps it. */
Test(kb, sections_import_archives_what_the_directory_lacks)
{
	struct kb_fixture f;
	setup(&f, 3);
	put_file(f.content, "s-01.md",
		 "---\nslug: s-01\ntitle: Статья 98\nsection: money\nupdated: 2026-09-01\nrelated: s-02\n---\nТ.\n");
	import_from(&f, f.content, false);
	char path[4200];
	snprintf(path, sizeof path, "%s/s-02.md", f.content);
	remove(path);
	import_from(&f, f.content, false);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "s-02", "", &v), 1, "kept without the flag");
	struct kb_revision *r;
	int revs = kb_revisions(f.db, f.a, "s-02", &r);
	import_from(&f, f.content, true);
	cr_assert_eq(kb_article_for(f.db, f.a, "s-02", "", &v), 0, "off the portal");
	const char *target = "x";
	cr_assert_eq(kb_redirect(f.db, f.a, "s-02", &target), 1);
	cr_assert_null(target, "410");
	cr_assert_eq(kb_revisions(f.db, f.a, "s-02", &r), revs, "history kept");
	cr_assert_str_eq(audit_action(&f, "s-02"), "archive");
	cr_assert_eq(kb_article_for(f.db, f.a, "s-01", "", &v), 1);
	cr_assert_str_eq(v.text.related, "", "the link to it is dropped");
	cr_assert_eq(kb_article_for(f.db, f.a, "s-00", "KZ", &v), 1, "the others stay");
	struct kb_section s;
	cr_assert_eq(kb_section_get(f.db, f.a, "money", &s), 1);
	cr_assert_eq(s.n_articles, 2);
	/* An empty directory does not archive everything. */
	char *empty = tmp_dir();
	put_file(empty, "sections", sections_file);
	char err[512];
	long changed;
	struct kb_batch b;
	cr_assert(kb_read_dir(f.a, empty, &b, err, sizeof err), "%s", err);
	b.archive_missing = true;
	cr_assert(!kb_import(f.db, &b, &changed, err, sizeof err));
	cr_assert(strstr(err, "no articles"), "%s", err);
	cr_assert_eq(kb_article_for(f.db, f.a, "s-01", "", &v), 1);
	rm_tree(empty);
	free(empty);
	kb_fixture_close(&f);
}

/* The plans (SQLite): a page of a section and the place of an article read the index of
 * migration 21, never the whole table nor a sort of the section. */
Test(kb, sections_order_reads_the_index)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	struct kb_fixture f;
	setup(&f, 1);
	const char *sqls[] = {kb_section_page_sql, kb_section_page_from_end_sql};
	for (int i = 0; i < 2; i++) {
		const char *all = desk_plan_text(f.db, f.a, sqls[i]);
		cr_assert_not_null(all, "%s", db_errmsg(f.db));
		cr_assert(strstr(all, "SEARCH articles USING COVERING INDEX articles_section_position (section=? AND "
				      "country=?)"),
			  "plan: %s", all);
		cr_assert(strstr(all, "SEARCH a USING INDEX sqlite_autoindex_articles_1 (slug=? AND country=?)"),
			  "plan: %s", all);
		cr_assert_null(strstr(all, "SCAN articles"), "plan: %s", all);
		cr_assert_null(strstr(all, "articles_section_position (section=? AND country=?) | USE TEMP"),
			       "plan: %s", all);
	}
	const char *place = desk_plan_text(f.db, f.a, kb_article_place_sql);
	cr_assert_not_null(place, "%s", db_errmsg(f.db));
	cr_assert(strstr(place, "articles_section_position"), "plan: %s", place);
	cr_assert_null(strstr(place, "SCAN articles"), "plan: %s", place);
	kb_fixture_close(&f);
}

/* Places from files may be sparse or equal (order: 10, 10, 40): a move numbers the first ones
 * 1..m and keeps everything else in its order. */
Test(kb, sections_sparse_and_equal_places_from_files)
{
	struct kb_fixture f;
	setup(&f, 6);
	/* Titles: s-00 "Статья 99" ... s-05 "Статья 94" (title order s-05 .. s-00). */
	put_file(f.content, "s-01.md",
		 "---\nslug: s-01\ntitle: Статья 98\nsection: money\norder: 40\nupdated: 2026-09-01\n---\nТ.\n");
	put_file(f.content, "s-02.md",
		 "---\nslug: s-02\ntitle: Статья 97\nsection: money\norder: 10\nupdated: 2026-09-01\n---\nТ.\n");
	put_file(f.content, "s-03.md",
		 "---\nslug: s-03\ntitle: Статья 96\nsection: money\norder: 10\nupdated: 2026-09-01\n---\nТ.\n");
	import_from(&f, f.content, false);
	cr_assert_str_eq(order_of(&f, "money", 100, -1), "s-03 s-02 s-01 s-05 s-04 s-00");
	cr_assert_str_eq(order_of(&f, "money", 2, 6), "s-03 s-02 s-01 s-05 s-04 s-00", "from the end too");
	char err[512];
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-00", 2, 0, err, sizeof err), KB_SECTION_OK, "%s", err);
	cr_assert_str_eq(order_of(&f, "money", 100, -1), "s-03 s-00 s-02 s-01 s-05 s-04");
	cr_assert_eq(kb_article_move_to(f.db, "money", "s-03", 6, 0, err, sizeof err), KB_SECTION_OK, "%s", err);
	cr_assert_str_eq(order_of(&f, "money", 100, -1), "s-00 s-02 s-01 s-05 s-04 s-03");
	struct kb_text *t;
	cr_assert_eq(kb_section_articles(f.db, f.a, "money", 0, 10, -1, &t), 6);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(t[i].position, i + 1, "numbered 1..6 (%s)", t[i].slug);
	/* Moved in by a publication: the end, after every one. */
	cr_assert_eq(kb_article_to_section(f.db, "faq-one", "money", 0, err, sizeof err), KB_SECTION_OK, "%s", err);
	cr_assert_str_eq(order_of(&f, "money", 100, -1), "s-00 s-02 s-01 s-05 s-04 s-03 faq-one");
	kb_fixture_close(&f);
}
