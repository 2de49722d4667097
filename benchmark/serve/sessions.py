"""Browser sessions of ``bench serve``: whose enhancement jobs are whose.

Every browser (or API client that keeps its cookies) gets a session: a random id
(``secrets.token_urlsafe``) in an HttpOnly, SameSite=Strict cookie, ``bench_session``, set on
its first response. A job belongs to the session that uploaded it (the job stores the id's
SHA-256, never the id): another session's job is a 404 to list, poll, download or delete,
unless the server shares them (``bench serve --share-jobs``)."""

from __future__ import annotations

import hashlib
import re
import secrets

from starlette.requests import HTTPConnection, cookie_parser

COOKIE = "bench_session"
SCOPE_KEY = "bench.session"
_ID = re.compile(r"[A-Za-z0-9_-]{32}")


class Sessions:
    """ASGI middleware: the request's session id in ``scope["bench.session"]``; a request without a
    valid one gets a new id, and its HTTP response the cookie."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        raw = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), "")
        sid = cookie_parser(raw).get(COOKIE) if raw else None
        sid = sid if sid and _ID.fullmatch(sid) else None
        if sid is None and scope["type"] == "http":
            sid = secrets.token_urlsafe(24)
            cookie = f"{COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/".encode()
            inner = send

            async def send(msg):  # the same send, plus the new session's cookie
                if msg["type"] == "http.response.start":
                    msg = {**msg, "headers": [*msg.get("headers", []), (b"set-cookie", cookie)]}
                await inner(msg)

        scope[SCOPE_KEY] = sid
        return await self.app(scope, receive, send)


def owner(conn: HTTPConnection) -> str:
    """The request's session as a job stores it: the SHA-256 of the session id (empty: no session)."""
    sid = conn.scope.get(SCOPE_KEY)
    return hashlib.sha256(sid.encode()).hexdigest() if sid else ""
