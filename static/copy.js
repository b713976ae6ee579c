/*
 * spravka — the "copy" button next to a private link. Progressive: without JavaScript the link is
 * a read-only field to select and copy, and the button stays hidden; with it, the field selects
 * itself when focused and the button copies it (the Clipboard API, or execCommand as a fallback).
 */
(function () {
	'use strict';

	function setup(box) {
		var input = box.querySelector('input[readonly]');
		var button = box.querySelector('button.copy');
		if (!input || !button) return;
		function select() {
			input.focus();
			input.setSelectionRange(0, input.value.length);
		}
		input.addEventListener('focus', select);
		input.addEventListener('click', select);
		function done(ok) {
			button.textContent = ok ? 'Скопировано' : 'Выделено — нажмите Ctrl+C';
		}
		button.addEventListener('click', function () {
			select();
			if (navigator.clipboard && navigator.clipboard.writeText) {
				navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () {
					done(document.execCommand && document.execCommand('copy'));
				});
			} else {
				done(document.execCommand && document.execCommand('copy'));
			}
		});
		button.hidden = false;
	}

	function init() {
		var boxes = document.querySelectorAll('.copy-link');
		for (var i = 0; i < boxes.length; i++) setup(boxes[i]);
	}
	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
	else init();
})();
