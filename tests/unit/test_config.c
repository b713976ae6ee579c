/* Unit tests of src/core/config.c. */
#include "../../src/core/config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *write_ini(const char *text)
{
	static char path[64];
	strcpy(path, "/tmp/spravka-test-XXXXXX.ini");
	int fd = mkstemps(path, 4);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

Test(config, defaults_are_valid)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	cr_assert(config_check(&c, err, sizeof err), "%s", err);
	cr_assert_str_eq(c.listen, "127.0.0.1:8080");
	cr_assert_str_eq(c.data_dir, "./data");
	cr_assert_geq(c.max_connections_per_ip, 128);
	cr_assert_not_null(config_country(&c, "KZ"));
	config_free(&c);
}

Test(config, file_overrides_and_countries_replace)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	char *p = write_ini("[site]\nname = Помощь\ndefault_country = KZ\n"
			    "[countries]\nKZ = Казахстан\nDE = Германия\n"
			    "[limits]\nheader_timeout = 3\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert_str_eq(c.site_name, "Помощь");
	cr_assert_eq(c.header_timeout, 3);
	cr_assert_eq(c.n_countries, 2);
	cr_assert_null(config_country(&c, "RU"));
	cr_assert(config_check(&c, err, sizeof err), "%s", err);
	config_free(&c);
}

Test(config, unknown_key_names_the_line)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	char *p = write_ini("[server]\nlisten = 127.0.0.1:1\nlisen = x\n");
	cr_assert(!config_load(&c, p, err, sizeof err));
	unlink(p);
	cr_assert(strstr(err, ":3:"), "%s", err);
	cr_assert(strstr(err, "lisen"), "%s", err);
	config_free(&c);
}

Test(config, out_of_range_and_bad_default_country)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	char *p = write_ini("[limits]\nmax_connections_per_ip = 0\n");
	cr_assert(!config_load(&c, p, err, sizeof err));
	unlink(p);
	config_free(&c);
	config_defaults(&c);
	free(c.default_country);
	c.default_country = strdup("ZZ");
	cr_assert(!config_check(&c, err, sizeof err));
	cr_assert(strstr(err, "ZZ"));
	config_free(&c);
}

Test(config, topics_replace_the_built_in_list)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	cr_assert_eq(c.n_topics, 0, "no [topics]: the built-in list is used");
	char *p = write_ini("[topics]\nregistration = Регистрация | registration\n"
			    "delivery = Доставка заказа | orders | order\nother = Другое |\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert_eq(c.n_topics, 3);
	cr_assert_str_eq(c.topics[1].slug, "delivery");
	cr_assert_str_eq(c.topics[1].title, "Доставка заказа");
	cr_assert_str_eq(c.topics[1].section, "orders");
	cr_assert_eq(c.topics[1].order, 1);
	cr_assert_eq(c.topics[0].order, 0);
	cr_assert_str_eq(c.topics[2].section, "");
	config_free(&c);
	static const char *const bad[] = {
	    "[topics]\nBad_Slug = Название | faq\n",
	    "[topics]\nx = Название\n",
	    "[topics]\nx = | faq\n",
	    "[topics]\nx = Название | faq | urgent\n",
	    "[topics]\nx = Название | Не слаг\n",
	    "[topics]\nx = А | faq\nx = Б | faq\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		config_defaults(&c);
		p = write_ini(bad[i]);
		cr_assert(!config_load(&c, p, err, sizeof err), "accepted: %s", bad[i]);
		cr_assert(strstr(err, "topics"), "%s", err);
		unlink(p);
		config_free(&c);
	}
}

Test(config, trust_keys_defaults_and_checks)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	cr_assert_str_eq(c.trusted_proxies, "");
	cr_assert_eq(c.min_body_rate, 1024);
	cr_assert_eq(c.body_grace, 10);
	cr_assert_eq(c.search_log_per_ip_hour, 300);
	cr_assert_eq(c.shutdown_grace, 10);
	cr_assert(!c.public_url_set, "the default public_url is not the site's origin");
	char *p =
	    write_ini("[server]\ntrusted_proxies = 127.0.0.1, 10.0.0.0/8 ::1\npublic_url = https://help.example.org\n"
		      "shutdown_grace = 3\n[limits]\nmin_body_rate = 0\nbody_grace = 2\nsearch_log_per_ip_hour = 0\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert(config_check(&c, err, sizeof err), "%s", err);
	cr_assert(c.public_url_set);
	cr_assert_eq(c.shutdown_grace, 3);
	cr_assert_eq(c.min_body_rate, 0);
	cr_assert_eq(c.body_grace, 2);
	p = write_ini("[server]\ntrusted_proxies = 10.0.0.0/8, proxy.internal\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert(!config_check(&c, err, sizeof err));
	cr_assert(strstr(err, "trusted_proxies") && strstr(err, "proxy.internal"), "%s", err);
	p = write_ini("[limits]\nbody_grace = 0\n");
	cr_assert(!config_load(&c, p, err, sizeof err));
	unlink(p);
	config_free(&c);
}

Test(config, cache_mb_and_the_deprecated_cache_entries)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	cr_assert_eq(c.cache_mb, 256);
	cr_assert_eq(c.cache_entries, -1, "not set unless the file sets it");
	/* an old file with cache_entries still loads; the key is kept as given */
	char *p = write_ini("[limits]\ncache_entries = 4096\ncache_mb = 0\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert_eq(c.cache_entries, 4096);
	cr_assert_eq(c.cache_mb, 0);
	p = write_ini("[limits]\ncache_mb = 65537\n");
	cr_assert(!config_load(&c, p, err, sizeof err));
	unlink(p);
	cr_assert(strstr(err, "cache_mb"), "%s", err);
	config_free(&c);
}

/* [server] db: empty (SQLite in the data directory) or a PostgreSQL URL, nothing else. */
Test(config, db_is_sqlite_by_default_or_a_postgres_url)
{
	struct config c;
	char err[256];
	config_defaults(&c);
	cr_assert_str_eq(config_db_target(&c), "./data");
	char *p = write_ini("[server]\ndata = /srv/help\ndb = postgres://help@db.internal/help\n");
	cr_assert(config_load(&c, p, err, sizeof err), "%s", err);
	unlink(p);
	cr_assert(config_check(&c, err, sizeof err), "%s", err);
	cr_assert_str_eq(config_db_target(&c), "postgres://help@db.internal/help");
	free(c.db);
	c.db = strdup("/srv/help/spravka.db");
	cr_assert(!config_check(&c, err, sizeof err));
	cr_assert(strstr(err, "postgres://"), "%s", err);
	config_free(&c);
}
