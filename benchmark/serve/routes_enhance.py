"""The enhancement API of ``bench serve``: the methods on offer, uploads, and their jobs' state and files."""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from .jobs import UploadError
from .sessions import owner
from .state import State

router = APIRouter()


@router.get("/api/methods")
async def api_methods(st: State):
    return {"methods": st.methods(), "live_default": st.cfg.live_method}


@router.post("/api/enhance")
async def api_enhance(
    st: State, request: Request, file: UploadFile = File(...), method: str = Form(...), scale: int | None = Form(None)
):
    info = st.method_info(method)
    if scale is not None and not 1 <= scale <= 8:
        raise HTTPException(400, f"scale {scale}: use 1 to 8")
    if scale is not None and info["scale"] is not None and scale != info["scale"]:
        raise HTTPException(
            400,
            f"{method} upscales x{info['scale']} by itself; leave scale out (scale is for bicubic, lanczos, identity ...)",
        )
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
        job = await asyncio.to_thread(
            st.jobs.submit,
            Path(tmp.name),
            file.filename,
            method,
            scale if info["scale"] is None else None,
            owner(request),
        )
    except UploadError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    # queued until one of the --workers takes it (then running): the status as it is now, as GET /api/jobs/{id} says it
    return JSONResponse({"job": job.id, "status": st.jobs.status(job), "kind": job.kind}, status_code=202)


def _job(st: State, request: Request, job_id: str):
    """The job ``job_id`` of this browser session (any session's with ``--share-jobs``); an unknown, expired
    or other session's job is a 404."""
    try:
        job = st.jobs.get(job_id)
        if not st.cfg.share_jobs and job.owner != owner(request):
            raise KeyError(job_id)
        return job
    except KeyError:
        raise HTTPException(
            404,
            f"no job {job_id!r} in this browser session (jobs belong to the browser that uploaded them; "
            f"finished ones are removed after {st.cfg.limits.keep_minutes:g} minutes)",
        ) from None


@router.get("/api/jobs")
async def api_jobs(st: State, request: Request):
    return {"jobs": [j.public() for j in st.jobs.list(None if st.cfg.share_jobs else owner(request))]}


@router.get("/api/jobs/{job_id}")
async def api_job(st: State, request: Request, job_id: str):
    return _job(st, request, job_id).public()


@router.delete("/api/jobs/{job_id}")
async def api_delete(st: State, request: Request, job_id: str):
    job = _job(st, request, job_id)
    if not st.jobs.delete(job.id):
        raise HTTPException(409, f"job {job_id} is {job.status}: delete it when it has finished")
    return {"deleted": job_id}


@router.get("/api/jobs/{job_id}/result")
async def api_result(st: State, request: Request, job_id: str):
    job = _job(st, request, job_id)
    if job.status != "done":
        raise HTTPException(
            409,
            f"job {job_id} is {job.status}"
            + (f": {job.error}" if job.error else "; poll GET /api/jobs/{id} until done"),
        )
    ext = "png" if job.kind == "image" else "mp4"
    stem = re.sub(r"\.[^.]*$", "", job.filename)
    return FileResponse(
        st.jobs.dir(job_id) / f"output.{ext}",
        media_type=f"{'image' if ext == 'png' else 'video'}/{ext}",
        filename=f"{stem}.{job.method}.{ext}",
    )


@router.get("/api/jobs/{job_id}/input")
async def api_input(st: State, request: Request, job_id: str):
    job = _job(st, request, job_id)
    d = st.jobs.dir(job_id)
    if job.kind == "image":
        return FileResponse(d / "input.png", media_type="image/png")
    if not (d / "before.mp4").exists():
        raise HTTPException(409, "the player's copy of the input is made when the job is done")
    return FileResponse(d / "before.mp4", media_type="video/mp4")
