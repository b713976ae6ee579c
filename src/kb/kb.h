/*
 * kb — the knowledge base: sections and articles, their per-country texts, and the content
 * directory format (docs/content.md) that imports and exports them.
 *
 * Owns the `sections`, `articles`, `content_changes` and `content_state` (the content version, the time of
 * its last change, the start of the change log) tables and the `meta` row `synonyms`. Reads allocate from the
 * caller's arena and return -1 on a database error. Never renders HTML (that is web/) and never
 * decides search ranking (that is search/).
 *
 * An article is one slug with one or more texts: the general text (country "") and optional
 * per-country variants. kb_article_for() picks the text a reader from a given country sees.
 */
#ifndef SPRAVKA_KB_H
#define SPRAVKA_KB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct arena;
struct db;

struct kb_section {
	const char *slug, *title, *description;
	int position;
	int n_articles; /* general texts in it */
};

struct kb_text {
	const char *slug;
	const char *country; /* "" for the general text, else the variant's code */
	const char *section, *title, *summary, *updated;
	const char *countries; /* "RU, KZ" or "" (all); general texts only */
	const char *keywords, *related;
	const char *body; /* Markdown; NULL in lists that do not load it */
	int position;	  /* general texts: the editor's place in its section (1, 2, ...); 0 none */
	/* The editing workspace (migration 22); NULL counts as "": */
	const char *prepare;   /* "what to prepare": one item a line (kb_prepare_canon), "" none */
	const char *review_by; /* "YYYY-MM-DD": the text is stale after it; "" none */
	const char *owner;     /* login of the desk account responsible for it; "" none */
};
/* articles.position of a text without a place: after the placed ones, in title order. */
#define KB_POSITION_NONE 1000000000

/* "What to prepare" limits and its canonical form: lines trimmed, a leading "- " or "* " dropped,
 * empty lines dropped, joined by "\n" (arena). */
#define KB_PREPARE_ITEMS 20
#define KB_PREPARE_ITEM_CHARS 200
const char *kb_prepare_canon(struct arena *a, const char *s);

/* What a reader from one country gets for a slug. */
struct kb_view {
	struct kb_text text;   /* the text shown */
	bool foreign;	       /* the general text, written for other countries than the reader's */
	const char **variants; /* codes of the country variants that exist, sorted */
	size_t n_variants;
};

/* All sections by position, each with its article count, for export and tools (not for pages:
 * see kb_section_list). Returns the count or -1. */
int kb_sections(struct db *db, struct arena *a, struct kb_section **out);
/* 1 and *out (with n_articles, the kept count) when the section exists, 0 when not, -1 on error. */
int kb_section_get(struct db *db, struct arena *a, const char *slug, struct kb_section *out);
/* The same with n_articles -1 (for breadcrumbs and checks that a section exists). */
int kb_section_name(struct db *db, struct arena *a, const char *slug, struct kb_section *out);
/*
 * Listings for readers: each costs O(log n + what it returns) index and row reads whatever the
 * size of the knowledge base (the index of migration 21, articles(section, country, position, title, slug)),
 * plus, for a page deep in a section, a walk over the index entries before it (no table rows).
 *
 * The editor's order of a section's articles is position (the place an editor gave it; the
 * articles without one after the others), then title, then slug (slugs are unique, so the order
 * is total and stable across pages): the index of migration 21. An article counts once whatever its country variants
 * (its general text is counted; every variant has one, in the same section). The counts are kept in
 * sections.article_count by every write of articles (kb_import today), so n_articles costs
 * nothing to read.
 */
/* Number of sections, or -1. */
int kb_section_total(struct db *db);
/* Up to limit sections by position then slug, skipping offset of them, each with n_articles.
 * Returns the count or -1. */
int kb_section_list(struct db *db, struct arena *a, int offset, int limit, struct kb_section **out);
/*
 * Up to limit general texts (without bodies) of section in the editor's order, skipping offset
 * of them: the offset is walked on the index alone, then only the rows returned are read. total
 * is the section's n_articles (or -1 when unknown): a page in the second half of the section is
 * then read from its end, so that the walk is at most half the section's index entries.
 * Returns the count or -1.
 */
