#include "config.h"

#include "arena.h"
#include "netaddr.h"
#include "text.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_str(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static void add_country(struct config *c, const char *code, const char *name)
{
	for (size_t i = 0; i < c->n_countries; i++) {
		if (!strcmp(c->countries[i].code, code)) {
			set_str(&c->countries[i].name, name);
			return;
		}
	}
	c->countries = xrealloc(c->countries, (c->n_countries + 1) * sizeof(*c->countries));
	struct country *k = &c->countries[c->n_countries++];
	memcpy(k->code, code, 3);
	k->name = xstrdup(name);
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	set_str(&c->site_name, "Справочный центр");
	set_str(&c->logo, "");
	set_str(&c->default_country, "RU");
	set_str(&c->content_dir, "content");
	set_str(&c->static_dir, "static");
	c->home_articles = 8;
	c->section_page_size = 50;
	set_str(&c->support_email, "support@example.com");
	set_str(&c->support_phone, "+7 800 000-00-00");
	set_str(&c->support_hours, "пн–пт, 9:00–18:00 (мск)");
	set_str(&c->support_telegram, "@example_support_bot");
	static const char *defaults[][2] = {
	    {"RU", "Россия"},	  {"KZ", "Казахстан"}, {"BY", "Беларусь"}, {"KG", "Кыргызстан"},
	    {"UZ", "Узбекистан"}, {"AM", "Армения"},   {"DE", "Германия"}, {"PL", "Польша"},
	    {"LT", "Литва"},	  {"LV", "Латвия"},    {"EE", "Эстония"},  {"CZ", "Чехия"},
	};
	for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
		add_country(c, defaults[i][0], defaults[i][1]);
	set_str(&c->listen, "127.0.0.1:8080");
	set_str(&c->data_dir, "./data");
	set_str(&c->db, "");
	c->threads = 0;
	c->desk_threads = 2;
	c->max_connections = 1024;
	c->max_connections_per_ip = 128;
	c->connection_timeout = 30;
	c->header_timeout = 10;
	c->max_url_bytes = 8192;
	c->max_header_bytes = 16384;
	c->connection_memory = 40960;
	c->cache_mb = 256;
	c->cache_entries = -1; /* deprecated: not set */
	c->search_cache_mb = 32;
	c->file_sweep_hours = 24;
	c->search_log_days = 180;
	c->min_body_rate = 1024;
	c->body_grace = 10;
	c->search_log_per_ip_hour = 300;
	set_str(&c->trusted_proxies, "");
	c->shutdown_grace = 10;
	set_str(&c->mail_relay, "");
	set_str(&c->mail_from, "support@example.com");
	c->mail_max_attempts = 8;
	set_str(&c->mail_tls, "required");
	set_str(&c->public_url, "http://127.0.0.1:8080");
	c->secure_cookies = 0;
	c->member_id_min = 5;
	c->member_id_max = 12;
	c->max_per_ip_hour = 20;
	c->max_per_member_day = 5;
	c->auto_close_days = 14;
}

struct load_ctx {
	struct config *c;
	bool countries_seen;
	char err[256];
};

#define MAX_TOPICS 64

/* "Title | section [| order]" of [topics]; false with a message in x->err. */
static bool add_topic(struct load_ctx *x, const char *slug, const char *value)
{
	struct config *c = x->c;
	char *copy = xstrdup(value), *parts[4] = {0};
	int n = 0;
	for (char *p = copy, *bar; n < 4; p = bar + 1) {
		bar = strchr(p, '|');
		if (bar)
			*bar = '\0';
		parts[n++] = str_trim(p);
		if (!bar)
			break;
	}
	bool ok = slug_valid(slug) && n >= 2 && n <= 3 && *parts[0] && (!*parts[1] || slug_valid(parts[1])) &&
		  (n == 2 || !strcmp(parts[2], "order"));
	for (size_t i = 0; ok && i < c->n_topics; i++)
		ok = strcmp(c->topics[i].slug, slug) != 0;
	if (!ok || c->n_topics >= MAX_TOPICS) {
		snprintf(x->err, sizeof x->err,
			 c->n_topics >= MAX_TOPICS ? "topics: at most 64"
						   : "topics: expected \"slug = Title | section\" or \"slug = "
						     "Title | section | order\", each slug once");
		free(copy);
		return false;
	}
	c->topics = xrealloc(c->topics, (c->n_topics + 1) * sizeof *c->topics);
	c->topics[c->n_topics++] = (struct topic){
	    .slug = xstrdup(slug), .title = xstrdup(parts[0]), .section = xstrdup(parts[1]), .order = n == 3};
	free(copy);
	return true;
}

static bool parse_int(const char *v, int lo, int hi, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);
	if (!*v || *end || n < lo || n > hi)
		return false;
	*out = (int)n;
	return true;
}

