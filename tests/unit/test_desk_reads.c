/* Unit tests of what the desk reads through req/ and mail/ (src/req/desk_reads.c,
 * mail_outbox_page): the queue against a plain filter-and-sort of the same rows, page after page,
 * the audit log, canned replies, an attachment, the outbox page. */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/mail/mail.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dir;
static struct db *db;
static struct arena *A;

static void setup(void)
{
	A = arena_new();
	dir = tmp_dir();
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_exec(db, "INSERT INTO users(id, login, role, password_hash, created) VALUES "
				 "(1, 'anna', 'agent', 'x', 0), (2, 'boris', 'agent', 'x', 0)"),
		     DB_OK, "%s", db_errmsg(db));
}

static void teardown(void)
{
	db_close(db);
	rm_tree(dir);
	free(dir);
	arena_free(A);
}

TestSuite(desk_reads, .init = setup, .fini = teardown);

#define N_ROWS 260

struct row {
	int64_t id, created, updated, assignee;
	const char *status, *topic, *country, *member;
	bool merged;
};
static struct row rows[N_ROWS];

/* N_ROWS requests with every status, two topics, three countries, three assignees (nobody,
 * anna, boris), four members, some `updated` values shared (ties broken by id), a few merged. */
static void fill(void)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO requests(id, number, token_hash, member_id, name, country, "
					    "topic, subject, status, assignee, created, updated) VALUES (?, ?, ?, ?, "
					    "'Имя', ?, ?, 'Тема', ?, ?, ?, ?)");
	cr_assert(st, "%s", db_errmsg(db));
	for (int i = 0; i < N_ROWS; i++) {
		struct row *r = &rows[i];
		*r = (struct row){.id = i + 1,
				  .created = 1000 + (i * 7) % 300,
				  .updated = 5000 + (i * 37) % 200,
				  .assignee = i % 3,
				  .status = req_statuses[i % REQ_N_STATUSES],
				  .topic = i % 2 ? "payouts" : "order",
				  .country = (const char *[]){"RU", "KZ", "DE"}[i % 3 == 1 ? 0 : i % 7 % 3],
				  .member = (const char *[]){"10001", "10002", "10003", "10004"}[i % 4]};
		db_reset(st);
		char number[32], hash[32];
		snprintf(number, sizeof number, "R-2026-%06d", i + 1);
		snprintf(hash, sizeof hash, "h%d", i + 1);
		db_bind_int(st, 1, r->id);
		db_bind_text(st, 2, number);
		db_bind_text(st, 3, hash);
		db_bind_text(st, 4, r->member);
		db_bind_text(st, 5, r->country);
		db_bind_text(st, 6, r->topic);
		db_bind_text(st, 7, r->status);
		if (r->assignee)
			db_bind_int(st, 8, r->assignee);
		else
			db_bind_null(st, 8);
		db_bind_int(st, 9, r->created);
		db_bind_int(st, 10, r->updated);
		cr_assert_eq(db_step(st), DB_DONE, "%s", db_errmsg(db));
	}
	db_finalize(st);
	cr_assert_eq(db_exec(db, "UPDATE requests SET merged_into = 1 WHERE id IN (20, 21, 22)"), DB_OK);
	rows[19].merged = rows[20].merged = rows[21].merged = true;
}

static bool open_status(const char *s)
{
	return !strcmp(s, "new") || !strcmp(s, "open") || !strcmp(s, "waiting");
}

static bool wanted(const struct row *r, const struct req_queue_filter *f)
{
	if (r->merged || r->created > f->created_before)
		return false;
	if (!f->status || !*f->status ? !open_status(r->status)
				      : strcmp(f->status, "all") && strcmp(f->status, r->status))
		return false;
	if ((f->topic && strcmp(f->topic, r->topic)) || (f->country && strcmp(f->country, r->country)) ||
	    (f->member && strcmp(f->member, r->member)))
		return false;
	if (f->assignee && !strcmp(f->assignee, "me") && r->assignee != f->user_id)
		return false;
	if (f->assignee && !strcmp(f->assignee, "none") && r->assignee)
		return false;
	return true;
}

static bool desc_of(const struct req_queue_filter *f)
{
	return f->status && *f->status && !open_status(f->status);
}

static int cmp_asc(const void *x, const void *y)
{
	const struct row *p = *(const struct row *const *)x, *q = *(const struct row *const *)y;
	if (p->updated != q->updated)
		return p->updated < q->updated ? -1 : 1;
	return p->id < q->id ? -1 : p->id > q->id;
}

static int cmp_desc(const void *x, const void *y)
{
	return cmp_asc(y, x);
}

