/*
 * Issue #8, the desk at a million requests: the EXPLAIN QUERY PLAN of every desk and maintenance
 * query on a migrated database (no scan of a growing table, no temporary B-tree unless bounded,
 * the index each is written for), and the counts per status kept in request_counts, which must
 * equal a real count after any sequence of creations, status changes, assignments, replies,
 * merges and auto-closing, and which `spravka repair` (req_counts_repair) puts right.
 */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/desk/desk.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct arena *A;
static char *dir;
static struct db *db;

static void setup(void)
{
	A = arena_new();
	dir = tmp_dir();
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
}

static void teardown(void)
{
	db_close(db);
	rm_tree(dir);
	arena_free(A);
}

TestSuite(plans, .init = setup, .fini = teardown);

Test(plans, every_desk_and_maintenance_query_reads_through_an_index)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	struct desk_plan *p;
	int n = desk_plans(A, &p);
	cr_assert_geq(n, 50, "the queue's variants and every listed query");
	for (int i = 0; i < n; i++) {
		const char *plan = desk_plan_text(db, A, p[i].sql);
		cr_assert_not_null(plan, "%s: %s", p[i].name, db_errmsg(db));
		const char *problem = desk_plan_problem(&p[i], plan);
		cr_assert_str_empty(problem, "%s: %s\n  %s\n  plan: %s", p[i].name, problem, p[i].sql, plan);
	}
}

/* A creation's limits read the address's rows by the key's range, never by the window's index:
 * in the first hour of a UTC day the hour's window starts where the day's does, and that index
 * then holds every member counted that day (a scan of them for every creation). */
Test(plans, a_creations_limits_read_the_address_by_its_key)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	const char *plan = desk_plan_text(db, A, req_create_limits_sql);
	cr_assert_not_null(plan, "%s", db_errmsg(db));
	cr_assert(strstr(plan, "sqlite_autoindex_throttle_1 (key>? AND key<?)"), "%s", plan);
	cr_assert_null(strstr(plan, "throttle_window"), "%s", plan);
}

/* The check itself can fail: the statements the desk ran before issue #8. */
Test(plans, the_check_sees_a_scan_a_sort_and_the_wrong_index)
{
	if (test_on_pg())
		cr_skip_test("SQLite's plans");
	struct desk_plan counts = {"old counts",
				   "SELECT status, count(*) FROM requests WHERE merged_into IS NULL "
				   "GROUP BY status",
				   NULL, NULL};
	const char *plan = desk_plan_text(db, A, counts.sql);
	cr_assert_str_neq(desk_plan_problem(&counts, plan), "", "plan: %s", plan);
	struct desk_plan queue = {"old queue",
				  "SELECT r.number FROM requests r WHERE r.merged_into IS NULL AND (CASE WHEN ? IS "
				  "NULL THEN r.status IN ('new', 'open', 'waiting') ELSE r.status = ? END) AND (? IS "
				  "NULL OR r.topic = ?) ORDER BY r.updated ASC LIMIT 200",
				  NULL, NULL};
	plan = desk_plan_text(db, A, queue.sql);
	cr_assert_str_neq(desk_plan_problem(&queue, plan), "", "plan: %s", plan);
	struct desk_plan sorted = {"sort", "SELECT id FROM requests WHERE status = ? ORDER BY created", NULL, NULL};
	plan = desk_plan_text(db, A, sorted.sql);
	cr_assert_str_eq(desk_plan_problem(&sorted, plan), "sorts with a temporary B-tree", "plan: %s", plan);
	struct desk_plan wrong = {"wrong index", "SELECT id FROM requests WHERE status = ? ORDER BY updated", NULL,
				  "requests_status_topic"};
	plan = desk_plan_text(db, A, wrong.sql);
	cr_assert_str_eq(desk_plan_problem(&wrong, plan), "does not use the index it is written for", "plan: %s", plan);
	/* A table that does not grow may be read whole. */
	struct desk_plan small = {"counts", "SELECT status, n FROM request_counts", NULL, NULL};
	plan = desk_plan_text(db, A, small.sql);
	cr_assert_str_empty(desk_plan_problem(&small, plan), "plan: %s", plan);
}

