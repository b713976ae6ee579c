/* gzip — one-shot gzip compression with zlib, for response bodies. Private to http. */
#ifndef SPRAVKA_GZIP_H
#define SPRAVKA_GZIP_H

#include <stddef.h>

/* gzip of data[0..len) (malloc'd, *outlen its size), or NULL if zlib fails. */
char *gzip_compress(const char *data, size_t len, size_t *outlen);

#endif
