"""The exception handlers of ``bench serve``: every error is JSON with a message, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import BenchError
from .state import get_state

log = logging.getLogger("bench.serve")


async def _http_error(request: Request, exc: HTTPException):
    msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and msg == "Not Found":
        msg = f"no such page or endpoint: {request.url.path}"
    elif exc.status_code == 413 and msg == "Content Too Large":
        msg = f"upload is over the limit of {get_state(request).cfg.limits.max_upload_bytes:,} bytes (bench serve --max-upload-mb)"
    return JSONResponse({"error": get_state(request).public(msg)}, status_code=exc.status_code)


async def _bad_request(request: Request, exc: RequestValidationError):
    parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}" for e in exc.errors()]
    return JSONResponse({"error": "bad request: " + "; ".join(parts)}, status_code=422)


async def _bench_error(request: Request, exc: BenchError):
    status = getattr(exc, "status", 400)
    if status >= 500:  # the server's own problem (a damaged studies database): one line in its log, no traceback
        log.warning("%s: %s", request.url.path, exc)
    return JSONResponse({"error": get_state(request).public(str(exc))}, status_code=status)


async def _crash(request: Request, exc: Exception):
    log.exception("error in %s", request.url.path)
    return JSONResponse(
        {"error": f"internal error ({type(exc).__name__}); the server log has the details"}, status_code=500
    )


def add_error_handlers(app: FastAPI) -> None:
    """Answer HTTP errors, bad requests, :class:`BenchError` and crashes with ``{"error": "..."}``."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(BenchError, _bench_error)
    app.add_exception_handler(Exception, _crash)
