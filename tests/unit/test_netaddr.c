/*
 * Unit tests of src/core/netaddr.c (trusted proxies, the client behind them, limit keys) and of
 * the search log's per-client cap (src/searchlog/search_log.c), which counts under those keys.
 */
#include "../../src/searchlog/search_log.h"
#include "../../src/core/netaddr.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static struct netaddr addr(const char *s)
{
	struct netaddr a;
	cr_assert(netaddr_parse(s, strlen(s), &a), "%s", s);
	return a;
}

static const char *text(const struct netaddr *a)
{
	static char out[NETADDR_TEXT];
	netaddr_format(a, out);
	return out;
}

static struct netaddr_list *list(const char *s)
{
	char err[160] = "";
	struct netaddr_list *l = netaddr_list_parse(s, err, sizeof err);
	cr_assert_not_null(l, "%s: %s", s, err);
	return l;
}

/* The client netaddr_client finds for peer and X-Forwarded-For xff. */
static const char *client(const char *trusted, const char *peer, const char *xff)
{
	struct netaddr_list *l = list(trusted);
	struct netaddr p = addr(peer), c;
	netaddr_client(&p, l, xff, &c);
	netaddr_list_free(l);
	return text(&c);
}

Test(netaddr, addresses_parse_strictly_and_print_normalised)
{
	struct netaddr a = {0};
	cr_assert_str_eq(text(&a), "?");
	a = addr("2001:DB8:0:0::1");
	cr_assert_str_eq(text(&a), "2001:db8::1");
	a = addr("::ffff:192.0.2.7");
	cr_assert_str_eq(text(&a), "192.0.2.7", "mapped IPv4 is IPv4");
	const char *bad[] = {"",	 "1.2.3",      "1.2.3.4.5",    "256.1.1.1", "01.2.3.4",	 "example.org",
			     " 1.2.3.4", "1.2.3.4:80", "fe80::1%eth0", "unknown",   "1.2.3.4/24"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_assert(!netaddr_parse(bad[i], strlen(bad[i]), &a), "%s accepted", bad[i]);
	struct sockaddr_in6 sa6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &sa6.sin6_addr);
	cr_assert(netaddr_from_sockaddr((struct sockaddr *)&sa6, &a));
	cr_assert_str_eq(text(&a), "10.1.2.3");
}

Test(netaddr, limit_keys_are_ipv4_addresses_and_ipv6_slash_64s)
{
	char key[NETADDR_TEXT], key2[NETADDR_TEXT];
	struct netaddr a = addr("203.0.113.9");
	netaddr_limit_key(&a, key);
	cr_assert_str_eq(key, "203.0.113.9");
	a = addr("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
	netaddr_limit_key(&a, key);
	cr_assert_str_eq(key, "2001:db8:1:2::/64");
	a = addr("2001:db8:1:2::ffff");
	netaddr_limit_key(&a, key2);
	cr_assert_str_eq(key, key2, "one /64, one client");
}

Test(netaddr, lists_take_addresses_and_cidr_ranges_of_both_families)
{
	struct netaddr_list *l = list(" 10.0.0.1, 192.168.0.0/16 ::1  fd00::/8,::ffff:172.16.0.0/108");
	const char *in[] = {"10.0.0.1", "192.168.255.1", "::1", "fd12::3", "172.16.5.5", "::ffff:192.168.1.1"};
	const char *out[] = {"10.0.0.2", "192.169.0.1", "::2", "fe00::1", "172.32.0.1", "1.2.3.4"};
	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		struct netaddr a = addr(in[i]), b = addr(out[i]);
		cr_assert(netaddr_list_has(l, &a), "%s", in[i]);
		cr_assert(!netaddr_list_has(l, &b), "%s", out[i]);
	}
	netaddr_list_free(l);
	l = list("0.0.0.0/0");
	struct netaddr a = addr("8.8.8.8"), b = addr("2001:db8::1");
	cr_assert(netaddr_list_has(l, &a));
	cr_assert(!netaddr_list_has(l, &b), "an IPv4 range never holds an IPv6 address");
	netaddr_list_free(l);
	l = list("");
	cr_assert(netaddr_list_empty(l));
	cr_assert(!netaddr_list_has(l, &a));
	netaddr_list_free(l);
	char err[160];
	const char *bad[] = {"10.0.0.0/33",	  "::/129",	 "10.0.0.0/",
			     "10.0.0.0/8x",	  "proxy.local", "10.0.0.1;10.0.0.2",
			     "::ffff:10.0.0.0/95"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		cr_assert_null(netaddr_list_parse(bad[i], err, sizeof err), "%s accepted", bad[i]);
		cr_assert(strlen(err) > 0);
	}
}

