// spravka's browser tests: Debian's chromium driven by playwright-core, pages checked by axe-core.
//
//   node tests/browser/flows.mjs CONFIG.json
//
// Starts no server: tests/e2e/browser_flows_tests.py starts them with the e2e harness (so the
// flows run on SQLite and on PostgreSQL), creates the accounts and writes CONFIG.json:
//   {"engine": "sqlite", "artifacts": DIR, "chromium": "/usr/bin/chromium", "flows": [ID...]?,
//    "main":   {"base": URL, "editor": {"login", "password"}, "article": SLUG, "wide": SLUG,
//               "image": a PNG file to upload (wider than the column), "screenshot": SLUG (a demo
//               article with a 1600 px screenshot)},
//    "review": {"base": URL, "editors": [{"login", "password"}, {"login", "password"}], "article": SLUG},
//    "word": a word no page has yet (the flows write it and look for it)}
// One browser for the whole run; each flow gets a fresh browser context (its own cookies).
// Output on stdout, one JSON object a line:
//   {"event": "ready", "browser": VERSION, "flows": [ID...]}   chromium started
//   {"flow": ID, "ok": true|false, "ms": N, "error"?: TEXT, "shots": [FILE...], "notes"?: [...]}
//   {"event": "done"}                                              then exit 0
//   {"event": "fatal", "error": TEXT}                              then exit 2 (e.g. no chromium)
// Screenshots of every step: DIR/<flow>/NN-step.png; axe-core's findings: DIR/axe.json.
//
// Adding a step is a few lines in a flow below; adding a flow is one entry in FLOWS (and its
// name in tests/e2e/browser_flows_tests.py, which checks that both lists agree).

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const STEP_TIMEOUT = 8000; // ms for one wait; a flow fails fast instead of hanging
const FLOW_TIMEOUT = 25000; // ms for a whole flow (the Python side waits 28 s for its line)

