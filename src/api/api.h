/*
 * api — the JSON API v1 (docs/api.md, docs/openapi.yaml).
 *
 * Every answer is JSON built with jansson; every error is
 * {"error": {"code": "...", "message": "<Russian text>"}} with a fitting status. Handlers read
 * through kb/ and search/ only.
 */
#ifndef SPRAVKA_API_H
#define SPRAVKA_API_H

#include <stdbool.h>
#include <stddef.h>

struct ctx;
struct arena;
struct req_input;
struct req_errors;

void api_sections(struct ctx *c);	/* GET /api/v1/sections */
void api_section(struct ctx *c);	/* GET /api/v1/sections/{slug} */
void api_article(struct ctx *c);	/* GET /api/v1/articles/{slug}?country=XX */
void api_search(struct ctx *c);		/* GET /api/v1/search?q=&country=&section=&limit= */
void api_topics(struct ctx *c);		/* GET /api/v1/topics */
void api_request_create(struct ctx *c); /* POST /api/v1/requests (JSON or multipart) */
/*
 * The creation request's JSON body (from the network: any bytes) read into in, strings copied
 * to a; a known field that is not a string goes to shape. False when the body is not a JSON
 * object (bad_json). Unknown keys are ignored; duplicate keys refuse the body.
 */
bool api_request_input_from_json(struct arena *a, const char *body, size_t len, struct req_input *in,
				 struct req_errors *shape);
/* Replaces the response with a JSON error. */
void api_error(struct ctx *c, int status, const char *code, const char *message);
/* Serializes j (a jansson value, freed) as the JSON body with status. */
struct json_t;
void api_send_json(struct ctx *c, int status, struct json_t *j);
/* The editors' API (articles_api.c; role editor, by API token). */
void api_article_put(struct ctx *c);
void api_article_publish(struct ctx *c);
void api_article_submit(struct ctx *c);
void api_article_reject(struct ctx *c);
void api_article_revisions(struct ctx *c);
void api_article_archive(struct ctx *c);
void api_article_rename(struct ctx *c);
void api_article_audit(struct ctx *c);
/* GET /api/v1/insights/searches (role editor, by API token): the grouped search log. */
void api_insights_searches(struct ctx *c);
/* GET /api/v1/insights/articles?days=N&limit=N: the feedback per article, the least helpful first. */
void api_insights_articles(struct ctx *c);

#endif
