/* Support requests. See req.h. */
#include "req.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../core/workers.h"
#include "../db/db.h"
#include "../http/http.h"
#include "../mail/mail.h"
#include "../search/search.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const struct req_topic req_default_topics[] = {
    {"registration", "Регистрация", "registration", false},
    {"personal-data", "Личные данные и контакты", "account", false},
    {"bank-details", "Банковские реквизиты", "account", false},
    {"verification", "Верификация и юридический статус", "verification", false},
    {"order", "Заказ и доставка", "orders", true},
    {"return", "Возврат товара", "orders", true},
    {"defective", "Брак или недовложение", "orders", true},
    {"payouts", "Выплаты", "payouts", false},
    {"structure", "Смена центра или спонсора", "structure", false},
    {"other", "Другое", "faq", false},
};
const int req_default_topic_count = sizeof req_default_topics / sizeof req_default_topics[0];

const struct req_topic *req_topic(const struct req_config *cfg, const char *slug)
{
	for (int i = 0; slug && i < cfg->n_topics; i++)
		if (!strcmp(cfg->topics[i].slug, slug))
			return &cfg->topics[i];
	return NULL;
}

const char *req_normalize_phone(struct arena *a, const char *phone)
{
	char d[32];
	size_t n = 0;
	bool plus = false;
	for (const char *p = phone; *p; p++) {
		if (*p >= '0' && *p <= '9') {
			if (n >= sizeof d - 1)
				return NULL;
			d[n++] = *p;
		} else if (*p == '+' && n == 0 && !plus) {
			plus = true;
		} else if (!strchr(" -()\t.", *p)) {
			return NULL;
		}
	}
	d[n] = '\0';
	if (!plus && n == 11 && d[0] == '8')
		return arena_printf(a, "+7%s", d + 1); /* 8 912 ... → +7 912 ... */
	if (!plus && n == 10 && d[0] == '9')
		return arena_printf(a, "+7%s", d); /* a Russian mobile number without the code */
	if (!plus && n == 11 && d[0] == '7')
		return arena_printf(a, "+%s", d);
	if (plus && n >= 8 && n <= 15 && d[0] != '0')
		return arena_printf(a, "+%s", d);
	return NULL;
}

bool req_email_valid(const char *e)
{
	size_t n = strlen(e);
	const char *at = strchr(e, '@');
	if (n < 3 || n > 254 || !at || at == e || strchr(at + 1, '@'))
		return false;
	const char *dot = strrchr(at, '.');
	if (!dot || dot == at + 1 || !dot[1] || strlen(dot + 1) < 2)
		return false;
	for (const char *p = e; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("<>()[]\\,;:\"", *p))
			return false;
	return mail_address_valid(e); /* what the mailer accepts, so a notification never fails */
}

const char *req_sniff_type(const unsigned char *h, size_t n)
{
	if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF)
		return "image/jpeg";
	if (n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (n >= 5 && !memcmp(h, "%PDF-", 5))
		return "application/pdf";
	return NULL;
}

const char *req_clean_filename(struct arena *a, const char *name)
{
	const char *base = name;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	struct buf b;
	buf_init(&b, 1024);
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)base; *p && chars < 200;) {
		size_t n = *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
		if (!utf8_valid((const char *)p, n)) {
			p++;
			continue;
		}
		bool drop = *p < 0x20 || *p == 0x7F;
		/* U+200E/F, U+202A..E, U+2066..9: direction marks and overrides that disguise names */
		if (n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xAA && p[2] <= 0xAE)))
			drop = true;
		if (n == 3 && p[0] == 0xE2 && p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9)
			drop = true;
		if (!drop) {
			buf_add(&b, p, n);
			chars++;
		}
		p += n;
	}
	const char *r = arena_strdup(a, buf_str(&b));
	buf_free(&b);
	while (*r == '.' || *r == ' ')
		r++; /* no hidden or dot-dot names */
	return *r ? r : "file";
}

