/*
 * Unit tests of src/req: the field checks (phone, e-mail, file type, file names), tokens, and
 * request creation against a real SQLite database in a temporary directory: idempotency,
 * duplicates (same topic, nearly the same text), validation storing nothing, the per-member rate
 * limit (refused attempts do not count), the honeypot, a member's reply reopening a request, and
 * auto-closing.
 */
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
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
	    {"79123456789", "+79123456789"},        {"+7 701 234 56 78", "+77012345678"},
	    {"+49 30 1234567", "+49301234567"},     {"+375 (29) 123-45-67", "+375291234567"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = req_normalize_phone(A, cases[i][0]);
		cr_assert(got && !strcmp(got, cases[i][1]), "%s -> %s, expected %s", cases[i][0],
			  got ? got : "NULL", cases[i][1]);
	}
	static const char *const bad[] = {"12", "", "+7 912 abc", "++79123456789", "+0123456789",
					  "1234567890123456789", "8912345678", "+7 912 345 67 89 ext 5"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert_null(req_normalize_phone(A, bad[i]), "%s accepted", bad[i]);
}

Test(req_checks, email_addresses)
{
	static const char *const good[] = {"ivan@example.com", "i.petrov+help@mail.example.kz", "a@b.ru"};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_assert(req_email_valid(good[i]), "%s refused", good[i]);
	static const char *const bad[] = {"ivan@",          "@example.com",        "ivan@example",
					  "ivan@@example.com", "ivan@example.c",   "ivan petrov@example.com",
					  "ivan@example.com\r\nBcc: x@y.com", "<ivan@example.com>", "a@.ru"};
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
	static const char *const refused[] = {"<!DOCTYPE html><html>", "<?xml version=\"1.0\"?><svg",
					      "\x7f" "ELF\x02\x01\x01", "GIF89a", "MZ\x90\0", "%PDF",
					      "\x89PNG\r\n"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
		cr_assert_null(req_sniff_type((const unsigned char *)refused[i], strlen(refused[i])),
			       "%s accepted", refused[i]);
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
	cr_assert_eq(db_open(dir, &db, err, sizeof err), DB_OK, "%s", err);
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

Test(req_create, creates_a_request_with_its_message_mail_and_normalised_phone)
{
	struct req_input in = input("1234567", "payouts", DESC);
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_CREATED);
	cr_assert(out.number && !strncmp(out.number, "R-20", 4) && strlen(out.number) == 13, "%s",
		  out.number);
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
	/* Even a changed body under the same key gets the first answer, not a second request. */
	in.description = "Совсем другой текст обращения, который длиннее двадцати символов.";
	cr_assert_eq(req_create(db, &cfg, A, &in, &again), REQ_REPLAYED);
	cr_assert_eq(count("SELECT count(*) FROM requests"), 1);
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
	struct req_input again = input("1234567", "bank-details",
				       "Выплата за октябрь не пришла на карту, хотя в кабинете она проведена!");
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
	struct req_input in = {.member_id = "12ab", .name = "", .email = "ivan@", .phone = "12",
			       .country = "XX", .topic = "nope", .subject = "a",
			       .description = "коротко", .client_ip = "192.0.2.10"};
	struct req_outcome out;
	cr_assert_eq(req_create(db, &cfg, A, &in, &out), REQ_INVALID);
	static const char *const fields[] = {"member_id", "name",    "email",      "phone",
					     "country",   "topic",   "subject",    "description"};
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
	cr_assert_eq(req_member_reply(db, &cfg, A, id, "Нет, деньги так и не пришли, проверьте ещё раз.",
				      NULL, 0, "reply:1", &out),
		     REQ_CREATED);
	cr_assert_str_eq(text("SELECT status FROM requests", NULL), "open");
	cr_assert_eq(req_member_reply(db, &cfg, A, id, "", NULL, 0, NULL, &out), REQ_INVALID,
		     "an empty reply is refused");
	/* Resolved 8 days ago with auto_close_days = 7: closed; resolved 6 days ago: kept. */
	struct req_input second = input("7654321", "order", "Заказ 5512 пришёл без одной коробки шампуня.");
	cr_assert_eq(req_create(db, &cfg, A, &second, &out), REQ_CREATED);
	cr_assert_eq(db_exec(db, "UPDATE requests SET status = 'resolved', resolved_at = "
				 "CAST(strftime('%s', 'now') AS INTEGER) - 8 * 86400 WHERE member_id = '1234567'"),
		     DB_OK);
	cr_assert_eq(db_exec(db, "UPDATE requests SET status = 'resolved', resolved_at = "
				 "CAST(strftime('%s', 'now') AS INTEGER) - 6 * 86400 WHERE member_id = '7654321'"),
		     DB_OK);
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
	int removed = req_sweep_files(db, dir, time(NULL) - 3600, 100, cursor);
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
	cr_assert_eq(req_sweep_files(db, dir, time(NULL) - 3600, 1, cursor), 1);
	cr_assert_str_eq(cursor, strrchr(young, '/') + 1);
	cr_assert_eq(req_sweep_files(db, dir, time(NULL) - 3600, 1, cursor), 1);
	cr_assert_neq(stat(young, &st), 0);
	cr_assert_neq(stat(back, &st), 0);
	cr_assert_eq(stat(kept, &st), 0);
}

/* The race of issue #7: a creation reuses stored content that no row refers to any more (its
 * request failed, or was never committed) while the sweep looks at that very file. */
struct sweeper {
	const char *dir;
	atomic_bool stop;
	int removed;
};

static void *sweep_loop(void *arg)
{
	struct sweeper *s = arg;
	struct db *own;
	char err[256];
	if (db_open(s->dir, &own, err, sizeof err) != DB_OK)
		return NULL;
	char cursor[65] = "";
	do {
		int n = req_sweep_files(own, s->dir, time(NULL) - 3600, 100, cursor);
		if (n > 0)
			s->removed += n;
	} while (!atomic_load(&s->stop));
	db_close(own);
	return NULL;
}

Test(req_create, the_sweep_never_removes_a_file_a_committed_request_refers_to, .timeout = 60)
{
	struct req_config many = cfg;
	many.max_per_ip_hour = many.max_per_member_day = 1000000;
	int created = 0;
	struct sweeper total = {0};
	for (int i = 0; i < 300; i++) {
		/* The content is stored but unreferenced and old: what the sweep is there to remove. */
		cr_assert_eq(db_exec(db, "DELETE FROM attachments"), DB_OK);
		struct http_file f = upload(arena_printf(A, "p%d.jpg", i), JPEG_BYTES, sizeof JPEG_BYTES - 1);
		age(stored_path(&f), 7200);
		struct sweeper s = {.dir = dir};
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
		cr_assert_eq(stat(stored_path(&f), &st), 0, "iteration %d: a file a committed request refers to was removed", i);
		cr_assert_eq(st.st_size, (off_t)(sizeof JPEG_BYTES - 1));
	}
	cr_assert_eq(created, 300);
	/* The sweep did run into the file on some iterations (otherwise the test proves nothing). */
	cr_log_info("sweeps removed the unreferenced file %d times in 300 iterations", total.removed);
	cr_assert_gt(total.removed, 0, "the sweep never removed the unreferenced file: no race was tried");
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
