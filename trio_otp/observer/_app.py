"""The observer's web app: a plain ASGI application (no framework), served by hypercorn.

Routes (all answers are built from the run's own records at the time of the request):

* ``GET /``: the page; ``GET /static/observer.js``, ``/static/observer.css``.
* ``GET /api/snapshot``: the whole view as JSON (the terminal client reads it).
* ``GET /api/events``: the same view, pushed as server-sent events every ``interval``.
* ``GET /api/jobs/<queue>/<id>``: one job's attempts.
* ``POST /api/kill``, ``/api/jobs/cancel``, ``/api/jobs/retry``: the actions (JSON
  bodies), refused unless the observer was started with ``actions=True``.

Every request passes :meth:`App.refusal` first: the ``Host`` header must name an
allowed host (DNS rebinding: a page of another site resolved to 127.0.0.1 sends its
own host name), an ``Origin`` header, when sent, must be this observer's own, and a
token, when the observer has one, must come with the request (``Authorization:
Bearer``, the cookie the page sets, or ``?token=`` once), compared in constant time.
An action must also be a POST with the page's own anti-forgery token in the
``X-Observer-CSRF`` header: another site can neither read it nor send that header
without a CORS preflight, which the observer never grants.
"""

from __future__ import annotations

import hmac
import importlib.resources
import json
import logging
import math
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Protocol

import trio

from .._core._monitors import exit as exit_signal
from .._core._process import Pid
from .._core._reasons import KILL
from . import _probe
from ._jobs import JobSource

logger = logging.getLogger("trio_otp.observer")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

COOKIE: Final = "trio_otp_observer"
CSRF_HEADER: Final = "x-observer-csrf"
MAX_BODY: Final = 16 * 1024
_STATIC: Final = {
    "observer.js": "text/javascript; charset=utf-8",
    "observer.css": "text/css; charset=utf-8",
}
_SECURITY_HEADERS: Final = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        b"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
]


def _read_static(name: str) -> bytes:
    return importlib.resources.files("trio_otp.observer").joinpath("_static", name).read_bytes()


