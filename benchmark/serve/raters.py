"""The raters of a study: who may go on as whom, their public pseudonyms, and the cap on new raters.

A rater who starts gets a secret (``secrets.token_urlsafe``) in an HttpOnly, SameSite=Strict cookie
(``bench_rater_STUDY``, the value ``ID.SECRET``) and, once, a private resume link
(``/study/STUDY#resume=ID.SECRET``: a fragment, so it never reaches a server log). Only its SHA-256
is stored, and it is checked with :func:`hmac.compare_digest`. Going on as a rater needs that
secret: typing a name already in the study is refused, never a resume.

What anyone can see (the results API, the rows and manifest of ``bench study results``, the
leaderboards) names a rater by a pseudonym, ``rater-N``, numbered in the order the raters started
(stable per study), never by the typed name, the internal id or the secret.

At most ``max_raters`` raters per study (``bench serve --max-raters``): the next start is refused
with 429. A rater who has given no answer for :data:`IDLE_MINUTES` after starting is removed when
the cap is reached, so starts that never rate do not keep real raters out; only raters with at
least one answer are counted in the study list and the results."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from datetime import UTC, datetime, timedelta

import numpy as np

from ..errors import BenchError
from ..errors import control_char as _control
from .study_db import HIDDEN, get_study, now

COOKIE_PREFIX = "bench_rater_"
COOKIE_DAYS = 30
IDLE_MINUTES = 30
_VALUE = re.compile(r"([0-9a-f]{16})\.([A-Za-z0-9_-]{20,64})")
MAX_NAME = 64  # characters of a typed name, once control characters are removed
# terminal escape sequences (CSI, OSC, DCS/PM/APC strings, two-character escapes; 7- and 8-bit), removed whole
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|(?:\x1b[\]PX^_]|[\x90\x9d\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[ -~]?"
)


class RaterRefused(BenchError):
    """A rater who may not start or go on; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def clean_name(raw: str | None) -> str | None:
    """A typed rater name as stored: terminal escape sequences and control characters (C0, C1,
    DEL, bidi overrides) removed, spaces collapsed; None for no name. A name over
    :data:`MAX_NAME` characters, or one with nothing left once cleaned, is refused (422)."""
    if raw is None or not raw.strip():
        return None
    if len(raw) > 8 * MAX_NAME:  # far over: refused before any work on it
        raise RaterRefused(f"the name is {len(raw):,} characters long: use at most {MAX_NAME}", 422)
    name = " ".join("".join(ch for ch in _ESCAPES.sub("", raw) if not _control(ch)).split())
    if not name:
        raise RaterRefused("the name holds only control characters: type a name of letters, or leave it empty", 422)
    if len(name) > MAX_NAME:
        raise RaterRefused(f"the name is {len(name):,} characters long: use at most {MAX_NAME}", 422)
    return name


def cookie_name(study: str) -> str:
    """The cookie that carries a rater's secret for ``study`` (study names are cookie-safe)."""
    return COOKIE_PREFIX + study


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def authenticate(con: sqlite3.Connection, study: str, value: str | None) -> str | None:
    """The rater id that ``value`` (``ID.SECRET``, from the cookie or a resume link) proves, or None."""
    m = _VALUE.fullmatch(value or "")
    if not m:
        return None
    row = con.execute("SELECT key_hash FROM raters WHERE study=? AND id=?", (study, m[1])).fetchone()
    if row is None or not row[0] or not hmac.compare_digest(row[0], _digest(m[2])):
        return None
    return m[1]


def pseudonyms(con: sqlite3.Connection, study: str) -> dict[str, str]:
    """{rater id: ``rater-N``} for every rater of ``study``."""
    return {r[0]: f"rater-{r[1]}" for r in con.execute("SELECT id, seq FROM raters WHERE study=?", (study,))}


