/* Unit tests of src/kb: the content format, import rules and the choice of country variant. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/desk/desk.h"
#include "../../src/kb/kb.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sections[] = "# slug | title | order | description\n"
			       "payouts | Выплаты | 2 | Про выплаты\n"
			       "faq | Вопросы | 1 | Разное\n";

static const char general[] = "---\nslug: payout-setup\ntitle: Как настроить выплаты\n"
			      "section: payouts\nsummary: Кратко\nupdated: 2026-10-01\n"
			      "countries: ru\nkeywords: деньги ,выплата\nrelated: faq-one\n---\n\n"
			      "Текст для России.\n\n1. Шаг\n";
static const char variant[] = "---\nslug: payout-setup\ncountry: KZ\ntitle: Выплаты в Казахстане\n"
			      "section: payouts\nsummary:\nupdated: 2026-10-02\nkeywords:\n"
			      "related:\n---\nТекст для Казахстана.\n";
static const char faq[] = "---\nslug: faq-one\ntitle: Вопрос\nsection: faq\nupdated: 2026-09-01\n---\n"
			  "Ответ.\r\n";

static void setup(struct kb_fixture *f)
{
	kb_fixture_dirs(f);
	put_file(f->content, "sections", sections);
	put_file(f->content, "payout-setup.md", general);
	put_file(f->content, "payout-setup.kz.md", variant);
	put_file(f->content, "faq-one.md", faq);
	kb_fixture_open(f);
}

static bool import(struct kb_fixture *f, char *err, size_t errlen, long *changed)
{
	struct kb_batch b;
	return kb_read_dir(f->a, f->content, &b, err, errlen) && kb_import(f->db, &b, changed, err, errlen);
}

Test(kb, imports_and_picks_the_country_variant)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_gt(changed, 0);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "KZ", &v), 1);
	cr_assert_str_eq(v.text.country, "KZ");
	cr_assert_str_eq(v.text.title, "Выплаты в Казахстане");
	cr_assert(!v.foreign);
	cr_assert_eq(v.n_variants, 1);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "RU", &v), 1);
	cr_assert_str_eq(v.text.country, "");
	cr_assert(!v.foreign);
	cr_assert_str_eq(v.text.countries, "RU"); /* canonical: upper case */
	cr_assert_str_eq(v.text.keywords, "деньги, выплата");
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "DE", &v), 1);
	cr_assert(v.foreign, "the general text is for RU only");
	cr_assert_eq(kb_article_for(f.db, f.a, "faq-one", "DE", &v), 1);
	cr_assert(!v.foreign, "no countries = for everyone");
	cr_assert_str_eq(v.text.body, "Ответ.\n");
	cr_assert_eq(kb_article_for(f.db, f.a, "nope", "RU", &v), 0);
	struct kb_section *secs;
	cr_assert_eq(kb_sections(f.db, f.a, &secs), 2);
	cr_assert_str_eq(secs[0].slug, "faq"); /* by order */
	cr_assert_eq(secs[1].n_articles, 1);
	kb_fixture_close(&f);
}

Test(kb, reimport_changes_nothing_and_keeps_version)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	int64_t v1 = kb_content_version(f.db, NULL);
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_eq(changed, 0);
	cr_assert_eq(kb_content_version(f.db, NULL), v1);
	/* Dropping the variant file removes the variant on the next import of that slug. */
	char path[4200];
	snprintf(path, sizeof path, "%s/payout-setup.kz.md", f.content);
	remove(path);
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_eq(changed, 1);
	cr_assert_gt(kb_content_version(f.db, NULL), v1);
	kb_fixture_close(&f);
}

/* Each bad file must be refused with FILE:LINE and leave the database untouched. */
static void expect_refused(const char *name, const char *text, const char *where, const char *what)
{
	struct kb_fixture f;
	setup(&f);
	put_file(f.content, name, text);
	char err[512];
	long changed;
	cr_assert(!import(&f, err, sizeof err, &changed), "%s was accepted", name);
	cr_assert(strstr(err, where), "expected \"%s\" in: %s", where, err);
	cr_assert(strstr(err, what), "expected \"%s\" in: %s", what, err);
	struct kb_section *secs;
	cr_assert_eq(kb_sections(f.db, f.a, &secs), 0, "a broken batch imported something");
	kb_fixture_close(&f);
}

