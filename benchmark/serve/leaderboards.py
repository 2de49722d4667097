"""The leaderboard site of RUNS_DIR as ``bench serve`` serves it: the static files of ``bench report --html``,
each HTML page with the app's navigation put in after its ``<body>`` (the site itself stays as it is)."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

_BODY = re.compile(rb"<body[^>]*>", re.IGNORECASE)


def nav_html(templates: Jinja2Templates) -> bytes:
    """The app's menu (Leaderboards marked) with its own styles, for a page of the site."""
    return templates.get_template("site_nav.html").render(active="leaderboards").encode()


def with_nav(page: Path, nav: bytes) -> HTMLResponse:
    """The HTML file ``page`` with ``nav`` after its ``<body>`` (at the top when it has none)."""
    html = page.read_bytes()
    m = _BODY.search(html)
    at = m.end() if m else 0
    return HTMLResponse(html[:at] + b"\n" + nav + html[at:])


class SiteFiles(StaticFiles):
    """The site's files, its HTML pages with the app's navigation (``StaticFiles`` keeps the paths inside the folder)."""

    def __init__(self, directory: Path, nav: bytes):
        super().__init__(directory=str(directory), html=True)
        self.nav = nav

    async def get_response(self, path: str, scope):
        response = await super().get_response(path, scope)
        if isinstance(response, FileResponse) and response.status_code == 200 and str(response.path).endswith(".html"):
            return with_nav(Path(response.path), self.nav)
        return response
