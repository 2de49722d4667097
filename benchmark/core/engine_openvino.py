"""One network on OpenVINO's CPU plugin (:mod:`benchmark.core.engine`'s ``openvino`` engine).

* Converted once, with its batch, height and width left open (``ov.convert_model`` traces it on a
  small crop of its first input), rewritten where a faster graph computes the same
  (:mod:`benchmark.core.engine_passes`), and kept on disk as IR (``ir/KEY.xml`` and ``.bin`` under the
  engine's cache folder). KEY digests what the graph is made of: the module's class and the source
  file that defines it, every parameter and buffer, its input channels, and the versions of
  OpenVINO, torch and this converter; a changed weight or line of code is a new KEY.
* Checked before use at every alignment it meets: a network whose code branches on its input's
  size (padding to a multiple, say) is traced for one branch, so each new (height mod 64, width
  mod 64) is run on a crop of the input with that alignment by both OpenVINO and the module's own
  forward, and must agree (the alignments checked are kept beside the IR). A network that does not
  convert or disagrees raises :class:`NotConverted`, and the engine runs it eagerly (one line).
* Compiled once per input size (height and width; the batch stays open; the checks run on one
  compilation with every size open), at f32 unless another
  precision is asked for (``INFERENCE_PRECISION_HINT``: the CPU plugin's default is bf16 on CPUs
  that have it), with the threads torch has (a worker's share of the cores) and no pinning (other
  processes share the machine). The last :data:`KEEP_SHAPES` sizes stay compiled in memory; the
  compiled blobs are cached on disk (``compiled/``, OpenVINO's ``CACHE_DIR``), the oldest removed
  beyond :data:`KEEP_FILES`.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: 2: bicubic upsampling folded into a convolution; 3: narrow convolutions widened (engine_passes.py)
CONVERTER_VERSION = "3"
KEEP_SHAPES = 4  # input sizes kept compiled per network (tiles, a clip's frames, the cost probe's corner)
KEEP_FILES = 64  # compiled blobs (and converted networks) kept on disk, the most recently used
ALIGN = 64  # a check's crop keeps the input's height and width modulo this
CHUNK_PIXELS = 2**19  # input pixels per inference at most (a batch of large frames runs a few frames at a time)
TOLERANCE = 1e-3  # largest difference to eager in a check, relative to the output's range (at least 1)
_CORE: dict[str, Any] = {}
_CORE_LOCK = threading.Lock()


class NotConverted(RuntimeError):
    """The network does not run on OpenVINO (it does not convert, or disagrees with eager PyTorch)."""


def ov_core():
    """The process's one ``openvino.Core``."""
    with _CORE_LOCK:
        if "core" not in _CORE:
            import openvino as ov

            _CORE["core"] = ov.Core()
        return _CORE["core"]


def has_precision(precision: str) -> bool:
    """Whether this CPU runs ``precision`` natively (bf16, f16: OpenVINO's optimisation capabilities)."""
    if precision == "f32":
        return True
    caps = ov_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return {"bf16": "BF16", "f16": "FP16"}[precision] in caps


def network_key(module: Any, channels: int) -> str:
    """The content address of ``module``'s converted graph (see the module docstring)."""
    import openvino as ov
    import torch

    h = hashlib.sha256()
    cls = type(module)
    h.update(
        f"{CONVERTER_VERSION}|{ov.__version__}|{torch.__version__}|{cls.__module__}.{cls.__qualname__}|{channels}".encode()
    )
    try:
        h.update(Path(inspect.getsourcefile(cls) or "").read_bytes())
    except (OSError, TypeError):
        h.update(b"no source")
    for name, t in [*module.state_dict().items()]:
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


def _prune(folder: Path, keep: int, pattern: str) -> None:
    """Keep the ``keep`` most recently used files matching ``pattern`` in ``folder``."""
    try:
        files = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for p in files[keep:]:
        for q in (p, p.with_suffix(".bin"), p.with_suffix(".json")) if p.suffix == ".xml" else (p,):
            try:
                q.unlink()
            except OSError:
                pass


HOOKS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)


def _bare_copy(module: Any) -> Any:
    """A copy of ``module`` to trace: without the hooks others hold on it (a cost probe's, which reach
    every network of the method) and with each submodule's own forward (not the engine's)."""
    memo: dict[int, Any] = {}
    for m in module.modules():
        for name in HOOKS:
            hooks = m.__dict__.get(name)
            if hooks is not None:
                memo[id(hooks)] = type(hooks)()
    clone = copy.deepcopy(module, memo)
    for m in clone.modules():
        if "forward" in m.__dict__:
            del m.__dict__["forward"]
    return clone


def _crop_side(side: int) -> int:
    """A crop side with ``side``'s alignment modulo :data:`ALIGN` (the side itself when smaller)."""
    return min(side, ALIGN + side % ALIGN)