Test(kb, refuses_malformed_files)
{
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\nsection: faq\ncontry: RU\nupdated: 2026-01-01\n---\nx\n",
		       "bad.md:5:", "unknown key");
	expect_refused("bad.md", "slug: bad\n", "bad.md:1:", "---");
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\nsection: faq\nupdated: 2026-02-30\n---\nx\n",
		       "bad.md:5:", "updated");
	expect_refused("bad.md", "---\nslug: other\ntitle: T\nsection: faq\nupdated: 2026-02-01\n---\nx\n",
		       "bad.md:2:", "file name");
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\nsection: faq\nupdated: 2026-02-01\n",
		       "bad.md:", "not closed");
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\nupdated: 2026-02-01\n---\nx\n", "bad.md:", "section");
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\nsection: nope\nupdated: 2026-02-01\n---\nx\n", "bad.md",
		       "section \"nope\"");
	expect_refused("bad.md",
		       "---\nslug: bad\ntitle: T\nsection: faq\nupdated: 2026-02-01\nrelated: ghost\n---\nx\n",
		       "bad.md:6:", "ghost");
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\nsection: faq\nupdated: 2026-02-01\n---\n\n",
		       "bad.md:", "no text");
	expect_refused("bad.md", "---\nslug: bad\ntitle: T\xff\nsection: faq\nupdated: 2026-02-01\n---\nx\n",
		       "bad.md:3:", "UTF-8");
	expect_refused("lonely.de.md",
		       "---\nslug: lonely\ncountry: DE\ntitle: T\nsection: faq\nupdated: 2026-02-01\n---\nx\n",
		       "lonely.de.md", "general text");
	expect_refused("faq-one.de.md",
		       "---\nslug: faq-one\ncountry: KZ\ntitle: T\nsection: faq\nupdated: 2026-02-01\n---\nx\n",
		       "faq-one.de.md", "country: DE");
	expect_refused("faq-one.de.md",
		       "---\nslug: faq-one\ncountry: DE\ntitle: T\nsection: payouts\nupdated: 2026-02-01\n---\nx\n",
		       "faq-one.de.md", "section of its general text");
}

Test(kb, refuses_a_bad_sections_file)
{
	struct kb_fixture f;
	setup(&f);
	put_file(f.content, "sections", "ok | Заголовок | 1 | d\nBad Slug | T | 2 | d\n");
	char err[512];
	long changed;
	cr_assert(!import(&f, err, sizeof err, &changed));
	cr_assert(strstr(err, "sections:2:"), "%s", err);
	kb_fixture_close(&f);
}

Test(kb, export_then_import_is_identity)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	char *out = tmp_dir();
	cr_assert(kb_export(f.db, out, false, err, sizeof err), "%s", err);
	/* Import the export into the same database: nothing may change. */
	struct kb_batch b;
	cr_assert(kb_read_dir(f.a, out, &b, err, sizeof err), "%s", err);
	cr_assert(kb_import(f.db, &b, &changed, err, sizeof err), "%s", err);
	cr_assert_eq(changed, 0);
	cr_assert_eq(b.n_texts, 3);
	rm_tree(out);
	free(out);
	kb_fixture_close(&f);
}

/* Reading a content directory costs what its files hold, not the 1 MiB a file may have at most:
 * 50,000 small articles took 50 GB when every file got a buffer of the limit's size. */
Test(kb, reading_costs_memory_in_proportion_to_the_files)
{
	struct kb_fixture f;
	setup(&f);
	for (int i = 0; i < 300; i++) {
		char name[64], text[512];
		snprintf(name, sizeof name, "gen-%d.md", i);
		snprintf(text, sizeof text,
			 "---\nslug: gen-%d\ntitle: Статья %d\nsection: faq\nupdated: 2026-09-01\n---\nОтвет %d.\n", i,
			 i, i);
		put_file(f.content, name, text);
	}
	char err[512];
	struct kb_batch b;
	cr_assert(kb_read_dir(f.a, f.content, &b, err, sizeof err), "%s", err);
	cr_assert_eq(b.n_texts, 303);
	cr_assert_lt(arena_bytes(f.a), (size_t)303 * 8192, "%zu bytes for 303 small files", arena_bytes(f.a));
	long changed;
	cr_assert(kb_import(f.db, &b, &changed, err, sizeof err), "%s", err);
	cr_assert_eq(changed, 303 + 2, "every text and both sections written once");
	kb_fixture_close(&f);
}

Test(kb, a_section_by_name_without_counting_its_articles)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	struct kb_section sec;
	cr_assert_eq(kb_section_name(f.db, f.a, "payouts", &sec), 1);
	cr_assert_str_eq(sec.title, "Выплаты");
	cr_assert_eq(sec.n_articles, -1, "not counted");
	cr_assert_eq(kb_section_get(f.db, f.a, "payouts", &sec), 1);
	cr_assert_eq(sec.n_articles, 1, "counted where the section's page needs it");
	cr_assert_eq(kb_section_name(f.db, f.a, "nope", &sec), 0);
	kb_fixture_close(&f);
}

/* A content directory with one section of n articles whose titles repeat (ties go by slug) in an
 * order unrelated to their slugs, every third with a KZ variant, and an empty section. */