const char *req_new_token(struct arena *a)
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof raw);
	char *out = arena_alloc(a, sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING));
	sodium_bin2base64(out, sodium_base64_ENCODED_LEN(sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			  raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

const char *req_token_hash(struct arena *a, const char *token)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	char *hex = arena_alloc(a, sizeof h * 2 + 1);
	sodium_bin2hex(hex, sizeof h * 2 + 1, h, sizeof h);
	return hex;
}

/* ---- throttling ---- */

static int64_t window_of(int window_s)
{
	int64_t now = (int64_t)time(NULL);
	return now - now % window_s;
}

bool req_throttled(struct db *db, const char *key, int window_s, int limit)
{
	struct db_stmt *st = db_prepare(db, "SELECT hits FROM throttle WHERE key = ? AND window_start = ?");
	if (!st)
		return false;
	db_bind_text(st, 1, key);
	db_bind_int(st, 2, window_of(window_s));
	bool over = db_step(st) == DB_ROW && db_col_int(st, 0) >= limit;
	db_finalize(st);
	return over;
}

int req_throttle_count(struct db *db, const char *key, int window_s)
{
	struct db_stmt *st = db_prepare(db, "SELECT hits FROM throttle WHERE key = ? AND window_start = ?");
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	db_bind_int(st, 2, window_of(window_s));
	enum db_rc rc = db_step(st);
	int n = rc == DB_ROW ? (int)db_col_int(st, 0) : rc == DB_DONE ? 0 : -1;
	db_finalize(st);
	return n;
}

bool req_throttle_hit(struct db *db, const char *key, int window_s, int limit)
{
	struct db_stmt *st = db_prepare(
	    db, "INSERT INTO throttle(key, window_start, hits) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE "
		"SET hits = CASE WHEN throttle.window_start = excluded.window_start THEN throttle.hits + 1 "
		"ELSE 1 END, window_start = excluded.window_start RETURNING hits");
	if (!st)
		return false;
	db_bind_text(st, 1, key);
	db_bind_int(st, 2, window_of(window_s));
	bool over = db_step(st) == DB_ROW && db_col_int(st, 0) > limit;
	db_finalize(st);
	return over;
}

/* ---- checks ---- */

static void add_error(struct req_errors *e, const char *field, const char *message)
{
	for (int i = 0; i < e->n; i++)
		if (!strcmp(e->field[i], field))
			return; /* the first problem of a field is the one to fix */
	if (e->n < REQ_MAX_ERRORS) {
		e->field[e->n] = field;
		e->message[e->n++] = message;
	}
}

static const char *trimmed(struct arena *a, const char *s)
{
	return s ? str_trim(arena_strdup(a, s)) : "";
}

static bool has_control(const char *s, bool allow_newlines)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(allow_newlines && (*p == '\n' || *p == '\r' || *p == '\t'))) || *p == 0x7F)
			return true;
	return false;
}

/* Checks a text field: valid UTF-8, no control characters, length in characters. */
static void check_text(struct req_errors *e, const char *field, const char *v, size_t min, size_t max,
		       bool multiline, const char *missing)
{
	size_t chars = utf8_length(v);
	if (!utf8_valid(v, strlen(v)) || has_control(v, multiline))
		add_error(e, field, "Недопустимые символы: уберите служебные символы и попробуйте снова.");
	else if (chars < min)
		add_error(e, field, missing);
	else if (chars > max)
		add_error(e, field, max > 1000 ? "Слишком длинный текст: не больше 10 000 символов."
					       : "Слишком длинное значение.");
}

static void check_files(struct arena *a, struct req_errors *e, struct http_file *files, int n,
			const char **mimes)
{
	size_t total = 0;
	if (n > REQ_MAX_FILES)
		add_error(e, "attachments", arena_printf(a, "Можно приложить не больше %d файлов.", REQ_MAX_FILES));
	for (int i = 0; i < n; i++) {
		total += files[i].size;
		mimes[i] = req_sniff_type(files[i].head, files[i].head_len);
		if (!mimes[i])
			add_error(e, "attachments",
				  arena_printf(a, "Файл «%s» не подходит: можно приложить только JPEG, PNG или PDF.",
					       req_clean_filename(a, files[i].filename)));
		else if (files[i].size > REQ_MAX_FILE_BYTES)
			add_error(e, "attachments", arena_printf(a, "Файл «%s» больше 10 МБ.",
								 req_clean_filename(a, files[i].filename)));
	}
	if (total > REQ_MAX_TOTAL_BYTES)
		add_error(e, "attachments", "Все файлы вместе должны занимать не больше 25 МБ.");
}

