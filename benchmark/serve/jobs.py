"""Enhancement jobs for uploaded files: checked, stored under generated names, run in a
bounded worker pool through :func:`benchmark.tools.enhance.enhance`, removed after a while.

Every job lives in ``STORE/jobs/<id>/`` (``input.png`` or ``input.video``, ``output.png`` or
``output.mp4``, for video ``before.mp4`` for the player, and ``job.json``); the id is
random hex and the only name that ever reaches the filesystem. The client's file name is
kept as display text only."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..core.videoio import frame_count
from ..errors import BenchError, error_text
from .threads import DaemonPool

JOB_ID = re.compile(r"[0-9a-f]{32}")
STATUSES = ("queued", "running", "done", "error")
#: the most bytes a job.json may take (a job's record is a few hundred bytes); a larger one is not read
MAX_RECORD_BYTES = 64 * 1024
STOPPED = "the server stopped before this job finished; upload it again"


class UploadError(BenchError):
    """A rejected upload; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Limits:
    max_upload_mb: float = 200.0
    workers: int = 2  # jobs running at once
    max_pending: int = 16  # queued + running jobs accepted
    live_sessions: int = 2
    keep_minutes: float = 60.0  # jobs and uploads are removed this long after they finish
    max_pixels: int = 4096 * 4096  # per uploaded image or video frame

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


@dataclass
class Job:
    id: str
    method: str
    kind: str  # image | video
    filename: str  # display only
    scale: int | None = None
    status: str = "queued"  # queued (waiting for a worker) | running (a worker has it) | done | error
    progress: float = 0.0
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    input_size: str = ""
    output_size: str = ""
    frames: int = 0
    owner: str = ""  # the SHA-256 of the uploading session's id (:mod:`.sessions`); never shown

    @classmethod
    def from_record(cls, record: Any, folder: str) -> "Job":
        """The job a ``job.json`` (untrusted: a planted or damaged file) describes, every field checked
        against what this code writes; ValueError otherwise. Its id must be its folder's name."""
        if not isinstance(record, dict) or set(record) - {f.name for f in fields(cls)}:
            raise ValueError("not a job record")
        job = cls(**record)  # TypeError: a field missing
        if job.id != folder or not JOB_ID.fullmatch(job.id):
            raise ValueError(f"id {job.id!r} is not its folder's name")
        text = ("method", "filename", "input_size", "output_size", "owner")
        if not all(isinstance(getattr(job, k), str) and len(getattr(job, k)) <= 1000 for k in text):
            raise ValueError("a text field is not text")
        if (
            job.kind not in ("image", "video")
            or job.status not in STATUSES
            or not (job.error is None or isinstance(job.error, str))
        ):
            raise ValueError("kind, status or error of the wrong kind")
        if not (job.scale is None or _integer(job.scale) and 1 <= job.scale <= 8) or not (
            _integer(job.frames) and job.frames >= 0
        ):
            raise ValueError("scale or frames not a count")
        if not (
            _number(job.created)
            and (job.finished is None or _number(job.finished))
            and _number(job.progress)
            and 0 <= job.progress <= 1
        ):
            raise ValueError("a time or the progress not a number")
        job.filename = display_name(job.filename)
        return job

    def public(self) -> dict[str, Any]:
        d = asdict(self)
        del d["owner"]
        d["result"] = f"/api/jobs/{self.id}/result" if self.status == "done" else None
        d["input"] = f"/api/jobs/{self.id}/input"
        return d


