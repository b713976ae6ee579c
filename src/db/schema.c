#include "schema.h"

const struct migration schema_migrations[] = {
    {1, "CREATE TABLE sections ("
	"  slug TEXT PRIMARY KEY,"
	"  title TEXT NOT NULL,"
	"  position INTEGER NOT NULL,"
	"  description TEXT NOT NULL DEFAULT '');"
	/* One row per text: the general one has country = '', a variant its code. */
	"CREATE TABLE articles ("
	"  slug TEXT NOT NULL,"
	"  country TEXT NOT NULL DEFAULT '',"
	"  section TEXT NOT NULL REFERENCES sections(slug),"
	"  title TEXT NOT NULL,"
	"  summary TEXT NOT NULL DEFAULT '',"
	"  updated TEXT NOT NULL,"
	"  countries TEXT NOT NULL DEFAULT '',"
	"  keywords TEXT NOT NULL DEFAULT '',"
	"  related TEXT NOT NULL DEFAULT '',"
	"  body TEXT NOT NULL,"
	"  PRIMARY KEY (slug, country));"
	"CREATE INDEX articles_section ON articles(section, country);"
	/* content_version grows on every content change; servers watch it to refresh caches. */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT INTO meta(key, value) VALUES ('content_version', '0'), ('content_changed', '0');"},
    /* What people search for, to find the questions the knowledge base does not answer yet.
     * No IP addresses, no sessions; long digit runs and e-mail addresses are masked. */
    {2, "CREATE TABLE search_log ("
	"  id BIGINT PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  query TEXT NOT NULL,"
	"  results INTEGER NOT NULL,"
	"  micros INTEGER NOT NULL,"
	"  clicked TEXT);"
	"CREATE INDEX search_log_at ON search_log(at);"},
    /* Support requests and the desk. */
    {3, "CREATE TABLE users ("
	"  id INTEGER PRIMARY KEY,"
	"  login TEXT NOT NULL UNIQUE,"
	"  role TEXT NOT NULL CHECK (role IN ('agent', 'editor', 'admin')),"
	"  password_hash TEXT NOT NULL,"
	"  created BIGINT NOT NULL,"
	"  disabled INTEGER NOT NULL DEFAULT 0);"
	/* Session and request tokens are stored as SHA-256 hashes: the database never holds a
	 * working link or cookie. */
	"CREATE TABLE sessions ("
	"  token_hash TEXT PRIMARY KEY,"
	"  user_id INTEGER NOT NULL REFERENCES users(id),"
	"  csrf TEXT NOT NULL,"
	"  created BIGINT NOT NULL,"
	"  expires BIGINT NOT NULL);"
	"CREATE TABLE requests ("
	"  id INTEGER PRIMARY KEY,"
	"  number TEXT NOT NULL UNIQUE,"
	"  token_hash TEXT NOT NULL UNIQUE,"
	"  member_id TEXT NOT NULL,"
	"  name TEXT NOT NULL,"
	"  email TEXT NOT NULL DEFAULT '',"
	"  phone TEXT NOT NULL DEFAULT '',"
	"  country TEXT NOT NULL,"
	"  topic TEXT NOT NULL,"
	"  order_number TEXT NOT NULL DEFAULT '',"
	"  subject TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('new', 'open', 'waiting', 'resolved', 'closed')),"
	"  assignee INTEGER REFERENCES users(id),"
	"  merged_into INTEGER REFERENCES requests(id),"
	"  created BIGINT NOT NULL,"
	"  updated BIGINT NOT NULL,"
	"  resolved_at BIGINT);"
	"CREATE INDEX requests_member ON requests(member_id, status);"
	"CREATE INDEX requests_status ON requests(status, updated);"
	"CREATE TABLE messages ("
	"  id INTEGER PRIMARY KEY,"
	"  request_id INTEGER NOT NULL REFERENCES requests(id),"
	"  author TEXT NOT NULL CHECK (author IN ('member', 'agent', 'system')),"
	"  user_id INTEGER REFERENCES users(id),"
	"  internal INTEGER NOT NULL DEFAULT 0,"
	"  body TEXT NOT NULL,"
	"  created BIGINT NOT NULL);"
	"CREATE INDEX messages_request ON messages(request_id, id);"
	"CREATE TABLE attachments ("
	"  id INTEGER PRIMARY KEY,"
	"  request_id INTEGER NOT NULL REFERENCES requests(id),"
	"  message_id INTEGER REFERENCES messages(id),"
	"  sha256 TEXT NOT NULL,"
	"  size BIGINT NOT NULL,"
	"  mime TEXT NOT NULL,"
	"  filename TEXT NOT NULL,"
	"  created BIGINT NOT NULL);"
	"CREATE INDEX attachments_request ON attachments(request_id);"
	/* The answer given to an Idempotency-Key (or a form token), replayed for a retry. */
	"CREATE TABLE idempotency ("
	"  key TEXT PRIMARY KEY,"
	"  status INTEGER NOT NULL,"
	"  response TEXT NOT NULL,"
	"  created BIGINT NOT NULL);"
	"CREATE TABLE counters (name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
	/* Rate limits and login throttling: hits per key per window (shared by all nodes). */
	"CREATE TABLE throttle ("
	"  key TEXT PRIMARY KEY,"
	"  window_start BIGINT NOT NULL,"
	"  hits INTEGER NOT NULL);"
	/* Mail to members, written in the same transaction as the event it tells about. */
	"CREATE TABLE outbox ("
	"  id INTEGER PRIMARY KEY,"
	"  request_id INTEGER REFERENCES requests(id),"
	"  to_addr TEXT NOT NULL,"
	"  subject TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_attempt BIGINT NOT NULL,"
	"  last_error TEXT NOT NULL DEFAULT '',"
	"  created BIGINT NOT NULL,"
	"  sent_at BIGINT);"
	"CREATE INDEX outbox_pending ON outbox(status, next_attempt);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  user_id INTEGER REFERENCES users(id),"
	"  request_id INTEGER REFERENCES requests(id),"
	"  action TEXT NOT NULL,"
	"  detail TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX audit_request ON audit(request_id, id);"
	"CREATE TABLE canned_replies ("
	"  id INTEGER PRIMARY KEY,"
	"  title TEXT NOT NULL,"
	"  body TEXT NOT NULL,"
	"  created BIGINT NOT NULL);"
	/* "Это решило мой вопрос": a request that was not written. */
	"CREATE TABLE deflections ("
	"  id INTEGER PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  slug TEXT NOT NULL,"
	"  topic TEXT NOT NULL DEFAULT '');"},
    /* Trust (issue #7): a request is reached only through its private link. */
    {4, /* The link of a request is derived from link_nonce with the server's key (DATA/link.key),
	 * so that every letter can carry it while the database keeps no working link. link_hash is
	 * the SHA-256 of that link when it differs from token_hash (requests made before this
	 * migration keep their first link too). */
     "ALTER TABLE requests ADD COLUMN link_nonce TEXT;"
     "ALTER TABLE requests ADD COLUMN link_hash TEXT;"
     "CREATE UNIQUE INDEX requests_link_hash ON requests(link_hash);"
     /* An idempotency key is bound to its route and to a digest of the input it answered. */
     "ALTER TABLE idempotency ADD COLUMN route TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE idempotency ADD COLUMN digest TEXT NOT NULL DEFAULT '';"
     "CREATE INDEX idempotency_created ON idempotency(created);"
     /* Text and files offered from the duplicate screen: they become a message only when someone
      * with the request's private link confirms them; they expire. files: a JSON array of
      * {sha256, size, mime, filename} (the files are in DATA/files like attachments). */
     "CREATE TABLE held_additions ("
     "  id INTEGER PRIMARY KEY,"
     "  request_id INTEGER NOT NULL REFERENCES requests(id),"
     "  body TEXT NOT NULL,"
     "  files TEXT NOT NULL DEFAULT '[]',"
     "  created BIGINT NOT NULL,"
     "  expires BIGINT NOT NULL);"
     "CREATE INDEX held_additions_request ON held_additions(request_id, id);"
     "CREATE INDEX held_additions_expires ON held_additions(expires);"},
    /* Issue #7, upkeep: the file sweep asks whether a stored file is referenced; expired
     * sessions and throttle rows are pruned by time. Secrets the server signs form tokens with
     * (shared by every node; never leave the database). */
    {5, "CREATE INDEX attachments_sha256 ON attachments(sha256);"
	"CREATE INDEX sessions_expires ON sessions(expires);"
	"CREATE INDEX throttle_window ON throttle(window_start);"
	"CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);"},
    /* Issue #8: a click finds the latest unclicked search of its query through an index instead
     * of a scan of the whole log (250 ms at 1,000,000 rows, under the write lock); a clicked row
     * leaves the partial index. */
    {6, "CREATE INDEX search_log_unclicked ON search_log(query, at) WHERE clicked IS NULL;"},
    /* Issue #8, listings: a section's articles in the editor's order (title, slug) straight from
     * an index, so that a page of a section and its first articles on the home page read index
     * entries only (it replaces articles_section, its prefix); and each section's number of
     * articles (general texts) kept by every write of articles, so that no page counts them. */
    {7, "CREATE INDEX articles_section_order ON articles(section, country, title, slug);"
	"DROP INDEX articles_section;"
	"ALTER TABLE sections ADD COLUMN article_count INTEGER NOT NULL DEFAULT 0;"
	"UPDATE sections SET article_count = "
	"(SELECT count(*) FROM articles a WHERE a.section = sections.slug AND a.country = '');"},
    /* Issue #8, the desk at 1,000,000 requests. Every list of the desk is read per status in
     * `updated` order and stops after a page: the open statuses through the partial index
     * requests_open (only the open requests, a few thousand however many are closed), the others
     * through requests_status; a filter drives (status, filter, updated). Counts per status are
     * kept in request_counts (changed in the transaction of every status change, rebuilt here and
     * by `spravka repair`), so no page counts the closed requests. Auto-closing reads the resolved
     * requests by resolved_at. A member's requests by (member_id, status, updated), which
     * replaces requests_member. The file sweep finds held files by hash (held_files) instead of a
     * LIKE over every held addition's JSON. */
    {8, "CREATE INDEX requests_open ON requests(status, updated) WHERE status IN ('new', 'open', 'waiting');"
	"CREATE INDEX requests_resolved ON requests(status, resolved_at) WHERE status = 'resolved';"
	"CREATE INDEX requests_status_topic ON requests(status, topic, updated);"
	"CREATE INDEX requests_status_country ON requests(status, country, updated);"
	"CREATE INDEX requests_status_assignee ON requests(status, assignee, updated);"
	"CREATE INDEX requests_member_status ON requests(member_id, status, updated);"
	"DROP INDEX requests_member;"
	/* Requests not merged away, per status. */
	"CREATE TABLE request_counts (status TEXT PRIMARY KEY, n BIGINT NOT NULL);"
	"INSERT INTO request_counts(status, n) VALUES ('new', 0), ('open', 0), ('waiting', 0), "
	"  ('resolved', 0), ('closed', 0);"
	"UPDATE request_counts SET n = (SELECT count(*) FROM requests r WHERE r.status = request_counts.status "
	"  AND r.merged_into IS NULL);"
	"CREATE TABLE held_files ("
	"  held_id INTEGER NOT NULL REFERENCES held_additions(id) ON DELETE CASCADE,"
	"  sha256 TEXT NOT NULL);"
	"CREATE INDEX held_files_sha256 ON held_files(sha256);"
	"CREATE INDEX held_files_held ON held_files(held_id);"
	/* The files of the additions already held (SQLite's JSON functions; a PostgreSQL driver
	 * starts from an empty database). */
	"INSERT INTO held_files(held_id, sha256) SELECT h.id, json_extract(f.value, '$.sha256') "
	"  FROM held_additions h, json_each(h.files) f WHERE json_valid(h.files) "
	"  AND json_extract(f.value, '$.sha256') IS NOT NULL;"},
    /* Issue #8, search at 50,000 articles: which texts each content version changed, written in
     * the same transaction as the change, so that a server (any node) updates its search index
     * from the changed texts only. slug '' = everything (synonyms, or too many texts at once).
     * meta.content_log_from: the log holds every change of the versions above it. */
    {9, "CREATE TABLE content_changes ("
	"  version BIGINT NOT NULL,"
	"  slug TEXT NOT NULL,"
	"  country TEXT NOT NULL,"
	"  PRIMARY KEY (version, slug, country));"
	"INSERT INTO meta(key, value) SELECT 'content_log_from', value FROM meta WHERE key = 'content_version';"},
    /* Issue #8, writes per creation: link_hash is set only on requests made before migration 4
     * (or after a key change), so the unique index on it holds mostly NULLs, and every creation
     * wrote one more page of it (4 KB of log per commit). Partial: a new request does not touch
     * it; the lookup `token_hash = ? OR link_hash = ?` still uses it (x = ? implies x IS NOT
     * NULL). */
    {10, "DROP INDEX requests_link_hash;"
	 "CREATE UNIQUE INDEX requests_link_hash ON requests(link_hash) WHERE link_hash IS NOT NULL;"},
    /* Issue #9, SQL both engines accept. The content version, the time of the last change and the
     * start of the change log were numbers kept as text in meta (read back with CAST): they are
     * typed columns of one row now. An audit row of an assignment kept the account in its free
     * text detail, joined to users through a CAST of that text: the account has its own column
     * (the detail keeps the text for the log). The CASTs below run once, here, in SQLite. */
    {11, "CREATE TABLE content_state ("
	 "  id INTEGER PRIMARY KEY CHECK (id = 1),"
	 "  version BIGINT NOT NULL,"
	 "  changed BIGINT NOT NULL,"
	 "  log_from BIGINT NOT NULL);"
	 "INSERT INTO content_state(id, version, changed, log_from) VALUES (1, "
	 "  COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'content_version'), 0),"
	 "  COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'content_changed'), 0),"
	 "  COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'content_log_from'), 0));"
	 "DELETE FROM meta WHERE key IN ('content_version', 'content_changed', 'content_log_from');"
	 "ALTER TABLE audit ADD COLUMN assignee INTEGER;"
	 "UPDATE audit SET assignee = CAST(detail AS INTEGER) WHERE action = 'assign' AND detail <> '0' "
	 "  AND detail <> '' AND detail NOT GLOB '*[^0-9]*';"},
};

const int schema_migration_count = sizeof schema_migrations / sizeof schema_migrations[0];
