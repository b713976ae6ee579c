/* The plans of the desk's and the maintenance's queries. See desk.h (struct desk_plan). */
#include "desk.h"

#include "../auth/auth.h"
#include "../kb/kb.h"
#include "../core/arena.h"
#include "../db/db.h"
#include "../files/files.h"
#include "../insights/insights.h"
#include "../mail/mail.h"
#include "../req/req.h"
#include "../searchlog/search_log.h"

#include <stdio.h>
#include <string.h>

/* Why a table may be read whole: it does not grow with the traffic. */
static const char *const small_tables[] = {
    "request_counts", /* DB_SLOTS rows per status */
    "users",	      /* the desk's accounts */
    "canned_replies", /* the agents' templates */
};

#define INSIGHTS_SORT                                                                                                  \
	"groups the searches of the days asked for (search_log_at) to rank them: an editor's report, run on a "        \
	"back-office thread"

#define INSIGHTS_GROUP                                                                                                 \
	"groups the rows of the days asked for (an index's range) by key to rank them: an editor's report, run on a "  \
	"back-office thread"

int desk_plans(struct arena *a, struct desk_plan **out)
{
	static const struct desk_plan fixed[] = {
	    /* the desk's pages */
	    {"desk: counts per status", req_counts_sql, NULL, NULL},
	    {"desk: session", auth_session_sql, NULL, NULL},
	    {"api: bearer token", auth_token_user_sql, NULL, NULL},
	    {"editors: revisions of an article", kb_revisions_sql, NULL, NULL},
	    {"editors: drafts and revisions in review", kb_pending_sql,
	     "sorts the drafts and revisions in review (article_revisions_pending, partial): the editors' work in "
	     "progress, not the history",
	     "article_revisions_pending"},
	    {"editors: drafts sent back to their author", kb_returned_sql,
	     "sorts one author's drafts sent back (article_revisions_pending, partial): the editors' work in "
	     "progress, not the history",
	     "article_revisions_pending"},
	    {"editors: texts past their review date", kb_stale_review_sql,
	     "reads the texts with a review date (articles_review_by, partial) up to today's, in date order",
	     "articles_review_by"},
	    {"editors: variants older than their general text", kb_stale_variants_sql,
	     "reads the country variants (articles_variants, partial), each joined to its general text by primary key",
	     "articles_variants"},
	    {"desk: request by number", req_view_by_number_sql, NULL, NULL},
	    {"desk: request it was merged into", req_view_by_id_sql, NULL, NULL},
	    {"desk: messages of a request", req_view_messages_sql, NULL, NULL},
	    {"member page: how many messages a request has", req_view_message_count_sql, NULL, NULL},
	    {"desk: files of a request", req_view_attachments_sql, NULL, NULL},
	    {"desk: audit of a request", req_audit_sql, NULL, NULL},
	    {"desk: canned reply titles", req_canned_titles_sql, "canned_replies holds the agents' templates", NULL},
	    {"desk: canned replies page", req_canned_list_sql, "canned_replies holds the agents' templates", NULL},
	    {"desk: canned reply body", req_canned_body_sql, NULL, NULL},
	    {"desk: agents", auth_agents_sql, "users holds the desk's accounts", NULL},
	    {"desk: outbox page", mail_outbox_page_sql, NULL, NULL},
	    {"desk: file", req_attachment_sql, NULL, NULL},
	    {"desk: login", auth_login_sql, NULL, NULL},
	    {"status change: counted state", req_counted_state_sql, NULL, NULL},
	    {"status change: count", req_counts_add_sql, NULL, NULL},
	    /* maintenance */
	    {"auto-close of resolved requests", req_auto_close_sql, NULL, "requests_resolved"},
	    {"prune: idempotency keys", req_prune_idempotency_sql, NULL, NULL},
	    {"prune: held additions", req_prune_held_sql, NULL, NULL},
	    {"prune: sessions", auth_prune_sessions_sql, NULL, NULL},
	    {"prune: throttle rows", req_prune_throttle_sql, NULL, NULL},
	    {"prune: search log", search_log_prune_sql, NULL, NULL},
	    {"search log: click", search_log_click_sql, NULL, "search_log_unclicked"},
	    {"insights: searches", search_log_all_sql, INSIGHTS_SORT, "search_log_at"},
	    {"insights: searches that found nothing", search_log_zero_sql, INSIGHTS_SORT, "search_log_at"},
	    {"insights: searches with no click", search_log_no_click_sql, INSIGHTS_SORT, "search_log_at"},
	    {"insights: searches followed by a request", search_log_requested_groups_sql, INSIGHTS_SORT,
	     "search_log_at"},
	    {"insights: articles opened next after failed searches", search_log_next_articles_sql, INSIGHTS_SORT,
	     "search_log_at"},
	    {"search log: a visit's request", search_log_requested_sql, NULL, "search_log_visit"},
	    {"search log: a visit's next article", search_log_next_sql, NULL, "search_log_visit"},
	    {"upkeep: erase the search log's old visits", search_log_forget_sql, NULL, "search_log_at"},
	    {"insights: count views", insights_view_sql, NULL, NULL},
	    {"insights: count request forms", insights_form_sql, NULL, NULL},
	    {"insights: a total", insights_total_sql, NULL, NULL},
	    {"insights: most viewed", insights_top_sql, INSIGHTS_GROUP, NULL},
	    {"insights: requests by topic", req_by_topic_sql, INSIGHTS_GROUP, "requests_created"},
	    {"insights: requests by country", req_by_country_sql, INSIGHTS_GROUP, "requests_created"},
	    {"insights: deflections", req_deflections_sql, NULL, "deflections_at"},
	    {"file sweep: is a file referenced", req_file_referenced_sql, NULL, "held_files_sha256"},
	    {"file sweep: stored contents after the cursor (files in the database)", files_sweep_candidates_sql, NULL,
	     NULL},
	    {"file store: reuse of stored content (files in the database)", files_touch_sql, NULL, NULL},
	    {"file store: one chunk of a download (files in the database)", files_chunk_sql, NULL, NULL},
	    {"mail: due letters", mail_due_sql, NULL, NULL},
	    {"mail: claim a letter", mail_claim_sql, NULL, NULL},
	    {"mail: sent", mail_sent_sql, NULL, NULL},
	    {"mail: failed attempt", mail_failed_sql, NULL, NULL},
	    /* creation and the member's pages */
	    {"creation: duplicate check", req_duplicate_sql,
	     "sorts one member's open requests (requests_member_status), a handful: creations are limited per "
	     "member",
	     NULL},
	    {"creation: idempotency replay", req_replay_sql, NULL, NULL},
	    {"limits: per member / per IP hits", req_throttle_sql, NULL, NULL},
	    {"limits: count a hit", req_throttle_hit_sql, NULL, NULL},
	    {"creation: limits of the address and the member", req_create_limits_sql, NULL, NULL},
	    {"creation: count both hits", req_create_hits_sql, NULL, NULL},
	    {"member: request by private link", req_view_by_token_sql, NULL, NULL},
	    {"member: held additions", req_held_list_sql, NULL, NULL},
	    {"member: lost links", req_send_links_sql,
	     "sorts one member's requests that are not closed (requests_member_status), a handful", NULL},
	    {"repair: real count of a status (spravka repair only)", req_counts_real_sql, NULL, NULL},
	};
	static const char *const drivers[REQ_QUEUE_DRIVERS] = {"no filter",	   "topic",    "country", "assignee me",
							       "without assignee", "member ID"};
	int n_fixed = (int)(sizeof fixed / sizeof fixed[0]);
	int n = n_fixed + 4 * REQ_QUEUE_DRIVERS;
	struct desk_plan *p = arena_alloc(a, (size_t)n * sizeof *p);
	int k = 0;
	/* The index each filter must drive (an open status without a filter: the partial one). */
	static const char *const indexes[REQ_QUEUE_DRIVERS] = {NULL,
							       "requests_status_topic",
							       "requests_status_country",
							       "requests_status_assignee",
							       "requests_status_assignee",
							       "requests_member_status"};
	for (int d = 0; d < REQ_QUEUE_DRIVERS; d++)
		for (int v = 0; v < 4; v++) {
			bool open = v < 2, desc = v % 2;
			p[k++] = (struct desk_plan){arena_printf(a, "desk queue: %s status, %s, %s",
								 open ? "an open" : "a resolved or closed", drivers[d],
								 desc ? "newest first" : "oldest first"),
						    req_queue_sql((enum req_queue_driver)d, desc, open), NULL,
						    indexes[d] ? indexes[d]
						    : open     ? "requests_open"
							       : "requests_status"};
		}
	for (int i = 0; i < n_fixed; i++)
		p[k++] = fixed[i];
	*out = p;
	return k;
}

