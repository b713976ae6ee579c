/* Unit tests of the editing workspace's kb/ parts (issue #10): the new article fields through
 * import, export, drafts and publishing; the checks of kb_draft_check; variants removed as
 * revisions; review sent back with a comment; the stale lists. Both engines. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/kb/kb.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char sections[] = "# slug | title | order | description\n"
			       "payouts | Выплаты | 1 | Про выплаты\n";
static const char general[] = "---\nslug: payout-setup\ntitle: Как настроить выплаты\nsection: payouts\n"
			      "updated: 2026-10-01\nrelated: faq-one\nprepare:\n  - Паспорт: оригинал\n"
			      "  - ИНН\nreview_by: 2020-01-31\nowner: olga\n---\nТекст.\n\n1. Шаг\n";
static const char variant[] = "---\nslug: payout-setup\ncountry: KZ\ntitle: Выплаты в Казахстане\n"
			      "section: payouts\nupdated: 2026-09-01\nowner: petr\n---\nТекст для KZ.\n";
static const char faq[] = "---\nslug: faq-one\ntitle: Вопрос\nsection: payouts\nupdated: 2026-09-01\n"
			  "prepare: одна строка\nreview_by: 2999-01-01\n---\nОтвет.\n";

static const char *const codes[] = {"RU", "KZ", "BY"};
static const struct kb_check configured = {.countries = codes, .n_countries = 3};

static void setup(struct kb_fixture *f)
{
	kb_fixture_dirs(f);
	put_file(f->content, "sections", sections);
	put_file(f->content, "payout-setup.md", general);
	put_file(f->content, "payout-setup.kz.md", variant);
	put_file(f->content, "faq-one.md", faq);
	kb_fixture_open(f);
	char err[512];
	struct kb_batch b;
	long changed;
	cr_assert(kb_read_dir(f->a, f->content, &b, err, sizeof err), "%s", err);
	cr_assert(kb_import(f->db, &b, &changed, err, sizeof err), "%s", err);
}

static int64_t account(struct kb_fixture *f, const char *login, const char *role)
{
	struct db_stmt *st = db_prepare(f->db, "INSERT INTO users(login, role, password_hash, created) VALUES (?, ?, "
					       "'x', 0) RETURNING id");
	cr_assert_not_null(st, "%s", db_errmsg(f->db));
	db_bind_text(st, 1, login);
	db_bind_text(st, 2, role);
	cr_assert_eq(db_step(st), DB_ROW, "%s", db_errmsg(f->db));
	int64_t id = db_col_int(st, 0);
	db_finalize(st);
	return id;
}

Test(kb, workspace_fields_round_trip_through_import_export_and_publishing)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "RU", &v), 1);
	cr_assert_str_eq(v.text.prepare, "Паспорт: оригинал\nИНН", "a YAML list, items with colons");
	cr_assert_str_eq(v.text.review_by, "2020-01-31");
	cr_assert_str_eq(v.text.owner, "olga");
	cr_assert_eq(kb_article_for(f.db, f.a, "faq-one", "", &v), 1);
	cr_assert_str_eq(v.text.prepare, "одна строка", "one item on the key's line");
	struct kb_revision *r, one;
	cr_assert_eq(kb_revisions(f.db, f.a, "payout-setup", &r), 2);
	cr_assert_eq(kb_revision_get(f.db, f.a, "payout-setup", r[1].n, &one), 1);
	cr_assert_str_eq(one.text.prepare, "Паспорт: оригинал\nИНН", "the import's revision has them");
	cr_assert_str_eq(one.text.owner, "olga");
	/* Export writes them back; importing the export changes nothing. */
	char *out = tmp_dir();
	cr_assert(kb_export(f.db, out, false, err, sizeof err), "%s", err);
	char path[4200];
	snprintf(path, sizeof path, "%s/payout-setup.md", out);
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp);
	char text[4096] = "";
	size_t len = fread(text, 1, sizeof text - 1, fp);
	text[len] = 0;
	fclose(fp);
	cr_assert(strstr(text, "prepare:\n  - Паспорт: оригинал\n  - ИНН\nreview_by: 2020-01-31\nowner: olga\n"), "%s",
		  text);
	struct kb_batch b;
	long changed = -1;
	cr_assert(kb_read_dir(f.a, out, &b, err, sizeof err), "%s", err);
	cr_assert(kb_import(f.db, &b, &changed, err, sizeof err), "%s", err);
	cr_assert_eq(changed, 0, "export then import changes nothing");
	rm_tree(out);
	free(out);
	/* A draft with new values, published: the portal's text has them. */
	int64_t olga = account(&f, "olga", "editor"), newest;
	(void)account(&f, "petr", "editor");
	struct kb_text t = {.slug = "payout-setup",
			    .country = "",
			    .section = "payouts",
			    .title = "Новая редакция",
			    .related = "faq-one",
			    .body = "Новый текст.\n",
			    .prepare = "Карта\nТелефон",
			    .review_by = "2027-05-01",
			    .owner = "petr"};
	int64_t n = kb_draft_save(f.db, &t, olga, "поля", 0, &newest, err, sizeof err);
	cr_assert_gt(n, 0, "%s", err);
	int64_t rev;
	cr_assert_eq(kb_publish(f.db, "payout-setup", olga, false, false, &rev, err, sizeof err), KB_PUBLISHED, "%s",
		     err);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "", &v), 1);
	cr_assert_str_eq(v.text.prepare, "Карта\nТелефон");
	cr_assert_str_eq(v.text.review_by, "2027-05-01");
	cr_assert_str_eq(v.text.owner, "petr");
	/* The change log carries them to the nodes' caches. */
	struct kb_change *ch;
	cr_assert_geq(kb_changes_since(f.db, f.a, 0, &ch), 0);
	kb_fixture_close(&f);
}

