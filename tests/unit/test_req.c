/*
 * Unit tests of src/req: the field checks (phone, e-mail, file type, file names), tokens, and
 * request creation against a real SQLite database in a temporary directory: idempotency,
 * duplicates (same topic, nearly the same text), validation storing nothing, the per-member rate
 * limit (refused attempts do not count), the honeypot, a member's reply reopening a request, and
 * auto-closing; and issue #7's private-link rules: idempotency keys bound to route and input, the
 * duplicate answer by who asks, held additions, append only with the link, the derived link in
 * every letter, lost links.
 */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/files/files.h"
#include "../../src/http/http.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- pure checks ----------------------------------------------------------------------------- */

static struct arena *A;

static void arena_setup(void)
{
	A = arena_new();
}

static void arena_teardown(void)
{
	arena_free(A);
}

TestSuite(req_checks, .init = arena_setup, .fini = arena_teardown);

Test(req_checks, phone_numbers_become_e164)
{
	static const char *const cases[][2] = {
	    {"+7 (912) 345-67-89", "+79123456789"}, {"89123456789", "+79123456789"},
	    {"8 912 345 67 89", "+79123456789"},    {"9123456789", "+79123456789"},
	    {"79123456789", "+79123456789"},	    {"+7 701 234 56 78", "+77012345678"},
	    {"+49 30 1234567", "+49301234567"},	    {"+375 (29) 123-45-67", "+375291234567"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = req_normalize_phone(A, cases[i][0]);
		cr_assert(got && !strcmp(got, cases[i][1]), "%s -> %s, expected %s", cases[i][0], got ? got : "NULL",
			  cases[i][1]);
	}
	static const char *const bad[] = {"12",		 "",
					  "+7 912 abc",	 "++79123456789",
					  "+0123456789", "1234567890123456789",
					  "8912345678",	 "+7 912 345 67 89 ext 5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_null(req_normalize_phone(A, bad[i]), "%s accepted", bad[i]);
}

Test(req_checks, email_addresses)
{
	static const char *const good[] = {"ivan@example.com", "i.petrov+help@mail.example.kz", "a@b.ru"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(req_email_valid(good[i]), "%s refused", good[i]);
	static const char *const bad[] = {"ivan@",
					  "@example.com",
					  "ivan@example",
					  "ivan@@example.com",
					  "ivan@example.c",
					  "ivan petrov@example.com",
					  "ivan@example.com\r\nBcc: x@y.com",
					  "<ivan@example.com>",
					  "a@.ru"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!req_email_valid(bad[i]), "%s accepted", bad[i]);
}

Test(req_checks, file_type_comes_from_the_content)
{
	const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F'};
	const unsigned char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
	const unsigned char pdf[] = "%PDF-1.7\n";
	cr_assert_str_eq(req_sniff_type(jpeg, sizeof jpeg), "image/jpeg");
	cr_assert_str_eq(req_sniff_type(png, sizeof png - 1), "image/png");
	cr_assert_str_eq(req_sniff_type(pdf, sizeof pdf - 1), "application/pdf");
	static const char *const refused[] = {"<!DOCTYPE html><html>",
					      "<?xml version=\"1.0\"?><svg",
					      "\x7f"
					      "ELF\x02\x01\x01",
					      "GIF89a",
					      "MZ\x90\0",
					      "%PDF",
					      "\x89PNG\r\n"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		cr_assert_null(req_sniff_type((const unsigned char *)refused[i], strlen(refused[i])), "%s accepted",
			       refused[i]);
	cr_assert_null(req_sniff_type(jpeg, 2), "a 2-byte head is not a JPEG");
}

Test(req_checks, file_names_are_neutralised)
{
	cr_assert_str_eq(req_clean_filename(A, "../../etc/passwd"), "passwd");
	cr_assert_str_eq(req_clean_filename(A, "..\\..\\boot.ini"), "boot.ini");
	cr_assert_str_eq(req_clean_filename(A, ".."), "file");
	cr_assert_str_eq(req_clean_filename(A, ".hidden"), "hidden");
	cr_assert_str_eq(req_clean_filename(A, ""), "file");
	/* U+202E (right-to-left override) makes "scan\u202Egpj.exe" look like "scanexe.jpg". */
	cr_assert_str_eq(req_clean_filename(A, "scan\xE2\x80\xAEgpj.exe"), "scangpj.exe");
	cr_assert_str_eq(req_clean_filename(A, "a\x01\x1b[31mb\x7f.png"), "a[31mb.png");
	cr_assert_str_eq(req_clean_filename(A, "скан паспорта.pdf"), "скан паспорта.pdf");
	cr_assert_str_eq(req_clean_filename(A, "bad\xff\xfe.png"), "bad.png");
	char long_name[1200];
	memset(long_name, 0, sizeof long_name);
	for (int i = 0; i < 300; i++)
		strcat(long_name, "я");
	const char *c = req_clean_filename(A, long_name);
	cr_assert_eq(strlen(c), 400, "cut at 200 characters, not bytes: %zu bytes", strlen(c));
}

Test(req_checks, tokens_are_random_base64url_and_stored_as_sha256)
{
	const char *t1 = req_new_token(A), *t2 = req_new_token(A);
	cr_assert_eq(strlen(t1), 43);
	cr_assert_str_neq(t1, t2);
	for (const char *p = t1; *p; p++)
		cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p),
			  "character %c", *p);
	unsigned char h[32];
	crypto_hash_sha256(h, (const unsigned char *)t1, strlen(t1));
	char hex[65];
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	cr_assert_str_eq(req_token_hash(A, t1), hex);
}

/* ---- creation against a real database ------------------------------------------------------- */

static char *dir;
static struct db *db;
static struct req_config cfg;
static const char *const countries[] = {"RU", "KZ", "DE"};

static void db_setup(void)
{
	A = arena_new();
	dir = tmp_dir();
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &db, err, sizeof err), DB_OK, "%s", err);
	cfg = (struct req_config){.data_dir = dir,
				  .member_id_min = 5,
				  .member_id_max = 12,
				  .topics = req_default_topics,
				  .n_topics = req_default_topic_count,
				  .max_per_ip_hour = 20,
				  .max_per_member_day = 5,
				  .auto_close_days = 7,
				  .public_url = "https://help.example.org",
				  .countries = countries,
				  .n_countries = 3};
}

static void db_teardown(void)
{
	db_close(db);
	rm_tree(dir);
	arena_free(A);
}

TestSuite(req_create, .init = db_setup, .fini = db_teardown);

static struct req_input input(const char *member, const char *topic, const char *description)
{
	return (struct req_input){.member_id = member,
				  .name = "Ирина Смирнова",
				  .email = "irina@example.org",
				  .phone = "8 (912) 345-67-89",
				  .country = "KZ",
				  .topic = topic,
				  .subject = "Не приходит выплата",
				  .description = description,
				  .client_ip = "192.0.2.10"};
}

static int64_t count(const char *sql)
{
	struct db_stmt *st = db_prepare(db, sql);
	cr_assert(st, "%s: %s", sql, db_errmsg(db));
	cr_assert_eq(db_step(st), DB_ROW);
	int64_t n = db_col_int(st, 0);
	db_finalize(st);
	return n;
}

static const char *text(const char *sql, const char *arg)
{
	return db_text(db, A, sql, arg);
}

static const char *const DESC = "Выплата за октябрь не пришла на карту, хотя в кабинете она проведена.";

Test(req_create, the_link_key_is_made_once_per_database_and_an_imported_one_is_kept)
{
	unsigned char old[32], first[32], again[32], other[32];
	memset(old, 0x5a, sizeof old);
	memset(other, 0x11, sizeof other);
	/* The first node brings the key of an existing data directory: it becomes the database's. */
	cr_assert(req_shared_link_key(db, old, first), "%s", db_errmsg(db));
	cr_assert_eq(memcmp(first, old, 32), 0);
	/* Every later node reads it, whatever key of its own it has. */
	cr_assert(req_shared_link_key(db, other, again));
	cr_assert_eq(memcmp(again, old, 32), 0);
	cr_assert(req_shared_link_key(db, NULL, again));
	cr_assert_eq(memcmp(again, old, 32), 0);
	/* A database without one gets a random key, the same for everyone after. */
	cr_assert_eq(db_exec(db, "DELETE FROM secrets WHERE name = 'link'"), DB_OK);
	cr_assert(req_shared_link_key(db, NULL, first));
	cr_assert_neq(memcmp(first, old, 32), 0);
	cr_assert(req_shared_link_key(db, other, again));
	cr_assert_eq(memcmp(again, first, 32), 0);
}

