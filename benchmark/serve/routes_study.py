"""The study API of ``bench serve``: raters (who they are: :mod:`.raters`), their next trial, answers, results and the study pictures."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.exceptions import HTTPException

from . import raters
from . import study as study_mod
from .state import State

MEDIA_NAME = re.compile(r"[0-9a-f]{16}\.png")
router = APIRouter()


async def _json(request: Request) -> dict[str, Any]:
    """The request's JSON object body; anything else is a 422 (so is JSON nested too deep for the decoder)."""
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(422, "the request body must be JSON") from None
    except RecursionError:
        raise HTTPException(422, "the request body is JSON nested too deep: send a flat JSON object") from None
    if not isinstance(body, dict):
        raise HTTPException(422, "the request body must be a JSON object")
    return body


@router.get("/api/studies")
async def api_studies(st: State):
    return {"studies": st.db(study_mod.list_studies)}


def _key(request: Request, name: str) -> str | None:
    """The rater's ``ID.SECRET`` for study ``name``, from their cookie."""
    return request.cookies.get(raters.cookie_name(name))


def _me(st: State, name: str, request: Request) -> str:
    """The rater the request's cookie proves; none is a 403."""
    rid = st.db(raters.authenticate, name, _key(request, name))
    if rid is None:
        raise HTTPException(
            403,
            f"start (or go on) as a rater first: press Start on /study/{name} in this browser, "
            "or open your private resume link here",
        )
    return rid


def _as_rater(st: State, name: str, rid: str, key: str | None, **extra: Any) -> JSONResponse:
    """``{"rater": PSEUDONYM, ...}``; with ``key`` (a new rater, or a resume link) the cookie that proves the rater."""
    resp = JSONResponse({"rater": st.db(raters.pseudonyms, name)[rid], **extra})
    if key:
        resp.set_cookie(
            raters.cookie_name(name),
            key,
            max_age=raters.COOKIE_DAYS * 86400,
            path="/",
            httponly=True,
            samesite="strict",
        )
    return resp


@router.post("/api/study/{name}/raters")
async def api_rater(st: State, name: str, request: Request):
    st.study(name)
    body = await _json(request)
    typed = body.get("name")
    if typed is not None and not isinstance(typed, str):
        raise HTTPException(422, "the name must be a string (or left out)")
    try:
        typed = raters.clean_name(typed)  # control characters out, the length capped: before anything is stored
    except raters.RaterRefused as exc:
        raise HTTPException(exc.status, str(exc)) from None
    rid, key = await asyncio.to_thread(st.db, raters.start, name, typed, _key(request, name), st.cfg.max_raters)
    if key is None:
        return _as_rater(st, name, rid, None, resumed=True)
    return _as_rater(st, name, rid, key, resumed=False, resume=f"/study/{name}#resume={key}")


@router.post("/api/study/{name}/resume")
async def api_resume(st: State, name: str, request: Request):
    st.study(name)
    key = str((await _json(request)).get("key") or "")
    rid = st.db(raters.authenticate, name, key)
    if rid is None:
        raise HTTPException(
            403,
            f"this resume link is not one of study {name!r}'s raters: check that it was copied whole, "
            "or start as a new rater",
        )
    return _as_rater(st, name, rid, key, resumed=True)


@router.get("/api/study/{name}/next")
async def api_next(st: State, name: str, request: Request):
    st.study(name)
    return st.db(study_mod.next_trial, name, _me(st, name, request))


@router.post("/api/study/{name}/answer")
async def api_answer(st: State, name: str, request: Request):
    st.study(name)
    rid = _me(st, name, request)
    body = await _json(request)
    try:
        trial, value = int(body["trial"]), float(body["value"])
    except (KeyError, TypeError, ValueError):
        raise HTTPException(422, 'send JSON {"trial": N, "value": grade or 0/1}') from None
    await asyncio.to_thread(st.db, study_mod.answer, name, rid, trial, value)
    return st.db(study_mod.next_trial, name, rid)


@router.get("/api/study/{name}/results")
async def api_results(st: State, name: str, screen: bool = True):
    st.study(name)
    res = st.db(lambda con: study_mod.results(con, name, screen=screen, boot=200))
    return _finite(
        {"raters": study_mod.public_raters(res), "methods": res.methods, "items": res.items, "notes": res.notes}
    )


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
