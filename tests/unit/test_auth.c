/*
 * Unit tests of src/auth against a real SQLite database: accounts (checks, Argon2id hashes,
 * taken logins), roles, login and sessions (stored as hashes), CSRF tokens, logout, expiry, and
 * login throttling per (account, client) and per client, and the per-account slow-down.
 */
#include "../../src/auth/auth.h"
#include "../../src/core/arena.h"
#include "../../src/db/db.h"
#include "../../src/req/req.h"
#include "helpers.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static char *dir;
static struct db *db;
static int delay; /* auth_login's slow-down of the last call */
static struct arena *A;

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
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &token, &csrf, &delay), AUTH_OK);
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
	cr_assert_eq(auth_login(db, A, "anna", "long enough passworD", "192.0.2.1", &token, &csrf, &delay), AUTH_WRONG);
	cr_assert_eq(auth_login(db, A, "nobody", "long enough password", "192.0.2.1", &token, &csrf, &delay),
		     AUTH_WRONG);
	cr_assert_eq(auth_login(db, A, "anna", "", "192.0.2.1", &token, &csrf, &delay), AUTH_WRONG);
	cr_assert_null(text("SELECT token_hash FROM sessions", NULL));
}

Test(auth, logout_and_expiry_end_a_session)
{
	add("anna", "admin", "long enough password");
	const char *t1, *t2, *csrf;
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &t1, &csrf, &delay), AUTH_OK);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &t2, &csrf, &delay), AUTH_OK);
	struct auth_user u;
	cr_assert_eq(auth_session(db, A, t1, &u), 1);
	cr_assert_eq(u.roles, AUTH_AGENT | AUTH_EDITOR | AUTH_ADMIN);
	cr_assert(auth_logout(db, t1));
	cr_assert_eq(auth_session(db, A, t1, &u), 0);
	cr_assert_eq(auth_session(db, A, t2, &u), 1, "another session of the same account stays");
	db_exec_int(db, "UPDATE sessions SET expires = ?", (long long)time(NULL) - 1);
	cr_assert_eq(auth_session(db, A, t2, &u), 0, "an expired session");
	/* A disabled account's sessions stop working at once. */
	const char *t3;
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &t3, &csrf, &delay), AUTH_OK);
	cr_assert_eq(db_exec(db, "UPDATE users SET disabled = 1"), DB_OK);
	cr_assert_eq(auth_session(db, A, t3, &u), 0);
}

Test(auth, five_failures_throttle_the_client_for_that_account_only)
{
	add("anna", "agent", "long enough password");
	add("boris", "agent", "another long password");
	const char *token, *csrf;
	for (int i = 0; i < 5; i++)
		cr_assert_eq(auth_login(db, A, "anna", "guess", "192.0.2.1", &token, &csrf, &delay), AUTH_WRONG,
			     "try %d", i);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &token, &csrf, &delay),
		     AUTH_THROTTLED, "the guessing client, even with the right password");
	cr_assert_eq(auth_login(db, A, "boris", "another long password", "192.0.2.1", &token, &csrf, &delay), AUTH_OK,
		     "another account from the same client");
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "198.51.100.2", &token, &csrf, &delay), AUTH_OK,
		     "the owner from another client");
	cr_assert_eq(delay, auth_login_delay_ms(5), "but slowed down");
}

Test(auth, failures_from_many_clients_only_slow_the_account_down)
{
	add("anna", "agent", "long enough password");
	const char *token, *csrf;
	char client[32];
	int last = 0;
	for (int i = 0; i < 40; i++) { /* 40 clients, 1 failure each: no client reaches a limit */
		snprintf(client, sizeof client, "203.0.113.%d", i);
		cr_assert_eq(auth_login(db, A, "anna", "guess", client, &token, &csrf, &delay), AUTH_WRONG, "try %d",
			     i);
		cr_assert_geq(delay, last, "the delay grows");
		cr_assert_leq(delay, 3000, "and is bounded");
		last = delay;
	}
	cr_assert_eq(last, 3000);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "198.51.100.2", &token, &csrf, &delay), AUTH_OK);
	cr_assert_eq(delay, 3000);
	cr_assert_eq(auth_login_delay_ms(0), 0);
	cr_assert_eq(auth_login_delay_ms(2), 0);
	cr_assert_eq(auth_login_delay_ms(3), 250);
	cr_assert_eq(auth_login_delay_ms(4), 500);
	cr_assert_eq(auth_login_delay_ms(1000000), 3000);
}

