/*
 * Insights and content gaps in the desk (issue #10; role editor). See desk.h.
 *
 * /desk/insights?days=7|30|90 (30 by default) shows every report as a table (the data) and a
 * bar chart drawn here as inline SVG (role="img" with a <title>; no script, no library), each
 * with its CSV at /desk/insights/{table}.csv?days=N: the same rows, RFC 4180 quoting, and a cell
 * that a spreadsheet would take for a formula (= + - @, tab, carriage return first) prefixed with
 * an apostrophe. Every report reads a bounded, indexed range (searchlog/, insights/, kb/, req/:
 * the desk runs no SQL of its own).
 *
 * /desk/gaps?days=N lists the failed searches (no result; results but no click) grouped by their
 * normalized words, each with the articles people opened next in the same visit and the articles
 * the engine ranks nearest (the query itself, else a relaxed one: each word's first letters as
 * a prefix), and two forms: the words as keywords of a chosen article (a revision through kb/,
 * published at once, or put in review with [editors] require_review), or a synonym line (the
 * words and a word the article uses) — after which the same search finds the article.
 */
#include "desk.h"
#include "desk_int.h"

#include "../auth/auth.h"
#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/text.h"
#include "../ctx/ctx.h"
#include "../http/http.h"
#include "../insights/insights.h"
#include "../kb/kb.h"
#include "../req/req.h"
#include "../search/search.h"
#include "../searchlog/search_log.h"
#include "../web/web.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS 50	      /* rows per table (and per CSV) */
#define CHART_ROWS 10 /* bars per chart */
#define GAP_GROUPS 20 /* failed query groups per kind on the gaps page */
#define GAP_CANDIDATES 3
#define PHRASE_MAX 200 /* characters of a query phrase attached */
#define WORD_MAX 100   /* characters of a synonym's other word */

/* One report: its columns and rows (text cells), and the number each row's bar shows. */
struct table {
	const char *id, *title, *note;
	int ncols;
	const char *cols[6];
	int nrows;
	const char *(*cells)[6];
	long long *value;
};

static int days_of(struct ctx *c)
{
	const char *d = http_param(c->req, "days");
	if (d && !strcmp(d, "7"))
		return 7;
	if (d && !strcmp(d, "90"))
		return 90;
	return 30;
}

static void unavailable(struct ctx *c)
{
	page_error(c, 503, "База данных недоступна. Попробуйте через минуту.");
}

static void table_init(struct arena *a, struct table *t, const char *id, const char *title, int ncols,
		       const char *const *cols, int rows)
{
	*t = (struct table){.id = id, .title = title, .ncols = ncols};
	for (int i = 0; i < ncols; i++)
		t->cols[i] = cols[i];
	t->cells = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *t->cells);
	t->value = arena_alloc(a, (size_t)(rows ? rows : 1) * sizeof *t->value);
}

static const char *num(struct arena *a, long long n)
{
	return arena_printf(a, "%lld", n);
}

/* A table of query groups of kind. */
static bool searches_table(struct ctx *c, struct table *t, const char *id, const char *title, enum search_log_kind kind,
			   int days)
{
	struct arena *a = c->req->arena;
	struct search_log_group *g;
	int n = search_log_groups(c->db, a, kind, days, ROWS, &g);
	if (n < 0)
		return false;
	static const char *const cols[] = {"Запрос", "Поисков"};
	table_init(a, t, id, title, 2, cols, n);
	for (int i = 0; i < n; i++) {
		t->cells[i][0] = g[i].query;
		t->cells[i][1] = num(a, g[i].count);
		t->value[t->nrows++] = g[i].count;
	}
	return true;
}

/* The first UTC day of a window of days days ending today (today included). */
static const char *since_day(struct arena *a, int days)
{
	char d[11];
	kb_feedback_day((int64_t)time(NULL) - (int64_t)(days - 1) * 86400, d);
	return arena_strdup(a, d);
}

static bool views_table(struct ctx *c, struct table *t, int days)
{
	struct arena *a = c->req->arena;
	struct insights_key *k;
	int n = insights_top(c->db, a, INSIGHTS_VIEW, since_day(a, days), ROWS, &k);
	if (n < 0)
		return false;
	static const char *const cols[] = {"Статья", "Адрес", "Просмотров"};
	table_init(a, t, "views", "Самые просматриваемые статьи", 3, cols, n);
	for (int i = 0; i < n; i++) {
		const char *title = kb_title(c->db, a, k[i].key);
		t->cells[i][0] = title ? title : k[i].key;
		t->cells[i][1] = k[i].key;
		t->cells[i][2] = num(a, k[i].n);
		t->value[t->nrows++] = k[i].n;
	}
	return true;
}

