"""Baselines scored like models: ``paper-pairwise``, ``tfidf-char`` and ``zero-shot``.

Each lives in its own file; :data:`BASELINES` maps the names used on the command line to
constructors (``zero-shot:PATH`` picks another backbone, see ``adowner.evaluation.resolve``).
"""

from __future__ import annotations

from collections.abc import Callable

from adowner.evaluation.scorer import Scorer


def _paper_pairwise() -> Scorer:
    from adowner.evaluation.baselines.paper_pairwise import PaperPairwise

    return PaperPairwise()


def _tfidf_char() -> Scorer:
    from adowner.evaluation.baselines.tfidf_char import TfidfChar

    return TfidfChar()


def _zero_shot() -> Scorer:
    from adowner.evaluation.baselines.zero_shot import ZeroShot

    return ZeroShot()


BASELINES: dict[str, Callable[[], Scorer]] = {
    "paper-pairwise": _paper_pairwise,
    "tfidf-char": _tfidf_char,
    "zero-shot": _zero_shot,
}