Test(req_create, creates_a_request_with_its_message_mail_and_normalised_phone)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	cr_assert(out.number && !strncmp(out.number, "R-20", 4) && strlen(out.number) == 13, "%s", out.number);
	cr_assert_str_eq(out.status, "new");
	cr_assert_eq(strlen(out.token), 43);
	cr_assert_eq(count("SELECT count(*) FROM requests"), 1);
	cr_assert_str_eq(text("SELECT phone FROM requests WHERE number = ?", out.number), "+79123456789");
	cr_assert_str_eq(text("SELECT token_hash FROM requests WHERE number = ?", out.number),
			 req_token_hash(A, out.token));
	cr_assert_str_eq(text("SELECT body FROM messages", NULL), DESC);
	/* The confirmation letter is in the outbox, written in the same transaction, with the link. */
	const char *body = text("SELECT body FROM outbox", NULL);
	cr_assert(body && strstr(body, out.token) && strstr(body, "https://help.example.org/r/"), "%s", body);
	struct req_view v;
	cr_assert_eq(req_by_token(db, A, out.token, true, &v), 1);
	cr_assert_str_eq(v.number, out.number);
	cr_assert_eq(v.n_messages, 1);
	cr_assert_eq(req_by_token(db, A, req_new_token(A), true, &v), 0, "a wrong token opens nothing");
	cr_assert_eq(req_by_token(db, A, out.number, true, &v), 0, "a number is not a token");
}

Test(req_create, numbers_follow_each_other)
{
	struct req_outcome a, b;
	struct req_input x = input("1234567", "payouts", DESC), y = input("7654321", "order", DESC);
	cr_assert_eq(req_create(db, &cfg, A, &x, &a), REQ_CREATED);
	cr_assert_eq(req_create(db, &cfg, A, &y, &b), REQ_CREATED);
	long na = strtol(a.number + 7, NULL, 10), nb = strtol(b.number + 7, NULL, 10);
	cr_assert_eq(nb, na + 1, "%s then %s", a.number, b.number);
}

Test(req_create, the_same_idempotency_key_replays_the_first_answer)
{
	struct req_input in = input("1234567", "payouts", DESC);
	in.idempotency_key = "api:key-1";
	struct req_outcome first, again;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	cr_assert_eq(req_create(db, &cfg, A, &in, &again), REQ_REPLAYED);
	cr_assert_eq(again.stored_status, 201);
	cr_assert_str_eq(again.stored_json, first.stored_json);
	cr_assert(strstr(first.stored_json, first.number) && strstr(first.stored_json, first.token));
	/* A changed body under the same key is refused and learns nothing of the first answer. */
	in.description = "Совсем другой текст обращения, который длиннее двадцати символов.";
	struct req_outcome other;
	cr_assert_eq(req_create(db, &cfg, A, &in, &other), REQ_MISMATCH);
	cr_assert_null(other.stored_json);
	cr_assert_null(other.number);
	/* So is the same body on another route. */
	in.description = DESC;
	in.route = "POST /request";
	cr_assert_eq(req_create(db, &cfg, A, &in, &other), REQ_MISMATCH);
	cr_assert_null(other.stored_json);
	cr_assert_eq(count("SELECT count(*) FROM requests"), 1);
}

Test(req_checks, the_idempotency_digest_covers_fields_and_files_not_their_encoding)
{
	struct req_input x = {.member_id = "1234567", .name = "Ирина", .description = "текст"};
	struct req_input y = x;
	const char *d = req_input_digest(A, "r", &x);
	cr_assert_eq(strlen(d), 64);
	cr_assert_str_eq(req_input_digest(A, "r", &y), d, "the same fields give the same digest");
	cr_assert_str_neq(req_input_digest(A, "other", &y), d, "the route is part of it");
	y.email = "";
	cr_assert_str_neq(req_input_digest(A, "r", &y), d, "an empty field is not an absent one");
	y = x;
	y.name = "Ирина\nemail 0\n";
	cr_assert_str_neq(req_input_digest(A, "r", &y), d, "no field can forge another");
	y = x;
	struct http_file f = {.size = 10};
	memset(f.sha256, 7, sizeof f.sha256);
	y.files = &f;
	y.n_files = 1;
	const char *with_file = req_input_digest(A, "r", &y);
	cr_assert_str_neq(with_file, d, "a file is part of it");
	f.sha256[0] = 8;
	cr_assert_str_neq(req_input_digest(A, "r", &y), with_file, "by its hash");
	f.sha256[0] = 7;
	f.filename = "another-name.png";
	cr_assert_str_eq(req_input_digest(A, "r", &y), with_file, "not by its name");
}

Test(req_checks, contacts_match_normalised_and_are_masked)
{
	cr_assert(req_contact_matches(A, "anna@example.org", "", "  Anna@Example.ORG ", NULL));
	cr_assert(req_contact_matches(A, "", "+79123456722", "", "8 (912) 345-67-22"));
	cr_assert(req_contact_matches(A, "anna@example.org", "+79123456722", "x@example.org", "+7 912 345 67 22"));
	cr_assert(!req_contact_matches(A, "anna@example.org", "+79123456722", "anna@example.net", "+79123456723"));
	cr_assert(!req_contact_matches(A, "", "", "", ""), "empty fields never match");
	cr_assert(!req_contact_matches(A, "", "+79123456722", "", ""), "an empty phone never matches");
	cr_assert(!req_contact_matches(A, "anna@example.org", "", NULL, "not a phone"));
	cr_assert_str_eq(req_mask_email(A, "anna@example.org"), "a***@example.org");
	cr_assert_str_eq(req_mask_phone(A, "+79123456722"), "+7 *** ***-**-22");
	cr_assert_str_eq(req_mask_phone(A, "+49301234567"), "+** *** ***-**-67");
	cr_assert_str_eq(req_mask_email(A, ""), "");
}

Test(req_create, an_open_request_on_the_same_topic_is_a_duplicate)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, dup;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	in.description = "Другие слова, но тема та же самая: выплаты. Прошу проверить.";
	cr_assert_eq(req_create(db, &cfg, A, &in, &dup), REQ_DUPLICATE);
	cr_assert_str_eq(dup.existing_number, first.number);
	cr_assert_str_eq(dup.existing_status, "new");
	cr_assert(dup.existing_created > 0);
	/* Another member, or the same member on another topic with other words: not duplicates. */
	struct req_input other = input("7654321", "payouts", DESC);
	cr_assert_eq(req_create(db, &cfg, A, &other, &dup), REQ_CREATED);
	struct req_input topic = input("1234567", "order", "Заказ 5512 пришёл без одной коробки шампуня.");
	cr_assert_eq(req_create(db, &cfg, A, &topic, &dup), REQ_CREATED);
	cr_assert_eq(count("SELECT count(*) FROM requests"), 3);
}

Test(req_create, nearly_the_same_text_on_another_topic_is_a_duplicate)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, dup;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	struct req_input again =
	    input("1234567", "bank-details", "Выплата за октябрь не пришла на карту, хотя в кабинете она проведена!");
	cr_assert_eq(req_create(db, &cfg, A, &again, &dup), REQ_DUPLICATE);
	cr_assert_str_eq(dup.existing_number, first.number);
}

Test(req_create, a_resolved_request_is_no_longer_a_duplicate)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, next;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	cr_assert_eq(db_exec(db, "UPDATE requests SET status = 'resolved'"), DB_OK);
	cr_assert_eq(req_create(db, &cfg, A, &in, &next), REQ_CREATED);
}