function out(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

class FlowError extends Error {}

function check(cond, why) {
	if (!cond) throw new FlowError(why);
}

// ---- what every flow gets ---------------------------------------------------------------------

class Flow {
	constructor(browser, id) {
		this.browser = browser;
		this.id = id;
		this.dir = path.join(cfg.artifacts, id);
		fs.mkdirSync(this.dir, { recursive: true });
		this.n = 0;
		this.shots = [];
		this.notes = [];
		this.contexts = [];
	}

	// A fresh context (cookies of its own) and a page in it.
	async page(options = {}) {
		const ctx = await this.browser.newContext({ locale: 'ru-RU', viewport: { width: 1280, height: 900 }, ...options });
		ctx.setDefaultTimeout(STEP_TIMEOUT);
		ctx.setDefaultNavigationTimeout(STEP_TIMEOUT);
		this.contexts.push(ctx);
		const page = await ctx.newPage();
		page.on('pageerror', (e) => this.notes.push(`script error on ${page.url()}: ${e.message}`));
		return page;
	}

	// Saves a screenshot of the step as DIR/<flow>/NN-name.png.
	async shot(page, name) {
		this.n += 1;
		const file = path.join(this.dir, `${String(this.n).padStart(2, '0')}-${name}.png`);
		await page.screenshot({ path: file, fullPage: true });
		this.shots.push(path.relative(cfg.artifacts, file));
	}

	async close() {
		for (const c of this.contexts) await c.close().catch(() => {});
	}
}

async function go(page, base, pathname, status = 200) {
	const r = await page.goto(base + pathname, { waitUntil: 'load' });
	check(r, `no answer for ${pathname}`);
	check(r.status() === status, `${pathname}: status ${r.status()}, expected ${status}`);
	return r;
}

async function text(page, selector = 'body') {
	return (await page.locator(selector).first().innerText()).replace(/\s+/g, ' ');
}

async function has(page, fragment, selector = 'body') {
	const t = await text(page, selector);
	check(t.includes(fragment), `${page.url()}: «${fragment}» not in ${selector} (${t.slice(0, 300)}…)`);
}

// Reloads url until pred(page) is true: what the server updates in the background (the search
// index, the page cache) within a few seconds.
async function eventually(page, url, pred, what, seconds = 6) {
	const deadline = Date.now() + seconds * 1000;
	for (;;) {
		await page.goto(url, { waitUntil: 'load' });
		if (await pred(page)) return;
		check(Date.now() < deadline, `${what}: not within ${seconds} s (${url})`);
		await page.waitForTimeout(200);
	}
}

async function signIn(flow, base, who) {
	const page = await flow.page();
	await go(page, base, '/desk/login');
	await page.fill('#f-login', who.login);
	await page.fill('#f-password', who.password);
	await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/desk/login')), page.click('form.request button[type=submit]')]);
	// An editor who is not an agent lands on the articles.
	check(new URL(page.url()).pathname === '/desk/articles', `${who.login} landed on ${page.url()}, not /desk/articles`);
	return page;
}

// Opens the article's editing form, appends a paragraph to its body and a message, optionally
// uploads a screenshot (image: {file, alt}; static/editor.js inserts its Markdown at the cursor)
// and shows the preview, and saves the draft; returns on the article's history page («Черновик
// сохранён»).
async function editAndSave(flow, page, slug, paragraph, message, { preview = false, image = null } = {}) {
	await page.click(`a[href="/desk/articles/${slug}/edit"]`);
	await page.waitForURL(`**/desk/articles/${slug}/edit`);
	await flow.shot(page, 'edit-form');
	const body = page.locator('#f-body');
	const old = await body.inputValue();
	check(old.length > 100, `the form has no body text of ${slug} (${old.length} characters)`);
	await body.fill(`${old.trimEnd()}\n\n${paragraph}\n`);
	await page.fill('#f-message', message);
	if (image) {
		// The cursor at the end of the text: the image goes after the new paragraph.
		await body.evaluate((e) => e.setSelectionRange(e.value.length, e.value.length));
		await page.setInputFiles('#f-image', image.file);
		await page.fill('#f-alt', image.alt);
		await flow.shot(page, 'image-chosen');
		await page.click('form.media-upload button[type=submit]');
		await page.locator('#upload-status', { hasText: 'Изображение вставлено' }).waitFor();
		const md = await body.inputValue();
		check(/!\[[^\]]+\]\(\/media\/[0-9a-f]{64}\.png\)\s*$/.test(md) && md.includes(paragraph),
			`the body after the upload ends with ${JSON.stringify(md.slice(-160))}`);
		check((await page.inputValue('#f-message')) === message, 'the upload lost the message typed');
		// The live preview (static/preview.js) follows the inserted Markdown: the image, sized.
		const img = page.locator('section.preview img');
		await img.first().waitFor();
		check((await img.first().getAttribute('alt')) === image.alt, 'the live preview\'s image has not the alt text');
		check(Number(await img.first().getAttribute('width')) > 0 && Number(await img.first().getAttribute('height')) > 0,
			'the live preview\'s image has no width and height');
		await flow.shot(page, 'image-inserted');
	}
	if (preview) {
		await Promise.all([page.waitForURL(`**/desk/articles/${slug}/edit`), page.click('button[name=do][value=preview]')]);
		await has(page, paragraph, 'section.preview');
		if (image)
			check((await page.locator(`section.preview img[alt="${image.alt}"]`).count()) === 1, 'the preview shows no image');
		await flow.shot(page, 'preview');
	}
	await Promise.all([page.waitForURL(`**/desk/articles/${slug}?done=saved`), page.click('button[name=do][value=save]')]);
	await has(page, 'Черновик сохранён', 'p.notice');
	await flow.shot(page, 'draft-saved');
}

