/*
 * auth — desk accounts, passwords, sessions, CSRF tokens and login throttling.
 *
 * Owns the `users` and `sessions` rows. Passwords are hashed with Argon2id (libsodium's
 * crypto_pwhash_str, interactive limits); a session is a 256-bit random token in an HttpOnly,
 * SameSite=Lax cookie, stored as its SHA-256 with a CSRF token of its own and an expiry. Logins
 * are throttled per account and per client address (the shared throttle table), and a wrong
 * login and a wrong password get the same answer. Never renders pages.
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
	unsigned roles;   /* bits: admin has every role */
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
bool auth_user_add(struct db *db, const char *login, const char *role, const char *password,
		   char *err, size_t errlen);

enum auth_result { AUTH_OK, AUTH_WRONG, AUTH_THROTTLED, AUTH_ERROR };
/*
 * Checks login and password; on AUTH_OK creates a session and gives its cookie token and CSRF
 * token (arena). Counts failures per login and per ip; past the limits, AUTH_THROTTLED without
 * checking the password.
 */
enum auth_result auth_login(struct db *db, struct arena *a, const char *login, const char *password,
			    const char *ip, const char **token, const char **csrf);
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

#endif