static bool unhelpful_table(struct ctx *c, struct table *t, int days)
{
	struct arena *a = c->req->arena;
	struct kb_feedback_count *f;
	int n = kb_feedback_counts(c->db, a, days, (int64_t)time(NULL), ROWS, &f);
	if (n < 0)
		return false;
	static const char *const cols[] = {"Статья", "Адрес", "Нет", "Да", "Комментариев"};
	table_init(a, t, "unhelpful", "Наименее полезные статьи", 5, cols, n);
	t->note = "Ответы «Была ли статья полезной?»: больше всего «Нет» — выше.";
	for (int i = 0; i < n; i++) {
		if (f[i].no == 0)
			continue; /* only "yes": not unhelpful */
		int r = t->nrows++;
		t->cells[r][0] = *f[i].title ? f[i].title : f[i].slug;
		t->cells[r][1] = f[i].slug;
		t->cells[r][2] = num(a, f[i].no);
		t->cells[r][3] = num(a, f[i].yes);
		t->cells[r][4] = num(a, f[i].comments);
		t->value[r] = f[i].no;
	}
	return true;
}

static bool deflection_table(struct ctx *c, struct table *t, int days)
{
	struct arena *a = c->req->arena;
	int64_t forms = insights_total(c->db, INSIGHTS_REQUEST_FORM, since_day(a, days));
	int64_t solved = req_deflections_since(c->db, (int64_t)time(NULL) - (int64_t)days * 86400);
	if (forms < 0 || solved < 0)
		return false;
	static const char *const cols[] = {"Показатель", "Значение"};
	table_init(a, t, "deflection", "Доля вопросов, решённых подсказкой", 2, cols, 3);
	t->note = "Формы начаты: сколько раз открыта форма обращения (GET /request). Решено подсказкой: "
		  "сколько раз на форме нажали «Это решило мой вопрос». Доля — второе, делённое на первое.";
	t->cells[0][0] = "Начато форм обращения";
	t->cells[0][1] = num(a, forms);
	t->value[0] = forms;
	t->cells[1][0] = "Решено подсказкой";
	t->cells[1][1] = num(a, solved);
	t->value[1] = solved;
	t->cells[2][0] = "Доля, %";
	t->cells[2][1] = forms ? arena_printf(a, "%.1f", 100.0 * (double)solved / (double)forms) : "—";
	t->value[2] = -1; /* no bar: a share, not a count */
	t->nrows = 3;
	return true;
}

static bool requests_table(struct ctx *c, struct table *t, bool by_country, int days)
{
	struct arena *a = c->req->arena;
	struct req_insight_count *r;
	int n = req_insights_by(c->db, a, by_country, (int64_t)time(NULL) - (int64_t)days * 86400, ROWS, &r);
	if (n < 0)
		return false;
	static const char *const topic_cols[] = {"Тема", "Код", "Обращений"};
	static const char *const country_cols[] = {"Страна", "Код", "Обращений"};
	table_init(a, t, by_country ? "countries" : "topics",
		   by_country ? "Обращения по странам" : "Обращения по темам", 3,
		   by_country ? country_cols : topic_cols, n);
	for (int i = 0; i < n; i++) {
		const char *name = r[i].key;
		if (by_country) {
			const struct country *k = config_country(&c->app->cfg, r[i].key);
			name = k ? k->name : r[i].key;
		} else {
			const struct req_topic *tp = req_topic(&c->app->req, r[i].key);
			name = tp ? tp->title : r[i].key;
		}
		t->cells[i][0] = name;
		t->cells[i][1] = r[i].key;
		t->cells[i][2] = num(a, r[i].n);
		t->value[t->nrows++] = r[i].n;
	}
	return true;
}

/* The reports, in the page's order. */
static const char *const table_ids[] = {"searches",  "zero",	   "noclick", "requested", "views",
					"unhelpful", "deflection", "topics",  "countries"};
#define N_TABLES ((int)(sizeof table_ids / sizeof table_ids[0]))

