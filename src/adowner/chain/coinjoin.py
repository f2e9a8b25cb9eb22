"""The CoinJoin guard: transactions whose inputs belong to several wallets by design.

Common-input clustering (Meiklejohn et al., IMC 2013) assumes all inputs of a transaction are
one wallet's. A CoinJoin breaks that on purpose, and one CoinJoin left in merges every
participant's wallet. Each rule below is a named, vectorised function over per-transaction
features (:func:`tx_features`), named in :data:`RULES` and in ``chain.policy``;
:func:`coinjoin_rule` applies them in order and names the first that fires, so the cluster
output can say which rule skipped which transaction (as BlockSci and GraphSense do).

Requires: the ``inputs`` and ``outputs`` tables of ``chain.schema``. Input script types are
read from the address prefix (``bc1q`` + 42 characters = P2WPKH, ``bc1p`` = taproot).

| feature          | meaning                                                         |
|------------------|-----------------------------------------------------------------|
| n_in             | inputs (coinbase inputs excluded)                               |
| n_in_addresses   | distinct input addresses                                        |
| n_out            | outputs                                                         |
| mode_value       | the most common output value (largest on ties), satoshi         |
| mode_count       | how many outputs have ``mode_value``                            |
| n_repeated       | outputs whose value occurs at least twice in the transaction    |
| out_segwit       | all outputs are P2WPKH or taproot                               |
| in_segwit        | all input addresses are P2WPKH or taproot                       |

Example::

    f = tx_features(inputs, outputs)
    rule = coinjoin_rule(f)          # Series: txid -> rule name or None
    skipped = rule.dropna()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from adowner.chain.schema import COINBASE_TXID

DUST_VALUES = (546, 2730)  # BlockSci ignores equal outputs at the dust limits
WHIRLPOOL_POOLS = (100_000, 1_000_000, 5_000_000, 50_000_000)  # sat: 0.001, 0.01, 0.05, 0.5 BTC
SEGWIT_TYPES = ("witness_v0_keyhash", "witness_v1_taproot")


def segwit_addresses(addresses: pd.Series) -> np.ndarray:
    """True where an address is native segwit v0 keyhash (``bc1q``, 42 chars) or taproot."""
    a = addresses.fillna("")
    return ((a.str.startswith("bc1q") & (a.str.len() == 42)) | a.str.startswith("bc1p")).to_numpy(
        bool
    )


def segwit_codes(addresses: Any) -> np.ndarray:
    """:func:`segwit_addresses` of an Arrow string array (vectorised in Arrow, no Python strings)."""
    import pyarrow.compute as pc

    q = pc.and_(pc.starts_with(addresses, "bc1q"), pc.equal(pc.utf8_length(addresses), 42))
    out = pc.fill_null(pc.or_(q, pc.starts_with(addresses, "bc1p")), False)
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=bool)


def features_coded(
    in_tx: np.ndarray,
    in_addr: np.ndarray,
    in_segwit: np.ndarray,
    out_tx: np.ndarray,
    out_value: np.ndarray,
    out_segwit: np.ndarray,
    n_tx: int,
    *,
    candidates_only: bool = False,
) -> pd.DataFrame:
    """:func:`tx_features` over integer codes (tx ids ``0..n_tx-1``, address ids, -1 = none).

    Inputs are the spending (non-coinbase) ones. Rows: transactions with at least one input, or
    with ``candidates_only`` only those that any rule of :data:`RULES` can flag: at least 2
    inputs and 2 outputs (every rule needs both: BlockSci's test 2 and 3, Whirlpool 5 and 5,
    JoinMarket 3 and 5, Wasabi 1.x 10 and 10, Wasabi 2.0 50 inputs and 2 outputs sharing a
    value). The per-value counts are computed for those rows only.

    Integer arrays only (sorts, run lengths and ``bincount``, no group-by on strings or
    pandas): on 2 M inputs it takes a fraction of a second.
    """
    n_in = np.bincount(in_tx, minlength=n_tx)
    n_out = np.bincount(out_tx, minlength=n_tx)
    keep_tx = (n_in >= 2) & (n_out >= 2) if candidates_only else n_in > 0
    rows = np.flatnonzero(keep_tx)
    # Distinct input addresses: sorted (tx, address) keys of the kept transactions (a sort:
    # numpy's hash-based unique is ten times slower here).
    sel = keep_tx[in_tx] & (in_addr >= 0)
    pairs = np.sort((in_tx[sel].astype(np.int64) << 32) | in_addr[sel].astype(np.int64))
    first_pair = np.r_[True, pairs[1:] != pairs[:-1]] if len(pairs) else np.zeros(0, bool)
    n_addr = np.bincount(pairs[first_pair] >> 32, minlength=n_tx)
    not_segwit_in = np.bincount(in_tx, weights=~in_segwit, minlength=n_tx)
    not_segwit_out = np.bincount(out_tx, weights=~out_segwit, minlength=n_tx)
    # Runs of equal (tx, value) among the kept transactions' outputs: one sort of
    # (tx << 32 | value code); value codes from a hash factorisation.
    osel = keep_tx[out_tx]
    vcode, vuniq = pd.factorize(out_value[osel])
    key = np.sort((out_tx[osel].astype(np.int64) << 32) | vcode.astype(np.int64))
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else key
    run_t = key[starts] >> 32
    run_v = np.asarray(vuniq, dtype=np.int64)[key[starts] & 0xFFFFFFFF]
    run_c = np.diff(np.r_[starts, len(key)]).astype(np.int64)
    mode_count = np.zeros(n_tx, np.int64)
    np.maximum.at(mode_count, run_t, run_c)
    top = run_c == mode_count[run_t]  # the most common value; the largest of those on ties
    mode_value = np.zeros(n_tx, np.int64)
    np.maximum.at(mode_value, run_t[top], run_v[top])
    rep = run_c >= 2
    n_repeated = np.bincount(run_t[rep], weights=run_c[rep], minlength=n_tx)
    return pd.DataFrame(
        {
            "n_in": n_in[rows],
            "n_in_addresses": n_addr[rows],
            "in_segwit": not_segwit_in[rows] == 0,
            "n_out": n_out[rows],
            "mode_value": mode_value[rows],
            "mode_count": mode_count[rows],
            "n_repeated": n_repeated[rows].astype(np.int64),
            "out_segwit": (not_segwit_out[rows] == 0) & (n_out[rows] > 0),
        },
        index=pd.Index(rows, name="tx"),
    )


def tx_features(inputs: pd.DataFrame, outputs: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction with inputs (index ``txid``): the columns of the module table."""
    ins = inputs[(inputs["spent_txid"] != COINBASE_TXID).to_numpy()]
    tx, tx_uniques = pd.factorize(pd.concat([ins["txid"], outputs["txid"]], ignore_index=True))
    addr, _ = pd.factorize(ins["address"])
    f = features_coded(
        tx[: len(ins)],
        addr,
        segwit_addresses(ins["address"]),
        tx[len(ins) :],
        outputs["value_sat"].to_numpy(np.int64),
        outputs["script_type"].isin(SEGWIT_TYPES).to_numpy(bool),
        len(tx_uniques),
    )
    f.index = pd.Index(np.asarray(tx_uniques)[f.index.to_numpy()], name="txid")
    return f