static void big_section(struct kb_fixture *f, int n)
{
	put_file(f->content, "sections",
		 "# slug | title | order | description\n"
		 "payouts | Выплаты | 3 | Про выплаты\n"
		 "faq | Вопросы | 1 | Разное\n"
		 "zeta | Зета | 1 | первая по порядку\n"
		 "alpha | Альфа | 2 | вторая\n"
		 "empty | Пустой | 2 | без статей\n");
	for (int i = 0; i < n; i++) {
		char name[64], text[512];
		snprintf(name, sizeof name, "z-%03d.md", i);
		snprintf(
		    text, sizeof text,
		    "---\nslug: z-%03d\ntitle: Вопрос %02d\nsection: zeta\nsummary: О %d\nupdated: 2026-09-01\n---\n"
		    "Ответ.\n",
		    i, (i * 37) % 23, i);
		put_file(f->content, name, text);
		if (i % 3 == 0) {
			snprintf(name, sizeof name, "z-%03d.kz.md", i);
			snprintf(text, sizeof text,
				 "---\nslug: z-%03d\ncountry: KZ\ntitle: А вариант\nsection: zeta\nupdated: "
				 "2026-09-01\n---\nОтвет.\n",
				 i);
			put_file(f->content, name, text);
		}
	}
	char err[512];
	long changed;
	cr_assert(import(f, err, sizeof err, &changed), "%s", err);
}

Test(kb, section_list_pages_sections_by_position_with_their_counts)
{
	struct kb_fixture f;
	setup(&f);
	big_section(&f, 40);
	cr_assert_eq(kb_section_total(f.db), 5, "faq, payouts, zeta, alpha, empty");
	struct kb_section *s;
	cr_assert_eq(kb_section_list(f.db, f.a, 0, 100, &s), 5);
	const char *want[] = {"faq", "zeta", "alpha", "empty", "payouts"}; /* position, then slug */
	for (int i = 0; i < 5; i++)
		cr_assert_str_eq(s[i].slug, want[i], "section %d", i);
	cr_assert_eq(s[1].n_articles, 40, "an article with a variant counts once");
	cr_assert_eq(s[3].n_articles, 0);
	cr_assert_eq(kb_section_list(f.db, f.a, 2, 2, &s), 2);
	cr_assert_str_eq(s[0].slug, "alpha");
	cr_assert_str_eq(s[1].slug, "empty");
	cr_assert_eq(s[0].n_articles, 0);
	cr_assert_eq(kb_section_list(f.db, f.a, 5, 10, &s), 0, "past the end");
	kb_fixture_close(&f);
}

static int by_title_slug(const void *x, const void *y)
{
	const struct kb_text *a = x, *b = y;
	int c = strcmp(a->title, b->title);
	return c ? c : strcmp(a->slug, b->slug);
}

Test(kb, section_articles_come_in_pages_in_the_editors_order)
{
	struct kb_fixture f;
	setup(&f);
	big_section(&f, 95);
	/* Every article once, in title then slug order, over pages of any size, read from the start
	 * or (for the second half, when the total is given) from the end. */
	static const int sizes[] = {10, 7, 1, 47, 95, 100};
	static const int totals[] = {95, -1};
	struct kb_text sorted[95];
	for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		for (size_t k = 0; k < 2; k++) {
			int size = sizes[z], pages = (95 + size - 1) / size, got = 0;
			struct kb_text all[95];
			for (int page = 0; page < pages; page++) {
				struct kb_text *t;
				int n = kb_section_articles(f.db, f.a, "zeta", page * size, size, totals[k], &t);
				int want = page < pages - 1 ? size : 95 - (pages - 1) * size;
				cr_assert_eq(n, want, "size %d, total %d, page %d", size, totals[k], page + 1);
				for (int i = 0; i < n; i++) {
					cr_assert_str_eq(t[i].country, "", "general texts only");
					cr_assert_null(t[i].body, "no bodies in lists");
					all[got++] = t[i];
				}
			}
			cr_assert_eq(got, 95);
			if (z == 0 && k == 0) {
				memcpy(sorted, all, sizeof all);
				qsort(sorted, 95, sizeof sorted[0], by_title_slug);
			}
			for (int i = 0; i < 95; i++)
				cr_assert_str_eq(all[i].slug, sorted[i].slug, "size %d, total %d, position %d", size,
						 totals[k], i);
		}
	}
	for (int i = 1; i < 95; i++)
		cr_assert_str_neq(sorted[i].slug, sorted[i - 1].slug, "%s twice", sorted[i].slug);
	struct kb_text *t;
	cr_assert_eq(kb_section_articles(f.db, f.a, "zeta", 95, 10, 95, &t), 0, "past the end");
	cr_assert_eq(kb_section_articles(f.db, f.a, "zeta", 95, 10, -1, &t), 0, "past the end");
	cr_assert_eq(kb_section_articles(f.db, f.a, "empty", 0, 10, 0, &t), 0);
	cr_assert_eq(kb_section_articles(f.db, f.a, "nope", 0, 10, -1, &t), 0);
	cr_assert_eq(kb_section_articles(f.db, f.a, "payouts", 0, 10, 1, &t), 1);
	cr_assert_str_eq(t[0].title, "Как настроить выплаты", "the general title, not the variant's");
	kb_fixture_close(&f);
}

/* The plan of one page: the index of migration 7 for the order and the offset, the primary key
 * for the rows; no scan of the articles, no sort of the whole section. */
