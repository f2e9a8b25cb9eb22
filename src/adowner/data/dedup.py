"""Duplicate groups: exact duplicates, then near-duplicates by MinHash LSH.

What it computes
    :func:`dup_groups` gives each ad a ``dup_group`` (a string; ads in one group are copies of
    each other). Two ads are in one group when

    1. their masked texts are equal after folding whitespace (exact duplicates), or
    2. the Jaccard similarity of their sets of character 5-grams (lower-cased, whitespace folded)
       is at least ``threshold`` (default 0.9), found with ``datasketch``'s MinHash LSH and
       confirmed on the MinHash estimate; groups are closed transitively.

    Why character 5-grams at 0.9: ads are short (the Agora descriptions stop at ~250
    characters), so one changed word moves a word-shingle Jaccard a lot while it moves a
    char-5-gram Jaccard little; reposts that change a price, a quantity or an emoji stay above
    0.9, while two different ads by one owner from one template (a different product or city)
    fall below it. Identifiers are already masked, so a new burner number does not hide a repost.

    :func:`drop_duplicates` keeps the first ad of each (dup_group, owner) and reports how many
    it dropped as exact and as near duplicates. Copies by *different* owners are kept (they are
    evidence that the owners are linked) and the splitter keeps their group in one split.

Source
    Broder, "On the resemblance and containment of documents" (1997) for MinHash; ``datasketch``
    (``MinHash``, ``MinHashLSH``) for the sketches and the banded index.

What it requires of the data
    A sequence of (masked) texts. Cost grows about linearly with the number of ads: about half
    of the one CPU-minute that ``prepare`` spends on 100,000 ads (see docs/BENCHMARKS.md).

Inputs

    ============  ===================================================  =========
    name          meaning                                              default
    ============  ===================================================  =========
    texts         masked ad texts                                      required
    ids           ad ids (the group id is ``dup-`` + the first one)    required
    threshold     Jaccard threshold of near-duplicates (0 < t <= 1);   ``0.9``
                  ``1.0`` means exact duplicates only
    num_perm      MinHash permutations                                 ``128``
    ============  ===================================================  =========

Example
    >>> dup_groups(["a cat sat on the mat", "a  cat sat on the mat", "dogs"], ["x", "y", "z"])
    ['dup-x', 'dup-x', 'dup-z']
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

SHINGLE = 5
_WS = re.compile(r"\s+")
_BASE = np.uint64(1_000_003)


def fold(text: str) -> str:
    """Whitespace folded to single spaces, ends stripped (the exact-duplicate key)."""
    return _WS.sub(" ", text).strip()


def shingle_hashes(text: str, k: int = SHINGLE) -> np.ndarray:
    """32-bit hashes of the distinct character k-grams of ``text`` (lower-cased, folded)."""
    hashes, _ = _shingles_of([text], k)
    return np.unique(hashes)


def _shingles_of(texts: Sequence[str], k: int = SHINGLE) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of every character k-gram of every text, and each text's first index into them.

    A polynomial rolling hash over code points, computed with numpy over all texts at once,
    stands in for hashing each k-gram string in Python (some 25 million k-grams for 100,000
    ads). Texts shorter than k are padded, so every text has at least one k-gram.
    """
    folded = [fold(t).lower().ljust(k, "\0") for t in texts]
    lengths = np.fromiter((len(t) for t in folded), dtype=np.int64, count=len(folded))
    codes = np.frombuffer("".join(folded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    h = np.zeros(len(codes) - k + 1, dtype=np.uint64)
    for i in range(k):  # wrapping uint64 arithmetic is intended
        h = h * _BASE + codes[i : len(codes) - k + 1 + i]
    h ^= h >> np.uint64(29)
    # keep windows that lie inside one text
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    n_windows = lengths - k + 1
    keep = np.concatenate([np.arange(s, s + w) for s, w in zip(starts, n_windows, strict=True)])
    offsets = np.concatenate([[0], np.cumsum(n_windows)[:-1]])
    return (h[keep] & np.uint64(0xFFFFFFFF)).astype(np.uint32), offsets


def minhash_signatures(
    texts: Sequence[str], num_perm: int = 128, seed: int = 1, chunk: int = 64
) -> np.ndarray:
    """MinHash signatures (``len(texts) × num_perm``, uint32) of the texts' char 5-gram sets.

    The permutations are ``datasketch``'s (``MinHash(num_perm, seed).permutations``, affine
    maps modulo 2^32); they are applied to all k-grams of a chunk of texts at once with numpy
    and reduced per text with ``np.minimum.reduceat``, which is what ``MinHash.update_batch``
    does for one text, without a Python call per k-gram.
    """
    from datasketch import MinHash

    a, b = (
        np.asarray(x, dtype=np.uint32) for x in MinHash(num_perm=num_perm, seed=seed).permutations
    )
    out = np.empty((len(texts), num_perm), dtype=np.uint32)
    for lo in range(0, len(texts), chunk):
        hashes, offsets = _shingles_of(texts[lo : lo + chunk])
        # permutations × k-grams, so that the per-text minimum runs along contiguous memory
        phv = a[:, None] * hashes[None, :] + b[:, None]  # wraps modulo 2^32
        out[lo : lo + len(offsets)] = np.minimum.reduceat(phv, offsets, axis=1).T
    return out


def dup_groups(
    texts: Sequence[str],
    ids: Sequence[str],
    threshold: float = 0.9,
    num_perm: int = 128,
    *,
    show_progress: bool = False,
) -> list[str]:
    """The ``dup_group`` of each ad (see the module docstring)."""
    from datasketch import LeanMinHash, MinHashLSH

    from adowner.progress import make_progress

    n = len(texts)
    keys = pd.Series([fold(t) for t in texts])
    exact = keys.factorize()[0]  # same code = exact duplicate
    pairs_a = list(range(n))
    pairs_b = list(exact[:n] + n)  # link each ad to its exact-key node n + code
    if threshold < 1.0 and n > 1:
        # One sketch per distinct text; LSH proposes candidates, the sketch estimate confirms.
        reps = pd.Series(np.arange(n)).groupby(exact).first().to_numpy()
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        all_sigs = np.empty((len(reps), num_perm), dtype=np.uint32)
        step = 2000
        with make_progress(disable=not show_progress or len(reps) < 5000) as progress:
            task = progress.add_task("near-duplicates", total=len(reps))
            for lo in range(0, len(reps), step):
                sigs = minhash_signatures([keys[i] for i in reps[lo : lo + step]], num_perm)
                for off, sig in enumerate(sigs):
                    code = lo + off
                    m = LeanMinHash(seed=1, hashvalues=sig, scheme="affine32")
                    for other in lsh.query(m):
                        if float(np.mean(m.hashvalues == all_sigs[other])) >= threshold:
                            pairs_a.append(n + code)
                            pairs_b.append(n + other)
                    lsh.insert(code, m, check_duplication=False)
                    all_sigs[code] = sig
                progress.advance(task, len(sigs))
    size = n + int(exact.max(initial=-1)) + 1
    graph = coo_matrix(
        (np.ones(len(pairs_a), dtype=np.int8), (pairs_a, pairs_b)), shape=(size, size)
    )
    _, comp = connected_components(graph, directed=False)
    ad_comp = comp[:n]
    first = pd.Series(np.arange(n)).groupby(ad_comp).transform("min").to_numpy()
    id_arr = np.asarray(ids, dtype=object)
    return ["dup-" + str(id_arr[i]) for i in first]


def drop_duplicates(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep the first ad of each (``dup_group``, ``owner``); count dropped exact/near copies."""
    dropped = df.duplicated(["dup_group", "owner"], keep="first")
    keys = df["text"].map(fold)
    kept_key = keys.groupby([df["dup_group"], df["owner"]]).transform("first")
    exact = dropped & (keys == kept_key)
    counts = {"exact": int(exact.sum()), "near": int((dropped & ~exact).sum())}
    return df.loc[~dropped].reset_index(drop=True), counts