const char *desk_plan_text(struct db *db, struct arena *a, const char *sql)
{
	return db_query_plan(db, a, sql);
}

/* The table of a "SCAN x" at p (the word after SCAN), into buf. */
static const char *word_after(const char *p, char *buf, size_t len)
{
	size_t n = strcspn(p, " |");
	if (n >= len)
		n = len - 1;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

const char *desk_plan_problem(const struct desk_plan *p, const char *plan)
{
	for (const char *s = plan; (s = strstr(s, "SCAN ")); s += 5) {
		if (s > plan && s[-1] != ' ')
			continue; /* "...SCAN" inside another word */
		char table[64];
		word_after(s + 5, table, sizeof table);
		/* The rows of a VALUES list: "SCAN CONSTANT ROW", "SCAN 2 CONSTANT ROWS". */
		size_t digits = strspn(s + 5, "0123456789");
		if (!strcmp(table, "CONSTANT") || (digits && !strncmp(s + 5 + digits, " CONSTANT ROWS", 14)))
			continue;
		bool small = false;
		for (size_t i = 0; i < sizeof small_tables / sizeof small_tables[0]; i++)
			small = small || !strcmp(table, small_tables[i]);
		if (small)
			continue;
		return "reads a growing table whole (SCAN)";
	}
	if (strstr(plan, "USE TEMP B-TREE") && !p->bounded)
		return "sorts with a temporary B-tree";
	if (p->index) {
		const char *u = strstr(plan, p->index);
		size_t n = strlen(p->index);
		if (!u || (u[n] != ' ' && u[n] != '\0'))
			return "does not use the index it is written for";
	}
	return "";
}

int desk_explain(struct db *db, FILE *out)
{
	struct arena *a = arena_new();
	struct desk_plan *p;
	int n = desk_plans(a, &p), bad = 0;
	for (int i = 0; i < n; i++) {
		const char *plan = desk_plan_text(db, a, p[i].sql);
		if (!plan) {
			fprintf(out, "%s: %s\n", p[i].name, db_errmsg(db));
			arena_free(a);
			return -1;
		}
		const char *problem = desk_plan_problem(&p[i], plan);
		bad += *problem != '\0';
		fprintf(out, "- **%s**%s%s%s%s\n  `%s`\n  plan: `%s`\n", p[i].name, *problem ? " — PROBLEM: " : "",
			problem, p[i].bounded ? " — bounded: " : "", p[i].bounded ? p[i].bounded : "", p[i].sql, plan);
	}
	arena_free(a);
	return bad;
}