Test(kb, workspace_malformed_new_keys_are_refused_with_their_line)
{
	static const struct {
		const char *text, *what;
	} bad[] = {
	    {"---\nslug: x\ntitle: T\nsection: payouts\nupdated: 2026-01-01\nreview_by: 31.01.2027\n---\nТ.\n",
	     "x.md:6: review_by must be a date"},
	    {"---\nslug: x\ntitle: T\nsection: payouts\nupdated: 2026-01-01\nowner: Ольга\n---\nТ.\n",
	     "x.md:6: owner must be a desk login"},
	    {"---\nslug: x\ntitle: T\nsection: payouts\nupdated: 2026-01-01\nprepare: x\nprepare: y\n---\nТ.\n",
	     "x.md:7: key \"prepare\" given twice"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *dir = tmp_dir();
		struct arena *a = arena_new();
		put_file(dir, "sections", sections);
		put_file(dir, "x.md", bad[i].text);
		struct kb_batch b;
		char err[512];
		cr_assert_not(kb_read_dir(a, dir, &b, err, sizeof err), "%s", bad[i].what);
		cr_assert(strstr(err, bad[i].what), "%s: got %s", bad[i].what, err);
		arena_free(a);
		rm_tree(dir);
		free(dir);
	}
}

Test(kb, workspace_draft_checks_of_the_new_fields_and_countries)
{
	struct kb_fixture f;
	setup(&f);
	(void)account(&f, "olga", "editor");
	(void)account(&f, "ivan", "agent");
	const char *fields[KB_DRAFT_FIELD_ERRORS], *why[KB_DRAFT_FIELD_ERRORS];
	struct kb_text t = {.slug = "payout-setup",
			    .country = "",
			    .section = "payouts",
			    .title = "Т",
			    .body = "Текст",
			    .related = "faq-one, no-such, payout-setup",
			    .prepare = "- один\n\n* два\n",
			    .review_by = "2027-13-01",
			    .owner = "ivan",
			    .countries = "RU, KZ, RU"};
	int n = kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS);
	cr_assert_eq(n, 4, "countries, related, review_by, owner: %d", n);
	cr_assert_str_eq(fields[0], "countries");
	cr_assert_str_eq(why[0], "Страна RU указана дважды.");
	cr_assert_str_eq(fields[1], "related");
	cr_assert_str_eq(why[1], "Статьи «no-such» нет на портале.");
	cr_assert_str_eq(fields[2], "review_by");
	cr_assert_str_eq(fields[3], "owner", "an agent owns no article");
	cr_assert_str_eq(kb_prepare_canon(f.a, t.prepare), "один\nдва");
	t.related = "payout-setup";
	t.review_by = "2027-12-01";
	t.owner = "olga";
	t.countries = "RU, XX";
	n = kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(why[0], "Страны XX нет в настройках справочного центра.");
	cr_assert_str_eq(why[1], "Статья не может ссылаться сама на себя.");
	t.related = "faq-one";
	t.countries = "";
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS), 0);
	/* Too many items, and one too long. */
	char many[1024] = "";
	for (int i = 0; i <= KB_PREPARE_ITEMS; i++)
		strcat(many, "пункт\n");
	t.prepare = many;
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS), 1);
	cr_assert_str_eq(why[0], "Не больше 20 пунктов.");
	char *longer = arena_alloc(f.a, KB_PREPARE_ITEM_CHARS + 2);
	memset(longer, 'a', KB_PREPARE_ITEM_CHARS + 1);
	longer[KB_PREPARE_ITEM_CHARS + 1] = 0;
	t.prepare = longer;
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS), 1);
	cr_assert_str_eq(why[0], "Пункт 1 длиннее 200 знаков.");
	t.prepare = "";
	/* Variants: a configured country, no countries list, not twice when added. */
	t.country = "XX";
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS), 1);
	cr_assert_str_eq(fields[0], "country");
	t.country = "KZ";
	t.countries = "KZ";
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS), 1);
	cr_assert_str_eq(fields[0], "countries");
	t.countries = "";
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &configured, fields, why, KB_DRAFT_FIELD_ERRORS), 0,
		     "editing the KZ variant");
	struct kb_check adding = configured;
	adding.new_variant = true;
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &adding, fields, why, KB_DRAFT_FIELD_ERRORS), 1,
		     "adding a second KZ variant");
	cr_assert_str_eq(fields[0], "country");
	cr_assert(strstr(why[0], "уже есть вариант"), "%s", why[0]);
	t.country = "BY";
	cr_assert_eq(kb_draft_check(f.db, f.a, &t, &adding, fields, why, KB_DRAFT_FIELD_ERRORS), 0, "a new BY");
	cr_assert_eq(kb_variant_exists(f.db, "payout-setup", "KZ"), 1);
	cr_assert_eq(kb_variant_exists(f.db, "payout-setup", "BY"), 0);
	kb_fixture_close(&f);
}

