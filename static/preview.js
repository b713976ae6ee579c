/*
 * spravka — the article editor's live preview. Progressive: without JavaScript the form's «Предпросмотр»
 * button renders the preview on the server; with it, the text is sent a moment after typing
 * stops (the form's fields with its CSRF token) to POST /desk/articles/{slug}/preview, which
 * renders it with the portal's pipeline and answers the HTML fragment shown above the form.
 * Only the newest answer is shown.
 */
(function () {
	'use strict';

	var form = document.querySelector('form.editor[data-preview]');
	var out = document.getElementById('preview');
	if (!form || !out || !window.fetch || !window.FormData || !window.URLSearchParams) return;
	var timer = null, sent = 0;

	function update() {
		var n = ++sent;
		var data = new URLSearchParams();
		new FormData(form).forEach(function (value, name) {
			if (name !== 'do' && typeof value === 'string') data.append(name, value);
		});
		fetch(form.getAttribute('data-preview'), {
			method: 'POST',
			credentials: 'same-origin',
			headers: {'Content-Type': 'application/x-www-form-urlencoded'},
			body: data.toString()
		}).then(function (r) {
			return r.ok || r.status === 422 ? r.text() : null;
		}).then(function (html) {
			if (html === null || n !== sent) return;
			out.innerHTML = html; /* the server's fragment: escaped, Markdown in safe mode */
			out.hidden = false;
		}).catch(function () {});
	}

	function later() {
		clearTimeout(timer);
		timer = setTimeout(update, 400);
	}
	form.addEventListener('input', later);
	form.addEventListener('change', later);
})();
