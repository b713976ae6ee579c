/*
 * spravka — a self-hosted help center. This file is the command line: it parses the
 * subcommand and its flags, loads the configuration, and hands over to serve / import / export.
 * Where a request goes after that: src/app/routes.c.
 */
#include "app/app.h"
#include "auth/auth.h"
#include "bench/bench.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/text.h"
#include "core/workers.h"
#include "db/db.h"
#include "desk/desk.h"
#include "http/http.h"
#include "insights/insights.h"
#include "kb/kb.h"
#include "files/files.h"
#include "mail/mail.h"
#include "media/media.h"
#include "req/req.h"
#include "search/result_cache.h"
#include "search/search.h"
#include "searchlog/search_log.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef SPRAVKA_VERSION
#define SPRAVKA_VERSION "0.1.0"
#endif

static const char usage[] =
    "Usage: spravka COMMAND [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  serve                 run the help center's web server\n"
    "  import [--archive-missing] DIR\n"
    "                        import a content directory (see docs/content.md); with\n"
    "                        --archive-missing, articles it lacks are archived (410)\n"
    "  export [--drafts] DIR write all content to DIR in the same format; with --drafts,\n"
    "                        the unpublished drafts too (<slug>.draft.md)\n"
    "  bench-search CORPUS   the search engine behind the benchmark harness's pipe protocol\n"
    "  user add --role agent|editor|admin --login NAME\n"
    "                        create a desk account; the password is read from standard input\n"
    "  token add --login NAME\n"
    "                        print a new personal API token of the account (alone on a line)\n"
    "  token revoke [TOKEN] | token revoke --login NAME\n"
    "                        revoke a token (read from standard input when not given), or\n"
    "                        every token of the account\n"
    "  explain               print the EXPLAIN QUERY PLAN of every desk and maintenance query\n"
    "                        (Markdown); exit status 1 when one reads a growing table whole\n"
    "  repair                check the desk's counts per status against the requests and\n"
    "                        rewrite them when they differ\n"
    "  backup FILE           SQLite: copy the database into the new FILE while it is in use;\n"
    "                        PostgreSQL: print the pg_dump command that backs it up\n"
    "  --version             print the version\n"
    "  --help                print this help\n"
    "\n"
    "Options (every command):\n"
    "  --data DIR            data directory holding spravka.db (default ./data)\n"
    "  --db URL              the database on PostgreSQL (postgres://USER@HOST:PORT/DB) instead\n"
    "                        of SQLite in the data directory\n"
    "  --config FILE         configuration file (INI; see docs/configuration.md)\n"
    "Options (serve):\n"
    "  --listen HOST:PORT    address to listen on (default 127.0.0.1:8080)\n"
    "  --threads N           HTTP worker threads (default: one per core)\n"
    "\n"
    "With an empty database, serve creates its tables and imports the demo content from the\n"
    "configured content_dir (default ./content), once however many servers start together.\n"
    "SIGTERM or SIGINT stop the server after in-flight requests finish.\n";

struct opts {
	const char *data, *db, *config, *listen, *arg;
	int threads;
	bool drafts, archive_missing; /* export --drafts, import --archive-missing */
};

/* Takes group and other permissions away from the data directory (members' files, link.key)
 * when it has any, with a note; SQLite's driver does the same for its directory and files. */
static void tighten_data_dir(const char *dir)
{
	struct stat st;
	if (lstat(dir, &st) != 0 || S_ISLNK(st.st_mode) || !(st.st_mode & 077))
		return;
	if (chmod(dir, 0700) == 0)
		fprintf(stderr, "spravka: %s was readable by others (mode %03o): now 700\n", dir,
			(unsigned)(st.st_mode & 0777));
	else
		fprintf(stderr, "spravka: warning: %s is readable by others (mode %03o) and cannot be changed: %s\n",
			dir, (unsigned)(st.st_mode & 0777), strerror(errno));
}

static int parse_opts(int argc, char **argv, struct opts *o, bool serve)
{
	static const struct option longopts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"db", required_argument, NULL, 'b'},
	    {"config", required_argument, NULL, 'c'},
	    {"listen", required_argument, NULL, 'l'},
	    {"threads", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"drafts", no_argument, NULL, 'D'},
	    {"archive-missing", no_argument, NULL, 'A'},
	    {NULL, 0, NULL, 0},
	};
	memset(o, 0, sizeof *o);
	o->threads = -1;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->data = optarg;
			break;
		case 'b':
			o->db = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'l':
		case 't':
			if (!serve) {
				fprintf(stderr, "spravka: --%s is an option of serve\n",
					ch == 'l' ? "listen" : "threads");
				return 2;
			}
			if (ch == 'l') {
				o->listen = optarg;
			} else {
				char *end;
				long n = strtol(optarg, &end, 10);
				if (!*optarg || *end || n < 1 || n > 256) {
					fprintf(stderr, "spravka: --threads takes a number from 1 to 256\n");
					return 2;
				}
				o->threads = (int)n;
			}
			break;
		case 'D':
			o->drafts = true;
			break;
		case 'A':
			o->archive_missing = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc)
		o->arg = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "spravka: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	return 0;
}

