"""Image captioning on restored images, scored with the COCO caption evaluation code.

A captioner (transformers image-to-text model: a Hub id, downloaded when online, or a
local folder) writes one caption per restored image, greedy decoding, at most 30 new
tokens. Captions are scored against the data set's reference captions (COCO: five or
more per image) with ``pycocoevalcap`` (the code behind the COCO caption leaderboard):
PTB tokenisation, BLEU-1..4, METEOR 1.5, ROUGE-L, CIDEr-D (document frequencies from
the evaluated references), and SPICE where its Stanford CoreNLP models are installed.
Tokenisation, METEOR and SPICE run Java.

A set without reference captions is scored against the captioner's own captions of the
reference images; those rows are named ``<metric>-refcap`` (e.g. ``cider-refcap``),
since they measure agreement with the original, not caption quality.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from benchmark.core import environment
from benchmark.core.paths import expand as expand_path
from benchmark.files.weights import WeightsMissing, path_hash, reachable

from ..api import CorpusMetric, CorpusRecord, digest
from ..errors import BenchError

ENV_CAPTIONER = environment.CAPTIONER
DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-base"
MAX_NEW_TOKENS = 30


def captioner_identity(spec: str, weights: str | None) -> dict[str, Any]:
    name = Path(spec).name if expand_path(spec).is_dir() else spec
    return {
        "task": "captioning",
        "model": name,
        "weights": weights,
        "decoding": "greedy",
        "max_new_tokens": MAX_NEW_TOKENS,
    }


class Captioner:
    """A transformers image-to-text model (BLIP, GIT, ...)."""

    def __init__(self, spec: str):
        try:
            import transformers
        except ImportError:
            raise BenchError("captioning metrics need transformers: pip install 'bench-enhance[caption]'") from None
        self.spec = spec
        path = expand_path(spec)
        local = path.is_dir()
        try:
            kwargs = {"local_files_only": True}
            self.processor = transformers.AutoProcessor.from_pretrained(str(path) if local else spec, **kwargs)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(
                str(path) if local else spec, **kwargs
            )
        except OSError as exc:
            if local or not reachable("huggingface.co"):
                raise WeightsMissing(
                    f"captioner '{spec}' is not on disk ({str(exc).splitlines()[0][:200]}) and the Hugging Face Hub cannot be reached. "
                    f"Pass --captioner PATH (or ${ENV_CAPTIONER}) to a saved model folder, or download '{spec}' on a machine "
                    "with internet (huggingface-cli download ...) and copy the Hub cache here."
                ) from None
            self.processor = transformers.AutoProcessor.from_pretrained(spec)
            self.model = transformers.AutoModelForImageTextToText.from_pretrained(spec)
        self.model.eval()
        self.weights = path_hash(path) if local else getattr(self.model.config, "_commit_hash", None)

    def identity(self) -> dict[str, Any]:
        return captioner_identity(self.spec, self.weights)

    def caption(self, frame: np.ndarray) -> str:
        import torch

        img = frame if frame.shape[2] == 3 else np.repeat(frame, 3, axis=2)
        inputs = self.processor(images=[img], return_tensors="pt")
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, num_beams=1)
        return self.processor.batch_decode(out, skip_special_tokens=True)[0].strip()


def _require_java(what: str) -> None:
    if shutil.which("java") is None:
        raise BenchError(f"{what} runs Java, which is not installed (Debian: apt install default-jre-headless)")


_tokenized: dict[str, tuple[dict, dict]] = {}
_folder_ids: dict[str, dict[str, Any]] = {}


def tokenize(gts: dict[int, list[str]], res: dict[int, list[str]]) -> tuple[dict, dict]:
    """PTB-tokenise references and candidates (memoised: every caption metric shares it)."""
    key = digest(gts, res)
    if key not in _tokenized:
        _require_java("caption tokenisation (Stanford PTBTokenizer)")
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        tok = PTBTokenizer()
        with contextlib.redirect_stdout(io.StringIO()):
            _tokenized.clear()
            _tokenized[key] = (
                tok.tokenize({k: [{"caption": c} for c in v] for k, v in gts.items()}),
                tok.tokenize({k: [{"caption": c} for c in v] for k, v in res.items()}),
            )
    return _tokenized[key]


class _Caption(CorpusMetric):
    family = "task"
    unit = ""
    higher_is_better = True
    options = ("captioner",)
    requires = ("transformers", "pycocoevalcap")
    requires_extra = "caption"
    _captioners: ClassVar[dict[str, Captioner]] = {}

    def __init__(self, captioner: str | None = None, **params):
        super().__init__(**params)
        self.captioner_spec = captioner or environment.get(environment.CAPTIONER) or DEFAULT_CAPTIONER

    @property
    def captioner(self) -> Captioner:
        if self.captioner_spec not in self._captioners:
            self._captioners[self.captioner_spec] = Captioner(self.captioner_spec)
        return self._captioners[self.captioner_spec]

    def identity(self):  # cheap (no model load); the cache key uses predictor_identity()
        return {**super().identity(), "captioner": self.captioner_spec}

    def predictor_identity(self):
        path = expand_path(self.captioner_spec)
        if path.is_dir() and self.captioner_spec not in self._captioners:  # identify a local model without loading it
            if self.captioner_spec not in _folder_ids:
                _folder_ids[self.captioner_spec] = captioner_identity(self.captioner_spec, path_hash(path))
            return _folder_ids[self.captioner_spec]
        return self.captioner.identity()

    def setup(self, device):
        self.captioner  # noqa: B018 - load now, fail early

    def predict(self, frame):
        return self.captioner.caption(frame)

    def needs_reference(self, annotations: dict[str, Any]) -> bool:
        return not annotations.get("captions")

    def scorer(self):  # pragma: no cover - interface
        raise NotImplementedError

    def value(self, score) -> float:
        return float(score)

    def compute(self, records: Iterator[CorpusRecord]) -> dict[str, float]:
        gts: dict[int, list[str]] = {}
        res: dict[int, list[str]] = {}
        self_refs = False
        i = 0
        for r in records:
            refs = r.annotations.get("captions")
            for f, cap in enumerate(r.predictions):
                if refs:
                    gts[i] = list(refs)
                else:
                    self_refs = True
                    gts[i] = [r.reference_predictions[f]]
                res[i] = [cap]
                i += 1
        if not res:
            raise ValueError("no captions to score")
        g, c = tokenize(gts, res)
        with contextlib.redirect_stdout(io.StringIO()):
            score, _ = self.scorer().compute_score(g, c)
        return {self.name + ("-refcap" if self_refs else ""): self.value(score)}


def _bleu_scorer(self):
    from pycocoevalcap.bleu.bleu import Bleu

    return Bleu(4)


def _bleu(n: int) -> type[_Caption]:
    return type(
        f"BLEU{n}",
        (_Caption,),
        {
            "name": f"bleu{n}",
            "version": "1",
            "__module__": __name__,
            "conventions": {"implementation": "pycocoevalcap Bleu(4), corpus level, PTB-tokenised", "n": n},
            "description": f"BLEU-{n} of captions of the restored images against the reference captions.",
            "scorer": _bleu_scorer,
            "value": lambda self, score: float(score[n - 1]),
        },
    )


BLEU1, BLEU2, BLEU3, BLEU4 = (_bleu(n) for n in range(1, 5))


class METEOR(_Caption):
    name = "meteor"
    version = "1"
    conventions = {"implementation": "pycocoevalcap METEOR 1.5 (Java), PTB-tokenised"}
    description = "METEOR of captions of the restored images against the references."

    def scorer(self):
        _require_java("METEOR")
        from pycocoevalcap.meteor.meteor import Meteor

        return Meteor()


class ROUGEL(_Caption):
    name = "rouge-l"
    version = "1"
    conventions = {"implementation": "pycocoevalcap Rouge (beta 1.2), PTB-tokenised"}
    description = "ROUGE-L F-measure of captions against the references."

    def scorer(self):
        from pycocoevalcap.rouge.rouge import Rouge

        return Rouge()


class CIDEr(_Caption):
    name = "cider"
    version = "1"
    conventions = {"implementation": "pycocoevalcap Cider (CIDEr-D, sigma 6, n 4), IDF from the evaluated references"}
    description = (
        "CIDEr-D consensus score of captions against the references (the reference study's main caption measure)."
    )

    def scorer(self):
        from pycocoevalcap.cider.cider import Cider

        return Cider()


class SPICE(_Caption):
    name = "spice"
    version = "1"
    conventions = {"implementation": "pycocoevalcap Spice 1.0 (Java + Stanford CoreNLP 3.6.0 models)"}
    description = "SPICE scene-graph F-score of captions against the references."

    def scorer(self):
        _require_java("SPICE")
        import pycocoevalcap.spice as sp
        from pycocoevalcap.spice.spice import Spice

        lib = Path(sp.__file__).parent / "lib"
        needed = ["stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar"]
        missing = [n for n in needed if not (lib / n).exists()]
        if missing:
            raise WeightsMissing(
                f"SPICE needs {', '.join(missing)} in {lib}; pycocoevalcap downloads them from Stanford "
                "(pycocoevalcap/spice/get_stanford_models.py) on a machine with internet"
            )
        return Spice()
