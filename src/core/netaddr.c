/* IP addresses, trusted proxies, X-Forwarded-For. See netaddr.h. */
#include "netaddr.h"

#include "arena.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct range {
	struct netaddr a;
	int prefix; /* bits */
};

struct netaddr_list {
	size_t n;
	struct range r[];
};

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ::ffff:a.b.c.d is a.b.c.d. */
static void unmap(struct netaddr *a)
{
	if (a->family == AF_INET6 && !memcmp(a->bytes, v4_mapped, 12)) {
		memmove(a->bytes, a->bytes + 12, 4);
		memset(a->bytes + 4, 0, 12);
		a->family = AF_INET;
	}
}

bool netaddr_parse(const char *s, size_t n, struct netaddr *out)
{
	char tmp[INET6_ADDRSTRLEN];
	memset(out, 0, sizeof *out);
	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, out->bytes) == 1) {
		out->family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, out->bytes) == 1) {
		out->family = AF_INET6;
		unmap(out);
		return true;
	}
	memset(out, 0, sizeof *out);
	return false;
}

bool netaddr_is_loopback(const struct netaddr *a)
{
	static const unsigned char v6_loopback[16] = {[15] = 1};
	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return a->family == AF_INET6 && !memcmp(a->bytes, v6_loopback, 16);
}

bool netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
	memset(out, 0, sizeof *out);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(out->bytes, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		unmap(out);
		return true;
	}
	return false;
}

void netaddr_format(const struct netaddr *a, char *out)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, out, NETADDR_TEXT))
		strcpy(out, "?");
}

void netaddr_limit_key(const struct netaddr *a, char *out)
{
	if (a->family != AF_INET6)
		return netaddr_format(a, out);
	struct netaddr net = *a;
	memset(net.bytes + 8, 0, 8);
	netaddr_format(&net, out);
	strcat(out, "/64");
}

static bool in_range(const struct range *r, const struct netaddr *a)
{
	if (r->a.family != a->family)
		return false;
	int full = r->prefix / 8, rest = r->prefix % 8;
	if (memcmp(r->a.bytes, a->bytes, (size_t)full))
		return false;
	if (!rest)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (r->a.bytes[full] & mask) == (a->bytes[full] & mask);
}

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

struct netaddr_list *netaddr_list_parse(const char *s, char *err, size_t errlen)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += is_sep(*p);
	struct netaddr_list *l = xcalloc(1, sizeof *l + cap * sizeof l->r[0]);
	for (const char *p = s; *p;) {
		while (is_sep(*p))
			p++;
		if (!*p)
			break;
		size_t len = 0;
		while (p[len] && !is_sep(p[len]))
			len++;
		int shown = (int)(len > 60 ? 60 : len);
		const char *slash = memchr(p, '/', len);
		size_t alen = slash ? (size_t)(slash - p) : len;
		struct range r;
		if (!netaddr_parse(p, alen, &r.a)) {
			snprintf(err, errlen, "\"%.*s\" is not an IP address or CIDR range", shown, p);
			netaddr_list_free(l);
			return NULL;
		}
		/* A mapped IPv6 range (::ffff:10.0.0.0/104) is the IPv4 range. */
		bool mapped = r.a.family == AF_INET && memchr(p, ':', alen);
		int max = r.a.family == AF_INET ? 32 : 128;
		r.prefix = max;
		if (slash) {
			char *end;
			long bits = strtol(slash + 1, &end, 10);
			if (end != p + len || slash + 1 == end || bits < (mapped ? 96 : 0) ||
			    bits > (mapped ? 128 : max)) {
				snprintf(err, errlen, "bad prefix length in \"%.*s\"", shown, p);
				netaddr_list_free(l);
				return NULL;
			}
			r.prefix = (int)(mapped ? bits - 96 : bits);
		}
		l->r[l->n++] = r;
		p += len;
	}
	return l;
}

void netaddr_list_free(struct netaddr_list *l)
{
	free(l);
}

bool netaddr_list_has(const struct netaddr_list *l, const struct netaddr *a)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (in_range(&l->r[i], a))
			return true;
	return false;
}

bool netaddr_list_empty(const struct netaddr_list *l)
{
	return !l || l->n == 0;
}

static bool all_digits(const char *s, const char *end)
{
	if (s == end)
		return false;
	for (; s < end; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* One X-Forwarded-For item: a plain address, "[v6]", "[v6]:port" or "v4:port". */
static bool parse_item(const char *s, size_t n, struct netaddr *out)
{
	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	const char *end = s + n;
	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (!close || (close + 1 < end && (close[1] != ':' || !all_digits(close + 2, end))))
			return false;
		return netaddr_parse(s + 1, (size_t)(close - s) - 1, out) && out->family == AF_INET6;
	}
	const char *colon = memchr(s, ':', n);
	if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) /* one colon: v4:port */
		return all_digits(colon + 1, end) && netaddr_parse(s, (size_t)(colon - s), out) &&
		       out->family == AF_INET;
	return netaddr_parse(s, n, out);
}

void netaddr_client(const struct netaddr *peer, const struct netaddr_list *trusted, const char *xff,
		    struct netaddr *client)
{
	*client = *peer;
	if (!xff || !netaddr_list_has(trusted, peer))
		return;
	size_t end = strlen(xff);
	for (int items = 0; items < 64; items++) {
		size_t start = end;
		while (start > 0 && xff[start - 1] != ',')
			start--;
		struct netaddr a;
		if (!parse_item(xff + start, end - start, &a))
			return; /* malformed or empty: the last trusted hop */
		*client = a;
		if (!netaddr_list_has(trusted, &a) || start == 0)
			return;
		end = start - 1;
	}
}