static bool load_config(struct config *cfg, const struct opts *o)
{
	char err[512];
	config_defaults(cfg);
	if (o->config && !config_load(cfg, o->config, err, sizeof err)) {
		fprintf(stderr, "spravka: %s\n", err);
		config_free(cfg);
		return false;
	}
	if (o->data) {
		free(cfg->data_dir);
		cfg->data_dir = xstrdup(o->data);
	}
	if (o->db) {
		free(cfg->db);
		cfg->db = xstrdup(o->db);
	}
	if (o->listen) {
		free(cfg->listen);
		cfg->listen = xstrdup(o->listen);
	}
	if (o->threads > 0)
		cfg->threads = o->threads;
	if (!config_check(cfg, err, sizeof err)) {
		fprintf(stderr, "spravka: configuration: %s\n", err);
		config_free(cfg);
		return false;
	}
	return true;
}

/* The article images' store (files.h): the database's on PostgreSQL, as the server's. */
static struct files_store media_store(const struct config *cfg)
{
	return (struct files_store){.data_dir = cfg->data_dir,
				    .in_db = db_target_engine(config_db_target(cfg)) == DB_POSTGRES};
}

static bool import_dir(struct db *db, const struct config *cfg, const char *dir, bool quiet, bool archive_missing)
{
	char err[1024];
	struct arena *a = arena_new();
	struct kb_batch b;
	long changed = 0;
	int images = 0;
	struct files_store fs = media_store(cfg);
	bool ok = kb_read_dir(a, dir, &b, err, sizeof err);
	b.archive_missing = archive_missing;
	ok = ok && media_import(db, &fs, a, dir, &b, &images, err, sizeof err) &&
	     kb_import(db, &b, &changed, err, sizeof err);
	if (!ok)
		fprintf(stderr, "spravka: import failed, nothing imported: %s\n", err);
	else if (!quiet)
		fprintf(
		    stderr,
		    "spravka: imported %zu sections, %zu texts, %zu drafts and %d images from %s (%ld rows changed)\n",
		    b.n_sections, b.n_texts, b.n_drafts, images, dir, changed);
	arena_free(a);
	return ok;
}

/* Loads the configuration and opens (migrating) the database, for the one-shot commands. On
 * failure it says why on stderr and frees what it took; *code is the exit status then. */
static bool open_for_command(struct config *cfg, const struct opts *o, struct db **db, int *code)
{
	if (!load_config(cfg, o)) {
		*code = 2;
		return false;
	}
	char err[1024];
	if (db_open(config_db_target(cfg), db, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		config_free(cfg);
		*code = 1;
		return false;
	}
	return true;
}

static int cmd_import_export(struct opts *o, bool import)
{
	struct config cfg;
	if (!o->arg) {
		fprintf(stderr, "spravka: %s needs a directory\n", import ? "import" : "export");
		return 2;
	}
	if ((import && o->drafts) || (!import && o->archive_missing)) {
		fprintf(stderr, "spravka: --%s is an option of %s\n", import ? "drafts" : "archive-missing",
			import ? "export" : "import");
		return 2;
	}
	struct db *db;
	char err[1024];
	int rc = 0;
	if (!open_for_command(&cfg, o, &db, &rc))
		return rc;
	struct files_store fs = media_store(&cfg);
	if (import) {
		rc = import_dir(db, &cfg, o->arg, false, o->archive_missing) ? 0 : 1;
	} else if (!kb_export(db, o->arg, o->drafts, err, sizeof err) ||
		   !media_export(db, &fs, o->arg, err, sizeof err)) {
		fprintf(stderr, "spravka: export failed: %s\n", err);
		rc = 1;
	}
	db_close(db);
	config_free(&cfg);
	return rc;
}

static atomic_bool maintenance_stop;
/* The maintenance thread's sleep, which a content change announced by the database (db_listen)
 * or the end of the server cuts short. */
static pthread_mutex_t maintenance_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t maintenance_cond = PTHREAD_COND_INITIALIZER;
static bool maintenance_woken;

static void maintenance_wake(void *arg, bool missed)
{
	struct app *app = arg;
	if (missed)
		atomic_store(&app->resync, true);
	pthread_mutex_lock(&maintenance_lock);
	maintenance_woken = true;
	pthread_cond_signal(&maintenance_cond);
	pthread_mutex_unlock(&maintenance_lock);
}

/* Sleeps ms milliseconds, or until maintenance_wake; true when woken. */
static bool maintenance_sleep(int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)ms * 1000000;
	until.tv_sec += until.tv_nsec / 1000000000;
	until.tv_nsec %= 1000000000;
	pthread_mutex_lock(&maintenance_lock);
	while (!maintenance_woken && pthread_cond_timedwait(&maintenance_cond, &maintenance_lock, &until) == 0)
		;
	bool woken = maintenance_woken;
	maintenance_woken = false;
	pthread_mutex_unlock(&maintenance_lock);
	return woken;
}

