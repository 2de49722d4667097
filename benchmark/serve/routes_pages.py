"""The HTML pages of ``bench serve``: Enhance, Live, the studies, and the leaderboard site of RUNS_DIR."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..errors import BenchError
from . import raters
from . import study as study_mod
from .leaderboards import nav_html, with_nav
from .state import State

router = APIRouter()


@router.get("/", include_in_schema=False)
async def home():
    return RedirectResponse("/enhance")


@router.get("/enhance", response_class=HTMLResponse)
async def enhance_page(st: State, request: Request):
    return st.page(request, "enhance.html", methods=st.methods(), limits=st.cfg.limits, share_jobs=st.cfg.share_jobs)


@router.get("/live", response_class=HTMLResponse)
async def live_page(st: State, request: Request):
    return st.page(request, "live.html", methods=st.methods(), default=st.cfg.live_method)


@router.get("/study", response_class=HTMLResponse)
async def study_list(st: State, request: Request):
    return st.page(request, "studies.html", studies=st.db(study_mod.list_studies))


@router.get("/study/{name}", response_class=HTMLResponse)
async def study_page(st: State, request: Request, name: str):
    s = st.study(name)
    rid = st.db(raters.authenticate, name, request.cookies.get(raters.cookie_name(name)))
    me = st.db(raters.pseudonyms, name).get(rid) if rid else None
    return st.page(
        request,
        "study.html",
        study=s,
        labels=study_mod.DSIS_LABELS,
        me=me,
        hold=s["config"].get("hold", study_mod.DEFAULT_HOLD),
    )


@router.get("/leaderboards", include_in_schema=False)
async def leaderboards_redirect():
    return RedirectResponse("/leaderboards/")


@router.get("/leaderboards/", response_class=HTMLResponse)
async def leaderboards(st: State, request: Request):
    try:
        have = await asyncio.to_thread(st.ensure_site)
    except BenchError as exc:  # no run there can be shown (each damaged): which and why, on the page (a damaged one among good ones is skipped)
        return st.page(request, "no_runs.html", runs_dir=st.runs_dir.name, problem=st.public(str(exc)))
    if not have:
        return st.page(request, "no_runs.html", runs_dir=st.runs_dir.name)  # the folder's name, not the server's path
    return with_nav(st.site_dir / "index.html", nav_html(st.templates))