int kb_section_articles(struct db *db, struct arena *a, const char *section, int offset, int limit, int total,
			struct kb_text **out);
/* The statements of kb_section_articles (section, limit, offset bound), for tests of their plans. */
extern const char kb_section_page_sql[], kb_section_page_from_end_sql[];
/* Every text (general and variants) with bodies, for indexing. Returns the count or -1. */
int kb_all_texts(struct db *db, struct arena *a, struct kb_text **out);
/*
 * The text of slug for a reader in country (a code, or "" for no preference): the country's
 * variant if there is one, else the general text, flagged foreign when its `countries` list is
 * not empty and lacks the reader's country. 1 found, 0 no such article, -1 error.
 */
int kb_article_for(struct db *db, struct arena *a, const char *slug, const char *country, struct kb_view *out);
/* Title of the general text of slug, or NULL when there is none. */
const char *kb_title(struct db *db, struct arena *a, const char *slug);
/* The channel every content change is announced on when it commits (db_notify; servers listen to
 * it on PostgreSQL and refresh their index and caches at once). */
#define KB_CHANNEL "spravka_content"
/* The content version (grows on every change) and the time of the last change; -1 on error. */
int64_t kb_content_version(struct db *db, int64_t *changed_at);
/* The synonym list (text of content/synonyms.txt as last imported), or "" (arena). */
const char *kb_synonyms(struct db *db, struct arena *a);
/*
 * The change log: every import writes, in its own transaction, the (slug, country) of each text
 * it wrote or removed under the new content version, or one "everything" row when the synonyms
 * changed or more than KB_CHANGES_MAX texts did; the rows of the last KB_CHANGES_KEPT versions
 * are kept.
 */
#define KB_CHANGES_MAX 1000
#define KB_CHANGES_KEPT 100
#define KB_CHANGES_ALL (-2)
struct kb_change {
	struct kb_text text; /* the current text, with its body; only slug and country when removed */
	bool removed;
};
/*
 * The texts changed after version since, each once, by slug then country. Returns their count,
 * KB_CHANGES_ALL when the log cannot tell (it starts after since, or records a change of
 * everything: read everything again), or -1 on error.
 */
int kb_changes_since(struct db *db, struct arena *a, int64_t since, struct kb_change **out);
/* Number of distinct article slugs, or -1. */
int64_t kb_article_count(struct db *db);

/* ---- content directories (content.c) ---- */

struct kb_batch {
	struct kb_section *sections;
	size_t n_sections;
	struct kb_text *texts;
	size_t n_texts;
	const char *synonyms; /* text of synonyms.txt, or NULL when the directory has none */
	const char **files;   /* file of each text, for messages */
	int *related_lines;   /* line of each text's `related:` key */
	/* Set by kb_read_dir: the texts carry their place (`order:`), so the import writes it; other
	 * writers (publishing) leave articles.position alone, except that a text that changes section
	 * loses its place (it comes after the placed ones of its new section). */
	bool positions;
	const char *message; /* the message of the revisions the batch records (NULL: "импорт") */
	/* Drafts (files <slug>[.<cc>].draft.md): each saved as a draft revision by kb_import unless
	 * the newest revision of its (slug, country) has the same text already. */
	struct kb_text *drafts;
	size_t n_drafts;
	const char **draft_files;
	/* kb_import: the published articles that the batch lacks are archived (410, their history
	 * kept) instead of being kept on the portal (`spravka import --archive-missing`). */
	bool archive_missing;
};

/*
 * Reads and checks a content directory (the `sections` file, every *.md file and the optional
 * synonyms.txt) into b,
 * allocated in a. On a malformed file returns false with "FILE:LINE: what is wrong" in err.
 */
bool kb_read_dir(struct arena *a, const char *dir, struct kb_batch *b, char *err, size_t errlen);
/*
 * Writes a batch to the database in one transaction: sections upserted by slug; for each slug in
 * the batch, its texts replaced by the batch's. Checks what needs the database (sections and
 * related articles exist, every variant has a general text). Nothing is written when anything
 * fails. *changed (may be NULL) gets the number of rows that changed; the content version grows
 * only when that is not zero, and then every section's article_count is counted again.
 */
