"""``adowner simulate``: simulate the marketplace, write it, then its chain, then a summary."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from adowner.errors import InputError
from adowner.log import get_logger

log = get_logger(__name__)


def run_simulation(
    out: Path,
    *,
    chain: bool = True,
    difficulty: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Write the synthetic marketplace to the folder ``out`` (replaced as a whole, atomically)
    and return the summary (``truth.json``).

    ``settings`` are the fields of ``marketplace.SimConfig`` (``n_owners``, ``seed``,
    ``operator_share``, ``start``, ``days``, ``progress``, ...; defaults from
    ``adowner.defaults.SIMULATE``), checked here.

    With ``chain``, calls ``adowner.simulate.chain.simulate_chain(ads, owners, out / "chain",
    seed)`` (the Bitcoin side); its returned dict is kept in the summary under ``"chain"``.
    With ``difficulty``, measures char n-gram TF-IDF same-owner retrieval
    (``difficulty.char_ngram_retrieval``) on the raw texts, on the texts with identifiers masked,
    and on masked texts without reposts, and writes ``out/difficulty.json``.
    """
    from adowner._io import atomic_dir, write_json
    from adowner.simulate.marketplace import SimConfig, simulate_marketplace, write_marketplace

    config = SimConfig(**settings)
    if config.n_owners < 1:
        raise InputError(f"must be at least 1, got {config.n_owners}", field="--owners")
    if not 0.0 <= config.operator_share <= 1.0:
        share = config.operator_share
        raise InputError(f"must be in [0, 1], got {share}", field="--operator-share")
    if config.days < 1:
        raise InputError(f"must be at least 1, got {config.days}", field="--days")
    try:
        date.fromisoformat(config.start)
    except ValueError:
        raise InputError(f"not a YYYY-MM-DD date: {config.start!r}", field="--start") from None

    market = simulate_marketplace(config)
    summary = market.summary
    # The whole folder is replaced at once: no stale chain/ beside new ads, and an interrupted
    # run leaves the previous folder as it was.
    with atomic_dir(out) as tmp:
        write_marketplace(market, tmp)
        if chain:
            try:
                from adowner.simulate.chain import simulate_chain
            except ImportError as exc:
                log.warning("chain simulator not available (%s); wrote the ads side only", exc)
            else:
                chain_summary = simulate_chain(
                    market.ads, market.owners, tmp / "chain", config.seed
                )
                summary["chain"] = _relocate(chain_summary, str(tmp), str(out))
        if difficulty:
            summary["difficulty"] = measure_difficulty(market)
            write_json(summary["difficulty"], tmp / "difficulty.json")
        write_json(summary, tmp / "truth.json")
    log.info(
        "wrote %d ads by %d owners (%s) to %s",
        summary["ads"],
        config.n_owners,
        ", ".join(f"{v} {k}" for k, v in summary["owners"].items()),
        out,
    )
    _print_summary(summary, out)
    return summary


def measure_difficulty(market: Any) -> dict[str, dict[str, float]]:
    """Char n-gram TF-IDF same-owner retrieval (``difficulty.char_ngram_retrieval``) on:

    - ``raw``: title and body as written, identifiers included;
    - ``masked``: identifiers replaced by typed tokens (as ``prepare`` does);
    - ``masked_no_reposts``: masked, reposts left out (as ``prepare``'s dedup roughly does);
    - ``masked_no_reposts_operators``: the same, only operators' ads as queries;
    - ``masked_no_reposts_personas``: the same, with personas as the labels (what labels from
      shared identifiers can at best recover).
    """
    from adowner.simulate.difficulty import char_ngram_retrieval

    ads, truth = market.ads, market.ad_truth
    raw = (ads["title"] + "\n" + ads["body"]).tolist()
    owners = ads["true_owner"].tolist()
    fresh = truth["repost_of"].isna().to_numpy()
    fresh_texts = truth["text_masked"][fresh].tolist()
    fresh_owners = ads["true_owner"][fresh].tolist()
    return {
        "raw": char_ngram_retrieval(raw, owners),
        "masked": char_ngram_retrieval(truth["text_masked"].tolist(), owners),
        "masked_no_reposts": char_ngram_retrieval(fresh_texts, fresh_owners),
        "masked_no_reposts_operators": char_ngram_retrieval(
            fresh_texts, fresh_owners, queries=(truth["kind"][fresh] == "operator").tolist()
        ),
        "masked_no_reposts_personas": char_ngram_retrieval(
            fresh_texts, truth["persona_id"][fresh].tolist()
        ),
    }


def _relocate(obj: Any, old: str, new: str) -> Any:
    """``obj`` with every string path under the temporary folder ``old`` moved to ``new``."""
    if isinstance(obj, str):
        return new + obj[len(old) :] if obj.startswith(old) else obj
    if isinstance(obj, dict):
        return {k: _relocate(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_relocate(v, old, new) for v in obj]
    return obj


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    labels = summary["identifier_labels"]
    table = Table(title=f"adowner simulate → {out}", show_header=False)
    table.add_row("ads", str(summary["ads"]))
    table.add_row("owners", ", ".join(f"{v} {k}" for k, v in summary["owners"].items()))
    table.add_row("personas", str(summary["personas"]))
    apo = summary["ads_per_owner"]
    table.add_row(
        "ads per owner", f"median {apo['median']:g}, mean {apo['mean']:.1f}, max {apo['max']}"
    )
    table.add_row("ads with a phone", f"{summary['ads_with_phone']:.1%}")
    table.add_row("reposts", f"{summary['reposts']:.1%}")
    table.add_row(
        "identifier labels",
        f"{labels['derived_owners']} derived vs {labels['true_owners']} true owners; "
        f"pair precision {labels['pair_precision']:.3f}, recall {labels['pair_recall']:.3f}",
    )
    if "chain" in summary:
        table.add_row("chain", f"written to {out / 'chain'}")
    for name, d in summary.get("difficulty", {}).items():
        table.add_row(
            f"tf-idf char ({name})",
            f"P@1 {d['p_at_1']:.3f}, R-Precision {d['r_precision']:.3f} "
            f"(random {d['random_r_precision']:.3f})",
        )
    Console().print(table)
