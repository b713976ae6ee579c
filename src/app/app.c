/* The application's state: static files and content refresh. See app.h. */
#include "app.h"

#include "../core/arena.h"
#include "../core/text.h"
#include "../db/db.h"
#include "../kb/kb.h"
#include "../md/md.h"
#include "../search/result_cache.h"
#include "../search/search.h"
#include "../searchlog/search_log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sodium.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The only files served under /static/: a fixed list, so no path from a request reaches the
 * file system. */
static const struct {
	const char *name, *type;
} static_names[] = {
    {"style.css", "text/css; charset=utf-8"},
    {"search.js", "application/javascript; charset=utf-8"},
    {"copy.js", "application/javascript; charset=utf-8"},
    {"preview.js", "application/javascript; charset=utf-8"},
    {"editor.js", "application/javascript; charset=utf-8"},
};

bool app_load_static(struct app *app, char *err, size_t errlen)
{
	size_t n = sizeof static_names / sizeof static_names[0];
	app->statics = xcalloc(n, sizeof *app->statics);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", app->cfg.static_dir, static_names[i].name);
		FILE *f = fopen(path, "rb");
		if (!f) {
			snprintf(err, errlen, "%s: cannot open (set static_dir in the configuration)", path);
			return false;
		}
		struct static_file *s = &app->statics[app->n_statics++];
		s->name = static_names[i].name;
		s->type = static_names[i].type;
		size_t cap = 1 << 16, len = 0;
		s->data = xmalloc(cap);
		size_t r;
		while ((r = fread(s->data + len, 1, cap - len, f)) > 0) {
			len += r;
			if (len == cap)
				s->data = xrealloc(s->data, cap *= 2);
		}
		fclose(f);
		s->len = len;
		snprintf(s->version, sizeof s->version, "%016llx", (unsigned long long)hash64_long(s->data, len));
	}
	return true;
}

void app_free_static(struct app *app)
{
	for (size_t i = 0; i < app->n_statics; i++)
		free(app->statics[i].data);
	free(app->statics);
	app->statics = NULL;
	app->n_statics = 0;
}

static const char *plain_body(struct arena *a, const char *body)
{
	char *plain = md_to_text(body, strlen(body));
	const char *r = arena_strdup(a, plain);
	free(plain);
	return r;
}

/* What the index takes of a text (its body as plain text, in a). */
static struct search_doc doc_of(struct arena *a, const struct kb_text *t)
{
	return (struct search_doc){.slug = t->slug,
				   .country = t->country,
				   .section = t->section,
				   .title = t->title,
				   .summary = t->summary,
				   .keywords = t->keywords,
				   .text = plain_body(a, t->body)};
}

/* Every text, indexed afresh. NULL on a database error. */
static struct search_index *build_all(struct db *db)
{
	struct arena *a = arena_new();
	struct kb_text *texts;
	int n = kb_all_texts(db, a, &texts);
	if (n < 0) {
		arena_free(a);
		return NULL;
	}
	struct search_doc *docs = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *docs);
	for (int i = 0; i < n; i++)
		docs[i] = doc_of(a, &texts[i]);
	struct search_index *ix = search_build(docs, n, kb_synonyms(db, a));
	arena_free(a);
	return ix;
}

/* Dead words above this share make the next change a build from every text. */
#define DEAD_SHARE_MAX 0.25

/*
 * old updated with the texts changed after version since: 1 with *out (old itself when no text
 * changed), 0 when the log cannot tell (build from every text), -1 on a database error.
 */
static int update_changed(struct db *db, struct search_index *old, int64_t since, struct search_index **out)
{
	if (search_dead_share(old) > DEAD_SHARE_MAX)
		return 0;
	struct arena *a = arena_new();
	struct kb_change *ch;
	int n = kb_changes_since(db, a, since, &ch);
	if (n < 0) {
		arena_free(a);
		return n == KB_CHANGES_ALL ? 0 : -1;
	}
	*out = old;
	if (n > 0) {
		struct search_doc *docs = arena_alloc(a, (size_t)n * sizeof *docs);
		for (int i = 0; i < n; i++) {
			const struct kb_text *t = &ch[i].text;
			docs[i] = ch[i].removed
				      ? (struct search_doc){.slug = t->slug, .country = t->country, .removed = true}
				      : doc_of(a, t);
		}
		*out = search_update(old, docs, n);
	}
	arena_free(a);
	return 1;
}

