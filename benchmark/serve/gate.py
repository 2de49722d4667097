"""The ASGI gate in front of ``bench serve``: Host and Origin checks, the token, the upload size cap."""

from __future__ import annotations

import copy
import hmac
import json
import logging
import re
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

UPLOAD_OVERHEAD = 64 * 1024  # multipart framing and the form fields, beyond the file itself
MIN_TOKEN = 16  # characters; `bench serve --token random` makes 24
_TOKEN_IN_URL = re.compile(r"((?:^|[?&;])token=)[^&;\s\"']*", re.IGNORECASE)


def check_token(token: str | None) -> None:
    """Refuse a token too short to keep anyone out (``--token random`` makes a long one)."""
    from ..errors import BenchError

    if token is not None and len(token) < MIN_TOKEN:
        raise BenchError(
            f"--token: {len(token)} characters is too short to keep anyone out; use at least {MIN_TOKEN} "
            "(--token random makes one)"
        )


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


class RedactToken(logging.Filter):
    """A logging filter that keeps the token out of uvicorn's access and error lines (the request line and
    a WebSocket's path carry ``?token=T`` as the client sent it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config() -> dict:
    """uvicorn's logging configuration with :class:`RedactToken` on its handlers."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg.setdefault("filters", {})["redact_token"] = {"()": f"{__name__}.RedactToken"}
    for h in cfg["handlers"].values():
        h["filters"] = [*h.get("filters", []), "redact_token"]
    return cfg


async def _refuse(scope, send, status: int, message: str, ws_code: int = 1008) -> None:
    """Answer with JSON ``{"error": message}`` (a WebSocket: close with ``ws_code``)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": ws_code, "reason": message[:120]})
        return
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Gate:
    """ASGI middleware in front of the app, for every HTTP request and WebSocket:

    * ``hosts``: the Host header must be one of them (a loopback server without a token
      accepts only loopback names, so a page elsewhere cannot reach it by DNS rebinding);
    * a request that names an ``Origin`` must come from this server's own pages;
    * ``token``: it must be given (bearer header, ``?token=`` once, then the cookie);
    * an upload whose declared length is over ``upload_limit`` is refused before it is read."""

    def __init__(self, app, token: str | None, hosts: list[str] | None, upload_limit: int):
        self.app, self.token, self.hosts, self.limit = app, token, hosts, upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if self.hosts is not None and host.rsplit(":", 1)[0] not in self.hosts:
            return await _refuse(
                scope, send, 403, f"host {host!r} is not this server's (open it as http://localhost:PORT/)"
            )
        origin = headers.get("origin")
        if origin and urlsplit(origin).netloc != host:
            return await _refuse(scope, send, 403, f"cross-origin request from {origin} refused")
        if self.token:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            auth = headers.get("authorization", "")
            bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
            cookie = SimpleCookie(headers.get("cookie", "")).get("bench_token")
            if not any(
                x and hmac.compare_digest(x.encode(), self.token.encode())
                for x in (bearer, query, cookie.value if cookie else "")
            ):
                return await _refuse(
                    scope,
                    send,
                    401,
                    "this server needs its token: open the page once with ?token=T, or send Authorization: Bearer T",
                )
            if query and scope["type"] == "http":
                inner = send

                async def send(msg):  # noqa: F811  (the same send, plus the cookie for the pages)
                    if msg["type"] == "http.response.start":
                        msg = {
                            **msg,
                            "headers": list(msg.get("headers", []))
                            + [
                                (b"set-cookie", f"bench_token={self.token}; HttpOnly; SameSite=Strict; Path=/".encode())
                            ],
                        }
                    await inner(msg)

        length = headers.get("content-length", "")
        if scope["type"] == "http" and length.isdigit() and int(length) > self.limit + UPLOAD_OVERHEAD:
            return await _refuse(
                scope,
                send,
                413,
                f"upload of {int(length):,} bytes is over the limit of {self.limit:,} bytes (bench serve --max-upload-mb)",
            )
        return await self.app(scope, receive, send)