Test(netaddr, the_client_is_the_rightmost_untrusted_forwarded_address)
{
	const char *p = "10.0.0.0/8, 2001:db8:ffff::/48";
	/* An untrusted peer: the header is ignored, whatever it says. */
	cr_assert_str_eq(client(p, "198.51.100.1", "203.0.113.5"), "198.51.100.1");
	cr_assert_str_eq(client("", "10.0.0.1", "203.0.113.5"), "10.0.0.1", "no proxies configured");
	/* A trusted peer. */
	cr_assert_str_eq(client(p, "10.0.0.1", "203.0.113.5"), "203.0.113.5");
	cr_assert_str_eq(client(p, "10.0.0.1", NULL), "10.0.0.1", "no header: the proxy itself");
	/* What the client wrote itself is to the left of what the proxies added. */
	cr_assert_str_eq(client(p, "10.0.0.1", "1.1.1.1, 203.0.113.5"), "203.0.113.5");
	cr_assert_str_eq(client(p, "10.0.0.1", "1.1.1.1, 203.0.113.5, 10.9.9.9"), "203.0.113.5", "two proxies");
	cr_assert_str_eq(client(p, "10.0.0.1", "1.1.1.1,203.0.113.5 ,\t10.9.9.9"), "203.0.113.5");
	cr_assert_str_eq(client(p, "2001:db8:ffff::1", "2001:db8:1::7"), "2001:db8:1::7");
	cr_assert_str_eq(client(p, "::ffff:10.0.0.1", "::ffff:203.0.113.5"), "203.0.113.5", "mapped forms");
	cr_assert_str_eq(client(p, "10.0.0.1", "[2001:db8::9]:4711"), "2001:db8::9", "with a port");
	cr_assert_str_eq(client(p, "10.0.0.1", "203.0.113.5:4711"), "203.0.113.5", "with a port");
	/* Malformed: the last trusted hop, never the garbage and never what is left of it. */
	cr_assert_str_eq(client(p, "10.0.0.1", "203.0.113.5, unknown"), "10.0.0.1");
	cr_assert_str_eq(client(p, "10.0.0.1", "203.0.113.5, 10.2.2.2, garbage"), "10.0.0.1");
	cr_assert_str_eq(client(p, "10.0.0.1", "garbage, 10.2.2.2"), "10.2.2.2");
	cr_assert_str_eq(client(p, "10.0.0.1", "203.0.113.5,"), "10.0.0.1", "an empty item");
	cr_assert_str_eq(client(p, "10.0.0.1", ""), "10.0.0.1");
	cr_assert_str_eq(client(p, "10.0.0.1", "[2001:db8::9"), "10.0.0.1");
	cr_assert_str_eq(client(p, "10.0.0.1", "1.2.3.4:x"), "10.0.0.1");
	/* Every item trusted: the left-most. */
	cr_assert_str_eq(client(p, "10.0.0.1", "10.3.3.3, 10.2.2.2"), "10.3.3.3");
}

Test(netaddr, the_walk_stops_after_64_items)
{
	char xff[70 * 12 + 32] = "203.0.113.5";
	for (int i = 0; i < 70; i++)
		strcat(xff, ", 10.0.0.9");
	cr_assert_str_eq(client("10.0.0.0/8", "10.0.0.1", xff), "10.0.0.9");
}

Test(netaddr, the_search_log_takes_at_most_n_entries_per_client_an_hour)
{
	struct search_log *l = search_log_new(3);
	for (int i = 0; i < 3; i++)
		cr_assert(search_log_add(l, "203.0.113.5", "пароль", 1, 10), "entry %d", i);
	cr_assert(!search_log_add(l, "203.0.113.5", "пароль", 1, 10), "the fourth of one client");
	cr_assert(search_log_add(l, "203.0.113.6", "пароль", 1, 10), "another client");
	/* Many clients: each gets its own count. */
	char c[32];
	int queued = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(c, sizeof c, "198.51.%d.%d", i / 250, i % 250);
		queued += search_log_add(l, c, "q", 0, 1);
	}
	cr_assert_eq(queued, 1000);
	search_log_free(l);
	l = search_log_new(0);
	cr_assert(!search_log_add(l, "203.0.113.5", "q", 0, 1), "0: nothing is logged");
	search_log_free(l);
}
