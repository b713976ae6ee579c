/*
 * spravka — results as you type in every search box. Dependency-free, progressive: the forms
 * work without it. Debounced requests to /api/v1/search (as-you-type requests are not logged),
 * up to 5 results in a listbox under the box; ↑/↓ move, Enter opens, Esc closes (ARIA
 * combobox pattern).
 */
(function () {
	'use strict';
	var DELAY = 150, LIMIT = 5, seq = 0;

	function setup(form) {
		var input = form.querySelector('input[name="q"]');
		if (!input) return;
		var list = document.createElement('ul');
		var id = input.id + '-suggest';
		var items = [], active = -1, timer = null, lastQuery = '';
		list.id = id;
		list.className = 'suggest';
		list.setAttribute('role', 'listbox');
		list.setAttribute('aria-label', 'Подсказки');
		list.hidden = true;
		form.classList.add('has-suggest');
		form.appendChild(list);
		input.setAttribute('role', 'combobox');
		input.setAttribute('aria-autocomplete', 'list');
		input.setAttribute('aria-expanded', 'false');
		input.setAttribute('aria-controls', id);

		function close() {
			list.hidden = true;
			input.setAttribute('aria-expanded', 'false');
			input.removeAttribute('aria-activedescendant');
			active = -1;
		}

		function highlight(i) {
			items.forEach(function (li, k) { li.setAttribute('aria-selected', k === i ? 'true' : 'false'); });
			active = i;
			if (i >= 0) input.setAttribute('aria-activedescendant', items[i].id);
			else input.removeAttribute('aria-activedescendant');
		}

		function render(data) {
			list.textContent = '';
			items = [];
			(data.results || []).forEach(function (r, k) {
				/* An option holds text only: a link inside it would be a control nested in a
				 * control (axe-core's nested-interactive); the option itself opens r.url. */
				var li = document.createElement('li');
				li.id = id + '-' + k;
				li.setAttribute('role', 'option');
				li.setAttribute('aria-selected', 'false');
				li.setAttribute('data-url', r.url);
				li.textContent = r.title; /* text, never HTML */
				li.addEventListener('mousedown', function (e) { e.preventDefault(); window.location.href = r.url; });
				list.appendChild(li);
				items.push(li);
			});
			if (data.corrected && items.length) {
				var note = document.createElement('li');
				note.className = 'suggest-note';
				note.setAttribute('role', 'presentation');
				note.textContent = 'Показаны результаты по запросу «' + data.corrected + '»';
				list.insertBefore(note, list.firstChild);
			}
			if (!items.length) { close(); return; }
			list.hidden = false;
			input.setAttribute('aria-expanded', 'true');
			highlight(-1);
		}

		function fetchNow() {
			var q = input.value.trim();
			if (q === lastQuery) return;
			lastQuery = q;
			if (q.length < 2) { close(); return; }
			var mine = ++seq;
			var url = '/api/v1/search?instant=1&limit=' + LIMIT + '&q=' + encodeURIComponent(q);
			var country = form.getAttribute('data-country');
			if (country) url += '&country=' + encodeURIComponent(country);
			fetch(url, { headers: { 'Accept': 'application/json' } })
				.then(function (r) { return r.ok ? r.json() : { results: [] }; })
				.then(function (data) { if (mine === seq) render(data); })
				.catch(function () { if (mine === seq) close(); });
		}

		input.addEventListener('input', function () {
			clearTimeout(timer);
			timer = setTimeout(fetchNow, DELAY);
		});
		input.addEventListener('keydown', function (e) {
			if (list.hidden) return;
			if (e.key === 'ArrowDown') { e.preventDefault(); highlight(Math.min(active + 1, items.length - 1)); }
			else if (e.key === 'ArrowUp') { e.preventDefault(); highlight(Math.max(active - 1, -1)); }
			else if (e.key === 'Escape') { e.preventDefault(); close(); }
			else if (e.key === 'Enter' && active >= 0) {
				e.preventDefault();
				window.location.href = items[active].getAttribute('data-url');
			}
		});
		input.addEventListener('blur', function () { setTimeout(close, 100); });
	}

	document.querySelectorAll('form.search').forEach(setup);

	/*
	 * The request form: while the subject and description are typed, up to 3 articles that may
	 * already answer the question, each with "Это решило мой вопрос" (a plain form that records
	 * the deflection and creates nothing).
	 */
	var box = document.getElementById('request-suggest');
	var form = box && box.closest('form');
	if (!form) return;
	var subject = form.querySelector('[name="subject"]');
	var description = form.querySelector('[name="description"]');
	var topic = form.querySelector('[name="topic"]');
	var country = form.querySelector('[name="country"]');
	var timer = null, last = '', mine = 0;

	function show(data) {
		box.textContent = '';
		var results = (data.results || []).slice(0, 3);
		if (!results.length) { box.hidden = true; return; }
		var title = document.createElement('p');
		title.className = 'suggest-title';
		title.textContent = 'Возможно, ответ уже есть в справке:';
		box.appendChild(title);
		var list = document.createElement('ul');
		results.forEach(function (r) {
			var li = document.createElement('li');
			var a = document.createElement('a');
			a.href = r.url;
			a.target = '_blank';
			a.rel = 'noopener';
			a.textContent = r.title;
			li.appendChild(a);
			var f = document.createElement('form');
			f.method = 'post';
			f.action = '/request/solved';
			f.className = 'solved';
			[['slug', r.slug], ['topic', topic ? topic.value : ''],
			 ['solved_token', box.getAttribute('data-solved-token') || '']].forEach(function (kv) {
				var i = document.createElement('input');
				i.type = 'hidden';
				i.name = kv[0];
				i.value = kv[1];
				f.appendChild(i);
			});
			var b = document.createElement('button');
			b.type = 'submit';
			b.textContent = 'Это решило мой вопрос';
			f.appendChild(b);
			li.appendChild(f);
			list.appendChild(li);
		});
		box.appendChild(list);
		box.hidden = false;
	}

	function lookup() {
		var q = ((subject ? subject.value : '') + ' ' + (description ? description.value : '')).trim().slice(0, 200);
		if (q === last) return;
		last = q;
		if (q.length < 4) { box.hidden = true; return; }
		var n = ++mine;
		var url = '/api/v1/search?instant=1&limit=3&q=' + encodeURIComponent(q);
		if (country && country.value) url += '&country=' + encodeURIComponent(country.value);
		fetch(url, { headers: { 'Accept': 'application/json' } })
			.then(function (r) { return r.ok ? r.json() : { results: [] }; })
			.then(function (data) { if (n === mine) show(data); })
			.catch(function () {});
	}

	[subject, description].forEach(function (el) {
		if (el) el.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(lookup, 300); });
	});
})();
