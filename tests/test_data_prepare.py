"""Readers, validation, quarantine accounting, prepare output and the `adowner prepare` CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adowner.cli import main
from adowner.data.prepare import load_ads, prepare
from adowner.data.schema import DataConfig
from adowner.errors import InputError

CFG = DataConfig(show_progress=False)


def _ads(n_owners: int = 12, per_owner: int = 4) -> pd.DataFrame:
    rows = []
    for o in range(n_owners):
        for k in range(per_owner):
            rows.append(
                {
                    "ad_id": f"a{o}-{k}",
                    "title": f"Owner {o} ad {k}",
                    "body": f"style{o} words {'x' * (o + 1)} number {k} call 202-555-01{o:02d}",
                    "posted_at": f"2014-01-{k + 1:02d}T10:00:00",
                    "price_usd": 100.0 + k,
                    "sponsored": k % 2 == 1,
                    "vendor": f"v{o}",
                }
            )
    return pd.DataFrame(rows)


def _write(df: pd.DataFrame, path) -> None:
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".parquet":
        df.to_parquet(path, index=False)
    elif suffix == ".xlsx":
        df.to_excel(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".xlsx"])
def test_reader_round_trip_all_formats(tmp_path, suffix):
    src = _ads(3, 2)
    path = tmp_path / f"ads{suffix}"
    _write(src, path)
    loaded = load_ads([path], column_map={"vendor": "owner"}, config=CFG)
    df = loaded.frame
    assert loaded.counts["read"] == 6
    assert loaded.counts["quarantined"] == 0
    assert loaded.owner_source == "column:owner"
    assert df["ad_id"].tolist() == src["ad_id"].tolist()
    assert df["owner"].tolist() == src["vendor"].tolist()
    assert df["title"].tolist() == src["title"].tolist()
    # the body is masked and the phone is kept as a hash
    assert all("[PHONE]" in b and "555" not in b for b in df["body"])
    assert all(len(p) == 1 for p in df["phones"])
    assert df["text"].iloc[0] == df["title"].iloc[0] + "\n" + df["body"].iloc[0]
    assert str(df["posted_at"].dt.tz) == "UTC"
    assert df["posted_at"].iloc[0] == pd.Timestamp("2014-01-01T10:00:00Z")
    assert df["price_usd"].tolist() == src["price_usd"].tolist()
    assert df["sponsored"].tolist() == src["sponsored"].tolist()


def test_text_only_files_and_epoch_timestamps(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"ad_id": "1", "text": "hello there", "posted_at": 1388534400}\n'
        '{"ad_id": "2", "text": "second ad", "posted_at": "2014-01-01T01:00:00+01:00"}\n',
        encoding="utf-8",
    )
    df = load_ads([path], config=CFG).frame
    assert df["text"].tolist() == ["hello there", "second ad"]
    assert (df["posted_at"] == pd.Timestamp("2014-01-01T00:00:00Z")).all()
    assert "owner" not in df.columns


BROKEN = (
    b"ad_id,title,body,posted_at,price_usd\n"
    b"1,Good ad,Fine body,2014-01-01,100\n"
    b"2,,,2014-01-01,100\n"  # empty text
    b"3,Bad time,body,not a date,100\n"  # unparseable timestamp
    b"4,Negative,body call 202-555-0143,2014-01-01,-5\n"  # negative price (phone in text)
    b"5,Words,body,2014-01-01,cheap\n"  # non-numeric price
    b"1,Duplicate id,body,2014-01-01,100\n"  # duplicate ad_id
    b"6,Long," + b"y" * 300 + b",2014-01-01,100\n"  # cut to max_chars, kept
    b"7,Ctrl\x07 chars,bo\x00dy,2014-01-01,100\n"  # control characters removed, kept
    b"8,Bad \xff\xfe bytes,body,2014-01-01,100\n"  # invalid UTF-8
    b"9,Too,many,fields,2014-01-01,100\n"  # malformed row
    b",No id,body,2014-01-01,100\n"  # missing ad_id
    b"10,Epoch,body,1388534400,\n"  # fine: epoch seconds, no price
)


def test_quarantine_accounting_on_broken_rows(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_bytes(BROKEN)
    out = tmp_path / "out"
    summary = prepare([path], out, config=DataConfig(max_chars=100, show_progress=False))
    assert summary["read"] == 12
    assert summary["read"] == summary["kept"] + summary["quarantined"]
    assert summary["kept"] == 4
    assert summary["quarantined_by_reason"] == {
        "empty text": 1,
        "unparseable timestamp": 1,
        "negative price": 1,
        "non-numeric price": 1,
        "duplicate ad_id": 1,
        "invalid UTF-8": 1,
        "malformed row": 1,
        "missing ad_id": 1,
    }
    assert summary["truncated"] == 1
    assert summary["control_chars_removed"] == 1
    records = [json.loads(line) for line in (out / "quarantine.jsonl").read_text().splitlines()]
    assert len(records) == summary["quarantined"]
    by_row = {r["row"]: r for r in records}
    assert by_row[4]["field"] == "price_usd"
    assert by_row[4]["file"] == str(path)
    assert "[PHONE]" in by_row[4]["text_masked"]
    assert "555" not in (out / "quarantine.jsonl").read_text()
    assert by_row[9]["field"] == "title"
    kept = pd.concat(pd.read_parquet(out / f"{s}.parquet") for s in ("train", "val", "test"))
    assert sorted(kept["ad_id"]) == ["1", "10", "6", "7"]
    assert kept.set_index("ad_id").loc["7", "text"] == "Ctrl chars\nbody"
    assert len(kept.set_index("ad_id").loc["6", "text"]) == 100


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "file is empty"),
        (b"ad_id,title\n", "header.csv", "no rows"),
        (b"PK\x03\x04garbage", "bad.parquet", "not a readable Parquet file"),
        (b"ad_id,foo\n1,2\n", "nocol.csv", "missing column"),
        (b"x", "ads.docx", "unsupported format"),
        (b"PK\x03\x04garbage", "bad.xlsx", "not a readable XLSX file"),
        (b"<html><body>no</body></html>", "posts.xml", "Posts.xml"),
    ],
)
def test_unusable_files_raise_one_line_input_error(tmp_path, content, name, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as err:
        load_ads([path], config=CFG)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_owner_column_option(tmp_path):
    df = _ads(3, 2)
    df["true_owner"] = df["vendor"].str.upper()
    path = tmp_path / "ads.parquet"
    df.to_parquet(path)
    loaded = load_ads([path], config=DataConfig(owner_column="true_owner", show_progress=False))
    assert loaded.owner_source == "column:true_owner"
    assert loaded.frame["owner"].tolist() == df["true_owner"].tolist()
    with pytest.raises(InputError, match="--owner-column 'nope'"):
        load_ads([path], config=DataConfig(owner_column="nope", show_progress=False))


def test_prepare_derives_owners_and_writes_contract(tmp_path):
    df = _ads(20, 3).drop(columns=["vendor"])
    df["true_owner"] = [f"t{i // 6}" for i in range(len(df))]
    path = tmp_path / "ads.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "prep"
    summary = prepare([path], out, config=CFG)
    assert summary["owner_source"] == "identifiers"
    assert summary["owners"] == 20  # one phone per owner
    assert summary["owners_by_joining_identifier"] == {"phones": 20}
    parts = {s: pd.read_parquet(out / f"{s}.parquet") for s in ("train", "val", "test")}
    for part in parts.values():
        for col in ("ad_id", "text", "title", "body", "owner", "dup_group", "posted_at"):
            assert col in part.columns
        assert "true_owner" in part.columns
        assert part["owner"].map(type).eq(str).all()
    allp = pd.concat(parts.values())
    assert len(allp) == summary["written"] == 60
    # true_owner is carried untouched and is not what defined `owner`
    assert sorted(allp["true_owner"].unique()) == sorted(df["true_owner"].unique())
    assert summary["true_owners"] == 10
    assert summary["owners_pure_in_true_owner"] == 1.0
    assert sum(s["owners"] for s in summary["splits"].values()) == 20
    assert "555" not in "".join(allp["text"])


def test_cli_prepare_and_bad_file_error(tmp_path, capsys):
    path = tmp_path / "ads.csv"
    _ads(10, 3).to_csv(path, index=False)
    out = tmp_path / "prep"
    rc = main(["prepare", str(path), "--out", str(out), "--map", "vendor=owner", "--no-progress"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["owner_source"] == "column:owner"
    assert summary["owners"] == 10
    assert summary["read"] == 30
    capsys.readouterr()

    bad = tmp_path / "empty.csv"
    bad.write_text("")
    rc = main(["prepare", str(bad), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0
    assert "Traceback" not in err
    assert str(bad) in err
    assert "empty" in err
    assert not (tmp_path / "x").exists()

    rc = main(["prepare", str(path), "--out", str(out), "--map", "nosuch=owner"])
    assert rc == 2
    assert "nosuch" in capsys.readouterr().err


def test_cli_help_documents_adapters(capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    text = capsys.readouterr().out
    for word in ("--adapter", "agora", "beer", "--owner-column", "true_owner", "--map"):
        assert word in text


def test_masking_resumes_from_checkpoints(tmp_path, monkeypatch):
    import adowner.data.prepare as prep

    path = tmp_path / "ads.csv"
    _ads(4, 3).to_csv(path, index=False)
    ckpt = tmp_path / "ckpt"
    first = load_ads([path], config=CFG, checkpoint_dir=ckpt)
    assert list(ckpt.glob("mask-*.parquet"))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "_mask_block", interrupted)
    again = load_ads([path], config=CFG, checkpoint_dir=ckpt)  # every block comes from disk
    pd.testing.assert_frame_equal(first.frame, again.frame)
    with pytest.raises(KeyboardInterrupt):  # other settings, other checkpoints
        load_ads([path], config=DataConfig(salt="other", show_progress=False), checkpoint_dir=ckpt)
    monkeypatch.undo()
    prepare([path], tmp_path / "out", config=CFG)
    assert not (tmp_path / ".out.checkpoints").exists()


@pytest.mark.slow
def test_prepare_on_the_simulated_marketplace(tmp_path):
    import re

    from adowner.data.identifiers import _deobfuscate
    from adowner.simulate.run import run_simulation

    market = tmp_path / "sim"
    run_simulation(market, n_owners=30, seed=3, chain=False, progress=False)
    raw = pd.read_parquet(market / "ads.parquet")
    summary = prepare([market / "ads.parquet"], tmp_path / "prep", config=CFG)
    assert summary["owner_source"] == "identifiers"
    assert summary["read"] == len(raw) == summary["kept"] + summary["quarantined"]
    df = pd.concat(
        pd.read_parquet(tmp_path / "prep" / f"{s}.parquet") for s in ("train", "val", "test")
    )
    # every simulated number (fictional NXX-555-01xx, however obfuscated) is masked
    for text in df["text"]:
        assert not re.search(r"555\D{0,3}01\d\d", _deobfuscate(text)[0]), text
    # true_owner is carried through untouched; derived owners rarely mix true owners
    truth = raw.set_index("ad_id")["true_owner"]
    assert (df.set_index("ad_id")["true_owner"] == truth.loc[df["ad_id"]]).all()
    assert summary["owners_pure_in_true_owner"] >= 0.95
    assert summary["owners"] >= raw["true_owner"].nunique()  # burner phones split owners


def test_cli_config_file_and_unknown_setting(tmp_path, capsys):
    from conftest import REPO

    path = tmp_path / "ads.csv"
    _ads(6, 2).to_csv(path, index=False)
    config = REPO / "configs" / "prepare" / "default.yaml"
    out = tmp_path / "prep"
    argv = ["prepare", str(path), "--out", str(out), "--config", str(config), "--no-progress"]
    assert main([*argv, "--seed", "3"]) == 0
    assert json.loads((out / "summary.json").read_text())["config"]["seed"] == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("owners_per_batch: 4\n")
    assert main(["prepare", str(path), "--out", str(out), "--config", str(bad)]) == 2
    assert "unknown data setting" in capsys.readouterr().err


_CELL = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["", " ", "2014-01-01", "1388534400", "-3", "abc", "1e400", "\x00\x07", "x"]),
)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(_CELL, _CELL, _CELL, _CELL, _CELL), min_size=1, max_size=12))
def test_any_rows_are_kept_or_quarantined_never_lost(rows):
    import tempfile
    from pathlib import Path

    df = pd.DataFrame(rows, columns=["ad_id", "title", "body", "posted_at", "price_usd"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ads.jsonl"
        df.to_json(path, orient="records", lines=True, force_ascii=False)
        loaded = load_ads([path], config=CFG)
    counts = loaded.counts
    assert counts["read"] == len(df) == counts["kept"] + counts["quarantined"]
    assert len(loaded.frame) == counts["kept"]
    assert loaded.frame["ad_id"].is_unique
    assert (loaded.frame["text"].str.len() > 0).all()
    assert (loaded.frame["price_usd"].dropna() >= 0).all()


def test_prepare_with_no_usable_row_is_a_one_line_error(tmp_path):
    path = tmp_path / "ads.csv"
    path.write_text("ad_id,title,body\n1,,\n2, , \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no usable rows: all 2 quarantined \(empty text: 2\)"):
        prepare([path], tmp_path / "out", config=CFG)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ CSV dialects and encodings


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "cp1252"])
def test_csv_delimiter_and_encoding_are_sniffed(tmp_path, delimiter, encoding):
    from adowner.data.readers import read_table

    rows = [
        ["ad_id", "title", "body", "owner"],
        ["1", "Café crème", "Größe, 50 £; naïve | “quoted”", "o1"],
        ["2", "Second ad", "plain body", "o1"],
        ["3", "Third", 'has "quotes" and, commas', "o2"],
    ]
    lines = [
        delimiter.join(f'"{c}"' if ('"' in c or delimiter in c) else c for c in r)
        for r in ([[c.replace('"', '""') for c in r] for r in rows])
    ]
    text = "\r\n".join(lines) + "\r\n"
    path = tmp_path / "ads.csv"
    path.write_bytes(text.encode(encoding))
    table = read_table(path)
    assert table.delimiter == delimiter
    assert table.frame.columns.tolist() == ["ad_id", "title", "body", "owner", "_row"]
    assert table.frame["body"].tolist() == [r[2] for r in rows[1:]]
    assert table.quarantine == []


def test_mostly_utf8_file_quarantines_only_its_bad_rows(tmp_path):
    path = tmp_path / "ads.csv"
    path.write_bytes(
        "ad_id;title;body\n1;Café;bien\n2;Bad \xff\xfe;bytes\n3;naïve;ok\n".encode("latin-1")
        .replace(b"Caf\xe9", "Café".encode())
        .replace(b"na\xefve", "naïve".encode())
    )
    loaded = load_ads([path], config=CFG)
    assert loaded.frame["ad_id"].tolist() == ["1", "3"]
    assert [(q["row"], q["field"], q["reason"]) for q in loaded.quarantine] == [
        (2, "title", "invalid UTF-8")
    ]


def test_csv_of_random_bytes_is_a_one_line_error(tmp_path):
    import random

    rng = random.Random(0)
    for k in range(3):
        path = tmp_path / f"r{k}.csv"
        path.write_bytes(rng.randbytes(20_000))
        with pytest.raises(InputError) as err:
            prepare([path], tmp_path / f"out{k}", config=CFG)
        assert str(path) in str(err.value)
        assert "\n" not in str(err.value)
        assert not (tmp_path / f"out{k}").exists()


def test_jsonl_lone_surrogate_escape_is_quarantined(tmp_path):
    path = tmp_path / "ads.jsonl"
    path.write_text(
        '{"ad_id": "1", "text": "fine"}\n{"ad_id": "2", "text": "bad \\ud800 escape"}\n'
        '{"ad_id": "3", "text": "ok", "posted_at": "2014-01-01\\udcff"}\n',
        encoding="utf-8",
    )
    loaded = load_ads([path], config=CFG)
    assert loaded.frame["ad_id"].tolist() == ["1"]
    assert sorted((q["row"], q["field"]) for q in loaded.quarantine) == [
        (2, "text"),
        (3, "posted_at"),
    ]


def test_agora_is_detected_through_a_semicolon_header(tmp_path):
    from adowner.data.adapters import detect_adapter

    path = tmp_path / "listings.csv"
    path.write_text("\ufeffvendor;product;description\nv;p;d\n", encoding="utf-8")
    assert detect_adapter(path) == "agora"


def test_times_past_2262_are_unparseable_not_an_error():
    import pandas as pd

    from adowner.data.validate import parse_timestamps

    got = parse_timestamps(pd.Series(["-0", "3507-01-01", "2015-07-01T12:00:00Z", "Jan 5 2014"]))
    assert str(got.dtype) == "datetime64[ns, UTC]"
    assert got.isna().tolist() == [False, True, False, False]
    assert got.iloc[2] == pd.Timestamp("2015-07-01 12:00", tz="UTC")
