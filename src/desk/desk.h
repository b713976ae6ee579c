/*
 * desk — the agents' pages: login, the queue with filters and counts, a request with its
 * conversation, attachments and audit log, and the actions (public reply, internal note, canned
 * replies, assign, status, merge — only one member's requests, shown for confirmation first and
 * done by a second POST), plus the outbox when mail stays there. A refused action answers 422
 * with the reason inside the desk and a link back to the request.
 *
 * Every desk route is in the route table with its role and CSRF flag; the dispatcher has already
 * checked both when a handler here runs (ctx->user is set). The handlers run on the back-office
 * threads with the back office's connections (app.h), never on an HTTP thread, so they may be
 * slow without holding up members' pages; they must not suspend the request themselves. Changes
 * go through req/ (one transaction each, with the audit row and the member's mail).
 */
#ifndef SPRAVKA_DESK_H
#define SPRAVKA_DESK_H

struct ctx;

void desk_login_form(struct ctx *c); /* GET /desk/login */
void desk_login(struct ctx *c);	     /* POST /desk/login */
void desk_logout(struct ctx *c);     /* POST /desk/logout */
void desk_queue(struct ctx *c);	     /* GET /desk */
void desk_request(struct ctx *c);    /* GET /desk/r/{number} */
void desk_action(struct ctx *c);     /* POST /desk/r/{number} */
void desk_file(struct ctx *c);	     /* GET /desk/f/{id}: an attachment */
void desk_canned(struct ctx *c);     /* GET /desk/canned */
void desk_canned_add(struct ctx *c); /* POST /desk/canned */
void desk_outbox(struct ctx *c);     /* GET /desk/outbox */

#endif