static int on_key(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *x = user;
	struct config *c = x->c;
	if (!utf8_valid(value, strlen(value))) {
		snprintf(x->err, sizeof x->err, "value of \"%s\" is not valid UTF-8", key);
		return 0;
	}
	static const struct {
		const char *section, *key;
		size_t offset;
	} strs[] = {
	    {"site", "name", offsetof(struct config, site_name)},
	    {"site", "logo", offsetof(struct config, logo)},
	    {"site", "default_country", offsetof(struct config, default_country)},
	    {"site", "content_dir", offsetof(struct config, content_dir)},
	    {"site", "static_dir", offsetof(struct config, static_dir)},
	    {"support", "email", offsetof(struct config, support_email)},
	    {"support", "phone", offsetof(struct config, support_phone)},
	    {"support", "hours", offsetof(struct config, support_hours)},
	    {"support", "telegram", offsetof(struct config, support_telegram)},
	    {"server", "listen", offsetof(struct config, listen)},
	    {"server", "data", offsetof(struct config, data_dir)},
	    {"server", "db", offsetof(struct config, db)},
	    {"server", "public_url", offsetof(struct config, public_url)},
	    {"server", "trusted_proxies", offsetof(struct config, trusted_proxies)},
	    {"mail", "relay", offsetof(struct config, mail_relay)},
	    {"mail", "from", offsetof(struct config, mail_from)},
	    {"mail", "tls", offsetof(struct config, mail_tls)},
	};
	static const struct {
		const char *section, *key;
		size_t offset;
		int lo, hi;
	} ints[] = {
	    {"site", "home_articles", offsetof(struct config, home_articles), 1, 100},
	    {"site", "section_page_size", offsetof(struct config, section_page_size), 10, 500},
	    {"server", "threads", offsetof(struct config, threads), 0, 256},
	    {"server", "desk_threads", offsetof(struct config, desk_threads), 1, 64},
	    {"server", "writers", offsetof(struct config, writers), 0, 16},
	    {"limits", "max_connections", offsetof(struct config, max_connections), 16, 100000},
	    {"limits", "max_connections_per_ip", offsetof(struct config, max_connections_per_ip), 1, 100000},
	    {"limits", "connection_timeout", offsetof(struct config, connection_timeout), 1, 3600},
	    {"limits", "header_timeout", offsetof(struct config, header_timeout), 1, 600},
	    {"limits", "max_url_bytes", offsetof(struct config, max_url_bytes), 256, 65536},
	    {"limits", "max_header_bytes", offsetof(struct config, max_header_bytes), 1024, 1 << 20},
	    {"limits", "connection_memory", offsetof(struct config, connection_memory), 8192, 1 << 24},
	    {"limits", "cache_mb", offsetof(struct config, cache_mb), 0, 65536},
	    {"limits", "search_cache_mb", offsetof(struct config, search_cache_mb), 0, 4096},
	    {"limits", "cache_entries", offsetof(struct config, cache_entries), 0, 1 << 20},
	    {"limits", "file_sweep_hours", offsetof(struct config, file_sweep_hours), 1, 8760},
	    {"limits", "search_log_days", offsetof(struct config, search_log_days), 1, 36500},
	    {"limits", "min_body_rate", offsetof(struct config, min_body_rate), 0, 1 << 30},
	    {"limits", "body_grace", offsetof(struct config, body_grace), 1, 3600},
	    {"limits", "search_log_per_ip_hour", offsetof(struct config, search_log_per_ip_hour), 0, 1000000},
	    {"server", "shutdown_grace", offsetof(struct config, shutdown_grace), 0, 3600},
	    {"mail", "max_attempts", offsetof(struct config, mail_max_attempts), 1, 100},
	    {"server", "secure_cookies", offsetof(struct config, secure_cookies), 0, 1},
	    {"requests", "member_id_min", offsetof(struct config, member_id_min), 1, 32},
	    {"requests", "member_id_max", offsetof(struct config, member_id_max), 1, 32},
	    {"requests", "max_per_ip_hour", offsetof(struct config, max_per_ip_hour), 1, 1000000},
	    {"requests", "max_per_member_day", offsetof(struct config, max_per_member_day), 1, 1000000},
	    {"requests", "auto_close_days", offsetof(struct config, auto_close_days), 1, 3650},
	    {"editors", "require_review", offsetof(struct config, require_review), 0, 1},
	};
	if (!strcmp(section, "countries")) {
		if (!country_code_valid(key) || !*value) {
			snprintf(x->err, sizeof x->err,
				 "countries: expected \"XX = Name\" with a two-letter upper-case code");
			return 0;
		}
		if (!x->countries_seen) {
			/* A [countries] section replaces the default list. */
			for (size_t i = 0; i < c->n_countries; i++)
				free(c->countries[i].name);
			c->n_countries = 0;
			x->countries_seen = true;
		}
		add_country(c, key, value);
		return 1;
	}
	if (!strcmp(section, "topics"))
		return add_topic(x, key, value) ? 1 : 0;
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		if (!strcmp(section, strs[i].section) && !strcmp(key, strs[i].key)) {
			set_str((char **)((char *)c + strs[i].offset), value);
			if (!strcmp(key, "public_url"))
				c->public_url_set = true;
			return 1;
		}
	}
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		if (!strcmp(section, ints[i].section) && !strcmp(key, ints[i].key)) {
			if (!parse_int(value, ints[i].lo, ints[i].hi, (int *)((char *)c + ints[i].offset))) {
				snprintf(x->err, sizeof x->err, "%s: expected an integer from %d to %d", key,
					 ints[i].lo, ints[i].hi);
				return 0;
			}
			return 1;
		}
	}
	snprintf(x->err, sizeof x->err, "unknown key \"%s\" in [%s]", key, section);
	return 0;
}