/* ---- the kept counts ---- */

static struct req_config cfg;
static const char *const countries[] = {"RU", "KZ", "DE"};

static void counts_setup(void)
{
	setup();
	cfg = (struct req_config){.data_dir = dir,
				  .member_id_min = 5,
				  .member_id_max = 12,
				  .topics = req_default_topics,
				  .n_topics = req_default_topic_count,
				  .max_per_ip_hour = 100000,
				  .max_per_member_day = 100000,
				  .auto_close_days = 7,
				  .public_url = "https://help.example.org",
				  .countries = countries,
				  .n_countries = 3};
	cr_assert_eq(db_exec(db, "INSERT INTO users(id, login, role, password_hash, created) VALUES "
				 "(1, 'anna', 'agent', 'x', 0)"),
		     DB_OK, "%s", db_errmsg(db));
}

TestSuite(desk_counts, .init = counts_setup, .fini = teardown);

/* The kept counts against count(*) over the requests not merged away. */
static void assert_counts_true(const char *after)
{
	int64_t kept[REQ_N_STATUSES];
	cr_assert(req_counts(db, kept), "%s", db_errmsg(db));
	for (int i = 0; i < REQ_N_STATUSES; i++) {
		struct db_stmt *st =
		    db_prepare(db, "SELECT count(*) FROM requests WHERE status = ? AND merged_into IS NULL");
		db_bind_text(st, 1, req_statuses[i]);
		cr_assert_eq(db_step(st), DB_ROW);
		int64_t real = db_col_int(st, 0);
		db_finalize(st);
		cr_assert_eq(kept[i], real, "after %s: %s kept %lld, real %lld", after, req_statuses[i],
			     (long long)kept[i], (long long)real);
	}
}

static int64_t create(int k)
{
	/* Members from a small set, so that merges find requests of one member; topics and texts
	 * differ, so that none is a duplicate. */
	char member[16], ip[32];
	snprintf(member, sizeof member, "%06d", 100000 + k % 20);
	snprintf(ip, sizeof ip, "192.0.2.%d", k % 250);
	static const char *const words[] = {"выплата", "заказ",	  "пароль",  "кабинет",	  "паспорт", "доставка",
					    "возврат", "спонсор", "карта",   "реквизиты", "брак",    "посылка",
					    "телефон", "почта",	  "договор", "бонус",	  "склад",   "курьер"};
	const char *desc = "Здравствуйте";
	for (int w = 0; w < 8; w++)
		desc = arena_printf(A, "%s %s", desc, words[rand() % 18]);
	desc = arena_printf(A, "%s %d.", desc, k);
	struct req_input in = {.member_id = arena_strdup(A, member),
			       .name = "Ирина",
			       .email = "irina@example.org",
			       .country = "KZ",
			       .topic = req_default_topics[(k / 20) % req_default_topic_count].slug,
			       .subject = "Вопрос",
			       .description = desc,
			       .client_ip = arena_strdup(A, ip)};
	struct req_outcome out;
	enum req_result r = req_create(db, &cfg, A, &in, &out);
	if (r != REQ_CREATED)
		return 0; /* a duplicate of an open one of the same member and topic: fine, nothing made */
	return strtoll(db_text(db, A, "SELECT id FROM requests WHERE number = ?", out.number), NULL, 10);
}