Test(req_create, invalid_input_reports_each_field_and_stores_nothing)
{
	struct req_input in = {.member_id = "12ab",
			       .name = "",
			       .email = "ivan@",
			       .phone = "12",
			       .country = "XX",
			       .topic = "nope",
			       .subject = "a",
			       .description = "коротко",
			       .client_ip = "192.0.2.10"};
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_INVALID);
	static const char *const fields[] = {"member_id", "name",  "email",   "phone",
					     "country",	  "topic", "subject", "description"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		bool found = false;
		for (int k = 0; k < out.errors.n; k++)
			found |= !strcmp(out.errors.field[k], fields[i]) && strlen(out.errors.message[k]) > 0;
		cr_assert(found, "no error for %s", fields[i]);
	}
	cr_assert_eq(count("SELECT count(*) FROM requests"), 0);
	cr_assert_eq(count("SELECT count(*) FROM outbox"), 0);
	/* Neither e-mail nor phone: both fields say so. */
	struct req_input none = input("1234567", "payouts", DESC);
	none.email = "";
	none.phone = " ";
	cr_assert_eq(req_create(db, &cfg, A, &none, &out), REQ_INVALID);
	cr_assert_eq(out.errors.n, 2);
	/* Control characters and invalid UTF-8 are refused, not stored. */
	struct req_input ctl = input("1234567", "payouts", DESC);
	ctl.subject = "Тема\x1b[2J";
	ctl.name = "Ирина \xff";
	cr_assert_eq(req_create(db, &cfg, A, &ctl, &out), REQ_INVALID);
	cr_assert_eq(out.errors.n, 2);
}

Test(req_create, the_honeypot_stores_nothing)
{
	struct req_input in = input("1234567", "payouts", DESC);
	in.honeypot = "http://spam.example";
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_SPAM);
	cr_assert_eq(count("SELECT count(*) FROM requests"), 0);
}

Test(req_create, the_member_limit_counts_only_created_requests)
{
	cfg.max_per_member_day = 2;
	static const char *const topics[] = {"payouts", "order", "return"};
	static const char *const texts[] = {DESC, "Заказ 5512 пришёл без одной коробки шампуня.",
					    "Хочу вернуть крем: не подошёл, упаковка целая, чек есть."};
	struct req_outcome out;
	struct req_input bad = input("1234567", "payouts", "коротко");
	for (int i = 0; i < 3; i++) /* refused attempts do not count */
		cr_assert_eq(req_create(db, &cfg, A, &bad, &out), REQ_INVALID);
	for (int i = 0; i < 2; i++) {
		struct req_input in = input("1234567", topics[i], texts[i]);
		cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED, "creation %d", i + 1);
		cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_DUPLICATE, "duplicate %d", i + 1);
	}
	struct req_input third = input("1234567", topics[2], texts[2]);
	cr_assert_eq(req_create(db, &cfg, A, &third, &out), REQ_LIMITED);
	cr_assert(out.message && strstr(out.message, "Слишком много"), "%s", out.message);
	/* At the limit, a duplicate is still answered by who asks: a stranger learns no number, and
	 * the link goes to the request's own address. */
	struct req_input stranger = input("1234567", topics[0], texts[0]);
	stranger.email = "mallory@example.net";
	stranger.phone = NULL;
	int64_t letters = count("SELECT count(*) FROM outbox");
	cr_assert_eq(req_create(db, &cfg, A, &stranger, &out), REQ_DUPLICATE);
	cr_assert(!out.existing_owner && !out.existing_number && out.link_mail == REQ_LINK_SENT);
	cr_assert_eq(count("SELECT count(*) FROM outbox"), letters + 1);
	cr_assert_str_eq(text("SELECT to_addr FROM outbox ORDER BY id DESC LIMIT 1", NULL), "irina@example.org");
	struct req_input owner = input("1234567", topics[0], texts[0]);
	cr_assert_eq(req_create(db, &cfg, A, &owner, &out), REQ_DUPLICATE);
	cr_assert(out.existing_owner && out.existing_number);
	struct req_input other = input("7654321", topics[2], texts[2]);
	cr_assert_eq(req_create(db, &cfg, A, &other, &out), REQ_CREATED, "another member is not limited");
}

Test(req_create, the_address_limit)
{
	cfg.max_per_ip_hour = 3;
	struct req_outcome out;
	for (int i = 0; i < 4; i++) {
		char member[24];
		snprintf(member, sizeof member, "10000%d", i);
		struct req_input in = input(member, "payouts", DESC);
		cr_assert_eq(req_create(db, &cfg, A, &in, &out), i < 3 ? REQ_CREATED : REQ_LIMITED, "creation %d", i);
	}
	struct req_input elsewhere = input("200000", "payouts", DESC);
	elsewhere.client_ip = "198.51.100.7";
	cr_assert_eq(req_create(db, &cfg, A, &elsewhere, &out), REQ_CREATED);
}

/* The address's hits are kept in slots (one per writer thread, so that creations from one address
 * do not wait for each other's commit) and summed against the limit. */
Test(req_create, the_address_limit_sums_its_slots)
{
	int64_t now = (int64_t)time(NULL), window = now - now % 3600;
	db_exec_int(db, "INSERT INTO throttle(key, window_start, hits) VALUES ('create-ip:192.0.2.10#5', ?, 2)",
		    (long long)window);
	db_exec_int(db, "INSERT INTO throttle(key, window_start, hits) VALUES ('create-ip:192.0.2.10#9', ?, 1)",
		    (long long)window);
	/* A past window's hits and another address's do not count. */
	db_exec_int(db, "INSERT INTO throttle(key, window_start, hits) VALUES ('create-ip:192.0.2.10#7', ?, 50)",
		    (long long)window - 3600);
	db_exec_int(db, "INSERT INTO throttle(key, window_start, hits) VALUES ('create-ip:192.0.2.100#1', ?, 50)",
		    (long long)window);
	struct req_outcome out;
	struct req_input in = input("300001", "payouts", DESC);
	cfg.max_per_ip_hour = 3;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_LIMITED);
	cfg.max_per_ip_hour = 4;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	in = input("300002", "payouts", DESC);
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_LIMITED, "the creation's own hit counted");
}

/* An upload as the http module leaves it: a temporary file with its size, hash and head. */
static struct http_file upload(const char *name, const void *data, size_t n)
{
	char *path = arena_printf(A, "%s/upload-%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	struct http_file f = {.field = "attachments", .filename = name, .path = path, .size = n};
	crypto_hash_sha256(f.sha256, data, n);
	f.head_len = n < sizeof f.head ? n : sizeof f.head;
	memcpy(f.head, data, f.head_len);
	return f;
}

Test(req_create, attachments_are_stored_by_hash_and_a_refused_file_stores_nothing)
{
	static const char png[] = "\x89PNG\r\n\x1a\n-a-small-image-";
	static const char html[] = "<html><script>alert(1)</script></html>";
	struct http_file files[2] = {upload("scan.png", png, sizeof png - 1),
				     upload("photo.jpg", html, sizeof html - 1)};
	struct req_input in = input("1234567", "payouts", DESC);
	in.files = files;
	in.n_files = 2;
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_INVALID);
	cr_assert_eq(count("SELECT count(*) FROM requests"), 0);
	cr_assert_eq(count("SELECT count(*) FROM attachments"), 0);
	char hex[65];
	sodium_bin2hex(hex, sizeof hex, files[0].sha256, 32);
	struct stat st;
	cr_assert_neq(stat(arena_printf(A, "%s/files/%s", dir, hex), &st), 0, "a file of a refused request was kept");
	in.n_files = 1;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	cr_assert_null(files[0].path, "the upload was taken");
	cr_assert_eq(stat(arena_printf(A, "%s/files/%s", dir, hex), &st), 0);
	cr_assert_eq(st.st_size, (off_t)(sizeof png - 1));
	cr_assert_str_eq(text("SELECT sha256 FROM attachments", NULL), hex);
	cr_assert_str_eq(text("SELECT mime FROM attachments", NULL), "image/png");
	cr_assert_str_eq(text("SELECT filename FROM attachments", NULL), "scan.png");
}