bool req_input_from_form(const struct http_request *req, struct req_input *in,
			 struct req_errors *shape)
{
	static const char *const names[] = {"member_id", "name",         "email",   "phone",      "country",
					    "topic",     "order_number", "subject", "description"};
	const char **v[] = {&in->member_id, &in->name,         &in->email,   &in->phone,      &in->country,
			    &in->topic,     &in->order_number, &in->subject, &in->description};
	for (size_t i = 0; i < req->n_fields; i++)
		if (strchr(req->fields[i].name, '['))
			add_error(shape, arena_strdup(req->arena, req->fields[i].name),
				  "Поле не может быть массивом.");
	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		int count;
		const char *val = http_field(req, names[k], &count);
		if (count > 1)
			add_error(shape, names[k], "Поле передано несколько раз.");
		*v[k] = val && !utf8_valid(val, strlen(val)) ? "" : val;
	}
	in->honeypot = http_field(req, "website", NULL);
	in->files = req->files;
	in->n_files = req->n_files;
	return shape->n == 0;
}

/* ---- attachment store ---- */

static bool fsync_path(const char *path, bool dir)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = fsync(fd) == 0;
	close(fd);
	return ok;
}

static const char *hex_of(struct arena *a, const unsigned char *h)
{
	char *hex = arena_alloc(a, 65);
	sodium_bin2hex(hex, 65, h, 32);
	return hex;
}

/* Moves an upload to DATA/files/<sha256>, its content durable before return, and its name too
 * unless sync_dir is false (then the caller fsyncs DATA/files before the commit); path becomes
 * NULL. */
static bool store_file(struct arena *a, const char *data_dir, struct http_file *f, bool sync_dir)
{
	char *dir = arena_printf(a, "%s/files", data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return false;
	const char *dest = arena_printf(a, "%s/%s", dir, hex_of(a, f->sha256));
	if (!fsync_path(f->path, false))
		return false;
	struct stat st;
	if (stat(dest, &st) == 0 && (size_t)st.st_size == f->size) {
		unlink(f->path); /* the same content is already stored */
	} else if (rename(f->path, dest) != 0) {
		return false;
	}
	f->path = NULL;
	return !sync_dir || fsync_path(dir, true);
}

static void unstore_unreferenced(struct db *db, struct arena *a, const char *data_dir,
				 const struct http_file *files, int n)
{
	for (int i = 0; i < n; i++) {
		const char *hex = hex_of(a, files[i].sha256);
		struct db_stmt *st = db_prepare(db, "SELECT 1 FROM attachments WHERE sha256 = ?");
		if (!st)
			continue;
		db_bind_text(st, 1, hex);
		bool used = db_step(st) == DB_ROW;
		db_finalize(st);
		if (!used)
			unlink(arena_printf(a, "%s/files/%s", data_dir, hex));
	}
}

static bool insert_attachments(struct db *db, struct arena *a, int64_t request_id, int64_t message_id,
			       const struct http_file *files, const char **mimes, int n)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO attachments(request_id, message_id, sha256, size, "
					    "mime, filename, created) VALUES (?, ?, ?, ?, ?, ?, ?)");
	bool ok = st != NULL;
	for (int i = 0; ok && i < n; i++) {
		db_reset(st);
		db_bind_int(st, 1, request_id);
		db_bind_int(st, 2, message_id);
		db_bind_text(st, 3, hex_of(a, files[i].sha256));
		db_bind_int(st, 4, (int64_t)files[i].size);
		db_bind_text(st, 5, mimes[i]);
		db_bind_text(st, 6, req_clean_filename(a, files[i].filename));
		db_bind_int(st, 7, (int64_t)time(NULL));
		ok = db_step(st) == DB_DONE;
	}
	db_finalize(st);
	return ok;
}

/* ---- duplicates ---- */

/* Share of common words between two texts (Jaccard over their normalized word sets). */
static double similarity(struct arena *a, const char *x, const char *y)
{
	char **wx, **wy;
	size_t nx = search_words(a, x, &wx), ny = search_words(a, y, &wy);
	if (!nx || !ny)
		return 0;
	size_t common = 0, ux = 0;
	for (size_t i = 0; i < nx; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(wx[k], wx[i]);
		if (seen)
			continue;
		ux++;
		for (size_t j = 0; j < ny; j++)
			if (!strcmp(wx[i], wy[j])) {
				common++;
				break;
			}
	}
	size_t uy = 0;
	for (size_t j = 0; j < ny; j++) {
		bool seen = false;
		for (size_t k = 0; k < j && !seen; k++)
			seen = !strcmp(wy[k], wy[j]);
		uy += !seen;
	}
	return (double)common / (double)(ux + uy - common);
}