bool kb_import(struct db *db, const struct kb_batch *b, long *changed, char *err, size_t errlen);
/* Writes every section and text to dir (created if needed) in the canonical content format; with
 * drafts, also the newest draft or revision in review of each (slug, country) newer than its
 * published text, as <slug>[.<cc>].draft.md. */
bool kb_export(struct db *db, const char *dir, bool drafts, char *err, size_t errlen);

/* ---- revisions (revisions.c; issue #10, the editors' workspace) ---- */
/*
 * Every saved state of an article's text is a row of `article_revisions` (owned here), numbered
 * per slug from 1, with the country it is for ("" the general text), its author (a desk
 * account; none for an import), time, message and status:
 *   draft      saved, not published (readers never see it);
 *   review     submitted for review ([editors] require_review);
 *   published  the text the portal shows for its (slug, country);
 *   superseded published once, replaced since; or a draft (in review or not) that a newer
 *              revision of the same text overtook when it was published (kept for the history).
 * The portal reads only `articles`, the published state: publishing a revision writes its text
 * through the import's path (kb_write_batch: the change log, the content version and the
 * notification every node follows), so the search index and the page caches follow at once on
 * every node. An import records each text it changes as a published revision ("импорт").
 */
struct kb_revision {
	int64_t n;
	const char *slug, *country, *status, *author, *message;
	int64_t created;
	struct kb_text text;  /* body NULL in lists */
	bool removed;	      /* removes its country's variant (kb_variant_remove) instead of a text */
	const char *comment;  /* why it was sent back from review (kb_reject), or "" */
	const char *reviewer; /* login of who sent it back, or "" */
};
/* Saves t (slug, country, section, title, summary, keywords, related, body) as a draft by
 * author: its revision number, or -1 with a message in err. The slug need not exist yet. base:
 * the revision the editor started from (0: no check); when the article's newest revision is
 * another one (someone saved in between), nothing is saved and KB_CONFLICT is returned with
 * *newest set, so that the editor can compare both versions instead of overwriting. */
#define KB_CONFLICT (-2)
int64_t kb_draft_save(struct db *db, const struct kb_text *t, int64_t author, const char *message, int64_t base,
		      int64_t *newest, char *err, size_t errlen);
/*
 * The checks of a text an editor saves (the API and the desk's form, both through here): title
 * 1-200 characters, an existing section, a body of at most 1 MiB, summary at most 500,
 * keywords/related/countries at most 1000, no control characters (tab and line ends allowed);
 * related: slugs of published articles other than itself; prepare: at most KB_PREPARE_ITEMS
 * lines of at most KB_PREPARE_ITEM_CHARS; review_by a date YYYY-MM-DD; owner the login of an
 * editor's or admin's account; country one of chk->countries, a variant without a countries list,
 * and, when chk->new_variant, a country the article has no variant for yet; countries: codes of
 * chk->countries, each once; every image of the body with its alt text (md_images). The slug
 * [a-z0-9-]{1,80} is the caller's (it is the URL). Up to max errors as (field, Russian message)
 * into fields and messages; returns their number, -1 on a database error.
 */
#define KB_DRAFT_FIELD_ERRORS 12
struct kb_check {
	const char *const *countries; /* the configured country codes */
	size_t n_countries;
	bool new_variant; /* t adds a country's variant: refused when the article has one */
};
int kb_draft_check(struct db *db, struct arena *a, const struct kb_text *t, const struct kb_check *chk,
		   const char **fields, const char **messages, int max);
/* Whether slug has a variant for country now: its newest revision for the country exists and
 * does not remove it. 1 yes, 0 no, -1 error. */
int kb_variant_exists(struct db *db, const char *slug, const char *country);
/*
 * Saves, as a draft by author, the removal of slug's variant for country (a revision with
 * removed set, holding the variant's newest text for the history): publishing it takes the
 * variant off the portal; its history stays. Its number, 0 when there is no such variant (or it
 * is the general text: country ""), -1 on error.
 */