Test(req_create, a_member_reply_reopens_and_auto_close_closes_resolved_requests)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	int64_t id = count("SELECT id FROM requests");
	cr_assert_eq(db_exec(db, "UPDATE requests SET status = 'resolved', resolved_at = 1"), DB_OK);
	cr_assert_eq(req_member_reply(db, &cfg, A, id, "Нет, деньги так и не пришли, проверьте ещё раз.", NULL, 0,
				      "reply:1", &out),
		     REQ_CREATED);
	cr_assert_str_eq(text("SELECT status FROM requests", NULL), "open");
	cr_assert_eq(req_member_reply(db, &cfg, A, id, "", NULL, 0, NULL, &out), REQ_INVALID,
		     "an empty reply is refused");
	/* Resolved 8 days ago with auto_close_days = 7: closed; resolved 6 days ago: kept. */
	struct req_input second = input("7654321", "order", "Заказ 5512 пришёл без одной коробки шампуня.");
	cr_assert_eq(req_create(db, &cfg, A, &second, &out), REQ_CREATED);
	db_exec_int(db, "UPDATE requests SET status = 'resolved', resolved_at = ? WHERE member_id = '1234567'",
		    (long long)time(NULL) - 8 * 86400);
	db_exec_int(db, "UPDATE requests SET status = 'resolved', resolved_at = ? WHERE member_id = '7654321'",
		    (long long)time(NULL) - 6 * 86400);
	int64_t letters = count("SELECT count(*) FROM outbox");
	cr_assert_eq(req_auto_close(db, &cfg), 1);
	cr_assert_eq(req_auto_close(db, &cfg), 0, "closed once");
	cr_assert_eq(count("SELECT count(*) FROM audit WHERE action = 'status' AND detail = 'closed' AND "
			   "user_id IS NULL"),
		     1, "an audit row without a user");
	cr_assert_eq(count("SELECT count(*) FROM outbox"), letters + 1, "a letter to the member");
	cr_assert_str_eq(text("SELECT status FROM requests WHERE member_id = ?", "1234567"), "closed");
	cr_assert_str_eq(text("SELECT status FROM requests WHERE member_id = ?", "7654321"), "resolved");
}

struct auto_close_run {
	struct db *db;
	const struct req_config *cfg;
	int closed;
};

static void *auto_close_thread(void *arg)
{
	struct auto_close_run *r = arg;
	r->closed = req_auto_close(r->db, r->cfg);
	return NULL;
}

Test(req_create, auto_close_on_two_nodes_closes_a_request_once)
{
	if (!test_on_pg())
		cr_skip_test("PostgreSQL only: SQLite's write lock lets one closer in at a time");
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	db_exec_int(db, "UPDATE requests SET status = 'resolved', resolved_at = ? WHERE member_id = '1234567'",
		    (long long)time(NULL) - 8 * 86400);
	int64_t letters = count("SELECT count(*) FROM outbox");
	/* Another node is closing the same request: it holds the row while this node selects it. */
	struct db *other;
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &other, err, sizeof err), DB_OK, "%s", err);
	cr_assert_eq(db_begin_write(other), DB_OK);
	cr_assert_eq(db_exec(other, "UPDATE requests SET status = 'closed', resolved_at = NULL"), DB_OK);
	struct auto_close_run run = {db, &cfg, -1};
	pthread_t t;
	pthread_create(&t, NULL, auto_close_thread, &run);
	usleep(300 * 1000); /* this node waits for the row */
	cr_assert_eq(db_commit(other), DB_OK);
	pthread_join(t, NULL);
	db_close(other);
	cr_assert_eq(run.closed, 0, "the request was closed by the other node");
	cr_assert_eq(count("SELECT count(*) FROM audit WHERE action = 'status' AND detail = 'closed'"), 0);
	cr_assert_eq(count("SELECT count(*) FROM outbox"), letters, "no second letter");
}

/* The private link of request id, as letters carry it. */
static const char *link_of(int64_t id)
{
	const char *l = req_link(db, A, &cfg, id);
	cr_assert(l, "req_link: %s", db_errmsg(db));
	return l;
}

Test(req_create, every_letter_carries_the_same_link_that_opens_the_request)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	int64_t id = count("SELECT id FROM requests");
	const char *link = link_of(id);
	cr_assert_str_eq(link, arena_printf(A, "https://help.example.org/r/%s", out.token),
			 "the letters' link is the creation link");
	cr_assert(req_agent_reply(db, &cfg, A, id, 0, "Проверили: выплата ушла вчера.", NULL));
	const char *body = text("SELECT body FROM outbox ORDER BY id DESC LIMIT 1", NULL);
	cr_assert(strstr(body, link) && strstr(body, "выплата ушла"), "the reply letter carries the link: %s", body);
	cr_assert(req_set_status(db, &cfg, A, id, 0, "resolved"));
	body = text("SELECT body FROM outbox ORDER BY id DESC LIMIT 1", NULL);
	cr_assert(strstr(body, link), "the status letter carries the link: %s", body);
	/* A request made before links were derived (no nonce): it gets one; the old link still opens. */
	cr_assert_eq(db_exec(db, "UPDATE requests SET link_nonce = NULL"), DB_OK);
	const char *derived = link_of(id);
	cr_assert_str_neq(derived, link);
	cr_assert_str_eq(link_of(id), derived, "stable once made");
	struct req_view v;
	cr_assert_eq(req_by_token(db, A, strrchr(derived, '/') + 1, true, &v), 1);
	cr_assert_eq(req_by_token(db, A, out.token, true, &v), 1, "the first link keeps working");
	/* Another key (DATA/link.key lost): new letters get a new link, the old ones keep working. */
	unsigned char other_key[32] = {1};
	struct req_config other = cfg;
	other.link_key = other_key;
	const char *after = req_link(db, A, &other, id);
	cr_assert(after && strcmp(after, derived));
	cr_assert_eq(req_by_token(db, A, strrchr(after, '/') + 1, true, &v), 1);
	cr_assert_eq(req_by_token(db, A, out.token, true, &v), 1);
}

Test(req_create, a_strangers_duplicate_learns_nothing_and_the_link_goes_to_the_requests_email)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, dup;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	int64_t letters = count("SELECT count(*) FROM outbox");
	struct req_input stranger = input("1234567", "payouts", "Прошу сменить реквизиты для выплат на мою карту.");
	stranger.email = "mallory@example.net";
	stranger.phone = "+7 999 000-00-01";
	cr_assert_eq(req_create(db, &cfg, A, &stranger, &dup), REQ_DUPLICATE);
	cr_assert(!dup.existing_owner);
	cr_assert_null(dup.existing_number);
	cr_assert_null(dup.existing_status);
	cr_assert_eq(dup.existing_created, 0);
	cr_assert_str_eq(dup.contact_masked, "i***@example.org");
	cr_assert_eq(dup.link_mail, REQ_LINK_SENT);
	cr_assert_eq(count("SELECT count(*) FROM outbox"), letters + 1);
	cr_assert_str_eq(text("SELECT to_addr FROM outbox ORDER BY id DESC LIMIT 1", NULL), "irina@example.org");
	const char *body = text("SELECT body FROM outbox ORDER BY id DESC LIMIT 1", NULL);
	cr_assert(strstr(body, first.token), "the letter carries the link: %s", body);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 1, "nothing written into the request");
	/* Three letters a day per request; then the answer says so and nothing more is queued. */
	cr_assert_eq(req_create(db, &cfg, A, &stranger, &dup), REQ_DUPLICATE);
	cr_assert_eq(req_create(db, &cfg, A, &stranger, &dup), REQ_DUPLICATE);
	cr_assert_eq(req_create(db, &cfg, A, &stranger, &dup), REQ_DUPLICATE);
	cr_assert_eq(dup.link_mail, REQ_LINK_RECENT);
	cr_assert_eq(count("SELECT count(*) FROM outbox"), letters + 3);
	/* The owner's phone in another format is the owner. */
	struct req_input owner = stranger;
	owner.phone = "8 (912) 345-67-89";
	cr_assert_eq(req_create(db, &cfg, A, &owner, &dup), REQ_DUPLICATE);
	cr_assert(dup.existing_owner);
	cr_assert_str_eq(dup.existing_number, first.number);
}