static bool build(struct ctx *c, const char *id, int days, struct table *t)
{
	if (!strcmp(id, "searches"))
		return searches_table(c, t, id, "Популярные запросы", SEARCH_LOG_ALL, days);
	if (!strcmp(id, "zero"))
		return searches_table(c, t, id, "Запросы без результатов", SEARCH_LOG_ZERO, days);
	if (!strcmp(id, "noclick"))
		return searches_table(c, t, id, "Запросы с результатами, но без перехода", SEARCH_LOG_NO_CLICK, days);
	if (!strcmp(id, "requested")) {
		bool ok = searches_table(c, t, id, "Поиск не помог: после него написали в поддержку",
					 SEARCH_LOG_REQUESTED, days);
		t->note = "Поиски, после которых в том же визите (30 минут после последнего поиска) создано обращение.";
		return ok;
	}
	if (!strcmp(id, "views"))
		return views_table(c, t, days);
	if (!strcmp(id, "unhelpful"))
		return unhelpful_table(c, t, days);
	if (!strcmp(id, "deflection"))
		return deflection_table(c, t, days);
	if (!strcmp(id, "topics"))
		return requests_table(c, t, false, days);
	return requests_table(c, t, true, days);
}

/* A horizontal bar chart of the table's first CHART_ROWS rows with a value (inline SVG). */
static void chart(struct buf *b, const struct table *t)
{
	int rows = 0;
	long long max = 0;
	for (int i = 0; i < t->nrows && rows < CHART_ROWS; i++)
		if (t->value[i] >= 0) {
			rows++;
			if (t->value[i] > max)
				max = t->value[i];
		}
	if (!rows)
		return;
	const int width = 640, label = 240, bar_max = 330, row_h = 24;
	int height = rows * row_h + 8;
	html_printf(b,
		    "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
		    "aria-labelledby=\"chart-%s-title\" viewBox=\"0 0 %d %d\" width=\"100%%\" "
		    "preserveAspectRatio=\"xMinYMin meet\">\n<title id=\"chart-%s-title\">%s: диаграмма, данные в "
		    "таблице ниже</title>\n",
		    t->id, width, height, t->id, t->title);
	int y = 4;
	for (int i = 0, shown = 0; i < t->nrows && shown < CHART_ROWS; i++) {
		if (t->value[i] < 0)
			continue;
		shown++;
		int w = max ? (int)((double)t->value[i] * bar_max / (double)max) : 0;
		if (t->value[i] > 0 && w < 2)
			w = 2;
		/* The label cut to fit (by characters, never inside one). */
		const char *text = t->cells[i][0];
		char cut[160];
		size_t len = strlen(text), chars = 0, at = 0;
		while (at < len && chars < 28) {
			at++;
			while (at < len && ((unsigned char)text[at] & 0xC0) == 0x80)
				at++;
			chars++;
		}
		if (at < len && at < sizeof cut - 4) {
			memcpy(cut, text, at);
			strcpy(cut + at, "…");
			text = cut;
		}
		html_printf(
		    b,
		    "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"13\" fill=\"currentColor\">%s</text>\n"
		    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#2f6fb3\"></rect>\n"
		    "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"currentColor\">%lld</text>\n",
		    label - 8, y + 16, text, label, y + 3, w, row_h - 8, label + w + 6, y + 16, t->value[i]);
		y += row_h;
	}
	html_raw(b, "</svg>\n");
}

static void table_html(struct buf *b, const struct table *t, int days)
{
	html_printf(b, "<section class=\"insight\" id=\"t-%s\">\n<h2>%s</h2>\n", t->id, t->title);
	if (t->note)
		html_printf(b, "<p class=\"meta\">%s</p>\n", t->note);
	html_printf(b, "<p><a href=\"/desk/insights/%s.csv?days=%d\">Скачать CSV</a></p>\n", t->id, days);
	if (!t->nrows) {
		html_raw(b, "<p>Нет данных за этот период.</p>\n</section>\n");
		return;
	}
	chart(b, t);
	html_printf(b, "<table class=\"queue\" data-table=\"%s\">\n<caption>%s</caption>\n<thead><tr>", t->id,
		    t->title);
	for (int j = 0; j < t->ncols; j++)
		html_printf(b, "<th scope=\"col\">%s</th>", t->cols[j]);
	html_raw(b, "</tr></thead>\n<tbody>\n");
	for (int i = 0; i < t->nrows; i++) {
		html_raw(b, "<tr>");
		for (int j = 0; j < t->ncols; j++)
			html_printf(b, "<td>%s</td>", t->cells[i][j]);
		html_raw(b, "</tr>\n");
	}
	html_raw(b, "</tbody>\n</table>\n</section>\n");
}

