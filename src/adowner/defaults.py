"""Every command's defaults, in one place: the command line and the functions both read them.

One frozen dataclass a command (or a protocol several commands share); a subcommand's parser
takes them all with ``set_defaults(**fields_of(LINK))`` (its options are named as the fields;
``%(default)s`` shows them in ``--help``) and each function's signature its default value, so a
default is changed once. Settings that have their own config class stay there (``DataConfig`` for ``prepare``,
``model.config`` for ``train``). This module imports nothing: the CLI reads it at start-up.

===================  ===========================================================================
object               used by
===================  ===========================================================================
:data:`PAIRS`        the verification protocol (Portnoff et al., KDD 2017): ``evaluate``,
                     ``compare``, ``cv``, and the cosine calibration of ``export``
:data:`HYBRID_FIT`   the pairs the hybrid score's combiner is fitted and calibrated on
:data:`PAIRWISE_FIT` the pairs the paper-pairwise baseline's classifier is fitted on
:data:`EVALUATE`     ``evaluate``, ``compare`` and ``cv`` (besides :data:`PAIRS`)
:data:`LINK`         ``link`` (text k-NN, group formation, report); its ``fpr`` is the one
                     default FPR (``serve``, ``adowner.load``, ``export.folder.DEFAULT_FPR``),
                     the first of ``THRESHOLD_FPRS``, those the thresholds are calibrated at
:data:`MATCH`        ``chain match`` and the payment matching inside ``link``
:data:`CHAIN`        the clustering policy of ``chain cluster``, ``chain match`` and ``link --chain``
:data:`SIMULATE`     ``simulate`` (``simulate.marketplace.SimConfig``)
:data:`QUICKSTART`   ``quickstart``
:data:`REVIEW`       ``review`` (the analyst workbench over a ``link`` folder)
:data:`ENCODER`      :func:`adowner.load` and its options in ``embed`` and ``serve``
:data:`SERVE`        ``serve`` (``serve.app.create_app``)
:data:`DISTILL`      ``distill`` (the layer-dropped student of ``adowner.model.distill``)
===================  ===========================================================================

Why two caps on same-owner pairs: evaluation caps one owner's same-owner pairs at 5,000 (all
pairs of owners up to 100 ads) so that a prolific owner does not swamp the *figures*; the
hybrid's combiner and the paper-pairwise classifier are *fitted* on a sample capped at 200 an
owner, which bounds the fit's cost and keeps the few large owners from dominating the weights.
They are different settings and have different names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class PairSample:
    """How same-owner and different-owner pairs are drawn (``evaluation.pairs.sample_pairs``)."""

    neg_ratio: int = 20  # different-owner pairs per same-owner pair
    max_pos_per_owner: int = 5000  # cap on one owner's same-owner pairs (a seeded sample above)


PAIRS = PairSample()
HYBRID_FIT = PairSample(neg_ratio=20, max_pos_per_owner=200)
PAIRWISE_FIT = PairSample(neg_ratio=5, max_pos_per_owner=200)


@dataclass(frozen=True)
class EvaluateDefaults:
    """``evaluate``, ``compare`` and ``cv``."""

    bootstrap: int = 200  # owner resamples for the 95% intervals (0: none)
    seed: int = 0  # seeds the pair sample and the bootstrap
    label_column: str = "owner"


EVALUATE = EvaluateDefaults()


@dataclass(frozen=True)
class LinkDefaults:
    """``link``: text threshold, k-NN, group formation and the report."""

    fpr: float = 0.01  # FPR of the calibrated text threshold
    k: int = 20  # text k-NN per ad
    method: str = "guarded"  # group formation
    min_density: float = 0.1  # guarded: share of A×B pairs that must be text edges
    index: str = "auto"  # FAISS index
    top: int = 50  # groups shown in full in the report
    text_score: str = "auto"  # hybrid where the model folder has one, else cosine


LINK = LinkDefaults()

#: the FPRs at which an exported folder's thresholds are calibrated: the cosine's
#: (``export.calibrate``) and the hybrid's (``scoring.hybrid``); ``LINK.fpr`` is the first
THRESHOLD_FPRS = (LINK.fpr, 0.001)


@dataclass(frozen=True)
class MatchDefaults:
    """The payment-matching rule (``chain.match``; Portnoff et al. 2017, section 5)."""

    window_minutes: int = 1  # the ad may follow the payment's first-seen minute by this much
    minutes_after: int = 0  # the payment may be first seen this long after the ad's minute
    tol: float = 0.02  # price tolerance
    tol_sponsored: float = 0.05  # price tolerance of sponsored ads
    average_minutes: float = 10.0  # the rate is averaged over this many minutes


MATCH = MatchDefaults()


@dataclass(frozen=True)
class ChainDefaults:
    """The clustering heuristics (``chain.policy``) of ``chain cluster``, ``chain match`` and
    ``link --chain``: one default for all three.

    Known-payee change is on: it needs the payee's (the site's) addresses, which ``chain match``
    and ``link --chain`` always have, and on the simulated marketplace it lifts fused B-cubed F1
    from 0.661 to 0.813 without a super-cluster (docs/RESULTS.md); ``chain cluster`` without
    ``--payee-change`` records it as inactive. One-time change stays off (super-clusters).
    """

    heuristics: str = "multi_input,coinjoin_guard,known_payee_change"


CHAIN = ChainDefaults()


@dataclass(frozen=True)
class SimulateDefaults:
    """``simulate``: the marketplace's size and period."""

    owners: int = 300
    seed: int = 0
    operator_share: float = 0.15
    start: str = "2015-07-01"
    days: int = 365


