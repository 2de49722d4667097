"""Errors that carry a message meant for the user (printed without a traceback)."""


class BenchError(Exception):
    """A problem with the user's input or environment; the message says what to do."""


class RegistryError(BenchError):
    """A plug-in name is unknown, defined twice, or fails to load."""


class DataNotFound(BenchError):
    """A data set is missing on disk."""


class BenchWarning(UserWarning):
    """Something was repaired or is suspicious (a damaged cache entry, weights without a card)."""


def warn(message: str) -> None:
    import warnings

    warnings.warn(message, BenchWarning, stacklevel=2)


def error_text(exc: BaseException) -> str:
    """``Type: message`` of an exception, on one line, for an error row or a failure line.
    OpenCV's own texts (``OpenCV(4.x) /path/file.cpp:123: error: (-215:Assertion failed) !ssize.empty()
    in function 'resize'``) are cut to what they say: ``OpenCV resize: assertion failed: !ssize.empty()``."""
    import re

    text = " ".join(str(exc).split())
    m = re.search(r"error: \((-?\d+):([^)]*)\) (.*?)(?: in function '([^']*)')?$", text)
    if type(exc).__name__ == "error" and type(exc).__module__.startswith("cv2") and m:
        where = f"OpenCV {m.group(4)}" if m.group(4) else "OpenCV"
        return f"{where}: {m.group(2).strip().lower()}: {m.group(3).strip()} (an empty, too small or malformed frame?)"
    return f"{type(exc).__name__}: {text}"


def control_char(ch: str) -> bool:
    """C0, DEL, C1, bidi overrides and other format characters, line and paragraph separators, surrogates."""
    import unicodedata

    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")


def printable(text: object) -> str:
    """``text`` for a terminal: each control or format character shown as an escape (``\\x1b``,
    ``\\u202e``), so a name read from a file (a method, a data set, a rater) cannot drive it."""
    return "".join(ch.encode("unicode_escape").decode() if control_char(ch) else ch for ch in str(text))