static void days_nav(struct buf *b, const char *path, int days)
{
	static const int choices[] = {7, 30, 90};
	html_raw(b, "<nav class=\"filter\" aria-label=\"Период\"><span>Период:</span> ");
	for (int i = 0; i < 3; i++) {
		if (choices[i] == days)
			html_printf(b, "<strong aria-current=\"page\">%d дней</strong> ", choices[i]);
		else
			html_printf(b, "<a href=\"%s?days=%d\">%d дней</a> ", path, choices[i], choices[i]);
	}
	html_raw(b, "</nav>\n");
}

void desk_insights(struct ctx *c)
{
	struct buf *b = &c->resp->body;
	int days = days_of(c);
	struct table *t = arena_alloc(c->req->arena, N_TABLES * sizeof *t);
	for (int i = 0; i < N_TABLES; i++)
		if (!build(c, table_ids[i], days, &t[i]))
			return unavailable(c);
	desk_begin(c, "Аналитика");
	html_printf(b, "<h1>Аналитика за %d дней</h1>\n", days);
	days_nav(b, "/desk/insights", days);
	html_printf(b,
		    "<p><a href=\"/desk/gaps?days=%d\">Пробелы в справке: неудачные запросы и как их закрыть</a></p>\n"
		    "<nav aria-label=\"Отчёты\"><ul>\n",
		    days);
	for (int i = 0; i < N_TABLES; i++)
		html_printf(b, "<li><a href=\"#t-%s\">%s</a></li>\n", t[i].id, t[i].title);
	html_raw(b, "</ul></nav>\n");
	for (int i = 0; i < N_TABLES; i++)
		table_html(b, &t[i], days);
	desk_end(c);
}

/* One CSV cell: the formula guard, then RFC 4180 quoting when needed. */
static void csv_cell(struct buf *b, const char *s)
{
	bool guard = *s == '=' || *s == '+' || *s == '-' || *s == '@' || *s == '\t' || *s == '\r';
	bool quote = guard || strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		buf_addc(b, '"');
	if (guard)
		buf_addc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			buf_addc(b, '"');
		buf_addc(b, *p);
	}
	if (quote)
		buf_addc(b, '"');
}

void desk_insights_csv(struct ctx *c)
{
	struct arena *a = c->req->arena;
	size_t len = strlen(c->arg);
	const char *id = NULL;
	for (int i = 0; i < N_TABLES && !id; i++)
		if (len == strlen(table_ids[i]) + 4 && !strncmp(c->arg, table_ids[i], len - 4) &&
		    !strcmp(c->arg + len - 4, ".csv"))
			id = table_ids[i];
	if (!id)
		return page_error(c, 404, "Такого отчёта нет.");
	int days = days_of(c);
	struct table t;
	if (!build(c, id, days, &t))
		return unavailable(c);
	struct buf *b = &c->resp->body;
	c->resp->status = 200;
	c->resp->content_type = "text/csv; charset=utf-8";
	c->resp->cache_control = "no-store";
	c->resp->disposition = arena_printf(a, "attachment; filename=\"%s-%dd.csv\"", id, days);
	for (int j = 0; j < t.ncols; j++) {
		if (j)
			buf_addc(b, ',');
		csv_cell(b, t.cols[j]);
	}
	buf_adds(b, "\r\n");
	for (int i = 0; i < t.nrows; i++) {
		for (int j = 0; j < t.ncols; j++) {
			if (j)
				buf_addc(b, ',');
			csv_cell(b, t.cells[i][j]);
		}
		buf_adds(b, "\r\n");
	}
}

/* ---- content gaps ---- */

struct candidate {
	const char *slug, *title;
	long long count; /* opened next: times; nearest: 0 */
};

/* The articles the engine ranks nearest to q: q itself, else each word's first letters as a
 * prefix (the engine completes the last word of a query). */
