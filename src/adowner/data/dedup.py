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
    A sequence of (masked) texts. Cost is linear in the number of ads: 100,000 ads take well
    under a minute (see docs/BENCHMARKS.md).

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
    """32-bit hashes of the distinct character k-grams of ``text`` (lower-cased, folded).

    A polynomial rolling hash over code points, computed with numpy in one pass, stands in for
    hashing each k-gram string in Python (50 million k-grams for 100,000 ads).
    """
    codes = np.frombuffer(fold(text).lower().encode("utf-32-le"), dtype=np.uint32)
    codes = codes.astype(np.uint64)
    if len(codes) < k:
        codes = np.concatenate([codes, np.zeros(k - len(codes), dtype=np.uint64)])
    h = np.zeros(len(codes) - k + 1, dtype=np.uint64)
    for i in range(k):  # wrapping uint64 arithmetic is intended
        h = h * _BASE + codes[i : len(codes) - k + 1 + i]
    h ^= h >> np.uint64(29)
    return np.unique((h & np.uint64(0xFFFFFFFF)).astype(np.uint32))


def dup_groups(
    texts: Sequence[str],
    ids: Sequence[str],
    threshold: float = 0.9,
    num_perm: int = 128,
    *,
    show_progress: bool = False,
) -> list[str]:
    """The ``dup_group`` of each ad (see the module docstring)."""
    from datasketch import MinHash, MinHashLSH

    from adowner.progress import track

    n = len(texts)
    keys = pd.Series([fold(t) for t in texts])
    exact = keys.factorize()[0]  # same code = exact duplicate
    pairs_a = list(range(n))
    pairs_b = list(exact[:n] + n)  # link each ad to its exact-key node n + code
    if threshold < 1.0 and n > 1:
        # One sketch per distinct text; LSH proposes candidates, the sketch estimate confirms.
        reps = pd.Series(np.arange(n)).groupby(exact).first().to_numpy()
        template = MinHash(num_perm=num_perm, seed=1)
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        sketches: dict[int, MinHash] = {}
        for code in track(
            range(len(reps)), "near-duplicates", disable=not show_progress or len(reps) < 5000
        ):
            m = MinHash(
                num_perm=num_perm,
                hashfunc=int,
                permutations=template.permutations,
                scheme=template.scheme,
            )
            m.update_batch(shingle_hashes(keys[reps[code]]))
            for other in lsh.query(m):
                if m.jaccard(sketches[other]) >= threshold:
                    pairs_a.append(n + code)
                    pairs_b.append(n + other)
            lsh.insert(code, m)
            sketches[code] = m
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
