/*
 * spravka — the article editor's image upload. Progressive: without JavaScript the upload form
 * opens a page (in a new tab) with the Markdown to copy; with it, the form is sent in the
 * background (reply=markdown: the answer is the Markdown alone, or the error) and the Markdown
 * is inserted at the cursor of the article's text (#f-body), or shown to copy when there is none.
 */
(function () {
	'use strict';

	function insert(area, text) {
		var start = area.selectionStart, end = area.selectionEnd;
		if (typeof start !== 'number') start = end = area.value.length;
		var before = area.value.slice(0, start), after = area.value.slice(end);
		var pre = before && !/\n$/.test(before) ? '\n\n' : '';
		var post = after && !/^\n/.test(after) ? '\n\n' : '';
		area.value = before + pre + text + post + after;
		var at = before.length + pre.length + text.length;
		area.focus();
		area.setSelectionRange(at, at);
		/* a script's change fires no input event: the live preview (preview.js) listens for one */
		area.dispatchEvent(new Event('input', {bubbles: true}));
	}

	function setup(form) {
		var status = form.querySelector('#upload-status');
		var button = form.querySelector('button[type=submit]');
		form.removeAttribute('target');
		form.addEventListener('submit', function (e) {
			if (!window.fetch || !window.FormData) return; /* the page answers instead */
			e.preventDefault();
			var data = new FormData(form);
			data.append('reply', 'markdown');
			button.disabled = true;
			status.className = 'hint';
			status.textContent = 'Загрузка…';
			fetch(form.action, {method: 'POST', body: data, credentials: 'same-origin'}).then(function (r) {
				return r.text().then(function (text) { return {ok: r.ok, text: text}; });
			}).then(function (res) {
				button.disabled = false;
				if (!res.ok) {
					status.className = 'error';
					status.textContent = res.text;
					return;
				}
				var area = document.getElementById('f-body');
				if (area) {
					insert(area, res.text);
					status.textContent = 'Изображение вставлено в текст: ' + res.text;
				} else {
					status.textContent = res.text;
				}
				form.reset();
			}, function () {
				button.disabled = false;
				status.className = 'error';
				status.textContent = 'Не удалось загрузить: нет связи с сервером. Попробуйте ещё раз.';
			});
		});
	}

	var forms = document.querySelectorAll('form.media-upload');
	for (var i = 0; i < forms.length; i++) setup(forms[i]);
})();