static int nearest(struct ctx *c, const char *q, struct candidate *out, int max)
{
	struct arena *a = c->req->arena;
	struct search_result r;
	struct search_query sq = {.text = q, .country = "", .limit = max};
	ctx_search(c->app, a, &sq, &r);
	int n = 0;
	for (int i = 0; i < r.n && n < max; i++)
		out[n++] = (struct candidate){r.hits[i].slug, r.hits[i].title, 0};
	if (n)
		return n;
	/* Relaxed: "доставочка ёлок" → "достав", "ёло"... one search per word, merged by best score. */
	struct search_hit best[GAP_CANDIDATES * 8];
	int nb = 0;
	char *words = arena_strdup(a, q);
	for (char *w = strtok(words, " "); w; w = strtok(NULL, " ")) {
		size_t chars = utf8_length(w), keep = chars <= 4 ? chars : chars * 2 / 3 < 4 ? 4 : chars * 2 / 3;
		size_t at = 0;
		for (size_t k = 0; k < keep && w[at];) {
			at++;
			while (w[at] && ((unsigned char)w[at] & 0xC0) == 0x80)
				at++;
			k++;
		}
		struct search_query rq = {.text = arena_strndup(a, w, at), .country = "", .limit = max};
		ctx_search(c->app, a, &rq, &r);
		for (int i = 0; i < r.n; i++) {
			int j = 0;
			while (j < nb && strcmp(best[j].slug, r.hits[i].slug) != 0)
				j++;
			if (j < nb) {
				if (r.hits[i].score > best[j].score)
					best[j].score = r.hits[i].score;
			} else if (nb < (int)(sizeof best / sizeof best[0])) {
				best[nb++] = r.hits[i];
			}
		}
	}
	for (int k = 0; k < max && k < nb; k++) {
		int top = k;
		for (int j = k + 1; j < nb; j++)
			if (best[j].score > best[top].score)
				top = j;
		struct search_hit tmp = best[k];
		best[k] = best[top];
		best[top] = tmp;
		out[n++] = (struct candidate){best[k].slug, best[k].title, 0};
	}
	return n;
}

/* The forms of one group: keywords to an article (a choice of the candidates, or a slug typed),
 * or a synonym line. */
static void gap_forms(struct ctx *c, int id, int days, const char *query, const struct candidate *cand, int nc,
		      const char *slug, const char *word)
{
	struct buf *b = &c->resp->body;
	html_printf(b,
		    "<form class=\"gap-fix\" action=\"/desk/gaps\" method=\"post\">\n"
		    "<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n"
		    "<input type=\"hidden\" name=\"days\" value=\"%d\">\n"
		    "<input type=\"hidden\" name=\"query\" value=\"%s\">\n"
		    "<label for=\"g%d-slug\">Статья (адрес)</label>\n"
		    "<input id=\"g%d-slug\" name=\"slug\" list=\"g%d-list\" value=\"%s\" pattern=\"[a-z0-9-]{1,80}\">\n"
		    "<datalist id=\"g%d-list\">",
		    c->user->csrf, days, query, id, id, id, slug ? slug : (nc ? cand[0].slug : ""), id);
	for (int i = 0; i < nc; i++)
		html_printf(b, "<option value=\"%s\">%s</option>", cand[i].slug, cand[i].title);
	html_printf(b,
		    "</datalist>\n<button type=\"submit\" name=\"do\" value=\"keywords\">Добавить запрос в ключевые "
		    "слова статьи</button>\n"
		    "<label for=\"g%d-word\">или синоним: слово из статьи</label>\n"
		    "<input id=\"g%d-word\" name=\"word\" value=\"%s\">\n"
		    "<button type=\"submit\" name=\"do\" value=\"synonyms\">Добавить в синонимы</button>\n</form>\n",
		    id, id, word ? word : "");
}

static void candidates_html(struct buf *b, const char *label, const struct candidate *cand, int n, bool counts)
{
	html_printf(b, "<p>%s: ", label);
	if (!n)
		html_raw(b, "—");
	for (int i = 0; i < n; i++) {
		html_printf(b, "%s<a href=\"/a/%s\">%s</a>", i ? ", " : "", cand[i].slug, cand[i].title);
		if (counts)
			html_printf(b, " (%lld)", cand[i].count);
	}
	html_raw(b, "</p>\n");
}

/* "поиск", "поиска" or "поисков" after n. */
static const char *searches_word(long long n)
{
	long long m10 = n % 10, m100 = n % 100;
	if (m10 == 1 && m100 != 11)
		return "поиск";
	if (m10 >= 2 && m10 <= 4 && (m100 < 12 || m100 > 14))
		return "поиска";
	return "поисков";
}

