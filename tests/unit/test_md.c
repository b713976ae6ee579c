/* Unit tests of src/md: safe Markdown rendering and the "what to prepare" box. */
#include "../../src/md/md.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static char *render(const char *md)
{
	return md_to_html(md, strlen(md));
}

Test(md, raw_html_and_dangerous_links_are_dropped)
{
	char *h = render("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)>\n\n"
			 "[a](javascript:alert(1)) [b](data:text/html,x) [c](/a/ok)\n");
	cr_assert_null(strstr(h, "<script"), "%s", h);
	cr_assert_null(strstr(h, "<img"), "%s", h);
	cr_assert_null(strstr(h, "javascript:"), "%s", h);
	cr_assert_null(strstr(h, "data:text"), "%s", h);
	cr_assert(strstr(h, "href=\"/a/ok\""), "%s", h);
	free(h);
}

Test(md, gfm_tables_tasklists_autolinks)
{
	char *h = render("| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n\nhttps://example.com\n");
	cr_assert(strstr(h, "<table>"), "%s", h);
	cr_assert(strstr(h, "checkbox"), "%s", h);
	cr_assert(strstr(h, "<a href=\"https://example.com\">"), "%s", h);
	free(h);
}

Test(md, prepare_box_wraps_its_section_only)
{
	char *h = render("Intro\n\n## Что подготовить\n\n- паспорт\n- ИНН\n\n## Шаги\n\n1. Войдите\n");
	const char *box = strstr(h, "<section class=\"prepare\">");
	cr_assert_not_null(box, "%s", h);
	const char *end = strstr(box, "</section>");
	const char *steps = strstr(h, "Шаги");
	cr_assert(end && steps && end < steps, "the box must close before the next heading: %s", h);
	cr_assert(strstr(box, "паспорт") < end);
	free(h);
}

Test(md, plain_text)
{
	const char *md = "# Заголовок\n\n**жирный** [ссылка](/a/x)\n";
	char *t = md_to_text(md, strlen(md));
	cr_assert(strstr(t, "жирный"), "%s", t);
	cr_assert_null(strstr(t, "**"), "%s", t);
	free(t);
}