Test(req_create, a_held_addition_becomes_a_message_only_when_confirmed)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	int64_t id = count("SELECT id FROM requests");
	struct req_input add = input("1234567", "payouts", "Прошу перевести выплату на новую карту 2200 0000.");
	add.email = "mallory@example.net";
	add.idempotency_key = "form:hold-1";
	cr_assert_eq(req_hold(db, &cfg, A, &add, DESC, &out), REQ_CREATED);
	cr_assert_eq(out.link_mail, REQ_LINK_SENT);
	cr_assert_eq(count("SELECT count(*) FROM held_additions"), 1);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 1, "held, not added");
	cr_assert_eq(req_hold(db, &cfg, A, &add, DESC, &out), REQ_REPLAYED, "a double submit holds once");
	cr_assert_eq(count("SELECT count(*) FROM held_additions"), 1);
	struct req_held *h;
	cr_assert_eq(req_held_list(db, A, id, &h), 1);
	cr_assert_str_eq(h[0].body, add.description);
	cr_assert_eq(req_held_resolve(db, A, id + 1, h[0].id, true), REQ_INVALID, "only for its request");
	cr_assert_eq(req_held_resolve(db, A, id, h[0].id, true), REQ_CREATED);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 2);
	cr_assert_eq(count("SELECT count(*) FROM held_additions"), 0);
	cr_assert_eq(req_held_resolve(db, A, id, h[0].id, true), REQ_INVALID, "once");
	/* At most REQ_MAX_HELD wait; a discarded one leaves no message. */
	for (int i = 0; i < REQ_MAX_HELD + 3; i++) {
		add.idempotency_key = NULL;
		add.description = arena_printf(A, "Дополнение номер %d к обращению о выплате.", i);
		cr_assert_eq(req_hold(db, &cfg, A, &add, DESC, &out), REQ_CREATED);
	}
	cr_assert_eq(count("SELECT count(*) FROM held_additions"), REQ_MAX_HELD);
	cr_assert_eq(req_held_list(db, A, id, &h), REQ_MAX_HELD);
	cr_assert(strstr(h[REQ_MAX_HELD - 1].body, "номер 7"), "the newest is kept: %s", h[REQ_MAX_HELD - 1].body);
	cr_assert_eq(req_held_resolve(db, A, id, h[0].id, false), REQ_CREATED);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 2);
	/* Expired ones are not offered and are pruned, like idempotency keys older than 24 hours. */
	cr_assert_eq(db_exec(db, "UPDATE held_additions SET expires = 1"), DB_OK);
	cr_assert_eq(req_held_list(db, A, id, &h), 0);
	cr_assert_eq(db_exec(db, "UPDATE idempotency SET created = created - 24 * 3600 - 1"), DB_OK);
	cr_assert_eq(req_prune(db, 1000), REQ_MAX_HELD - 1 + 1);
	cr_assert_eq(count("SELECT count(*) FROM held_additions") + count("SELECT count(*) FROM idempotency"), 0);
	/* No open request on the matter any more: nothing held. */
	cr_assert_eq(db_exec(db, "UPDATE requests SET status = 'closed'"), DB_OK);
	cr_assert_eq(req_hold(db, &cfg, A, &add, DESC, &out), REQ_INVALID);
	cr_assert_str_eq(out.errors.field[0], "request");
}

Test(req_create, append_needs_the_private_link_not_a_number)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	const char *add = "Дополнение: новый банк, реквизиты прилагаю.";
	cr_assert_eq(req_append(db, &cfg, A, first.number, add, NULL, 0, NULL, &out), REQ_INVALID);
	cr_assert_str_eq(out.errors.field[0], "append_to");
	cr_assert_eq(req_append(db, &cfg, A, req_new_token(A), add, NULL, 0, NULL, &out), REQ_INVALID);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 1);
	const char *url = arena_printf(A, " https://help.example.org/r/%s ", first.token);
	cr_assert_eq(req_append(db, &cfg, A, url, add, NULL, 0, "form:a", &out), REQ_CREATED);
	cr_assert_str_eq(out.existing_number, first.number);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 2);
	cr_assert_eq(req_append(db, &cfg, A, first.token, add, NULL, 0, "form:a", &out), REQ_REPLAYED);
	cr_assert_eq(req_append(db, &cfg, A, first.token, "Другой текст под тем же ключом.", NULL, 0, "form:a", &out),
		     REQ_MISMATCH);
	cr_assert_eq(count("SELECT count(*) FROM messages"), 2);
}

Test(req_create, lost_links_go_to_the_stored_addresses_only)
{
	struct req_input a1 = input("1234567", "payouts", DESC);
	struct req_input a2 = input("1234567", "order", "Заказ 5512 пришёл без одной коробки шампуня.");
	a2.email = "other@example.org";
	struct req_outcome o1, o2;
	cr_assert_eq(req_create(db, &cfg, A, &a1, &o1), REQ_CREATED);
	cr_assert_eq(req_create(db, &cfg, A, &a2, &o2), REQ_CREATED);
	int64_t letters = count("SELECT count(*) FROM outbox");
	cr_assert_eq(req_send_links(db, &cfg, A, "1234567"), 2, "one letter per address");
	cr_assert_eq(count("SELECT count(*) FROM outbox"), letters + 2);
	const char *b1 =
	    text("SELECT body FROM outbox WHERE to_addr = 'irina@example.org' ORDER BY id DESC LIMIT 1", NULL);
	const char *b2 =
	    text("SELECT body FROM outbox WHERE to_addr = 'other@example.org' ORDER BY id DESC LIMIT 1", NULL);
	cr_assert(strstr(b1, o1.token) && !strstr(b1, o2.token), "%s", b1);
	cr_assert(strstr(b2, o2.token) && !strstr(b2, o1.token), "%s", b2);
	cr_assert_eq(req_send_links(db, &cfg, A, "7654321"), 0);
}

/* ---- issue #7: file names, download names, the file sweep ---------------------------------- */

Test(req_checks, file_names_with_line_breaks_and_invisible_characters_are_cleaned)
{
	cr_assert_str_eq(req_clean_filename(A, "a\r\nb.jpg"), "ab.jpg");
	cr_assert_str_eq(req_clean_filename(A, "\r\n"), "file");
	cr_assert_str_eq(req_clean_filename(A, "pay\xE2\x80\x8Bment\xEF\xBB\xBF.pdf"), "payment.pdf");
	cr_assert_str_eq(req_clean_filename(A, "\xE2\x81\xA6x\xE2\x81\xA9.png"), "x.png");
}

Test(req_checks, a_download_takes_the_extension_of_the_detected_type)
{
	cr_assert_str_eq(req_download_name(A, "photo.html", "image/jpeg"), "photo.jpg");
	cr_assert_str_eq(req_download_name(A, "scan", "application/pdf"), "scan.pdf");
	cr_assert_str_eq(req_download_name(A, "scan.PDF", "application/pdf"), "scan.PDF");
	cr_assert_str_eq(req_download_name(A, "photo.jpeg", "image/jpeg"), "photo.jpeg");
	cr_assert_str_eq(req_download_name(A, "a.png.exe", "image/png"), "a.png.png");
	cr_assert_str_eq(req_download_name(A, "отчёт 2024.12", "application/pdf"), "отчёт 2024.12.pdf");
	cr_assert_str_eq(req_download_name(A, ".jpg", "image/png"), ".jpg.png");
	cr_assert_str_eq(req_download_name(A, "", "image/png"), "file.png");
}

Test(req_checks, content_disposition_has_a_safe_fallback_and_the_utf8_name)
{
	cr_assert_str_eq(req_content_disposition(A, "photo.html", "image/jpeg"),
			 "attachment; filename=\"photo.jpg\"; filename*=UTF-8''photo.jpg");
	cr_assert_str_eq(req_content_disposition(A, "скан \"1\";x=%0d\\.pdf", "application/pdf"),
			 "attachment; filename=\"____ _1__x=_0d_.pdf\"; "
			 "filename*=UTF-8''%D1%81%D0%BA%D0%B0%D0%BD%20%221%22%3Bx%3D%250d%5C.pdf");
	/* Whatever the stored name holds, no CR, LF or quote ends up in the header. */
	const char *d = req_content_disposition(A, "a\r\nSet-Cookie: x=\"y\".png", "image/png");
	cr_assert_null(strpbrk(d, "\r\n"));
	cr_assert_str_eq(d, "attachment; filename=\"a__Set-Cookie: x=_y_.png\"; "
			    "filename*=UTF-8''a%0D%0ASet-Cookie%3A%20x%3D%22y%22.png");
}

static const char JPEG_BYTES[] = "\xFF\xD8\xFF\xE0-the-same-photo-every-time-\xFF\xD9";

static const char *stored_path(const struct http_file *f)
{
	char hex[65];
	sodium_bin2hex(hex, sizeof hex, f->sha256, 32);
	return arena_printf(A, "%s/files/%s", dir, hex);
}

static void age(const char *path, int64_t seconds)
{
	struct timespec t[2] = {{.tv_sec = time(NULL) - seconds}, {.tv_sec = time(NULL) - seconds}};
	utimensat(AT_FDCWD, path, t, 0);
}