/* 1 and the existing request when this member has an open request on the same matter. */
static int find_duplicate(struct db *db, struct arena *a, const char *member_id, const char *topic,
			  const char *description, struct req_outcome *out)
{
	struct db_stmt *st = db_prepare(
	    db, "SELECT r.number, r.status, r.created, r.topic, (SELECT body FROM messages m WHERE "
		"m.request_id = r.id AND m.author = 'member' ORDER BY m.id LIMIT 1) FROM requests r "
		"WHERE r.member_id = ? AND r.status NOT IN ('resolved', 'closed') AND r.merged_into IS NULL "
		"ORDER BY r.created DESC LIMIT 50");
	if (!st)
		return -1;
	db_bind_text(st, 1, member_id);
	int found = 0;
	enum db_rc rc;
	while (!found && (rc = db_step(st)) == DB_ROW) {
		if (!strcmp(db_col_text(st, 3), topic) || similarity(a, db_col_text(st, 4), description) >= 0.8) {
			out->existing_number = arena_strdup(a, db_col_text(st, 0));
			out->existing_status = arena_strdup(a, db_col_text(st, 1));
			out->existing_created = db_col_int(st, 2);
			found = 1;
		}
	}
	db_finalize(st);
	return found;
}

/* ---- creation ---- */

static bool replay(struct db *db, struct arena *a, const char *key, struct req_outcome *out)
{
	struct db_stmt *st = db_prepare(db, "SELECT status, response FROM idempotency WHERE key = ? AND created > ?");
	if (!st)
		return false;
	db_bind_text(st, 1, key);
	db_bind_int(st, 2, (int64_t)time(NULL) - 24 * 3600);
	bool found = db_step(st) == DB_ROW;
	if (found) {
		out->stored_status = (int)db_col_int(st, 0);
		out->stored_json = arena_strdup(a, db_col_text(st, 1));
	}
	db_finalize(st);
	return found;
}

static int64_t next_number(struct db *db, int year)
{
	char name[32];
	snprintf(name, sizeof name, "requests-%d", year);
	struct db_stmt *st = db_prepare(db, "INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT (name) "
					    "DO UPDATE SET value = counters.value + 1 RETURNING value");
	if (!st)
		return -1;
	db_bind_text(st, 1, name);
	int64_t v = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return v;
}

static int64_t insert_message(struct db *db, int64_t request_id, const char *author, int64_t user_id,
			      bool internal, const char *body)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO messages(request_id, author, user_id, internal, body, "
					    "created) VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
	if (!st)
		return -1;
	db_bind_int(st, 1, request_id);
	db_bind_text(st, 2, author);
	if (user_id > 0)
		db_bind_int(st, 3, user_id);
	else
		db_bind_null(st, 3);
	db_bind_int(st, 4, internal);
	db_bind_text(st, 5, body);
	db_bind_int(st, 6, (int64_t)time(NULL));
	int64_t id = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	return id;
}

static void validate(const struct req_config *cfg, struct arena *a, const struct req_input *in,
		     struct req_outcome *out, const char **mimes)
{
	struct req_errors *e = &out->errors;
	const char *mid = trimmed(a, in->member_id);
	size_t ml = strlen(mid);
	bool digits = ml > 0;
	for (size_t i = 0; i < ml; i++)
		digits &= mid[i] >= '0' && mid[i] <= '9';
	if (!ml)
		add_error(e, "member_id", "Укажите номер партнёра.");
	else if (!digits || (int)ml < cfg->member_id_min || (int)ml > cfg->member_id_max)
		add_error(e, "member_id", arena_printf(a, "Номер партнёра — это %d–%d цифр, без букв и пробелов.",
							cfg->member_id_min, cfg->member_id_max));
	check_text(e, "name", trimmed(a, in->name), 2, 200, false, "Укажите имя и фамилию.");
	const char *email = trimmed(a, in->email), *phone = trimmed(a, in->phone);
	if (!*email && !*phone) {
		add_error(e, "email", "Укажите электронную почту или телефон, чтобы мы могли ответить.");
		add_error(e, "phone", "Укажите электронную почту или телефон, чтобы мы могли ответить.");
	}
	if (*email && !req_email_valid(email))
		add_error(e, "email", "Проверьте адрес почты: он должен быть вида name@example.com.");
	if (*phone) {
		out->phone_e164 = req_normalize_phone(a, phone);
		if (!out->phone_e164)
			add_error(e, "phone", "Проверьте номер телефона: укажите его с кодом страны, например +7 900 123-45-67.");
	}
	const char *country = trimmed(a, in->country);
	bool known = false;
	for (int i = 0; i < cfg->n_countries; i++)
		known |= !strcmp(cfg->countries[i], country);
	if (!known)
		add_error(e, "country", "Выберите страну из списка.");
	const struct req_topic *t = req_topic(cfg, trimmed(a, in->topic));
	if (!t)
		add_error(e, "topic", "Выберите тему обращения из списка.");
	const char *order = trimmed(a, in->order_number);
	if (*order)
		check_text(e, "order_number", order, 1, 40, false, "");
	check_text(e, "subject", trimmed(a, in->subject), 3, 200, false, "Кратко опишите тему обращения (от 3 символов).");
	const char *desc = trimmed(a, in->description);
	check_text(e, "description", desc, REQ_MIN_DESCRIPTION, 10000, true,
		   "Опишите вопрос подробнее — хотя бы 20 символов: что случилось и что вы уже пробовали.");
	check_files(a, e, in->files, in->n_files, mimes);
}

