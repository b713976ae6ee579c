/*
 * config — the server's settings: defaults, the INI file (parsed by libinih), and their checks.
 *
 * Every key, its default and its meaning are listed in docs/configuration.md and in
 * spravka.ini.example; config_load() refuses unknown sections and keys, so a typo in the file is
 * an error with its line number rather than a silently ignored setting. The struct is filled once
 * at start and then only read, from any thread.
 */
#ifndef SPRAVKA_CONFIG_H
#define SPRAVKA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct country {
	char code[3]; /* ISO 3166-1 alpha-2, upper case */
	char *name;   /* Russian name, e.g. "Казахстан" */
};

/* A topic of support requests, from [topics]: "slug = Title | section [| order]". */
struct topic {
	char *slug;    /* a-z, 0-9, '-' */
	char *title;   /* Russian, shown in the form */
	char *section; /* knowledge-base section whose articles are suggested; "" = any */
	int order;     /* 1: the order number field applies */
};

struct config {
	/* [site] */
	char *site_name;
	char *logo;	       /* URL of a logo image; empty: the site name is the logo */
	char *default_country; /* a code from countries */
	char *content_dir;     /* demo content imported into an empty database */
	char *static_dir;      /* style sheet and other static files */
	int home_articles;     /* articles shown under each section on the home page */
	int section_page_size; /* articles per page of a section (page and API) */
	/* [support] */
	char *support_email;
	char *support_phone;
	char *support_hours;
	char *support_telegram;
	/* [countries]: CODE = Name, in the order they are listed */
	struct country *countries;
	size_t n_countries;
	/* [server] */
	char *listen;	  /* HOST:PORT */
	char *data_dir;	  /* holds spravka.db (SQLite), the attachments and link.key */
	char *db;	  /* "" (SQLite in data_dir) or a postgres:// URL */
	int threads;	  /* HTTP worker threads; 0 = one per core */
	int desk_threads; /* back-office threads (desk, /metrics) at a lower CPU priority */
	int writers;	  /* group-commit writer threads on PostgreSQL; 0 = the default */
	/* [limits] */
	int max_connections;	    /* in all */
	int max_connections_per_ip; /* >= 1 (default 128) */
	int connection_timeout;	    /* seconds of inactivity before a connection is closed */
	int header_timeout;	    /* seconds a client has to send a request's headers */
	int max_url_bytes;	    /* longer request targets get 414 */
	int max_header_bytes;	    /* larger header blocks get 431 */
	int connection_memory;	    /* libmicrohttpd's memory limit per connection, bytes */
	int cache_mb;		    /* the page cache's budget in MiB; 0: no page cache */
	int search_cache_mb;	    /* recent search answers kept, MiB; 0: none */
	int cache_entries;	    /* deprecated: -1 unset; else also a cap on the entries (0: no cache) */
	int file_sweep_hours;	    /* unreferenced stored files and old uploads are removed after this */
	int search_log_days;	    /* search log rows are kept this many days */
	int min_body_rate;	    /* bytes per second a request body must keep up after body_grace */
	int body_grace;		    /* seconds a body may take before min_body_rate applies */
	int search_log_per_ip_hour; /* search-log entries per client per hour */
	/* [mail] */
	char *mail_relay;      /* smtp:// or smtps:// URL of the relay; empty: mail stays in the outbox */
	char *mail_from;       /* envelope sender and From: address */
	int mail_max_attempts; /* failed deliveries before a letter is marked failed */
	char *mail_tls;	       /* "required" (default) or "none"; a relay on loopback may go without */
	/* [server] */
	char *public_url;      /* how members reach the portal, for links in mail */
	int secure_cookies;    /* 1: cookies get Secure (the portal is served over HTTPS) */
	bool public_url_set;   /* public_url was given in the file (forms check Origin against it) */
	char *trusted_proxies; /* addresses and CIDR ranges whose X-Forwarded-For is believed */
	int shutdown_grace;    /* seconds SIGTERM waits for in-flight work before answering 503 */
	/* [requests] */
	int member_id_min, member_id_max; /* digits of a member ID */
	int max_per_ip_hour;		  /* new requests per client address per hour */
	int max_per_member_day;		  /* new requests per member ID per day */
	int auto_close_days;		  /* resolved requests close after this many days */
	/* [editors] */
	int require_review; /* 1: an editor's draft is published by another editor or an admin */
	/* [topics], in the order listed; none = the built-in list (req_default_topics) */
	struct topic *topics;
	size_t n_topics;
};

/* Fills c with the defaults. */
void config_defaults(struct config *c);
/*
 * Reads the INI file at path over the values already in c. Returns false with a message such as
 * "spravka.ini:12: unknown key \"lisen\" in [server]" in err.
 */
bool config_load(struct config *c, const char *path, char *err, size_t errlen);
/* Checks the values together (default country listed, limits in range...). */
bool config_check(const struct config *c, char *err, size_t errlen);
/* The country with this code, or NULL. */
const struct country *config_country(const struct config *c, const char *code);
void config_free(struct config *c);

/* The database target (db.h's db_open): db when set, else data_dir. */
const char *config_db_target(const struct config *c);

#endif