Test(req_create, a_creation_that_fails_leaves_its_stored_file_for_the_sweep)
{
	struct http_file f1 = upload("first.jpg", JPEG_BYTES, sizeof JPEG_BYTES - 1);
	struct req_input in = input("1234567", "payouts", DESC);
	in.files = &f1;
	in.n_files = 1;
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	/* The same member and topic again: a duplicate, found inside the transaction after the
	 * file was stored. The file is the first request's too and must stay. */
	struct http_file f2 = upload("again.jpg", JPEG_BYTES, sizeof JPEG_BYTES - 1);
	in.files = &f2;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_DUPLICATE);
	struct stat st;
	cr_assert_eq(stat(stored_path(&f1), &st), 0, "a duplicate removed a referenced file");
}

Test(req_create, the_sweep_removes_only_old_unreferenced_files_and_old_uploads)
{
	struct http_file f = upload("kept.jpg", JPEG_BYTES, sizeof JPEG_BYTES - 1);
	struct req_input in = input("1234567", "payouts", DESC);
	in.files = &f;
	in.n_files = 1;
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	const char *kept = stored_path(&f);
	const char *files = arena_printf(A, "%s/files", dir), *tmp = arena_printf(A, "%s/tmp", dir);
	mkdir(tmp, 0700);
	const char *orphan = arena_printf(A, "%s/%064d", files, 1), *young = arena_printf(A, "%s/%064d", files, 2);
	const char *aside = arena_printf(A, "%s/%064d.sweep", files, 3), *back = arena_printf(A, "%s/%064d", files, 3);
	put_file(files, strrchr(orphan, '/') + 1, "old and unreferenced");
	put_file(files, strrchr(young, '/') + 1, "unreferenced but stored a minute ago");
	put_file(files, strrchr(aside, '/') + 1, "taken aside by a sweep that stopped");
	put_file(files, "not-a-hash", "left alone");
	put_file(tmp, "upload-old", "a lost upload");
	put_file(tmp, "upload-new", "an upload in progress");
	age(kept, 7200), age(orphan, 7200), age(young, 60), age(aside, 60);
	age(arena_printf(A, "%s/upload-old", tmp), 7200);
	char cursor[65] = "";
	int removed = req_sweep_files(db, &cfg, time(NULL) - 3600, 100, cursor);
	cr_assert_eq(removed, 2, "removed %d", removed);
	struct stat st;
	cr_assert_eq(stat(kept, &st), 0, "a referenced file was removed");
	cr_assert_neq(stat(orphan, &st), 0, "an old unreferenced file was kept");
	cr_assert_eq(stat(young, &st), 0, "a file within the grace period was removed");
	cr_assert_eq(stat(back, &st), 0, "a file taken aside was not put back");
	cr_assert_eq(stat(arena_printf(A, "%s/not-a-hash", files), &st), 0);
	cr_assert_neq(stat(arena_printf(A, "%s/upload-old", tmp), &st), 0, "an old upload was kept");
	cr_assert_eq(stat(arena_printf(A, "%s/upload-new", tmp), &st), 0, "an upload in progress was removed");
	cr_assert_str_eq(cursor, "", "the whole store was looked at");
	/* Bounded: one file a call, the cursor goes on from where it stopped. */
	age(young, 7200), age(back, 7200);
	cr_assert_eq(req_sweep_files(db, &cfg, time(NULL) - 3600, 1, cursor), 1);
	cr_assert_str_eq(cursor, strrchr(young, '/') + 1);
	cr_assert_eq(req_sweep_files(db, &cfg, time(NULL) - 3600, 1, cursor), 1);
	cr_assert_neq(stat(young, &st), 0);
	cr_assert_neq(stat(back, &st), 0);
	cr_assert_eq(stat(kept, &st), 0);
}

/* Issue #8: the sweep finds a held file by its hash (held_files, an index) instead of a LIKE over
 * every held addition; the rows go with the addition (ON DELETE CASCADE). */
Test(req_create, the_sweep_keeps_a_file_only_a_held_addition_refers_to)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome first, out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	struct http_file f = upload("scan.jpg", JPEG_BYTES, sizeof JPEG_BYTES - 1);
	struct req_input add = input("1234567", "payouts", "Вот скриншот из личного кабинета с ошибкой.");
	add.files = &f;
	add.n_files = 1;
	cr_assert_eq(req_hold(db, &cfg, A, &add, DESC, &out), REQ_CREATED);
	const char *held = stored_path(&f);
	cr_assert_eq(count("SELECT count(*) FROM held_files"), 1);
	cr_assert_eq(count("SELECT count(*) FROM attachments WHERE sha256 = (SELECT sha256 FROM held_files)"), 0);
	age(held, 7200);
	char cursor[65] = "";
	cr_assert_eq(req_sweep_files(db, &cfg, time(NULL) - 3600, 100, cursor), 0);
	struct stat st;
	cr_assert_eq(stat(held, &st), 0, "a held file was removed");
	/* The addition expires and is pruned: its file goes at the next sweep. */
	cr_assert_eq(db_exec(db, "UPDATE held_additions SET expires = 1"), DB_OK);
	cr_assert_geq(req_prune(db, 100), 1);
	cr_assert_eq(count("SELECT count(*) FROM held_files"), 0, "the held files went with the addition");
	cr_assert_eq(req_sweep_files(db, &cfg, time(NULL) - 3600, 100, cursor), 1);
	cr_assert_neq(stat(held, &st), 0, "an unreferenced old file was kept");
}

/* The race of issue #7: a creation reuses stored content that no row refers to any more (its
 * request failed, or was never committed) while the sweep looks at that very file. */
struct sweeper {
	struct db *db; /* a connection of its own, opened once: the loop starts sweeping at once */
	const struct req_config *cfg;
	atomic_bool stop;
	int removed;
};

static void *sweep_loop(void *arg)
{
	struct sweeper *s = arg;
	char cursor[65] = "";
	do {
		int n = req_sweep_files(s->db, s->cfg, time(NULL) - 3600, 100, cursor);
		if (n > 0)
			s->removed += n;
	} while (!atomic_load(&s->stop));
	return NULL;
}

static struct db *own_connection(void)
{
	struct db *own;
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &own, err, sizeof err), DB_OK, "%s", err);
	return own;
}

Test(req_create, the_sweep_never_removes_a_file_a_committed_request_refers_to, .timeout = 60)
{
	struct req_config many = cfg;
	many.max_per_ip_hour = many.max_per_member_day = 1000000;
	int created = 0;
	struct sweeper total = {0};
	struct db *own = own_connection();
	for (int i = 0; i < 300; i++) {
		/* The content is stored but unreferenced and old: what the sweep is there to remove. */
		cr_assert_eq(db_exec(db, "DELETE FROM attachments"), DB_OK);
		struct http_file f = upload(arena_printf(A, "p%d.jpg", i), JPEG_BYTES, sizeof JPEG_BYTES - 1);
		age(stored_path(&f), 7200);
		struct sweeper s = {.db = own, .cfg = &cfg};
		atomic_init(&s.stop, false);
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, sweep_loop, &s), 0);
		if (i % 2)
			usleep(i % 7 * 50); /* land at different points of the sweep */
		struct req_input in = input(arena_printf(A, "%d", 5000000 + i), "payouts", DESC);
		in.files = &f;
		in.n_files = 1;
		struct req_outcome out;
		enum req_result r = req_create(db, &many, A, &in, &out);
		atomic_store(&s.stop, true);
		pthread_join(t, NULL);
		total.removed += s.removed;
		cr_assert_eq(r, REQ_CREATED);
		created++;
		struct stat st;
		cr_assert_eq(stat(stored_path(&f), &st), 0,
			     "iteration %d: a file a committed request refers to was removed", i);
		cr_assert_eq(st.st_size, (off_t)(sizeof JPEG_BYTES - 1));
	}
	db_close(own);
	cr_assert_eq(created, 300);
	/* The sweep did run into the file on some iterations (otherwise the test proves nothing). */
	cr_log_info("sweeps removed the unreferenced file %d times in 300 iterations", total.removed);
	cr_assert_gt(total.removed, 0, "the sweep never removed the unreferenced file: no race was tried");
}

/* ---- issue #9: the files in the database (what the server does on PostgreSQL) ---------------- */

static const char *hex_of_file(const struct http_file *f)
{
	char *hex = arena_alloc(A, 65);
	sodium_bin2hex(hex, 65, f->sha256, 32);
	return hex;
}