/* Days of feedback the ranking follows, and the most articles it reads them for. */
#define FEEDBACK_DAYS 90
#define FEEDBACK_ARTICLES 100000

static int cmp_count_slug(const void *a, const void *b)
{
	return strcmp(((const struct kb_feedback_count *)a)->slug, ((const struct kb_feedback_count *)b)->slug);
}

/* The boosts of the feedback of the last FEEDBACK_DAYS days (search_feedback_boost) on ix, which
 * nobody searches yet. On a database error the boosts stay neutral (the ranking of text alone). */
static void apply_feedback(struct db *db, struct search_index *ix)
{
	struct arena *a = arena_new();
	struct kb_feedback_count *fc;
	int n = kb_feedback_counts(db, a, FEEDBACK_DAYS, (int64_t)time(NULL), FEEDBACK_ARTICLES, &fc);
	if (n > 0)
		qsort(fc, (size_t)n, sizeof *fc, cmp_count_slug);
	else
		n = 0;
	const char **slugs = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *slugs);
	double *boosts = arena_alloc(a, (size_t)(n ? n : 1) * sizeof *boosts);
	for (int i = 0; i < n; i++) {
		slugs[i] = fc[i].slug;
		boosts[i] = search_feedback_boost(fc[i].yes, fc[i].no);
	}
	search_set_boosts(ix, slugs, boosts, n);
	arena_free(a);
}

bool app_refresh(struct app *app, struct db *db)
{
	int64_t changed = 0;
	int64_t v = kb_content_version(db, &changed);
	if (v < 0)
		return false;
	int64_t have = atomic_load(&app->content_version);
	bool full = atomic_exchange(&app->resync, false);
	if (v == have && app->index && !full)
		return true;
	/* Only this thread (or main, before it starts) writes app->index: reading it unlocked
	 * here is safe, and searches go on on the old index while the new one is made. */
	struct search_index *ix = NULL;
	int rc = app->index && !full ? update_changed(db, app->index, have, &ix) : 0;
	if (rc < 0)
		return false;
	if (rc == 0) {
		ix = build_all(db);
		if (!ix) {
			if (full)
				atomic_store(&app->resync, true); /* next time */
			return false;
		}
		atomic_fetch_add(&app->search_rebuilds, 1);
	} else if (ix != app->index) {
		atomic_fetch_add(&app->search_updates, 1);
	}
	if (ix != app->index) {
		apply_feedback(db, ix); /* the votes since the last change count from now */
		pthread_rwlock_wrlock(&app->index_lock);
		struct search_index *old = app->index;
		app->index = ix;
		app->index_gen++; /* answers kept under the old index never match again */
		pthread_rwlock_unlock(&app->index_lock);
		search_cache_clear(app->search_cache); /* and their memory goes now */
		search_free(old);
		/* A build from every text frees hundreds of MB of analysis at 50,000 articles (and the
		 * old index): give them back to the system rather than keep them in malloc's free
		 * lists. Not after an update (small, frequent), since trimming locks malloc's arenas. */
		if (rc == 0)
			malloc_trim(0);
	}
	atomic_store(&app->content_changed, changed ? changed : (int64_t)time(NULL));
	atomic_store(&app->content_version, v);
	if (app->http)
		http_cache_clear(app->http); /* old keys carry the old version; free their memory */
	return true;
}

/*
 * SQLite: the key private links are derived with is DATA/link.key, 32 random bytes made (0600) on
 * first start. Keep it with the database's backups: without it, links already sent keep working but
 * new letters carry new links.
 */
static bool load_link_key(const char *data_dir, unsigned char *key, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/link.key", data_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		unsigned char fresh[32];
		randombytes_buf(fresh, sizeof fresh);
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		bool ok = w >= 0 && write(w, fresh, sizeof fresh) == (ssize_t)sizeof fresh && fsync(w) == 0;
		if (w >= 0)
			close(w);
		/* link(), not rename(): a key another process made first is kept. */
		ok = ok && (link(tmp, path) == 0 || errno == EEXIST);
		unlink(tmp);
		sodium_memzero(fresh, sizeof fresh);
		if (!ok) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			return false;
		}
		int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	ssize_t n = fd >= 0 ? read(fd, key, 32) : -1;
	if (fd >= 0)
		close(fd);
	if (n != 32) {
		snprintf(err, errlen, "%s: cannot read a 32-byte key%s%s", path, n < 0 ? ": " : "",
			 n < 0 ? strerror(errno) : "");
		return false;
	}
	return true;
}