Test(kb, a_page_of_a_section_reads_the_index_not_the_section)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	struct kb_fixture f;
	setup(&f);
	const char *sqls[] = {kb_section_page_sql, kb_section_page_from_end_sql};
	for (int i = 0; i < 2; i++) {
		const char *all = desk_plan_text(f.db, f.a, sqls[i]);
		cr_assert_not_null(all, "%s", db_errmsg(f.db));
		cr_assert(strstr(all, "SEARCH articles USING COVERING INDEX articles_section_position (section=? AND "
				      "country=?)"),
			  "plan: %s", all);
		cr_assert(strstr(all, "SEARCH a USING INDEX sqlite_autoindex_articles_1 (slug=? AND country=?)"),
			  "plan: %s", all);
		cr_assert_null(strstr(all, "SCAN a "), "plan: %s", all);
		cr_assert_null(strstr(all, "SCAN articles"), "plan: %s", all);
		/* Only the page is sorted, not the section. */
		cr_assert_null(strstr(all,
				      "SEARCH articles USING COVERING INDEX articles_section_position (section=? AND "
				      "country=?) | USE TEMP"),
			       "plan: %s", all);
	}
	kb_fixture_close(&f);
}

/* The kept counts follow every import: articles added, moved to another section, variants added
 * (they do not count), and a database migrated from before the counts were kept. */
Test(kb, article_counts_are_kept_by_every_import)
{
	struct kb_fixture f;
	setup(&f);
	big_section(&f, 7);
	struct kb_section sec;
	cr_assert_eq(kb_section_get(f.db, f.a, "zeta", &sec), 1);
	cr_assert_eq(sec.n_articles, 7);
	cr_assert_eq(kb_section_get(f.db, f.a, "faq", &sec), 1);
	cr_assert_eq(sec.n_articles, 1);
	/* z-001 moves to faq; a new article and a new variant arrive in zeta. */
	put_file(f.content, "z-001.md",
		 "---\nslug: z-001\ntitle: Перенесена\nsection: faq\nupdated: 2026-09-01\n---\nОтвет.\n");
	put_file(f.content, "z-100.md",
		 "---\nslug: z-100\ntitle: Новая\nsection: zeta\nupdated: 2026-09-01\n---\nОтвет.\n");
	put_file(f.content, "z-002.de.md",
		 "---\nslug: z-002\ncountry: DE\ntitle: Für DE\nsection: zeta\nupdated: 2026-09-01\n---\nJa.\n");
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_eq(kb_section_get(f.db, f.a, "zeta", &sec), 1);
	cr_assert_eq(sec.n_articles, 7, "one left, one came; the variant does not count");
	cr_assert_eq(kb_section_get(f.db, f.a, "faq", &sec), 1);
	cr_assert_eq(sec.n_articles, 2);
	struct kb_text *t;
	cr_assert_eq(kb_section_articles(f.db, f.a, "faq", 0, 10, 2, &t), 2);
	/* What migration 7 does for a database filled before it: the same counts. */
	struct db_stmt *st = db_prepare(f.db, "SELECT count(*) FROM sections WHERE article_count <> "
					      "(SELECT count(*) FROM articles a WHERE a.section = sections.slug "
					      "AND a.country = '')");
	cr_assert(st && db_step(st) == DB_ROW);
	cr_assert_eq(db_col_int(st, 0), 0, "a kept count differs from the articles");
	db_finalize(st);
	kb_fixture_close(&f);
}

/* The change log names the texts each import wrote or removed, once each, with their rows now. */
Test(kb, change_log_names_the_changed_texts)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	int64_t v1 = kb_content_version(f.db, NULL);
	struct kb_change *ch;
	cr_assert_eq(kb_changes_since(f.db, f.a, v1, &ch), 0, "nothing after the last version");
	cr_assert_eq(kb_changes_since(f.db, f.a, v1 - 1, &ch), 3, "the first import: three texts");
	/* One text changed, one removed: two rows; the unchanged one is not named. */
	put_file(f.content, "faq-one.md",
		 "---\nslug: faq-one\ntitle: Вопрос\nsection: faq\nupdated: 2026-09-02\n---\nДругой ответ.\n");
	char path[4200];
	snprintf(path, sizeof path, "%s/payout-setup.kz.md", f.content);
	remove(path);
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	int n = kb_changes_since(f.db, f.a, v1, &ch);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(ch[0].text.slug, "faq-one");
	cr_assert(!ch[0].removed);
	cr_assert_str_eq(ch[0].text.body, "Другой ответ.\n");
	cr_assert_str_eq(ch[1].text.slug, "payout-setup");
	cr_assert_str_eq(ch[1].text.country, "KZ");
	cr_assert(ch[1].removed);
	/* A synonyms change, or a version before the log, cannot be told text by text. */
	int64_t v2 = kb_content_version(f.db, NULL);
	put_file(f.content, "synonyms.txt", "деньги, выплата\n");
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_eq(kb_changes_since(f.db, f.a, v2, &ch), KB_CHANGES_ALL);
	struct db_stmt *st = db_prepare(f.db, "UPDATE content_state SET log_from = 3");
	cr_assert(st && db_step(st) == DB_DONE);
	db_finalize(st);
	cr_assert_eq(kb_changes_since(f.db, f.a, 2, &ch), KB_CHANGES_ALL, "before the log starts");
	kb_fixture_close(&f);
}

/* A title by slug, the number of general texts; and the change log keeps the last
 * KB_CHANGES_KEPT versions (older rows go with the import that passes them). */