def start(
    con: sqlite3.Connection, study: str, name: str | None, cookie: str | None, max_raters: int
) -> tuple[str, str | None]:
    """(rater id, ``ID.SECRET`` of a new rater, or None on a resume). The rater of ``cookie`` goes on
    when no name is typed or it is their own; a new name makes a new rater; a name already in the
    study without its secret is refused (409), as is a new rater over ``max_raters`` (429)."""
    get_study(con, study)
    name = clean_name(name)
    me = authenticate(con, study, cookie)
    if me is not None:
        mine = con.execute("SELECT name FROM raters WHERE study=? AND id=?", (study, me)).fetchone()[0]
        if name is None or name == mine:
            return me, None
    rid, secret = secrets.token_hex(8), secrets.token_urlsafe(24)
    trials = _trial_list(con, study, rid)
    with con:
        con.execute(
            "BEGIN IMMEDIATE"
        )  # the count and the insert in one write transaction: parallel starts cannot overshoot
        if name and con.execute("SELECT 1 FROM raters WHERE study=? AND name=?", (study, name)).fetchone():
            raise RaterRefused(
                f"the name {name!r} is taken in study {study!r}: to go on as {name}, open your private resume link "
                "(shown when you started) in this browser; otherwise choose another name",
                409,
            )
        seq = con.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM raters WHERE study=?", (study,)).fetchone()[
            0
        ]  # never reused
        n = con.execute("SELECT COUNT(*) FROM raters WHERE study=?", (study,)).fetchone()[0]
        if n >= max_raters:
            n -= _drop_idle(con, study)
        if n >= max_raters:
            raise RaterRefused(
                f"study {study!r} has its {max_raters} raters (the limit, bench serve --max-raters); "
                "no more can start: ask the study's owner",
                429,
            )
        con.execute(
            "INSERT INTO raters(study, id, name, created, key_hash, seq) VALUES (?,?,?,?,?,?)",
            (study, rid, name, now(), _digest(secret), seq),
        )
        con.executemany("INSERT INTO trials VALUES (?,?,?,?,?,?)", [(study, rid, *t) for t in trials])
    return rid, f"{rid}.{secret}"


def _drop_idle(con: sqlite3.Connection, study: str) -> int:
    """Remove the raters of ``study`` who started over :data:`IDLE_MINUTES` ago and never answered; how many."""
    cutoff = (datetime.now(UTC) - timedelta(minutes=IDLE_MINUTES)).strftime("%Y-%m-%dT%H:%M:%SZ")
    idle = [
        r[0]
        for r in con.execute(
            """SELECT id FROM raters WHERE study=? AND created < ?
                                         AND id NOT IN (SELECT DISTINCT rater FROM answers WHERE study=?)""",
            (study, cutoff, study),
        )
    ]
    for rid in idle:
        con.execute("DELETE FROM trials WHERE study=? AND rater=?", (study, rid))
        con.execute("DELETE FROM raters WHERE study=? AND id=?", (study, rid))
    return len(idle)


def _trial_list(con: sqlite3.Connection, study: str, rid: str) -> list[tuple[int, int, str, int]]:
    """A rater's randomised trials (idx, stimulus, role, swap), seeded by the rater id: each stimulus once,
    plus the study's repeats, placed in the second half and never right after their first showing."""
    cfg = get_study(con, study)["config"]
    ids = [r[0] for r in con.execute("SELECT id FROM stimuli WHERE study=? ORDER BY id", (study,))]
    hidden = {r[0] for r in con.execute("SELECT id FROM stimuli WHERE study=? AND method=?", (study, HIDDEN))}
    rng = np.random.default_rng(int(rid, 16))
    order = [int(i) for i in rng.permutation(ids)]
    tests = [i for i in order if i not in hidden]
    reps = [int(i) for i in rng.choice(tests, min(cfg.get("repeats", 0), len(tests)), replace=False)] if tests else []
    trials = [(i, "hidden-reference" if i in hidden else "test") for i in order]
    for s in reps:
        first = next(k for k, (i, _) in enumerate(trials) if i == s)
        lo = max(first + 2, len(trials) // 2)
        trials.insert(int(rng.integers(lo, len(trials) + 1)) if lo <= len(trials) else len(trials), (s, "repeat"))
    return [(k, s, role, int(rng.integers(2))) for k, (s, role) in enumerate(trials)]
