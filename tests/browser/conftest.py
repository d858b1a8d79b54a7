"""Headless Chromium driven over the DevTools protocol on a pipe (standard library only).

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from file descriptor 3
and writes responses and events to descriptor 4, one JSON message per NUL-terminated chunk. That
is all a test needs to load a page, watch its console and its network requests, read the DOM,
take a screenshot and print it to PDF, without a WebDriver or a browser download: `.ci/run`
installs Debian's ``chromium`` package when it is missing.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Where Debian puts the browser binary (``/usr/bin/chromium`` is a shell wrapper around it).
_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")
_FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where the sandbox cannot start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
#: URL schemes a self-contained report may load; anything else is an external request.
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")


def find_chromium() -> str | None:
    """The Chromium executable, or ``None`` where none is installed."""
    for name in _CANDIDATES:
        path = name if os.path.isabs(name) else shutil.which(name)
        if path and os.access(path, os.X_OK):
            return path
    return None


@dataclasses.dataclass
class PageLoad:
    """What the browser saw while loading one page.

    Attributes:
        url: the page's URL.
        console_errors: console messages of level error, uncaught exceptions and browser log
            errors (failed loads, blocked requests), as text.
        external: URLs of every request outside :data:`LOCAL_SCHEMES` (each was blocked).
        images: per ``<img>``: ``src`` prefix, natural and rendered size, whether it decoded.
    """

    url: str
    console_errors: list[str]
    external: list[str]
    images: list[dict[str, Any]]


class Chromium:
    """One headless browser with one tab; close it with :meth:`close` (or use ``with``)."""

    def __init__(self, executable: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._profile = tempfile.mkdtemp(prefix="criticality-chromium-")
        to_child, self._write = os.pipe()  # we write, the browser reads on fd 3
        self._read, from_child = os.pipe()  # the browser writes on fd 4, we read

        def wire() -> None:  # in the child, before exec: put the pipe ends at fds 3 and 4
            high_in = fcntl.fcntl(to_child, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(from_child, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self._proc = subprocess.Popen(
            [executable, *_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,  # single-threaded test process
            pass_fds=(3, 4),
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._session = ""
        self._external: list[str] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        # Intercept every request so that one outside the page's own files is refused at once.
        self.send("Fetch.enable", {"patterns": [{"urlPattern": "*"}]})

    # ---- protocol ------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command (to the tab once attached) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        wanted = self._next_id
        reply = self._read_until(lambda m: m.get("id") == wanted, f"the reply to {method}")
        if "error" in reply:
            raise RuntimeError(f"{method} failed: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_for(self, method: str) -> dict[str, Any]:
        """Wait for the next event ``method`` (e.g. ``"Page.loadEventFired"``)."""
        for i, event in enumerate(self._events):
            if event.get("method") == method:
                del self._events[i]
                return event
        event = self._read_until(lambda m: m.get("method") == method, method)
        self._events.remove(event)
        return event

    def _read_until(self, done: Any, what: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if message.get("method") == "Fetch.requestPaused":
                    self._refuse_or_continue(message["params"])
                    continue
                if "method" in message:
                    self._events.append(message)
                if done(message):
                    return dict(message)
            left = deadline - time.monotonic()
            if left <= 0 or self._proc.poll() is not None:
                raise TimeoutError(f"chromium: no {what} within {self.timeout:.0f} s")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the protocol pipe")
                self._buffer += chunk

    def _refuse_or_continue(self, params: dict[str, Any]) -> None:
        url, request = params["request"]["url"], params["requestId"]
        message: dict[str, Any] = {"sessionId": self._session}
        if url.startswith(LOCAL_SCHEMES):
            message.update(method="Fetch.continueRequest", params={"requestId": request})
        else:
            self._external.append(url)
            refused = {"requestId": request, "errorReason": "BlockedByClient"}
            message.update(method="Fetch.failRequest", params=refused)
        self._next_id += 1
        message["id"] = self._next_id  # its reply is read and dropped with the other messages
        os.write(self._write, json.dumps(message).encode() + b"\0")

    # ---- pages ---------------------------------------------------------------------------

    def load(self, path: Path, *, width: int = 1200, height: int = 900) -> PageLoad:
        """Open ``path`` at a ``width`` × ``height`` CSS-pixel viewport; what the page did."""
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600})  # fmt: skip
        self._events.clear()
        self._external = []
        url = path.resolve().as_uri()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        self.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
        images = self.evaluate(  # with every folded detail open, as a reader who opens them
            """Promise.all(Array.from(document.images, img => img.decode().then(
                   () => true, () => false).then(decoded => ({
                 src: img.currentSrc.slice(0, 40), decoded,
                 natural: [img.naturalWidth, img.naturalHeight],
                 shown: [img.getBoundingClientRect().width, img.getBoundingClientRect().height],
               }))))"""
        )
        self.evaluate("new Promise(r => setTimeout(r, 50))")  # let late console messages arrive
        return PageLoad(url, self._errors(), list(self._external), images)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises are awaited)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                               "returnByValue": True})  # fmt: skip
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluating failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def _errors(self) -> list[str]:
        errors = []
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in params["args"]))  # fmt: skip
            elif method == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                errors.append(f"{params['entry']['text']} ({params['entry'].get('url', '')})")
        return errors

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the viewport) at ``path``."""
        data = self.send("Page.captureScreenshot",
                         {"format": "png", "captureBeyondViewport": True})["data"]  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def pdf(self, path: Path) -> Path:
        """The page printed to PDF (A4, print styles, backgrounds) at ``path``."""
        data = self.send("Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69,
                                             "printBackground": True})["data"]  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if self._proc.poll() is None:
                self._session = ""
                with contextlib.suppress(RuntimeError, TimeoutError, OSError):
                    self.send("Browser.close")
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
        finally:
            os.close(self._write)
            os.close(self._read)
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    """A headless browser for the session; skipped (with the reason) where none is installed."""
    executable = find_chromium()
    if executable is None:
        cannot = os.environ.get("CRITICALITY_NO_CHROMIUM")  # set by .ci/run when it could not
        if cannot:
            pytest.skip(f"no browser test: {cannot}")
        reason = "no chromium installed (`apt-get install -y chromium`; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    with Chromium(executable) as browser:
        yield browser
