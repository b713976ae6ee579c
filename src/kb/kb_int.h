/*
 * Private to kb: what content.c (imports) and revisions.c (the editors' drafts and publishing)
 * share.
 */
#ifndef SPRAVKA_KB_INT_H
#define SPRAVKA_KB_INT_H

#include "kb.h"

/*
 * kb_import's work inside the caller's write transaction: sections upserted, each slug's texts
 * replaced by the batch's, references checked, the change log, the content version and the
 * notification. revisions: every text that changed gets a published revision (an import's).
 * False with a message in err (the caller rolls back).
 */
bool kb_write_batch(struct db *db, const struct kb_batch *b, bool revisions, long *changed, char *err, size_t errlen);
/* Inserts t as the next revision of its slug with status and author (0: none), in the caller's
 * transaction; returns its number, -1 on error. */
int64_t kb_revision_insert(struct db *db, const struct kb_text *t, const char *status, int64_t author,
			   const char *message);
/* Marks the published revision of (slug, country) superseded. */
extern const char kb_supersede_sql[];

/*
 * Takes slug's published texts off the portal (move false) or moves them to the slug to (move
 * true), in the caller's transaction; the related lists of the other texts that name slug then
 * name to instead (or lose it when to is NULL), each such text recorded as a published revision
 * with message; then the change is announced as an import's (the change log, the content
 * version, the notification). False with a message in err.
 */
bool kb_move_texts(struct db *db, const char *slug, const char *to, bool move, const char *message, char *err,
		   size_t errlen);
/* Removes slug's redirect (it is on the portal again). */
extern const char kb_unredirect_sql[];
/* One row of the content audit (user 0: none), in the caller's transaction. */
bool kb_audit_add(struct db *db, int64_t user, const char *action, const char *slug, const char *detail);
/* slug answers kind (301 to target, or 410 with target ""), and so do the redirects that led to
 * it; in the caller's transaction. */
bool kb_redirect_set(struct db *db, const char *slug, const char *target, int kind);
/* Gives slug's general text the last place of section (after every other article, placed or not:
 * when some have no place, the section's order is written out first, O(section)); in the caller's
 * transaction. */
bool kb_place_at_end(struct db *db, const char *section, const char *slug);
/* Announces a change that is not a text's (sections, the order of articles): the kept section
 * counts, the content version, an empty change log row set and the notification, so that every
 * node's page caches follow; in the caller's transaction. */
bool kb_announce_change(struct db *db, char *err, size_t errlen);

#endif