/* Every page of f, one after another, equals the rows filtered and sorted here. */
static void check_list(struct req_queue_filter f, const char *what)
{
	const struct row *want[N_ROWS];
	int n_want = 0;
	for (int i = 0; i < N_ROWS; i++)
		if (wanted(&rows[i], &f))
			want[n_want++] = &rows[i];
	qsort(want, (size_t)n_want, sizeof *want, desc_of(&f) ? cmp_desc : cmp_asc);
	int got = 0, pages = 0;
	for (bool more = true; more; pages++) {
		struct req_queue_row *page;
		int n = req_queue(db, A, &f, &page, &more);
		cr_assert_geq(n, 0, "%s: %s", what, db_errmsg(db));
		cr_assert_leq(n, REQ_QUEUE_PAGE, "%s", what);
		cr_assert(!more || n == REQ_QUEUE_PAGE, "%s: a short page with a next one", what);
		for (int i = 0; i < n; i++, got++) {
			cr_assert_lt(got, n_want, "%s: more rows than expected", what);
			cr_assert_eq(page[i].id, want[got]->id, "%s: row %d is %lld, expected %lld", what, got,
				     (long long)page[i].id, (long long)want[got]->id);
			cr_assert_str_eq(page[i].status, want[got]->status, "%s", what);
			cr_assert_eq(page[i].updated, want[got]->updated, "%s", what);
			const char *login = want[got]->assignee == 1   ? "anna"
					    : want[got]->assignee == 2 ? "boris"
								       : NULL;
			cr_assert(login ? page[i].assignee && !strcmp(page[i].assignee, login) : !page[i].assignee,
				  "%s: assignee of %lld", what, (long long)page[i].id);
		}
		if (more) {
			f.paged = true;
			f.after_updated = page[n - 1].updated;
			f.after_id = page[n - 1].id;
		}
	}
	cr_assert_eq(got, n_want, "%s: %d rows, expected %d", what, got, n_want);
	cr_assert_geq(pages, 1);
}

Test(desk_reads, the_queue_pages_through_exactly_the_filtered_rows_in_order)
{
	fill();
	const struct req_queue_filter base = {.user_id = 1, .created_before = INT64_MAX};
	struct req_queue_filter f = base;
	check_list(f, "open queue");
	f.status = "all";
	check_list(f, "all");
	for (int i = 0; i < REQ_N_STATUSES; i++) {
		f = base;
		f.status = req_statuses[i];
		check_list(f, req_statuses[i]);
	}
	f = base, f.topic = "payouts";
	check_list(f, "topic");
	f = base, f.country = "KZ", f.status = "all";
	check_list(f, "country, all");
	f = base, f.assignee = "me";
	check_list(f, "mine");
	f = base, f.assignee = "me", f.user_id = 2, f.status = "closed";
	check_list(f, "boris's closed");
	f = base, f.assignee = "none", f.topic = "order";
	check_list(f, "nobody's, topic");
	f = base, f.member = "10002", f.assignee = "none", f.status = "all";
	check_list(f, "member, nobody's, all");
	f = base, f.created_before = 1150, f.country = "RU", f.topic = "order";
	check_list(f, "older, country and topic");
	f = base, f.status = "no-such-status";
	check_list(f, "an unknown status");
}

Test(desk_reads, the_audit_log_names_assignees_by_login)
{
	fill();
	struct req_config cfg = {.public_url = "https://help.example.org", .auto_close_days = 7};
	cr_assert(req_assign(db, 5, 1, 2));
	cr_assert(req_assign(db, 5, 1, 0));
	cr_assert(req_set_status(db, &cfg, A, 5, 2, "waiting"));
	cr_assert(req_agent_note(db, 5, 1, "заметка"));
	struct req_audit_entry *log;
	int n = req_audit_list(db, A, 5, &log);
	cr_assert_eq(n, 4, "%s", db_errmsg(db));
	cr_assert_str_eq(log[0].action, "assign");
	cr_assert_str_eq(log[0].user, "anna");
	cr_assert_str_eq(log[0].assignee, "boris");
	cr_assert_str_eq(log[0].detail, "2");
	cr_assert_str_eq(log[1].action, "assign");
	cr_assert_null(log[1].assignee, "assigned to nobody");
	cr_assert_str_eq(log[2].action, "status");
	cr_assert_str_eq(log[2].user, "boris");
	cr_assert_str_eq(log[2].detail, "waiting");
	cr_assert_null(log[2].assignee);
	cr_assert_str_eq(log[3].action, "note");
	cr_assert_eq(req_audit_list(db, A, 6, &log), 0, "another request has no log");
}

Test(desk_reads, canned_replies_are_listed_by_title_and_read_by_id)
{
	cr_assert(req_canned_add(db, "Б: выплаты", "Текст про выплаты"));
	cr_assert(req_canned_add(db, "А: пароль", "Текст про пароль"));
	struct req_canned *c;
	cr_assert_eq(req_canned_list(db, A, false, &c), 2);
	cr_assert_str_eq(c[0].title, "А: пароль");
	cr_assert_str_eq(c[0].body, "", "titles only");
	cr_assert_eq(req_canned_list(db, A, true, &c), 2);
	cr_assert_str_eq(c[1].title, "Б: выплаты");
	cr_assert_str_eq(c[1].body, "Текст про выплаты");
	cr_assert_str_eq(req_canned_body(db, A, c[0].id), "Текст про пароль");
	cr_assert_null(req_canned_body(db, A, 999));
}