bool config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct load_ctx x = {.c = c};
	int rc = ini_parse(path, on_key, &x);
	if (rc == -1) {
		snprintf(err, errlen, "%s: cannot open the configuration file", path);
		return false;
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: %s", path, rc, x.err[0] ? x.err : "syntax error");
		return false;
	}
	return true;
}

bool config_check(const struct config *c, char *err, size_t errlen)
{
	if (c->member_id_min > c->member_id_max) {
		snprintf(err, errlen, "[requests] member_id_min is above member_id_max");
		return false;
	}
	if (c->n_countries == 0) {
		snprintf(err, errlen, "the list of countries is empty");
		return false;
	}
	if (!config_country(c, c->default_country)) {
		snprintf(err, errlen, "default_country \"%s\" is not in [countries]", c->default_country);
		return false;
	}
	if (c->db[0] && strncmp(c->db, "postgres://", 11) && strncmp(c->db, "postgresql://", 13)) {
		snprintf(err, errlen, "db must be empty (SQLite in the data directory) or a postgres:// URL");
		return false;
	}
	if (!strchr(c->listen, ':')) {
		snprintf(err, errlen, "listen must be HOST:PORT, got \"%s\"", c->listen);
		return false;
	}
	if (c->max_header_bytes + c->max_url_bytes > c->connection_memory) {
		snprintf(err, errlen, "connection_memory must be at least max_url_bytes + max_header_bytes");
		return false;
	}
	if (c->mail_relay[0] && strncmp(c->mail_relay, "smtp://", 7) && strncmp(c->mail_relay, "smtps://", 8)) {
		snprintf(err, errlen, "[mail] relay must be empty or an smtp:// or smtps:// URL");
		return false;
	}
	if (strcmp(c->mail_tls, "required") != 0 && strcmp(c->mail_tls, "none") != 0) {
		snprintf(err, errlen, "[mail] tls must be \"required\" or \"none\", got \"%s\"", c->mail_tls);
		return false;
	}
	/* The same rules as mail_address_valid() (core does not call into mail/): printable ASCII
	 * without specials before the one '@', dot-separated labels of [A-Za-z0-9-] after it. */
	const char *at = strchr(c->mail_from, '@');
	bool from_ok = at && at != c->mail_from && at[1] && at[1] != '.' && !strchr(at + 1, '@') && !strstr(at, "..") &&
		       c->mail_from[strlen(c->mail_from) - 1] != '.' && strlen(c->mail_from) <= 254;
	for (const char *p = c->mail_from; from_ok && *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (p < at)
			from_ok = ch > ' ' && ch < 0x7f && !strchr("\"<>(),;:[]\\", ch);
		else if (p > at)
			from_ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
				  ch == '-' || ch == '.';
	}
	if (!from_ok) {
		snprintf(err, errlen, "[mail] from must be an e-mail address, got \"%s\"", c->mail_from);
		return false;
	}
	char why[160];
	struct netaddr_list *proxies = netaddr_list_parse(c->trusted_proxies, why, sizeof why);
	if (!proxies) {
		snprintf(err, errlen, "[server] trusted_proxies: %s", why);
		return false;
	}
	netaddr_list_free(proxies);
	return true;
}

const struct country *config_country(const struct config *c, const char *code)
{
	if (!code)
		return NULL;
	for (size_t i = 0; i < c->n_countries; i++)
		if (!strcmp(c->countries[i].code, code))
			return &c->countries[i];
	return NULL;
}

const char *config_db_target(const struct config *c)
{
	return c->db && c->db[0] ? c->db : c->data_dir;
}

void config_free(struct config *c)
{
	char **strs[] = {&c->site_name,
			 &c->logo,
			 &c->default_country,
			 &c->content_dir,
			 &c->static_dir,
			 &c->support_email,
			 &c->support_phone,
			 &c->support_hours,
			 &c->support_telegram,
			 &c->listen,
			 &c->data_dir,
			 &c->mail_relay,
			 &c->mail_from,
			 &c->public_url,
			 &c->mail_tls,
			 &c->trusted_proxies,
			 &c->db};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < c->n_countries; i++)
		free(c->countries[i].name);
	free(c->countries);
	c->countries = NULL;
	c->n_countries = 0;
	for (size_t i = 0; i < c->n_topics; i++) {
		free(c->topics[i].slug);
		free(c->topics[i].title);
		free(c->topics[i].section);
	}
	free(c->topics);
	c->topics = NULL;
	c->n_topics = 0;
}
