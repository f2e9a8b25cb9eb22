"""The metric-learning losses and miners that ``model.loss`` and ``model.miner`` choose from.

All are ``pytorch-metric-learning`` classes (Musgrave et al., "A Metric Learning Reality Check",
ECCV 2020; ``losses.*`` and ``miners.*``). Every loss here takes what a P owners × K ads batch
gives (:class:`~adowner.model.sampler.OwnerBatchSampler`): the batch's embeddings and each ad's
owner as its label; the ads of one owner are the positives, every other ad a negative. A miner
picks pairs or triplets of the batch first, and the loss then sees only those (pml converts
pairs to triplets and back as each loss needs).

Losses (``model.loss: {name: NAME, ...arguments}``; with no ``model.loss``, SupCon at 0.07):

- ``SupConLoss`` (also ``supcon``; ``temperature``, 0.07): supervised contrastive loss, a
  softmax over each ad's cosine similarities to the rest of the batch with every same-owner ad
  a positive (Khosla et al., NeurIPS 2020); LUAR (Rivera-Soto et al., EMNLP 2021) trains
  authorship embeddings with it.
- ``MultiSimilarityLoss`` (also ``multi-similarity``, ``ms``; ``alpha`` 2, ``beta`` 50,
  ``base`` 0.5): hard positives and negatives weighted by their self- and relative
  similarity (Wang et al., CVPR 2019).
- ``NTXentLoss`` (also ``ntxent``, ``infonce``; ``temperature``, 0.07): normalised
  temperature-scaled cross entropy, each positive pair against the anchor's negatives (InfoNCE,
  van den Oord et al. 2018; SimCLR, Chen et al., ICML 2020).
- ``TripletMarginLoss`` (also ``triplet``; ``margin`` 0.05, ``swap``, ``smooth_loss``):
  max(0, d(a,p) - d(a,n) + margin) over the batch's triplets (FaceNet, Schroff et al., CVPR
  2015); best with a miner (``BatchHardMiner``, ``TripletMarginMiner``).
- ``ContrastiveLoss`` (``pos_margin`` 0, ``neg_margin`` 1): positives pulled within
  ``pos_margin``, negatives pushed beyond ``neg_margin`` (Hadsell et al., CVPR 2006).

Miners (``model.miner: NAME`` or ``{name: NAME, ...}``; null, the default, uses every pair):

- ``MultiSimilarityMiner`` (``epsilon``, 0.1): negatives closer than the hardest positive +
  epsilon and positives farther than the easiest negative - epsilon (Wang et al., CVPR 2019).
- ``BatchHardMiner`` (no arguments): the hardest positive and hardest negative of each anchor
  (Hermans et al., "In Defense of the Triplet Loss for Person Re-Identification", 2017).
- ``TripletMarginMiner`` (``margin`` 0.2, ``type_of_triplets``: ``all``, ``hard``,
  ``semihard`` or ``easy``): the triplets that violate the margin (Schroff et al. 2015).

Requires: at least two ads of some owner in each batch (a loss with no positive pair is 0).

Example::

    loss = LOSSES.build({"name": "multi-similarity", "alpha": 2.0})
    miner = MINERS.build("BatchHardMiner")
    value = loss(embeddings, owner_labels, miner(embeddings, owner_labels))
"""

from __future__ import annotations

from typing import Any

from adowner.model.registry import Registry, Spec

#: ``model.loss``: name -> a ``pytorch_metric_learning.losses`` object.
LOSSES: Registry[Any] = Registry("loss", "model.loss")
#: ``model.miner``: name -> a ``pytorch_metric_learning.miners`` object.
MINERS: Registry[Any] = Registry("miner", "model.miner")

#: The loss when the config names none: the one every shipped recipe was measured with.
DEFAULT_LOSS: dict[str, Any] = {"name": "SupConLoss", "temperature": 0.07}


@LOSSES.register("SupConLoss", aliases=("supcon",))
def _supcon(temperature: float = 0.07) -> Any:
    from pytorch_metric_learning.losses import SupConLoss

    return SupConLoss(temperature=temperature)


@LOSSES.register("MultiSimilarityLoss", aliases=("ms",))
def _multi_similarity(alpha: float = 2.0, beta: float = 50.0, base: float = 0.5) -> Any:
    from pytorch_metric_learning.losses import MultiSimilarityLoss

    return MultiSimilarityLoss(alpha=alpha, beta=beta, base=base)


@LOSSES.register("NTXentLoss", aliases=("infonce",))
def _ntxent(temperature: float = 0.07) -> Any:
    from pytorch_metric_learning.losses import NTXentLoss

    return NTXentLoss(temperature=temperature)


@LOSSES.register("TripletMarginLoss", aliases=("triplet",))
def _triplet_margin(margin: float = 0.05, swap: bool = False, smooth_loss: bool = False) -> Any:
    from pytorch_metric_learning.losses import TripletMarginLoss

    return TripletMarginLoss(margin=margin, swap=swap, smooth_loss=smooth_loss)


@LOSSES.register("ContrastiveLoss")
def _contrastive(pos_margin: float = 0.0, neg_margin: float = 1.0) -> Any:
    from pytorch_metric_learning.losses import ContrastiveLoss

    return ContrastiveLoss(pos_margin=pos_margin, neg_margin=neg_margin)


@MINERS.register("MultiSimilarityMiner")
def _ms_miner(epsilon: float = 0.1) -> Any:
    from pytorch_metric_learning.miners import MultiSimilarityMiner

    return MultiSimilarityMiner(epsilon=epsilon)


@MINERS.register("BatchHardMiner")
def _batch_hard() -> Any:
    from pytorch_metric_learning.miners import BatchHardMiner

    return BatchHardMiner()


@MINERS.register("TripletMarginMiner")
def _triplet_miner(margin: float = 0.2, type_of_triplets: str = "all") -> Any:
    from pytorch_metric_learning.miners import TripletMarginMiner

    from adowner.errors import InputError

    if type_of_triplets not in ("all", "hard", "semihard", "easy"):
        raise InputError(
            f"TripletMarginMiner: type_of_triplets is all, hard, semihard or easy, "
            f"not {type_of_triplets!r}",
            field=MINERS.field,
        )
    return TripletMarginMiner(margin=margin, type_of_triplets=type_of_triplets)


def build_loss(spec: Spec) -> Any:
    """The loss that ``model.loss`` names (None: :data:`DEFAULT_LOSS`)."""
    return LOSSES.build(DEFAULT_LOSS if spec is None else spec)


def build_miner(spec: Spec) -> Any:
    """The miner that ``model.miner`` names, or None (every pair of the batch)."""
    return None if spec is None else MINERS.build(spec)
