"""The CoinJoin guard: transactions whose inputs belong to several wallets by design.

Common-input clustering (Meiklejohn et al., IMC 2013) assumes all inputs of a transaction are
one wallet's. A CoinJoin breaks that on purpose, and one CoinJoin left in merges every
participant's wallet. Each rule below is a named, vectorised function over per-transaction
features (:func:`tx_features`); :func:`coinjoin_rule` applies them in order and names the first
that fires, so the cluster output can say which rule skipped which transaction (as BlockSci
and GraphSense do).

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

from collections.abc import Callable

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


def features_coded(
    in_tx: np.ndarray,
    in_addr: np.ndarray,
    in_segwit: np.ndarray,
    out_tx: np.ndarray,
    out_value: np.ndarray,
    out_segwit: np.ndarray,
    n_tx: int,
) -> pd.DataFrame:
    """:func:`tx_features` over integer codes (tx ids ``0..n_tx-1``, address ids, -1 = none).

    Inputs are the spending (non-coinbase) ones. Rows: transactions with at least one input.
    Integer group-bys only: string group-bys cost ten times more on large tables.
    """
    n_in = np.bincount(in_tx, minlength=n_tx)
    has = in_addr >= 0
    pairs = np.unique(
        in_tx[has].astype(np.int64) * (int(in_addr.max(initial=0)) + 1) + in_addr[has]
    )
    n_addr = np.bincount(pairs // (int(in_addr.max(initial=0)) + 1), minlength=n_tx)
    not_segwit_in = np.bincount(in_tx, weights=~in_segwit, minlength=n_tx)
    n_out = np.bincount(out_tx, minlength=n_tx)
    not_segwit_out = np.bincount(out_tx, weights=~out_segwit, minlength=n_tx)
    counts = (
        pd.DataFrame({"t": out_tx, "v": out_value}).groupby(["t", "v"], sort=False).size()
    ).reset_index(name="c")
    counts = counts.sort_values(["t", "c", "v"], ascending=[True, False, False], kind="stable")
    mode = counts.drop_duplicates("t")
    mode_value = np.zeros(n_tx, np.int64)
    mode_count = np.zeros(n_tx, np.int64)
    mode_value[mode["t"].to_numpy()] = mode["v"].to_numpy()
    mode_count[mode["t"].to_numpy()] = mode["c"].to_numpy()
    rep = counts[counts["c"] >= 2]
    n_repeated = np.bincount(rep["t"].to_numpy(), weights=rep["c"].to_numpy(), minlength=n_tx)
    rows = np.flatnonzero(n_in > 0)
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
    participants = (f["n_out"] + 1) // 2
    return (
        (f["n_in"] >= 2)
        & (f["n_out"] >= 3)
        & (participants <= f["n_in"])
        & (participants <= f["n_in_addresses"])
        & (f["mode_count"] == participants)
        & ~f["mode_value"].isin(DUST_VALUES)
    )


def is_wasabi(f: pd.DataFrame) -> pd.Series:
    """Wasabi Wallet CoinJoins (zkSNACKs coordinator).

    Wasabi 1.x: at least 10 equal outputs near its 0.1 BTC base denomination (0.08-0.12 BTC),
    as many inputs, all outputs native segwit. Wasabi 2.x (WabiSabi): at least 50 inputs, all
    outputs segwit, and most outputs (>= half) sharing a value with another output.
    """
    v1 = (
        (f["mode_count"] >= 10)
        & f["mode_value"].between(8_000_000, 12_000_000)
        & (f["n_in"] >= f["mode_count"])
        & f["out_segwit"]
    )
    v2 = (f["n_in"] >= 50) & f["out_segwit"] & (2 * f["n_repeated"] >= f["n_out"])
    return v1 | v2


def is_whirlpool(f: pd.DataFrame) -> pd.Series:
    """Samourai Whirlpool mixes: 5 to 8 inputs and as many outputs, every output exactly one
    pool denomination (100k, 1M, 5M or 50M sat), from distinct input addresses."""
    return (
        f["n_in"].between(5, 8)
        & (f["n_out"] == f["n_in"])
        & (f["mode_count"] == f["n_out"])
        & f["mode_value"].isin(WHIRLPOOL_POOLS)
        & (f["n_in_addresses"] == f["n_in"])
    )


def is_joinmarket(f: pd.DataFrame) -> pd.Series:
    """JoinMarket: k >= 3 equal outputs (taker + makers) and one change output for all but at
    most one participant (k to 2k outputs), with at least k distinct input addresses
    (Möser & Böhme, "Anonymous alone?", 2017)."""
    k = f["mode_count"]
    return (
        (k >= 3)
        & (f["n_out"] >= 2 * k - 1)
        & (f["n_out"] <= 2 * k)
        & (f["n_in_addresses"] >= k)
        & ~f["mode_value"].isin(DUST_VALUES)
    )


RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "wasabi": is_wasabi,
    "whirlpool": is_whirlpool,
    "joinmarket": is_joinmarket,
    "generic_coinjoin": is_generic_coinjoin,
}


def coinjoin_rule(f: pd.DataFrame) -> pd.Series:
    """The name of the first rule (in :data:`RULES` order) that flags each transaction, or None."""
    out = pd.Series(None, index=f.index, dtype=object, name="rule")
    for name, rule in RULES.items():
        hit = rule(f).to_numpy(bool) & out.isna().to_numpy()
        out[hit] = name
    return out
