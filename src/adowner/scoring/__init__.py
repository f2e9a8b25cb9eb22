"""adowner.scoring: how two ads are scored alike, below ``evaluation``, ``export`` and ``link``.

==================  ===========================================================================
module              owns
==================  ===========================================================================
``vectors``         mean pooling over the attention mask, L2 normalisation of rows
``search``          k-nearest-neighbour search: FAISS (exact or HNSW) and sparse TF-IDF rows
``pairs``           same-owner and different-owner pairs (what scorers fit and calibrate on)
``thresholds``      score thresholds at target false-positive rates
``linear``          a fitted standardiser + logistic regression as JSON-able arrays
``tfidf``           character n-gram TF-IDF rows
``pairwise``        the pair features of Portnoff et al. (KDD 2017) and their classifier
``asnorm``          AS-norm of cosines against a cohort of other owners' ads
``hybrid``          the hybrid same-owner score (cosine, char n-grams, pair features, AS-norm,
                    locations) and its JSON state, as exported in ``hybrid.json``
==================  ===========================================================================

It imports nothing of ``adowner`` but the top-level modules and ``text``
(docs/ARCHITECTURE.md); the evaluation baselines, ``export`` and ``link`` use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# the arguments every pair scorer takes (adowner.evaluation.scorer.PairScorer)
Texts = list[str]  # the ads' texts
Index = np.ndarray  # ad indices into ``texts`` (int64): the pairs ``(i[k], j[k])``, or queries
Locations = Sequence[str] | None  # each ad's ``location`` field, for a scorer that uses them
Ranked = tuple[np.ndarray, np.ndarray]  # (n_q, k) ad indices (-1: none) and their scores