int64_t kb_variant_remove(struct db *db, const char *slug, const char *country, int64_t author, const char *message,
			  char *err, size_t errlen);
/* The newest drafts and revisions in review (of every article), newest first, at most limit:
 * their count, -1 on error. */
int kb_pending(struct db *db, struct arena *a, int limit, struct kb_revision **out);
extern const char kb_pending_sql[]; /* for the plans test */
/* Revision n of slug with its whole text: 1, 0 when there is none, -1 on error. */
int kb_revision_get(struct db *db, struct arena *a, const char *slug, int64_t n, struct kb_revision *out);
/* The revisions of slug, newest first (bodies not loaded): their count, -1 on error. */
int kb_revisions(struct db *db, struct arena *a, const char *slug, struct kb_revision **out);
extern const char kb_revisions_sql[]; /* for the plans test */
enum kb_publish_result {
	KB_PUBLISHED,	    /* *rev published */
	KB_NO_DRAFT,	    /* no draft or revision in review to publish */
	KB_REVIEW_REQUIRED, /* review required: not submitted, or submitted by the publisher */
	KB_SUBMITTED,	    /* kb_submit: the draft is in review now */
	KB_REFUSED,	    /* the text cannot be published (err says why: section, general text, related) */
	KB_FAILED,	    /* database error */
	KB_RETURNED,	    /* kb_reject: the revision is a draft again, with the comment */
	KB_OWN_REVISION,    /* kb_reject: its author cannot send it back (save a new draft instead) */
};
/*
 * Publishes the newest draft (or revision in review) of slug. With review required, never by its
 * author (an admin neither); by another editor only once submitted (in review); an admin may
 * publish another's draft directly. *rev gets the revision concerned. A revision that removes a
 * variant (kb_variant_remove) takes the variant off the portal.
 */
enum kb_publish_result kb_publish(struct db *db, const char *slug, int64_t publisher, bool admin, bool review_required,
				  int64_t *rev, char *err, size_t errlen);
/* Submits the newest draft of slug for review by user (KB_SUBMITTED, or KB_NO_DRAFT). */
enum kb_publish_result kb_submit(struct db *db, const char *slug, int64_t user, int64_t *rev);
/* Sends the newest revision in review of slug back to its author: a draft again, with comment
 * (1-1000 characters, the caller's check) and user as its reviewer, audited. KB_RETURNED,
 * KB_NO_DRAFT (nothing in review), KB_OWN_REVISION (user is its author), KB_FAILED. */
#define KB_COMMENT_MAX 1000
enum kb_publish_result kb_reject(struct db *db, const char *slug, int64_t user, const char *comment, int64_t *rev);
/* The drafts of author sent back from review that are still their article's newest revision,
 * newest first, at most limit: their count, -1 on error. */
int kb_returned(struct db *db, struct arena *a, int64_t author, int limit, struct kb_revision **out);
extern const char kb_returned_sql[]; /* for the plans test */

/*
 * Stale content (the published texts): variants false lists the texts whose review_by is before
 * today ("YYYY-MM-DD"), the most overdue first; variants true the country variants last updated
 * before their general text (general_updated), by country then slug. owner: only that owner's, or NULL for
 * all. At most limit: their count, -1 on error. Bodies not loaded.
 */
struct kb_stale {
	struct kb_text text;
	const char *general_updated; /* variants only */
};
int kb_stale(struct db *db, struct arena *a, bool variants, const char *today, const char *owner, int limit,
	     struct kb_stale **out);
extern const char kb_stale_review_sql[], kb_stale_variants_sql[]; /* for the plans test */

/*
 * Archiving and renaming (revisions.c). Both keep every revision. An archived slug's texts leave
 * `articles` through the change log (every node's caches and index drop them); the slug then
 * answers 410, or 301 to the replacement chosen, from `article_redirects` (owned here). A renamed
 * article's texts and revisions move to the new slug and the old one answers 301 to it. The
 * related lists of other articles follow (the replacement or the new slug; dropped when archived
 * without one), each such text published as a new revision. A redirect pointing to a slug that is
 * renamed or archived follows it, so that chains resolve to their end. Publishing or importing a
 * text of the slug brings it back (its redirect goes).
 */