static const char *answer_json(struct arena *a, const char *number, const char *token)
{
	json_t *j = json_pack("{s:s,s:s,s:s}", "number", number, "status", "new", "url",
			      arena_printf(a, "/r/%s", token));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	const char *r = arena_strdup(a, s ? s : "{}");
	free(s);
	return r;
}

/* Step 1 of a creation, on any connection: replay, honeypot, checks, rate limits. */
bool req_create_check(struct db *db, struct req_create_job *j)
{
	struct arena *a = j->a;
	const struct req_config *cfg = j->cfg;
	const struct req_input *in = &j->in;
	struct req_outcome *out = &j->out;
	memset(out, 0, sizeof *out);
	j->result = REQ_FAILED;
	if (in->idempotency_key && replay(db, a, in->idempotency_key, out)) {
		j->result = REQ_REPLAYED;
		return false;
	}
	if (in->honeypot && *in->honeypot) {
		j->result = REQ_SPAM;
		return false;
	}
	j->mimes = arena_alloc(a, (size_t)(in->n_files + 1) * sizeof *j->mimes);
	validate(cfg, a, in, out, j->mimes);
	if (out->errors.n) {
		j->result = REQ_INVALID;
		return false;
	}
	j->member = trimmed(a, in->member_id);
	j->topic = trimmed(a, in->topic);
	j->desc = trimmed(a, in->description);
	j->ip_key = arena_printf(a, "create-ip:%s", in->client_ip ? in->client_ip : "?");
	j->member_key = arena_printf(a, "create-member:%s", j->member);
	if (req_throttled(db, j->ip_key, 3600, cfg->max_per_ip_hour) ||
	    req_throttled(db, j->member_key, 86400, cfg->max_per_member_day)) {
		/* The open request on the same matter helps more than "too many requests". */
		if (find_duplicate(db, a, j->member, j->topic, j->desc, out) > 0) {
			j->result = REQ_DUPLICATE;
			return false;
		}
		out->message = "Слишком много обращений за короткое время. Дождитесь ответа на уже "
			       "отправленные или попробуйте позже.";
		j->result = REQ_LIMITED;
		return false;
	}
	if (in->n_files)
		j->job.sync_dir = arena_printf(a, "%s/files", cfg->data_dir);
	return true;
}

/*
 * Files are made durable before the transaction that refers to them commits: their content
 * here (an fsync each), their names by an fsync of DATA/files just before the commit (once for
 * a whole group of creations on the group committer). False when one could not be stored.
 */
static bool store_files(struct req_create_job *j)
{
	for (int i = 0; i < j->in.n_files; i++)
		if (!store_file(j->a, j->cfg->data_dir, &j->in.files[i], false)) {
			j->out.message = "Не удалось сохранить файлы. Попробуйте позже.";
			return false;
		}
	return true;
}

/* Step 2, inside a write transaction the caller commits: REQ_CREATED when the rows are written
 * (keep them), anything else when they must be undone. */
