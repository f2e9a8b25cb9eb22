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


def _segwit_address(address: pd.Series) -> pd.Series:
    a = address.fillna("")
    return (a.str.startswith("bc1q") & (a.str.len() == 42)) | a.str.startswith("bc1p")


def tx_features(inputs: pd.DataFrame, outputs: pd.DataFrame) -> pd.DataFrame:
    """One row per transaction with inputs (index ``txid``): the columns of the module table."""
    ins = inputs[inputs["spent_txid"] != COINBASE_TXID]
    gi = ins.groupby("txid", sort=False)
    f = pd.DataFrame(
        {
            "n_in": gi.size(),
            "n_in_addresses": gi["address"].nunique(),
            "in_segwit": _segwit_address(ins["address"]).groupby(ins["txid"], sort=False).all(),
        }
    )
    outs = outputs[outputs["txid"].isin(f.index)]
    go = outs.groupby("txid", sort=False)
    counts = outs.groupby(["txid", "value_sat"], sort=False).size().rename("count").reset_index()
    counts = counts.sort_values(["txid", "count", "value_sat"], ascending=[True, False, False])
    mode = counts.drop_duplicates("txid").set_index("txid")
    f["n_out"] = go.size()
    f["mode_value"] = mode["value_sat"]
    f["mode_count"] = mode["count"]
    f["n_repeated"] = counts[counts["count"] >= 2].groupby("txid")["count"].sum()
    f["out_segwit"] = outs["script_type"].isin(SEGWIT_TYPES).groupby(outs["txid"], sort=False).all()
    f = f.fillna({"n_out": 0, "mode_value": 0, "mode_count": 0, "n_repeated": 0})
    f["out_segwit"] = f["out_segwit"].fillna(False).astype(bool)
    for col in ("n_out", "mode_value", "mode_count", "n_repeated"):
        f[col] = f[col].astype(np.int64)
    f.index.name = "txid"
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
