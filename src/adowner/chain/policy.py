"""The clustering heuristics, named in one place, and the policy that chooses them by name.

What it holds: every rule that ``chain cluster``, ``chain match`` and ``link --chain`` may apply
to the chain, with its kind, its source and what it can get wrong. A :class:`Policy` is a set of
these names, parsed from ``--heuristics multi_input,coinjoin_guard,known_payee_change``
(``coinjoin_guard`` stands for all CoinJoin rules), written into every output
(``clusters.parquet``'s schema metadata ``adowner.policy`` and the ``policy`` key of the JSON
summaries) and read back with :func:`read_policy`. Every link in the output names the rule that
made it (``<stem>_links.parquet``) and every transaction the guard left out names the CoinJoin
rule that fired (``<stem>_skipped.parquet``).

| name               | kind   | what it does                                    | source                  |
|--------------------|--------|-------------------------------------------------|-------------------------|
| multi_input        | link   | all input addresses of a transaction are one    | Meiklejohn et al., IMC  |
|                    |        | wallet's                                        | 2013 (heuristic 1);     |
|                    |        |                                                 | Nakamoto 2008, sec. 10  |
| wasabi_1           | guard  | Wasabi 1.x CoinJoin: >= 10 equal outputs near   | GraphSense (Stütz et    |
|                    |        | 0.1 BTC, all segwit                             | al., AFT 2022)          |
| wasabi_2           | guard  | Wasabi 2.0 (WabiSabi): >= 50 inputs, segwit,    | GraphSense (Stütz et    |
|                    |        | most outputs share a value                      | al., AFT 2022)          |
| whirlpool          | guard  | Samourai Whirlpool: 5-8 in = out, every output  | GraphSense (Stütz et    |
|                    |        | one pool denomination                           | al., AFT 2022)          |
| joinmarket         | guard  | JoinMarket: k >= 3 equal outputs + change       | Möser & Böhme 2017;     |
|                    |        |                                                 | GraphSense              |
| generic_coinjoin   | guard  | BlockSci's ``isCoinjoin``                       | Kalodner et al., USENIX |
|                    |        |                                                 | Security 2020           |
| known_payee_change | change | two outputs, one to a known payee: the other is | Meiklejohn et al. 2013  |
|                    |        | the payer's change                              | (known services)        |
| one_time_change    | change | the one output to a never-reused address is     | Meiklejohn et al. 2013  |
|                    |        | change                                          | (heuristic 2)           |

The rules themselves are in ``chain.coinjoin`` (guard) and ``chain.change`` (change); this
module only names them, so the command line, the output and the docs agree.

The default (:data:`adowner.defaults.CHAIN`) is ``multi_input,coinjoin_guard,known_payee_change``
for all three commands. Known-payee change needs the payee's addresses (the site's payment
addresses); where a command has none (``chain cluster`` without ``--payee-change``) the rule
is *inactive* and the output says so (``inactive`` in the written policy), so a default run
never pretends to have applied it.

Example::

    policy = Policy.parse("multi_input,coinjoin_guard")
    policy.guard_rules          # ('wasabi_1', 'wasabi_2', 'whirlpool', 'joinmarket', ...)
    Policy.from_json(policy.to_json()) == policy
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adowner.errors import InputError

METADATA_KEY = b"adowner.policy"


@dataclass(frozen=True)
class Heuristic:
    """One named rule: its kind (``link``, ``guard`` or ``change``), source and caveat."""

    name: str
    kind: str
    source: str
    caveat: str


HEURISTICS: dict[str, Heuristic] = {
    h.name: h
    for h in (
        Heuristic(
            "multi_input",
            "link",
            "Meiklejohn et al., 'A Fistful of Bitcoins', IMC 2013, heuristic 1",
            "wrong for CoinJoins and shared-custody spends (the guard rules below)",
        ),
        Heuristic(
            "wasabi_1",
            "guard",
            "GraphSense CoinJoin heuristics (Stütz et al., AFT 2022), Wasabi 1.x",
            "misses mixes far from the 0.1 BTC base denomination",
        ),
        Heuristic(
            "wasabi_2",
            "guard",
            "GraphSense CoinJoin heuristics (Stütz et al., AFT 2022), Wasabi 2.0 / WabiSabi",
            "can flag a large segwit batch payment with repeated values",
        ),
        Heuristic(
            "whirlpool",
            "guard",
            "GraphSense CoinJoin heuristics (Stütz et al., AFT 2022), Samourai Whirlpool pools",
            "only the four pool denominations (100k, 1M, 5M, 50M sat)",
        ),
        Heuristic(
            "joinmarket",
            "guard",
            "Möser & Böhme, 'Anonymous alone?', 2017; GraphSense's JoinMarket rule",
            "can flag a payroll-style batch of k equal payments with k change outputs",
        ),
        Heuristic(
            "generic_coinjoin",
            "guard",
            "BlockSci isCoinjoin (Kalodner et al., USENIX Security 2020)",
            "any equal-output pattern; misses unequal-output CoinJoins (PayJoin)",
        ),
        Heuristic(
            "known_payee_change",
            "change",
            "Meiklejohn et al. 2013 (change next to payments to tagged services)",
            "merges payer and a third party when one transaction pays both and has no change",
        ),
        Heuristic(
            "one_time_change",
            "change",
            "Meiklejohn et al. 2013, heuristic 2 (order-free variant, chain.change)",
            "builds super-clusters when payees use fresh addresses (exchanges, processors)",
        ),
    )
}

GROUPS: dict[str, tuple[str, ...]] = {
    "coinjoin_guard": tuple(n for n, h in HEURISTICS.items() if h.kind == "guard"),
}


@dataclass(frozen=True)
class Policy:
    """The heuristics applied, in :data:`HEURISTICS` order; ``inactive``: named but not applied."""

    heuristics: tuple[str, ...]
    inactive: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def parse(cls, spec: str | Iterable[str], *, field_name: str = "--heuristics") -> Policy:
        """A policy from ``"a,b,c"`` or a list of names (groups such as ``coinjoin_guard`` expand)."""
        names = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
        chosen: set[str] = set()
        for name in names:
            if not name:
                continue
            if name in GROUPS:
                chosen.update(GROUPS[name])
            elif name in HEURISTICS:
                chosen.add(name)
            else:
                known = ", ".join([*HEURISTICS, *GROUPS])
                raise InputError(f"unknown heuristic {name!r} (known: {known})", field=field_name)
        return cls(tuple(n for n in HEURISTICS if n in chosen))

    def has(self, name: str) -> bool:
        """Whether heuristic ``name`` is applied."""
        return name in self.heuristics

    @property
    def guard_rules(self) -> tuple[str, ...]:
        """The CoinJoin rules applied, in the order the guard tries them."""
        return tuple(n for n in self.heuristics if HEURISTICS[n].kind == "guard")

    def without(self, name: str, reason: str) -> Policy:
        """This policy with ``name`` made inactive (recorded with ``reason``)."""
        if name not in self.heuristics:
            return self
        return Policy(
            tuple(n for n in self.heuristics if n != name), (*self.inactive, (name, reason))
        )

    @property
    def spec(self) -> str:
        """The ``--heuristics`` string of this policy (groups written by their name)."""
        names = list(self.heuristics)
        for group, members in GROUPS.items():
            if all(m in names for m in members):
                at = names.index(members[0])
                names = [n for n in names if n not in members]
                names.insert(at, group)
        return ",".join(names)

    def to_json(self) -> dict[str, Any]:
        """What the outputs record: the spec, each rule with its kind and source, inactive ones."""
        return {
            "spec": self.spec,
            "heuristics": list(self.heuristics),
            "rules": {
                n: {"kind": HEURISTICS[n].kind, "source": HEURISTICS[n].source}
                for n in self.heuristics
            },
            "inactive": dict(self.inactive),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Policy:
        """The policy :meth:`to_json` wrote."""
        policy = cls.parse(obj["heuristics"])
        return cls(policy.heuristics, tuple((str(k), str(v)) for k, v in obj["inactive"].items()))


def read_policy(path: str | os.PathLike[str]) -> Policy:
    """The policy a ``clusters.parquet`` was made with: its schema metadata (the local engine's
    file) or, for the Spark engine's folder of part files, the ``policy`` of the JSON summary
    beside it (``clusters.json``)."""
    import pyarrow.parquet as pq

    if os.path.isdir(path):
        summary = os.path.splitext(os.fspath(path))[0] + ".json"
        try:
            with open(summary, encoding="utf-8") as fh:
                return Policy.from_json(json.load(fh)["policy"])
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(
                f"a clusters folder needs its summary {os.path.basename(summary)} beside it "
                f"with the policy ({type(exc).__name__})",
                path=str(path),
            ) from None
    meta = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in meta:
        raise InputError(
            "no clustering policy in this file (written before issue 17?)", path=str(path)
        )
    return Policy.from_json(json.loads(meta[METADATA_KEY]))