Test(desk_reads, an_attachment_by_id)
{
	fill();
	cr_assert_eq(db_exec(db, "INSERT INTO attachments(id, request_id, sha256, size, mime, filename, created) "
				 "VALUES (7, 3, 'abc', 10, 'image/png', 'скан.png', 0)"),
		     DB_OK);
	struct req_attachment f;
	cr_assert_eq(req_attachment(db, A, 7, &f), 1);
	cr_assert_str_eq(f.sha256, "abc");
	cr_assert_str_eq(f.mime, "image/png");
	cr_assert_str_eq(f.filename, "скан.png");
	cr_assert_eq(req_attachment(db, A, 8, &f), 0);
	cr_assert_eq(req_attachment(db, A, -1, &f), 0);
}

Test(desk_reads, the_outbox_pages_newest_first_by_id)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO outbox(to_addr, subject, body, next_attempt, created) "
					    "VALUES (?, ?, 'Текст', 0, ?)");
	for (int i = 0; i < 5; i++) {
		char to[32], subject[32];
		snprintf(to, sizeof to, "m%d@example.org", i);
		snprintf(subject, sizeof subject, "Тема %d", i);
		db_reset(st);
		db_bind_text(st, 1, to);
		db_bind_text(st, 2, subject);
		db_bind_int(st, 3, 100 + i);
		cr_assert_eq(db_step(st), DB_DONE, "%s", db_errmsg(db));
	}
	db_finalize(st);
	struct mail_outbox_row *r;
	cr_assert_eq(mail_outbox_page(db, A, INT64_MAX, 3, &r), 3);
	cr_assert_str_eq(r[0].to, "m4@example.org");
	cr_assert_eq(r[0].created, 104);
	cr_assert_str_eq(r[0].status, "pending");
	cr_assert_eq(r[0].attempts, 0);
	cr_assert_str_eq(r[2].subject, "Тема 2");
	cr_assert_eq(mail_outbox_page(db, A, r[2].id, 3, &r), 2);
	cr_assert_str_eq(r[1].to, "m0@example.org");
}

/* Every statement of the queue (each driving filter, each order, with and without the open
 * term) runs and gives exactly the rows of its status and filter: the lists above reach most of
 * them; this one runs all of them, including the ones no list combines (an ascending list of a
 * status that is not open). */
Test(desk_reads, every_queue_statement_runs)
{
	fill();
	static const char *const drive_text[REQ_QUEUE_DRIVERS] = {
	    [REQ_QUEUE_TOPIC] = "payouts", [REQ_QUEUE_COUNTRY] = "RU", [REQ_QUEUE_MEMBER] = "10002"};
	for (int d = 0; d < REQ_QUEUE_DRIVERS; d++) {
		for (int desc = 0; desc < 2; desc++) {
			for (int open = 0; open < 2; open++) {
				const char *status = open ? "waiting" : "closed";
				struct db_stmt *st = db_prepare(db, req_queue_sql(d, desc, open));
				cr_assert(st, "%d %d %d: %s", d, desc, open, db_errmsg(db));
				int i = 1;
				db_bind_text(st, i++, status);
				if (d == REQ_QUEUE_MINE)
					db_bind_int(st, i++, 1);
				else if (drive_text[d])
					db_bind_text(st, i++, drive_text[d]);
				db_bind_text(st, i++, ""), db_bind_text(st, i++, "");
				db_bind_text(st, i++, ""), db_bind_text(st, i++, "");
				for (int k = 0; k < 3; k++)
					db_bind_int(st, i++, 0);
				db_bind_int(st, i++, 1);
				db_bind_int(st, i++, INT64_MAX);
				db_bind_int(st, i++, desc ? INT64_MAX : INT64_MIN);
				db_bind_int(st, i++, desc ? INT64_MAX : INT64_MIN);
				db_bind_int(st, i++, desc ? INT64_MAX : -1);
				db_bind_int(st, i++, N_ROWS);
				int want = 0, got = 0;
				for (int r = 0; r < N_ROWS; r++) {
					const struct row *w = &rows[r];
					want += !w->merged && !strcmp(w->status, status) &&
						(d != REQ_QUEUE_TOPIC || !strcmp(w->topic, "payouts")) &&
						(d != REQ_QUEUE_COUNTRY || !strcmp(w->country, "RU")) &&
						(d != REQ_QUEUE_MEMBER || !strcmp(w->member, "10002")) &&
						(d != REQ_QUEUE_MINE || w->assignee == 1) &&
						(d != REQ_QUEUE_UNASSIGNED || w->assignee == 0);
				}
				enum db_rc rc;
				int64_t last = desc ? INT64_MAX : INT64_MIN;
				while ((rc = db_step(st)) == DB_ROW) {
					int64_t u = db_col_int(st, 9);
					cr_assert(desc ? u <= last : u >= last, "%d %d %d: order", d, desc, open);
					last = u;
					got++;
				}
				cr_assert_eq(rc, DB_DONE, "%d %d %d: %s", d, desc, open, db_errmsg(db));
				cr_assert_eq(got, want, "%d %d %d: %d rows, expected %d", d, desc, open, got, want);
				db_finalize(st);
			}
		}
	}
}