Test(desk_counts, kept_counts_equal_a_real_count_after_random_changes)
{
	srand(8);
	int64_t ids[400];
	int n = 0;
	for (int step = 0; step < 1000; step++) {
		int op = n < 5 ? 0 : rand() % 9;
		int64_t id = n ? ids[rand() % n] : 0;
		const char *what = "";
		char err[512];
		switch (op) {
		case 0:
			if (n < 400) {
				int64_t made = create(step);
				if (made)
					ids[n++] = made;
			}
			what = "a creation";
			break;
		case 1:
			req_set_status(db, &cfg, A, id, 1, req_statuses[rand() % REQ_N_STATUSES]);
			what = "a status change";
			break;
		case 2:
			req_agent_reply(db, &cfg, A, id, 1, "Ответ агента.",
					rand() % 3 ? req_statuses[rand() % REQ_N_STATUSES] : NULL);
			what = "an agent's reply";
			break;
		case 3:
			req_assign(db, id, 1, rand() % 2);
			what = "an assignment";
			break;
		case 4: {
			struct req_outcome out;
			req_member_reply(db, &cfg, A, id, "Ответ участника: всё ещё не работает.", NULL, 0, NULL, &out);
			what = "a member's reply";
			break;
		}
		case 5: {
			const char *target = db_text(db, A, "SELECT number FROM requests WHERE id = CAST(? AS INTEGER)",
						     arena_printf(A, "%lld", (long long)ids[rand() % n]));
			req_merge(db, A, id, 1, target, err, sizeof err);
			what = "a merge";
			break;
		}
		case 6: {
			/* Time passes for the resolved ones, then the maintenance thread's auto-close. */
			db_exec(db,
				"UPDATE requests SET resolved_at = resolved_at - 30 * 86400 WHERE status = 'resolved'");
			req_auto_close(db, &cfg);
			what = "auto-closing";
			break;
		}
		case 7: {
			/* A refused change: an unknown status changes nothing. */
			cr_assert(!req_set_status(db, &cfg, A, id, 1, "bogus"));
			what = "a refused change";
			break;
		}
		default: {
			/* A change that fails half-way rolls back with its counts. */
			db_begin_write(db);
			struct db_stmt *st = db_prepare(db, "UPDATE requests SET status = 'closed' WHERE id = ?");
			db_bind_int(st, 1, id);
			req_update_counted(db, id, st);
			db_finalize(st);
			db_rollback(db);
			what = "a rolled back change";
			break;
		}
		}
		assert_counts_true(arena_printf(A, "step %d (%s)", step, what));
	}
	cr_assert_geq(n, 50, "requests made: %d", n);
	cr_assert_gt(
	    strtoll(db_text(db, A, "SELECT count(*) FROM requests WHERE merged_into IS NOT NULL", NULL), NULL, 10), 0,
	    "some merges happened");
	cr_assert_gt(strtoll(db_text(db, A, "SELECT count(*) FROM audit WHERE user_id IS NULL", NULL), NULL, 10), 0,
		     "some requests were auto-closed");
}

Test(desk_counts, repair_finds_and_rewrites_wrong_counts)
{
	for (int k = 0; k < 12; k++)
		cr_assert_gt(create(k), 0);
	int64_t kept[REQ_N_STATUSES], real[REQ_N_STATUSES];
	cr_assert_eq(req_counts_repair(db, false, kept, real), 0, "right counts need no repair");
	cr_assert_eq(db_exec(db, "UPDATE request_counts SET n = n + 5 WHERE status = 'new' AND slot = 3;"
				 "UPDATE request_counts SET n = 3 WHERE status = 'closed' AND slot = 0"),
		     DB_OK);
	cr_assert_eq(req_counts_repair(db, false, kept, real), 2, "a check alone tells");
	cr_assert_eq(kept[0], 17);
	cr_assert_eq(real[0], 12);
	cr_assert_eq(req_counts_repair(db, false, kept, real), 2, "and changes nothing");
	cr_assert_eq(req_counts_repair(db, true, kept, real), 2);
	cr_assert_eq(req_counts_repair(db, false, kept, real), 0, "rewritten");
	assert_counts_true("the repair");
}