// An uploaded screenshot on a portal page: its alt text, its reserved size, no wider than the
// column, and a tap that opens the full size (the image itself, immutable).
async function screenshotShown(page, alt) {
	const img = page.locator(`main .body img[alt="${alt}"]`);
	check((await img.count()) === 1, `no image with the alt text «${alt}» on ${page.url()}`);
	const m = await img.evaluate((e) => ({
		w: Number(e.getAttribute('width')), h: Number(e.getAttribute('height')), shown: e.getBoundingClientRect().width,
		column: e.closest('.body').getBoundingClientRect().width, loaded: e.complete && e.naturalWidth > 0,
		natural: e.naturalWidth, href: e.closest('a') && e.closest('a').getAttribute('href'), src: e.getAttribute('src'),
	}));
	check(m.w > 0 && m.h > 0, `the image's size is not reserved: ${JSON.stringify(m)}`);
	check(m.shown <= m.column + 0.5, `the image (${m.shown} px) is wider than the column (${m.column} px)`);
	await img.scrollIntoViewIfNeeded(); // lazy: loaded once near the viewport
	await page.waitForFunction((a) => { const e = document.querySelector(`main .body img[alt="${a}"]`); return e.complete && e.naturalWidth > 0; }, alt);
	check(m.href && m.href === m.src, `the image is not a link to its full size: ${JSON.stringify(m)}`);
	const [r] = await Promise.all([page.waitForNavigation(), img.click()]);
	check(r && r.status() === 200 && /^image\/png/.test(r.headers()['content-type'] || ''),
		`the tap on the image: ${r && r.status()} ${r && r.headers()['content-type']}`);
	check(/immutable/.test(r.headers()['cache-control'] || ''), `the full size's cache-control: ${r.headers()['cache-control']}`);
	return m;
}

// ---- the flows ----------------------------------------------------------------------------------

// (a) A member: home → instant search → an article → «Нет» with a comment → thanks; «Да» on another.
async function searchFeedback(flow) {
	const base = cfg.main.base;
	const page = await flow.page();
	await go(page, base, '/');
	await flow.shot(page, 'home');
	await page.locator('#search-hero').pressSequentially('забыл пароль', { delay: 20 });
	const options = page.locator('#search-hero-suggest [role=option]');
	await options.first().waitFor({ state: 'visible' });
	check((await page.getAttribute('#search-hero', 'aria-expanded')) === 'true', 'aria-expanded is not true');
	const titles = await options.allInnerTexts();
	check(titles.some((t) => /пароль/i.test(t)), `no password article among the suggestions ${JSON.stringify(titles)}`);
	await flow.shot(page, 'suggestions');
	const option = options.filter({ hasText: /пароль/i }).first();
	const url = (await option.getAttribute('data-url')).split('?')[0];
	await Promise.all([page.waitForURL((u) => u.pathname === url), option.click()]);
	const h1 = await text(page, 'h1');
	check(/пароль/i.test(h1), `article h1 ${h1}`);
	await flow.shot(page, 'article');
	await Promise.all([page.waitForURL('**/feedback/**'), page.click('section.feedback button[value=no]')]);
	await has(page, 'Спасибо за отзыв', 'h1');
	await flow.shot(page, 'feedback-no');
	await page.fill('#feedback-comment', 'Не хватило шага про код из SMS, если сменился номер.');
	await page.click('main form button[type=submit]');
	await page.waitForLoadState('load');
	await has(page, 'Ваш комментарий получен', 'main');
	await flow.shot(page, 'comment-thanks');
	await go(page, base, '/a/payout-setup');
	await Promise.all([page.waitForURL('**/feedback/**'), page.click('section.feedback button[value=yes]')]);
	await has(page, 'Рады, что статья', 'main');
	await flow.shot(page, 'feedback-yes');
}

