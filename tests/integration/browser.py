"""A real headless Chromium for the tests, driven over the DevTools protocol on a pipe.

`chromium --remote-debugging-pipe` reads commands from its fd 3 and writes
answers to fd 4, each a JSON message ended by a NUL byte: no WebSocket client
and no extra package. `Browser.open(url)` loads a page in a fresh profile;
`evaluate` runs JavaScript in it; `wait_for` polls an expression until it is
true or a deadline passes (then it raises with what the page showed);
`screenshot` saves a PNG. A browser that is missing skips the test, saying why.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

import pytest

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no headless Chromium: apt-get install chromium (.ci/run installs it when it runs as root)")


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, width: int = 1400, height: int = 1000):
        self._profile = tempfile.mkdtemp(prefix="raftcache-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def pipes_at_3_and_4():
            # via fresh copies: a pipe already at fd 3 or 4 would keep its close-on-exec flag
            read_end, write_end = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._proc = subprocess.Popen(
            [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--disable-extensions", "--remote-debugging-pipe", f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=pipes_at_3_and_4)
        os.close(to_child_r)
        os.close(from_child_w)
        self._size = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self._buf = b""
        self._next_id = 0
        self._session: str | None = None

    def _send(self, method: str, params: dict | None = None, session: str | None = None,
              timeout_s: float = 30.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\0" in self._buf:
                raw, _, self._buf = self._buf.partition(b"\0")
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise BrowserError(f"{method}: {reply['error']}")
                    return reply["result"]
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise BrowserError(f"{method}: no answer from Chromium within {timeout_s} s")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise BrowserError(f"{method}: Chromium exited (code {self._proc.poll()})")
            self._buf += chunk

    def open(self, url: str) -> None:
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self._send("Page.enable", session=self._session)
        self._send("Emulation.setDeviceMetricsOverride", self._size, session=self._session)
        self._send("Page.navigate", {"url": url}, session=self._session)

    def evaluate(self, expression: str):
        result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                            session=self._session)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float, what: str = "") -> object:
        """Poll `expression` until it is truthy; raise with the page's text when the deadline passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                value = self.evaluate(expression)
            except BrowserError:
                value = None            # the page is still loading
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise BrowserError(f"not true within {timeout_s} s: {what or expression}\npage text:\n{text}")
            time.sleep(0.2)

    def screenshot(self, path: str) -> None:
        data = self._send("Page.captureScreenshot", {"format": "png"}, session=self._session)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self) -> None:
        try:
            self._send("Browser.close", timeout_s=5)
        except (BrowserError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._to_child, self._from_child):
            os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)