Test(kb, titles_counts_and_the_change_log_window)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_str_eq(kb_title(f.db, f.a, "payout-setup"), "Как настроить выплаты");
	cr_assert_null(kb_title(f.db, f.a, "no-such-article"));
	cr_assert_eq(kb_article_count(f.db), 2);
	db_exec_int(f.db, "UPDATE content_state SET version = ?", KB_CHANGES_KEPT + 50);
	put_file(f.content, "faq-one.md",
		 "---\nslug: faq-one\ntitle: Вопрос?\nsection: faq\nupdated: 2026-09-02\n---\nОтвет.\n");
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_str_eq(db_text(f.db, f.a, "SELECT count(*) FROM content_changes WHERE version <= ?", "50"), "0");
	cr_assert_str_eq(db_text(f.db, f.a, "SELECT log_from FROM content_state WHERE id = 1 AND '' = ?", ""), "51");
	kb_fixture_close(&f);
}

/* An account for the revisions' authors (users is auth's table; a row is enough here). */
static int64_t editor_id(struct kb_fixture *f, const char *login)
{
	struct db_stmt *st = db_prepare(f->db, "INSERT INTO users(login, role, password_hash, created) VALUES (?, "
					       "'editor', 'x', 0) RETURNING id");
	cr_assert_not_null(st, "%s", db_errmsg(f->db));
	db_bind_text(st, 1, login);
	cr_assert_eq(db_step(st), DB_ROW, "%s", db_errmsg(f->db));
	int64_t id = db_col_int(st, 0);
	db_finalize(st);
	return id;
}

/* Revisions: an import's texts are published revisions; a draft stays off the portal until it is
 * published, then replaces the live text and bumps the content version (the change log names it);
 * with review required only a revision in review is published, by someone else or an admin; a
 * draft that cannot be published (a variant without a general text) is refused, nothing changes. */
Test(kb, drafts_review_and_publishing)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	struct kb_revision *r;
	cr_assert_eq(kb_revisions(f.db, f.a, "payout-setup", &r), 2, "general text and variant: two revisions");
	cr_assert_str_eq(r[0].status, "published");
	cr_assert_str_eq(r[0].message, "импорт");
	cr_assert_str_eq(r[0].author, "");
	int64_t olga = editor_id(&f, "olga"), petr = editor_id(&f, "petr");
	struct kb_text t = {.slug = "payout-setup",
			    .country = "",
			    .section = "payouts",
			    .title = "Новая редакция",
			    .summary = "",
			    .countries = "",
			    .keywords = "выплаты",
			    .related = "faq-one",
			    .body = "Новый текст.\n"};
	int64_t newest = 0;
	cr_assert_eq(kb_draft_save(f.db, &t, olga, "правка", 1, &newest, err, sizeof err), KB_CONFLICT,
		     "started from revision 1, revision 2 exists");
	cr_assert_eq(newest, 2);
	cr_assert_eq(kb_draft_save(f.db, &t, olga, "правка", 2, &newest, err, sizeof err), 3, "%s", err);
	struct kb_revision one;
	cr_assert_eq(kb_revision_get(f.db, f.a, "payout-setup", 3, &one), 1);
	cr_assert_str_eq(one.text.body, "Новый текст.\n");
	cr_assert_str_eq(one.author, "olga");
	cr_assert_eq(kb_revision_get(f.db, f.a, "payout-setup", 9, &one), 0);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "RU", &v), 1);
	cr_assert_str_eq(v.text.title, "Как настроить выплаты", "the draft is not live");
	int64_t version = kb_content_version(f.db, NULL), rev;
	cr_assert_eq(kb_publish(f.db, "payout-setup", olga, false, true, &rev, err, sizeof err), KB_REVIEW_REQUIRED);
	cr_assert_eq(kb_submit(f.db, "payout-setup", olga, &rev), KB_SUBMITTED);
	cr_assert_eq(rev, 3);
	cr_assert_eq(kb_publish(f.db, "payout-setup", olga, false, true, &rev, err, sizeof err), KB_REVIEW_REQUIRED,
		     "its author");
	cr_assert_eq(kb_publish(f.db, "payout-setup", petr, false, true, &rev, err, sizeof err), KB_PUBLISHED, "%s",
		     err);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "RU", &v), 1);
	cr_assert_str_eq(v.text.title, "Новая редакция");
	cr_assert_eq(v.n_variants, 1, "the variant stays");
	cr_assert_gt(kb_content_version(f.db, NULL), version);
	struct kb_change *ch;
	cr_assert_eq(kb_changes_since(f.db, f.a, version, &ch), 1);
	cr_assert_str_eq(ch[0].text.slug, "payout-setup");
	cr_assert_str_eq(ch[0].text.country, "");
	cr_assert_eq(kb_revisions(f.db, f.a, "payout-setup", &r), 3);
	cr_assert_str_eq(r[0].status, "published");
	cr_assert_str_eq(r[0].author, "olga");
	cr_assert_str_eq(r[2].status, "superseded", "the general text's first revision");
	cr_assert_str_eq(r[1].status, "published", "the variant's stays published");
	cr_assert_eq(kb_publish(f.db, "payout-setup", olga, true, true, &rev, err, sizeof err), KB_NO_DRAFT);
	/* A new article's variant before any general text: refused, nothing published. */
	struct kb_text orphan = {.slug = "new-article",
				 .country = "KZ",
				 .section = "payouts",
				 .title = "Только KZ",
				 .summary = "",
				 .countries = "",
				 .keywords = "",
				 .related = "",
				 .body = "Текст.\n"};
	cr_assert_eq(kb_draft_save(f.db, &orphan, olga, "", 0, &newest, err, sizeof err), 1);
	cr_assert_eq(kb_publish(f.db, "new-article", olga, true, false, &rev, err, sizeof err), KB_REFUSED);
	cr_assert(strstr(err, "general text"), "%s", err);
	cr_assert_eq(kb_article_for(f.db, f.a, "new-article", "KZ", &v), 0);
	cr_assert_eq(kb_revisions(f.db, f.a, "new-article", &r), 1);
	cr_assert_str_eq(r[0].status, "draft", "still a draft");
	kb_fixture_close(&f);
}