Test(kb, workspace_a_variant_is_removed_by_a_published_revision_history_kept)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	int64_t olga = account(&f, "olga", "editor"), petr = account(&f, "petr", "editor"), rev;
	int64_t version = kb_content_version(f.db, NULL);
	cr_assert_eq(kb_variant_remove(f.db, "payout-setup", "BY", olga, "нет", err, sizeof err), 0, "no BY");
	cr_assert_eq(kb_variant_remove(f.db, "payout-setup", "", olga, "нет", err, sizeof err), 0, "the general");
	int64_t n = kb_variant_remove(f.db, "payout-setup", "KZ", olga, "удалён KZ", err, sizeof err);
	cr_assert_eq(n, 3, "%s", err);
	struct kb_revision one;
	cr_assert_eq(kb_revision_get(f.db, f.a, "payout-setup", 3, &one), 1);
	cr_assert(one.removed);
	cr_assert_str_eq(one.status, "draft");
	cr_assert_str_eq(one.text.body, "Текст для KZ.\n", "the removed text kept in the history");
	cr_assert_eq(kb_variant_exists(f.db, "payout-setup", "KZ"), 0, "a removal pending: may be added again");
	struct kb_view v;
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "KZ", &v), 1);
	cr_assert_str_eq(v.text.country, "KZ", "still live until published");
	/* Review required: not by its author, by another editor once submitted. */
	cr_assert_eq(kb_publish(f.db, "payout-setup", olga, true, true, &rev, err, sizeof err), KB_REVIEW_REQUIRED,
		     "an admin author neither");
	cr_assert_eq(kb_submit(f.db, "payout-setup", olga, &rev), KB_SUBMITTED);
	cr_assert_eq(kb_publish(f.db, "payout-setup", petr, false, true, &rev, err, sizeof err), KB_PUBLISHED, "%s",
		     err);
	cr_assert_eq(kb_article_for(f.db, f.a, "payout-setup", "KZ", &v), 1);
	cr_assert_str_eq(v.text.country, "", "the general text for KZ now");
	cr_assert_eq(v.n_variants, 0);
	cr_assert_gt(kb_content_version(f.db, NULL), version);
	struct kb_revision *r;
	cr_assert_eq(kb_revisions(f.db, f.a, "payout-setup", &r), 3);
	cr_assert(r[0].removed);
	cr_assert_str_eq(r[0].status, "published");
	cr_assert_str_eq(r[1].status, "superseded", "the variant's last text");
	cr_assert_eq(kb_variant_remove(f.db, "payout-setup", "KZ", olga, "", err, sizeof err), 0, "removed already");
	kb_fixture_close(&f);
}

