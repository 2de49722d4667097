"""The live webcam WebSocket of ``bench serve`` (``/api/live``): checks the method and the session limit, then runs :mod:`.live`."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, WebSocket

from ..errors import BenchError
from .state import State

log = logging.getLogger("bench.serve")
router = APIRouter()


@router.websocket("/api/live")
async def api_live(st: State, ws: WebSocket, method: str | None = None):
    from . import live

    await ws.accept()
    name = method or st.cfg.live_method
    info = next((m for m in st.methods() if m["name"] == name), None)
    if info is None:
        await ws.send_json({"type": "error", "error": f"unknown method {name!r}: choose one of GET /api/methods"})
        await ws.close(1008)
        return
    if not st.live_enter():
        limit = st.cfg.limits.live_sessions
        await ws.send_json(
            {
                "type": "error",
                "error": f"{limit} live sessions are running (the limit, bench serve --live-sessions); try later",
            }
        )
        await ws.close(1013)
        return
    from benchmark.core import engine
    from benchmark.run.config import resolve_device

    device = resolve_device("auto")
    try:
        try:
            m = await asyncio.to_thread(st.make_method, name)
            choice = engine.choose(
                None, None, device, engine.default_cache_dir()
            )  # $BENCH_ENGINE, else the fastest here
            await asyncio.to_thread(engine.prepare, m, device, choice, log.info)
        except BenchError as exc:
            await ws.send_json({"type": "error", "error": st.public(str(exc))})
            await ws.close(1011)
            return
        scale = m.scale or 1
        await ws.send_json({"type": "ready", "method": name, "scale": scale})
        summary = await live.run(ws, m, scale, device)
        log.info("live session %s: %s", name, summary)
    finally:
        st.live_exit()