enum {
	UPKEEP_EVERY = 600,  /* seconds between two upkeep runs (the first a few seconds after start) */
	UPKEEP_BATCH = 1000, /* rows deleted per statement */
	UPKEEP_BATCHES = 10, /* statements per table per run: bounded work */
	SWEEP_CHECKS = 2000, /* stored files looked at per run */
	FILE_THREADS = 4,    /* threads storing uploaded files (fsyncs, or writes to the database) */
};

/* Deletes in batches while whole batches go, at most UPKEEP_BATCHES of them. */
static void prune(const char *what, int (*fn)(struct db *, int, int), struct db *db, int arg)
{
	for (int i = 0; i < UPKEEP_BATCHES; i++) {
		int n = fn(db, arg, UPKEEP_BATCH);
		if (n < 0)
			fprintf(stderr, "spravka: cannot prune the %s: %s\n", what, db_errmsg(db));
		if (n < UPKEEP_BATCH)
			break;
	}
}

static int prune_search_log(struct db *db, int days, int max)
{
	return search_log_prune(db, days, max);
}

static int forget_visits(struct db *db, int unused, int max)
{
	(void)unused;
	return search_log_forget_visits(db, max);
}

static int prune_sessions(struct db *db, int unused, int max)
{
	(void)unused;
	return auth_prune_sessions(db, max);
}

static int prune_throttle(struct db *db, int unused, int max)
{
	(void)unused;
	return req_prune_throttle(db, max);
}

/* Every UPKEEP_EVERY seconds: the file sweep, and what anonymous traffic leaves behind. */
static void upkeep(struct app *app, struct db *db, char cursor[65])
{
	int64_t grace = (int64_t)app->cfg.file_sweep_hours * 3600;
	if (req_sweep_files(db, &app->req, (int64_t)time(NULL) - grace, SWEEP_CHECKS, cursor) < 0)
		fprintf(stderr, "spravka: cannot sweep the stored files (%s)\n",
			app->req.files_in_db ? db_errmsg(db) : app->cfg.data_dir);
	prune("search log", prune_search_log, db, app->cfg.search_log_days);
	prune("search log's visits", forget_visits, db, 0);
	prune("sessions", prune_sessions, db, 0);
	prune("throttle rows", prune_throttle, db, 0);
}

/* The maintenance thread's state: listening is true when the database announces content changes
 * (PostgreSQL, db_listen), so that polling once a second is only the safety net. */
struct maintenance {
	struct app *app;
	bool listening;
};

/* Notice content changed by `spravka import` (or, later, editors): on SQLite five times a second,
 * one indexed row when nothing changed; on PostgreSQL when a change is announced, and once a
 * second. Once a second the rest; upkeep every UPKEEP_EVERY seconds. */
