#include "analyze.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Snowball's Russian stop list (ё folded; plus также, либо, очень) and a short English list,
 * in byte order for bsearch. */
static const char *const stop_words[] = {
    "a",      "about", "an",	  "and",   "are",    "as",    "at",	"be",	  "but",     "by",	"for",
    "from",   "how",   "i",	  "if",	   "in",     "into",  "is",	"it",	  "of",	     "on",	"or",
    "that",   "the",   "this",	  "to",	   "was",    "what",  "when",	"where",  "which",   "who",	"will",
    "with",   "а",     "без",	  "более", "больше", "будет", "будто",	"бы",	  "был",     "была",	"были",
    "было",   "быть",  "в",	  "вам",   "вас",    "вдруг", "ведь",	"во",	  "вот",     "впрочем", "все",
    "всегда", "всего", "всех",	  "всю",   "вы",     "где",   "да",	"даже",	  "два",     "для",	"до",
    "другой", "его",   "ее",	  "ей",	   "ему",    "если",  "есть",	"еще",	  "ж",	     "же",	"за",
    "зачем",  "здесь", "и",	  "из",	   "или",    "им",    "иногда", "их",	  "к",	     "как",	"какая",
    "какой",  "когда", "конечно", "кто",   "куда",   "ли",    "либо",	"лучше",  "между",   "меня",	"мне",
    "много",  "может", "можно",	  "мой",   "моя",    "мы",    "на",	"над",	  "надо",    "наконец", "нас",
    "не",     "него",  "нее",	  "ней",   "нельзя", "нет",   "ни",	"нибудь", "никогда", "ним",	"них",
    "ничего", "но",    "ну",	  "о",	   "об",     "один",  "он",	"она",	  "они",     "опять",	"от",
    "очень",  "перед", "по",	  "под",   "после",  "потом", "потому", "почти",  "при",     "про",	"раз",
    "разве",  "с",     "сам",	  "свою",  "себе",   "себя",  "сейчас", "со",	  "совсем",  "так",	"также",
    "такой",  "там",   "тебя",	  "тем",   "теперь", "то",    "тогда",	"того",	  "тоже",    "только",	"том",
    "тот",    "три",   "тут",	  "ты",	   "у",	     "уж",    "уже",	"хорошо", "хоть",    "чего",	"чем",
    "через",  "что",   "чтоб",	  "чтобы", "чуть",   "эти",   "этого",	"этой",	  "этом",    "этот",	"эту",
    "я",
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool an_is_stop(const char *word)
{
	return bsearch(&word, stop_words, sizeof stop_words / sizeof stop_words[0], sizeof stop_words[0], cmp_str) !=
	       NULL;
}

/* ---- per-thread stemmers ---- */

struct stemmers {
	struct sb_stemmer *ru, *en;
};

static pthread_key_t stem_key;
static pthread_once_t stem_once = PTHREAD_ONCE_INIT;

static void free_stemmers(void *p)
{
	struct stemmers *s = p;
	sb_stemmer_delete(s->ru);
	sb_stemmer_delete(s->en);
	free(s);
}

static void make_key(void)
{
	pthread_key_create(&stem_key, free_stemmers);
}

static struct stemmers *stemmers(void)
{
	pthread_once(&stem_once, make_key);
	struct stemmers *s = pthread_getspecific(stem_key);
	if (!s) {
		s = calloc(1, sizeof *s);
		if (!s)
			abort();
		s->ru = sb_stemmer_new("russian", "UTF_8");
		s->en = sb_stemmer_new("english", "UTF_8");
		if (!s->ru || !s->en)
			abort();
		pthread_setspecific(stem_key, s);
	}
	return s;
}

size_t an_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

bool an_is_cyrillic(const char *s)
{
	bool any = false;
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;
	while (*p && (k = utf8proc_iterate(p, -1, &cp)) > 0) {
		if (cp >= 0x400 && cp <= 0x4FF)
			any = true;
		else if (utf8proc_category(cp) <= UTF8PROC_CATEGORY_LO && utf8proc_category(cp) >= UTF8PROC_CATEGORY_LU)
			return false;
		p += k;
	}
	return any;
}

void an_stem(const char *word, char *out)
{
	size_t len = strlen(word);
	bool digits = false, latin = false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)word[i];
		digits |= c >= '0' && c <= '9';
		latin |= (c >= 'a' && c <= 'z');
	}
	struct sb_stemmer *st = NULL;
	if (!digits)
		st = latin ? (an_is_cyrillic(word) ? NULL : stemmers()->en)
			   : (an_is_cyrillic(word) ? stemmers()->ru : NULL);
	if (!st || len < 3) {
		memcpy(out, word, len + 1);
		return;
	}
	const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)word, (int)len);
	int rl = sb_stemmer_length(st);
	if (!r || rl <= 0 || rl > AN_MAX_WORD) {
		memcpy(out, word, len + 1);
		return;
	}
	memcpy(out, r, (size_t)rl);
	out[rl] = '\0';
}

static bool word_char(utf8proc_int32_t cp)
{
	utf8proc_category_t c = utf8proc_category(cp);
	return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
	       (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) ||
	       (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);
}

