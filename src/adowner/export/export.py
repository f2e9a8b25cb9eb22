"""``adowner export``: a training checkpoint -> one portable model folder.

Steps, in order, all inside a temporary folder that is renamed onto ``out`` only at the end
(:func:`adowner._io.atomic_dir`), so an interrupted export never leaves a half folder at
``out`` (an existing folder there is replaced only by a complete new one):

1. load the encoder from the checkpoint (:func:`adowner.model.checkpoint.load_encoder`);
2. write the Hugging Face + sentence-transformers files and ``adowner.json``
   (:func:`adowner.export.folder.write_folder`);
3. with ``onnx``: write ``model.onnx`` and check its parity with PyTorch on generated texts and
   validation ads (cosine >= ``ONNX_MIN_COSINE`` for every text, else the export fails);
4. with ``data``: embed the validation split (``DATA/val.parquet``) with the folder itself (its
   ONNX network when there is one, else PyTorch; fp32 on every machine) and calibrate
   same-owner thresholds at FPR 1% and 0.1% (:mod:`adowner.export.calibrate`);
5. with ``hybrid`` (needs ``data``): fit the hybrid same-owner scorer
   (:mod:`adowner.scoring.hybrid`: the model's cosine fused with character n-grams, the
   paper's pairwise features and, unless ``hybrid_location=False``, the ads' locations where
   val has them; TF-IDF and pairwise classifier on ``DATA/train.parquet``, the combiner on val) and calibrate its thresholds on held-out val folds; written as plain JSON
   to ``hybrid.json`` (no pickles). Steps 4 and 5 share one loaded folder, which embeds each
   ad once (:class:`adowner.evaluation.scorer.MemoEmbedder`);
6. write the model card ``README.md`` (:mod:`adowner.export.card`).

Example::

    export_checkpoint("runs/minilm-agora/checkpoints/best.ckpt", "runs/export/adowner-minilm-agora",
                      data="runs/prepared/agora", onnx=True,
                      metrics=["runs/compare-agora/table.csv"])
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

from adowner._io import atomic_dir
from adowner.errors import AdownerError, InputError
from adowner.log import get_logger

log = get_logger(__name__)

ONNX_MIN_COSINE = 0.9999
# Parity texts that need no data: short and long, case, emoji, punctuation runs, non-ASCII.
PARITY_TEXTS = [
    "hi",
    "NEW IN TOWN!!! sweet and discreet, call me now",
    "Tramadol 50 mg x 100 (USA ONLY SPECIAL FREE SHIP) High quality generic. " * 6,
    "💋💋 Sexy Latina 💋 available 24/7 ... incall/outcall ¶ [PHONE] ¶ no texts",
    "Très belle fille, disponible ce soir. Appelez-moi ☎ [PHONE]",
    "a " * 300,
]


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    onnx: bool = False,
    int8: bool = False,
    hybrid: bool = False,
    hybrid_location: bool = True,
    metrics: list[str | os.PathLike[str]] | None = None,
    metrics_model: str | None = None,
    dataset: str | None = None,
    training_data: str | None = None,
    card_template: str | os.PathLike[str] | None = None,
    extra_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Export ``checkpoint`` into the folder ``out``; return its ``adowner.json`` (with
    ``extra_meta`` merged in, e.g. ``distillation`` from ``adowner distill``)."""
    from adowner.evaluation.scorer import LoadedEmbedder, MemoEmbedder
    from adowner.export import card
    from adowner.export.folder import update_config, write_folder
    from adowner.export.inference import load
    from adowner.model.checkpoint import load_encoder

    out = Path(out)
    val = _read_val(Path(data)) if data is not None else None
    if hybrid and data is None:
        raise InputError(
            "--hybrid needs --data (a prepared folder with train and val)", field="--hybrid"
        )
    train = _read_split(Path(data), "train") if hybrid and data is not None else None
    template = Path(card_template) if card_template else card.TEMPLATE
    if not template.is_file():
        raise InputError(
            "model card template not found", path=str(template), field="--card-template"
        )
    encoder = load_encoder(Path(checkpoint))
    with atomic_dir(out) as tmp:
        config = write_folder(
            encoder,
            tmp,
            meta={
                "model_id": out.name,
                "source_checkpoint": str(checkpoint),
                "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                **(extra_meta or {}),
            },
        )
        if int8 and not onnx:
            raise InputError("--int8 quantises model.onnx: give --onnx too", field="--int8")
        if onnx:  # first, so that calibration runs on the backend `adowner.load` picks
            config = update_config(tmp, onnx=_onnx(encoder, tmp, val, int8=int8))
        if val is not None:
            # one loaded folder for the cosine thresholds and the hybrid: val is embedded once
            # fp32 whatever this CPU has: the folder's thresholds do not depend on the machine
            # that exported it
            backend = "onnx" if onnx else "torch"
            enc = MemoEmbedder(
                LoadedEmbedder(load(tmp, backend=backend, precision="fp32"), name=out.name)
            )
            config = update_config(tmp, **_calibrate(enc, val, Path(str(data))))
            if int8:
                config = update_config(
                    tmp, onnx={**config["onnx"], "int8_gate": _int8_gate(enc, tmp, val)}
                )
            if train is not None:
                config = update_config(
                    tmp, hybrid=_hybrid(enc, tmp, train, val, Path(str(data)), hybrid_location)
                )
        text = card.render_card(
            config,
            metrics=[Path(m) for m in metrics or []],
            metrics_model=metrics_model,
            dataset=dataset or (Path(data).name if data else "adowner-validation"),
            training_data=training_data,
            template=template,
        )
        (tmp / "README.md").write_text(text, encoding="utf-8")
        _readable(tmp)
    log.info("exported %s to %s", checkpoint, out)
    return config