def _odd(x):
    """``x`` (N, C, h, w) with odd sides (its last row or column repeated where a side is even)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    return F.pad(x, (0, 1 - w % 2, 0, 1 - h % 2), mode="replicate") if h % 2 == 0 or w % 2 == 0 else x


class OpenVINONetwork:
    """``module`` on OpenVINO: called with a float32 NCHW CPU tensor, returns its output as a tensor.
    An input size whose alignment fails its check (or does not compile) runs eagerly, said once."""

    def __init__(
        self,
        module: Any,
        precision: str = "f32",
        cache_dir: str | os.PathLike | None = None,
        label: str = "network",
        say: Callable[[str], None] | None = None,
    ):
        self.module, self.precision, self.label = module, precision, label
        self.say = say or (lambda line: None)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.model = None  # the converted ov.Model, batch and size open
        self.key: str | None = None
        self.checked: set[tuple[int, int]] = set()  # alignments that agree with eager
        self.refused: dict[tuple[int, int], str] = {}  # alignments that run eagerly, and why
        self.compiled: OrderedDict[tuple[int, int], Any] = OrderedDict()  # (h, w) -> (infer request, its model)
        self.open_size = None  # the network compiled with its height and width left open (for the checks)
        self.lock = threading.Lock()

    # -- conversion --------------------------------------------------------------------
    def _eager(self, x):
        import torch

        with torch.inference_mode():
            return type(self.module).forward(self.module, x)

    def _paths(self) -> tuple[Path, Path] | tuple[None, None]:
        if self.cache_dir is None or self.key is None:
            return None, None
        folder = self.cache_dir / "ir"
        return folder / f"{self.key}.xml", folder / f"{self.key}.json"

    def _read(self, xml: Path, notes: Path) -> bool:
        """The converted network from the disk cache, with the alignments checked before."""
        import json

        if not (xml.is_file() and xml.with_suffix(".bin").is_file()):
            return False
        try:
            self.model = ov_core().read_model(str(xml))
            self.checked = (
                {tuple(a) for a in json.loads(notes.read_text()).get("checked", [])} if notes.is_file() else set()
            )
            os.utime(xml)
            return True
        except Exception:  # noqa: BLE001 - a damaged entry: converted again
            self.model = None
            return False

    def _convert(self, x) -> None:
        """The network as an ``ov.Model`` (from disk, else converted on a crop of ``x`` and saved)."""
        import openvino as ov
        import torch

        c = int(x.shape[1])
        self.key = self.key or network_key(self.module, c)
        xml, notes = self._paths()
        if xml is not None and self._read(xml, notes):
            return
        clone = _bare_copy(self.module)
        crop = x[:1, :, : _crop_side(x.shape[2]), : _crop_side(x.shape[3])].contiguous()
        failure: Exception | None = None
        for example in (_odd(crop), crop):  # odd sides first: code that pads to a multiple is traced padding
            try:
                with warnings.catch_warnings(), torch.no_grad():
                    warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer notes
                    # traced here without torch's second tracing pass to check the first (the check against
                    # eager below covers it): about 1 s less per network than ov.convert_model's own trace
                    traced = torch.jit.trace(clone, example, check_trace=False, strict=False)
                    model = ov.convert_model(traced, example_input=example, input=[ov.PartialShape([-1, c, -1, -1])])
                break
            except Exception as exc:  # noqa: BLE001 - try the input's own alignment, then give up
                failure = exc
        else:
            text = str(failure).splitlines()[0][:200] if str(failure) else ""
            raise NotConverted(f"OpenVINO cannot convert it: {type(failure).__name__}: {text}")
        if len(model.outputs) != 1:
            raise NotConverted(f"it returns {len(model.outputs)} outputs; the engine takes networks with one")
        from benchmark.core.engine_passes import fold_bicubic, widen_narrow_convolutions

        fold_bicubic(model)  # the same function, faster (checked against eager like the rest)
        widen_narrow_convolutions(model)
        self.model = model
        if xml is not None:
            self._save(model, xml)

    def _save(self, model, xml: Path) -> None:
        """The converted network to ``xml`` (and its ``.bin``), written whole or not at all."""
        import openvino as ov

        try:
            xml.parent.mkdir(parents=True, exist_ok=True)
            tmp = xml.with_name(f".{xml.stem}.{os.getpid()}.{threading.get_ident()}.xml")
            ov.save_model(model, str(tmp), compress_to_fp16=False)
            os.replace(tmp.with_suffix(".bin"), xml.with_suffix(".bin"))
            os.replace(tmp, xml)
            _prune(xml.parent, KEEP_FILES, "*.xml")
        except OSError:
            pass  # a cache that cannot be written: converted again next time

    def _note_checked(self) -> None:
        import json

        _, notes = self._paths()
        if notes is None:
            return
        try:
            tmp = notes.with_name(f".{notes.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"checked": sorted(self.checked)}))
            os.replace(tmp, notes)
        except OSError:
            pass

    # -- compilation ---------------------------------------------------------------------
    def _compile(self, c: int, h: int, w: int) -> tuple[Any, Any]:
        """(an infer request, or with open sizes the compiled model, and the ``ov.Model`` it was compiled
        from): the compiled network may keep using that model's weights, so the two are kept together."""
        import openvino as ov
        import torch

        model = self.model.clone()
        model.reshape({model.inputs[0]: ov.PartialShape([-1, c, h, w])})
        props = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, torch.get_num_threads()),
            "ENABLE_CPU_PINNING": False,
        }
        if self.cache_dir is not None:
            blobs = self.cache_dir / "compiled"
            try:
                blobs.mkdir(parents=True, exist_ok=True)
                props["CACHE_DIR"] = str(blobs)
            except OSError:
                pass
        compiled = ov_core().compile_model(model, "CPU", props)
        if h < 0:
            return compiled, model  # open sizes: a request per call (a request keeps its first size's buffers)
        if "CACHE_DIR" in props:
            _prune(Path(props["CACHE_DIR"]), KEEP_FILES, "*.blob")
        return compiled.create_infer_request(), model

    def ready(self, x) -> bool:
        """Whether running ``x`` costs no conversion: the network is converted, or on disk already."""
        if self.model is not None:
            return True
        if self.cache_dir is None:
            return False
        self.key = self.key or network_key(self.module, int(x.shape[1]))
        return self._paths()[0].with_suffix(".bin").is_file()

    def _open(self, c: int):
        """The network compiled once with its height and width open (the checks on small crops)."""
        if self.open_size is None:
            self.open_size = self._compile(c, -1, -1)
        return self.open_size[0].create_infer_request()

    def _check(self, x) -> None:
        """OpenVINO against the module's own forward on a crop of ``x`` with its alignment (once per
        alignment); a ValueError when they disagree."""
        import numpy as np
        import torch

        _, c, h, w = x.shape
        align = (h % ALIGN, w % ALIGN)
        if align in self.checked:
            return
        crop = x[:2, :, : _crop_side(h), : _crop_side(w)].contiguous()
        got = torch.from_numpy(np.asarray(self._open(c).infer({0: crop.numpy()})[0]))
        want = self._eager(crop)
        if tuple(got.shape) != tuple(want.shape):
            raise ValueError(
                f"its output on {tuple(crop.shape)} is {tuple(got.shape)} on OpenVINO, {tuple(want.shape)} eagerly"
            )
        diff = float((got - want).abs().max())
        if not diff <= TOLERANCE * max(1.0, float(want.abs().max())):
            raise ValueError(
                f"its OpenVINO output differs from eager PyTorch's by {diff:.3g} "
                "(code that branches on the input size?)"
            )
        self.checked.add(align)
        self._note_checked()

    def _request(self, x):
        _, c, h, w = x.shape
        if self.model is None:
            try:
                self._convert(x)
            except NotConverted:
                raise
            except Exception as exc:  # noqa: BLE001 - OpenVINO missing or broken: the whole network runs eagerly
                from benchmark.errors import error_text

                raise NotConverted(f"OpenVINO cannot convert it: {error_text(exc)[:200]}") from None
        self._check(x)
        entry = self.compiled.get((h, w))
        if entry is None:
            entry = self.compiled[(h, w)] = self._compile(c, h, w)
            while len(self.compiled) > KEEP_SHAPES:
                self.compiled.popitem(last=False)
        self.compiled.move_to_end((h, w))
        return entry[0]

    @staticmethod
    def _infer(request, x):
        """``x`` through ``request``, at most :data:`CHUNK_PIXELS` input pixels at a time: OpenVINO holds
        every layer's output for the whole call, so a batch of large frames would take the memory
        of all of them at once (the outputs are the same whatever the chunks: one frame does not
        depend on another). Inputs are copied in, never shared: a request of the open-size compilation
        that was given a shared NumPy buffer corrupted the heap once dropped (OpenVINO 2026.4)."""
        import numpy as np

        n, _, h, w = x.shape
        k = max(1, CHUNK_PIXELS // max(1, h * w))
        if n <= k:
            return np.asarray(request.infer({0: np.ascontiguousarray(x)})[0])
        out = None
        for i in range(0, n, k):
            part = np.asarray(request.infer({0: np.ascontiguousarray(x[i : i + k])})[0])
            if out is None:
                out = np.empty((n, *part.shape[1:]), part.dtype)
            out[i : i + len(part)] = part
        return out

    def __call__(self, x):
        import torch

        align = (x.shape[2] % ALIGN, x.shape[3] % ALIGN)
        with self.lock:  # one request per size: calls from several threads take turns
            if align not in self.refused:
                try:
                    request = self._request(x)
                except NotConverted:
                    raise
                except Exception as exc:  # noqa: BLE001 - this alignment runs eagerly, said once
                    from benchmark.errors import error_text

                    self.refused[align] = error_text(exc)[:200]
                    self.say(
                        f"engine: {self.label} runs in eager PyTorch on {x.shape[2]}x{x.shape[3]} inputs "
                        f"(and others of that alignment): {self.refused[align]}"
                    )
                else:
                    return torch.from_numpy(self._infer(request, x.numpy()))
        return self._eager(x)
