/*
 * arena — per-request memory.
 *
 * An arena hands out memory that lives until arena_free() releases all of it at once. Every
 * request handler allocates from its request's arena and never calls free(); the arena dies
 * with the response. Allocation failure aborts the process through xmalloc: sizes that come
 * from the network are capped before they reach an allocator, so only a real out-of-memory
 * condition can get here.
 */
#ifndef SPRAVKA_ARENA_H
#define SPRAVKA_ARENA_H

#include <stddef.h>

struct arena;

/* A new empty arena. Never returns NULL. Free with arena_free(). */
struct arena *arena_new(void);
/* Releases the arena and everything allocated from it. NULL is allowed. */
void arena_free(struct arena *a);
/* The bytes the arena's chunks hold (what it costs, not what was asked for); 0 for NULL. */
size_t arena_bytes(const struct arena *a);
/* n bytes aligned for any type, zero-filled. */
void *arena_alloc(struct arena *a, size_t n);
/* An array of elements of size bytes in a, used of them in use: p itself while used < *cap,
 * else a copy in a block twice as large (*cap doubled; the old block stays in the arena). */
void *arena_grow(struct arena *a, void *p, size_t used, size_t *cap, size_t size);
/* Copy of the NUL-terminated s (NULL gives NULL). */
char *arena_strdup(struct arena *a, const char *s);
/* Copy of the first n bytes of s plus a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* malloc/realloc/strdup that abort on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

#endif