def _read_val(data: Path) -> Any:
    return _read_split(data, "val")


def _read_split(data: Path, name: str) -> Any:
    from adowner.io.splits import read_split

    return read_split(data / f"{name}.parquet", required=("text", "owner"), field="--data")


def _calibrate(enc: Any, val: Any, data: Path) -> dict[str, Any]:
    from adowner.export.calibrate import calibrate

    emb = enc.embed(val["text"].fillna("").astype(str).tolist(), progress=True)
    dup = val["dup_group"].astype(str).to_numpy() if "dup_group" in val.columns else None
    result = calibrate(emb, val["owner"].astype(str).to_numpy(), dup)
    for t in result["thresholds"]:
        log.info(
            "cosine threshold for FPR %.3g is %.4f (TPR %.3f on %d ads)",
            t["fpr"],
            t["threshold"],
            t["tpr"],
            len(val),
        )
    calibration = {
        "data": str(data / "val.parquet"),
        "ads": len(val),
        "owners": int(val["owner"].nunique()),
        "pairs": result["pairs"],
        "roc_auc": result["roc_auc"],
        "method": "sklearn roc_curve; highest TPR with FPR <= target; pairs from "
        "adowner.scoring.pairs.sample_pairs",
    }
    return {"thresholds": result["thresholds"], "calibration": calibration}


#: issue 18: int8 is offered only where TPR@1% and R-Precision stay within this of fp32
INT8_OFFER_DROP = 0.005


def _int8_gate(enc: Any, folder: Path, val: Any) -> dict[str, Any]:
    """Whether ``model_qint8.onnx`` may be offered for *this* model: TPR@1% and R-Precision of
    the validation split, int8 against fp32 (the same folder's ONNX fp32 embedding, ``enc``).

    Quantisation error depends on the weights (the untuned MiniLM lost 0.035 TPR@1% on escort
    ads, a model fine-tuned on them lost none: docs/RESULTS.md), so the gate is measured per
    exported model, not once for the project. Offered only where neither figure drops by
    more than :data:`INT8_OFFER_DROP`; ``auto`` never picks int8 either way.
    """
    from adowner.evaluation.metrics import retrieval_metrics
    from adowner.export.calibrate import calibrate
    from adowner.export.inference import load

    texts = val["text"].fillna("").astype(str).tolist()
    owners = val["owner"].astype(str).to_numpy()
    dup = val["dup_group"].astype(str).to_numpy() if "dup_group" in val.columns else None
    figures: dict[str, dict[str, float]] = {}
    # the loader warns that int8 is unmeasured for this model: true until this gate is written
    quiet = logging.getLogger("adowner.export.inference")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        int8_enc = load(folder, precision="int8")
    finally:
        quiet.setLevel(level)
    for name, emb in (("fp32", enc.embed(texts)), ("int8", int8_enc.embed(texts))):
        tpr = calibrate(emb, owners, dup, fprs=[0.01])["thresholds"][0]["tpr"]
        try:
            rp = retrieval_metrics(emb, owners, dup)["r_precision"]
        except ValueError:  # no owner with two ads: R-Precision undefined
            rp = float("nan")
        figures[name] = {"tpr@fpr=0.01": float(tpr), "r_precision": float(rp)}
    drops = {k: figures["fp32"][k] - figures["int8"][k] for k in figures["fp32"]}
    offered = all(d <= INT8_OFFER_DROP for d in drops.values())  # NaN compares False
    log.info(
        "int8 on val: TPR@1%% %.3f vs fp32 %.3f, R-Precision %.3f vs %.3f -> %s",
        figures["int8"]["tpr@fpr=0.01"],
        figures["fp32"]["tpr@fpr=0.01"],
        figures["int8"]["r_precision"],
        figures["fp32"]["r_precision"],
        "offered" if offered else f"NOT offered (a drop over {INT8_OFFER_DROP})",
    )
    return {
        "data": "val",
        "ads": len(val),
        **figures,
        "offered": bool(offered),
        "rule": f"offered only where TPR@1% and R-Precision on the validation split each drop "
        f"by at most {INT8_OFFER_DROP} against fp32",
    }