/* Everything fd holds, in a (the descriptor is closed). */
static const char *read_all(int fd, size_t *n)
{
	cr_assert_gt(fd, 2);
	char *buf = arena_alloc(A, 1 << 16);
	*n = 0;
	ssize_t r;
	while ((r = read(fd, buf + *n, (1 << 16) - *n)) > 0)
		*n += (size_t)r;
	close(fd);
	return buf;
}

/* cfg with the files in the database, and a request of member 1234567 created with it, with the
 * photo JPEG_BYTES named name (the upload, taken, in *f). */
static struct req_config created_in_db(const char *name, struct http_file *f)
{
	struct req_config shared = cfg;
	shared.files_in_db = true;
	*f = upload(name, JPEG_BYTES, sizeof JPEG_BYTES - 1);
	struct req_input in = input("1234567", "payouts", DESC);
	in.files = f;
	in.n_files = 1;
	struct req_outcome out;
	cr_assert_eq(req_create(db, &shared, A, &in, &out), REQ_CREATED);
	return shared;
}

Test(req_create, with_files_in_the_database_attachments_are_read_from_any_connection)
{
	struct http_file f;
	struct req_config shared = created_in_db("scan.jpg", &f);
	struct req_outcome out;
	cr_assert_null(f.path, "the upload was taken");
	const char *hex = hex_of_file(&f);
	struct stat st;
	cr_assert_neq(stat(arena_printf(A, "%s/files", dir), &st), 0, "nothing went to DATA/files");
	cr_assert_eq(count("SELECT count(*) FROM file_store"), 1);
	cr_assert_str_eq(text("SELECT sha256 FROM attachments", NULL), hex);
	/* Another connection (another node) reads the same bytes. */
	struct db *other;
	char err[256];
	cr_assert_eq(db_open(test_db(dir), &other, err, sizeof err), DB_OK, "%s", err);
	size_t n;
	const char *got = read_all(req_file_open(other, &shared, hex), &n);
	db_close(other);
	cr_assert_eq(n, sizeof JPEG_BYTES - 1);
	cr_assert(!memcmp(got, JPEG_BYTES, n));
	/* A member's reply with the same photo stores nothing more. */
	struct http_file again = upload("again.jpg", JPEG_BYTES, sizeof JPEG_BYTES - 1);
	int64_t id = count("SELECT id FROM requests");
	cr_assert_eq(req_member_reply(db, &shared, A, id, "Ещё раз тот же снимок.", &again, 1, NULL, &out),
		     REQ_CREATED);
	cr_assert_eq(count("SELECT count(*) FROM attachments"), 2);
	cr_assert_eq(count("SELECT count(*) FROM file_store"), 1, "the same content is stored once");
	cr_assert_eq(count("SELECT count(*) FROM file_chunks"), 1);
}

Test(req_create, with_files_in_the_database_the_sweep_keeps_attached_and_held_files)
{
	struct http_file f;
	struct req_config shared = created_in_db("kept.jpg", &f);
	struct req_outcome out;
	static const char png[] = "\x89PNG\r\n\x1a\n-held-for-confirmation-";
	struct http_file h = upload("held.png", png, sizeof png - 1);
	struct req_input add = input("1234567", "payouts", "Вот скриншот из личного кабинета с ошибкой.");
	add.files = &h;
	add.n_files = 1;
	cr_assert_eq(req_hold(db, &shared, A, &add, DESC, &out), REQ_CREATED);
	static const char pdf[] = "%PDF-1.4 stored for a request that failed";
	struct http_file orphan = upload("orphan.pdf", pdf, sizeof pdf - 1);
	struct files_store fs = {.data_dir = dir, .in_db = true};
	cr_assert(files_put(&fs, db, orphan.sha256, orphan.path, orphan.size, true));
	cr_assert_eq(count("SELECT count(*) FROM file_store"), 3);
	db_exec_int(db, "UPDATE file_store SET stored = ?", (long long)time(NULL) - 7200);
	char cursor[65] = "";
	cr_assert_eq(req_sweep_files(db, &shared, time(NULL) - 3600, 100, cursor), 1);
	cr_assert_eq(count("SELECT count(*) FROM file_store"), 2);
	cr_assert_str_eq(text("SELECT count(*) FROM file_store WHERE sha256 = ?", hex_of_file(&orphan)), "0");
	cr_assert_str_eq(text("SELECT count(*) FROM file_store WHERE sha256 = ?", hex_of_file(&f)), "1");
	cr_assert_str_eq(text("SELECT count(*) FROM file_store WHERE sha256 = ?", hex_of_file(&h)), "1");
	/* The addition expires and is pruned: its file goes at the next sweep. */
	cr_assert_eq(db_exec(db, "UPDATE held_additions SET expires = 1"), DB_OK);
	cr_assert_geq(req_prune(db, 100), 1);
	cr_assert_eq(req_sweep_files(db, &shared, time(NULL) - 3600, 100, cursor), 1);
	cr_assert_eq(count("SELECT count(*) FROM file_chunks"), 1, "only the attached file's chunk is left");
}

/* The race of issue #7 with the files in the database: creations reusing old unreferenced
 * content while a sweep on another connection removes it. */
Test(req_create, with_files_in_the_database_the_sweep_never_removes_a_committed_requests_file, .timeout = 120)
{
	struct req_config shared = cfg;
	shared.files_in_db = true;
	shared.max_per_ip_hour = shared.max_per_member_day = 1000000;
	struct files_store fs = {.data_dir = dir, .in_db = true};
	struct db *own = own_connection();
	int removed = 0;
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(db_exec(db, "DELETE FROM attachments"), DB_OK);
		struct http_file pre = upload(arena_printf(A, "pre%d.jpg", i), JPEG_BYTES, sizeof JPEG_BYTES - 1);
		cr_assert(files_put(&fs, db, pre.sha256, pre.path, pre.size, true));
		db_exec_int(db, "UPDATE file_store SET stored = ?", 1);
		struct sweeper s = {.db = own, .cfg = &shared};
		atomic_init(&s.stop, false);
		pthread_t t;
		cr_assert_eq(pthread_create(&t, NULL, sweep_loop, &s), 0);
		usleep((useconds_t)(i % 7) * 200);
		struct http_file f = upload(arena_printf(A, "p%d.jpg", i), JPEG_BYTES, sizeof JPEG_BYTES - 1);
		struct req_input in = input(arena_printf(A, "%d", 5000000 + i), "payouts", DESC);
		in.files = &f;
		in.n_files = 1;
		struct req_outcome out;
		enum req_result r = req_create(db, &shared, A, &in, &out);
		atomic_store(&s.stop, true);
		pthread_join(t, NULL);
		removed += s.removed;
		cr_assert_eq(r, REQ_CREATED, "iteration %d", i);
		size_t n;
		const char *got = read_all(req_file_open(db, &shared, hex_of_file(&f)), &n);
		cr_assert_eq(n, sizeof JPEG_BYTES - 1, "iteration %d: a file a committed request refers to is gone", i);
		cr_assert(!memcmp(got, JPEG_BYTES, n));
	}
	db_close(own);
	cr_log_info("sweeps removed the unreferenced content %d times in 100 iterations", removed);
	cr_assert_gt(removed, 0, "the sweep never removed the unreferenced content: no race was tried");
}

Test(req_create, form_tokens_are_signed_bound_to_their_purpose_and_expire)
{
	int64_t now = time(NULL);
	const char *t = req_form_token(db, A, "solved", now);
	cr_assert_not_null(t);
	cr_assert(req_form_token_ok(db, A, "solved", t, 86400));
	cr_assert_str_eq(req_form_token(db, A, "solved", now), t, "the same key on the next call");
	cr_assert(!req_form_token_ok(db, A, "other", t, 86400), "another purpose");
	cr_assert(!req_form_token_ok(db, A, "solved", req_form_token(db, A, "solved", now - 86401), 86400), "expired");
	cr_assert(!req_form_token_ok(db, A, "solved", req_form_token(db, A, "solved", now + 3600), 86400), "future");
	char *bad = arena_strdup(A, t);
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
	cr_assert(!req_form_token_ok(db, A, "solved", bad, 86400), "tampered");
	cr_assert(!req_form_token_ok(db, A, "solved", NULL, 86400));
	cr_assert(!req_form_token_ok(db, A, "solved", "", 86400));
	cr_assert(!req_form_token_ok(db, A, "solved", arena_printf(A, "%lld.", (long long)now), 86400));
}