/* The editors' checks of a text and their list of work in progress. */
Test(kb, draft_checks_and_the_pending_list)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	const char *fields[KB_DRAFT_FIELD_ERRORS], *why[KB_DRAFT_FIELD_ERRORS];
	struct kb_text t = {.slug = "x",
			    .country = "",
			    .section = "nope",
			    .title = "",
			    .summary = "",
			    .countries = "",
			    .keywords = "a\001b",
			    .related = "",
			    .body = "Текст"};
	int n = kb_draft_check(f.db, f.a, &t, NULL, fields, why, KB_DRAFT_FIELD_ERRORS);
	cr_assert_eq(n, 3, "title, keywords, section");
	cr_assert_str_eq(fields[0], "title");
	cr_assert_str_eq(fields[1], "keywords");
	cr_assert_str_eq(fields[2], "section");
	cr_assert_str_eq(why[2], "Такого раздела нет.");
	t.title = "Заголовок";
	t.keywords = "";
	t.section = "payouts";
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, NULL, fields, why, KB_DRAFT_FIELD_ERRORS), 0);
	struct kb_revision *r;
	cr_assert_eq(kb_pending(f.db, f.a, 10, &r), 0, "an import leaves nothing pending");
	int64_t newest, rev;
	cr_assert_eq(kb_draft_save(f.db, &t, 0, "первая", 0, &newest, err, sizeof err), 1, "%s", err);
	t.slug = "y";
	cr_assert_eq(kb_draft_save(f.db, &t, 0, "вторая", 0, &newest, err, sizeof err), 1, "%s", err);
	cr_assert_eq(kb_submit(f.db, "y", 0, &rev), KB_SUBMITTED);
	cr_assert_eq(kb_pending(f.db, f.a, 10, &r), 2);
	cr_assert_str_eq(r[0].slug, "y", "newest first");
	cr_assert_str_eq(r[0].status, "review");
	cr_assert_str_eq(r[1].status, "draft");
	cr_assert_eq(kb_pending(f.db, f.a, 1, &r), 1, "at most limit");
	cr_assert_eq(kb_publish(f.db, "x", 0, true, false, &rev, err, sizeof err), KB_PUBLISHED, "%s", err);
	cr_assert_eq(kb_pending(f.db, f.a, 10, &r), 1, "a published revision leaves the list");
	kb_fixture_close(&f);
}

Test(kb, feedback_one_vote_per_voter_and_day)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	cr_assert(import(&f, err, sizeof err, NULL), "%s", err);
	char day[11];
	kb_feedback_day(0, day);
	cr_assert_str_eq(day, "1970-01-01");
	int64_t now = 1796083200; /* 2026-12-01 00:00:00 UTC */
	kb_feedback_day(now + 86399, day);
	cr_assert_str_eq(day, "2026-12-01");
	cr_assert(kb_feedback_vote(f.db, "payout-setup", "v1", true, "dropped with yes", now));
	cr_assert(kb_feedback_vote(f.db, "payout-setup", "v2", true, NULL, now));
	/* v2 changes its mind the same day: its vote is replaced, not added. */
	cr_assert(kb_feedback_vote(f.db, "payout-setup", "v2", false, "Нет шага про <b>карту</b>", now + 60));
	cr_assert(kb_feedback_vote(f.db, "faq-one", "v1", false, "", now));
	/* The next day counts again; a vote 40 days ago is outside 30 days. */
	cr_assert(kb_feedback_vote(f.db, "faq-one", "v1", false, "", now + 86400));
	cr_assert(kb_feedback_vote(f.db, "faq-one", "v3", true, "", now - 40 * 86400));
	/* Feedback on a slug without an article (removed since) still counts, without a title. */
	cr_assert(kb_feedback_vote(f.db, "gone", "v1", true, "", now));
	struct kb_feedback_count *fc;
	int n = kb_feedback_counts(f.db, f.a, 30, now + 86400, 100, &fc);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(fc[0].slug, "faq-one", "the most no first");
	cr_assert_str_eq(fc[0].title, "Вопрос");
	cr_assert_eq(fc[0].no, 2);
	cr_assert_eq(fc[0].yes, 0);
	cr_assert_eq(fc[0].comments, 0);
	cr_assert_str_eq(fc[1].slug, "payout-setup");
	cr_assert_eq(fc[1].yes, 1);
	cr_assert_eq(fc[1].no, 1);
	cr_assert_eq(fc[1].comments, 1);
	cr_assert_str_eq(fc[2].slug, "gone");
	cr_assert_str_eq(fc[2].title, "");
	cr_assert_str_eq(db_text(f.db, f.a, "SELECT comment FROM article_feedback WHERE voter = ?", "v2"),
			 "Нет шага про <b>карту</b>");
	cr_assert_str_eq(
	    db_text(f.db, f.a, "SELECT comment FROM article_feedback WHERE voter = ? AND helpful = 1", "v1"), "",
	    "no comment with yes");
	/* One day back: only today's votes. */
	n = kb_feedback_counts(f.db, f.a, 1, now + 86400, 100, &fc);
	cr_assert_eq(n, 1);
	cr_assert_eq(fc[0].no, 1);
	cr_assert_eq(kb_feedback_counts(f.db, f.a, 90, now + 86400, 1, &fc), 1, "the limit");
	kb_fixture_close(&f);
}