/* The gaps page, with a notice (done) or a refused form (error, with what was typed). */
static void gaps_page(struct ctx *c, int days, const char *notice, const char *error, const char *e_query,
		      const char *e_slug, const char *e_word)
{
	struct arena *a = c->req->arena;
	struct buf *b = &c->resp->body;
	struct search_log_group *groups[2];
	int ng[2];
	ng[0] = search_log_groups(c->db, a, SEARCH_LOG_ZERO, days, GAP_GROUPS, &groups[0]);
	ng[1] = search_log_groups(c->db, a, SEARCH_LOG_NO_CLICK, days, GAP_GROUPS, &groups[1]);
	struct search_log_next *next;
	int nn = search_log_next_articles(c->db, a, days, 10000, &next);
	if (ng[0] < 0 || ng[1] < 0 || nn < 0)
		return unavailable(c);
	desk_begin(c, "Пробелы в справке");
	html_printf(b, "<h1>Пробелы в справке за %d дней</h1>\n", days);
	days_nav(b, "/desk/gaps", days);
	html_printf(b,
		    "<p>Запросы, по которым ничего не нашлось или ничего не открыли. Добавьте слова запроса в "
		    "ключевые слова подходящей статьи или в синонимы — и этот запрос будет её находить. "
		    "<a href=\"/desk/insights?days=%d\">Вся аналитика</a></p>\n",
		    days);
	if (notice)
		html_printf(b, "<p class=\"notice\" role=\"status\">%s</p>\n", notice);
	if (error) {
		html_printf(b,
			    "<div class=\"error-summary\" role=\"alert\"><p>%s</p></div>\n<section "
			    "class=\"gap\"><h2>Запрос «%s»</h2>\n",
			    error, e_query ? e_query : "");
		gap_forms(c, 0, days, e_query ? e_query : "", NULL, 0, e_slug ? e_slug : "", e_word);
		html_raw(b, "</section>\n");
	}
	static const char *const kinds[] = {"Без результатов", "С результатами, но без перехода"};
	int form_id = 0; /* pairs each form's labels with its inputs */
	for (int k = 0; k < 2; k++) {
		html_printf(b, "<h2>%s</h2>\n", kinds[k]);
		if (!ng[k])
			html_raw(b, "<p>Таких запросов за этот период нет.</p>\n");
		for (int i = 0; i < ng[k]; i++) {
			const struct search_log_group *g = &groups[k][i];
			struct candidate opened[GAP_CANDIDATES], near[GAP_CANDIDATES], all[2 * GAP_CANDIDATES];
			int no = 0;
			for (int j = 0; j < nn && no < GAP_CANDIDATES; j++)
				if (!strcmp(next[j].query, g->query)) {
					const char *title = kb_title(c->db, a, next[j].slug);
					opened[no++] = (struct candidate){next[j].slug, title ? title : next[j].slug,
									  next[j].count};
				}
			int nr = nearest(c, g->query, near, GAP_CANDIDATES);
			int na = 0;
			for (int j = 0; j < no; j++)
				all[na++] = opened[j];
			for (int j = 0; j < nr; j++) {
				bool dup = false;
				for (int m = 0; m < na; m++)
					dup = dup || !strcmp(all[m].slug, near[j].slug);
				if (!dup)
					all[na++] = near[j];
			}
			html_printf(b, "<section class=\"gap\" data-query=\"%s\">\n<h3>«%s» — %lld %s</h3>\n", g->query,
				    g->query, g->count, searches_word(g->count));
			candidates_html(b, "Открывали после поиска", opened, no, true);
			candidates_html(b, "Ближайшие по поиску", near, nr, false);
			gap_forms(c, ++form_id, days, g->query, all, na, NULL, NULL);
			html_raw(b, "</section>\n");
		}
	}
	desk_end(c);
}

void desk_gaps(struct ctx *c)
{
	static const char *const notices[][2] = {
	    {"published", "Ключевые слова добавлены, статья опубликована: запрос теперь её находит."},
	    {"review", "Ключевые слова добавлены в новую версию; она отправлена на проверку. После публикации "
		       "запрос будет находить статью."},
	    {"draft", "Ключевые слова добавлены в черновик: у статьи уже был неопубликованный черновик, "
		      "опубликуйте его на странице статьи."},
	    {"already", "Эти слова уже есть: ничего не изменено."},
	    {"synonyms", "Синонимы добавлены: поиск обновлён."},
	};
	const char *done = http_param(c->req, "done");
	const char *notice = NULL;
	for (size_t i = 0; done && i < sizeof notices / sizeof notices[0]; i++)
		if (!strcmp(done, notices[i][0]))
			notice = notices[i][1];
	gaps_page(c, days_of(c), notice, NULL, NULL, NULL, NULL);
}