SIMULATE = SimulateDefaults()


@dataclass(frozen=True)
class QuickstartDefaults:
    """``quickstart``."""

    owners: int = 500
    seed: int = 0


QUICKSTART = QuickstartDefaults()


@dataclass(frozen=True)
class ReviewDefaults:
    """``review``: where the workbench listens and keeps its decisions."""

    host: str = "127.0.0.1"  # local only unless asked
    port: int = 8765
    db: str = "review.sqlite"  # inside LINK_DIR unless --db
    page: int = 100  # groups a page of the list shows
    side_by_side: int = 12  # ads shown side by side in a group's template view


REVIEW = ReviewDefaults()


@dataclass(frozen=True)
class EncoderDefaults:
    """:func:`adowner.load` (``export.inference.Encoder``), ``embed`` and ``serve``."""

    backend: str = "auto"  # ONNX where the folder has model.onnx and the device is the CPU
    threads: int | None = None  # all cores
    device: str = "auto"  # CUDA where PyTorch sees a GPU, else the CPU
    precision: str = "auto"  # fp16 on CUDA, bf16 on CPUs with native bf16, else fp32


ENCODER = EncoderDefaults()


@dataclass(frozen=True)
class ServeDefaults:
    """``serve``: where it listens and the size of a request."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_texts: int = 64  # texts per /embed request (413 above)
    max_chars: int = 20_000  # characters per text (413 above)
    # batch widths rounded up to a multiple of 16 word pieces: the PyTorch path's memory grows
    # with every new (rows, width) shape (oneDNN keeps per-shape state), so a long-running
    # service keeps the shapes few; docs/RELIABILITY.md, "Service soak"
    pad_multiple: int = 16


SERVE = ServeDefaults()


@dataclass(frozen=True)
class DistillDefaults:
    """``distill``: a shallower student trained to match its teacher's embeddings."""

    layers: int = 3
    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-4
    warmup: float = 0.1
    max_length: int = 128
    seed: int = 0


DISTILL = DistillDefaults()


def fields_of(defaults: Any) -> dict[str, Any]:
    """``defaults`` as ``{field: value}``, for ``ArgumentParser.set_defaults``."""
    return asdict(defaults)