static int64_t revision_rows(struct kb_fixture *f)
{
	return atoll(db_text(f->db, f->a, "SELECT count(*) FROM article_revisions WHERE '' = ?", ""));
}

/* Archiving takes every text of an article off the portal through the change log, keeps all its
 * revisions, answers 410 (or 301 to a replacement), drops it from other articles' related lists;
 * publishing (or importing) the slug again brings it back. Every step is audited. */
Test(kb, archive_keeps_history_and_answers_410_or_301)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	int64_t olga = editor_id(&f, "olga"), rows = revision_rows(&f);
	int64_t version = kb_content_version(f.db, NULL);
	cr_assert_eq(kb_archive(f.db, "faq-one", NULL, olga, "устарела", err, sizeof err), KB_MOVED, "%s", err);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "faq-one", "", &v), 0);
	const char *to = "x";
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-one", &to), 1);
	cr_assert_null(to, "gone: 410");
	cr_assert_eq(kb_redirect(f.db, f.a, "payout-setup", &to), 0);
	cr_assert_eq(revision_rows(&f), rows + 1, "none lost; the text that linked it is a new revision");
	struct kb_change *ch;
	cr_assert_eq(kb_changes_since(f.db, f.a, version, &ch), 2, "the archived text and the one that linked it");
	cr_assert_str_eq(ch[0].text.slug, "faq-one");
	cr_assert(ch[0].removed);
	cr_assert_str_eq(ch[1].text.slug, "payout-setup");
	cr_assert_str_eq(ch[1].text.related, "", "the related link is dropped");
	cr_assert_eq(kb_archive(f.db, "faq-one", NULL, olga, "", err, sizeof err), KB_NOT_FOUND);
	cr_assert_eq(kb_archive(f.db, "payout-setup", "faq-one", olga, "", err, sizeof err), KB_BAD_TARGET);
	cr_assert_eq(kb_archive(f.db, "payout-setup", "payout-setup", olga, "", err, sizeof err), KB_BAD_TARGET);
	struct kb_audit_entry *e;
	cr_assert_eq(kb_audit(f.db, f.a, "faq-one", &e), 1);
	cr_assert_str_eq(e[0].action, "archive");
	cr_assert_str_eq(e[0].login, "olga");
	cr_assert_str_eq(e[0].detail, "устарела");
	/* A draft published for the slug brings it back. */
	struct kb_text t = {.slug = "faq-one",
			    .country = "",
			    .section = "faq",
			    .title = "Вопрос снова",
			    .summary = "",
			    .countries = "",
			    .keywords = "",
			    .related = "",
			    .body = "Ответ.\n"};
	int64_t newest = 0, rev;
	cr_assert_eq(kb_draft_save(f.db, &t, olga, "", 0, &newest, err, sizeof err), 2, "%s", err);
	cr_assert_eq(kb_publish(f.db, "faq-one", olga, false, false, &rev, err, sizeof err), KB_PUBLISHED, "%s", err);
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-one", &to), 0);
	cr_assert_eq(kb_article_for(f.db, f.a, "faq-one", "", &v), 1);
	cr_assert_eq(kb_audit(f.db, f.a, "faq-one", &e), 3);
	cr_assert_str_eq(e[0].action, "publish");
	cr_assert_str_eq(e[1].action, "draft");
	/* Archived with a replacement: both texts go, 301 to it, the revisions stay. */
	cr_assert_eq(kb_archive(f.db, "payout-setup", "faq-one", olga, "", err, sizeof err), KB_MOVED, "%s", err);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "KZ", &v), 0);
	cr_assert_eq(kb_redirect(f.db, f.a, "payout-setup", &to), 1);
	cr_assert_str_eq(to, "faq-one");
	cr_assert_eq(kb_revisions(f.db, f.a, "payout-setup", &(struct kb_revision *){0}), 3, "import, relink, variant");
	cr_assert_eq(kb_audit(f.db, f.a, "payout-setup", &e), 1);
	cr_assert_str_eq(e[0].detail, "→ faq-one");
	/* An import of the slug brings it back too. */
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	cr_assert_eq(kb_redirect(f.db, f.a, "payout-setup", &to), 0);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "KZ", &v), 1);
	kb_fixture_close(&f);
}