static void *maintenance_main(void *arg)
{
	struct maintenance *m = arg;
	struct app *app = m->app;
	pthread_setname_np(pthread_self(), "spravka-maint");
	char cursor[65] = "";
	int prune_due = 0;
	for (long tick = 0; !atomic_load(&maintenance_stop); tick++) {
		for (int i = 0; i < 10 && !atomic_load(&maintenance_stop); i++) {
			bool woken = maintenance_sleep(100);
			if (i % 2 && !atomic_load(&maintenance_stop)) {
				/* Five times a second: under a high rate of creations the log passes the
				 * automatic checkpoint's size within a second, and then the request
				 * writer checkpoints inside a commit (a copy and an fsync of the database
				 * file: tens of milliseconds every creation queued behind it waits). */
				struct db *cdb = db_pool_get(app->pool);
				if (db_checkpoint(cdb) == DB_ERR)
					fprintf(stderr, "spravka: cannot checkpoint the database: %s\n",
						db_errmsg(cdb));
				db_pool_put(app->pool, cdb);
			}
			if (atomic_load(&maintenance_stop) || (!woken && (m->listening ? i != 9 : i % 2 == 0)))
				continue;
			struct db *db = db_pool_get(app->pool);
			if (!app_refresh(app, db))
				fprintf(stderr, "spravka: cannot read the content version: %s\n", db_errmsg(db));
			db_pool_put(app->pool, db);
		}
		if (atomic_load(&maintenance_stop))
			break;
		struct db *db = db_pool_get(app->pool);
		if (!search_log_flush(app->search_log, db))
			fprintf(stderr, "spravka: cannot write the search log: %s\n", db_errmsg(db));
		if (!insights_flush(app->insights, db, (int64_t)time(NULL)))
			fprintf(stderr, "spravka: cannot write the view counts: %s\n", db_errmsg(db));
		if (req_auto_close(db, &app->req) < 0)
			fprintf(stderr, "spravka: cannot auto-close requests: %s\n", db_errmsg(db));
		if (tick % UPKEEP_EVERY == 2)
			upkeep(app, db, cursor);
		/* The log into the database file, off every request's path (db.h). */
		if (db_checkpoint(db) == DB_ERR)
			fprintf(stderr, "spravka: cannot checkpoint the database: %s\n", db_errmsg(db));
		/* Expired idempotency keys and held additions: at start, then once a minute, in
		 * bounded batches (a backlog goes 1000 rows a second). */
		if (prune_due-- <= 0) {
			int n = req_prune(db, 1000);
			if (n < 0)
				fprintf(stderr, "spravka: cannot prune expired rows: %s\n", db_errmsg(db));
			prune_due = n >= 1000 ? 0 : 59;
		}
		db_pool_put(app->pool, db);
	}
	return NULL;
}

