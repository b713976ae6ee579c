/* Unit tests of src/kb: the content format, import rules and the choice of country variant. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
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

struct fixture {
	char *data, *content;
	struct db *db;
	struct arena *a;
};

static void setup(struct fixture *f)
{
	char err[512];
	f->data = tmp_dir();
	f->content = tmp_dir();
	f->a = arena_new();
	put_file(f->content, "sections", sections);
	put_file(f->content, "payout-setup.md", general);
	put_file(f->content, "payout-setup.kz.md", variant);
	put_file(f->content, "faq-one.md", faq);
	cr_assert_eq(db_open(f->data, &f->db, err, sizeof err), DB_OK, "%s", err);
}

static void teardown(struct fixture *f)
{
	db_close(f->db);
	arena_free(f->a);
	rm_tree(f->data);
	rm_tree(f->content);
	free(f->data);
	free(f->content);
}

static bool import(struct fixture *f, char *err, size_t errlen, long *changed)
{
	struct kb_batch b;
	return kb_read_dir(f->a, f->content, &b, err, errlen) && kb_import(f->db, &b, changed, err, errlen);
}

Test(kb, imports_and_picks_the_country_variant)
{
	struct fixture f;
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
	teardown(&f);
}

Test(kb, reimport_changes_nothing_and_keeps_version)
{
	struct fixture f;
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
	teardown(&f);
}

/* Each bad file must be refused with FILE:LINE and leave the database untouched. */
static void expect_refused(const char *name, const char *text, const char *where, const char *what)
{
	struct fixture f;
	setup(&f);
	put_file(f.content, name, text);
	char err[512];
	long changed;
	cr_assert(!import(&f, err, sizeof err, &changed), "%s was accepted", name);
	cr_assert(strstr(err, where), "expected \"%s\" in: %s", where, err);
	cr_assert(strstr(err, what), "expected \"%s\" in: %s", what, err);
	struct kb_section *secs;
	cr_assert_eq(kb_sections(f.db, f.a, &secs), 0, "a broken batch imported something");
	teardown(&f);
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
	struct fixture f;
	setup(&f);
	put_file(f.content, "sections", "ok | Заголовок | 1 | d\nBad Slug | T | 2 | d\n");
	char err[512];
	long changed;
	cr_assert(!import(&f, err, sizeof err, &changed));
	cr_assert(strstr(err, "sections:2:"), "%s", err);
	teardown(&f);
}

Test(kb, export_then_import_is_identity)
{
	struct fixture f;
	setup(&f);
	char err[512];
	long changed;
	cr_assert(import(&f, err, sizeof err, &changed), "%s", err);
	char *out = tmp_dir();
	cr_assert(kb_export(f.db, out, err, sizeof err), "%s", err);
	/* Import the export into the same database: nothing may change. */
	struct kb_batch b;
	cr_assert(kb_read_dir(f.a, out, &b, err, sizeof err), "%s", err);
	cr_assert(kb_import(f.db, &b, &changed, err, sizeof err), "%s", err);
	cr_assert_eq(changed, 0);
	cr_assert_eq(b.n_texts, 3);
	rm_tree(out);
	free(out);
	teardown(&f);
}

/* Reading a content directory costs what its files hold, not the 1 MiB a file may have at most:
 * 50,000 small articles took 50 GB when every file got a buffer of the limit's size. */
Test(kb, reading_costs_memory_in_proportion_to_the_files)
{
	struct fixture f;
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
	teardown(&f);
}

Test(kb, a_section_by_name_without_counting_its_articles)
{
	struct fixture f;
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
	teardown(&f);
}

/* The change log names the texts each import wrote or removed, once each, with their rows now. */
Test(kb, change_log_names_the_changed_texts)
{
	struct fixture f;
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
	struct db_stmt *st = db_prepare(f.db, "UPDATE meta SET value = '3' WHERE key = 'content_log_from'");
	cr_assert(st && db_step(st) == DB_DONE);
	db_finalize(st);
	cr_assert_eq(kb_changes_since(f.db, f.a, 2, &ch), KB_CHANGES_ALL, "before the log starts");
	teardown(&f);
}