// (b) An editor: signs in → /desk/articles → an article → edits the body → preview → save →
// publish → the portal's page and search show the new text.
async function editPublish(flow) {
	const { base, article: slug } = cfg.main;
	const word = cfg.word;
	const paragraph = `Проверено в браузере: ${word}.`;
	const page = await signIn(flow, base, cfg.main.editor);
	await flow.shot(page, 'articles');
	// The article's link when the list shows it; else its address typed into «открыть или создать».
	const listed = page.locator(`main a[href="/desk/articles/${slug}"]`);
	if (await listed.count()) {
		await Promise.all([page.waitForURL(`**/desk/articles/${slug}`), listed.first().click()]);
	} else {
		await page.fill('#f-slug', slug);
		await Promise.all([page.waitForURL(`**/desk/articles/${slug}`), page.click('form.filter button')]);
	}
	await flow.shot(page, 'history');
	const image = { file: cfg.main.image, alt: `Снимок экрана: ${word}, карточка с кнопкой «Сохранить»` };
	await editAndSave(flow, page, slug, paragraph, 'браузерный тест: новый абзац и снимок экрана', { preview: true, image });
	const portal = await flow.page();
	await go(portal, base, `/a/${slug}`);
	check(!(await text(portal, 'main')).includes(word), 'the portal shows the draft before it is published');
	await Promise.all([page.waitForURL(`**/desk/articles/${slug}?done=published`), page.click('button[name=do][value=publish]')]);
	await has(page, 'Опубликовано', 'p.notice');
	await flow.shot(page, 'published');
	await eventually(portal, `${base}/a/${slug}`, async (p) => (await text(p, 'main')).includes(word), 'the portal shows the new text');
	await portal.locator(`main .body img[alt="${image.alt}"]`).scrollIntoViewIfNeeded();
	await flow.shot(portal, 'portal-article');
	await screenshotShown(portal, image.alt);
	await flow.shot(portal, 'portal-image-full-size');
	await eventually(portal, `${base}/search?q=${encodeURIComponent(word)}`,
		async (p) => (await p.locator(`ol.results a[href^="/a/${slug}"]`).count()) > 0, 'search finds the new text');
	await flow.shot(portal, 'portal-search');
	await go(portal, base, '/');
	await portal.locator('#search-hero').pressSequentially(word, { delay: 10 });
	await portal.locator(`#search-hero-suggest [role=option][data-url^="/a/${slug}"]`).waitFor({ state: 'visible' });
	await flow.shot(portal, 'portal-instant-search');
}

// (c) [editors] require_review = 1: editor A saves and submits; A cannot publish; editor B
// publishes; the portal shows the text.
async function reviewRequired(flow) {
	const { base, article: slug, editors: [a, b] } = cfg.review;
	const word = cfg.word;
	const paragraph = `Проверено вторым редактором: ${word}.`;
	const pa = await signIn(flow, base, a);
	await go(pa, base, `/desk/articles/${slug}`);
	await editAndSave(flow, pa, slug, paragraph, 'на проверку');
	await Promise.all([pa.waitForURL(`**/desk/articles/${slug}?done=review`), pa.click('button[name=do][value=submit]')]);
	await has(pa, 'отправлен на проверку', 'p.notice');
	await flow.shot(pa, 'submitted');
	await go(pa, base, `/desk/articles/${slug}`);
	const [r] = await Promise.all([pa.waitForNavigation(), pa.click('button[name=do][value=publish]')]);
	check(r && r.status() === 409, `the author's own publish: status ${r && r.status()}, expected 409`);
	await has(pa, 'Нужна проверка', 'main');
	await flow.shot(pa, 'author-cannot-publish');
	const portal = await flow.page();
	await go(portal, base, `/a/${slug}`);
	check(!(await text(portal, 'main')).includes(word), 'the portal shows a text still in review');
	const pb = await signIn(flow, base, b);
	const row = pb.locator('table.queue tr', { hasText: 'на проверке' }).filter({ has: pb.locator(`a[href="/desk/articles/${slug}"]`) });
	check((await row.count()) > 0, `${b.login} does not see ${slug} «на проверке» in /desk/articles`);
	await flow.shot(pb, 'reviewer-list');
	await Promise.all([pb.waitForURL(`**/desk/articles/${slug}`), row.first().locator('a').first().click()]);
	await Promise.all([pb.waitForURL(`**/desk/articles/${slug}?done=published`), pb.click('button[name=do][value=publish]')]);
	await has(pb, 'Опубликовано', 'p.notice');
	await flow.shot(pb, 'reviewer-published');
	await eventually(portal, `${base}/a/${slug}`, async (p) => (await text(p, 'main')).includes(word), 'the portal shows the reviewed text');
	await flow.shot(portal, 'portal-article');
}