def _hybrid(
    enc: Any, folder: Path, train: Any, val: Any, data: Path, use_location: bool = True
) -> dict[str, Any]:
    from adowner._io import write_json
    from adowner.export.inference import HYBRID_NAME
    from adowner.scoring.hybrid import Hybrid

    h = Hybrid(enc, name=f"hybrid:{folder.name}", use_location=use_location)
    for df in (train, val):
        if "dup_group" not in df.columns:
            df["dup_group"] = df.index.astype(str)
    h.fit(train, val)
    cal = h.calibrate(val)
    for t in cal["thresholds"]:
        log.info(
            "hybrid threshold for FPR %.3g is %.4f (TPR %.3f, held out)",
            t["fpr"],
            t["threshold"],
            t["tpr"],
        )
    state = h.state()  # sorts the whole TF-IDF vocabulary: build it once
    write_json({**state, "thresholds": cal["thresholds"]}, folder / HYBRID_NAME)
    return {
        "file": HYBRID_NAME,
        "features": list(state["features"]),
        "weights": [float(w) for w in h.combiner.coef] if h.combiner is not None else [],
        "thresholds": cal["thresholds"],
        "calibration": {
            "train": str(data / "train.parquet"),
            "val": str(data / "val.parquet"),
            "pairs": cal["pairs"],
            "roc_auc": cal["roc_auc"],
            "method": cal["method"],
        },
    }


def _onnx(encoder: Any, folder: Path, val: Any, *, int8: bool = False) -> dict[str, Any]:
    from adowner.export.inference import ONNX_FUSED_NAME, ONNX_INT8_NAME, ONNX_NAME
    from adowner.export.onnx_export import OPSET, export_onnx, fuse_for_ort, parity, quantize_int8

    path = export_onnx(encoder, folder / ONNX_NAME)
    fused = fuse_for_ort(encoder, path, folder / ONNX_FUSED_NAME)
    texts = encoder.normalizer.normalize_batch(PARITY_TEXTS)
    if val is not None:
        texts += encoder.normalizer.normalize_batch(val["text"].astype(str).head(64).tolist())
    info: dict[str, Any] = {"file": path.name, "opset": OPSET}
    for key, file in (("", path), ("fused_", fused)):
        if file is None:
            continue
        check = parity(encoder, file, texts)
        log.info(
            "%s parity: min cosine %.6f over %d texts",
            file.name,
            check["min_cosine"],
            check["texts"],
        )
        if check["min_cosine"] < ONNX_MIN_COSINE:
            raise AdownerError(
                f"{file.name} does not match PyTorch: min cosine {check['min_cosine']:.6f} < {ONNX_MIN_COSINE}"
            )
        info.update({f"{key}{k}": v for k, v in check.items()})
        if key:
            info["fused_file"] = file.name
    if int8:
        # int8 is lossy by design: its cosine is recorded, not held to ONNX_MIN_COSINE; whether
        # it may be offered is decided on authorship metrics (docs/RESULTS.md, issue 18)
        qfile = quantize_int8(path, folder / ONNX_INT8_NAME)
        check = parity(encoder, qfile, texts)
        log.info("%s: min cosine %.4f vs PyTorch fp32", qfile.name, check["min_cosine"])
        info.update({"int8_file": qfile.name, **{f"int8_{k}": v for k, v in check.items()}})
    return info


def _readable(folder: Path) -> None:
    """Give the folder the usual permissions (temporary files are created owner-only)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
