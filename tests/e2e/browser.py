"""A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (standard library only).

Debian's chromium runs headless with a fresh profile; messages are JSON separated by NUL bytes on
two pipes (chromium reads fd 3 and writes fd 4). Enough to open a page, type, press keys and read
the DOM for the tests of page behaviour.

Those tests run on one engine: on a PostgreSQL run (harness.POSTGRES) a Browser is not started
and the test is skipped; what the pages do does not depend on where the rows are.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import POSTGRES, Skip

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, timeout=20):
        if POSTGRES:
            raise Skip("page behaviour in chromium: the SQLite run covers it")
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="spravka-chromium-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # chromium reads commands on fd 3 and writes answers on fd 4: bash puts them there
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', CHROMIUM, *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        os.set_blocking(self.from_chrome, False)
        self.buf = b""
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Runtime.enable", session=True)

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise BrowserError("chromium did not answer in time")
            if self.proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self.proc.returncode}")
            try:
                chunk = os.read(self.from_chrome, 1 << 16)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self.buf += chunk
        msg, _, self.buf = self.buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, session=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise BrowserError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def js(self, expression):
        """Evaluates expression in the page and returns its JSON value."""
        r = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise BrowserError(f"page script failed: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def open(self, url):
        self.events.clear()
        self.call("Page.navigate", session=True, url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def wait_for(self, expression, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.js(expression):
                    return True
            except BrowserError:
                pass  # the page is navigating
            time.sleep(0.05)
        raise BrowserError(f"timed out waiting for: {expression}")

    def type(self, text):
        self.call("Input.insertText", session=True, text=text)

    def key(self, key, code=None, keycode=0):
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", session=True, type=kind, key=key, code=code or key,
                      windowsVirtualKeyCode=keycode)

    def close(self):
        try:
            os.close(self.to_chrome)
        except OSError:
            pass
        try:
            self.proc.terminate()
            self.proc.wait(5)
        except Exception:
            self.proc.kill()
        try:
            os.close(self.from_chrome)
        except OSError:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)
