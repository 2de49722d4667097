"""Configuration from the environment: every ``BENCH_*`` variable is read here and nowhere else
(:func:`get` with one of the names below, or the parsed :func:`spec_files`, :func:`cost`,
:func:`debug`), at call time (so a test's ``monkeypatch.setenv`` holds), and handed down as a
plain value. An
option a user gives always comes first; these are the defaults behind it.

==========================  ==================================================================
variable                    what it sets
==========================  ==================================================================
``BENCH_DATA_ROOT``         the folder of the standard sets (``--data-root``)
``BENCH_CACHE_DIR``         the cache folder (``--cache-dir``; else ``$XDG_CACHE_HOME/bench``)
``BENCH_SPECS``             spec files, separated by ``os.pathsep`` (added to ``--spec``)
``BENCH_DETECTOR``          the detector of the detection metrics (``--detector``)
``BENCH_CAPTIONER``         the captioner of the captioning metrics (``--captioner``)
``BENCH_MAX_PIXELS``        the per-frame pixel limit (``--max-pixels``; 0: none)
``BENCH_COST``              ``0``/``off``/``no``/``false`` turn the cost rows off (``--no-cost``)
``BENCH_DEBUG``             print the traceback of an error that becomes an error row
``BENCH_FFMPEG``            an ffmpeg with libvmaf, tried first for ``vmaf``
``BENCH_WEIGHTS_DIR``       a folder of weights files tried before the shipped ones
``BENCH_MODELS_DIR``        where the zoo's models go (else ``models/`` in the cache)
``BENCH_MEMORY_BUDGET``     bytes a network's activations may take (``1.5G``, ``800M``)
``BENCH_WORKER_THREADS``    written for a worker process: its torch/BLAS threads
``BENCH_ENGINE``            the inference engine (auto, eager, openvino, cuda: benchmark.core.engine)
``BENCH_PRECISION``         the engine's precision (f32, bf16, f16)
``BENCH_ENGINE_CACHE``      where converted networks are kept (else ``engine/`` in the cache folder)
==========================  ==================================================================
"""

from __future__ import annotations

import os

DATA_ROOT = "BENCH_DATA_ROOT"
CACHE_DIR = "BENCH_CACHE_DIR"
SPECS = "BENCH_SPECS"
DETECTOR = "BENCH_DETECTOR"
CAPTIONER = "BENCH_CAPTIONER"
MAX_PIXELS = "BENCH_MAX_PIXELS"
COST = "BENCH_COST"
DEBUG = "BENCH_DEBUG"
FFMPEG = "BENCH_FFMPEG"
WEIGHTS_DIR = "BENCH_WEIGHTS_DIR"
MODELS_DIR = "BENCH_MODELS_DIR"
MEMORY_BUDGET = "BENCH_MEMORY_BUDGET"
WORKER_THREADS = "BENCH_WORKER_THREADS"
ENGINE = "BENCH_ENGINE"
PRECISION = "BENCH_PRECISION"
ENGINE_CACHE = "BENCH_ENGINE_CACHE"


XDG_CACHE_HOME = "XDG_CACHE_HOME"  # the base of the default cache folder (not bench's own)


def get(name: str) -> str | None:
    """The value of the variable ``name`` (one of the names above), or None when it is unset or empty."""
    return os.environ.get(name) or None


def spec_files() -> list[str]:
    """The spec files ``BENCH_SPECS`` names (``os.pathsep``-separated), in order."""
    return [p for p in (get(SPECS) or "").split(os.pathsep) if p]


def cost() -> bool:
    """Whether the environment leaves cost measuring on (the default: anything but ``0``, ``off``,
    ``no``, ``false``)."""
    return os.environ.get(COST, "").strip().lower() not in ("0", "off", "no", "false")


def debug() -> bool:
    return bool(get(DEBUG))


def set_worker_threads(threads: int, thread_vars: tuple[str, ...]) -> None:
    """Write a worker process's thread count into ``thread_vars`` (OMP, MKL, OpenBLAS: read by
    NumPy and torch when they load) and ``BENCH_WORKER_THREADS``."""
    for v in thread_vars:
        os.environ[v] = str(threads)
    os.environ[WORKER_THREADS] = str(threads)