static enum req_result create_tx(struct db *db, struct req_create_job *j)
{
	struct arena *a = j->a;
	const struct req_config *cfg = j->cfg;
	const struct req_input *in = &j->in;
	struct req_outcome *out = &j->out;
	/* Inside the write lock: a concurrent retry of the same key or a concurrent duplicate
	 * is seen here. */
	if (in->idempotency_key && replay(db, a, in->idempotency_key, out))
		return REQ_REPLAYED;
	int dup = find_duplicate(db, a, j->member, j->topic, j->desc, out);
	if (dup != 0)
		return dup > 0 ? REQ_DUPLICATE : REQ_FAILED;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int64_t seq = next_number(db, tm.tm_year + 1900);
	if (seq < 0)
		return REQ_FAILED;
	const char *number = arena_printf(a, "R-%d-%06lld", tm.tm_year + 1900, (long long)seq);
	const char *token = req_new_token(a);
	struct db_stmt *st = db_prepare(
	    db, "INSERT INTO requests(number, token_hash, member_id, name, email, phone, country, topic, "
		"order_number, subject, status, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'new', ?, ?) "
		"RETURNING id");
	if (!st)
		return REQ_FAILED;
	const char *vals[] = {number, req_token_hash(a, token), j->member, trimmed(a, in->name),
			      trimmed(a, in->email), out->phone_e164 ? out->phone_e164 : "",
			      trimmed(a, in->country), j->topic, trimmed(a, in->order_number),
			      trimmed(a, in->subject)};
	for (int i = 0; i < 10; i++)
		db_bind_text(st, i + 1, vals[i]);
	db_bind_int(st, 11, (int64_t)now);
	db_bind_int(st, 12, (int64_t)now);
	int64_t id = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	if (id < 0)
		return REQ_FAILED;
	int64_t msg = insert_message(db, id, "member", 0, false, j->desc);
	if (msg < 0 || !insert_attachments(db, a, id, msg, in->files, j->mimes, in->n_files))
		return REQ_FAILED;
	req_throttle_hit(db, j->ip_key, 3600, cfg->max_per_ip_hour);
	req_throttle_hit(db, j->member_key, 86400, cfg->max_per_member_day);
	const char *json = answer_json(a, number, token);
	if (in->idempotency_key) {
		st = db_prepare(db, "INSERT INTO idempotency(key, status, response, created) VALUES (?, 201, ?, ?)");
		bool ok = st && db_bind_text(st, 1, in->idempotency_key) == DB_OK &&
			  db_bind_text(st, 2, json) == DB_OK && db_bind_int(st, 3, (int64_t)now) == DB_OK &&
			  db_step(st) == DB_DONE;
		db_finalize(st);
		if (!ok)
			return REQ_FAILED;
	}
	const char *email = trimmed(a, in->email);
	if (*email && !mail_enqueue(db, id, email, arena_printf(a, "Обращение %s принято", number),
				    arena_printf(a, "Здравствуйте!\n\nВаше обращение %s «%s» принято. Следить за "
						    "ним, отвечать и добавлять файлы можно по ссылке:\n%s/r/%s\n\n"
						    "Не пересылайте эту ссылку: она открывает обращение без пароля.\n",
						 number, trimmed(a, in->subject), cfg->public_url, token)))
		return REQ_FAILED;
	out->number = number;
	out->token = token;
	out->status = "new";
	out->stored_json = json;
	return REQ_CREATED;
}

/* After the transaction: a request that was not created leaves no file behind. */
static void create_end(struct db *db, struct req_create_job *j, bool committed)
{
	if (!committed)
		j->result = REQ_FAILED;
	if (j->result == REQ_CREATED)
		return;
	unstore_unreferenced(db, j->a, j->cfg->data_dir, j->in.files, j->in.n_files);
	if (j->result == REQ_FAILED) {
		j->out.number = j->out.token = NULL;
		if (!j->out.message)
			j->out.message = "Не удалось сохранить обращение. Попробуйте ещё раз через минуту.";
	}
}

static bool job_run(struct db *db, struct db_job *job)
{
	struct req_create_job *j = (struct req_create_job *)job;
	j->result = j->files_failed ? REQ_FAILED : create_tx(db, j);
	return j->result == REQ_CREATED;
}

static void job_done(struct db *db, struct db_job *job, bool committed)
{
	struct req_create_job *j = (struct req_create_job *)job;
	create_end(db, j, committed);
	j->finish(j);
}

/* On a worker thread: the files, then the transaction (which fails when the files did). */
static void files_then_commit(struct work *w)
{
	struct req_create_job *j = (struct req_create_job *)((char *)w - offsetof(struct req_create_job, files_work));
	j->files_failed = !store_files(j);
	db_group_submit(j->group, &j->job);
}

void req_create_submit(struct db_group *g, struct workers *files, struct req_create_job *j)
{
	j->job.run = job_run;
	j->job.done = job_done;
	j->group = g;
	if (j->in.n_files) {
		j->files_work.run = files_then_commit;
		workers_submit(files, &j->files_work);
		return;
	}
	db_group_submit(g, &j->job);
}

