"""``hybrid:SPEC``: the embedding's cosine fused with character n-grams and the paper's features.

What it computes: a same-owner probability for a pair of ads from three scores,

=================  ==========================================================================
feature            meaning
=================  ==========================================================================
``cosine``         cosine of the base model's embeddings (a checkpoint or an exported folder)
``char``           cosine of character 2-5-gram TF-IDF rows (:mod:`adowner.scoring.tfidf`, the
                   rows of ``tfidf-char``, fitted on train)
``pairwise``       log-odds of the paper's pairwise classifier (:mod:`adowner.scoring.pairwise`,
                   as in ``paper-pairwise``, fitted on train: Jaccard of word and character
                   n-grams, claimed names, line layout)
``cosine_asnorm``  the cosine AS-normalised against a cohort of train ads
                   (:mod:`adowner.scoring.asnorm`: each ad's cosine rescaled by how it
                   scores against other owners' ads, so generic "hub" ads stop looking alike)
``location_same``  1 when the two ads' ``location`` fields are the same after folding case and
                   punctuation (only where the data has a ``location`` column; see below)
``location_jac``   Jaccard of the two ``location`` fields' word sets ("City of San Diego, San
                   Diego" against "San Diego": 0.5)
=================  ==========================================================================

combined by a small logistic regression (standardised inputs, L2, ``C=1``) fitted on pairs of
the **validation** owners, whom neither the base model nor the two train-fitted scorers saw
(the issue's "small calibrated model fitted on validation owners"). Why: a subword model sees
style only through its vocabulary; short ads carry much of an owner's style in characters
(spelling, punctuation runs, emoji, layout) that character n-grams catch directly, and the
three scores err on different pairs. The regression learns how much to trust each on held-out
owners, so the weights are measured, not guessed.

**Location** is the poster's own text for where the ad runs: on real escort ads 55% of same-owner
pairs share more than half its words against 0.7% of different-owner pairs (the
``backpage_ca_dev`` file, all pairs). The two location features are used when at least half of
the validation ads have a location (:data:`MIN_LOCATION_COVERAGE`); a pair where either ad has
none gets each feature's mean over the validation pairs (standardised: 0, so it neither
raises nor lowers the score). Callers pass ``locations=`` beside the texts; without it every
pair is scored as "location unknown". Location says nothing about owners who post in many
cities, the pattern analysts look for; text and payments still carry those links.

Retrieval ranks, for each query, the union of its top-``k`` ads by embedding (FAISS) and its
top-``k`` by TF-IDF, by the fused probability; ads outside both lists are never ranked.

Requires: a train split (TF-IDF vocabulary, pairwise classifier) and a validation split with at
least two owners with two ads each (the combiner). The fitted state (vocabulary, idf and the
two regressions) is plain JSON (:meth:`Hybrid.state`), so ``adowner export --hybrid`` can store
it beside the weights without pickles.

Example::

    h = resolve_model("hybrid:runs/minilm-agora/checkpoints/best.ckpt")
    h.fit(train_df, val_df)
    h.score_pairs(texts, np.array([0]), np.array([1]))   # P(same owner) of ads 0 and 1
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal, Protocol

import numpy as np

from adowner.defaults import HYBRID_FIT, THRESHOLD_FPRS
from adowner.errors import InputError
from adowner.log import get_logger
from adowner.scoring import Index, Locations, Ranked, Texts
from adowner.scoring.asnorm import ASNorm
from adowner.scoring.linear import Linear
from adowner.scoring.pairs import sample_pairs
from adowner.scoring.pairwise import PairFeatures, fit_pairwise
from adowner.scoring.search import faiss_search, sparse_neighbors
from adowner.scoring.tfidf import CharTfidf
from adowner.scoring.thresholds import thresholds_at_fpr
from adowner.scoring.vectors import l2_normalise

log = get_logger(__name__)

_LOC_WORD = re.compile(r"\w+")

FEATURES = ("cosine", "char", "pairwise", "cosine_asnorm")
FEATURES_V1 = ("cosine", "char", "pairwise")
LOCATION_FEATURES = ("location_same", "location_jac")
FEATURES_V3 = (*FEATURES, *LOCATION_FEATURES)
STATE_VERSION = 3  # 1: the first three features; 2: + cosine_asnorm; 3: + location (all loaded)
KNOWN_STATES = {1: FEATURES_V1, 2: FEATURES, 3: FEATURES_V3}
MIN_LOCATION_COVERAGE = 0.5  # share of val ads with a location for the location features


def locations_of(df: Any) -> list[str] | None:
    """The ``location`` column of a split as strings (``""`` where missing), or ``None``."""
    if df is None or "location" not in df:
        return None
    return [v if isinstance(v, str) else "" for v in df["location"].tolist()]


def location_coverage(locations: Any) -> float:
    """Share of ads whose location has at least one word."""
    if locations is None or len(locations) == 0:
        return 0.0
    import pandas as pd

    words = pd.Series(list(locations), dtype=object).str.contains(_LOC_WORD.pattern, na=False)
    return float(words.mean())


class LocationSets:
    """Per-ad folded location words, for :meth:`pairs` (``location_same``, ``location_jac``).

    Words are ``\\w+`` runs, lowercased; the sets are one binary sparse row per ad (a
    ``CountVectorizer`` over the ads at hand: the words only need to be told apart, so no
    fitted vocabulary travels with the model), and the Jaccard is computed from row products,
    vectorised over all pairs at once.
    """

    def __init__(self, locations: Any) -> None:
        import scipy.sparse as sp

        words = [
            " ".join(_LOC_WORD.findall(v.lower())) if isinstance(v, str) else "" for v in locations
        ]
        self.known = np.array([bool(w) for w in words])
        self.code = np.unique(np.asarray(words, dtype=object), return_inverse=True)[1]
        if self.known.any():
            from sklearn.feature_extraction.text import CountVectorizer

            vec = CountVectorizer(binary=True, token_pattern=r"\S+", lowercase=False)
            self.rows = sp.csr_matrix(vec.fit_transform(words), dtype=np.float32)
        else:
            self.rows = sp.csr_matrix((len(words), 1), dtype=np.float32)
        self.size = np.asarray(self.rows.sum(axis=1)).ravel()

    def pairs(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(same, jaccard, known)`` for the pairs ``(a[k], b[k])``."""
        known = self.known[a] & self.known[b]
        same = (self.code[a] == self.code[b]) & known
        inter = np.asarray(self.rows[a].multiply(self.rows[b]).sum(axis=1)).ravel()
        union = self.size[a] + self.size[b] - inter
        jac = np.where(known, inter / np.maximum(union, 1.0), 0.0)
        return same.astype(np.float64), jac.astype(np.float64), known