/* A status change on another node (its own connection) while this one's is not committed yet. */
struct other_change {
	int64_t id;
	struct db *db;
	bool ok;
};

static void *change_to_waiting(void *arg)
{
	struct other_change *c = arg;
	c->ok = db_begin_write(c->db) == DB_OK;
	struct db_stmt *st = db_prepare(c->db, "UPDATE requests SET status = 'waiting' WHERE id = ?");
	c->ok = c->ok && st && db_bind_int(st, 1, c->id) == DB_OK && req_update_counted(c->db, c->id, st);
	db_finalize(st);
	c->ok = c->ok && db_commit(c->db) == DB_OK;
	if (!c->ok)
		db_rollback(c->db);
	return NULL;
}

/* Two nodes change one request's status at once: the second waits for the first and counts its
 * change from the status the first committed (req_update_counted locks the row before it reads
 * it), so the counts stay true. They drifted (new -1, closed +1 too many) while the status was
 * read before the row's lock was taken. */
Test(desk_counts, concurrent_status_changes_on_two_nodes_keep_the_counts_true)
{
	for (int round = 0; round < 3; round++) {
		int64_t id = create(round);
		cr_assert_gt(id, 0);
		struct other_change other = {.id = id};
		char err[256];
		cr_assert_eq(db_open(test_db(dir), &other.db, err, sizeof err), DB_OK, "%s", err);
		cr_assert_eq(db_begin_write(db), DB_OK);
		struct db_stmt *st = db_prepare(db, "UPDATE requests SET status = 'closed' WHERE id = ?");
		db_bind_int(st, 1, id);
		cr_assert(req_update_counted(db, id, st), "%s", db_errmsg(db));
		db_finalize(st);
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, change_to_waiting, &other), 0);
		usleep(300 * 1000); /* the other node reads and waits for the row meanwhile */
		cr_assert_eq(db_commit(db), DB_OK, "%s", db_errmsg(db));
		pthread_join(t, NULL);
		cr_assert(other.ok, "the other node's change: %s", db_errmsg(other.db));
		db_close(other.db);
		cr_assert_str_eq(db_text(db, A, "SELECT status FROM requests WHERE id = CAST(? AS INTEGER)",
					 arena_printf(A, "%lld", (long long)id)),
				 "waiting");
		assert_counts_true(arena_printf(A, "round %d", round));
	}
}

/* Changes from many threads land in different slots of request_counts; the counts are their sums. */
static void *create_some(void *arg)
{
	int who = *(int *)arg;
	struct db *d;
	char err[256];
	if (db_open(test_db(dir), &d, err, sizeof err) != DB_OK)
		return NULL;
	struct arena *a = arena_new();
	for (int k = 0; k < 3; k++) {
		char member[16];
		snprintf(member, sizeof member, "%d", 300000 + who * 10 + k);
		struct req_input in = {.member_id = member,
				       .name = "Ирина",
				       .email = "irina@example.org",
				       .country = "KZ",
				       .topic = req_default_topics[k].slug,
				       .subject = "Вопрос",
				       .description = "Здравствуйте, не приходит выплата за октябрь, помогите.",
				       .client_ip = "192.0.2.1"};
		struct req_outcome out;
		req_create(d, &cfg, a, &in, &out);
	}
	arena_free(a);
	db_close(d);
	return NULL;
}

Test(desk_counts, counts_kept_by_many_threads_are_summed_over_their_slots)
{
	pthread_t t[4];
	static int who[4] = {0, 1, 2, 3};
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, create_some, &who[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	int64_t kept[REQ_N_STATUSES];
	cr_assert(req_counts(db, kept));
	cr_assert_gt(kept[0], 0);
	cr_assert_geq(strtoll(db_text(db, A, "SELECT count(*) FROM request_counts WHERE n > 0", NULL), NULL, 10), 2,
		      "more than one slot counted");
	assert_counts_true("creations from four threads");
}
