"""The live WebSocket (``/api/live?method=...``).

The page sends webcam frames as binary messages: a 4-byte big-endian frame number, then
a JPEG. The server keeps only the newest frame that has not been started yet (a one-frame
slot): a frame that arrives while the method is busy replaces the waiting one and counts
as dropped, so a slow method drops frames instead of building a queue. Each restored
frame goes back as a binary message (the same 4-byte number, then a JPEG), followed by a
JSON text message with the server's counters::

    {"type": "stats", "frame": 17, "process_ms": 41.2, "received": 30, "processed": 12, "dropped": 18}

The page measures what the user sees: achieved fps, latency from sending a frame to
showing its result (p50/p95), and the frames that never came back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from ..errors import error_text

MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_FRAME_PIXELS = 1280 * 720


def _decode(data: bytes) -> np.ndarray | None:
    """The frame as RGB, or None when it is no image; over :data:`MAX_FRAME_PIXELS` (read from the
    header, before decoding): :class:`.decode.TooLarge`."""
    import cv2

    from .decode import decode

    img = decode(data, MAX_FRAME_PIXELS, cv2.IMREAD_COLOR, what="a frame")
    return None if img is None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _encode(img: np.ndarray, quality: int = 85) -> bytes:
    import cv2

    if img.shape[2] == 1:
        img = np.repeat(img, 3, 2)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return buf.tobytes()


class LiveSession:
    def __init__(self, ws, method, scale: int, device: str = "cpu"):
        from ..api import Context

        self.ws, self.method = ws, method
        self.ctx = Context(scale=scale, item_id="live", kind="video", device=device)
        self.slot: tuple[int, bytes, float] | None = None
        self.wake = asyncio.Event()
        self.closed = False
        self.received = self.processed = self.dropped = self.bad = 0
        self.loop = asyncio.get_running_loop()

    def _restore(self, data: bytes) -> tuple[bytes | None, float, str]:
        from ..api import restore_stream
        from .decode import Busy, TooLarge

        try:
            img = _decode(data)
        except (TooLarge, Busy) as exc:
            return None, 0.0, str(exc)
        if img is None:
            return None, 0.0, "a frame is not a decodable JPEG/PNG"
        t0 = time.perf_counter()
        out = next(restore_stream(self.method, [img], self.ctx, 1))
        return _encode(out), (time.perf_counter() - t0) * 1000, ""

    async def receive(self) -> None:
        while True:
            msg = await self.ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            data = msg.get("bytes")
            if data is None:
                continue  # text messages are ignored (keep-alive)
            if len(data) < 5 or len(data) > MAX_FRAME_BYTES:
                self.bad += 1
                await self.ws.send_json(
                    {
                        "type": "error",
                        "error": f"a frame message must be 4 bytes of frame number then an image of at most {MAX_FRAME_BYTES} bytes",
                    }
                )
                continue
            self.received += 1
            if self.slot is not None:
                self.dropped += 1
            self.slot = (int.from_bytes(data[:4], "big"), data[4:], time.perf_counter())
            self.wake.set()
        self.closed = True
        self.wake.set()

    async def work(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.closed:
                return
            if self.slot is None:
                continue
            (fid, data, _), self.slot = self.slot, None
            try:
                out, ms, problem = await asyncio.to_thread(self._restore, data)
            except Exception as exc:  # the method's own failure: say so and end the session
                await self.ws.send_json({"type": "error", "error": f"{self.method.name} failed: {error_text(exc)}"})
                await self.ws.close(1011)
                self.closed = True
                return
            if self.closed:
                return
            if out is None:
                self.bad += 1
                await self.ws.send_json({"type": "error", "error": problem})
                continue
            self.processed += 1
            await self.ws.send_bytes(fid.to_bytes(4, "big") + out)
            await self.ws.send_json(
                {
                    "type": "stats",
                    "frame": fid,
                    "process_ms": round(ms, 2),
                    "received": self.received,
                    "processed": self.processed,
                    "dropped": self.dropped,
                }
            )

    def summary(self) -> dict[str, Any]:
        return {"received": self.received, "processed": self.processed, "dropped": self.dropped, "bad": self.bad}


async def run(ws, method, scale: int, device: str = "cpu") -> dict[str, Any]:
    """Serve one accepted WebSocket until the client goes away."""
    s = LiveSession(ws, method, scale, device)
    worker = asyncio.create_task(s.work())
    try:
        await s.receive()
    finally:
        s.closed = True
        s.wake.set()
        try:
            await asyncio.wait_for(worker, timeout=30)
        except (asyncio.TimeoutError, Exception):
            worker.cancel()
    return s.summary()