enum req_result req_create(struct db *db, const struct req_config *cfg, struct arena *a,
			   const struct req_input *in, struct req_outcome *out)
{
	struct req_create_job j = {.cfg = cfg, .a = a, .in = *in};
	if (req_create_check(db, &j)) {
		bool stored = store_files(&j);
		bool began = stored && (!j.job.sync_dir || fsync_path(j.job.sync_dir, true)) &&
			     db_begin_write(db) == DB_OK;
		if (!began && stored)
			j.out.message = "Сервис временно перегружен. Попробуйте отправить обращение ещё раз.";
		j.result = began ? create_tx(db, &j) : REQ_FAILED;
		bool committed = j.result == REQ_CREATED && db_commit(db) == DB_OK;
		if (began && !committed)
			db_rollback(db);
		/* A replay or a duplicate stands after its rollback; a creation only if committed. */
		create_end(db, &j, j.result != REQ_CREATED || committed);
	}
	*out = j.out; /* the files were moved in in's own array (j.in shares it) */
	return j.result;
}

/* ---- reading ---- */

#define COL(i) arena_strdup(a, db_col_text(st, (i)))

static int load_view(struct db *db, struct arena *a, const char *where, const char *key, bool member,
		     struct req_view *v)
{
	char sql[1024];
	snprintf(sql, sizeof sql,
		 "SELECT r.id, r.number, r.member_id, r.name, r.email, r.phone, r.country, r.topic, "
		 "r.order_number, r.subject, r.status, u.login, r.created, r.updated, r.merged_into "
		 "FROM requests r LEFT JOIN users u ON u.id = r.assignee WHERE %s",
		 where);
	struct db_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	enum db_rc rc = db_step(st);
	if (rc != DB_ROW) {
		db_finalize(st);
		return rc == DB_DONE ? 0 : -1;
	}
	memset(v, 0, sizeof *v);
	v->id = db_col_int(st, 0);
	v->number = COL(1), v->member_id = COL(2), v->name = COL(3), v->email = COL(4);
	v->phone = COL(5), v->country = COL(6), v->topic = COL(7), v->order_number = COL(8);
	v->subject = COL(9), v->status = COL(10);
	v->assignee = db_col_null(st, 11) ? NULL : COL(11);
	v->created = db_col_int(st, 12), v->updated = db_col_int(st, 13);
	int64_t merged = db_col_null(st, 14) ? 0 : db_col_int(st, 14);
	db_finalize(st);
	if (merged) {
		/* The member's link shows the request it was merged into. */
		const char *from = v->number;
		char id[32];
		snprintf(id, sizeof id, "%lld", (long long)merged);
		int r = load_view(db, a, "r.id = CAST(? AS INTEGER)", id, member, v);
		if (r > 0) {
			v->merged_from = from;
			v->merged_into_number = v->number;
		}
		return r;
	}
	st = db_prepare(db, "SELECT m.id, m.author, u.login, m.internal, m.body, m.created FROM messages m "
			    "LEFT JOIN users u ON u.id = m.user_id WHERE m.request_id = ? ORDER BY m.id");
	if (!st)
		return -1;
	db_bind_int(st, 1, v->id);
	int cap = 8;
	v->messages = arena_alloc(a, (size_t)cap * sizeof *v->messages);
	while (db_step(st) == DB_ROW) {
		if (member && db_col_int(st, 3))
			continue;
		if (v->n_messages == cap) {
			struct req_message *bigger = arena_alloc(a, (size_t)cap * 2 * sizeof *bigger);
			memcpy(bigger, v->messages, (size_t)cap * sizeof *bigger);
			v->messages = bigger;
			cap *= 2;
		}
		v->messages[v->n_messages++] = (struct req_message){
		    .id = db_col_int(st, 0), .author = COL(1), .agent = db_col_null(st, 2) ? NULL : COL(2),
		    .internal = db_col_int(st, 3) != 0, .body = COL(4), .created = db_col_int(st, 5)};
	}
	db_finalize(st);
	st = db_prepare(db, "SELECT id, message_id, sha256, mime, filename, size FROM attachments "
			    "WHERE request_id = ? ORDER BY id");
	if (!st)
		return -1;
	db_bind_int(st, 1, v->id);
	cap = 8;
	v->attachments = arena_alloc(a, (size_t)cap * sizeof *v->attachments);
	while (db_step(st) == DB_ROW) {
		if (v->n_attachments == cap) {
			struct req_attachment *bigger = arena_alloc(a, (size_t)cap * 2 * sizeof *bigger);
			memcpy(bigger, v->attachments, (size_t)cap * sizeof *bigger);
			v->attachments = bigger;
			cap *= 2;
		}
		v->attachments[v->n_attachments++] = (struct req_attachment){
		    .id = db_col_int(st, 0), .message_id = db_col_int(st, 1), .sha256 = COL(2),
		    .mime = COL(3), .filename = COL(4), .size = db_col_int(st, 5)};
	}
	db_finalize(st);
	return 1;
}

