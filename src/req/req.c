/* Support requests. See req.h. */
#include "req.h"

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../core/workers.h"
#include "../db/db.h"
#include "../files/files.h"
#include "../http/http.h"
#include "../mail/mail.h"
#include "../media/media.h"
#include "../search/search.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
		/* Control characters (CR, LF...), and bidi marks, overrides, isolates and zero-width
		 * characters that disguise names ("invoice\u202Egnp.pdf"): left out. */
		unsigned cp;
		bool drop = *p < 0x20 || *p == 0x7F || utf8_invisible((const char *)p, n, &cp);
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

/* The usual extension of a detected type, and the others a name may already carry for it. */
static const char *type_extension(const char *mime, const char *const **also)
{
	static const char *const jpeg[] = {"jpg", "jpeg", "jpe", "jfif", NULL}, *const png[] = {"png", NULL},
				 *const pdf[] = {"pdf", NULL}, *const none[] = {NULL};
	*also = none;
	if (mime && !strcmp(mime, "image/jpeg"))
		return *also = jpeg, "jpg";
	if (mime && !strcmp(mime, "image/png"))
		return *also = png, "png";
	if (mime && !strcmp(mime, "application/pdf"))
		return *also = pdf, "pdf";
	return NULL;
}

const char *req_download_name(struct arena *a, const char *filename, const char *mime)
{
	const char *name = filename && *filename ? filename : "file";
	const char *const *also;
	const char *ext = type_extension(mime, &also);
	if (!ext)
		return name;
	/* An extension: 1..5 letters or digits after the last dot, with at least one letter. */
	const char *dot = strrchr(name, '.');
	bool has_ext = dot && dot != name && dot[1] && strlen(dot + 1) <= 5;
	bool letter = false;
	for (const char *p = has_ext ? dot + 1 : ""; *p && has_ext; p++) {
		has_ext = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z');
		letter |= !(*p >= '0' && *p <= '9');
	}
	has_ext = has_ext && letter;
	for (int i = 0; has_ext && also[i]; i++)
		if (!strcasecmp(dot + 1, also[i]))
			return name; /* "scan.PDF", "photo.jpeg": already right */
	return arena_printf(a, "%.*s.%s", has_ext ? (int)(dot - name) : (int)strlen(name), name, ext);
}