def is_generic_coinjoin(f: pd.DataFrame) -> pd.Series:
    """BlockSci's ``isCoinjoin`` (Kalodner et al., USENIX Security 2020).

    At least 2 inputs and 3 outputs; participants = (outputs + 1) // 2; there are at least as
    many inputs and distinct input addresses as participants; and exactly ``participants``
    outputs share the most common value, which is not a dust value (546, 2730 sat).
    """
    # participants = ceil(n_out / 2), written without integer division so that the rule runs
    # on pandas Series and Spark Columns alike: p <= x iff n_out <= 2x, and mode_count == p iff
    # n_out <= 2 * mode_count <= n_out + 1.
    n_out, two_k = f["n_out"], 2 * f["mode_count"]
    return (
        (f["n_in"] >= 2)
        & (n_out >= 3)
        & (n_out <= 2 * f["n_in"])
        & (n_out <= 2 * f["n_in_addresses"])
        & (two_k >= n_out)
        & (two_k <= n_out + 1)
        & ~f["mode_value"].isin(list(DUST_VALUES))
    )


def is_wasabi_1(f: pd.DataFrame) -> pd.Series:
    """Wasabi Wallet 1.x CoinJoins (zkSNACKs coordinator), after GraphSense's rule.

    At least 10 equal outputs near its 0.1 BTC base denomination (0.08-0.12 BTC), as many
    inputs, all outputs native segwit. Source: the CoinJoin heuristics GraphSense ships
    (graphsense-lib, from Stütz et al., "Adoption and Actual Privacy of Decentralized CoinJoin
    Implementations in Bitcoin", AFT 2022). Misses rounds far from the base denomination.
    """
    return (
        (f["mode_count"] >= 10)
        & f["mode_value"].between(8_000_000, 12_000_000)
        & (f["n_in"] >= f["mode_count"])
        & f["out_segwit"]
    )