int req_by_token(struct db *db, struct arena *a, const char *token, bool member, struct req_view *out)
{
	if (strlen(token) != 43)
		return 0;
	return load_view(db, a, "r.token_hash = ?", req_token_hash(a, token), member, out);
}

int req_by_number(struct db *db, struct arena *a, const char *number, struct req_view *out)
{
	return load_view(db, a, "r.number = ?", number, false, out);
}

enum req_result req_member_reply(struct db *db, const struct req_config *cfg, struct arena *a,
				 int64_t request_id, const char *text, struct http_file *files,
				 int n_files, const char *form_key, struct req_outcome *out)
{
	memset(out, 0, sizeof *out);
	if (form_key && replay(db, a, form_key, out))
		return REQ_REPLAYED;
	const char **mimes = arena_alloc(a, (size_t)(n_files + 1) * sizeof *mimes);
	const char *body = trimmed(a, text);
	check_text(&out->errors, "message", body, 1, 10000, true, "Напишите сообщение.");
	check_files(a, &out->errors, files, n_files, mimes);
	if (out->errors.n)
		return REQ_INVALID;
	for (int i = 0; i < n_files; i++)
		if (!store_file(a, cfg->data_dir, &files[i], true)) {
			unstore_unreferenced(db, a, cfg->data_dir, files, i);
			return REQ_FAILED;
		}
	if (db_begin_write(db) != DB_OK)
		return REQ_FAILED;
	int64_t msg = insert_message(db, request_id, "member", 0, false, body);
	bool ok = msg > 0 && insert_attachments(db, a, request_id, msg, files, mimes, n_files);
	struct db_stmt *st = ok ? db_prepare(db, "UPDATE requests SET status = CASE WHEN status = 'new' THEN "
						 "'new' ELSE 'open' END, updated = ?, resolved_at = NULL WHERE id = ?")
				: NULL;
	ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK && db_bind_int(st, 2, request_id) == DB_OK &&
	     db_step(st) == DB_DONE;
	db_finalize(st);
	if (ok && form_key) {
		st = db_prepare(db, "INSERT INTO idempotency(key, status, response, created) VALUES (?, 303, '{}', ?)");
		ok = st && db_bind_text(st, 1, form_key) == DB_OK && db_bind_int(st, 2, (int64_t)time(NULL)) == DB_OK &&
		     db_step(st) == DB_DONE;
		db_finalize(st);
	}
	if (ok && db_commit(db) == DB_OK)
		return REQ_CREATED;
	db_rollback(db);
	unstore_unreferenced(db, a, cfg->data_dir, files, n_files);
	return REQ_FAILED;
}

enum req_result req_append(struct db *db, const struct req_config *cfg, struct arena *a,
			   const char *number, const char *member_id, const char *text,
			   struct http_file *files, int n_files, const char *form_key,
			   struct req_outcome *out)
{
	memset(out, 0, sizeof *out);
	struct db_stmt *st = db_prepare(db, "SELECT id FROM requests WHERE number = ? AND member_id = ? AND "
					    "status NOT IN ('resolved', 'closed') AND merged_into IS NULL");
	if (!st)
		return REQ_FAILED;
	db_bind_text(st, 1, number ? number : "");
	db_bind_text(st, 2, trimmed(a, member_id));
	int64_t id = db_step(st) == DB_ROW ? db_col_int(st, 0) : 0;
	db_finalize(st);
	if (!id) {
		add_error(&out->errors, "member_id", "Открытое обращение с этим номером не найдено.");
		return REQ_INVALID;
	}
	enum req_result r = req_member_reply(db, cfg, a, id, text, files, n_files, form_key, out);
	for (int i = 0; r == REQ_INVALID && i < out->errors.n; i++)
		if (!strcmp(out->errors.field[i], "message"))
			out->errors.field[i] = "description";
	out->existing_number = number;
	return r;
}

bool req_deflect(struct db *db, const char *slug, const char *topic)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO deflections(at, slug, topic) VALUES (?, ?, ?)");
	bool ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK && db_bind_text(st, 2, slug) == DB_OK &&
		  db_bind_text(st, 3, topic ? topic : "") == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}
