"""The study API of ``bench serve``: raters, their next trial, answers, results and the study pictures."""

from __future__ import annotations

import math
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.exceptions import HTTPException

from . import study as study_mod
from .state import State

MEDIA_NAME = re.compile(r"[0-9a-f]{16}\.png")
router = APIRouter()


async def _json(request: Request) -> dict[str, Any]:
    """The request's JSON object body; anything else is a 422."""
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(422, "the request body must be JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "the request body must be a JSON object")
    return body


@router.get("/api/studies")
async def api_studies(st: State):
    return {"studies": st.db(study_mod.list_studies)}


@router.post("/api/study/{name}/raters")
async def api_rater(st: State, name: str, request: Request):
    st.study(name)
    body = await _json(request)
    return {"rater": st.db(study_mod.add_rater, name, str(body.get("name") or ""))}


@router.get("/api/study/{name}/next")
async def api_next(st: State, name: str, rater: str):
    st.study(name)
    return st.db(study_mod.next_trial, name, rater)


@router.post("/api/study/{name}/answer")
async def api_answer(st: State, name: str, request: Request):
    st.study(name)
    body = await _json(request)
    try:
        rater, trial, value = str(body["rater"]), int(body["trial"]), float(body["value"])
    except (KeyError, TypeError, ValueError):
        raise HTTPException(422, 'send JSON {"rater": ID, "trial": N, "value": grade or 0/1}') from None
    st.db(study_mod.answer, name, rater, trial, value)
    return st.db(study_mod.next_trial, name, rater)


@router.get("/api/study/{name}/results")
async def api_results(st: State, name: str, screen: bool = True):
    st.study(name)
    res = st.db(lambda con: study_mod.results(con, name, screen=screen, boot=200))
    return _finite({"raters": res.raters, "methods": res.methods, "items": res.items, "notes": res.notes})


def _finite(x: Any) -> Any:
    """``x`` with every NaN or infinite number as None: JSON has no NaN (a value that cannot be estimated is null)."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@router.get("/api/study/{name}/media/{file}")
async def api_media(st: State, name: str, file: str):
    st.study(name)
    if not MEDIA_NAME.fullmatch(file):
        raise HTTPException(404, f"no such study picture: {file!r}")
    p = st.runs_dir / study_mod.MEDIA_DIR / name / file
    if not p.is_file():
        raise HTTPException(404, f"no such study picture: {file!r}")
    return FileResponse(p, media_type="image/png")