def is_wasabi_2(f: pd.DataFrame) -> pd.Series:
    """Wasabi 2.0 (WabiSabi) CoinJoins, after GraphSense's rule (Stütz et al., AFT 2022).

    At least 50 inputs, all outputs segwit, and most outputs (>= half) sharing a value with
    another output (WabiSabi's standard denominations). A large segwit batch payment with
    repeated amounts can look the same.
    """
    return (f["n_in"] >= 50) & f["out_segwit"] & (2 * f["n_repeated"] >= f["n_out"])


def is_wasabi(f: pd.DataFrame) -> pd.Series:
    """Either Wasabi rule (:func:`is_wasabi_1` or :func:`is_wasabi_2`)."""
    return is_wasabi_1(f) | is_wasabi_2(f)


def is_whirlpool(f: pd.DataFrame) -> pd.Series:
    """Samourai Whirlpool mixes: 5 to 8 inputs and as many outputs, every output exactly one
    pool denomination (100k, 1M, 5M or 50M sat), from distinct input addresses.

    Source: the Whirlpool pool denominations of GraphSense's CoinJoin heuristics (Stütz et al.,
    AFT 2022). Mixes of other pools (none at the time of writing) are missed.
    """
    return (
        f["n_in"].between(5, 8)
        & (f["n_out"] == f["n_in"])
        & (f["mode_count"] == f["n_out"])
        & f["mode_value"].isin(list(WHIRLPOOL_POOLS))
        & (f["n_in_addresses"] == f["n_in"])
    )


def is_joinmarket(f: pd.DataFrame) -> pd.Series:
    """JoinMarket: k >= 3 equal outputs (taker + makers) and one change output for all but at
    most one participant (k to 2k outputs), with at least k distinct input addresses
    (Möser & Böhme, "Anonymous alone?", 2017; the JoinMarket rule GraphSense ships). A payroll
    of k equal payments with a change each can look the same."""
    k = f["mode_count"]
    return (
        (k >= 3)
        & (f["n_out"] >= 2 * k - 1)
        & (f["n_out"] <= 2 * k)
        & (f["n_in_addresses"] >= k)
        & ~f["mode_value"].isin(list(DUST_VALUES))
    )


# The guard's rules by name (``chain.policy``), in the order they are tried. Each takes a
# feature table and returns a boolean mask using only ``[]``, comparisons, ``&``, ``~``,
# ``between`` and ``isin(list)``: the same function runs on a pandas frame (local engine) and
# on a Spark DataFrame, giving a Column (``chain.spark.guard_spark``).
RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "wasabi_1": is_wasabi_1,
    "wasabi_2": is_wasabi_2,
    "whirlpool": is_whirlpool,
    "joinmarket": is_joinmarket,
    "generic_coinjoin": is_generic_coinjoin,
}


def coinjoin_rule(f: pd.DataFrame, rules: Iterable[str] | None = None) -> pd.Series:
    """The name of the first rule (in :data:`RULES` order) that flags each transaction, or None.

    ``rules``: the names to try (default: all of :data:`RULES`).
    """
    chosen = set(RULES if rules is None else rules)
    out = pd.Series(None, index=f.index, dtype=object, name="rule")
    free = np.ones(len(f), dtype=bool)
    for name, rule in RULES.items():
        if name not in chosen:
            continue
        hit = rule(f).to_numpy(bool) & free
        out[hit] = name
        free &= ~hit
    return out