/* Appends the folded code point cp to out (len bytes used, cap AN_MAX_WORD); false if full. */
static bool put_cp(char *out, size_t *len, utf8proc_int32_t cp)
{
	cp = utf8proc_tolower(cp);
	if (cp == 0x451) /* ё */
		cp = 0x435;
	utf8proc_uint8_t enc[4];
	utf8proc_ssize_t n = utf8proc_encode_char(cp, enc);
	if (*len + (size_t)n > AN_MAX_WORD)
		return false;
	memcpy(out + *len, enc, (size_t)n);
	*len += (size_t)n;
	return true;
}

/* NFC of a word that had combining marks, folded again. */
static void compose(char *w)
{
	utf8proc_uint8_t *nfc = utf8proc_NFC((const utf8proc_uint8_t *)w);
	if (!nfc)
		return;
	size_t len = 0;
	char out[AN_MAX_WORD + 1];
	const utf8proc_uint8_t *p = nfc;
	utf8proc_int32_t cp;
	utf8proc_ssize_t k;
	while (*p && (k = utf8proc_iterate(p, -1, &cp)) > 0) {
		if (cp == 0x451 || cp == 0x401)
			cp = 0x435;
		put_cp(out, &len, cp);
		p += k;
	}
	out[len] = '\0';
	memcpy(w, out, len + 1);
	free(nfc);
}

bool an_normalize_word(const char *word, size_t len, char *out)
{
	size_t n = 0;
	bool marks = false;
	const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)word;
	utf8proc_int32_t cp;
	for (size_t i = 0; i < len;) {
		utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &cp);
		if (k <= 0)
			break;
		if (word_char(cp)) {
			marks |= utf8proc_category(cp) >= UTF8PROC_CATEGORY_MN &&
				 utf8proc_category(cp) <= UTF8PROC_CATEGORY_ME;
			if (!put_cp(out, &n, cp))
				break;
		}
		i += (size_t)k;
	}
	out[n] = '\0';
	if (marks)
		compose(out);
	return n > 0;
}

struct part {
	uint32_t start, end;
	char word[AN_MAX_WORD + 1];
	size_t len;
	bool marks;
};

static void emit(struct an_token *t, const struct part *p, uint32_t pos, bool joined,
		 void (*fn)(const struct an_token *, void *), void *arg)
{
	memcpy(t->word, p->word, p->len + 1);
	if (p->marks)
		compose(t->word);
	t->len = strlen(t->word);
	t->pos = pos;
	t->start = p->start;
	t->end = p->end;
	t->joined = joined;
	fn(t, arg);
}

uint32_t an_tokens(const char *text, size_t len, void (*fn)(const struct an_token *t, void *arg), void *arg)
{
	const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
	uint32_t pos = 0;
	struct an_token t;
	struct part parts[8];
	int np = 0;
	struct part cur = {0};
	bool in_word = false;
	size_t i = 0;
	for (;;) {
		utf8proc_int32_t cp = -1;
		utf8proc_ssize_t k = i < len ? utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp) : 0;
		if (k < 0) { /* invalid byte: treat as a separator */
			k = 1;
			cp = ' ';
		}
		bool wc = k > 0 && word_char(cp);
		if (wc) {
			if (!in_word) {
				cur = (struct part){.start = (uint32_t)i};
				in_word = true;
			}
			cur.marks |= utf8proc_category(cp) >= UTF8PROC_CATEGORY_MN &&
				     utf8proc_category(cp) <= UTF8PROC_CATEGORY_ME;
			put_cp(cur.word, &cur.len, cp);
			cur.word[cur.len] = '\0';
			cur.end = (uint32_t)(i + (size_t)k);
		} else if (in_word) {
			in_word = false;
			if (np < 8)
				parts[np++] = cur;
			/* A hyphen or apostrophe followed by a word character continues a compound. */
			bool joiner =
			    k > 0 && (cp == '-' || cp == 0x2010 || cp == 0x2011 || cp == '\'' || cp == 0x2019);
			if (joiner && i + (size_t)k < len) {
				utf8proc_int32_t next;
				utf8proc_ssize_t k2 =
				    utf8proc_iterate(s + i + k, (utf8proc_ssize_t)(len - i - (size_t)k), &next);
				if (k2 > 0 && word_char(next)) {
					i += (size_t)k;
					continue;
				}
			}
			uint32_t first = pos;
			for (int j = 0; j < np; j++)
				emit(&t, &parts[j], pos++, false, fn, arg);
			if (np > 1) {
				struct part joined = {.start = parts[0].start, .end = parts[np - 1].end};
				for (int j = 0; j < np; j++) {
					if (joined.len + parts[j].len > AN_MAX_WORD)
						break;
					memcpy(joined.word + joined.len, parts[j].word, parts[j].len);
					joined.len += parts[j].len;
					joined.marks |= parts[j].marks;
				}
				joined.word[joined.len] = '\0';
				emit(&t, &joined, first, true, fn, arg);
			}
			np = 0;
		}
		if (k == 0)
			break;
		i += (size_t)k;
	}
	return pos;
}