Test(req_create, the_sweep_keeps_a_file_that_only_a_held_addition_refers_to)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	struct http_file f = upload("held.jpg", JPEG_BYTES, sizeof JPEG_BYTES - 1);
	struct req_input add = input("1234567", "payouts", "Вот скан квитанции об оплате заказа, посмотрите.");
	add.files = &f;
	add.n_files = 1;
	cr_assert_eq(req_hold(db, &cfg, A, &add, DESC, &out), REQ_CREATED);
	cr_assert_eq(count("SELECT count(*) FROM attachments"), 0, "held, not attached");
	const char *path = stored_path(&f);
	age(path, 7200);
	char cursor[65] = "";
	req_sweep_files(db, &cfg, time(NULL) - 3600, 100, cursor);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0, "the sweep removed a file a held addition still needs");
}

/* The desk's view by number, a member's view of a long thread (the latest REQ_MEMBER_MESSAGES
 * shown, all counted), and the link of a request merged into another (the target by id). */
Test(req_create, views_by_number_long_threads_and_merged_links)
{
	struct req_outcome first, second;
	struct req_input in = input("1234567", "payouts", "Выплата не пришла третий день подряд.");
	cr_assert_eq(req_create(db, &cfg, A, &in, &first), REQ_CREATED);
	struct req_input other = input("7654321", "order", "Заказ 5512 пришёл без одной коробки шампуня.");
	cr_assert_eq(req_create(db, &cfg, A, &other, &second), REQ_CREATED);
	struct req_view v;
	cr_assert_eq(req_by_number(db, A, first.number, &v), 1);
	cr_assert_str_eq(v.number, first.number);
	cr_assert_eq(req_by_number(db, A, "R-0000-000000", &v), 0);
	int64_t id = count("SELECT max(id) FROM requests");
	for (int i = 0; i < REQ_MEMBER_MESSAGES + 5; i++)
		db_exec_int(
		    db, "INSERT INTO messages(request_id, author, body, created) VALUES (?, 'member', 'ещё', 1)", id);
	cr_assert_eq(req_by_token(db, A, second.token, true, &v), 1);
	cr_assert_eq(v.n_messages, REQ_MEMBER_MESSAGES);
	cr_assert_eq(v.n_messages_total, REQ_MEMBER_MESSAGES + 6);
	db_exec_int(db, "UPDATE requests SET merged_into = ? WHERE id = (SELECT min(id) FROM requests)", id);
	cr_assert_eq(req_by_token(db, A, first.token, true, &v), 1);
	cr_assert_str_eq(v.merged_into_number, second.number);
}

/* "Это решило мой вопрос" is counted; expired throttle rows are pruned in bounded batches. */
Test(req_create, deflections_and_the_throttle_prune)
{
	cr_assert(req_deflect(db, "payout-setup", "payouts"));
	cr_assert(req_deflect(db, "payout-setup", NULL));
	cr_assert_eq(count("SELECT count(*) FROM deflections WHERE slug = 'payout-setup'"), 2);
	cr_assert_eq(db_exec(db, "INSERT INTO throttle(key, window_start, hits) VALUES ('a', 1, 1), ('b', 2, 1), "
				 "('c', 3, 1)"),
		     DB_OK);
	db_exec_int(db, "INSERT INTO throttle(key, window_start, hits) VALUES ('now', ?, 1)", (long long)time(NULL));
	cr_assert_eq(req_prune_throttle(db, 2), 2);
	cr_assert_eq(req_prune_throttle(db, 2), 1);
	cr_assert_eq(req_prune_throttle(db, 2), 0);
	cr_assert_eq(count("SELECT count(*) FROM throttle"), 1);
}

/* ---- several writers (two nodes on one PostgreSQL) ------------------------------------------ */

/* One of several writers, each on its own connection, as two nodes' group writers are. */
struct racer {
	const char *target;
	struct req_config cfg;
	const char *member, *key;
	pthread_barrier_t *start;
	enum req_result result;
	char number[32]; /* of a created request */
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct db *d;
	char err[256];
	r->result = REQ_FAILED;
	if (db_open(r->target, &d, err, sizeof err) != DB_OK)
		return NULL;
	struct arena *a = arena_new();
	struct req_input in = input(r->member, "payouts", DESC);
	in.idempotency_key = r->key;
	struct req_outcome out;
	pthread_barrier_wait(r->start);
	r->result = req_create(d, &r->cfg, a, &in, &out);
	if (r->result == REQ_CREATED)
		snprintf(r->number, sizeof r->number, "%s", out.number);
	arena_free(a);
	db_close(d);
	return NULL;
}

/* Runs n writers at once; counts their results. */
static void run_race(const char *member, const char *key, int n, int *created, int *other_ok)
{
	struct racer r[8];
	pthread_t t[8];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		r[i] =
		    (struct racer){.target = test_db(dir), .cfg = cfg, .member = member, .key = key, .start = &start};
		r[i].cfg.max_per_member_day = 100;
		r[i].cfg.max_per_ip_hour = 100;
		cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	*created = *other_ok = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		*created += r[i].result == REQ_CREATED;
		*other_ok += r[i].result == (key ? REQ_REPLAYED : REQ_DUPLICATE);
	}
	pthread_barrier_destroy(&start);
}

/* The duplicate check is check-then-insert: with several writers it holds only because each
 * creation waits for the member's lock (PostgreSQL: an advisory lock; SQLite: one writer). */
Test(req_create, writers_at_once_for_one_member_and_topic_make_one_request)
{
	int created, dup;
	run_race("5550001", NULL, 8, &created, &dup);
	cr_assert_eq(created, 1, "%d requests", created);
	cr_assert_eq(dup, 7, "%d duplicates", dup);
	cr_assert_str_eq(text("SELECT count(*) FROM requests WHERE member_id = ?", "5550001"), "1");
}

/* The same Idempotency-Key from several writers at once: one request, the others replay it. */
Test(req_create, writers_at_once_with_one_key_make_one_request)
{
	int created, replayed;
	run_race("5550002", "race-key-0001-0001", 8, &created, &replayed);
	cr_assert_eq(created, 1, "%d requests", created);
	cr_assert_eq(replayed, 7, "%d replays", replayed);
	cr_assert_str_eq(text("SELECT count(*) FROM requests WHERE member_id = ?", "5550002"), "1");
}

/* Eight creations at once for different members; their numbers in numbers. */
static void race_members(char numbers[8][32])
{
	static const char *const members[] = {"5550011", "5550012", "5550013", "5550014",
					      "5550015", "5550016", "5550017", "5550018"};
	struct racer r[8];
	pthread_t t[8];
	pthread_barrier_t start;
	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){.target = test_db(dir), .cfg = cfg, .member = members[i], .start = &start};
		cr_assert_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(r[i].result, REQ_CREATED, "writer %d: %d", i, r[i].result);
		for (int k = 0; k < i; k++)
			cr_assert_str_neq(r[i].number, r[k].number);
		memcpy(numbers[i], r[i].number, 32);
	}
	cr_assert_eq(count("SELECT count(DISTINCT number) FROM requests"), 8);
}

/* Request numbers never repeat with writers at once: SQLite's counter row is incremented by one
 * writer at a time; PostgreSQL's come from a sequence (req.c, next_number). */
Test(req_create, writers_at_once_for_different_members_get_different_numbers)
{
	char numbers[8][32];
	race_members(numbers);
}

/* A year's first creations at once (its counter row not there yet): one of them makes the row
 * and gets number 1, the others wait for it and take the numbers after. */
Test(req_create, a_years_first_creations_at_once_start_at_one)
{
	cr_assert_eq(db_exec(db, "DELETE FROM counters"), DB_OK);
	char numbers[8][32];
	race_members(numbers);
	int ones = 0;
	for (int i = 0; i < 8; i++) {
		long n = strtol(numbers[i] + 7, NULL, 10);
		cr_assert(n >= 1 && n <= 64, "%s", numbers[i]);
		ones += n == 1;
	}
	cr_assert_eq(ones, 1);
	struct req_outcome out;
	struct req_input next = input("5550019", "payouts", DESC);
	cr_assert_eq(req_create(db, &cfg, A, &next, &out), REQ_CREATED);
	cr_assert_gt(strtol(out.number + 7, NULL, 10), 1);
}
