/*
 * auth — desk accounts, passwords, sessions, CSRF tokens and login throttling.
 *
 * Owns the `users` and `sessions` rows. Passwords are hashed with Argon2id (libsodium's
 * crypto_pwhash_str, interactive limits); a session is a 256-bit random token in an HttpOnly,
 * SameSite=Lax cookie, stored as its SHA-256 with a CSRF token of its own and an expiry. Failed
 * logins are counted (the shared throttle table) per client, per (account, client) and per
 * account: a client is refused past its limits, an account is only slowed down, so that nobody
 * can lock its owner out by guessing from elsewhere. A wrong login and a wrong password get the
 * same answer. Never renders pages.
 */
#ifndef SPRAVKA_AUTH_H
#define SPRAVKA_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct db;

/* Roles as bits, so that a route can require "agent or admin". */
enum auth_role { AUTH_AGENT = 1, AUTH_EDITOR = 2, AUTH_ADMIN = 4 };

struct auth_user {
	int64_t id;
	const char *login;
	const char *role; /* "agent", "editor", "admin" */
	unsigned roles;	  /* bits: admin has every role */
	const char *csrf; /* the session's CSRF token */
};

#define AUTH_SESSION_COOKIE "spravka_session"
#define AUTH_SESSION_SECONDS (12 * 3600)

/* The role bits of a role name (admin includes agent and editor); 0 for an unknown name. */
unsigned auth_roles_of(const char *role);
/*
 * Creates an account. login: 2-64 of [a-z0-9._-]; password: 10-1024 bytes. False with a
 * message in err (taken login, weak password...).
 */
bool auth_user_add(struct db *db, const char *login, const char *role, const char *password, char *err, size_t errlen);

enum auth_result { AUTH_OK, AUTH_WRONG, AUTH_THROTTLED, AUTH_ERROR };
/*
 * Checks login and password; on AUTH_OK creates a session and gives its cookie token and CSRF
 * token (arena). client is the key per-client limits count under (http_client_ip). A client
 * with 20 failures in 15 minutes, or 5 for this login, gets AUTH_THROTTLED without its password
 * being checked. Failures of the login from every client only slow it down: *delay_ms gets how
 * long the caller should hold the answer (auth_login_delay_ms), never a refusal.
 */
enum auth_result auth_login(struct db *db, struct arena *a, const char *login, const char *password, const char *client,
			    const char **token, const char **csrf, int *delay_ms);
/* The slow-down of an account with this many failures in 15 minutes: 0 below 3, then 250 ms
 * doubling up to 3 s. */
int auth_login_delay_ms(int failures);
/* The user of a session token; 1 found and valid, 0 not, -1 error. */
int auth_session(struct db *db, struct arena *a, const char *token, struct auth_user *out);
/* Ends a session. */
bool auth_logout(struct db *db, const char *token);
/* Deletes up to max_rows expired sessions; returns how many, -1 on error. */
int auth_prune_sessions(struct db *db, int max_rows);
/* Constant-time comparison of a submitted CSRF token with the session's. */
bool auth_csrf_ok(const struct auth_user *u, const char *submitted);
/* Logins of the agents and admins (for assignment), arena; returns their count or -1. */
int auth_agents(struct db *db, struct arena *a, int64_t **ids, const char ***logins);

/*
 * Personal API tokens (`spravka token add`), for automation through the API: 32 random bytes
 * as base64url (43 characters of [A-Za-z0-9_-]), shown once and stored as their SHA-256 with the
 * account they act for (table api_tokens, owned here). Sent as `Authorization: Bearer TOKEN`, a
 * token acts with its account's role at the time of the request; a disabled account's tokens
 * stop working, a revoked token stays revoked.
 */
/* A new token for the account login, in the arena; NULL with a message in err (no such
 * account, disabled, database). */
const char *auth_token_add(struct db *db, struct arena *a, const char *login, char *err, size_t errlen);
/* Revokes one token: 1 revoked, 0 unknown or revoked already, -1 database error. */
int auth_token_revoke(struct db *db, const char *token);
/* Revokes every token of the account login: how many, -1 database error. */
int auth_token_revoke_login(struct db *db, const char *login);
/* The account of a bearer token: 1 valid (out filled, csrf NULL: a token needs none), 0 not, -1
 * database error. */
int auth_token_user(struct db *db, struct arena *a, const char *token, struct auth_user *out);

/* SQL texts, for the plans test and `spravka explain`. */
extern const char auth_login_sql[], auth_session_sql[], auth_prune_sessions_sql[], auth_agents_sql[],
    auth_token_user_sql[];

#endif
