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

#endif
