/*
 * api — the JSON API v1 (docs/api.md, docs/openapi.yaml).
 *
 * Every answer is JSON built with jansson; every error is
 * {"error": {"code": "...", "message": "<Russian text>"}} with a fitting status. Handlers read
 * through kb/ and search/ only.
 */
#ifndef SPRAVKA_API_H
#define SPRAVKA_API_H

struct ctx;

void api_sections(struct ctx *c); /* GET /api/v1/sections */
void api_section(struct ctx *c);  /* GET /api/v1/sections/{slug} */
void api_article(struct ctx *c);  /* GET /api/v1/articles/{slug}?country=XX */
void api_search(struct ctx *c);   /* GET /api/v1/search?q=&country=&section=&limit= */
void api_topics(struct ctx *c);         /* GET /api/v1/topics */
void api_request_create(struct ctx *c); /* POST /api/v1/requests (JSON or multipart) */
/* Replaces the response with a JSON error. */
void api_error(struct ctx *c, int status, const char *code, const char *message);

#endif