enum kb_move_result {
	KB_MOVED,	/* archived or renamed */
	KB_NOT_FOUND,	/* archive: no published text; rename: no text nor revision */
	KB_TAKEN,	/* rename: the new slug has texts or revisions */
	KB_BAD_TARGET,	/* the replacement has no published general text, or is the slug itself */
	KB_MOVE_FAILED, /* database error */
};
enum kb_move_result kb_archive(struct db *db, const char *slug, const char *replacement, int64_t user,
			       const char *message, char *err, size_t errlen);
enum kb_move_result kb_rename(struct db *db, const char *slug, const char *to, int64_t user, char *err, size_t errlen);
/* Where an absent slug went: 1 with *target the live slug to answer 301 to, or NULL for 410; 0
 * when it has no redirect; -1 on error. */
int kb_redirect(struct db *db, struct arena *a, const char *slug, const char **target);

/* The content audit (`content_audit`, owned here): every draft saved, submission, publication,
 * archiving, renaming and import, with who and when. A renamed article's entries follow it. */
struct kb_audit_entry {
	int64_t id, at;
	const char *login, *action, *slug, *detail;
};
/* slug's entries, newest first (up to 1000): their count, -1 on error. */
int kb_audit(struct db *db, struct arena *a, const char *slug, struct kb_audit_entry **out);

/* ---- content gaps (gaps.c; issue #10, insights) ---- */
enum kb_gap_result {
	KB_GAP_PUBLISHED, /* keywords: the new revision is published; synonyms: the list saved */
	KB_GAP_REVIEW,	  /* keywords: the new revision waits for review ([editors] require_review) */
	KB_GAP_DRAFT,	  /* keywords: saved as a draft on top of a draft someone else has not published */
	KB_GAP_ALREADY,	  /* the phrase is a keyword already / the line is in the list already */
	KB_GAP_NOT_FOUND, /* no such article */
	KB_GAP_TOO_LONG,  /* the keywords would pass their limit */
	KB_GAP_CONFLICT,  /* someone saved a revision meanwhile: try again */
	KB_GAP_FAILED,	  /* database error */
};
/*
 * Adds phrase (a failed search's words) to the keywords of slug's general text, as a draft
 * revision by user (kb_draft_save, from the newest general revision) with the audit entry
 * "gap-keywords"; then, unless another draft or revision in review of the article is waiting
 * (KB_GAP_DRAFT), publishes it (kb_publish: the index and caches follow on every node), or submits
 * it for review when review is required and user is not an admin. *rev gets the revision.
 */
enum kb_gap_result kb_gap_keywords(struct db *db, struct arena *a, const char *slug, const char *phrase, int64_t user,
				   bool admin, bool review_required, int64_t *rev, char *err, size_t errlen);
/*
 * Appends line ("word, other word") to the synonym list kept in the database (the `meta` row the
 * import of content/synonyms.txt writes, that every index build reads and the export writes back),
 * announced as a content change (every node's index is built again), with the audit entry
 * "synonyms". KB_GAP_PUBLISHED, KB_GAP_ALREADY or KB_GAP_FAILED.
 */
enum kb_gap_result kb_synonyms_add(struct db *db, struct arena *a, const char *line, int64_t user, char *err,
				   size_t errlen);
/* ---- sections and the order of articles (sections.c; issue #10) ---- */
/*
 * Editors change sections in the desk: each change is one transaction with a content_audit row
 * (slug "section:SLUG", actions section-create, section-rename, section-describe, section-move,
 * section-delete; "order" and "move" on the article's slug) and bumps the content version (every
 * node's page caches follow; the search index reads no section titles).
 */
