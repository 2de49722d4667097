"""The enhancement API of ``bench serve``: the methods on offer, uploads, and their jobs' state and files."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from .jobs import UploadError
from .state import State

router = APIRouter()


@router.get("/api/methods")
async def api_methods(st: State):
    return {"methods": st.methods(), "live_default": st.cfg.live_method}


@router.post("/api/enhance")
async def api_enhance(st: State, file: UploadFile = File(...), method: str = Form(...), scale: int | None = Form(None)):
    info = st.method_info(method)
    if scale is not None and not 1 <= scale <= 8:
        raise HTTPException(400, f"scale {scale}: use 1 to 8")
    if scale is not None and info["scale"] is not None and scale != info["scale"]:
        raise HTTPException(400, f"{method} upscales x{info['scale']} by itself; leave scale out (scale is for bicubic, lanczos, identity ...)")
    limit = st.cfg.limits.max_upload_bytes
    st.store_root.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=st.store_root, prefix=".upload-", delete=False) as tmp:
        size = 0
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                tmp.close()
                Path(tmp.name).unlink(missing_ok=True)
                raise HTTPException(413, f"upload is over the limit of {limit:,} bytes (bench serve --max-upload-mb)")
            tmp.write(chunk)
    try:
        job = await asyncio.to_thread(st.jobs.submit, Path(tmp.name), file.filename, method, scale if info["scale"] is None else None)
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    return JSONResponse({"job": job.id, "status": job.status, "kind": job.kind}, status_code=202)


def _job(st: State, job_id: str):
    """The job ``job_id``; an unknown (or expired) one is a 404."""
    try:
        return st.jobs.get(job_id)
    except KeyError:
        raise HTTPException(404, f"no job {job_id!r} (finished jobs are removed after {st.cfg.limits.keep_minutes:g} minutes)") from None


@router.get("/api/jobs")
async def api_jobs(st: State):
    return {"jobs": [j.public() for j in st.jobs.list()]}


@router.get("/api/jobs/{job_id}")
async def api_job(st: State, job_id: str):
    return _job(st, job_id).public()


@router.get("/api/jobs/{job_id}/result")
async def api_result(st: State, job_id: str):
    job = _job(st, job_id)
    if job.status != "done":
        raise HTTPException(409, f"job {job_id} is {job.status}" + (f": {job.error}" if job.error else "; poll GET /api/jobs/{id} until done"))
    ext = "png" if job.kind == "image" else "mp4"
    stem = re.sub(r"\.[^.]*$", "", job.filename)
    return FileResponse(st.jobs.dir(job_id) / f"output.{ext}", media_type=f"{'image' if ext == 'png' else 'video'}/{ext}",
                        filename=f"{stem}.{job.method}.{ext}")


@router.get("/api/jobs/{job_id}/input")
async def api_input(st: State, job_id: str):
    job = _job(st, job_id)
    d = st.jobs.dir(job_id)
    if job.kind == "image":
        return FileResponse(d / "input.png", media_type="image/png")
    if not (d / "before.mp4").exists():
        raise HTTPException(409, "the player's copy of the input is made when the job is done")
    return FileResponse(d / "before.mp4", media_type="video/mp4")