// (d) The request form: a validation error (no member ID, a broken e-mail) is shown in Russian
// with the typed text kept; fixed, the request is created and the private link shown.
async function requestForm(flow) {
	const base = cfg.main.base;
	const page = await flow.page();
	await go(page, base, '/request');
	await flow.shot(page, 'form');
	const typed = {
		'#f-name': 'Анна Смирнова',
		'#f-email': 'anna.smirnova@',
		'#f-phone': '+7 912 345-67-22',
		'#f-subject': 'Смена банковских реквизитов',
		'#f-description': 'Сменила банк, нужно указать новые реквизиты для выплат с ноября.',
	};
	for (const [sel, v] of Object.entries(typed)) await page.fill(sel, v);
	await page.selectOption('#f-topic', 'bank-details');
	const [bad] = await Promise.all([page.waitForNavigation(), page.click('form.request button[type=submit]')]);
	check(bad.status() === 422, `a form with errors: status ${bad.status()}, expected 422`);
	const errors = await page.locator('.field.invalid .error').allInnerTexts();
	check(errors.length >= 2, `errors under the fields: ${JSON.stringify(errors)}`);
	check(errors.every((e) => /[а-яё]/i.test(e)), `errors not in Russian: ${JSON.stringify(errors)}`);
	check((await page.locator('.field.invalid #f-member_id').count()) === 1, 'the member ID is not marked invalid');
	check((await page.locator('.field.invalid #f-email').count()) === 1, 'the e-mail is not marked invalid');
	for (const [sel, v] of Object.entries(typed)) {
		const got = await page.inputValue(sel);
		check(got === v, `${sel} after the error: ${JSON.stringify(got)}, typed ${JSON.stringify(v)}`);
	}
	check((await page.inputValue('#f-topic')) === 'bank-details', 'the topic is not kept');
	await flow.shot(page, 'errors');
	await page.fill('#f-member_id', '4912345');
	await page.fill('#f-email', 'anna.smirnova@example.org');
	const [ok] = await Promise.all([page.waitForNavigation(), page.click('form.request button[type=submit]')]);
	check(ok.status() === 200, `the corrected form: status ${ok.status()}, expected 200`);
	await has(page, 'принято', 'h1');
	const link = await page.locator('#private-link').inputValue();
	check(/\/r\/[A-Za-z0-9_-]{43}$/.test(link), `private link ${JSON.stringify(link)}`);
	await flow.shot(page, 'created');
	await go(page, base, new URL(link, base).pathname); // the link names [server] public_url's host
	await has(page, 'Смена банковских реквизитов', 'main');
	await flow.shot(page, 'private-page');
}

// ---- axe-core: zero serious or critical violations -----------------------------------------------

const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const axeFindings = {};

