/* Desk accounts and sessions. See auth.h. */
#include "auth.h"

#include "../core/arena.h"
#include "../db/db.h"
#include "../req/req.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Failed logins, per 15 minutes: a client is refused for one account after 5 and for every
 * account after 20; an account is never refused, only slowed down (auth_login_delay_ms). */
#define FAILS_PER_LOGIN_CLIENT 5
#define FAILS_PER_CLIENT 20
#define FAIL_WINDOW 900
#define DELAY_AFTER 3 /* failures of an account before its logins are slowed down */
#define DELAY_MAX_MS 3000

unsigned auth_roles_of(const char *role)
{
	if (!role)
		return 0;
	if (!strcmp(role, "admin"))
		return AUTH_ADMIN | AUTH_AGENT | AUTH_EDITOR;
	if (!strcmp(role, "agent"))
		return AUTH_AGENT;
	if (!strcmp(role, "editor"))
		return AUTH_EDITOR;
	return 0;
}

static bool login_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return false;
	return true;
}

bool auth_user_add(struct db *db, const char *login, const char *role, const char *password, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to start");
		return false;
	}
	if (!login_valid(login)) {
		snprintf(err, errlen, "login: 2-64 characters of a-z, 0-9, '.', '_', '-'");
		return false;
	}
	if (!auth_roles_of(role)) {
		snprintf(err, errlen, "role must be agent, editor or admin");
		return false;
	}
	size_t plen = strlen(password);
	if (plen < 10 || plen > 1024) {
		snprintf(err, errlen, "the password must be 10 to 1024 characters long");
		return false;
	}
	char hash[crypto_pwhash_STRBYTES];
	if (crypto_pwhash_str(hash, password, plen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
		snprintf(err, errlen, "out of memory while hashing the password");
		return false;
	}
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO users(login, role, password_hash, created) VALUES (?, ?, ?, ?)");
	if (!st) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return false;
	}
	db_bind_text(st, 1, login);
	db_bind_text(st, 2, role);
	db_bind_text(st, 3, hash);
	db_bind_int(st, 4, (int64_t)time(NULL));
	enum db_rc rc = db_step(st);
	db_finalize(st);
	if (rc == DB_CONSTRAINT) {
		snprintf(err, errlen, "the login \"%s\" is taken", login);
		return false;
	}
	if (rc != DB_DONE) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return false;
	}
	return true;
}