Test(kb, workspace_review_sent_back_with_a_comment_then_approved)
{
	struct kb_fixture f;
	setup(&f);
	char err[512];
	int64_t olga = account(&f, "olga", "editor"), petr = account(&f, "petr", "editor"),
		root = account(&f, "root", "admin"), rev, newest;
	struct kb_text t = {
	    .slug = "faq-one", .country = "", .section = "payouts", .title = "Вопрос 2", .body = "Ответ 2.\n"};
	cr_assert_eq(kb_reject(f.db, "faq-one", petr, "нет", &rev), KB_NO_DRAFT, "nothing in review");
	int64_t n = kb_draft_save(f.db, &t, olga, "правка", 0, &newest, err, sizeof err);
	cr_assert_gt(n, 0, "%s", err);
	cr_assert_eq(kb_reject(f.db, "faq-one", petr, "нет", &rev), KB_NO_DRAFT, "a draft is not in review");
	cr_assert_eq(kb_submit(f.db, "faq-one", olga, &rev), KB_SUBMITTED);
	cr_assert_eq(kb_reject(f.db, "faq-one", olga, "сам", &rev), KB_OWN_REVISION);
	cr_assert_eq(kb_publish(f.db, "faq-one", olga, false, true, &rev, err, sizeof err), KB_REVIEW_REQUIRED);
	/* A comment of 1000 Cyrillic characters (2000 bytes) goes whole into the revision and the audit. */
	char *comment = arena_alloc(f.a, 4096);
	strcpy(comment, "Добавьте шаг <про карту>");
	for (int i = 0; i < KB_COMMENT_MAX - 24; i++)
		strcat(comment, "ж");
	cr_assert_eq(kb_reject(f.db, "faq-one", petr, comment, &rev), KB_RETURNED);
	cr_assert_eq(rev, n);
	struct kb_revision *r;
	cr_assert_eq(kb_revisions(f.db, f.a, "faq-one", &r), 2);
	cr_assert_str_eq(r[0].status, "draft");
	cr_assert_str_eq(r[0].comment, comment);
	cr_assert_str_eq(r[0].reviewer, "petr");
	cr_assert_eq(kb_returned(f.db, f.a, olga, 10, &r), 1, "returned to its author");
	cr_assert_str_eq(r[0].slug, "faq-one");
	cr_assert_eq(kb_returned(f.db, f.a, petr, 10, &r), 0, "not to the reviewer");
	cr_assert_eq(kb_publish(f.db, "faq-one", petr, false, true, &rev, err, sizeof err), KB_REVIEW_REQUIRED,
		     "a draft again: submitted first");
	/* The admin publishes another's draft directly; the author's new draft leaves the list. */
	t.title = "Вопрос 3";
	cr_assert_gt(kb_draft_save(f.db, &t, olga, "исправлено", 0, &newest, err, sizeof err), 0, "%s", err);
	cr_assert_eq(kb_returned(f.db, f.a, olga, 10, &r), 0, "a newer draft answers the comment");
	cr_assert_eq(kb_publish(f.db, "faq-one", root, true, true, &rev, err, sizeof err), KB_PUBLISHED, "%s", err);
	/* The draft sent back was overtaken: nothing pending, a second publish finds nothing. */
	cr_assert_eq(kb_revisions(f.db, f.a, "faq-one", &r), 3);
	cr_assert_str_eq(r[0].status, "published");
	cr_assert_str_eq(r[1].status, "superseded", "the draft sent back, overtaken");
	cr_assert_str_eq(r[1].comment, comment, "its comment kept");
	cr_assert_eq(kb_pending(f.db, f.a, 10, &r), 0);
	cr_assert_eq(kb_publish(f.db, "faq-one", root, true, true, &rev, err, sizeof err), KB_NO_DRAFT);
	struct kb_audit_entry *e;
	int na = kb_audit(f.db, f.a, "faq-one", &e);
	cr_assert_geq(na, 4);
	bool rejected = false;
	for (int i = 0; i < na; i++)
		rejected |= !strcmp(e[i].action, "reject") && strstr(e[i].detail, comment) != NULL;
	cr_assert(rejected, "the audit names the sending back");
	kb_fixture_close(&f);
}