/* A phrase fit for a keyword or a synonym line: 1..max characters of valid UTF-8, no control
 * characters and none of the lists' separators (comma, '#'). NULL when fine, else why. */
static const char *phrase_problem(const char *s, size_t max)
{
	if (!s || !*s)
		return "пусто";
	if (!utf8_valid(s, strlen(s)) || utf8_length(s) > max)
		return "слишком длинно";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ',' || *p == '#')
			return "запятая, # и управляющие символы недопустимы";
	return NULL;
}

void desk_gaps_action(struct ctx *c)
{
	struct arena *a = c->req->arena;
	const char *what = http_field(c->req, "do", NULL);
	const char *days_s = http_field(c->req, "days", NULL);
	int days = days_s && !strcmp(days_s, "7") ? 7 : days_s && !strcmp(days_s, "90") ? 90 : 30;
	const char *q_raw = http_field(c->req, "query", NULL), *slug = http_field(c->req, "slug", NULL),
		   *word = http_field(c->req, "word", NULL);
	const char *query = q_raw ? str_trim(arena_strdup(a, q_raw)) : "";
	slug = slug ? str_trim(arena_strdup(a, slug)) : "";
	word = word ? str_trim(arena_strdup(a, word)) : "";
	const char *bad = phrase_problem(query, PHRASE_MAX);
	char err[512];
	if (what && !strcmp(what, "keywords")) {
		if (bad) {
			c->resp->status = 422;
			return gaps_page(c, days, NULL, arena_printf(a, "Запрос: %s (до %d знаков).", bad, PHRASE_MAX),
					 query, slug, word);
		}
		if (!slug_valid(slug)) {
			c->resp->status = 422;
			return gaps_page(c, days, NULL,
					 "Укажите адрес статьи: латинские буквы a–z, цифры и дефис, до 80 знаков.",
					 query, slug, word);
		}
		int64_t rev = 0;
		enum kb_gap_result r =
		    kb_gap_keywords(c->db, a, slug, query, c->user->id, (c->user->roles & AUTH_ADMIN) != 0,
				    c->app->cfg.require_review != 0, &rev, err, sizeof err);
		const char *done = r == KB_GAP_PUBLISHED ? "published"
				   : r == KB_GAP_REVIEW	 ? "review"
				   : r == KB_GAP_DRAFT	 ? "draft"
				   : r == KB_GAP_ALREADY ? "already"
							 : NULL;
		if (done)
			return desk_redirect(c, arena_printf(a, "/desk/gaps?days=%d&done=%s", days, done));
		if (r == KB_GAP_FAILED)
			return unavailable(c);
		c->resp->status = r == KB_GAP_CONFLICT ? 409 : 422;
		return gaps_page(
		    c, days, NULL,
		    r == KB_GAP_NOT_FOUND ? "Такой статьи нет. Проверьте адрес."
		    : r == KB_GAP_TOO_LONG
			? "У статьи слишком много ключевых слов (до 1000 знаков): уберите лишние в редакторе."
			: "Статью только что изменили. Попробуйте ещё раз.",
		    query, slug, word);
	}
	if (what && !strcmp(what, "synonyms")) {
		const char *wbad = phrase_problem(word, WORD_MAX);
		if (bad || wbad) {
			c->resp->status = 422;
			return gaps_page(c, days, NULL,
					 bad ? arena_printf(a, "Запрос: %s (до %d знаков).", bad, PHRASE_MAX)
					     : arena_printf(a, "Слово из статьи: %s (до %d знаков).", wbad, WORD_MAX),
					 query, slug, word);
		}
		enum kb_gap_result r =
		    kb_synonyms_add(c->db, a, arena_printf(a, "%s, %s", query, word), c->user->id, err, sizeof err);
		if (r == KB_GAP_FAILED)
			return unavailable(c);
		return desk_redirect(c, arena_printf(a, "/desk/gaps?days=%d&done=%s", days,
						     r == KB_GAP_ALREADY ? "already" : "synonyms"));
	}
	page_error(c, 422, "Неизвестное действие.");
}
