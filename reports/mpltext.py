"""Text handed to matplotlib shown as it is written.

matplotlib reads a pair of ``$`` in any text (a title, a label, a legend entry, a tick label) as
TeX: a method named ``m$\\x$`` is typeset, and one whose "TeX" is not valid stops the figure
with a ValueError, and with it ``bench report --html``. Two ways out, one per figure module:

* :data:`NO_MATHTEXT` in the rcParams (``plt.rcParams.update(NO_MATHTEXT)``, or the one key
  ``"text.parse_math": False``): no text is read as TeX. matplotlib's own log-axis tick labels
  are TeX (``$\\mathdefault{10^{2}}$``), so a log axis then takes :func:`plain_log_ticks`.
* :func:`mpl_text` on every text that comes from a run (names of methods, data sets, metrics),
  mathtext left on.

Not both: with mathtext off, the ``\\$`` of :func:`mpl_text` would show its backslash."""

from __future__ import annotations

from typing import Any

#: rcParams under which matplotlib reads no text as TeX (``$`` is a dollar sign)
NO_MATHTEXT = {"text.parse_math": False}


def mpl_text(s: Any) -> str:
    """``s`` as text matplotlib shows literally under mathtext (each ``$`` escaped)."""
    return str(s).replace("$", r"\$")


def plain_log_ticks(axis: Any) -> None:
    """A log ``axis`` (``ax.xaxis``) labelled in plain numbers (``0.5``, ``10``, ``1000``), on the
    ticks matplotlib labels by default, for figures drawn under :data:`NO_MATHTEXT`."""
    from matplotlib.ticker import Formatter, LogFormatterSciNotation

    class Plain(Formatter):
        """Labels the ticks ``inner`` labels, as plain numbers (``inner``'s own text is TeX)."""

        def __init__(self, inner: Any):
            self.inner = inner

        def set_axis(self, axis: Any) -> None:
            super().set_axis(axis)
            self.inner.set_axis(axis)

        def set_locs(self, locs: Any) -> None:
            super().set_locs(locs)
            self.inner.set_locs(locs)

        def __call__(self, x: float, pos: int | None = None) -> str:
            return f"{x:g}" if self.inner(x, pos) else ""

    axis.set_major_formatter(Plain(LogFormatterSciNotation()))
    axis.set_minor_formatter(Plain(LogFormatterSciNotation(labelOnlyBase=False)))