/*
 * PostgreSQL: the key is the database's (req_shared_link_key), the same on every node, so that a
 * link made on one node opens on the others. A DATA/link.key already there (an installation moved
 * from SQLite, or a node of an older version) is offered as the first key, so that the links
 * already sent keep working; a different one on a later node is left unused, with a warning.
 */
static bool shared_link_key(struct app *app, unsigned char *key, char *err, size_t errlen)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/link.key", app->cfg.data_dir);
	unsigned char local[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool have_local = fd >= 0 && read(fd, local, sizeof local) == (ssize_t)sizeof local;
	if (fd >= 0)
		close(fd);
	struct db *db = db_pool_get(app->pool);
	bool ok = req_shared_link_key(db, have_local ? local : NULL, key);
	if (!ok)
		snprintf(err, errlen, "cannot read or make the link key in the database: %s", db_errmsg(db));
	db_pool_put(app->pool, db);
	if (ok && have_local && sodium_memcmp(local, key, sizeof local) != 0)
		fprintf(stderr,
			"spravka: warning: %s differs from the database's link key, which every node uses: "
			"links made with the file's key do not open\n",
			path);
	sodium_memzero(local, sizeof local);
	return ok;
}

bool app_init_requests(struct app *app, char *err, size_t errlen)
{
	const struct config *cfg = &app->cfg;
	app->country_codes = xcalloc(cfg->n_countries ? cfg->n_countries : 1, sizeof *app->country_codes);
	for (size_t i = 0; i < cfg->n_countries; i++)
		app->country_codes[i] = cfg->countries[i].code;
	struct req_topic *topics = NULL;
	if (cfg->n_topics) { /* [topics] in the configuration; else the built-in list */
		topics = xcalloc(cfg->n_topics, sizeof *topics);
		for (size_t i = 0; i < cfg->n_topics; i++)
			topics[i] = (struct req_topic){cfg->topics[i].slug, cfg->topics[i].title,
						       cfg->topics[i].section, cfg->topics[i].order};
	}
	app->topics = topics;
	app->req = (struct req_config){
	    .data_dir = cfg->data_dir,
	    .member_id_min = cfg->member_id_min,
	    .member_id_max = cfg->member_id_max,
	    .topics = topics ? topics : req_default_topics,
	    .n_topics = topics ? (int)cfg->n_topics : req_default_topic_count,
	    .max_per_ip_hour = cfg->max_per_ip_hour,
	    .max_per_member_day = cfg->max_per_member_day,
	    .auto_close_days = cfg->auto_close_days,
	    .public_url = cfg->public_url,
	    .countries = app->country_codes,
	    .n_countries = (int)cfg->n_countries,
	    /* Nodes on PostgreSQL share nothing but the database: the files go there too. */
	    .files_in_db = db_target_engine(config_db_target(cfg)) == DB_POSTGRES,
	};
	if (db_target_engine(config_db_target(cfg)) == DB_POSTGRES
		? !shared_link_key(app, app->link_key, err, errlen)
		: !load_link_key(cfg->data_dir, app->link_key, err, errlen))
		return false;
	app->req.link_key = app->link_key;
	app->tmp_dir = xmalloc(strlen(cfg->data_dir) + 5);
	sprintf(app->tmp_dir, "%s/tmp", cfg->data_dir);
	if (mkdir(app->tmp_dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", app->tmp_dir, strerror(errno));
		return false;
	}
	/* Uploads cut off by a crash were never acknowledged: nothing refers to them. */
	DIR *d = opendir(app->tmp_dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		if (strncmp(e->d_name, "upload-", 7) != 0)
			continue;
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", app->tmp_dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	return true;
}

void app_free_requests(struct app *app)
{
	free(app->country_codes);
	free(app->topics);
	free(app->tmp_dir);
	app->topics = NULL;
	app->country_codes = NULL;
	app->tmp_dir = NULL;
}
