#include "rewrite.h"

#include <string.h>

/* The US keys and the Russian letters on them, lower and upper (Shift). */
static const char *const en_keys = "qwertyuiop[]asdfghjkl;'zxcvbnm,.`";
static const char *const en_shift = "QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>~";
static const char *const ru_lower[] = {"й", "ц", "у", "к", "е", "н", "г", "ш", "щ", "з", "х",
				       "ъ", "ф", "ы", "в", "а", "п", "р", "о", "л", "д", "ж",
				       "э", "я", "ч", "с", "м", "и", "т", "ь", "б", "ю", "ё"};
static const char *const ru_upper[] = {"Й", "Ц", "У", "К", "Е", "Н", "Г", "Ш", "Щ", "З", "Х",
				       "Ъ", "Ф", "Ы", "В", "А", "П", "Р", "О", "Л", "Д", "Ж",
				       "Э", "Я", "Ч", "С", "М", "И", "Т", "Ь", "Б", "Ю", "Ё"};
/* Punctuation of the Russian layout typed on the US one: the key, then what it means. */
static const char *const punct_en = "/?&@$^#";
static const char *const punct_ru[] = {".", ",", "?", "\"", ";", ":", "№"};

static bool put(char *out, size_t outlen, size_t *k, const char *s)
{
	size_t n = strlen(s);
	if (*k + n + 1 > outlen)
		return false;
	memcpy(out + *k, s, n);
	*k += n;
	return true;
}

bool rw_layout_to_ru(const char *in, char *out, size_t outlen)
{
	size_t k = 0;
	for (const char *p = in; *p; p++) {
		const char *r = NULL, *hit;
		char one[2] = {*p, 0};
		if ((hit = strchr(en_keys, *p)) && *p)
			r = ru_lower[hit - en_keys];
		else if ((hit = strchr(en_shift, *p)) && *p)
			r = ru_upper[hit - en_shift];
		else if ((hit = strchr(punct_en, *p)) && *p)
			r = punct_ru[hit - punct_en];
		else if (*p == ' ' || *p == '-' || (*p >= '0' && *p <= '9'))
			r = one;
		else
			return false;
		if (!put(out, outlen, &k, r))
			return false;
	}
	out[k] = '\0';
	return true;
}

bool rw_layout_to_en(const char *in, char *out, size_t outlen)
{
	size_t k = 0;
	for (const char *p = in; *p;) {
		char c[2] = {0, 0};
		size_t n = 1;
		if ((unsigned char)*p < 0x80) {
			c[0] = *p;
			if (!(*p == ' ' || *p == '-' || (*p >= '0' && *p <= '9')))
				return false;
		} else {
			n = 2;
			bool found = false;
			for (size_t i = 0; i < 33 && !found; i++) {
				if (!strncmp(p, ru_lower[i], 2)) {
					c[0] = en_keys[i];
					found = true;
				} else if (!strncmp(p, ru_upper[i], 2)) {
					c[0] = en_shift[i];
					found = true;
				}
			}
			if (!found)
				return false;
		}
		if (!put(out, outlen, &k, c))
			return false;
		p += n;
	}
	out[k] = '\0';
	return true;
}

static bool vowel(char c)
{
	return strchr("aeiouy", c) != NULL;
}

/* Latin sequences and their readings; several readings where chat transliteration is ambiguous.
 * Longest sequences are tried first. */
static const struct {
	const char *lat;
	const char *cyr[3];
} seq[] = {
    {"shch", {"щ"}},	    {"sch", {"щ"}},	 {"zh", {"ж"}},	    {"kh", {"х"}},	 {"ch", {"ч"}},
    {"sh", {"ш"}},	    {"ts", {"ц", "тс"}}, {"yu", {"ю"}},	    {"ya", {"я"}},	 {"yo", {"ё", "йо"}},
    {"ju", {"ю"}},	    {"ja", {"я"}},	 {"jo", {"ё"}},	    {"ye", {"е", "ые"}}, {"'", {"ь"}},
    {"a", {"а"}},	    {"b", {"б"}},	 {"v", {"в"}},	    {"g", {"г"}},	 {"d", {"д"}},
    {"e", {"е", "э"}},	    {"z", {"з"}},	 {"i", {"и", "й"}}, {"j", {"й"}},	 {"k", {"к"}},
    {"l", {"л"}},	    {"m", {"м"}},	 {"n", {"н"}},	    {"o", {"о"}},	 {"p", {"п"}},
    {"r", {"р"}},	    {"s", {"с"}},	 {"t", {"т"}},	    {"u", {"у"}},	 {"f", {"ф"}},
    {"h", {"х"}},	    {"c", {"ц", "к"}},	 {"w", {"в"}},	    {"x", {"кс"}},	 {"q", {"к"}},
    {"y", {"ы", "й", "и"}},
};

struct tr_state {
	const char *low;
	size_t n;
	char (*out)[RW_MAX_BYTES];
	size_t max, count;
	char cur[RW_MAX_BYTES];
};

static void translit_from(struct tr_state *st, size_t i, size_t k)
{
	if (st->count >= st->max)
		return;
	if (i == st->n) {
		st->cur[k] = '\0';
		memcpy(st->out[st->count++], st->cur, k + 1);
		return;
	}
	size_t best = 0, which = 0;
	for (size_t s = 0; s < sizeof seq / sizeof seq[0]; s++) {
		size_t l = strlen(seq[s].lat);
		if (l > best && !strncmp(st->low + i, seq[s].lat, l)) {
			best = l;
			which = s;
		}
	}
	if (!best)
		return;
	for (int r = 0; r < 3 && seq[which].cyr[r]; r++) {
		const char *c = seq[which].cyr[r];
		/* A first reading is always tried; the others only where they are plausible:
		 * "й" for y/i after a vowel, "э" for e at the start of a word. */
		if (r > 0) {
			char l = st->low[i];
			bool after_vowel = i > 0 && vowel(st->low[i - 1]);
			if ((l == 'y' || l == 'i') && !strcmp(c, "й") && !after_vowel)
				continue;
			if (l == 'e' && i > 0)
				continue;
		}
		size_t cl = strlen(c);
		if (k + cl >= RW_MAX_BYTES)
			continue;
		memcpy(st->cur + k, c, cl);
		translit_from(st, i + best, k + cl);
	}
}

size_t rw_translit_to_ru(const char *in, char out[][RW_MAX_BYTES], size_t max)
{
	char low[RW_MAX_BYTES];
	size_t n = strlen(in);
	if (n == 0 || n >= sizeof low / 2)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c && !((c >= 'a' && c <= 'z') || c == '\''))
			return 0;
		low[i] = c;
	}
	struct tr_state st = {.low = low, .n = n, .out = out, .max = max};
	translit_from(&st, 0, 0);
	return st.count;
}