enum kb_section_result {
	KB_SECTION_OK,
	KB_SECTION_TAKEN,     /* create: a section has this slug */
	KB_SECTION_NOT_FOUND, /* no such section, or the article is not (published) in it */
	KB_SECTION_NOT_EMPTY, /* delete: published articles or drafts are in it */
	KB_SECTION_FAILED,    /* database error (err says it) */
};
#define KB_SECTION_TITLE_MAX 200
#define KB_SECTION_DESCRIPTION_MAX 300
#define KB_SECTION_FIELD_ERRORS 3
/* The checks of a section an editor writes: slug (when not NULL) [a-z0-9-]{1,80}, title 1-200
 * characters, description at most 300, neither with control characters nor "|" (the sections
 * file's separator). Up to max (field, Russian message) pairs; returns their number. */
int kb_section_check(const char *slug, const char *title, const char *description, const char **fields,
		     const char **messages, int max);
/* A new section after the others. */
enum kb_section_result kb_section_create(struct db *db, const char *slug, const char *title, const char *description,
					 int64_t user, char *err, size_t errlen);
/* New title and description (nothing changes, nor is audited, when they are the same). */
enum kb_section_result kb_section_update(struct db *db, const char *slug, const char *title, const char *description,
					 int64_t user, char *err, size_t errlen);
/* Moves a section delta places (-1 up, 1 down; nothing at either end); the sections are numbered
 * 1..n again. */
enum kb_section_result kb_section_move(struct db *db, const char *slug, int delta, int64_t user, char *err,
				       size_t errlen);
/* Deletes an empty section; KB_SECTION_NOT_EMPTY with the number of articles and of articles with
 * a draft or revision in review in it otherwise. */
enum kb_section_result kb_section_delete(struct db *db, const char *slug, int64_t user, int64_t *articles,
					 int64_t *drafts, char *err, size_t errlen);
/* The 1-based place of slug's general text in section (the portal's order), 0 when it is not
 * there, -1 on error. */
int kb_article_place(struct db *db, const char *section, const char *slug);
extern const char kb_article_place_sql[]; /* for the plans test */
/* Puts slug at place (1-based, clamped to the section) in section: the articles before its old or
 * new place and every placed one are numbered 1..m; costs O(m). */
enum kb_section_result kb_article_move_to(struct db *db, const char *section, const char *slug, int place, int64_t user,
					  char *err, size_t errlen);
/* Moves slug's published texts (the general one and its variants) to section to, each recorded as a
 * published revision; it goes to the end of its new section (kb_int.h, kb_place_at_end). The desk
 * lets only admins do it when review is required (editors change the section in a draft). */
enum kb_section_result kb_article_to_section(struct db *db, const char *slug, const char *to, int64_t user, char *err,
					     size_t errlen);

/* ---- feedback (feedback.c; issue #10) ---- */
/*
 * «Была ли статья полезной?»: the `article_feedback` table (owned here) keeps one vote per
 * voter, article and UTC day. The voter is an opaque key the caller makes (web/: a keyed hash of
 * a browser's random id; never an address). A second vote the same day replaces the first (a
 * changed mind counts once, as changed). A comment (what was missing) goes only with "no".
 */
#define KB_FEEDBACK_COMMENT_MAX 500 /* characters (code points) */
/* The UTC day of t as "YYYY-MM-DD" into out[11]. */
void kb_feedback_day(int64_t t, char out[11]);
/* Records voter's vote on slug at time now (helpful false: "no", with comment, may be "" or NULL;
 * a comment with "yes" is dropped). The caller checks that the article exists and the comment's
 * length. False on a database error. */
bool kb_feedback_vote(struct db *db, const char *slug, const char *voter, bool helpful, const char *comment,
		      int64_t now);
struct kb_feedback_count {
	const char *slug, *title; /* title "" when the article is gone */
	int64_t yes, no, comments;
};
/* The votes of the last `days` UTC days up to now (today included), per article, the most "no"
 * first (then the fewest "yes", then slug): at most limit articles. Returns the count or -1. */
int kb_feedback_counts(struct db *db, struct arena *a, int days, int64_t now, int limit,
		       struct kb_feedback_count **out);

#endif
