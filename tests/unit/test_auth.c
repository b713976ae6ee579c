/*
 * Unit tests of src/auth against a real SQLite database: accounts (checks, Argon2id hashes,
 * taken logins), roles, login and sessions (stored as hashes), CSRF tokens, logout, expiry, and
 * login throttling per account and per client address.
 */
#include "../../src/auth/auth.h"
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static char *dir;
static struct db *db;
static struct arena *A;

static void setup(void)
{
	A = arena_new();
	dir = tmp_dir();
	char err[256];
	cr_assert_eq(db_open(dir, &db, err, sizeof err), DB_OK, "%s", err);
}

static void teardown(void)
{
	db_close(db);
	rm_tree(dir);
	arena_free(A);
}

TestSuite(auth, .init = setup, .fini = teardown, .timeout = 60);

static const char *text(const char *sql, const char *arg)
{
	return db_text(db, A, sql, arg);
}

static void add(const char *login, const char *role, const char *password)
{
	char err[256] = "";
	cr_assert(auth_user_add(db, login, role, password, err, sizeof err), "%s: %s", login, err);
}

Test(auth, roles_are_bits_and_admin_has_all)
{
	cr_assert_eq(auth_roles_of("agent"), AUTH_AGENT);
	cr_assert_eq(auth_roles_of("editor"), AUTH_EDITOR);
	cr_assert_eq(auth_roles_of("admin"), AUTH_AGENT | AUTH_EDITOR | AUTH_ADMIN);
	cr_assert_eq(auth_roles_of("root"), 0);
	cr_assert_eq(auth_roles_of(""), 0);
}

Test(auth, accounts_are_checked_and_passwords_hashed_with_argon2id)
{
	char err[256];
	cr_assert(!auth_user_add(db, "Anna", "agent", "long enough password", err, sizeof err));
	cr_assert(strstr(err, "login"), "%s", err);
	cr_assert(!auth_user_add(db, "a", "agent", "long enough password", err, sizeof err));
	cr_assert(!auth_user_add(db, "anna/../x", "agent", "long enough password", err, sizeof err));
	cr_assert(!auth_user_add(db, "anna", "root", "long enough password", err, sizeof err));
	cr_assert(strstr(err, "role"), "%s", err);
	cr_assert(!auth_user_add(db, "anna", "agent", "short", err, sizeof err));
	cr_assert(strstr(err, "password"), "%s", err);
	add("anna", "agent", "long enough password");
	cr_assert(!auth_user_add(db, "anna", "editor", "another long password", err, sizeof err));
	cr_assert(strstr(err, "taken"), "%s", err);
	const char *hash = text("SELECT password_hash FROM users WHERE login = ?", "anna");
	cr_assert(hash && !strncmp(hash, "$argon2id$", 10), "%s", hash);
	cr_assert_null(strstr(hash, "long enough"));
}

Test(auth, login_makes_a_session_stored_as_a_hash_with_its_csrf_token)
{
	add("anna", "agent", "long enough password");
	const char *token = NULL, *csrf = NULL;
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &token, &csrf), AUTH_OK);
	cr_assert_eq(strlen(token), 43);
	cr_assert_eq(strlen(csrf), 43);
	cr_assert_str_neq(token, csrf);
	cr_assert_str_eq(text("SELECT token_hash FROM sessions", NULL), req_token_hash(A, token));
	struct auth_user u;
	cr_assert_eq(auth_session(db, A, token, &u), 1);
	cr_assert_str_eq(u.login, "anna");
	cr_assert_str_eq(u.role, "agent");
	cr_assert_eq(u.roles, AUTH_AGENT);
	cr_assert(auth_csrf_ok(&u, csrf));
	cr_assert(!auth_csrf_ok(&u, NULL));
	cr_assert(!auth_csrf_ok(&u, ""));
	cr_assert(!auth_csrf_ok(&u, token));
	char almost[64];
	snprintf(almost, sizeof almost, "%s", csrf);
	almost[42] = almost[42] == 'A' ? 'B' : 'A';
	cr_assert(!auth_csrf_ok(&u, almost));
	/* The stored hash is not a token: it opens nothing. */
	cr_assert_eq(auth_session(db, A, req_token_hash(A, token), &u), 0);
	cr_assert_eq(auth_session(db, A, NULL, &u), 0);
	cr_assert_eq(auth_session(db, A, req_new_token(A), &u), 0);
}