/* Renaming moves the texts and revisions; the old slug answers 301 to the new one, chains resolve
 * to their end, a slug that is taken is refused, the related lists of other articles follow. */
Test(kb, rename_moves_texts_revisions_and_links)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	int64_t olga = editor_id(&f, "olga"), rows = revision_rows(&f);
	int64_t version = kb_content_version(f.db, NULL);
	cr_assert_eq(kb_rename(f.db, "faq-one", "payout-setup", olga, err, sizeof err), KB_TAKEN);
	cr_assert_eq(kb_rename(f.db, "faq-one", "faq-one", olga, err, sizeof err), KB_TAKEN);
	cr_assert_eq(kb_rename(f.db, "no-such", "faq-two", olga, err, sizeof err), KB_NOT_FOUND);
	cr_assert_eq(kb_rename(f.db, "faq-one", "faq-main", olga, err, sizeof err), KB_MOVED, "%s", err);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "faq-main", "", &v), 1);
	cr_assert_str_eq(v.text.title, "Вопрос");
	cr_assert_eq(kb_article_for(f.db, f.a, "faq-one", "", &v), 0);
	const char *to;
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-one", &to), 1);
	cr_assert_str_eq(to, "faq-main");
	struct kb_revision *r;
	cr_assert_eq(kb_revisions(f.db, f.a, "faq-main", &r), 1);
	cr_assert_eq(kb_revisions(f.db, f.a, "faq-one", &r), 0);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "RU", &v), 1);
	cr_assert_str_eq(v.text.related, "faq-main");
	cr_assert_eq(kb_revisions(f.db, f.a, "payout-setup", &r), 3, "the relinked text is a new revision");
	cr_assert_str_eq(r[0].status, "published");
	cr_assert_eq(revision_rows(&f), rows + 1);
	struct kb_change *ch;
	cr_assert_eq(kb_changes_since(f.db, f.a, version, &ch), 3);
	cr_assert_str_eq(ch[0].text.slug, "faq-main");
	cr_assert_str_eq(ch[1].text.slug, "faq-one");
	cr_assert(ch[1].removed);
	cr_assert_str_eq(ch[2].text.slug, "payout-setup");
	/* Twice: the first slug leads to the last; back again: no loop. */
	cr_assert_eq(kb_rename(f.db, "faq-main", "faq-last", olga, err, sizeof err), KB_MOVED, "%s", err);
	cr_assert_str_eq(db_text(f.db, f.a, "SELECT target FROM article_redirects WHERE slug = ?", "faq-one"),
			 "faq-last");
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-one", &to), 1);
	cr_assert_str_eq(to, "faq-last");
	cr_assert_eq(kb_rename(f.db, "faq-last", "faq-one", olga, err, sizeof err), KB_MOVED, "%s", err);
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-one", &to), 0, "live again");
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-main", &to), 1);
	cr_assert_str_eq(to, "faq-one");
	cr_assert_eq(kb_redirect(f.db, f.a, "faq-last", &to), 1);
	cr_assert_str_eq(to, "faq-one");
	cr_assert_str_eq(
	    db_text(f.db, f.a, "SELECT count(*) FROM article_redirects WHERE slug = target OR slug = ?", "faq-one"),
	    "0");
	struct kb_audit_entry *e;
	cr_assert_eq(kb_audit(f.db, f.a, "faq-one", &e), 3, "the history follows the article");
	cr_assert_str_eq(e[0].action, "rename");
	cr_assert_str_eq(e[0].detail, "faq-last → faq-one");
	cr_assert_str_eq(e[2].detail, "faq-one → faq-main");
	kb_fixture_close(&f);
}

/* An import that removes a text keeps its revisions (they are never deleted); the import is
 * audited. */
Test(kb, an_import_that_removes_a_text_keeps_its_history)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	int64_t rows = revision_rows(&f);
	char path[4200];
	snprintf(path, sizeof path, "%s/payout-setup.kz.md", f.content);
	remove(path);
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "KZ", &v), 1);
	cr_assert_eq(v.n_variants, 0, "the variant is off the portal");
	cr_assert_eq(revision_rows(&f), rows, "its revisions stay");
	struct kb_revision one;
	cr_assert_eq(kb_revision_get(f.db, f.a, "payout-setup", 2, &one), 1);
	cr_assert_str_eq(one.country, "KZ");
	struct kb_audit_entry *e;
	cr_assert_eq(kb_audit(f.db, f.a, "", &e), 2);
	cr_assert_str_eq(e[0].action, "import");
	cr_assert_str_eq(e[1].detail, "5 changes");
	kb_fixture_close(&f);
}