static const char *random_token(struct arena *a)
{
	return req_new_token(a);
}

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
	if (crypto_pwhash_str(dummy_hash, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		abort();
}

int auth_login_delay_ms(int failures)
{
	if (failures < DELAY_AFTER)
		return 0;
	int shift = failures - DELAY_AFTER;
	return shift >= 4 ? DELAY_MAX_MS : 250 << shift; /* 250, 500, 1000, 2000, then 3000 ms */
}

const char auth_login_sql[] = "SELECT id, password_hash FROM users WHERE login = ? AND disabled = 0";
const char auth_session_sql[] = "SELECT u.id, u.login, u.role, s.csrf FROM sessions s JOIN users u ON u.id = "
				"s.user_id WHERE s.token_hash = ? AND s.expires > ? AND u.disabled = 0";
const char auth_prune_sessions_sql[] =
    "DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions WHERE expires <= ? LIMIT ?)";
/* users is the table of desk accounts: a few dozen rows, read whole. */
const char auth_agents_sql[] = "SELECT id, login FROM users WHERE disabled = 0 AND role IN ('agent', 'admin') "
			       "ORDER BY login";

enum auth_result auth_login(struct db *db, struct arena *a, const char *login, const char *password, const char *client,
			    const char **token, const char **csrf, int *delay_ms)
{
	*delay_ms = 0;
	/* A login that cannot exist names no account: nothing is counted under it (the key would be
	 * the caller's text), but the client's failure is, and the answer costs the same. */
	bool named = login_valid(login);
	const char *kc = arena_printf(a, "login-fail-ip:%s", client);
	const char *kac = named ? arena_printf(a, "login-fail-client:%s|%s", login, client) : NULL;
	const char *ka = named ? arena_printf(a, "login-fail:%s", login) : NULL;
	if (req_throttled(db, kc, FAIL_WINDOW, FAILS_PER_CLIENT) ||
	    (kac && req_throttled(db, kac, FAIL_WINDOW, FAILS_PER_LOGIN_CLIENT)))
		return AUTH_THROTTLED;
	/* Someone is guessing this account's password (from anywhere): every answer for it comes
	 * later, its owner's too, but a right password from a client that is not throttled itself
	 * still signs in. */
	int failures = ka ? req_throttle_count(db, ka, FAIL_WINDOW) : 0;
	*delay_ms = auth_login_delay_ms(failures > 0 ? failures : 0);
	int64_t id = 0;
	char hash[crypto_pwhash_STRBYTES] = "";
	if (named) {
		struct db_stmt *st = db_prepare(db, auth_login_sql);
		if (!st)
			return AUTH_ERROR;
		db_bind_text(st, 1, login);
		if (db_step(st) == DB_ROW) {
			id = db_col_int(st, 0);
			snprintf(hash, sizeof hash, "%s", db_col_text(st, 1));
		}
		db_finalize(st);
	}
	/* An unknown login costs the same as a wrong password, so timing does not tell them apart. */
	pthread_once(&dummy_once, make_dummy);
	bool ok = crypto_pwhash_str_verify(id ? hash : dummy_hash, password, strlen(password)) == 0 && id;
	if (!ok) {
		req_throttle_hit(db, kc, FAIL_WINDOW, FAILS_PER_CLIENT);
		if (named) {
			req_throttle_hit(db, kac, FAIL_WINDOW, FAILS_PER_LOGIN_CLIENT);
			req_throttle_hit(db, ka, FAIL_WINDOW, 0);
		}
		return AUTH_WRONG;
	}
	*token = random_token(a);
	*csrf = random_token(a);
	int64_t now = (int64_t)time(NULL);
	struct db_stmt *st =
	    db_prepare(db, "INSERT INTO sessions(token_hash, user_id, csrf, created, expires) VALUES (?, ?, ?, ?, ?)");
	bool done = st && db_bind_text(st, 1, req_token_hash(a, *token)) == DB_OK && db_bind_int(st, 2, id) == DB_OK &&
		    db_bind_text(st, 3, *csrf) == DB_OK && db_bind_int(st, 4, now) == DB_OK &&
		    db_bind_int(st, 5, now + AUTH_SESSION_SECONDS) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	return done ? AUTH_OK : AUTH_ERROR;
}

/*
 * The account of a session (session: sql binds the token's hash and now, and reads id, login,
 * role, csrf) or of an API token (sql binds the hash, reads id, login, role; csrf stays NULL: a
 * token needs none, and an empty one must never match a submitted empty one).
 */
static int account_of(struct db *db, struct arena *a, const char *sql, const char *token, bool session,
		      struct auth_user *out)
{
	if (!token || strlen(token) != 43)
		return 0;
	struct db_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	db_bind_text(st, 1, req_token_hash(a, token));
	if (session)
		db_bind_int(st, 2, (int64_t)time(NULL));
	enum db_rc rc = db_step(st);
	if (rc == DB_ROW) {
		out->id = db_col_int(st, 0);
		out->login = arena_strdup(a, db_col_text(st, 1));
		out->role = arena_strdup(a, db_col_text(st, 2));
		out->roles = auth_roles_of(out->role);
		out->csrf = session ? arena_strdup(a, db_col_text(st, 3)) : NULL;
	}
	db_finalize(st);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int auth_session(struct db *db, struct arena *a, const char *token, struct auth_user *out)
{
	return account_of(db, a, auth_session_sql, token, true, out);
}

bool auth_logout(struct db *db, const char *token)
{
	struct arena *a = arena_new();
	struct db_stmt *st = db_prepare(db, "DELETE FROM sessions WHERE token_hash = ?");
	bool ok = st && db_bind_text(st, 1, req_token_hash(a, token ? token : "")) == DB_OK && db_step(st) == DB_DONE;
	db_finalize(st);
	arena_free(a);
	return ok;
}

int auth_prune_sessions(struct db *db, int max_rows)
{
	struct db_stmt *st = db_prepare(db, auth_prune_sessions_sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL));
	db_bind_int(st, 2, max_rows);
	int n = db_step(st) == DB_DONE ? (int)db_changes(db) : -1;
	db_finalize(st);
	return n;
}

bool auth_csrf_ok(const struct auth_user *u, const char *submitted)
{
	if (!u || !u->csrf || !submitted)
		return false;
	size_t n = strlen(u->csrf);
	return strlen(submitted) == n && sodium_memcmp(u->csrf, submitted, n) == 0;
}

int auth_agents(struct db *db, struct arena *a, int64_t **ids, const char ***logins)
{
	struct db_stmt *st = db_prepare(db, auth_agents_sql);
	if (!st)
		return -1;
	int n = 0, cap = 256;
	*ids = arena_alloc(a, (size_t)cap * sizeof **ids);
	*logins = arena_alloc(a, (size_t)cap * sizeof **logins);
	while (db_step(st) == DB_ROW && n < cap) {
		(*ids)[n] = db_col_int(st, 0);
		(*logins)[n++] = arena_strdup(a, db_col_text(st, 1));
	}
	db_finalize(st);
	return n;
}

/* ---- personal API tokens ---- */

const char auth_token_user_sql[] = "SELECT u.id, u.login, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id "
				   "WHERE t.token_hash = ? AND t.revoked IS NULL AND u.disabled = 0";

const char *auth_token_add(struct db *db, struct arena *a, const char *login, char *err, size_t errlen)
{
	const char *token = req_new_token(a);
	struct db_stmt *st = db_prepare(db, "INSERT INTO api_tokens(user_id, token_hash, created) SELECT id, ?, ? FROM "
					    "users WHERE login = ? AND disabled = 0 RETURNING id");
	if (!st) {
		snprintf(err, errlen, "database: %s", db_errmsg(db));
		return NULL;
	}
	db_bind_text(st, 1, req_token_hash(a, token));
	db_bind_int(st, 2, (int64_t)time(NULL));
	db_bind_text(st, 3, login);
	enum db_rc rc = db_step(st);
	db_finalize(st);
	if (rc == DB_ROW)
		return token;
	if (rc == DB_DONE)
		snprintf(err, errlen, "no active account with the login \"%s\"", login);
	else
		snprintf(err, errlen, "database: %s", db_errmsg(db));
	return NULL;
}

/* Runs an UPDATE ... RETURNING id with (now, text) bound: the rows it changed, -1 on error. */
static int revoke(struct db *db, const char *sql, const char *text)
{
	struct db_stmt *st = db_prepare(db, sql);
	if (!st)
		return -1;
	db_bind_int(st, 1, (int64_t)time(NULL));
	db_bind_text(st, 2, text);
	int n = 0;
	enum db_rc rc;
	while ((rc = db_step(st)) == DB_ROW)
		n++;
	db_finalize(st);
	return rc == DB_DONE ? n : -1;
}

int auth_token_revoke(struct db *db, const char *token)
{
	struct arena *a = arena_new();
	int n = revoke(db, "UPDATE api_tokens SET revoked = ? WHERE token_hash = ? AND revoked IS NULL RETURNING id",
		       req_token_hash(a, token ? token : ""));
	arena_free(a);
	return n;
}

int auth_token_revoke_login(struct db *db, const char *login)
{
	return revoke(db,
		      "UPDATE api_tokens SET revoked = ? WHERE revoked IS NULL AND user_id IN (SELECT id FROM users "
		      "WHERE login = ?) RETURNING id",
		      login);
}

int auth_token_user(struct db *db, struct arena *a, const char *token, struct auth_user *out)
{
	return account_of(db, a, auth_token_user_sql, token, false, out);
}