Test(auth, wrong_passwords_and_unknown_logins_get_the_same_answer)
{
	add("anna", "agent", "long enough password");
	const char *token = NULL, *csrf = NULL;
	cr_assert_eq(auth_login(db, A, "anna", "long enough passworD", "192.0.2.1", &token, &csrf), AUTH_WRONG);
	cr_assert_eq(auth_login(db, A, "nobody", "long enough password", "192.0.2.1", &token, &csrf), AUTH_WRONG);
	cr_assert_eq(auth_login(db, A, "anna", "", "192.0.2.1", &token, &csrf), AUTH_WRONG);
	cr_assert_null(text("SELECT token_hash FROM sessions", NULL));
}

Test(auth, logout_and_expiry_end_a_session)
{
	add("anna", "admin", "long enough password");
	const char *t1, *t2, *csrf;
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &t1, &csrf), AUTH_OK);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &t2, &csrf), AUTH_OK);
	struct auth_user u;
	cr_assert_eq(auth_session(db, A, t1, &u), 1);
	cr_assert_eq(u.roles, AUTH_AGENT | AUTH_EDITOR | AUTH_ADMIN);
	cr_assert(auth_logout(db, t1));
	cr_assert_eq(auth_session(db, A, t1, &u), 0);
	cr_assert_eq(auth_session(db, A, t2, &u), 1, "another session of the same account stays");
	cr_assert_eq(db_exec(db, "UPDATE sessions SET expires = CAST(strftime('%s', 'now') AS INTEGER) - 1"), DB_OK);
	cr_assert_eq(auth_session(db, A, t2, &u), 0, "an expired session");
	/* A disabled account's sessions stop working at once. */
	const char *t3;
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &t3, &csrf), AUTH_OK);
	cr_assert_eq(db_exec(db, "UPDATE users SET disabled = 1"), DB_OK);
	cr_assert_eq(auth_session(db, A, t3, &u), 0);
}

Test(auth, five_failures_throttle_the_account_even_with_the_right_password)
{
	add("anna", "agent", "long enough password");
	add("boris", "agent", "another long password");
	const char *token, *csrf;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(auth_login(db, A, "anna", "guess", "192.0.2.1", &token, &csrf), AUTH_WRONG, "try %d", i);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "198.51.100.2", &token, &csrf),
		     AUTH_THROTTLED, "from another address too");
	cr_assert_eq(auth_login(db, A, "boris", "another long password", "192.0.2.1", &token, &csrf), AUTH_OK,
		     "another account from the same address");
}

Test(auth, twenty_failures_throttle_the_address)
{
	add("anna", "agent", "long enough password");
	const char *token, *csrf;
	char login[32];
	for (int i = 0; i < 20; i++) {
		snprintf(login, sizeof login, "guess%d", i / 4); /* 4 failures per login: under its limit */
		cr_assert_eq(auth_login(db, A, login, "wrong password", "192.0.2.9", &token, &csrf), AUTH_WRONG);
	}
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.9", &token, &csrf), AUTH_THROTTLED);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.10", &token, &csrf), AUTH_OK);
}

Test(auth, agents_for_assignment_are_agents_and_admins)
{
	add("zoe", "admin", "long enough password");
	add("anna", "agent", "long enough password");
	add("ed", "editor", "long enough password");
	int64_t *ids;
	const char **logins;
	cr_assert_eq(auth_agents(db, A, &ids, &logins), 2);
	cr_assert_str_eq(logins[0], "anna");
	cr_assert_str_eq(logins[1], "zoe");
}