const char *req_content_disposition(struct arena *a, const char *filename, const char *mime)
{
	const char *name = req_download_name(a, filename, mime);
	/* filename=: an ASCII fallback without quotes, backslashes, '%' or controls (one '_' for
	 * each other character); filename*=: the UTF-8 name percent-encoded (RFC 6266, RFC 8187). */
	struct buf ascii, enc;
	buf_init(&ascii, 4096);
	buf_init(&enc, 4096);
	for (const unsigned char *p = (const unsigned char *)name; *p;) {
		if (*p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\' && *p != '%' && *p != ';')
			buf_addc(&ascii, (char)*p);
		else
			buf_addc(&ascii, '_');
		p++;
		while ((*p & 0xC0) == 0x80)
			p++; /* the rest of a UTF-8 sequence */
	}
	url_encode(&enc, name);
	const char *r =
	    arena_printf(a, "attachment; filename=\"%s\"; filename*=UTF-8''%s", buf_str(&ascii), buf_str(&enc));
	buf_free(&ascii);
	buf_free(&enc);
	return r;
}

/* n bytes as base64url without padding (32 bytes: 43 characters), in the arena. */
static const char *base64url(struct arena *a, const unsigned char *bytes, size_t n)
{
	size_t len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *out = arena_alloc(a, len);
	sodium_bin2base64(out, len, bytes, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* base64url(HMAC-SHA-256(key, msg)): the tokens the server signs (links, form tokens). */
static const char *hmac_token(struct arena *a, const unsigned char key[crypto_auth_hmacsha256_KEYBYTES],
			      const char *msg)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256(mac, (const unsigned char *)msg, strlen(msg), key);
	return base64url(a, mac, sizeof mac);
}

const char *req_new_token(struct arena *a)
{
	unsigned char raw[32];
	randombytes_buf(raw, sizeof raw);
	return base64url(a, raw, sizeof raw);
}

const char *req_token_hash(struct arena *a, const char *token)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
	char *hex = arena_alloc(a, sizeof h * 2 + 1);
	sodium_bin2hex(hex, sizeof h * 2 + 1, h, sizeof h);
	return hex;
}

/* ---- private links ---- */

static unsigned char process_key[crypto_auth_hmacsha256_KEYBYTES];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

static void process_key_init(void)
{
	randombytes_buf(process_key, sizeof process_key);
}

/* The token of a nonce: base64url(HMAC-SHA-256(key, "spravka-link-v1:" nonce)), 43 characters. */
static const char *derive_token(struct arena *a, const struct req_config *cfg, const char *nonce)
{
	const unsigned char *key = cfg->link_key;
	if (!key) {
		pthread_once(&process_key_once, process_key_init);
		key = process_key;
	}
	return hmac_token(a, key, arena_printf(a, "spravka-link-v1:%s", nonce));
}

static const char *new_nonce(struct arena *a)
{
	unsigned char raw[16];
	randombytes_buf(raw, sizeof raw);
	char *hex = arena_alloc(a, sizeof raw * 2 + 1);
	sodium_bin2hex(hex, sizeof raw * 2 + 1, raw, sizeof raw);
	return hex;
}

const char *req_link(struct db *db, struct arena *a, const struct req_config *cfg, int64_t id)
{
	struct db_stmt *st = db_prepare(db, "SELECT token_hash, link_nonce, link_hash FROM requests WHERE id = ?");
	if (!st)
		return NULL;
	db_bind_int(st, 1, id);
	if (db_step(st) != DB_ROW) {
		db_finalize(st);
		return NULL;
	}
	const char *token_hash = arena_strdup(a, db_col_text(st, 0));
	const char *nonce = db_col_null(st, 1) ? NULL : arena_strdup(a, db_col_text(st, 1));
	const char *link_hash = db_col_null(st, 2) ? "" : arena_strdup(a, db_col_text(st, 2));
	db_finalize(st);
	if (nonce) {
		const char *token = derive_token(a, cfg, nonce);
		const char *h = req_token_hash(a, token);
		if (!strcmp(h, token_hash) || !strcmp(h, link_hash))
			return arena_printf(a, "%s/r/%s", cfg->public_url, token);
	}
	/* Made before links were derived, or the key changed: a derived link from now on, kept
	 * next to the first one (which keeps working). */
	nonce = new_nonce(a);
	const char *token = derive_token(a, cfg, nonce);
	st = db_prepare(db, "UPDATE requests SET link_nonce = ?, link_hash = ? WHERE id = ?");
	bool ok = st && db_bind_text(st, 1, nonce) == DB_OK && db_bind_text(st, 2, req_token_hash(a, token)) == DB_OK &&
		  db_bind_int(st, 3, id) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok ? arena_printf(a, "%s/r/%s", cfg->public_url, token) : NULL;
}

/* ---- contacts ---- */

const char *req_mask_email(struct arena *a, const char *email)
{
	const char *at = email ? strrchr(email, '@') : NULL;
	if (!email || !*email)
		return "";
	if (!at || at == email)
		return "***";
	return arena_printf(a, "%c***%s", email[0], at); /* addresses are ASCII (mail_address_valid) */
}

const char *req_mask_phone(struct arena *a, const char *p)
{
	size_t n = p ? strlen(p) : 0;
	if (n < 4)
		return n ? "***" : "";
	if (!strncmp(p, "+7", 2))
		return arena_printf(a, "+7 *** ***-**-%s", p + n - 2);
	return arena_printf(a, "+** *** ***-**-%s", p + n - 2);
}

bool req_contact_matches(struct arena *a, const char *stored_email, const char *stored_phone, const char *email,
			 const char *phone)
{
	const char *e = email ? str_trim(arena_strdup(a, email)) : "";
	if (*e && stored_email && *stored_email && !strcasecmp(e, stored_email))
		return true;
	const char *ph = phone && *phone ? req_normalize_phone(a, phone) : NULL;
	return ph && stored_phone && *stored_phone && !strcmp(ph, stored_phone);
}

/* ---- idempotency ---- */

static void digest_field(crypto_hash_sha256_state *h, const char *name, const char *v)
{
	char head[96];
	int n =
	    v ? snprintf(head, sizeof head, "%s %zu\n", name, strlen(v)) : snprintf(head, sizeof head, "%s -\n", name);
	crypto_hash_sha256_update(h, (const unsigned char *)head, (unsigned long long)n);
	if (v) {
		crypto_hash_sha256_update(h, (const unsigned char *)v, strlen(v));
		crypto_hash_sha256_update(h, (const unsigned char *)"\n", 1);
	}
}

static void digest_files(crypto_hash_sha256_state *h, const struct http_file *files, int n)
{
	for (int i = 0; i < n; i++) {
		char hex[65], line[128];
		sodium_bin2hex(hex, sizeof hex, files[i].sha256, 32);
		int len = snprintf(line, sizeof line, "file %s %zu\n", hex, files[i].size);
		crypto_hash_sha256_update(h, (const unsigned char *)line, (unsigned long long)len);
	}
}

static const char *digest_end(struct arena *a, crypto_hash_sha256_state *h)
{
	unsigned char out[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_final(h, out);
	char *hex = arena_alloc(a, sizeof out * 2 + 1);
	sodium_bin2hex(hex, sizeof out * 2 + 1, out, sizeof out);
	return hex;
}

static void digest_begin(crypto_hash_sha256_state *h, const char *route)
{
	crypto_hash_sha256_init(h);
	static const char magic[] = "spravka-idempotency-v1\n";
	crypto_hash_sha256_update(h, (const unsigned char *)magic, sizeof magic - 1);
	digest_field(h, "route", route ? route : "");
}

const char *req_input_digest(struct arena *a, const char *route, const struct req_input *in)
{
	crypto_hash_sha256_state h;
	digest_begin(&h, route);
	const char *const names[] = {"member_id", "name",	  "email",   "phone",	   "country",
				     "topic",	  "order_number", "subject", "description"};
	const char *const vals[] = {in->member_id, in->name,	     in->email,	  in->phone,	  in->country,
				    in->topic,	   in->order_number, in->subject, in->description};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		digest_field(&h, names[i], vals[i]);
	digest_files(&h, in->files, in->n_files);
	return digest_end(a, &h);
}

/* ---- throttling ---- */

static int64_t window_of(int window_s)
{
	int64_t now = (int64_t)time(NULL);
	return now - now % window_s;
}

/* The per-IP and per-member limits: one row per key (its primary key). */
const char req_throttle_sql[] = "SELECT hits FROM throttle WHERE key = ? AND window_start = ?";
const char req_throttle_hit_sql[] =
    "INSERT INTO throttle(key, window_start, hits) VALUES (?, ?, 1) ON CONFLICT (key) DO UPDATE SET hits = CASE "
    "WHEN throttle.window_start = excluded.window_start THEN throttle.hits + 1 ELSE 1 END, window_start = "
    "excluded.window_start RETURNING hits";

bool req_throttled(struct db *db, const char *key, int window_s, int limit)
{
	struct db_stmt *st = db_prepare(db, req_throttle_sql);
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
	struct db_stmt *st = db_prepare(db, req_throttle_sql);
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
	struct db_stmt *st = db_prepare(db, req_throttle_hit_sql);
	if (!st)
		return false;
	db_bind_text(st, 1, key);
	db_bind_int(st, 2, window_of(window_s));
	bool over = db_step(st) == DB_ROW && db_col_int(st, 0) > limit;
	db_finalize(st);
	return over;
}

/*
 * A creation's limits: the hits of its address are spread over DB_SLOTS rows (key#slot, the slot
 * of the thread that counts; db.h), since every creation from one address (a whole office behind
 * one NAT, a benchmark on loopback) would otherwise change one row and wait for the commit of the
 * creation before; the member's are one row. Read in one statement: the address's rows of this
 * window summed (a range of the key: `+window_start` keeps the planner off throttle_window, which
 * in the first hour of a UTC day, when the hour's window starts where the day's does, holds every
 * member counted that day), then the member's hits.
 */
const char req_create_limits_sql[] =
    "SELECT (SELECT COALESCE(sum(hits), 0) FROM throttle WHERE key >= ? AND key < ? AND +window_start = ?), "
    "(SELECT COALESCE(max(hits), 0) FROM throttle WHERE key = ? AND window_start = ?)";
/* Both hits of a creation at once (two rows, the address's slot first). */
const char req_create_hits_sql[] =
    "INSERT INTO throttle(key, window_start, hits) VALUES (?, ?, 1), (?, ?, 1) ON CONFLICT (key) DO UPDATE SET "
    "hits = CASE WHEN throttle.window_start = excluded.window_start THEN throttle.hits + 1 ELSE 1 END, "
    "window_start = excluded.window_start";

/* Whether the address or the member reached its limit of creations. */
static bool create_limited(struct db *db, const struct req_create_job *j)
{
	struct db_stmt *st = db_prepare(db, req_create_limits_sql);
	if (!st)
		return false;
	db_bind_text(st, 1, arena_printf(j->a, "%s#", j->ip_key));
	db_bind_text(st, 2, arena_printf(j->a, "%s$", j->ip_key)); /* '$' follows '#' */
	db_bind_int(st, 3, window_of(3600));
	db_bind_text(st, 4, j->member_key);
	db_bind_int(st, 5, window_of(86400));
	bool over = db_step(st) == DB_ROW &&
		    (db_col_int(st, 0) >= j->cfg->max_per_ip_hour || db_col_int(st, 1) >= j->cfg->max_per_member_day);
	db_finalize(st);
	return over;
}

static bool create_hits(struct db *db, const struct req_create_job *j)
{
	struct db_stmt *st = db_prepare(db, req_create_hits_sql);
	if (!st)
		return false;
	db_bind_text(st, 1, arena_printf(j->a, "%s#%d", j->ip_key, db_slot()));
	db_bind_int(st, 2, window_of(3600));
	db_bind_text(st, 3, j->member_key);
	db_bind_int(st, 4, window_of(86400));
	bool ok = db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
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
static void check_text(struct req_errors *e, const char *field, const char *v, size_t min, size_t max, bool multiline,
		       const char *missing)
{
	size_t chars = utf8_length(v);
	if (!utf8_valid(v, strlen(v)) || has_control(v, multiline))
		add_error(e, field, "Недопустимые символы: уберите служебные символы и попробуйте снова.");
	else if (chars < min)
		add_error(e, field, missing);
	else if (chars > max)
		add_error(e, field,
			  max > 1000 ? "Слишком длинный текст: не больше 10 000 символов."
				     : "Слишком длинное значение.");
}

static void check_files(struct arena *a, struct req_errors *e, struct http_file *files, int n, const char **mimes)
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
			add_error(e, "attachments",
				  arena_printf(a, "Файл «%s» больше 10 МБ.", req_clean_filename(a, files[i].filename)));
	}
	if (total > REQ_MAX_TOTAL_BYTES)
		add_error(e, "attachments", "Все файлы вместе должны занимать не больше 25 МБ.");
}

bool req_input_from_form(const struct http_request *req, struct req_input *in, struct req_errors *shape)
{
	static const char *const names[] = {"member_id", "name",	 "email",   "phone",	  "country",
					    "topic",	 "order_number", "subject", "description"};
	const char **v[] = {&in->member_id, &in->name,	       &in->email,   &in->phone,      &in->country,
			    &in->topic,	    &in->order_number, &in->subject, &in->description};
	for (size_t i = 0; i < req->n_fields; i++)
		if (strchr(req->fields[i].name, '['))
			add_error(shape, arena_strdup(req->arena, req->fields[i].name), "Поле не может быть массивом.");
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

static const char *hex_of(struct arena *a, const unsigned char *h)
{
	char *hex = arena_alloc(a, 65);
	sodium_bin2hex(hex, 65, h, 32);
	return hex;
}

/* Where the attachments' contents live (files.h). */
static struct files_store store_of(const struct req_config *cfg)
{
	return (struct files_store){.data_dir = cfg->data_dir, .in_db = cfg->files_in_db};
}

/* Stores an upload (files_put) and takes it from the request (path NULL): durable before return,
 * its directory entry too unless sync_dir is false (then the caller fsyncs files_sync_dir before
 * the commit). db: a connection outside any transaction (the database home commits its own). */
static bool store_file(struct db *db, const struct req_config *cfg, struct http_file *f, bool sync_dir)
{
	struct files_store fs = store_of(cfg);
	if (!files_put(&fs, db, f->sha256, f->path, f->size, sync_dir))
		return false;
	f->path = NULL;
	return true;
}

int req_file_open(struct db *db, const struct req_config *cfg, const char *sha256)
{
	struct files_store fs = store_of(cfg);
	return files_open(&fs, db, sha256);
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

/* An open request a new one would duplicate. */
struct dup {
	int64_t id, created;
	const char *number, *status, *email, *phone;
};

/* The member's open requests (requests_member_status), newest first. */
const char req_duplicate_sql[] =
    "SELECT r.number, r.status, r.created, r.topic, (SELECT body FROM messages m WHERE m.request_id = r.id AND "
    "m.author = 'member' ORDER BY m.id LIMIT 1), r.id, r.email, r.phone FROM requests r WHERE r.member_id = ? AND "
    "r.status IN ('new', 'open', 'waiting') AND r.merged_into IS NULL ORDER BY r.created DESC LIMIT 50";

/* 1 and the existing request when this member has an open request on the same matter. */
static int find_duplicate(struct db *db, struct arena *a, const char *member_id, const char *topic,
			  const char *description, struct dup *d)
{
	struct db_stmt *st = db_prepare(db, req_duplicate_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, member_id);
	int found = 0;
	enum db_rc rc;
	while (!found && (rc = db_step(st)) == DB_ROW) {
		if (!strcmp(db_col_text(st, 3), topic) || similarity(a, db_col_text(st, 4), description) >= 0.8) {
			*d = (struct dup){.id = db_col_int(st, 5),
					  .created = db_col_int(st, 2),
					  .number = arena_strdup(a, db_col_text(st, 0)),
					  .status = arena_strdup(a, db_col_text(st, 1)),
					  .email = arena_strdup(a, db_col_text(st, 6)),
					  .phone = arena_strdup(a, db_col_text(st, 7))};
			found = 1;
		}
	}
	db_finalize(st);
	return found;
}

/* Whether a letter about request id may go now: at most `limit` a day of this kind. */
static bool may_mail(struct db *db, struct arena *a, const char *kind, int64_t id, int limit)
{
	return !req_throttle_hit(db, arena_printf(a, "%s:%lld", kind, (long long)id), 86400, limit);
}

/*
 * The answer to a duplicate, inside the caller's write transaction. The member who gave the
 * request's own contact learns its number, status and date; anyone else learns only that the
 * member ID has an open request on this matter, and its link goes again to its own e-mail.
 * False on a database error.
 */
static bool answer_duplicate(struct db *db, const struct req_config *cfg, struct arena *a, const struct req_input *in,
			     const struct dup *d, struct req_outcome *out)
{
	if (req_contact_matches(a, d->email, d->phone, in->email, in->phone)) {
		out->existing_owner = true;
		out->existing_number = d->number;
		out->existing_status = d->status;
		out->existing_created = d->created;
		return true;
	}
	out->existing_owner = false;
	out->existing_number = out->existing_status = NULL;
	out->existing_created = 0;
	if (!*d->email) {
		out->contact_masked = req_mask_phone(a, d->phone);
		out->link_mail = REQ_LINK_NO_EMAIL;
		return true;
	}
	out->contact_masked = req_mask_email(a, d->email);
	if (!may_mail(db, a, "link-mail", d->id, 3)) {
		out->link_mail = REQ_LINK_RECENT;
		return true;
	}
	const char *link = req_link(db, a, cfg, d->id);
	out->link_mail = REQ_LINK_SENT;
	return link &&
	       mail_enqueue(db, d->id, d->email, arena_printf(a, "Ссылка на обращение %s", d->number),
			    arena_printf(a,
					 "Здравствуйте!\n\nС вашим номером партнёра пытались отправить "
					 "новое обращение, хотя по этому вопросу у вас уже есть открытое "
					 "обращение %s. Следить за ним, отвечать и добавлять файлы можно по "
					 "ссылке:\n%s\n\nЕсли это были не вы, ничего делать не нужно: по номеру "
					 "партнёра никто не может ни открыть ваше обращение, ни написать в него.\n"
					 "Не пересылайте эту ссылку: она открывает обращение без пароля.\n",
					 d->number, link));
}

/* ---- creation ---- */

const char req_replay_sql[] = "SELECT status, response, route, digest FROM idempotency WHERE key = ? AND created > ?";

/* 1: the key answered the same route and input before (out: stored_status, stored_json); 2: it
 * was used with another input or route; 0: unknown or older than 24 hours; -1: error. */
static int replay(struct db *db, struct arena *a, const char *key, const char *route, const char *digest,
		  struct req_outcome *out)
{
	struct db_stmt *st = db_prepare(db, req_replay_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, key);
	db_bind_int(st, 2, (int64_t)time(NULL) - 24 * 3600);
	int r = 0;
	if (db_step(st) == DB_ROW) {
		const char *r_route = db_col_text(st, 2), *r_digest = db_col_text(st, 3);
		bool same = !strcmp(r_route, route) && strlen(r_digest) == strlen(digest) &&
			    sodium_memcmp(r_digest, digest, strlen(digest)) == 0;
		if (same) {
			out->stored_status = (int)db_col_int(st, 0);
			out->stored_json = arena_strdup(a, db_col_text(st, 1));
		}
		r = same ? 1 : 2;
	}
	db_finalize(st);
	return r;
}

/* Stores the answer to key (inside the caller's write transaction); an expired row of the same
 * key gives way. */
static bool remember(struct db *db, const char *key, const char *route, const char *digest, int status,
		     const char *json)
{
	int64_t now = (int64_t)time(NULL);
	struct db_stmt *st = db_prepare(db, "DELETE FROM idempotency WHERE key = ? AND created <= ?");
	bool ok = st && db_bind_text(st, 1, key) == DB_OK && db_bind_int(st, 2, now - 24 * 3600) == DB_OK &&
		  db_step(st) == DB_DONE;
	db_finalize(st);
	st = ok ? db_prepare(db, "INSERT INTO idempotency(key, route, digest, status, response, created) "
				 "VALUES (?, ?, ?, ?, ?, ?)")
		: NULL;
	ok = st && db_bind_text(st, 1, key) == DB_OK && db_bind_text(st, 2, route) == DB_OK &&
	     db_bind_text(st, 3, digest) == DB_OK && db_bind_int(st, 4, status) == DB_OK &&
	     db_bind_text(st, 5, json) == DB_OK && db_bind_int(st, 6, now) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

const char req_prune_idempotency_sql[] =
    "DELETE FROM idempotency WHERE key IN (SELECT key FROM idempotency WHERE created <= ? LIMIT ?)";
const char req_prune_held_sql[] =
    "DELETE FROM held_additions WHERE id IN (SELECT id FROM held_additions WHERE expires <= ? LIMIT ?)";

int req_prune(struct db *db, int batch)
{
	const char *const sql[] = {req_prune_idempotency_sql, req_prune_held_sql};
	int64_t now = (int64_t)time(NULL);
	const int64_t cutoff[] = {now - 24 * 3600, now};
	int n = 0;
	for (int i = 0; i < 2; i++) {
		struct db_stmt *st = db_prepare(db, sql[i]);
		bool ok = st && db_bind_int(st, 1, cutoff[i]) == DB_OK && db_bind_int(st, 2, batch) == DB_OK &&
			  db_step(st) == DB_DONE;
		db_finalize(st);
		if (!ok)
			return -1;
		n += (int)db_changes(db);
	}
	return n;
}

/*
 * The next number of year (its row in counters: "requests-YEAR"). SQLite, one writer: the row
 * holds the last number given, incremented. PostgreSQL: a number is the sequence request_numbers'
 * next value minus the row's value (schema.c, migration 14), so that concurrent creations take
 * numbers without waiting for each other; numbers may have gaps (a creation rolled back). The
 * year's first creation makes its row, with the value that makes its own number 1; a creation
 * that finds the row being made waits for it (ON CONFLICT) and then reads it: its value from the
 * sequence, taken after, is larger.
 */
static int64_t next_number(struct db *db, int year)
{
	char name[32];
	snprintf(name, sizeof name, "requests-%d", year);
	int64_t v = -1;
	for (int attempt = 0; v < 0 && attempt < 3; attempt++) {
		struct db_stmt *st = db_prepare(
		    db,
		    db_engine_sql(db,
				  "INSERT INTO counters(name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET "
				  "value = counters.value + 1 RETURNING value",
				  "SELECT nextval('request_numbers') - value FROM counters WHERE name = ?"));
		if (!st)
			return -1;
		db_bind_text(st, 1, name);
		enum db_rc rc = db_step(st);
		v = rc == DB_ROW ? db_col_int(st, 0) : -1;
		db_finalize(st);
		if (rc != DB_DONE)
			return v; /* the number, or an error */
		/* PostgreSQL, the year's first creation. */
		st = db_prepare(db, "INSERT INTO counters(name, value) VALUES (?, nextval('request_numbers') - 1) "
				    "ON CONFLICT (name) DO NOTHING RETURNING 1");
		if (!st)
			return -1;
		db_bind_text(st, 1, name);
		rc = db_step(st);
		v = rc == DB_ROW ? 1 : -1;
		db_finalize(st);
		if (rc != DB_ROW && rc != DB_DONE)
			return -1;
	}
	return v;
}

static int64_t insert_message(struct db *db, int64_t request_id, const char *author, int64_t user_id, bool internal,
			      const char *body)
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

static void validate(const struct req_config *cfg, struct arena *a, const struct req_input *in, struct req_outcome *out,
		     const char **mimes)
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
		add_error(e, "member_id",
			  arena_printf(a, "Номер партнёра — это %d–%d цифр, без букв и пробелов.", cfg->member_id_min,
				       cfg->member_id_max));
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
			add_error(e, "phone",
				  "Проверьте номер телефона: укажите его с кодом страны, например +7 900 123-45-67.");
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
	check_text(e, "subject", trimmed(a, in->subject), 3, 200, false,
		   "Кратко опишите тему обращения (от 3 символов).");
	const char *desc = trimmed(a, in->description);
	check_text(e, "description", desc, REQ_MIN_DESCRIPTION, 10000, true,
		   "Опишите вопрос подробнее — хотя бы 20 символов: что случилось и что вы уже пробовали.");
	check_files(a, e, in->files, in->n_files, mimes);
}

static const char *answer_json(struct arena *a, const char *number, const char *token)
{
	json_t *j =
	    json_pack("{s:s,s:s,s:s}", "number", number, "status", "new", "url", arena_printf(a, "/r/%s", token));
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
	j->route = in->route ? in->route : "create";
	if (in->idempotency_key) {
		j->digest = req_input_digest(a, j->route, in);
		int r = replay(db, a, in->idempotency_key, j->route, j->digest, out);
		if (r != 0) {
			j->result = r == 1 ? REQ_REPLAYED : r == 2 ? REQ_MISMATCH : REQ_FAILED;
			return false;
		}
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
	if (create_limited(db, j)) {
		/* The open request on the same matter helps more than "too many requests". */
		struct dup d;
		if (find_duplicate(db, a, j->member, j->topic, j->desc, &d) > 0) {
			bool ok = db_begin_write(db) == DB_OK;
			ok = ok && answer_duplicate(db, cfg, a, in, &d, out) && db_commit(db) == DB_OK;
			if (!ok)
				db_rollback(db);
			j->result = ok ? REQ_DUPLICATE : REQ_FAILED;
			return false;
		}
		out->message = "Слишком много обращений за короткое время. Дождитесь ответа на уже "
			       "отправленные или попробуйте позже.";
		j->result = REQ_LIMITED;
		return false;
	}
	if (in->n_files) {
		struct files_store fs = store_of(cfg);
		j->job.sync_dir = files_sync_dir(&fs, a);
	}
	return true;
}

/*
 * Files are made durable before the transaction that refers to them commits. Directory: their
 * content here (an fsync each), their names by an fsync of DATA/files just before the commit
 * (once for a whole group of creations on the group committer). Database: each in a committed
 * transaction of its own on db, before the creation's. False when one could not be stored.
 */
static bool store_files(struct req_create_job *j, struct db *db)
{
	for (int i = 0; i < j->in.n_files; i++)
		if (!store_file(db, j->cfg, &j->in.files[i], false)) {
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
	 * is seen here. With several writers (nodes on PostgreSQL) the key's and the member's locks
	 * make the checks below see what a concurrent creation committed (db_lock_key; key first,
	 * then member, in every creation). */
	if ((in->idempotency_key && db_lock_key(db, arena_printf(a, "idempotency:%s", in->idempotency_key)) != DB_OK) ||
	    db_lock_key(db, arena_printf(a, "member:%s", j->member)) != DB_OK)
		return REQ_FAILED;
	if (in->idempotency_key) {
		int r = replay(db, a, in->idempotency_key, j->route, j->digest, out);
		if (r != 0)
			return r == 1 ? REQ_REPLAYED : r == 2 ? REQ_MISMATCH : REQ_FAILED;
	}
	struct dup d;
	int dup = find_duplicate(db, a, j->member, j->topic, j->desc, &d);
	if (dup != 0) /* the link mailed again is kept (job_run) */
		return dup > 0 && answer_duplicate(db, cfg, a, in, &d, out) ? REQ_DUPLICATE : REQ_FAILED;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int64_t seq = next_number(db, tm.tm_year + 1900);
	if (seq < 0)
		return REQ_FAILED;
	const char *number = arena_printf(a, "R-%d-%06lld", tm.tm_year + 1900, (long long)seq);
	const char *nonce = new_nonce(a);
	const char *token = derive_token(a, cfg, nonce);
	struct db_stmt *st = db_prepare(
	    db, "INSERT INTO requests(number, token_hash, member_id, name, email, phone, country, topic, "
		"order_number, subject, link_nonce, status, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
		"?, ?, 'new', ?, ?) RETURNING id");
	if (!st)
		return REQ_FAILED;
	const char *vals[] = {number,
			      req_token_hash(a, token),
			      j->member,
			      trimmed(a, in->name),
			      trimmed(a, in->email),
			      out->phone_e164 ? out->phone_e164 : "",
			      trimmed(a, in->country),
			      j->topic,
			      trimmed(a, in->order_number),
			      trimmed(a, in->subject),
			      nonce};
	for (int i = 0; i < 11; i++)
		db_bind_text(st, i + 1, vals[i]);
	db_bind_int(st, 12, (int64_t)now);
	db_bind_int(st, 13, (int64_t)now);
	int64_t id = db_step(st) == DB_ROW ? db_col_int(st, 0) : -1;
	db_finalize(st);
	if (id < 0 || !req_counts_add(db, "new", 1))
		return REQ_FAILED;
	int64_t msg = insert_message(db, id, "member", 0, false, j->desc);
	if (msg < 0 || !insert_attachments(db, a, id, msg, in->files, j->mimes, in->n_files))
		return REQ_FAILED;
	if (!create_hits(db, j))
		return REQ_FAILED;
	const char *json = answer_json(a, number, token);
	if (in->idempotency_key && !remember(db, in->idempotency_key, j->route, j->digest, 201, json))
		return REQ_FAILED;
	const char *email = trimmed(a, in->email);
	if (*email && !mail_enqueue(db, id, email, arena_printf(a, "Обращение %s принято", number),
				    arena_printf(a,
						 "Здравствуйте!\n\nВаше обращение %s «%s» принято. Следить за "
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

/* After the transaction. A file stored for a request that was not created stays: another
 * creation may be using the same content right now; the sweep removes it once it is old and
 * unreferenced. */
static void create_end(struct db *db, struct req_create_job *j, bool committed)
{
	(void)db;
	if (!committed)
		j->result = REQ_FAILED;
	if (j->result == REQ_CREATED)
		return;
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
	/* A duplicate keeps its letter with the link (and the throttle hit of that letter). */
	return j->result == REQ_CREATED || j->result == REQ_DUPLICATE;
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
	struct db_pool *pool = j->cfg->files_in_db ? j->cfg->files_pool : NULL;
	struct db *db = pool ? db_pool_get(pool) : NULL;
	j->files_failed = !store_files(j, db);
	if (db)
		db_pool_put(pool, db);
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

enum req_result req_create(struct db *db, const struct req_config *cfg, struct arena *a, const struct req_input *in,
			   struct req_outcome *out)
{
	struct req_create_job j = {.cfg = cfg, .a = a, .in = *in};
	if (req_create_check(db, &j)) {
		struct files_store fs = store_of(cfg);
		bool stored = store_files(&j, db);
		bool began = stored && (!j.job.sync_dir || files_sync(&fs)) && db_begin_write(db) == DB_OK;
		if (!began && stored)
			j.out.message = "Сервис временно перегружен. Попробуйте отправить обращение ещё раз.";
		j.result = began ? create_tx(db, &j) : REQ_FAILED;
		bool keep = j.result == REQ_CREATED || j.result == REQ_DUPLICATE;
		bool committed = keep && db_commit(db) == DB_OK;
		if (began && !committed)
			db_rollback(db);
		/* A replay stands after its rollback; a creation or a duplicate only if committed. */
		create_end(db, &j, !keep || committed);
	}
	*out = j.out; /* the files were moved in in's own array (j.in shares it) */
	return j.result;
}

/* ---- reading ---- */

#define COL(i) arena_strdup(a, db_col_text(st, (i)))

#define VIEW_SELECT                                                                                                    \
	"SELECT r.id, r.number, r.member_id, r.name, r.email, r.phone, r.country, r.topic, r.order_number, "           \
	"r.subject, r.status, u.login, r.created, r.updated, r.merged_into FROM requests r LEFT JOIN users u ON "      \
	"u.id = r.assignee WHERE "
const char req_view_by_number_sql[] = VIEW_SELECT "r.number = ?";
const char req_view_by_id_sql[] = VIEW_SELECT "r.id = ?";
/* The token's hash is looked up (an index), never the token compared; bound twice (numbered
 * parameters such as ?1 are SQLite's). */
const char req_view_by_token_sql[] = VIEW_SELECT "(r.token_hash = ? OR r.link_hash = ?)";
/* The latest `limit` messages (a member sees no internal notes), newest first: load_view turns
 * them back into their order. */
const char req_view_messages_sql[] =
    "SELECT m.id, m.author, u.login, m.internal, m.body, m.created FROM messages m LEFT JOIN users u "
    "ON u.id = m.user_id WHERE m.request_id = ? AND (? = 0 OR m.internal = 0) ORDER BY m.id DESC LIMIT ?";
const char req_view_message_count_sql[] =
    "SELECT count(*) FROM messages WHERE request_id = ? AND (? = 0 OR internal = 0)";
const char req_view_attachments_sql[] = "SELECT id, message_id, sha256, mime, filename, size FROM attachments "
					"WHERE request_id = ? ORDER BY id";

/* The request a statement finds: by_token (its hash bound twice), by_number (text) or by_id. */
enum view_key { BY_TOKEN, BY_NUMBER, BY_ID };

static int load_view(struct db *db, struct arena *a, enum view_key by, const char *key, int64_t id, bool member,
		     struct req_view *v)
{
	struct db_stmt *st = db_prepare(db, by == BY_TOKEN    ? req_view_by_token_sql
					    : by == BY_NUMBER ? req_view_by_number_sql
							      : req_view_by_id_sql);
	if (!st)
		return -1;
	if (by == BY_ID)
		db_bind_int(st, 1, id);
	else
		db_bind_text(st, 1, key);
	if (by == BY_TOKEN)
		db_bind_text(st, 2, key);
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
		int r = load_view(db, a, BY_ID, NULL, merged, member, v);
		if (r > 0) {
			v->merged_from = from;
			v->merged_into_number = v->number;
		}
		return r;
	}
	int limit = member ? REQ_MEMBER_MESSAGES : 1 << 30;
	st = db_prepare(db, req_view_messages_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, v->id);
	db_bind_int(st, 2, member);
	db_bind_int(st, 3, limit);
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
		v->messages[v->n_messages++] = (struct req_message){.id = db_col_int(st, 0),
								    .author = COL(1),
								    .agent = db_col_null(st, 2) ? NULL : COL(2),
								    .internal = db_col_int(st, 3) != 0,
								    .body = COL(4),
								    .created = db_col_int(st, 5)};
	}
	db_finalize(st);
	for (int i = 0, j = v->n_messages - 1; i < j; i++, j--) { /* oldest first */
		struct req_message m = v->messages[i];
		v->messages[i] = v->messages[j];
		v->messages[j] = m;
	}
	v->n_messages_total = v->n_messages;
	if (v->n_messages == limit) {
		st = db_prepare(db, req_view_message_count_sql);
		if (!st)
			return -1;
		db_bind_int(st, 1, v->id);
		db_bind_int(st, 2, member);
		if (db_step(st) == DB_ROW)
			v->n_messages_total = (int)db_col_int(st, 0);
		db_finalize(st);
	}
	st = db_prepare(db, req_view_attachments_sql);
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
		v->attachments[v->n_attachments++] = (struct req_attachment){.id = db_col_int(st, 0),
									     .message_id = db_col_int(st, 1),
									     .sha256 = COL(2),
									     .mime = COL(3),
									     .filename = COL(4),
									     .size = db_col_int(st, 5)};
	}
	db_finalize(st);
	return 1;
}

int req_by_token(struct db *db, struct arena *a, const char *token, bool member, struct req_view *out)
{
	if (strlen(token) != 43)
		return 0;
	return load_view(db, a, BY_TOKEN, req_token_hash(a, token), 0, member, out);
}

int req_by_number(struct db *db, struct arena *a, const char *number, struct req_view *out)
{
	return load_view(db, a, BY_NUMBER, number, 0, false, out);
}

/* Reopens a request after a member's message (new stays new), inside the caller's transaction. */
static bool reopen(struct db *db, int64_t request_id)
{
	struct db_stmt *st = db_prepare(db, "UPDATE requests SET status = CASE WHEN status = 'new' THEN 'new' ELSE "
					    "'open' END, updated = ?, resolved_at = NULL WHERE id = ?");
	bool ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK && db_bind_int(st, 2, request_id) == DB_OK &&
		  req_update_counted(db, request_id, st);
	db_finalize(st);
	return ok;
}

enum req_result req_member_reply(struct db *db, const struct req_config *cfg, struct arena *a, int64_t request_id,
				 const char *text, struct http_file *files, int n_files, const char *form_key,
				 struct req_outcome *out)
{
	memset(out, 0, sizeof *out);
	/* The key is bound to this request and this message. */
	const char *route = "reply", *digest = NULL;
	if (form_key) {
		crypto_hash_sha256_state h;
		digest_begin(&h, route);
		digest_field(&h, "request", arena_printf(a, "%lld", (long long)request_id));
		digest_field(&h, "message", text);
		digest_files(&h, files, n_files);
		digest = digest_end(a, &h);
		int r = replay(db, a, form_key, route, digest, out);
		if (r != 0)
			return r == 1 ? REQ_REPLAYED : r == 2 ? REQ_MISMATCH : REQ_FAILED;
	}
	const char **mimes = arena_alloc(a, (size_t)(n_files + 1) * sizeof *mimes);
	const char *body = trimmed(a, text);
	check_text(&out->errors, "message", body, 1, 10000, true, "Напишите сообщение.");
	check_files(a, &out->errors, files, n_files, mimes);
	if (out->errors.n)
		return REQ_INVALID;
	for (int i = 0; i < n_files; i++)
		if (!store_file(db, cfg, &files[i], true))
			return REQ_FAILED; /* what was stored stays for the sweep */
	if (db_begin_write(db) != DB_OK)
		return REQ_FAILED;
	int64_t msg = insert_message(db, request_id, "member", 0, false, body);
	bool ok =
	    msg > 0 && insert_attachments(db, a, request_id, msg, files, mimes, n_files) && reopen(db, request_id);
	if (ok && form_key)
		ok = remember(db, form_key, route, digest, 303, "{}");
	if (ok && db_commit(db) == DB_OK)
		return REQ_CREATED;
	db_rollback(db);
	return REQ_FAILED;
}

enum req_result req_append(struct db *db, const struct req_config *cfg, struct arena *a, const char *link,
			   const char *text, struct http_file *files, int n_files, const char *form_key,
			   struct req_outcome *out)
{
	memset(out, 0, sizeof *out);
	/* The whole link or just its token; only the token's hash is looked up. */
	const char *token = link ? trimmed(a, link) : "";
	const char *r = strstr(token, "/r/");
	if (r)
		token = r + 3;
	token = arena_strndup(a, token, strcspn(token, "/?# "));
	struct req_view v;
	int found = req_by_token(db, a, token, true, &v);
	if (found < 0)
		return REQ_FAILED;
	if (!found) {
		add_error(&out->errors, "append_to",
			  "Эта ссылка не открывает ни одного обращения. Скопируйте её целиком из письма или со "
			  "страницы, которую вы видели после отправки обращения.");
		return REQ_INVALID;
	}
	enum req_result res = req_member_reply(db, cfg, a, v.id, text, files, n_files, form_key, out);
	for (int i = 0; res == REQ_INVALID && i < out->errors.n; i++)
		if (!strcmp(out->errors.field[i], "message"))
			out->errors.field[i] = "description";
	out->existing_number = v.number;
	return res;
}

/* ---- held additions ---- */

enum req_result req_hold(struct db *db, const struct req_config *cfg, struct arena *a, const struct req_input *in,
			 const char *original, struct req_outcome *out)
{
	memset(out, 0, sizeof *out);
	const char *route = "hold", *digest = NULL;
	const char *body = trimmed(a, in->description);
	if (in->idempotency_key) {
		crypto_hash_sha256_state h;
		digest_begin(&h, route);
		digest_field(&h, "input", req_input_digest(a, route, in));
		digest_field(&h, "original", original);
		digest = digest_end(a, &h);
		int r = replay(db, a, in->idempotency_key, route, digest, out);
		if (r != 0)
			return r == 1 ? REQ_REPLAYED : r == 2 ? REQ_MISMATCH : REQ_FAILED;
	}
	const char **mimes = arena_alloc(a, (size_t)(in->n_files + 1) * sizeof *mimes);
	check_text(&out->errors, "description", body, 1, 10000, true, "Напишите, что добавить к обращению.");
	check_files(a, &out->errors, in->files, in->n_files, mimes);
	if (out->errors.n)
		return REQ_INVALID;
	const char *ip_key = arena_printf(a, "hold-ip:%s", in->client_ip ? in->client_ip : "?");
	if (req_throttled(db, ip_key, 3600, 20)) {
		out->message = "Слишком много попыток за короткое время. Попробуйте позже.";
		return REQ_LIMITED;
	}
	struct dup d;
	int found = find_duplicate(db, a, trimmed(a, in->member_id), trimmed(a, in->topic),
				   original && *original ? trimmed(a, original) : body, &d);
	if (found < 0)
		return REQ_FAILED;
	if (!found) {
		add_error(&out->errors, "request",
			  "Открытого обращения по этому вопросу больше нет. Отправьте новое обращение — "
			  "всё, что вы написали, осталось в форме.");
		return REQ_INVALID;
	}
	json_t *fj = json_array();
	for (int i = 0; i < in->n_files; i++) {
		if (!store_file(db, cfg, &in->files[i], true)) {
			json_decref(fj);
			out->message = "Не удалось сохранить файлы. Попробуйте позже.";
			return REQ_FAILED;
		}
		json_array_append_new(fj, json_pack("{s:s,s:I,s:s,s:s}", "sha256", hex_of(a, in->files[i].sha256),
						    "size", (json_int_t)in->files[i].size, "mime", mimes[i], "filename",
						    req_clean_filename(a, in->files[i].filename)));
	}
	char *files_json = json_dumps(fj, JSON_COMPACT);
	json_decref(fj);
	const char *files_text = arena_strdup(a, files_json ? files_json : "[]");
	free(files_json);
	if (db_begin_write(db) != DB_OK)
		return REQ_FAILED;
	int64_t now = (int64_t)time(NULL);
	req_throttle_hit(db, ip_key, 3600, 20);
	/* At most REQ_MAX_HELD wait: a new one drops the oldest, so that nobody can fill the place. */
	struct db_stmt *st = db_prepare(db, "DELETE FROM held_additions WHERE request_id = ? AND id NOT IN (SELECT id "
					    "FROM held_additions WHERE request_id = ? ORDER BY id DESC LIMIT ?)");
	bool ok = st && db_bind_int(st, 1, d.id) == DB_OK && db_bind_int(st, 2, d.id) == DB_OK &&
		  db_bind_int(st, 3, REQ_MAX_HELD - 1) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	st = ok ? db_prepare(db, "INSERT INTO held_additions(request_id, body, files, created, expires) VALUES "
				 "(?, ?, ?, ?, ?) RETURNING id")
		: NULL;
	ok = st && db_bind_int(st, 1, d.id) == DB_OK && db_bind_text(st, 2, body) == DB_OK &&
	     db_bind_text(st, 3, files_text) == DB_OK && db_bind_int(st, 4, now) == DB_OK &&
	     db_bind_int(st, 5, now + REQ_HELD_SECONDS) == DB_OK && db_step(st) == DB_ROW;
	int64_t held_id = ok ? db_col_int(st, 0) : 0;
	db_finalize(st);
	/* The sweep finds a held file by its hash (held_files); the rows go with the addition
	 * (ON DELETE CASCADE). */
	st = ok && in->n_files ? db_prepare(db, "INSERT INTO held_files(held_id, sha256) VALUES (?, ?)") : NULL;
	ok = ok && (!in->n_files || st);
	for (int i = 0; ok && st && i < in->n_files; i++) {
		db_reset(st);
		ok = db_bind_int(st, 1, held_id) == DB_OK &&
		     db_bind_text(st, 2, hex_of(a, in->files[i].sha256)) == DB_OK && db_step(st) == DB_DONE;
	}
	db_finalize(st);
	if (!*d.email) {
		out->contact_masked = req_mask_phone(a, d.phone);
		out->link_mail = REQ_LINK_NO_EMAIL;
	} else {
		out->contact_masked = req_mask_email(a, d.email);
		out->link_mail = REQ_LINK_RECENT;
		if (ok && may_mail(db, a, "hold-mail", d.id, 5)) {
			const char *link = req_link(db, a, cfg, d.id);
			out->link_mail = REQ_LINK_SENT;
			ok = link &&
			     mail_enqueue(db, d.id, d.email,
					  arena_printf(a, "Подтвердите дополнение к обращению %s", d.number),
					  /* The held text itself is not in the letter: anyone who knows a
					   * member ID could otherwise send any text in the company's name to
					   * the member's address. It is read on the private page. */
					  arena_printf(a,
						       "Здравствуйте!\n\nЧерез форму на сайте к вашему обращению %s "
						       "хотят добавить текст%s. Он появится в обращении, только если "
						       "вы откроете обращение по ссылке ниже, прочитаете его и нажмёте "
						       "«Добавить в обращение». Если это писали не вы, нажмите "
						       "«Отклонить» или ничего не делайте: через 3 дня текст удалится "
						       "сам.\n\n%s\n\nНе пересылайте эту ссылку: она открывает "
						       "обращение без пароля.\n",
						       d.number, in->n_files ? " и файлы" : "", link));
		}
	}
	const char *mail = out->link_mail == REQ_LINK_SENT     ? "sent"
			   : out->link_mail == REQ_LINK_RECENT ? "recent"
							       : "none";
	json_t *ans = json_pack("{s:s,s:s}", "contact", out->contact_masked, "mail", mail);
	char *ans_text = json_dumps(ans, JSON_COMPACT);
	json_decref(ans);
	out->stored_json = arena_strdup(a, ans_text ? ans_text : "{}");
	free(ans_text);
	if (ok && in->idempotency_key)
		ok = remember(db, in->idempotency_key, route, digest, 202, out->stored_json);
	if (ok && db_commit(db) == DB_OK)
		return REQ_CREATED;
	db_rollback(db);
	return REQ_FAILED;
}

const char req_held_list_sql[] = "SELECT id, body, files, created, expires FROM held_additions WHERE request_id = ? "
				 "AND expires > ? ORDER BY id LIMIT ?";

int req_held_list(struct db *db, struct arena *a, int64_t request_id, struct req_held **out)
{
	*out = NULL;
	struct db_stmt *st = db_prepare(db, req_held_list_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, request_id);
	db_bind_int(st, 2, (int64_t)time(NULL));
	db_bind_int(st, 3, REQ_MAX_HELD);
	struct req_held *h = arena_alloc(a, REQ_MAX_HELD * sizeof *h);
	int n = 0;
	while (n < REQ_MAX_HELD && db_step(st) == DB_ROW) {
		struct req_held *x = &h[n++];
		*x = (struct req_held){.id = db_col_int(st, 0),
				       .body = COL(1),
				       .created = db_col_int(st, 3),
				       .expires = db_col_int(st, 4)};
		json_t *fj = json_loads(db_col_text(st, 2), 0, NULL);
		size_t nf = json_is_array(fj) ? json_array_size(fj) : 0;
		x->filenames = arena_alloc(a, (nf + 1) * sizeof *x->filenames);
		for (size_t i = 0; i < nf; i++) {
			const char *name = json_string_value(json_object_get(json_array_get(fj, i), "filename"));
			x->filenames[x->n_files++] = arena_strdup(a, name ? name : "file");
		}
		json_decref(fj);
	}
	db_finalize(st);
	*out = h;
	return n;
}

enum req_result req_held_resolve(struct db *db, struct arena *a, int64_t request_id, int64_t held_id, bool confirm)
{
	if (db_begin_write(db) != DB_OK)
		return REQ_FAILED;
	struct db_stmt *st = db_prepare(db, "SELECT body, files FROM held_additions WHERE id = ? AND request_id = ? "
					    "AND expires > ?");
	if (!st) {
		db_rollback(db);
		return REQ_FAILED;
	}
	db_bind_int(st, 1, held_id);
	db_bind_int(st, 2, request_id);
	db_bind_int(st, 3, (int64_t)time(NULL));
	enum db_rc rc = db_step(st);
	const char *body = rc == DB_ROW ? COL(0) : NULL, *files = rc == DB_ROW ? COL(1) : NULL;
	db_finalize(st);
	if (!body) {
		db_rollback(db);
		return rc == DB_DONE ? REQ_INVALID : REQ_FAILED;
	}
	bool ok = true;
	if (confirm) {
		int64_t msg = insert_message(db, request_id, "member", 0, false, body);
		ok = msg > 0 && reopen(db, request_id);
		json_t *fj = json_loads(files, 0, NULL);
		st =
		    ok ? db_prepare(db, "INSERT INTO attachments(request_id, message_id, sha256, size, mime, filename, "
					"created) VALUES (?, ?, ?, ?, ?, ?, ?)")
		       : NULL;
		ok = ok && st;
		for (size_t i = 0; ok && i < json_array_size(fj); i++) {
			json_t *f = json_array_get(fj, i);
			const char *sha = json_string_value(json_object_get(f, "sha256"));
			const char *mime = json_string_value(json_object_get(f, "mime"));
			const char *name = json_string_value(json_object_get(f, "filename"));
			db_reset(st);
			ok = sha && mime && name && db_bind_int(st, 1, request_id) == DB_OK &&
			     db_bind_int(st, 2, msg) == DB_OK && db_bind_text(st, 3, sha) == DB_OK &&
			     db_bind_int(st, 4, json_integer_value(json_object_get(f, "size"))) == DB_OK &&
			     db_bind_text(st, 5, mime) == DB_OK && db_bind_text(st, 6, name) == DB_OK &&
			     db_bind_int(st, 7, (int64_t)time(NULL)) == DB_OK && db_step(st) == DB_DONE;
		}
		db_finalize(st);
		json_decref(fj);
	}
	st = ok ? db_prepare(db, "DELETE FROM held_additions WHERE id = ?") : NULL;
	ok = st && db_bind_int(st, 1, held_id) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	if (ok && db_commit(db) == DB_OK)
		return REQ_CREATED;
	db_rollback(db);
	return REQ_FAILED;
}

/* ---- lost links ---- */

/* One member's requests that are not closed (requests_member_status); the sort is over those. */
const char req_send_links_sql[] =
    "SELECT id, number, subject, email FROM requests WHERE member_id = ? AND status IN ('new', 'open', 'waiting', "
    "'resolved') AND merged_into IS NULL AND email <> '' ORDER BY lower(email), id DESC LIMIT 20";

int req_send_links(struct db *db, const struct req_config *cfg, struct arena *a, const char *member_id)
{
	if (db_begin_write(db) != DB_OK)
		return -1;
	struct db_stmt *st = db_prepare(db, req_send_links_sql);
	if (!st) {
		db_rollback(db);
		return -1;
	}
	db_bind_text(st, 1, trimmed(a, member_id));
	struct row {
		int64_t id;
		const char *number, *subject, *email;
	} rows[20];
	int n = 0;
	while (n < 20 && db_step(st) == DB_ROW)
		rows[n++] = (struct row){db_col_int(st, 0), COL(1), COL(2), COL(3)};
	db_finalize(st);
	int letters = 0;
	bool ok = true;
	for (int i = 0; ok && i < n;) {
		/* One letter per address with the links of its requests. */
		struct buf b;
		buf_init(&b, 1u << 16);
		buf_adds(&b, "Здравствуйте!\n\nВы (или кто-то другой) попросили прислать ссылки на незакрытые "
			     "обращения с вашим номером партнёра. Вот они:\n\n");
		int k = i;
		for (; ok && k < n && !strcasecmp(rows[k].email, rows[i].email); k++) {
			const char *link = req_link(db, a, cfg, rows[k].id);
			ok = link != NULL;
			if (ok)
				buf_adds(&b, arena_printf(a, "%s «%s»\n%s\n\n", rows[k].number, rows[k].subject, link));
		}
		buf_adds(&b, "Если вы ничего не запрашивали, ничего делать не нужно: ссылки приходят только на "
			     "почту, указанную в обращении.\nНе пересылайте эти ссылки: они открывают обращения без "
			     "пароля.\n");
		ok = ok && !b.err &&
		     mail_enqueue(db, rows[i].id, rows[i].email, "Ссылки на ваши обращения", buf_str(&b));
		buf_free(&b);
		letters++;
		i = k;
	}
	if (ok && db_commit(db) == DB_OK)
		return letters;
	db_rollback(db);
	return -1;
}

/* ---- keys shared by the nodes ---- */

/*
 * The 32-byte key kept in the `secrets` row name, made on first use from imported (32 bytes) or
 * at random; ON CONFLICT makes two nodes that start together agree on the first one written.
 */
static bool shared_key(struct db *db, const char *name, const unsigned char *imported, unsigned char key[32])
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct db_stmt *st = db_prepare(db, "SELECT value FROM secrets WHERE name = ?");
		if (!st)
			return false;
		db_bind_text(st, 1, name);
		bool found = db_step(st) == DB_ROW;
		size_t n = 0;
		bool ok =
		    found &&
		    sodium_hex2bin(key, 32, db_col_text(st, 0), strlen(db_col_text(st, 0)), NULL, &n, NULL) == 0 &&
		    n == 32;
		db_finalize(st);
		if (found)
			return ok;
		unsigned char fresh[32];
		char hex[sizeof fresh * 2 + 1];
		if (imported)
			memcpy(fresh, imported, sizeof fresh);
		else
			randombytes_buf(fresh, sizeof fresh);
		sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
		st = db_prepare(db, "INSERT INTO secrets(name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING");
		bool wrote = st && db_bind_text(st, 1, name) == DB_OK && db_bind_text(st, 2, hex) == DB_OK &&
			     db_step(st) == DB_DONE;
		db_finalize(st);
		sodium_memzero(fresh, sizeof fresh);
		sodium_memzero(hex, sizeof hex);
		if (!wrote)
			return false;
	}
	return false;
}

bool req_shared_link_key(struct db *db, const unsigned char *imported, unsigned char key[32])
{
	return shared_key(db, "link", imported, key);
}

bool req_shared_key(struct db *db, const char *name, unsigned char key[32])
{
	return shared_key(db, name, NULL, key);
}

/* ---- signed form tokens ---- */

_Static_assert(crypto_auth_hmacsha256_KEYBYTES == 32, "form tokens are signed with a shared 32-byte key");

/* The key form tokens are signed with: one random key per database (the `secrets` row "form"),
 * made on first use, so every node of a cluster accepts the others' tokens. */
static bool form_key(struct db *db, unsigned char key[crypto_auth_hmacsha256_KEYBYTES])
{
	return shared_key(db, "form", NULL, key);
}

static const char *form_mac(struct arena *a, const unsigned char *key, const char *purpose, int64_t issued)
{
	char msg[256];
	snprintf(msg, sizeof msg, "%s|%lld", purpose, (long long)issued);
	return hmac_token(a, key, msg);
}

const char *req_form_token(struct db *db, struct arena *a, const char *purpose, int64_t issued)
{
	unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
	if (!form_key(db, key))
		return NULL;
	const char *t = arena_printf(a, "%lld.%s", (long long)issued, form_mac(a, key, purpose, issued));
	sodium_memzero(key, sizeof key);
	return t;
}

bool req_form_token_ok(struct db *db, struct arena *a, const char *purpose, const char *token, int max_age)
{
	if (!token)
		return false;
	char *end;
	long long issued = strtoll(token, &end, 10);
	int64_t now = (int64_t)time(NULL);
	if (end == token || *end != '.' || issued > now + 60 || issued < now - max_age)
		return false;
	unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
	if (!form_key(db, key))
		return false;
	const char *want = form_mac(a, key, purpose, issued);
	sodium_memzero(key, sizeof key);
	return strlen(end + 1) == strlen(want) && sodium_memcmp(end + 1, want, strlen(want)) == 0;
}

bool req_deflect(struct db *db, const char *slug, const char *topic)
{
	struct db_stmt *st = db_prepare(db, "INSERT INTO deflections(at, slug, topic) VALUES (?, ?, ?)");
	bool ok = st && db_bind_int(st, 1, (int64_t)time(NULL)) == DB_OK && db_bind_text(st, 2, slug) == DB_OK &&
		  db_bind_text(st, 3, topic ? topic : "") == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return ok;
}

/* ---- upkeep: the file sweep, expired throttle rows ---- */

/* Both through an index on the hash (attachments_sha256, held_files_sha256). */
const char req_file_referenced_sql[] = "SELECT 1 FROM attachments WHERE sha256 = ? UNION ALL "
				       "SELECT 1 FROM held_files WHERE sha256 = ? LIMIT 1";

/* files_referenced_fn: 1, 0 or -1 (an error keeps the file). */
static int referenced(struct db *db, const char *hex, void *arg)
{
	(void)arg;
	struct db_stmt *st = db_prepare(db, req_file_referenced_sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, hex);
	db_bind_text(st, 2, hex);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	if (rc == DB_DONE)
		return media_referenced(db, hex); /* the article images share the store (src/media) */
	return rc == DB_ROW ? 1 : -1;
}

int req_sweep_files(struct db *db, const struct req_config *cfg, int64_t older_than, int max_checks, char cursor[65])
{
	struct files_store fs = store_of(cfg);
	return files_sweep(&fs, db, older_than, max_checks, cursor, referenced, NULL);
}

const char req_prune_throttle_sql[] =
    "DELETE FROM throttle WHERE key IN (SELECT key FROM throttle WHERE window_start < ? LIMIT ?)";

int req_prune_throttle(struct db *db, int max_rows)
{
	struct db_stmt *st = db_prepare(db, req_prune_throttle_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL) - REQ_THROTTLE_MAX_WINDOW);
	db_bind_int(st, 2, max_rows);
	int n = db_step(st) == DB_DONE ? (int)db_changes(db) : -1;
	db_finalize(st);
	return n;
}