Test(kb, workspace_stale_texts_overdue_and_variants_behind)
{
	struct kb_fixture f;
	setup(&f);
	struct kb_stale *s;
	int n = kb_stale(f.db, f.a, false, "2026-12-01", NULL, 100, &s);
	cr_assert_eq(n, 1, "payout-setup's review date passed; faq-one's not");
	cr_assert_str_eq(s[0].text.slug, "payout-setup");
	cr_assert_str_eq(s[0].text.owner, "olga");
	cr_assert_str_eq(s[0].text.review_by, "2020-01-31");
	cr_assert_eq(kb_stale(f.db, f.a, false, "2026-12-01", "olga", 100, &s), 1, "olga's");
	cr_assert_eq(kb_stale(f.db, f.a, false, "2026-12-01", "petr", 100, &s), 0, "petr's");
	cr_assert_eq(kb_stale(f.db, f.a, false, "2020-01-31", NULL, 100, &s), 0, "due today is not past");
	n = kb_stale(f.db, f.a, true, NULL, NULL, 100, &s);
	cr_assert_eq(n, 1, "the KZ variant is older than its general text");
	cr_assert_str_eq(s[0].text.country, "KZ");
	cr_assert_str_eq(s[0].text.updated, "2026-09-01");
	cr_assert_str_eq(s[0].general_updated, "2026-10-01");
	cr_assert_str_eq(s[0].text.owner, "petr");
	cr_assert_eq(kb_stale(f.db, f.a, true, NULL, "petr", 100, &s), 1);
	cr_assert_eq(kb_stale(f.db, f.a, true, NULL, "olga", 100, &s), 0);
	cr_assert_eq(kb_stale(f.db, f.a, true, NULL, NULL, 0, &s), 0, "limit");
	kb_fixture_close(&f);
}
