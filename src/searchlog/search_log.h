/*
 * search_log — what people search for, to find the questions the knowledge base does not answer
 * yet. Owns the `search_log` table (migrations 2 and 6) and nothing else: no other module reads
 * or writes it, and it knows nothing of pages, the index or the route table (the app calls it).
 *
 * Searches and clicks are queued in memory (bounded) and written once a second by the
 * maintenance thread, so that a search never waits for a disk write. No IP addresses and no
 * sessions are stored; long digit runs and e-mail addresses in queries are masked.
 *
 * Visits (issue #10, insights): a search may carry a visit id — a random token the portal keeps
 * in a browser's cookie for SEARCH_LOG_VISIT_SECONDS after its last search (web/search_page.c),
 * made of nothing about the person. Two events of the same visit are queued like clicks: a
 * support request created (the visit's searches of the last 30 minutes get requested = 1: "self
 * service failed"), and an article opened (the visit's recent searches without a click get it as
 * next_slug, once: what the person read next). The request itself never stores the visit, and
 * the visit id is erased from the log SEARCH_LOG_FORGET_AFTER seconds after its search
 * (search_log_forget_visits, by the upkeep).
 */
#ifndef SPRAVKA_SEARCH_LOG_H
#define SPRAVKA_SEARCH_LOG_H

#include <stdbool.h>

struct arena;
struct db;
struct search_log;

/*
 * The search log: a bounded in-memory queue, written once a second. Each client
 * (http_client_ip) gets at most per_client_hour entries per clock hour; the counts are kept in
 * memory only, under a keyed hash of the client (no address is kept, nor ever written).
 */
struct search_log *search_log_new(int per_client_hour);
void search_log_free(struct search_log *l);
/* Queues a search of client; false when it was not queued (the client's hour is full, or the
 * queue is). */
bool search_log_add(struct search_log *l, const char *client, const char *query, int results, int micros);
/* A visit id: SEARCH_LOG_VISIT_LEN characters of [A-Za-z0-9_-] (22: 16 random bytes). */
#define SEARCH_LOG_VISIT_LEN 22
#define SEARCH_LOG_VISIT_SECONDS 1800
#define SEARCH_LOG_FORGET_AFTER 3600	   /* the visit id of a search older than this is erased */
#define SEARCH_LOG_FORGET_FROM (2 * 86400) /* the range the upkeep looks at (older: erased before) */
bool search_log_visit_valid(const char *visit);
/* search_log_add with the visit id of the search (NULL or invalid: none). */
bool search_log_add_visit(struct search_log *l, const char *client, const char *query, int results, int micros,
			  const char *visit);
/* Queues "visit created a support request" (nothing when visit is not valid). */
void search_log_visit_request(struct search_log *l, const char *visit);
/* Queues "visit opened the article slug". */
void search_log_visit_view(struct search_log *l, const char *visit, const char *slug);
/* Their statements (for the plans test). */
extern const char search_log_requested_sql[], search_log_next_sql[];
/* Erases the visit ids of up to max_rows searches older than SEARCH_LOG_FORGET_AFTER; returns how
 * many, -1 on error. */
int search_log_forget_visits(struct db *db, int max_rows);
extern const char search_log_forget_sql[];
/* Queues a click on slug among the results of query. */
void search_log_click(struct search_log *l, const char *query, const char *slug);
/* The statement a click runs (exposed so that a test can check its query plan). */
extern const char search_log_click_sql[];
/* The prune's statement (for the plans test and `spravka explain`). */
extern const char search_log_prune_sql[];
/* Writes the queue in transactions of at most 200 entries (each holds the database's write lock
 * briefly: request creations wait for it); false on a database error (the entries of the failed
 * transaction and of those after it are lost). */
bool search_log_flush(struct search_log *l, struct db *db);
/* Deletes up to max_rows search log rows older than days days, oldest first (the maintenance
 * thread calls it in batches); returns how many, -1 on error. */
int search_log_prune(struct db *db, int days, int max_rows);

/*
 * Insights: the searches of the last days days, grouped by their normalized text (the
 * analyzer's words: lower case, ё → е, punctuation dropped, joined by one space), with how many
 * times each group was searched; most frequent first, ties by text; at most max groups, in the
 * arena. Reads at most SEARCH_LOG_GROUPS_READ distinct stored texts (the most frequent first).
 * Returns the number of groups, -1 on a database error.
 */
enum search_log_kind {
	SEARCH_LOG_ALL,	      /* every search */
	SEARCH_LOG_ZERO,      /* searches that found nothing */
	SEARCH_LOG_NO_CLICK,  /* searches with results of which none was opened */
	SEARCH_LOG_REQUESTED, /* searches whose visit then created a support request */
};
struct search_log_group {
	const char *query;
	long long count;
};
#define SEARCH_LOG_GROUPS_READ 100000
int search_log_groups(struct db *db, struct arena *a, enum search_log_kind kind, int days, int max,
		      struct search_log_group **out);
/* The statements search_log_groups runs, by kind (for the plans test). */
extern const char search_log_all_sql[], search_log_zero_sql[], search_log_no_click_sql[],
    search_log_requested_groups_sql[];

/*
 * The articles opened next after the searches without a click of the last days days (next_slug:
 * the same visit), by normalized query group and slug, the most frequent first; at most max, in
 * the arena. Returns their number, -1 on a database error.
 */
struct search_log_next {
	const char *query, *slug;
	long long count;
};
int search_log_next_articles(struct db *db, struct arena *a, int days, int max, struct search_log_next **out);
extern const char search_log_next_articles_sql[];

#endif
