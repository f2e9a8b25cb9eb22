"""Property-based fuzzing of every entry point that reads outside data (small, fixed budget).

Each target gets well-formed inputs, the same mutated (flips, cuts, inserts) and random bytes
(``tests/fuzz_harness.py``); it must work or raise one ``InputError`` line naming the file, and
what it quarantines must name file and row/line/offset. ``scripts/fuzz.py`` runs the same
targets for longer (atheris); the findings and fixes are in ``docs/RELIABILITY.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_harness as fh

BUDGET = settings(
    max_examples=50,
    deadline=None,
    # Seeded from each test, but Hypothesis also draws constants from the modules loaded, so
    # the inputs vary a little with which test files run first: a new failure is a finding.
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

pytestmark = pytest.mark.timeout(600)


# An ingest (a folder of Parquet parts and tables written and read back) or a model load costs
# about 0.1 s, the other calls a few ms: so fewer examples there, to keep this file near 45 s
# on two busy cores. The long runs are scripts/fuzz.py's.
EXAMPLES = {"chain": 25, "model": 20}


@pytest.mark.parametrize("name", sorted(fh.FILE_TARGETS))
def test_file_reader_fuzz(name: str) -> None:
    target = fh.FILE_TARGETS[name]

    @settings(BUDGET, max_examples=EXAMPLES.get(name.split("-")[0], 50))
    @given(target.strategy())
    def check(data: bytes) -> None:
        fh.run_in_tmp(target, data)

    check()


@BUDGET
@given(fh.csv_tables())
def test_csv_round_trip_any_delimiter_and_unicode_encoding(table) -> None:
    """A CSV written by ``csv.writer`` with any delimiter, in UTF-8 (BOM or not) or UTF-16 with
    a BOM, reads back cell for cell."""
    import tempfile

    from adowner.data.readers import read_table

    rows, delimiter, encoding = table
    if encoding not in ("utf-8", "utf-8-sig", "utf-16"):
        encoding = "utf-8"
    header = rows[0]
    if len(set(header)) != len(header) or not all(
        h.strip() and h == h.strip() and "\ufeff" not in h for h in header
    ):
        return  # duplicate or blank names are errors; stripped names do not round-trip
    rows = [[c.encode("utf-8", "replace").decode("utf-8") for c in r] for r in rows]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ads.csv"
        path.write_bytes(fh.encode_csv(rows, delimiter, encoding))
        table = read_table(path)
    if len(header) > 1:  # one column has no delimiter to find (any reads it the same)
        assert table.delimiter == delimiter
    assert table.quarantine == []
    got = table.frame.drop(columns="_row").values.tolist()
    assert got == [[c if c != "" else None for c in r] for r in rows[1:]]


# ------------------------------------------------------------------ the service


@pytest.fixture(scope="module")
def model_folder(tiny_backbone, tmp_path_factory) -> Path:
    from adowner.export.export import export_checkpoint
    from test_export_fixtures import generated_ads, make_checkpoint, make_prepared

    root = tmp_path_factory.mktemp("fuzz-model")
    prepared = make_prepared(root / "prepared")
    generated_ads(60, seed=2).to_parquet(prepared / "train.parquet", index=False)
    out = root / "tiny-model"
    export_checkpoint(
        make_checkpoint(tiny_backbone, root), out, data=prepared, onnx=True, hybrid=True
    )
    return out


@contextlib.contextmanager
def _service(folder: Path) -> Iterator[tuple[str, object, set[float]]]:
    import httpx

    import adowner
    from adowner.serve.app import create_app
    from test_serve import running

    encoder = adowner.load(folder, threads=1)
    with running(create_app(encoder, **fh.SERVE_LIMITS)) as base, httpx.Client() as client:
        yield base, client, set(encoder.hybrid_thresholds or encoder.thresholds)


@pytest.fixture(scope="module")
def service(model_folder: Path):
    with _service(model_folder) as s:
        yield s


def test_service_request_fuzz(service) -> None:
    base, client, fprs = service

    @BUDGET
    @given(fh.serve_cases())
    def check(case) -> None:
        endpoint, body, content_type = case
        fh.serve_request(client, base, endpoint, body, content_type, fprs)

    check()


# ------------------------------------------------------------------ the model-folder loader


@pytest.mark.parametrize("name", fh.MODEL_FILES)
def test_model_folder_fuzz(model_folder: Path, name: str) -> None:
    import tempfile

    @settings(BUDGET, max_examples=EXAMPLES["model"])
    @given(fh.model_file_bytes(model_folder, name))
    def check(blob: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            fh.load_model_with(model_folder, name, blob, Path(tmp))

    check()


# ------------------------------------------------------------------ what the fuzzing found
# Each input below broke its entry point before the fix named (docs/RELIABILITY.md).

FOUND = [
    # ads: random bytes in a CSV (pyarrow refused the lone surrogates of the header)
    ("ads-csv", __import__("random").Random(0).randbytes(20_000)),
    # ads: a list or an empty list as a value (ValueError from pd.isna)
    ("ads-jsonl", b'{"title": []}'),
    ("ads-jsonl", b'{"title": null, "sponsored": []}'),
    # ads: a lone-surrogate escape in a JSON string (pyarrow refused it)
    ("ads-jsonl", b'{"text": "bad \\ud800 escape"}\n{"text": "ok"}'),
    # chain: bytes that are not UTF-8 (UnicodeDecodeError)
    ("chain-hex", b"\x80"),
    ("chain-json", b"\x80"),
    ("chain-etl-csv", b"\x80"),
    # chain: an empty / non-Parquet file (ArrowInvalid)
    ("chain-etl-parquet", b""),
    # chain: an output index past int32 and a height of text (pyarrow refused the table)
    (
        "chain-jsonl",
        b'{"txid": "ab", "vin": [], "vout": [{"n": 1099511627776, "value": 1, "scriptPubKey": {}}]}\n'
        b'{"txid": "cd", "height": "x", "vin": [], "vout": []}',
    ),
    # rates: an empty file (EmptyDataError), a multi-line pandas message, inf, a day past 2262
    ("rates", b""),
    ("rates", b"\x00\n\x00\r,"),
    ("rates", b"timestamp,price_usd\r\n2015-07-01,inf\r\n"),
    ("rates", b"Date,Open,High,Low,Close\r\n2263-01-01 00:00:00,0.0,0.0,0.0,1.0\r\n"),
]


def _parquet_with_bad_utf8() -> bytes:
    """A Parquet file whose text column holds bytes that are not UTF-8 (Parquet does not check)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    title = pa.array([b"fine ad", b"bad \xff\xfe ad"], pa.binary()).view(pa.string())
    table = pa.table({"ad_id": ["1", "2"], "title": title})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