def _integer(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def display_name(name: str | None) -> str:
    """The client's file name reduced to harmless display text (no folders)."""
    base = re.split(r"[\\/]", name or "")[-1]
    return re.sub(r"[^\w. -]", "_", base)[:80] or "upload"


def sniff(path: Path, limits: Limits) -> tuple[str, Any, str]:
    """Decode the upload to learn what it is: ("image", frame, WxH) or ("video", None, WxH).
    The file's name and the client's content type are never trusted; the size is read from
    the header and checked before anything is decoded (see :mod:`.decode`)."""
    import av

    from benchmark.core.imaging import normalize_decoded

    from .decode import Busy, NoDecoder, TooLarge, decode, video_size

    if path.stat().st_size == 0:
        raise UploadError("the uploaded file is empty")
    try:
        img = decode(path, limits.max_pixels)
        if img is not None:
            img = normalize_decoded(img)  # 8 bits already: channels only
            return "image", img, f"{img.shape[1]}x{img.shape[0]}"
        w, h = video_size(path, limits.max_pixels)
        return "video", None, f"{w}x{h}"
    except TooLarge as exc:
        raise UploadError(str(exc), 413) from None
    except Busy as exc:
        raise UploadError(str(exc), 503) from None
    except NoDecoder as exc:
        raise UploadError(f"the upload is no picture that can be decoded: {exc}", 415) from None
    except LookupError:
        raise UploadError("the upload has no video stream (and is no image that can be decoded)", 415) from None
    except EOFError:
        raise UploadError("the video has no decodable frame", 415) from None
    except (av.FFmpegError, OSError, ValueError):
        raise UploadError(
            "the upload is neither an image nor a video that can be decoded (PNG, JPEG, WebP, ... or MP4, MKV, WebM, ...)",
            415,
        ) from None


class JobStore:
    def __init__(self, root: Path, limits: Limits, method_factory):
        self.root = Path(root) / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.limits = limits
        self.make_method = method_factory  # name -> Method (names already checked against the list)
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()
        self._reserved = 0  # uploads being checked, each holding a slot of max_pending
        self.pool = DaemonPool(
            max_workers=limits.workers, thread_name_prefix="bench-job"
        )  # a stop never waits for a job
        self._stop = threading.Event()
        self._load()
        self._cleaner = threading.Thread(target=self._clean_loop, name="bench-job-cleanup", daemon=True)
        self._cleaner.start()

    # ------------------------------------------------------------------ storage
    def dir(self, job_id: str) -> Path:
        if not JOB_ID.fullmatch(job_id):
            raise KeyError(job_id)
        return self.root / job_id

    def _save(self, job: Job) -> None:
        d = self.root / job.id
        tmp = (
            d / f".job.json.{threading.get_ident()}.tmp"
        )  # one per thread: a worker's save and a stop's never share it
        tmp.write_text(json.dumps(asdict(job)))
        os.replace(tmp, d / "job.json")

    def _load(self) -> None:
        """The jobs of a previous server: each ``job.json`` read as untrusted (:meth:`Job.from_record`); a job
        folder that is a link, or whose record is unreadable, too large, or has a field of the wrong kind, is removed."""
        for d in self.root.iterdir():
            p = d / "job.json"
            if d.is_symlink() or not d.is_dir():
                d.unlink(missing_ok=True)
                continue
            try:
                if (
                    not JOB_ID.fullmatch(d.name)
                    or p.is_symlink()
                    or not p.is_file()
                    or p.stat().st_size > MAX_RECORD_BYTES
                ):
                    raise ValueError("no job record")
                job = Job.from_record(json.loads(p.read_text()), d.name)
            except (ValueError, TypeError, RecursionError, OSError):
                shutil.rmtree(d, ignore_errors=True)
                continue
            if job.status in ("queued", "running"):
                job.status, job.error, job.finished = "error", STOPPED, time.time()
                self._save(job)
            self.jobs[job.id] = job

    def get(self, job_id: str) -> Job:
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    def list(self, owner: str | None = None) -> list[Job]:
        """The jobs, newest first: every one (``owner`` None), or those of one session."""
        with self.lock:
            return sorted(
                (j for j in self.jobs.values() if owner is None or j.owner == owner), key=lambda j: -j.created
            )

    def delete(self, job_id: str) -> bool:
        """Remove a finished job and its files; False (nothing removed) while it is queued or running."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.status in ("queued", "running"):
                return False
            del self.jobs[job_id]
        shutil.rmtree(self.root / job_id, ignore_errors=True)
        return True

    # ------------------------------------------------------------------ submit / run
    def submit(self, upload: Path, filename: str | None, method: str, scale: int | None, owner: str = "") -> Job:
        """Take an upload already copied to ``upload`` (a temporary file): check it, move it
        into a new job folder and queue the job (``owner``: the uploading session, :mod:`.sessions`)."""
        with self.lock:  # the slot is taken before the slow check, so parallel uploads cannot overshoot the cap
            pending = sum(j.status in ("queued", "running") for j in self.jobs.values()) + self._reserved
            if pending >= self.limits.max_pending:
                raise UploadError(
                    f"{pending} jobs are waiting or running (the limit is {self.limits.max_pending}); "
                    "try again when one has finished",
                    429,
                )
            self._reserved += 1
        job = None
        try:
            job = self._accept(upload, filename, method, scale, owner)
        finally:
            with self.lock:  # the job is listed as the reserved slot is given back, in one step
                self._reserved -= 1
                if job is not None:
                    self.jobs[job.id] = job
        self.pool.submit(self._run, job)  # queued until a worker takes it: it is then running
        return job

    def _accept(self, upload: Path, filename: str | None, method: str, scale: int | None, owner: str) -> Job:
        """Check the upload and store it in a new job folder (the caller lists the job)."""
        kind, img, size = sniff(upload, self.limits)
        w, h = (int(x) for x in size.split("x"))
        if (
            scale and w * h * scale * scale > self.limits.max_pixels
        ):  # a method that follows any scale: its output is capped too
            raise UploadError(
                f"{method} x{scale} of a {size} picture would make {w * scale}x{h * scale} pixels, over the limit of "
                f"{self.limits.max_pixels:,} output pixels for a method that follows any scale (the resizers work on the whole "
                "picture at once); choose a smaller scale or picture",
                413,
            )
        job = Job(
            id=uuid.uuid4().hex,
            method=method,
            kind=kind,
            filename=display_name(filename),
            scale=scale,
            input_size=size,
            owner=owner,
        )
        d = self.root / job.id
        d.mkdir()
        try:
            if kind == "image":
                from benchmark.core.imaging import write_png

                write_png(
                    d / "input.png", img
                )  # the decoded pixels, re-encoded: nothing of the client's file is served back
            else:
                shutil.move(str(upload), d / "input.video")
            self._save(job)
        except BaseException:
            shutil.rmtree(d, ignore_errors=True)
            raise
        return job

    def _update(self, job: Job, **kw: Any) -> None:
        with self.lock:
            if (
                self._stop.is_set()
            ):  # the server stopped: the job was marked so (close), a worker cut off changes nothing
                return
            for k, v in kw.items():
                setattr(job, k, v)
        self._save(job)

    def status(self, job: Job) -> str:
        """``job``'s status now (read under the lock)."""
        with self.lock:
            return job.status

    def _run(self, job: Job) -> None:
        from benchmark.run.config import resolve_device
        from benchmark.tools.enhance import MethodFailed, enhance

        d = self.root / job.id
        self._update(job, status="running", progress=0.0)
        try:
            method = self.make_method(job.method)
            total = frame_count(d / "input.video") if job.kind == "video" else 1
            counted = _counting(method, lambda n: self._update(job, progress=min(0.99, n / max(total, 1)), frames=n))
            src = d / ("input.png" if job.kind == "image" else "input.video")
            dst = d / ("output.png" if job.kind == "image" else "output.mp4")
            info = enhance(src, counted, dst, scale=job.scale, progress=False, device=resolve_device("auto"))
            if job.kind == "video":  # the original, re-encoded as H.264 for the side-by-side player
                enhance(src, self.make_method("identity"), d / "before.mp4", scale=1, progress=False)
            self._update(
                job,
                status="done",
                progress=1.0,
                finished=time.time(),
                frames=int(info.get("frames", 1)),
                output_size=info.get("size") or _image_size(dst),
            )
        except MethodFailed as exc:  # the method's own words, without the server's paths
            self._fail(job, f"{job.method} failed: {error_text(exc.cause)}")
        except BenchError as exc:
            self._fail(job, str(exc))
        except Exception as exc:  # a method's own failure: its message, never a traceback
            self._fail(job, f"{job.method} failed: {error_text(exc)}")

    def _fail(self, job: Job, message: str) -> None:
        """Mark ``job`` as failed with ``message``, the server's folders taken out of it (the job's own files by name,
        RUNS_DIR by its name)."""
        runs_dir = self.root.parent.parent  # RUNS_DIR/.serve/jobs
        message = message.replace(f"{self.root / job.id}{os.sep}", "").replace(str(runs_dir), runs_dir.name)
        self._update(job, status="error", error=message, finished=time.time())

    # ------------------------------------------------------------------ cleanup
    def clean(self, now: float | None = None) -> list[str]:
        """Remove jobs that finished more than ``keep_minutes`` ago; their ids."""
        now = time.time() if now is None else now
        gone = []
        with self.lock:
            for j in list(self.jobs.values()):
                if j.finished is not None and now - j.finished > self.limits.keep_minutes * 60:
                    del self.jobs[j.id]
                    gone.append(j.id)
        for g in gone:
            shutil.rmtree(self.root / g, ignore_errors=True)
        return gone

    def _clean_loop(self) -> None:
        while not self._stop.wait(min(60.0, max(1.0, self.limits.keep_minutes * 15))):
            self.clean()

    def close(self) -> None:
        """Stop at once (the server is stopping): queued jobs are cancelled, running ones are not waited for
        (their daemon threads end with the process); both are marked as stopped, as the next server would."""
        with self.lock:
            self._stop.set()
            cut = [j for j in self.jobs.values() if j.status in ("queued", "running")]
            for j in cut:
                j.status, j.error, j.finished = "error", STOPPED, time.time()
        self.pool.shutdown(wait=False, cancel_futures=True)
        for j in cut:
            try:
                self._save(j)
            except OSError:
                pass  # the next server marks it


def _counting(method, report):
    """``method`` reporting how many frames it has restored (job progress) after each ``process``
    call. Its class becomes a subclass of its own with that ``process``, so that everything read
    from its class (the contract's attributes, whether it overrides ``network`` for the engine)
    stays its own."""
    base = type(method)

    def process(self, frames, ctx):
        out = base.process(self, frames, ctx)
        self._frames_counted += len(out)
        report(self._frames_counted)
        return out

    method.__class__ = type(f"Counted{base.__name__}", (base,), {"process": process, "__module__": base.__module__})
    method._frames_counted = 0
    return method


def _image_size(path: Path) -> str:
    from benchmark.core.imaging import read_image

    h, w = read_image(path).shape[:2]
    return f"{w}x{h}"