Test(auth, an_impossible_login_leaves_no_account_row)
{
	const char *token, *csrf;
	char login[200];
	memset(login, 'X', sizeof login - 1);
	login[sizeof login - 1] = '\0';
	cr_assert_eq(auth_login(db, A, login, "guess", "192.0.2.1", &token, &csrf, &delay), AUTH_WRONG);
	cr_assert_str_eq(text("SELECT count(*) || ' ' || min(key) FROM throttle WHERE key <> ?", ""),
			 "1 login-fail-ip:192.0.2.1");
}

Test(auth, twenty_failures_throttle_the_address)
{
	add("anna", "agent", "long enough password");
	const char *token, *csrf;
	char login[32];
	for (int i = 0; i < 20; i++) {
		snprintf(login, sizeof login, "guess%d", i / 4); /* 4 failures per login: under its limit */
		cr_assert_eq(auth_login(db, A, login, "wrong password", "192.0.2.9", &token, &csrf, &delay),
			     AUTH_WRONG);
	}
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.9", &token, &csrf, &delay),
		     AUTH_THROTTLED);
	cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.10", &token, &csrf, &delay), AUTH_OK);
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

/* Expired sessions go, in bounded batches; a live one stays. */
Test(auth, expired_sessions_are_pruned)
{
	add("anna", "agent", "long enough password");
	const char *token, *csrf;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(auth_login(db, A, "anna", "long enough password", "192.0.2.1", &token, &csrf, &delay),
			     AUTH_OK);
	db_exec_int(db, "UPDATE sessions SET expires = ? WHERE token_hash <> (SELECT max(token_hash) FROM sessions)",
		    (long long)time(NULL) - 1);
	cr_assert_eq(auth_prune_sessions(db, 1), 1);
	cr_assert_eq(auth_prune_sessions(db, 10), 1);
	cr_assert_eq(auth_prune_sessions(db, 10), 0);
	cr_assert_str_eq(text("SELECT count(*) FROM sessions WHERE token_hash <> ?", ""), "1");
}

/* Personal API tokens: 43 URL-safe characters, stored only as a hash, acting with the account's
 * role; revoked, or of a disabled account, they stop working. */
Test(auth, api_tokens_act_for_their_account_until_revoked)
{
	add("editor1", "editor", "long enough password");
	add("agent1", "agent", "long enough password");
	char err[256] = "";
	const char *t = auth_token_add(db, A, "editor1", err, sizeof err);
	cr_assert_not_null(t, "%s", err);
	cr_assert_eq(strlen(t), 43);
	cr_assert_eq(strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"), 43, "%s", t);
	cr_assert_str_eq(text("SELECT count(*) FROM api_tokens WHERE token_hash = ?", t), "0",
			 "the token itself stored");
	cr_assert_str_eq(text("SELECT count(*) FROM api_tokens WHERE token_hash = ?", req_token_hash(A, t)), "1");
	struct auth_user u;
	cr_assert_eq(auth_token_user(db, A, t, &u), 1);
	cr_assert_str_eq(u.login, "editor1");
	cr_assert_eq(u.roles, AUTH_EDITOR);
	cr_assert_null(u.csrf);
	cr_assert_eq(auth_token_user(db, A, "x", &u), 0);
	cr_assert_eq(auth_token_user(db, A, NULL, &u), 0);
	char other[44];
	memcpy(other, t, 44);
	other[0] = other[0] == 'A' ? 'B' : 'A';
	cr_assert_eq(auth_token_user(db, A, other, &u), 0, "one character changed");
	cr_assert_null(auth_token_add(db, A, "nobody", err, sizeof err));
	cr_assert(strstr(err, "nobody"), "%s", err);
	/* One token revoked; the account's others with --login. */
	const char *t2 = auth_token_add(db, A, "editor1", err, sizeof err);
	const char *t3 = auth_token_add(db, A, "editor1", err, sizeof err);
	const char *ta = auth_token_add(db, A, "agent1", err, sizeof err);
	cr_assert(t2 && t3 && ta);
	cr_assert_eq(auth_token_revoke(db, t), 1);
	cr_assert_eq(auth_token_revoke(db, t), 0, "revoked already");
	cr_assert_eq(auth_token_user(db, A, t, &u), 0);
	cr_assert_eq(auth_token_user(db, A, t2, &u), 1);
	cr_assert_eq(auth_token_revoke_login(db, "editor1"), 2);
	cr_assert_eq(auth_token_user(db, A, t3, &u), 0);
	cr_assert_eq(auth_token_user(db, A, ta, &u), 1, "another account's token");
	cr_assert_eq(u.roles, AUTH_AGENT);
	cr_assert_eq(db_exec(db, "UPDATE users SET disabled = 1 WHERE login = 'agent1'"), DB_OK);
	cr_assert_eq(auth_token_user(db, A, ta, &u), 0, "a disabled account's token");
	cr_assert_null(auth_token_add(db, A, "agent1", err, sizeof err), "no token for a disabled account");
}