FOUND += [  # by scripts/fuzz.py (atheris), the first short run
    # ads: text that is not UTF-8 inside a Parquet file (UnicodeDecodeError from pyarrow)
    ("ads-parquet", _parquet_with_bad_utf8()),
    # ads: an XML declaration naming an unknown encoding (LookupError from expat)
    ("ads-xml", b'<?xml version="1.0" encoding="utf-1"?>\n<posts><row Id="1" /></posts>'),
    # ads: a date past 2262 beside an epoch value (pandas 3 parsed it at microsecond resolution
    # and refused it in the nanosecond column: AssertionError; the 10-minute run, 2026-12-03)
    ("ads-csv", b"text,owner,posted_at\r\nhi there,o1,-0\r\nbye now,o2,3507-01-01\r\n"),
]


def test_parquet_bad_utf8_rows_are_quarantined(tmp_path: Path) -> None:
    from adowner.data.prepare import load_ads
    from adowner.data.schema import DataConfig

    path = tmp_path / "ads.parquet"
    path.write_bytes(_parquet_with_bad_utf8())
    loaded = load_ads([path], config=DataConfig(show_progress=False))
    assert loaded.frame["ad_id"].tolist() == ["1"]
    assert [(q["row"], q["field"], q["reason"]) for q in loaded.quarantine] == [
        (2, "title", "invalid UTF-8")
    ]


@pytest.mark.parametrize(("name", "data"), FOUND)
def test_found_inputs(name: str, data: bytes) -> None:
    fh.run_in_tmp(fh.FILE_TARGETS[name], data)


FOUND_MODEL = [
    ("adowner.json", b"\x80"),
    ("adowner.json", b'{"embedding_dim": 16, "max_length": 64, "thresholds": [{"fpr": "x"}]}'),
    ("hybrid.json", b'{"version": 1, "features": ["cosine", "char", "pairwise"], "tfidf": null}'),
    ("model_ort.onnx", b"\x00"),
    ("tokenizer.json", b"{}"),
]


@pytest.mark.parametrize(("name", "data"), FOUND_MODEL)
def test_found_model_files(model_folder: Path, name: str, data: bytes, tmp_path: Path) -> None:
    fh.load_model_with(model_folder, name, data, tmp_path)


def test_found_rates_past_2262_interpolate() -> None:
    # rate_at converted to nanoseconds, which end in 2262 (OutOfBoundsDatetime)
    fh.run_in_tmp(fh.FILE_TARGETS["rates"], b"timestamp,price_usd\r\n2263-01-01 00:00:00,1.0\r\n")


def test_found_onnx_weights_giving_nan(model_folder: Path, tmp_path: Path) -> None:
    """A damaged weight (scripts/fuzz.py flipped bytes into a NaN) made embed() return NaN
    rows; now the load probe or embed() says the network file is damaged."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(model_folder / "model_ort.onnx"))
    for init in model.graph.initializer:
        w = numpy_helper.to_array(init)
        if w.dtype.kind == "f" and w.ndim == 2 and w.shape[0] > 1000:  # the word embeddings
            w = w.copy()
            w[:] = float("nan")
            init.CopyFrom(numpy_helper.from_array(w, init.name))
            break
    else:
        pytest.fail("no word-embedding initializer found")
    import shutil

    import adowner

    work = tmp_path / "model"
    shutil.copytree(model_folder, work)
    (work / "model_ort.onnx").write_bytes(model.SerializeToString())
    with pytest.raises(fh.InputError, match=r"non-finite embeddings .*model_ort.onnx.* damaged"):
        adowner.load(work, threads=1, backend="onnx")  # the load probe embeds two ads