static int cmd_serve(struct opts *o)
{
	struct app app;
	memset(&app, 0, sizeof app);
	if (!load_config(&app.cfg, o))
		return 2;
	char err[1024];
	int threads = app.cfg.threads > 0 ? app.cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (threads < 1)
		threads = 1;

	/* First start: create the database and import the demo content. */
	const char *target = config_db_target(&app.cfg);
	/* The data directory holds the files and link.key on either engine; SQLite's driver makes
	 * it with its database (and tightens a wider mode), for PostgreSQL it is made and
	 * tightened here (0700, its parent must exist). */
	if (db_target_engine(target) == DB_POSTGRES) {
		if (mkdir(app.cfg.data_dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "spravka: cannot create data directory %s: %s\n", app.cfg.data_dir,
				strerror(errno));
			return 1;
		}
		tighten_data_dir(app.cfg.data_dir);
	}
	struct db *db;
	if (db_open(target, &db, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	/* Under the start lock, so that of several nodes starting at once on an empty PostgreSQL
	 * database one imports and the others find the content. */
	if (db_lock_start(db) != DB_OK) {
		fprintf(stderr, "spravka: cannot take the start lock: %s\n", db_errmsg(db));
		db_close(db);
		return 1;
	}
	struct kb_section *secs;
	struct arena *a = arena_new();
	int ns = kb_sections(db, a, &secs);
	arena_free(a);
	if (ns == 0) {
		struct stat st;
		if (stat(app.cfg.content_dir, &st) == 0) {
			fprintf(stderr, "spravka: empty database, importing %s\n", app.cfg.content_dir);
			if (!import_dir(db, &app.cfg, app.cfg.content_dir, false, false)) {
				db_close(db);
				return 1;
			}
		} else {
			fprintf(stderr, "spravka: empty database and no content directory %s\n", app.cfg.content_dir);
		}
	}
	db_unlock_start(db);
	db_close(db);

	if (!app_load_static(&app, err, sizeof err)) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	if (db_pool_open(target, threads + 2, &app.pool, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	pthread_rwlock_init(&app.index_lock, NULL);
	pthread_mutex_init(&app.sections_lock, NULL);
	app.search_log = search_log_new(app.cfg.search_log_per_ip_hour);
	app.insights = insights_new();
	app.search_cache = search_cache_new((size_t)app.cfg.search_cache_mb << 20);
	db = db_pool_get(app.pool);
	bool ok = app_refresh(&app, db);
	db_pool_put(app.pool, db);
	if (!ok) {
		fprintf(stderr, "spravka: cannot load the content\n");
		return 1;
	}

	/* Signals are taken by sigwait below; every thread started from here blocks them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (db_group_start(target, app.cfg.writers, &app.writer, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	/* Uploaded files are fsynced by a few threads of their own: several flushes in flight at
	 * once keep the disk busy (4 threads: ~1,700 fsynced 200 KB files/s here, 1: ~1,000). */
	if (!(app.file_sync = workers_start(FILE_THREADS))) {
		fprintf(stderr, "spravka: cannot start the file threads\n");
		return 1;
	}
	/* The back office (the desk, /metrics): threads and connections of its own, at a lower CPU
	 * priority, so that no desk query holds what members' pages need. */
	if (db_pool_open(target, app.cfg.desk_threads, &app.back_pool, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	if (!(app.back_office = workers_start_nice(app.cfg.desk_threads, BACK_OFFICE_NICE))) {
		fprintf(stderr, "spravka: cannot start the back-office threads\n");
		return 1;
	}

	int n_routes;
	const char *const *names = app_route_names(&n_routes);
	const char *const *methods = app_route_methods(&n_routes);
	if (!app_init_requests(&app, err, sizeof err)) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	/* Files in the database (PostgreSQL): the file threads store a creation's files with
	 * connections of their own, one each. */
	if (app.req.files_in_db && db_pool_open(target, FILE_THREADS, &app.req.files_pool, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		return 1;
	}
	struct http_options ho = {
	    .listen = app.cfg.listen,
	    .threads = threads,
	    .max_connections = app.cfg.max_connections,
	    .max_connections_per_ip = app.cfg.max_connections_per_ip,
	    .connection_timeout = app.cfg.connection_timeout,
	    .header_timeout = app.cfg.header_timeout,
	    .max_url_bytes = app.cfg.max_url_bytes,
	    .max_header_bytes = app.cfg.max_header_bytes,
	    .connection_memory = app.cfg.connection_memory,
	    .cache_mb = app.cfg.cache_mb,
	    .cache_entries = app.cfg.cache_entries,
	    .trusted_proxies = app.cfg.trusted_proxies,
	    .min_body_rate = app.cfg.min_body_rate,
	    .body_grace = app.cfg.body_grace,
	    .route_names = names,
	    .route_methods = methods,
	    .n_routes = n_routes,
	    .prepare = app_prepare,
	    .thread_statements = db_thread_statements,
	};
	if (app.cfg.cache_entries >= 0)
		fprintf(stderr,
			"spravka: [limits] cache_entries is deprecated (the page cache is bounded by cache_mb); "
			"%d is applied as a cap on its entries%s\n",
			app.cfg.cache_entries, app.cfg.cache_entries ? "" : ", so the page cache is off");
	app.http = http_start(&ho, app_dispatch, &app, err, sizeof err);
	if (!app.http) {
		fprintf(stderr, "spravka: %s\n", err);
		fflush(stderr);
		return 1;
	}
	fprintf(stderr, "spravka %s: listening on http://%.*s:%d/ with %d threads (%d for the desk)\n", SPRAVKA_VERSION,
		(int)(strrchr(app.cfg.listen, ':') - app.cfg.listen), app.cfg.listen, http_port(app.http), threads,
		app.cfg.desk_threads);
	fflush(stderr);
	/* PostgreSQL: content changed by any node or `spravka import --db` is announced (KB_CHANNEL),
	 * so that every node follows within a moment; SQLite: polled. */
	struct maintenance maint_state = {.app = &app};
	struct db_listener *listener = db_listen(target, KB_CHANNEL, maintenance_wake, &app, err, sizeof err);
	maint_state.listening = listener != NULL;
	if (!listener && *err)
		fprintf(stderr, "spravka: %s; content changes are polled instead\n", err);
	pthread_t maint;
	pthread_create(&maint, NULL, maintenance_main, &maint_state);
	/* Mail delivery runs only with a relay; without one, letters wait in the outbox. */
	struct mail_config mail = {.relay = app.cfg.mail_relay,
				   .from = app.cfg.mail_from,
				   .max_attempts = app.cfg.mail_max_attempts,
				   .tls_none = !strcmp(app.cfg.mail_tls, "none")};
	struct mail_worker *mailer = NULL;
	if (mail.relay[0] && !mail_relay_loopback(mail.relay)) {
		if (mail.tls_none)
			fprintf(stderr,
				"spravka: warning: mail goes to %s without TLS ([mail] tls = none): the "
				"members' private links cross the network in the clear\n",
				mail.relay);
		else if (strncmp(mail.relay, "smtps://", 8) != 0)
			fprintf(stderr,
				"spravka: warning: %s is not on loopback: letters go only over TLS (STARTTLS) "
				"and fail if the relay does not offer it; smtps:// or [mail] tls = none otherwise\n",
				mail.relay);
	}
	if (!mail.relay[0])
		fprintf(stderr, "spravka: no [mail] relay configured, mail stays in the outbox\n");
	else if (!(mailer = mail_start(app.pool, &mail)))
		fprintf(stderr, "spravka: cannot start mail delivery, mail stays in the outbox\n");

	int sig = 0;
	sigwait(&stop, &sig);
	fprintf(stderr, "spravka: %s received, finishing in-flight requests (up to %d s)\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", app.cfg.shutdown_grace);
	/* No new connections; new requests on open ones get 503. The file threads and the
	 * database writer go on with what they hold, and the suspended connections get their
	 * answers as the writer commits. */
	http_drain(app.http);
	if (!http_wait(app.http, app.cfg.shutdown_grace * 1000, false)) {
		/* The grace period is over (the database locked by someone else, a disk that does
		 * not keep up, a client still sending...): the creations still waiting fail and are
		 * answered 503 — not stored, not acknowledged — and nobody waits for the write lock
		 * any more. */
		fprintf(stderr, "spravka: grace period over, answering the requests still waiting 503\n");
		db_group_abandon(app.writer);
		atomic_store(&app.back_abandoned, true);
		db_pool_interrupt(app.back_pool); /* a desk query running now fails instead of holding on */
		db_give_up_waiting();
		http_wait(app.http, 10000, true);
	}
	http_close(app.http);	       /* no handler hands work to the threads stopped next */
	workers_stop(app.back_office); /* every back-office request queued is answered */
	workers_stop(app.file_sync);
	db_group_stop(app.writer); /* every creation answered */
	/* Before http_stop frees the page cache that a content change makes it empty. */
	atomic_store(&maintenance_stop, true);
	maintenance_wake(&app, false);
	pthread_join(maint, NULL);
	db_listen_stop(listener);
	if (!http_stop(app.http)) {
		/* A connection is still suspended: stopping libmicrohttpd now would abort. */
		fprintf(stderr, "spravka: stopped without closing every connection\n");
		_exit(1);
	}
	mail_stop(mailer);
	db = db_pool_get(app.pool);
	search_log_flush(app.search_log, db);
	insights_flush(app.insights, db, (int64_t)time(NULL));
	db_pool_put(app.pool, db);
	search_log_free(app.search_log);
	insights_free(app.insights);
	db_pool_close(app.pool);
	db_pool_close(app.back_pool);
	db_pool_close(app.req.files_pool);
	search_free(app.index);
	search_cache_free(app.search_cache);
	pthread_rwlock_destroy(&app.index_lock);
	ctx_sections_free(&app);
	pthread_mutex_destroy(&app.sections_lock);
	app_free_static(&app);
	app_free_requests(&app);
	config_free(&app.cfg);
	fprintf(stderr, "spravka: stopped\n");
	return 0;
}

/* The options of the account commands (user, token): --data, --db, --config, --role, --login;
 * optind is left at the first argument. False (usage printed) on an unknown option. */
static bool account_opts(int argc, char **argv, struct opts *o, const char **role, const char **login)
{
	static const struct option longopts[] = {
	    {"data", required_argument, NULL, 'd'},   {"db", required_argument, NULL, 'b'},
	    {"config", required_argument, NULL, 'c'}, {"role", required_argument, NULL, 'r'},
	    {"login", required_argument, NULL, 'l'},  {NULL, 0, NULL, 0},
	};
	*o = (struct opts){.threads = -1};
	*role = *login = NULL;
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->data = optarg;
			break;
		case 'b':
			o->db = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'r':
			*role = optarg;
			break;
		case 'l':
			*login = optarg;
			break;
		default:
			fputs(usage, stderr);
			return false;
		}
	}
	return true;
}

/* spravka user add --role R --login NAME [--data DIR] [--config FILE] < password */
static int cmd_user(int argc, char **argv)
{
	struct opts o;
	const char *role, *login;
	if (!account_opts(argc, argv, &o, &role, &login))
		return 2;
	if (optind != argc - 1 || strcmp(argv[optind], "add") != 0 || !role || !login) {
		fprintf(stderr, "spravka: usage: spravka user add --role agent|editor|admin --login NAME\n");
		return 2;
	}
	char password[1100];
	size_t n = fread(password, 1, sizeof password - 1, stdin);
	password[n] = '\0';
	while (n > 0 && (password[n - 1] == '\n' || password[n - 1] == '\r'))
		password[--n] = '\0';
	struct config cfg;
	struct db *db;
	int rc = 0;
	if (!open_for_command(&cfg, &o, &db, &rc)) {
		sodium_memzero(password, sizeof password);
		return rc;
	}
	char err[512];
	if (!auth_user_add(db, login, role, password, err, sizeof err)) {
		fprintf(stderr, "spravka: user add: %s\n", err);
		rc = 1;
	} else {
		fprintf(stderr, "spravka: user %s (%s) created\n", login, role);
	}
	db_close(db);
	sodium_memzero(password, sizeof password);
	config_free(&cfg);
	return rc;
}

/*
 * spravka token add --login NAME: a personal API token for the account, printed once, alone on
 * a line of standard output. spravka token revoke [TOKEN]: revokes it (read from standard input
 * when not given, so that it stays out of the shell's history); --login NAME instead revokes
 * every token of the account.
 */
static int cmd_token(int argc, char **argv)
{
	struct opts o;
	const char *role, *login;
	if (!account_opts(argc, argv, &o, &role, &login))
		return 2;
	bool add = optind < argc && !strcmp(argv[optind], "add") && optind == argc - 1 && login;
	bool revoke = optind < argc && !strcmp(argv[optind], "revoke") &&
		      ((login && optind == argc - 1) || (!login && optind >= argc - 2));
	if (!add && !revoke) {
		fprintf(stderr, "spravka: usage: spravka token add --login NAME\n"
				"       spravka token revoke [TOKEN] (TOKEN from standard input when not given)\n"
				"       spravka token revoke --login NAME (every token of the account)\n");
		return 2;
	}
	char token[256] = "";
	if (revoke && !login) {
		if (optind == argc - 2) {
			snprintf(token, sizeof token, "%s", argv[argc - 1]);
		} else {
			size_t n = fread(token, 1, sizeof token - 1, stdin);
			token[n] = '\0';
		}
		str_trim(token);
	}
	struct config cfg;
	struct db *db;
	int rc = 0;
	if (!open_for_command(&cfg, &o, &db, &rc))
		return rc;
	if (add) {
		struct arena *a = arena_new();
		char err[512];
		const char *t = auth_token_add(db, a, login, err, sizeof err);
		if (t) {
			printf("%s\n", t);
			fprintf(stderr,
				"spravka: an API token for %s: shown once, keep it secret "
				"(Authorization: Bearer TOKEN)\n",
				login);
		} else {
			fprintf(stderr, "spravka: token add: %s\n", err);
			rc = 1;
		}
		arena_free(a);
	} else {
		int n = login ? auth_token_revoke_login(db, login) : auth_token_revoke(db, token);
		if (n < 0) {
			fprintf(stderr, "spravka: token revoke: database: %s\n", db_errmsg(db));
			rc = 1;
		} else if (n == 0 && !login) {
			fprintf(stderr, "spravka: token revoke: no such token (or revoked already)\n");
			rc = 1;
		} else {
			fprintf(stderr, "spravka: %d token%s revoked\n", n, n == 1 ? "" : "s");
		}
	}
	db_close(db);
	sodium_memzero(token, sizeof token);
	config_free(&cfg);
	return rc;
}

/* spravka explain|repair [--data DIR] [--db URL] [--config FILE] */
static int cmd_db_tool(int argc, char **argv, bool explain)
{
	static const struct option longopts[] = {
	    {"data", required_argument, NULL, 'd'},
	    {"db", required_argument, NULL, 'b'},
	    {"config", required_argument, NULL, 'c'},
	    {NULL, 0, NULL, 0},
	};
	struct opts o = {.threads = -1};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (ch == 'd')
			o.data = optarg;
		else if (ch == 'b')
			o.db = optarg;
		else if (ch == 'c')
			o.config = optarg;
		else {
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	struct config cfg;
	struct db *db;
	int rc = 0;
	if (!open_for_command(&cfg, &o, &db, &rc))
		return rc;
	if (explain && db_target_engine(config_db_target(&cfg)) != DB_SQLITE) {
		/* The checks read SQLite's plans (SCAN, TEMP B-TREE); PostgreSQL's need their own. */
		fprintf(stderr, "spravka: explain reads SQLite's query plans; on PostgreSQL use EXPLAIN in psql\n");
		rc = 2;
	} else if (explain) {
		int bad = desk_explain(db, stdout);
		rc = bad != 0;
		if (bad > 0)
			fprintf(stderr, "spravka: %d plan(s) read a growing table whole or sort it\n", bad);
	} else {
		int64_t kept[REQ_N_STATUSES], real[REQ_N_STATUSES];
		int differ = req_counts_repair(db, true, kept, real);
		if (differ < 0) {
			fprintf(stderr, "spravka: repair: %s\n", db_errmsg(db));
			rc = 1;
		}
		for (int i = 0; differ >= 0 && i < REQ_N_STATUSES; i++)
			printf("%-9s kept %lld, counted %lld%s\n", req_statuses[i], (long long)kept[i],
			       (long long)real[i], kept[i] != real[i] ? " (rewritten)" : "");
	}
	db_close(db);
	config_free(&cfg);
	return rc;
}

/* Writes s to f in single quotes for a POSIX shell. */
static void shell_quote(FILE *f, const char *s)
{
	fputc('\'', f);
	for (; *s; s++)
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	fputc('\'', f);
}

/*
 * spravka backup FILE: SQLite's online backup of the open database into the new FILE (a
 * consistent copy while the server runs); on PostgreSQL the pg_dump command that does the same,
 * on stdout (its password elided: pg_dump takes it from ~/.pgpass or PGPASSWORD).
 */
static int cmd_backup(struct opts *o)
{
	if (!o->arg) {
		fprintf(stderr, "spravka: backup needs a file to write\n");
		return 2;
	}
	struct config cfg;
	if (!load_config(&cfg, o))
		return 2;
	const char *target = config_db_target(&cfg);
	if (db_target_engine(target) == DB_POSTGRES) {
		char shown[1024];
		db_target_display(target, shown, sizeof shown);
		fputs("pg_dump --format=custom --file=", stdout);
		shell_quote(stdout, o->arg);
		fputc(' ', stdout);
		shell_quote(stdout, shown);
		fputc('\n', stdout);
		fprintf(stderr,
			"spravka: the database is on PostgreSQL: back it up with the pg_dump command above "
			"(the password from ~/.pgpass or PGPASSWORD; restore with pg_restore); it holds the "
			"attachments too (the data directory %s holds nothing the backup needs)\n",
			cfg.data_dir);
		config_free(&cfg);
		return 0;
	}
	char err[1024];
	struct db *db;
	int rc = 0;
	if (db_open(target, &db, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: %s\n", err);
		rc = 1;
	} else if (db_backup(db, o->arg, err, sizeof err) != DB_OK) {
		fprintf(stderr, "spravka: backup: %s\n", err);
		rc = 1;
	} else {
		fprintf(stderr, "spravka: %s/spravka.db copied to %s\n", cfg.data_dir, o->arg);
	}
	db_close(db);
	config_free(&cfg);
	return rc;
}

int main(int argc, char **argv)
{
	/* Line buffered: a fatal message (libmicrohttpd's panic before abort(), say) is never lost
	 * in a buffer. The access log has a buffered stream of its own (src/http). */
	setvbuf(stderr, NULL, _IOLBF, 0);
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("spravka %s\n", SPRAVKA_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "help") || !strcmp(cmd, "-h")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "bench-search")) {
		if (argc != 3) {
			fprintf(stderr, "spravka: usage: spravka bench-search CORPUS_JSONL\n");
			return 2;
		}
		return bench_search_main(argv[2]);
	}
	if (!strcmp(cmd, "user"))
		return cmd_user(argc - 1, argv + 1);
	if (!strcmp(cmd, "token"))
		return cmd_token(argc - 1, argv + 1);
	if (!strcmp(cmd, "explain") || !strcmp(cmd, "repair"))
		return cmd_db_tool(argc - 1, argv + 1, !strcmp(cmd, "explain"));
	bool serve = !strcmp(cmd, "serve");
	bool import = !strcmp(cmd, "import"), export = !strcmp(cmd, "export"), backup = !strcmp(cmd, "backup");
	if (!serve && !import && !export && !backup) {
		fprintf(stderr, "spravka: unknown command \"%s\"\n\n%s", cmd, usage);
		return 2;
	}
	struct opts o;
	int rc = parse_opts(argc - 1, argv + 1, &o, serve);
	if (rc)
		return rc == 1 ? 0 : rc;
	if ((serve || backup) && (o.drafts || o.archive_missing)) {
		fprintf(stderr, "spravka: --%s is an option of %s\n", o.drafts ? "drafts" : "archive-missing",
			o.drafts ? "export" : "import");
		return 2;
	}
	if (serve) {
		if (o.arg) {
			fprintf(stderr, "spravka: serve takes no argument \"%s\"\n", o.arg);
			return 2;
		}
		return cmd_serve(&o);
	}
	if (backup)
		return cmd_backup(&o);
	return cmd_import_export(&o, import);
}