def _json_default(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def dumps(value: object) -> bytes:
    """JSON for the page: infinities as null, anything unknown as its ``str``."""
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


def _host_name(host: str) -> str:
    """``"[::1]:8000"`` → ``"::1"``; ``"Example.com:80"`` → ``"example.com"``."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host
    if host.count(":") == 1:
        return host.rsplit(":", 1)[0]
    return host


class Served(Protocol):
    """What the app needs of its observer (:class:`~trio_otp.observer.Observer` is one)."""

    allowed_hosts: frozenset[str] | None
    token: str | None
    actions: bool
    interval: float
    pid: Pid | None
    _closing: trio.Event

    def job_source(self, key: str) -> JobSource | None: ...

    async def snapshot(self) -> dict[str, Any]: ...


class App:
    """The ASGI application of one :class:`~trio_otp.observer.Observer`."""

    def __init__(self, observer: Served) -> None:
        self.observer = observer
        self.csrf = secrets.token_urlsafe(24)
        self._cache: tuple[float, bytes] | None = None
        self._page = _read_static("index.html").decode()

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        # websockets: not served (hypercorn closes the connection)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the checks ------------------------------------------------------------------

    def refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """Why this request is refused (status, text), or ``None`` to serve it."""
        obs = self.observer
        host = headers.get("host", "")
        allowed = obs.allowed_hosts
        if not host or (allowed is not None and _host_name(host) not in allowed):
            return 421, (
                f"refused: Host {host!r} is not one this observer answers to "
                f"({sorted(allowed or ())}); pass allowed_hosts= to Observer to add one"
            )
        origin = headers.get("origin")
        if origin is not None and origin != f"http://{host}":
            return 403, f"refused: cross-origin request from {origin!r}"
        if obs.token is not None and not self._token_ok(scope, headers):
            return 401, (
                "refused: this observer needs its token: open the URL with ?token=..., "
                "or send 'Authorization: Bearer <token>'"
            )
        return None

    def _token_ok(self, scope: Scope, headers: dict[str, str]) -> bool:
        token = self.observer.token
        assert token is not None
        given: list[str] = []
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            given.append(auth[7:].strip())
        for part in headers.get("cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE:
                given.append(value)
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given.extend(query.get("token", ()))
        expected = token.encode()
        ok = False
        for candidate in given:
            # constant time per candidate; every candidate is compared
            ok |= hmac.compare_digest(candidate.encode(), expected)
        return ok

    # -- HTTP ------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        path = scope["path"]
        refused = self.refusal(scope, headers)
        if refused is not None:
            logger.info("observer refused %s %s: %s", method, path, refused[1])
            await _text(send, *refused)
            return
        try:
            if method == "POST":
                await self._action(path, headers, receive, send)
            elif method not in ("GET", "HEAD"):
                await _text(send, 405, "method not allowed", [(b"allow", b"GET, POST")])
            else:
                await self._get(scope, path, headers, receive, send)
        except Exception:
            logger.exception("observer: error answering %s %s", method, path)
            await _text(send, 500, "internal error (see the program's log)")

    async def _get(
        self, scope: Scope, path: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        obs = self.observer
        if path == "/":
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if obs.token is not None and "token" in query:
                # Keep the token out of the address bar, history and logs: a cookie
                # only this site's own pages send (SameSite=Strict).
                cookie = f"{COOKIE}={query['token'][0]}; Path=/; HttpOnly; SameSite=Strict"
                await _respond(
                    send, 303, b"", [(b"location", b"/"), (b"set-cookie", cookie.encode())]
                )
                return
            page = self._page.replace("{{csrf}}", self.csrf).replace(
                "{{actions}}", "on" if obs.actions else "off"
            )
            await _respond(
                send, 200, page.encode(), [(b"content-type", b"text/html; charset=utf-8")]
            )
        elif path.startswith("/static/") and path[8:] in _STATIC:
            name = path[8:]
            await _respond(
                send, 200, _read_static(name), [(b"content-type", _STATIC[name].encode())]
            )
        elif path == "/api/snapshot":
            await _respond(send, 200, dumps(await obs.snapshot()), _JSON)
        elif path == "/api/events":
            await self._events(receive, send)
        elif path.startswith("/api/jobs/"):
            parts = path.split("/")
            if len(parts) != 5 or not parts[4].isdigit():
                await _text(send, 404, "not found: /api/jobs/<queue>/<job id>")
                return
            source = obs.job_source(urllib.parse.unquote(parts[3]))
            history = None if source is None else await source.history(int(parts[4]))
            if history is None:
                await _text(send, 404, f"no such job: {parts[3]}#{parts[4]}")
                return
            body = [
                {"kind": a.kind, "attempt": a.attempt, "at": a.at, "error": a.error}
                for a in history
            ]
            await _respond(send, 200, dumps({"job": int(parts[4]), "attempts": body}), _JSON)
        else:
            await _text(send, 404, "not found")

    async def snapshot_json(self) -> bytes:
        """The current view, built at most once per half interval for all streams."""
        now = trio.current_time()
        cached = self._cache
        if cached is not None and now - cached[0] < self.observer.interval / 2:
            return cached[1]
        body = dumps(await self.observer.snapshot())
        self._cache = (now, body)
        return body

    async def _events(self, receive: Receive, send: Send) -> None:
        closing = self.observer._closing
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream"),
                    (b"x-accel-buffering", b"no"),
                    *_SECURITY_HEADERS,
                ],
            }
        )

        async def until_disconnect(cancel: trio.CancelScope) -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            cancel.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(until_disconnect, nursery.cancel_scope)
            while not closing.is_set():
                body = await self.snapshot_json()
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"event: snapshot\ndata: " + body + b"\n\n",
                        "more_body": True,
                    }
                )
                with trio.move_on_after(self.observer.interval):
                    await closing.wait()
            # The observer stops: end the stream, so that the server's graceful
            # shutdown has no connection to wait for.
            await send({"type": "http.response.body", "body": b"event: bye\ndata: {}\n\n"})
            nursery.cancel_scope.cancel()

    async def _action(
        self, path: str, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        obs = self.observer
        if path not in ("/api/kill", "/api/jobs/cancel", "/api/jobs/retry"):
            await _text(send, 404, "not found")
            return
        if not obs.actions:
            await _text(
                send, 403, "refused: actions are off (start the observer with actions=True)"
            )
            return
        csrf = headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(csrf.encode(), self.csrf.encode()):
            await _text(send, 403, "refused: missing or wrong X-Observer-CSRF token")
            return
        if headers.get("content-type", "").split(";")[0].strip() != "application/json":
            await _text(send, 415, "an action's body is JSON (Content-Type: application/json)")
            return
        body = await _read_body(receive)
        try:
            data = json.loads(body) if body is not None else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            await _text(send, 400, "an action's body is a JSON object")
            return
        if path == "/api/kill":
            pid_id = data.get("pid")
            pid = _probe.find(pid_id) if isinstance(pid_id, int) else None
            if pid is None:
                await _text(send, 404, f"no live process 0.{pid_id}")
                return
            if pid is obs.pid:
                await _text(send, 409, "the observer does not kill itself")
                return
            logger.warning("observer: killing %r (asked from the observer page)", pid)
            exit_signal(pid, KILL)
            await _respond(send, 200, dumps({"killed": pid_id}), _JSON)
            return
        queue, job_id = data.get("queue"), data.get("job")
        source = obs.job_source(queue) if isinstance(queue, str) else None
        if source is None or not isinstance(job_id, int):
            await _text(send, 404, f"no such job: {queue!r}#{job_id!r}")
            return
        if path == "/api/jobs/cancel":
            done = await source.cancel(job_id)
        else:
            done = await source.retry(job_id)
        logger.warning("observer: %s of job %s#%s: %s", path[10:], queue, job_id, done)
        await _respond(send, 200 if done else 409, dumps({"ok": done}), _JSON)


_HTML: Final = b"text/html; charset=utf-8"
_ACTIONS_OFF: Final = "refused: actions are off (start the observer with actions=True)"
_JSON: Final = [(b"content-type", b"application/json")]


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *(headers or []),
                (b"content-length", str(len(body)).encode()),
                *_SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _text(
    send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _respond(
        send,
        status,
        (text + "\n").encode(),
        [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
    )
