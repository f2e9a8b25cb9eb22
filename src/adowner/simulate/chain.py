"""The simulated marketplace's Bitcoin side: payments for ads, a mempool log, rates and truth.

What it simulates (each piece is there because the real chain has it and it fools a method):

| piece                       | how                                                         | what it tests         |
|-----------------------------|-------------------------------------------------------------|-----------------------|
| ad payments                 | one transaction per Bitcoin-paid ad, from the owner's       | matching, clustering  |
|                             | wallet to a fresh address of the site's payment processor,  |                       |
|                             | with change to a fresh wallet address                       |                       |
| several wallets             | an operator's personas pay from one of 1-3 wallets          | owner ≠ one cluster   |
| exchange hot wallet         | some owners pay straight from their exchange account: the   | a realistic false     |
|                             | inputs are the exchange's, shared with many owners          | merge                 |
| CoinJoins                   | JoinMarket-style (equal outputs + change) and Whirlpool     | the CoinJoin guard    |
|                             | 5×5 mixes joining owners' and strangers' wallets            |                       |
| background                  | strangers' payments and other merchants' payments to the    | false and ambiguous   |
|                             | same processor, at prices like the ads'                     | matches               |
| processor sweeps            | hourly consolidations of received payments with a known     | seeded site cluster   |
|                             | seed address (``site_seed_addresses.txt``)                  |                       |
| first-seen delays           | the ad appears 1-59 s after the payment is first seen (most |                       |
|                             | in the same or the next minute), some minutes later; a few  | the time window       |
|                             | transactions are missing from the log (node offline)        |                       |
| quotes                      | the processor quotes the spot rate, ±0.4% (sponsored ads    | the tolerance         |
|                             | ±1.5%); the matcher uses a 10-minute average                |                       |
| rates                       | a geometric random walk (~3% a day) at 10-minute steps      |                       |

Only ads with a price are paid; 10% of them by card (no transaction), as on a real site.
Addresses are real encodings (base58check P2PKH and bech32 P2WPKH, via python-bitcoinlib)
of deterministic random key hashes. The chain is written as bitcoin-etl JSON Lines, one of the
formats ``adowner chain ingest`` reads.

Files written under ``out_dir``:

| file                            | content                                                   |
|---------------------------------|-----------------------------------------------------------|
| ``chain/transactions.jsonl``    | bitcoin-etl rows (values in satoshi)                      |
| ``mempool.jsonl``               | ``{"txid", "first_seen"}`` per line, as ``mempool-watch`` |
| ``rates.csv``                   | ``timestamp, price_usd``                                  |
| ``site_addresses.txt``          | the processor's payment addresses, one a line             |
| ``site_seed_addresses.txt``     | the processor's known sweep addresses                     |
| ``truth_owner_wallet.parquet``  | ``true_owner, wallet_id, wallet_kind, address``           |
| ``truth_ad_tx.parquet``         | ``ad_id, txid, vout, value_sat, wallet_id, paid_via,``    |
|                                 | ``first_seen`` (every Bitcoin-paid ad)                    |

Example::

    info = simulate_chain(market.ads, market.owners, Path("sim"), seed=0)
    info["ad_payments"]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from bitcoin.wallet import P2PKHBitcoinAddress, P2WPKHBitcoinAddress

from adowner._io import atomic_open, write_parquet

WHIRLPOOL_DENOMINATION = 1_000_000  # sat; Whirlpool's 0.01 BTC pool
CARD_SHARE = 0.10
EXCHANGE_PAYER_SHARE = 0.12
MISSING_FIRST_SEEN = 0.01


@dataclass
class _Wallet:
    wallet_id: str
    kind: str  # own | exchange | stranger | processor
    addresses: list[str] = field(default_factory=list)
    utxos: list[tuple[str, int, str, int]] = field(default_factory=list)  # txid, n, addr, value


class _Chain:
    """Builds transactions in time order and keeps every wallet's unspent outputs."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.exchange: _Wallet | None = None
        self.script: dict[str, tuple[str, str]] = {}  # address -> (script type, script hex)
        self.txs: list[dict[str, Any]] = []
        self.seen: list[tuple[str, pd.Timestamp]] = []

    def address(self, wallet: _Wallet) -> str:
        h = self.rng.bytes(20)
        if self.rng.random() < 0.5:
            a = str(P2PKHBitcoinAddress.from_bytes(h))
            self.script[a] = ("pubkeyhash", f"76a914{h.hex()}88ac")
        else:
            a = str(P2WPKHBitcoinAddress.from_bytes(0, h))
            self.script[a] = ("witness_v0_keyhash", f"0014{h.hex()}")
        wallet.addresses.append(a)
        return a

    def txid(self) -> str:
        return self.rng.bytes(32).hex()

    def add(
        self,
        when: pd.Timestamp,
        inputs: list[tuple[str, int, str, int]],
        outputs: list[tuple[str, int]],
        *,
        coinbase: bool = False,
        first_seen: pd.Timestamp | None = None,
    ) -> str:
        txid = self.txid()
        self.txs.append(
            {
                "hash": txid,
                "_time": when,
                "is_coinbase": coinbase,
                "inputs": [
                    {
                        "index": i,
                        "spent_transaction_hash": t,
                        "spent_output_index": n,
                        "addresses": [a],
                        "value": v,
                        "type": self.script[a][0],
                    }
                    for i, (t, n, a, v) in enumerate(inputs)
                ],
                "outputs": [
                    {
                        "index": n,
                        "addresses": [a],
                        "value": v,
                        "type": self.script[a][0],
                        "script_hex": self.script[a][1],
                    }
                    for n, (a, v) in enumerate(outputs)
                ],
            }
        )
        if not coinbase:
            delay = pd.Timedelta(seconds=float(self.rng.uniform(0.3, 4.0)))
            self.seen.append((txid, first_seen if first_seen is not None else when + delay))
        return txid

    def spend(
        self,
        when: pd.Timestamp,
        wallet: _Wallet,
        payments: list[tuple[str, int]],
        *,
        change_to: _Wallet | None = None,
        first_seen: pd.Timestamp | None = None,
    ) -> str:
        """Pay ``payments`` from ``wallet``'s coins (random selection), change to a fresh address."""
        need = sum(v for _, v in payments) + int(self.rng.integers(5_000, 40_000))
        self.rng.shuffle(wallet.utxos)  # type: ignore[arg-type]
        chosen: list[tuple[str, int, str, int]] = []
        total = 0
        # An exchange's hot wallet spends several coins at once (it consolidates as it pays),
        # which is what ties all its customers' payments into one cluster.
        at_least = 2 if wallet.kind == "exchange" and len(wallet.utxos) >= 2 else 1
        while total < need or len(chosen) < at_least:
            if not wallet.utxos:
                self.fund(when - pd.Timedelta(minutes=float(self.rng.uniform(1, 10))), wallet, need)
            coin = wallet.utxos.pop()
            chosen.append(coin)
            total += coin[3]
        change = total - need
        outs = list(payments)
        if change > 1_000:
            owner = change_to or wallet
            if owner.kind == "exchange" and len(owner.addresses) >= 3:
                # Hot wallets reuse a few addresses for change: their coins meet again as inputs.
                outs.append((owner.addresses[int(self.rng.integers(3))], change))
            else:
                outs.append((self.address(owner), change))
        txid = self.add(when, chosen, outs, first_seen=first_seen)
        if change > 1_000:
            (change_to or wallet).utxos.append((txid, len(outs) - 1, outs[-1][0], change))
        return txid

    def fund(self, when: pd.Timestamp, wallet: _Wallet, at_least: int) -> None:
        """A withdrawal from the exchange (or a coinbase for the exchange itself) into ``wallet``."""
        pieces = int(self.rng.integers(2, 6))
        total = max(at_least, 1) * float(self.rng.uniform(2.0, 6.0))
        outs = [(self.address(wallet), int(total / pieces)) for _ in range(pieces)]
        if wallet.kind == "exchange" or self.exchange is None:
            txid = self.add(when, [], outs, coinbase=True)
        else:
            txid = self.spend(when, self.exchange, outs)
        wallet.utxos.extend((txid, n, a, v) for n, (a, v) in enumerate(outs))