async function axeCheck(flow, page, name, problems) {
	await flow.shot(page, `axe-${name}`);
	await page.evaluate(AXE); // page.evaluate is not bound by the page's Content-Security-Policy
	const res = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
	axeFindings[name] = {
		url: page.url(),
		violations: res.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help })),
	};
	for (const v of res.violations)
		if (v.impact === 'serious' || v.impact === 'critical')
			problems.push(`${name}: ${v.id} (${v.impact}, ${v.nodes.length}×) ${v.help} — ` +
				v.nodes.slice(0, 2).map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`).join('; '));
}

async function axePublic(flow) {
	const base = cfg.main.base;
	const page = await flow.page();
	const problems = [];
	const pages = [
		['home', '/'],
		['section', '/s/payouts'],
		['article', '/a/password-reset'],
		['article-table', '/a/country-differences'],
		['article-screenshot', `/a/${cfg.main.screenshot}`], // an article with a screenshot
		['search', `/search?q=${encodeURIComponent('забыл пароль')}`],
		['search-nothing', `/search?q=${encodeURIComponent('щщщъъъ')}`],
	];
	for (const [name, p] of pages) {
		await go(page, base, p);
		await axeCheck(flow, page, name, problems);
	}
	check(!problems.length, problems.join(' | '));
}

// The forms and what scripts open: the request form empty and with errors, the instant search's list.
async function axeForms(flow) {
	const base = cfg.main.base;
	const page = await flow.page();
	const problems = [];
	await go(page, base, '/request');
	await axeCheck(flow, page, 'request', problems);
	// The request form with errors (sent empty).
	await Promise.all([page.waitForNavigation(), page.click('form.request button[type=submit]')]);
	check((await page.locator('.field.invalid').count()) > 0, 'the empty request form shows no errors');
	await axeCheck(flow, page, 'request-errors', problems);
	// The instant search's open list.
	await go(page, base, '/');
	await page.locator('#search-hero').pressSequentially('пароль', { delay: 10 });
	await page.locator('#search-hero-suggest [role=option]').first().waitFor({ state: 'visible' });
	await axeCheck(flow, page, 'home-suggestions', problems);
	check(!problems.length, problems.join(' | '));
}

async function axeDesk(flow) {
	const { base, article: slug } = cfg.main;
	const problems = [];
	const page = await flow.page();
	await go(page, base, '/desk/login');
	await axeCheck(flow, page, 'desk-login', problems);
	await page.close();
	const ed = await signIn(flow, base, cfg.main.editor);
	await axeCheck(flow, ed, 'desk-articles', problems);
	await go(ed, base, `/desk/articles/${slug}`);
	await axeCheck(flow, ed, 'desk-history', problems);
	await go(ed, base, `/desk/articles/${slug}/edit`);
	await axeCheck(flow, ed, 'desk-edit', problems);
	await Promise.all([ed.waitForNavigation(), ed.click('button[name=do][value=preview]')]);
	check((await ed.locator('section.preview').count()) === 1, 'no preview');
	await axeCheck(flow, ed, 'desk-preview', problems);
	await ed.fill('#f-title', '');
	await Promise.all([ed.waitForNavigation(), ed.click('button[name=do][value=preview]')]);
	check((await ed.locator('.error-summary').count()) === 1, 'an empty title shows no error');
	await axeCheck(flow, ed, 'desk-edit-errors', problems);
	check(!problems.length, problems.join(' | '));
}

// ---- 375 px: no horizontal scroll on the public pages ----------------------------------------------

async function mobile(flow) {
	const base = cfg.main.base;
	const page = await flow.page({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true, deviceScaleFactor: 1 });
	const problems = [];
	const pages = [
		['home', '/'],
		['section', '/s/payouts'],
		['article', '/a/password-reset'],
		['article-table', '/a/country-differences'],
		['article-wide', `/a/${cfg.main.wide}`], // a wide table, a long code line, a long URL
		['article-screenshot', `/a/${cfg.main.screenshot}`], // a 1600 px wide screenshot
		['search', `/search?q=${encodeURIComponent('выплата')}`],
		['request', '/request'],
	];
	async function measure(name) {
		const m = await page.evaluate(() => {
			const d = document.documentElement;
			// What sticks out, not counting what scrolls inside a box of its own (a wide table).
			const clipped = (e) => {
				for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
					if (getComputedStyle(p).overflowX !== 'visible') return true;
				return false;
			};
			const wide = [...document.querySelectorAll('body *')]
				.filter((e) => e.getBoundingClientRect().right > d.clientWidth + 0.5 && !clipped(e))
				.slice(0, 3)
				.map((e) => `${e.tagName.toLowerCase()}${e.className ? '.' + String(e.className).split(' ').join('.') : ''} (${Math.round(e.getBoundingClientRect().right)} px)`);
			return { scroll: d.scrollWidth, client: d.clientWidth, wide };
		});
		await flow.shot(page, `375-${name}`);
		if (m.scroll > m.client) problems.push(`${name}: scrollWidth ${m.scroll} > clientWidth ${m.client}; wider: ${m.wide.join(', ')}`);
	}
	for (const [name, p] of pages) {
		await go(page, base, p);
		if (name === 'article-screenshot') {
			// The screenshot is there, scaled down to the column (its page would scroll otherwise).
			const img = page.locator('main .body img').first();
			check((await img.count()) === 1, `no screenshot on ${p}`);
			await img.scrollIntoViewIfNeeded();
			const w = await img.evaluate((e) => [Number(e.getAttribute('width')), e.getBoundingClientRect().right]);
			check(w[0] > 375 && w[1] <= 375, `the screenshot (width ${w[0]}) ends at ${w[1]} px`);
		}
		await measure(name);
	}
	await go(page, base, '/request');
	await Promise.all([page.waitForNavigation(), page.click('form.request button[type=submit]')]);
	await measure('request-errors');
	check(!problems.length, problems.join(' | '));
}

// ---- the run ----------------------------------------------------------------------------------

const FLOWS = [
	['search-feedback', searchFeedback],
	['edit-publish', editPublish],
	['review-required', reviewRequired],
	['request-form', requestForm],
	['axe-public', axePublic],
	['axe-forms', axeForms],
	['axe-desk', axeDesk],
	['mobile-375', mobile],
];

async function main() {
	const { chromium } = await import('playwright-core');
	fs.rmSync(cfg.artifacts, { recursive: true, force: true });
	fs.mkdirSync(cfg.artifacts, { recursive: true });
	let browser;
	try {
		browser = await chromium.launch({
			executablePath: cfg.chromium || '/usr/bin/chromium',
			args: ['--headless', '--no-sandbox', '--disable-gpu'],
			timeout: 20000,
		});
	} catch (e) {
		out({ event: 'fatal', error: `chromium did not start: ${e.message.split('\n')[0]}` });
		process.exit(2);
	}
	out({ event: 'ready', browser: browser.version(), flows: FLOWS.map(([id]) => id) });
	const wanted = cfg.flows || FLOWS.map(([id]) => id);
	for (const id of wanted) {
		const entry = FLOWS.find(([k]) => k === id);
		if (!entry) {
			out({ flow: id, ok: false, ms: 0, error: 'no such flow in flows.mjs', shots: [] });
			continue;
		}
		const flow = new Flow(browser, id);
		const t0 = Date.now();
		let error;
		let timer;
		try {
			const limit = new Promise((_, reject) => {
				timer = setTimeout(() => reject(new FlowError(`the flow took more than ${FLOW_TIMEOUT / 1000} s`)), FLOW_TIMEOUT);
			});
			const running = entry[1](flow);
			running.catch(() => {}); // after a timeout it fails once its contexts are closed
			await Promise.race([running, limit]);
		} catch (e) {
			error = e instanceof FlowError ? e.message : String(e.stack || e).split('\n').slice(0, 4).join(' ');
			const pages = flow.contexts.flatMap((c) => c.pages());
			if (pages.length) await flow.shot(pages[pages.length - 1], 'FAILED').catch(() => {});
		}
		clearTimeout(timer);
		if (!error && flow.notes.length) error = flow.notes.join(' | ');
		await flow.close();
		out({ flow: id, ok: !error, ms: Date.now() - t0, ...(error ? { error } : {}), shots: flow.shots, ...(flow.notes.length ? { notes: flow.notes } : {}) });
	}
	fs.writeFileSync(path.join(cfg.artifacts, 'axe.json'), JSON.stringify(axeFindings, null, 1) + '\n');
	await browser.close();
	out({ event: 'done' });
}

main().catch((e) => {
	out({ event: 'fatal', error: String(e.stack || e) });
	process.exit(2);
});
