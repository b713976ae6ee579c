/*
 * netaddr — IP addresses as the server sees them: lists of trusted proxies (addresses and CIDR
 * ranges, IPv4 and IPv6), the client address behind them (X-Forwarded-For), and the key that
 * per-client limits count under.
 *
 * An IPv4-mapped IPv6 address (::ffff:192.0.2.1) is the IPv4 address everywhere here. Text
 * forms are normalised (inet_ntop), so that one client has one spelling. Nothing here
 * allocates except netaddr_list_parse (one block, freed with netaddr_list_free).
 */
#ifndef SPRAVKA_NETADDR_H
#define SPRAVKA_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

struct netaddr {
	int family;		 /* AF_INET or AF_INET6; 0: none */
	unsigned char bytes[16]; /* network order; 4 used for AF_INET */
};

/* Room for any normalised address text, and for a limit key ("2001:db8:1:2::/64"). */
#define NETADDR_TEXT 48

/* Parses a plain IPv4 or IPv6 address; false for anything else (names, ports, zones, spaces). */
bool netaddr_parse(const char *s, size_t n, struct netaddr *out);
/* 127.0.0.0/8 or ::1 (an IPv4-mapped address counts as IPv4). */
bool netaddr_is_loopback(const struct netaddr *a);
/* From a socket address; false for other families. */
bool netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);
/* The normalised text form into out (NETADDR_TEXT bytes); "?" for none. */
void netaddr_format(const struct netaddr *a, char *out);
/*
 * The key per-client limits count under, into out (NETADDR_TEXT bytes): an IPv4 address as
 * it is; an IPv6 address as its /64 network ("2001:db8:1:2::/64"), since one subscriber
 * commonly holds a whole /64 and could otherwise take a fresh address for every try.
 */
void netaddr_limit_key(const struct netaddr *a, char *out);

/* A list of addresses and CIDR ranges. */
struct netaddr_list;
/*
 * Parses "10.0.0.1, 192.168.0.0/16, ::1, fd00::/8" (commas and/or blanks between items; an
 * address without /N is one host). An empty string gives an empty list. NULL with a message in
 * err for a malformed item or prefix.
 */
struct netaddr_list *netaddr_list_parse(const char *s, char *err, size_t errlen);
void netaddr_list_free(struct netaddr_list *l);
/* Whether a is in one of the list's ranges; false for an empty or NULL list. */
bool netaddr_list_has(const struct netaddr_list *l, const struct netaddr *a);
bool netaddr_list_empty(const struct netaddr_list *l);

/*
 * The client behind trusted proxies. peer is the TCP peer; xff is every X-Forwarded-For value
 * the request carried, joined with ',' in the order received (NULL when none). When the peer is
 * not in trusted, the header is ignored and the client is the peer. Otherwise the list is walked
 * from the right: an address in trusted is one more proxy, the first one that is not is the
 * client. When the walk meets an item that is not an address ("unknown", a name, garbage, an
 * empty item), the client is the last trusted hop reached (the proxy that handed over the
 * malformed value): a client cannot choose its address by sending garbage, and a malformed
 * header never makes requests look as if they came from a made-up address. When every item is
 * a trusted proxy, the left-most one is the client. At most 64 items from the right are read.
 */
void netaddr_client(const struct netaddr *peer, const struct netaddr_list *trusted, const char *xff,
		    struct netaddr *client);

#endif