def _rates(rng: np.random.Generator, start: pd.Timestamp, end: pd.Timestamp) -> pd.Series:
    """A geometric random walk at 10-minute steps, ~3% daily volatility, starting near $250."""
    idx = pd.date_range(start.floor("D"), end.ceil("D") + pd.Timedelta(days=1), freq="10min")
    steps = rng.normal(0.0, 0.03 / np.sqrt(144), len(idx))
    return pd.Series(250.0 * np.exp(np.cumsum(steps)), index=idx)


def simulate_chain(
    ads: pd.DataFrame, owners: pd.DataFrame, out_dir: Path, seed: int
) -> dict[str, Any]:
    """Write the chain of the simulated marketplace under ``out_dir``; return counts and paths."""
    rng = np.random.default_rng([seed, 6])
    out_dir = Path(out_dir)
    ads = ads.copy()
    ads["posted_at"] = pd.to_datetime(ads["posted_at"], utc=True)
    ads = ads.sort_values("posted_at", kind="stable").reset_index(drop=True)
    t0, t1 = ads["posted_at"].min(), ads["posted_at"].max()
    rates = _rates(rng, t0 - pd.Timedelta(days=2), t1)
    chain = _Chain(rng)

    exchange = _Wallet("exchange:0", "exchange")
    chain.exchange = exchange
    for _ in range(40):
        chain.fund(t0 - pd.Timedelta(days=2), exchange, 2_000_000_000)
    processor = _Wallet("processor:0", "processor")
    seeds = [chain.address(processor) for _ in range(3)]
    seed_coin = (chain.add(t0 - pd.Timedelta(days=1), [], [(seeds[0], 10_000)], coinbase=True), 0)
    processor_utxo = (seed_coin[0], 0, seeds[0], 10_000)
    site_addresses: list[str] = []

    # Owners' wallets: operators have 1-3, each persona pays from one; some pay from the exchange.
    wallets: dict[str, list[_Wallet]] = {}
    for owner, kind in zip(owners["true_owner"], owners["kind"], strict=True):
        n = int(rng.integers(1, 4)) if kind == "operator" else 1
        if rng.random() < EXCHANGE_PAYER_SHARE:
            wallets[str(owner)] = [exchange]
        else:
            wallets[str(owner)] = [_Wallet(f"{owner}:w{i}", "own") for i in range(n)]
    strangers = [_Wallet(f"stranger:{i}", "stranger") for i in range(max(30, len(owners) // 3))]

    # Events in time order: ad payments, strangers' transfers, other merchants' payments,
    # CoinJoins and the processor's hourly sweeps.
    paid = ads[ads["price_usd"].notna() & (ads["price_usd"] > 0)].index.to_numpy()
    by_card = rng.random(len(paid)) < CARD_SHARE
    events: list[tuple[pd.Timestamp, int, Any]] = []
    # The ad appears 1-59 s after the payment is first seen (85%), 1-2.5 min (10%), or later.
    chosen = paid[~by_card]
    band = rng.choice(3, len(chosen), p=[0.85, 0.1, 0.05])
    gap = np.choose(
        band,
        [
            rng.uniform(1, 59, len(chosen)),
            rng.uniform(60, 150, len(chosen)),
            rng.uniform(150, 900, len(chosen)),
        ],
    )
    seen_at = pd.DatetimeIndex(ads["posted_at"].to_numpy()[chosen]) - pd.to_timedelta(gap, unit="s")
    events += [(t, 0, int(i)) for t, i in zip(seen_at, chosen, strict=True)]
    span = (t1 - t0).total_seconds() + 1
    n_ads = max(len(paid), 1)
    for kind, count in (
        (1, 2 * n_ads),
        (2, n_ads),
        (3, max(3, n_ads // 40)),
        (4, max(2, n_ads // 80)),
    ):
        for s in rng.uniform(0, span, count):
            events.append((t0 + pd.Timedelta(seconds=float(s)), kind, None))
    for h in pd.date_range(t0.ceil("h"), t1.ceil("h") + pd.Timedelta(hours=1), freq="h"):
        events.append((h, 5, None))
    events.sort(key=lambda e: (e[0], e[1]))

    ad_rows = ads.to_dict("records")
    prices = ads["price_usd"].dropna()
    price_pool = prices.to_numpy(float) if len(prices) else np.array([10.0, 25.0])
    pending: list[tuple[str, int, str, int]] = []
    truth: list[dict[str, Any]] = []
    # Processors quote the spot rate (the matcher uses a 10-minute average: part of the noise).
    knots = pd.DatetimeIndex(rates.index).as_unit("ns").asi8.astype(np.float64)
    moments = pd.DatetimeIndex([e[0] for e in events]).as_unit("ns").asi8.astype(np.float64)
    rate_of = np.interp(moments, knots, rates.to_numpy())
    for (when, kind, payload), rate in zip(events, rate_of, strict=True):
        if kind == 0:  # an ad payment
            ad = ad_rows[payload]
            owner_wallets = wallets.get(str(ad["true_owner"]))
            if owner_wallets is None:  # an owner missing from the owners table pays as a stranger
                owner_wallets = [strangers[int(rng.integers(len(strangers)))]]
            # Each persona of an operator pays from one of the operator's wallets.
            wallet = owner_wallets[_stable_hash(str(ad.get("persona"))) % len(owner_wallets)]
            noise = 0.015 if bool(ad["sponsored"]) else 0.004
            quote = rate * (1 + float(np.clip(rng.normal(0, noise), -3 * noise, 3 * noise)))
            value = round(float(ad["price_usd"]) / quote * 1e8)
            addr = chain.address(processor)
            site_addresses.append(addr)
            broadcast = when - pd.Timedelta(seconds=float(rng.uniform(0.3, 4.0)))
            txid = chain.spend(broadcast, wallet, [(addr, value)], first_seen=when)
            pending.append((txid, 0, addr, value))
            truth.append(
                {
                    "ad_id": str(ad["ad_id"]),
                    "txid": txid,
                    "vout": 0,
                    "value_sat": value,
                    "wallet_id": wallet.wallet_id,
                    "paid_via": "exchange" if wallet is exchange else "own_wallet",
                    "first_seen": when,
                }
            )
        elif kind == 1:  # strangers pay each other
            a, b = rng.choice(len(strangers), 2, replace=False)
            value = round(float(rng.lognormal(4.0, 1.2)) / rate * 1e8)
            addr = chain.address(strangers[b])
            txid = chain.spend(when, strangers[a], [(addr, value)])
            strangers[b].utxos.append((txid, 0, addr, value))
        elif kind == 2:  # another merchant's customer pays the same processor, at ad-like prices
            usd = float(rng.choice(price_pool)) * float(
                rng.choice([1.0, 1.0, rng.uniform(0.5, 2.0)])
            )
            value = round(usd / (rate * (1 + rng.normal(0, 0.004))) * 1e8)
            addr = chain.address(processor)
            site_addresses.append(addr)
            payer = strangers[int(rng.integers(len(strangers)))]
            txid = chain.spend(when, payer, [(addr, value)])
            pending.append((txid, 0, addr, value))
        elif kind in _COINJOINS:
            lo, hi, whirlpool = _COINJOINS[kind]
            parts = _participants(rng, wallets, strangers, exchange, lo, hi)
            _coinjoin(chain, rng, when, parts, whirlpool=whirlpool)
        elif kind == 5 and pending:  # the processor sweeps received payments with its seed coin
            total = sum(c[3] for c in pending) + processor_utxo[3] - 10_000
            dest = seeds[int(rng.integers(len(seeds)))]
            txid = chain.add(when, [processor_utxo, *pending], [(dest, total)])
            processor_utxo = (txid, 0, dest, total)
            pending = []

    return _write(
        out_dir,
        chain,
        rates,
        site_addresses,
        seeds,
        wallets,
        exchange,
        truth,
        rng,
        {
            "ads": len(ads),
            "ads_with_price": len(paid),
            "ads_paid_by_card": int(by_card.sum()),
        },
    )


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "big")


#: background kinds that are CoinJoins: (fewest, most participants, Whirlpool?). 3: JoinMarket
#: style, k equal outputs plus each one's change; 4: Whirlpool 5x5, equal outputs of the pool
#: denomination, no change
_COINJOINS = {3: (3, 6, False), 4: (5, 5, True)}


def _participants(
    rng: np.random.Generator,
    wallets: dict[str, list[_Wallet]],
    strangers: list[_Wallet],
    exchange: _Wallet,
    lo: int,
    hi: int,
) -> list[_Wallet]:
    """Owners' and strangers' wallets (never the exchange) joining one CoinJoin."""
    own = [w for ws in wallets.values() for w in ws if w is not exchange]
    k = int(rng.integers(lo, hi + 1))
    n_own = min(len(own), int(rng.integers(1, k)))
    picked = [own[i] for i in rng.choice(len(own), n_own, replace=False)] if n_own else []
    picked += [strangers[i] for i in rng.choice(len(strangers), k - len(picked), replace=False)]
    return picked


def _coinjoin(
    chain: _Chain,
    rng: np.random.Generator,
    when: pd.Timestamp,
    parts: list[_Wallet],
    *,
    whirlpool: bool,
) -> None:
    denom = WHIRLPOOL_DENOMINATION if whirlpool else int(rng.integers(2, 20)) * 1_000_000
    inputs: list[tuple[str, int, str, int]] = []
    outputs: list[tuple[str, int]] = []
    changes: list[tuple[_Wallet, int]] = []
    for w in parts:
        need = denom + 20_000
        if whirlpool:
            # Whirlpool's "tx0": the wallet first makes one premix coin of the pool size + fee.
            premix = chain.address(w)
            tx0 = chain.spend(
                when - pd.Timedelta(minutes=float(rng.uniform(1, 30))), w, [(premix, need)]
            )
            coins, total = [(tx0, 0, premix, need)], need
        else:
            if sum(c[3] for c in w.utxos) < need:
                chain.fund(when - pd.Timedelta(minutes=float(rng.uniform(1, 10))), w, need)
            coins, total = [], 0
            while total < need:
                coin = w.utxos.pop()
                coins.append(coin)
                total += coin[3]
        inputs += coins
        outputs.append((chain.address(w), denom))
        if not whirlpool:
            changes.append((w, total - denom - 5_000))
    for w, v in changes:
        outputs.append((chain.address(w), v))
    order = rng.permutation(len(outputs))
    outputs = [outputs[i] for i in order]
    txid = chain.add(when, inputs, outputs)
    owner_of = {a: w for w in parts for a in w.addresses[-2:]}
    for n, (a, v) in enumerate(outputs):
        owner_of[a].utxos.append((txid, n, a, v))


def _write(
    out_dir: Path,
    chain: _Chain,
    rates: pd.Series,
    site_addresses: list[str],
    seeds: list[str],
    wallets: dict[str, list[_Wallet]],
    exchange: _Wallet,
    truth: list[dict[str, Any]],
    rng: np.random.Generator,
    counts: dict[str, int],
) -> dict[str, Any]:
    # Blocks every ~10 minutes; a transaction is mined in the first block after it is broadcast.
    times = sorted(t["_time"] for t in chain.txs)
    start = times[0] - pd.Timedelta(minutes=10)
    n_blocks = int((times[-1] - start).total_seconds() / 600 * 1.5) + 20
    block_times = start + pd.to_timedelta(np.cumsum(rng.exponential(600, n_blocks)), unit="s")
    block_secs = block_times.as_unit("s").asi8
    height0 = 360_000
    chain.txs.sort(key=lambda t: t["_time"])
    (out_dir / "chain").mkdir(parents=True, exist_ok=True)
    with atomic_open(out_dir / "chain" / "transactions.jsonl") as fh:
        for t in chain.txs:
            b = int(np.searchsorted(block_secs, t.pop("_time").value // 10**9 + 1))
            b = min(b, n_blocks - 1)
            t["block_number"] = height0 + b
            t["block_timestamp"] = int(block_secs[b])
            fh.write(json.dumps(t) + "\n")
    seen = [(txid, ts) for txid, ts in chain.seen if rng.random() >= MISSING_FIRST_SEEN]
    seen.sort(key=lambda r: r[1])
    with atomic_open(out_dir / "mempool.jsonl") as fh:
        for txid, ts in seen:
            fh.write(json.dumps({"txid": txid, "first_seen": ts.floor("us").isoformat()}) + "\n")
    with atomic_open(out_dir / "rates.csv") as fh:
        fh.write("timestamp,price_usd\n")
        for stamp, v in zip(rates.index, rates.to_numpy(), strict=True):
            fh.write(f"{stamp.isoformat()},{v:.2f}\n")
    with atomic_open(out_dir / "site_addresses.txt") as fh:
        fh.write("".join(a + "\n" for a in site_addresses))
    with atomic_open(out_dir / "site_seed_addresses.txt") as fh:
        fh.write("".join(a + "\n" for a in seeds))  # the sweep addresses an analyst knows
    rows: list[dict[str, Any]] = [
        {"true_owner": owner, "wallet_id": w.wallet_id, "wallet_kind": w.kind, "address": a}
        for owner, ws in wallets.items()
        for w in ws
        for a in (w.addresses if w is not exchange else [])
    ]
    rows += [
        {
            "true_owner": owner,
            "wallet_id": exchange.wallet_id,
            "wallet_kind": "exchange",
            "address": None,
        }
        for owner, ws in wallets.items()
        if ws == [exchange]
    ]
    write_parquet(
        pd.DataFrame(rows, columns=["true_owner", "wallet_id", "wallet_kind", "address"]),
        out_dir / "truth_owner_wallet.parquet",
    )
    truth_df = pd.DataFrame(
        truth, columns=["ad_id", "txid", "vout", "value_sat", "wallet_id", "paid_via", "first_seen"]
    )
    write_parquet(truth_df, out_dir / "truth_ad_tx.parquet")
    return {
        **counts,
        "ad_payments": len(truth_df),
        "paid_from_exchange": int((truth_df["paid_via"] == "exchange").sum()),
        "transactions": len(chain.txs),
        "mempool_log_entries": len(seen),
        "site_addresses": len(site_addresses),
        "paths": {
            "chain": str(out_dir / "chain" / "transactions.jsonl"),
            "mempool_log": str(out_dir / "mempool.jsonl"),
            "rates": str(out_dir / "rates.csv"),
            "site_addresses": str(out_dir / "site_addresses.txt"),
            "site_seed_addresses": str(out_dir / "site_seed_addresses.txt"),
            "truth_owner_wallet": str(out_dir / "truth_owner_wallet.parquet"),
            "truth_ad_tx": str(out_dir / "truth_ad_tx.parquet"),
        },
    }
