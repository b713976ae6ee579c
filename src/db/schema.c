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
};

const int schema_migration_count = sizeof schema_migrations / sizeof schema_migrations[0];
