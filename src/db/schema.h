/*
 * schema — the numbered migrations. Private to the db module.
 *
 * Migration N brings the schema from version N-1 to N. They are applied in order at open, each in
 * its own transaction; a database whose version is above the last one here is refused. Never edit
 * a migration that has shipped: add the next one.
 */
#ifndef SPRAVKA_SCHEMA_H
#define SPRAVKA_SCHEMA_H

struct migration {
	int version;
	const char *sql;
};

extern const struct migration schema_migrations[];
extern const int schema_migration_count;

#endif