class TextEmbedder(Protocol):
    """The base model of a hybrid: ``embed(texts)`` gives one float32 row an ad."""

    def embed(self, texts: list[str]) -> Any: ...


class Hybrid:
    """Fused same-owner scorer over a base embedder (see the module docstring); a pair scorer
    of ``adowner evaluate`` (:class:`adowner.evaluation.scorer.PairScorer`)."""

    learns = True
    pairwise: Literal[True] = True

    def __init__(
        self,
        base: TextEmbedder,
        *,
        name: str = "hybrid",
        c: float = 1.0,
        seed: int = 0,
        use_location: bool = True,
    ) -> None:
        self.base, self.name, self.c, self.seed = base, name, c, seed
        self.use_location = use_location  # False: the text features only (``hybrid-text:``)
        self.tfidf = CharTfidf()
        self.features_used: tuple[str, ...] = FEATURES
        self.norm: ASNorm | None = None  # fitted on train embeddings
        self.pair_classifier: Linear | None = None  # the ``pairwise`` feature's log-odds
        self.combiner: Linear | None = None
        self.location_fill = np.zeros(len(LOCATION_FEATURES))  # val means, for unknown locations
        self.notes: list[str] = [
            "hybrid: ranks the union of each query's top-k ads by embedding and by TF-IDF; "
            "the combiner is fitted on validation owners"
        ]
        self._cache: dict[int, dict[str, Any]] = {}

    # ------------------------------------------------------------------ fitting
    def fit(self, train_df: Any, val_df: Any = None) -> None:
        """Fit TF-IDF and the pairwise classifier on train, then the combiner on val."""
        if val_df is None or len(val_df) == 0:
            raise InputError(
                "the hybrid scorer fits its combiner on a validation split: none given"
            )
        train_texts = train_df["text"].astype(str).tolist()
        self.norm = ASNorm.from_texts(self.base.embed, train_texts, seed=self.seed)
        self._cache.clear()
        self.pair_classifier = fit_pairwise(train_df, seed=self.seed)
        self.tfidf = CharTfidf()
        self.tfidf.fit_texts(train_texts)

        texts = val_df["text"].astype(str).tolist()
        locations = locations_of(val_df)
        coverage = location_coverage(locations)
        with_location = self.use_location and coverage >= MIN_LOCATION_COVERAGE
        self.features_used = FEATURES_V3 if with_location else FEATURES
        if self.use_location and "location" in val_df and not with_location:
            self.notes.append(
                f"hybrid: location left out ({coverage:.0%} of val ads have one, "
                f"under {MIN_LOCATION_COVERAGE:.0%})"
            )
        dups = val_df["dup_group"].astype(str).to_numpy() if "dup_group" in val_df else None
        i, j, y = sample_pairs(
            val_df["owner"].astype(str).to_numpy(),
            dups,
            neg_ratio=HYBRID_FIT.neg_ratio,
            seed=self.seed,
            max_pos_per_owner=HYBRID_FIT.max_pos_per_owner,
        )
        if y.sum() < 2 or (y == 0).sum() < 2:
            raise InputError(
                "the hybrid scorer needs validation owners with at least two ads each "
                f"(val has {int(y.sum())} same-owner pairs)"
            )
        if self.features_used == FEATURES_V3:  # unknown locations score as the val mean
            same, jac, known = LocationSets(locations or []).pairs(i, j)
            self.location_fill = np.array(
                [same[known].mean(), jac[known].mean()] if known.any() else [0.0, 0.0]
            )
        x = self.features(texts, i, j, locations=locations)
        self.combiner = Linear.fit(x, y, self.c)
        log.info(
            "hybrid: combiner fitted on %d val pairs (%d same-owner); weights %s",
            len(y),
            int(y.sum()),
            dict(zip(self.features_used, np.round(self.combiner.coef, 3).tolist(), strict=True)),
        )
        self.notes.append(
            "hybrid weights (standardised): "
            + ", ".join(
                f"{f} {w:+.3f}" for f, w in zip(self.features_used, self.combiner.coef, strict=True)
            )
        )

    def calibrate(
        self, val_df: Any, fprs: tuple[float, ...] = THRESHOLD_FPRS, folds: int = 5
    ) -> dict[str, Any]:
        """Probability thresholds at each target FPR, from **out-of-fold** scores of val pairs.

        The combiner is refitted ``folds`` times, each time without one fold of val owners, and
        scores the pairs whose two ads both belong to that fold; thresholds come from those
        held-out scores (``sklearn.metrics.roc_curve``, highest TPR with FPR <= target), so
        they are not tuned on the pairs the combiner was fitted on. Pairs that straddle two
        folds are left out.
        """
        from sklearn.metrics import roc_auc_score

        texts = val_df["text"].astype(str).tolist()
        owners = val_df["owner"].astype(str).to_numpy()
        dups = val_df["dup_group"].astype(str).to_numpy() if "dup_group" in val_df else None
        i, j, y = sample_pairs(
            owners,
            dups,
            neg_ratio=HYBRID_FIT.neg_ratio,
            seed=self.seed,
            max_pos_per_owner=HYBRID_FIT.max_pos_per_owner,
        )
        x = self.features(texts, i, j, locations=locations_of(val_df))
        uniq = np.unique(owners)
        fold_of = dict(
            zip(uniq, np.random.default_rng(self.seed).permutation(len(uniq)) % folds, strict=True)
        )
        fi = np.array([fold_of[o] for o in owners[i]])
        fj = np.array([fold_of[o] for o in owners[j]])
        scores, held = np.full(len(y), np.nan), fi == fj
        for k in range(folds):
            test, train = held & (fi == k), (fi != k) & (fj != k)
            if not y[test].any() or y[train].sum() < 2 or (y[train] == 0).sum() < 2:
                continue
            scores[test] = Linear.fit(x[train], y[train], self.c).proba(x[test])
        ok = ~np.isnan(scores)
        ys, ss = y[ok], scores[ok]
        n_pos, n_neg = int(ys.sum()), int((ys == 0).sum())
        method = f"out-of-fold combiner scores ({folds} folds of val owners), sklearn roc_curve"
        if n_pos == 0 or n_neg == 0:  # too few val owners for held-out folds
            if self.combiner is None or not y.any() or y.all():
                raise InputError(
                    f"cannot calibrate the hybrid: {int(y.sum())} same-owner and "
                    f"{int((y == 0).sum())} different-owner pairs in val"
                )
            log.warning("hybrid: too few val owners for held-out folds; thresholds in-sample")
            ys, ss = y, self.combiner.proba(x)
            n_pos, n_neg = int(ys.sum()), int((ys == 0).sum())
            method = "in-sample combiner scores (too few val owners for held-out folds)"
        thresholds = thresholds_at_fpr(ss, ys, fprs)
        return {
            "thresholds": thresholds,
            "pairs": {"positive": n_pos, "negative": n_neg, "folds": folds, "seed": self.seed},
            "roc_auc": float(roc_auc_score(ys, ss)),
            "method": method,
        }

    # ------------------------------------------------------------------ scoring
    @property
    def uses_locations(self) -> bool:
        """Whether the fitted combiner has the location features (pass ``locations=``)."""
        return self.features_used == FEATURES_V3

    def _prepared(self, texts: list[str], locations: Any = None) -> dict[str, Any]:
        """Per-ad inputs of the features for one list of texts; the last two lists are kept
        (evaluation scores test, then val for the grouping threshold, after fitting on val)."""
        loc_key = None if locations is None else tuple(locations)
        key = hash((tuple(texts), loc_key))
        if key not in self._cache:
            emb = np.asarray(self.base.embed(texts), dtype=np.float32)
            while len(self._cache) >= 2:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = self._from_embeddings(texts, emb, locations)
        return self._cache[key]

    def _from_embeddings(
        self, texts: list[str], embeddings: np.ndarray, locations: Any = None
    ) -> dict[str, Any]:
        emb = l2_normalise(embeddings)
        stats = self.norm.stats(emb) if self.norm is not None else None
        if locations is not None and len(locations) != len(texts):
            raise InputError(f"{len(locations)} locations for {len(texts)} ads", field="location")
        return {
            "emb": emb,
            "stats": stats,
            "tfidf": self.tfidf.transform(texts),
            "pairs": PairFeatures(texts),
            "loc": LocationSets(locations)
            if locations is not None and self.uses_locations
            else None,
        }

    def prime(self, texts: list[str], embeddings: np.ndarray, locations: Any = None) -> None:
        """Use ``embeddings`` (the base model's rows for ``texts``) instead of embedding again."""
        loc_key = None if locations is None else tuple(locations)
        self._cache = {
            hash((tuple(texts), loc_key)): self._from_embeddings(texts, embeddings, locations)
        }

    def score_embedded(
        self,
        texts: list[str],
        embeddings: np.ndarray,
        i: np.ndarray,
        j: np.ndarray,
        *,
        locations: Any = None,
    ) -> np.ndarray:
        """:meth:`score_pairs` from embeddings the caller already has; touches no shared cache
        (safe from several threads, as the HTTP service calls it)."""
        if self.combiner is None:
            raise RuntimeError("the hybrid scorer must be fitted first")
        prepared = self._from_embeddings(texts, embeddings, locations)
        return self.combiner.proba(self.features(texts, i, j, prepared=prepared))

    def features(
        self,
        texts: list[str],
        i: np.ndarray,
        j: np.ndarray,
        *,
        locations: Any = None,
        prepared: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """The ``(len(i), n_features)`` matrix of the features used, for pairs ``(i, j)``."""
        if self.pair_classifier is None:
            raise RuntimeError("the hybrid scorer must be fitted first")
        p = prepared if prepared is not None else self._prepared(texts, locations)
        i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
        out = np.empty((len(i), len(self.features_used)), dtype=np.float64)
        chunk = 50_000
        for s in range(0, len(i), chunk):
            a, b = i[s : s + chunk], j[s : s + chunk]
            out[s : s + chunk, 0] = np.einsum("ij,ij->i", p["emb"][a], p["emb"][b])
            x = p["tfidf"]
            out[s : s + chunk, 1] = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
            out[s : s + chunk, 2] = self.pair_classifier.decision(p["pairs"](a, b))
            if len(self.features_used) > 3:
                mu, sd = p["stats"]
                out[s : s + chunk, 3] = ASNorm.normalise(
                    out[s : s + chunk, 0], mu[a], sd[a], mu[b], sd[b]
                )
            if self.uses_locations:
                out[s : s + chunk, 4:6] = self.location_fill
                if p.get("loc") is not None:
                    same, jac, known = p["loc"].pairs(a, b)
                    rows = np.flatnonzero(known) + s
                    out[rows, 4] = same[known]
                    out[rows, 5] = jac[known]
        return out

    def score_pairs(
        self, texts: Texts, i: Index, j: Index, *, locations: Locations = None
    ) -> np.ndarray:
        """P(same owner) for each pair ``(i[k], j[k])`` of ``texts`` (``locations``: the ads'
        location fields, where the combiner uses them)."""
        if self.combiner is None:
            raise RuntimeError("the hybrid scorer must be fitted first")
        return self.combiner.proba(self.features(texts, i, j, locations=locations))

    def neighbors(
        self, texts: Texts, queries: Index, k: int, *, locations: Locations = None
    ) -> Ranked:
        """Each query's candidates (top-``k`` by embedding ∪ top-``k`` by TF-IDF), ranked by the
        fused probability; ``-1`` pads rows with fewer candidates. The query itself is first."""
        p = self._prepared(texts, locations)
        queries = np.asarray(queries, dtype=np.int64)
        depth = max(1, min(k, len(texts)))
        cand = np.concatenate(
            [faiss_search(p["emb"], depth)(queries), sparse_neighbors(p["tfidf"], queries, depth)],
            axis=1,
        )
        cand = np.sort(cand, axis=1)
        dup = np.zeros_like(cand, dtype=bool)
        dup[:, 1:] = cand[:, 1:] == cand[:, :-1]
        qi = np.repeat(queries, cand.shape[1])
        score = self.score_pairs(texts, qi, cand.ravel(), locations=locations)
        score = score.reshape(cand.shape)
        score[cand == queries[:, None]] = math.inf
        score[dup] = -math.inf
        order = np.lexsort((cand, -score), axis=1)[:, :depth]
        ranked = np.take_along_axis(cand, order, axis=1)
        ranked_scores = np.take_along_axis(score, order, axis=1)
        ranked[ranked_scores == -math.inf] = -1
        return ranked, ranked_scores

    # ------------------------------------------------------------------ persistence
    def state(self) -> dict[str, Any]:
        """Everything fitted, as JSON-able values (no pickles)."""
        if self.combiner is None or self.pair_classifier is None:
            raise RuntimeError("the hybrid scorer must be fitted first")
        version = next(v for v, f in KNOWN_STATES.items() if f == self.features_used)
        state: dict[str, Any] = {
            "version": version,
            "features": list(self.features_used),
            "tfidf": self.tfidf.state(),
            "pairwise": self.pair_classifier.state(),
            "combiner": self.combiner.state(),
        }
        if self.norm is not None and len(self.features_used) > 3:
            state["score_norm"] = self.norm.state()
        if self.uses_locations:
            state["location"] = {"fill": self.location_fill.tolist()}
        return state

    @classmethod
    def from_state(
        cls, state: dict[str, Any], base: TextEmbedder, *, name: str = "hybrid"
    ) -> Hybrid:
        """Rebuild a fitted scorer from :meth:`state` over ``base`` (which must embed alike)."""
        version = state.get("version")
        if version not in KNOWN_STATES or list(state.get("features", [])) != list(
            KNOWN_STATES[version]
        ):
            raise InputError(
                f"hybrid state version {version!r} / features {state.get('features')!r} not "
                f"understood (this version reads {sorted(KNOWN_STATES)}: {FEATURES_V3})"
            )
        h = cls(base, name=name)
        h.features_used = KNOWN_STATES[version]
        if version >= 2:
            h.norm = ASNorm.from_state(state.get("score_norm") or {})
        if version >= 3:
            fill = np.asarray((state.get("location") or {}).get("fill"), dtype=np.float64)
            if fill.shape != (len(LOCATION_FEATURES),) or not np.isfinite(fill).all():
                raise InputError(
                    f"hybrid state 'location.fill' must be {len(LOCATION_FEATURES)} numbers"
                )
            h.location_fill = fill
        h.tfidf = CharTfidf.from_state(state["tfidf"])
        h.pair_classifier = Linear.from_state(state["pairwise"])
        h.combiner = Linear.from_state(state["combiner"])
        return h
