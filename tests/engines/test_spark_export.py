"""Audience exports on Spark: the same audience, exclusions and counts as on DuckDB, written
atomically as a folder; ``segmint export --engine spark``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from segmint.activate import build_audiences, export_audiences
from segmint.exceptions import ConfigError, InputError

ORDER = ["channel", "segment_id", "customer_id"]
N_DROPPED = 150  # customers left out of the CRM export: unknown customers
TEXT_SMS = ["yes", "no", "Y", "n", "unknown", "1", "0", "TRUE", "maybe"]


@pytest.fixture(scope="module")
def run(retail_files, config_for, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB run of the engines' demo retailer (what is exported does not depend on how the
    segments were found)."""
    from segmint.pipeline import run_segmentation

    out = tmp_path_factory.mktemp("export-run") / "out"
    run_segmentation(
        retail_files["transactions_parquet"],
        out,
        customers=retail_files["customers"],
        config=config_for("duckdb"),
    )
    return out


@pytest.fixture(scope="module")
def crm(retail_files, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A CRM export that exercises every part of the rule.

    The last customers are missing (``unknown_customer``); one customer has an impossible age,
    so the customer-table validation quarantines it (``unknown_customer`` as well); the SMS
    consent is free text (``yes``, ``Y``, ``unknown``, ...: a text column, not BOOLEAN); the app
    consent holds dates (a DATE column: no value is a consent).
    """
    customers = pd.read_csv(retail_files["customers"], dtype={"customer_id": str})
    kept = customers.iloc[:-N_DROPPED].copy()
    kept["sms_consent"] = [TEXT_SMS[i % len(TEXT_SMS)] for i in range(len(kept))]
    kept["app_consent"] = pd.Timestamp("2024-03-01").strftime("%Y-%m-%d")
    kept.loc[kept.index[3], "age"] = 200
    folder = tmp_path_factory.mktemp("crm")
    kept.to_csv(folder / "crm.csv", index=False)
    kept.to_parquet(folder / "crm.parquet", index=False)
    return {
        "csv": folder / "crm.csv",
        "parquet": folder / "crm.parquet",
        "frame": kept,
        "quarantined": kept["customer_id"].iloc[3],
    }


def _parts(folder: Path) -> pd.DataFrame:
    """The CSV part files of a Spark output folder as one frame."""
    parts = sorted(folder.glob("part-*.csv"))
    assert parts, f"no part files in {folder}"
    frames = [pd.read_csv(p, dtype={"customer_id": str}) for p in parts]
    return pd.concat(frames, ignore_index=True)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(ORDER, ignore_index=True)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(("channel", "fmt"), [("email", "csv"), ("all", "csv"), ("sms", "parquet")])
def test_spark_export_equals_the_duckdb_export(spark, run, crm, tmp_path, channel, fmt):
    from segmint.engines import export_audiences_spark

    duck = export_audiences(run, channel, to=tmp_path / "duck.parquet", customers=crm[fmt])
    got = export_audiences_spark(
        run, channel, to=tmp_path / "spark.parquet", customers=crm[fmt], spark=spark
    )
    written = pd.read_parquet(tmp_path / "spark.parquet")
    expected = pd.read_parquet(tmp_path / "duck.parquet")
    assert len(written) == got.n_exported == duck.n_exported > 0
    pd.testing.assert_frame_equal(_sorted(written), _sorted(expected))
    pd.testing.assert_frame_equal(got.excluded, duck.excluded)
    pd.testing.assert_frame_equal(got.counts(), duck.counts())
    assert got.channels == duck.channels and got.skipped_channels == duck.skipped_channels
    assert got.audience.count() == duck.n_exported  # the written folder, read back by Spark
    assert _leftovers(tmp_path) == []

    # the values themselves, from the CRM frame
    members = pd.read_parquet(run / "segments.parquet")
    known = set(crm["frame"]["customer_id"]) - {crm["quarantined"]}
    unknown = int((~members["customer_id"].isin(known)).sum())
    assert unknown == N_DROPPED + 1
    by_reason = got.excluded.groupby(["channel", "reason"])["customers"].sum()
    for ch in got.channels:
        assert by_reason[(ch, "unknown_customer")] == unknown
    if "sms" in got.channels:  # free text: yes / Y / 1 / TRUE are consents, the rest are not
        texts = crm["frame"].set_index("customer_id")["sms_consent"]
        agreed = {c for c in known if texts[c] in ("yes", "Y", "1", "TRUE")}
        sms = written.loc[written["channel"] == "sms", "customer_id"]
        assert set(sms) == agreed & set(members["customer_id"])
    if channel == "all":  # the app consent column holds dates: found, but nobody consents
        assert got.channels == ["email", "sms", "app"]
        assert "app" not in set(written["channel"])
        assert by_reason[("app", "no_consent")] == len(members) - unknown


def test_segments_probabilities_and_a_csv_folder(spark, run, tmp_path):
    from segmint.engines import export_audiences_spark

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    members = pd.read_parquet(copy / "segments.parquet")
    k = int(members["segment_id"].max()) + 1
    proba = members[["customer_id", "segment_id"]].copy()
    for j in range(k):
        proba[f"probability_{j}"] = (members["segment_id"] == j) * 0.9 + 0.1 / k
    proba.to_parquet(copy / "probabilities.parquet", index=False)

    got = export_audiences_spark(copy, "sms", segments=[0, 2], to=tmp_path / "sms.csv", spark=spark)
    duck = build_audiences(copy, "sms", segments=[0, 2])
    written = _parts(tmp_path / "sms.csv")
    assert list(written.columns) == list(duck.audience.columns)
    assert list(written.columns[4:]) == [f"probability_{j}" for j in range(k)]
    assert set(written["segment_id"]) == {0, 2}
    pd.testing.assert_frame_equal(
        _sorted(written), _sorted(duck.audience), check_dtype=False, check_exact=False
    )
    pd.testing.assert_frame_equal(got.excluded, duck.excluded)
    pd.testing.assert_frame_equal(got.counts(), duck.counts())
    assert got.target == str(tmp_path / "sms.csv")


def test_the_default_target_is_a_parquet_folder_in_the_run(spark, run, tmp_path):
    from segmint.engines import export_audiences_spark

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    got = export_audiences_spark(copy, "email", spark=spark)
    assert got.target == str(copy / "audience_email.parquet")
    assert (copy / "audience_email.parquet").is_dir()
    assert len(pd.read_parquet(copy / "audience_email.parquet")) == got.n_exported > 0
    # a second export replaces the folder
    again = export_audiences_spark(copy, "email", segments=[1], spark=spark)
    back = pd.read_parquet(copy / "audience_email.parquet")
    assert set(back["segment_id"]) == {1} and len(back) == again.n_exported
    assert _leftovers(copy) == []


def test_a_target_whose_parent_is_a_file_leaves_nothing(spark, run, tmp_path):
    from segmint.engines import export_audiences_spark

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(InputError, match="folder does not exist"):
        export_audiences_spark(run, "email", to=blocker / "audience.parquet", spark=spark)
    assert [p.name for p in tmp_path.iterdir()] == ["not_a_folder"]
    assert blocker.read_text() == "x"


def test_a_write_failing_in_spark_keeps_the_old_target_and_no_temp(spark, run, tmp_path):
    """A real Spark failure: CSV cannot hold an array column, so the write job fails."""
    from segmint.activate import write_manifest
    from segmint.engines import export_audiences_spark

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    target = tmp_path / "audience.csv"
    first = export_audiences_spark(copy, "email", to=target, spark=spark)
    before = _parts(target)
    members = pd.read_parquet(copy / "segments.parquet")
    members["tags"] = [["vip", "new"]] * len(members)
    members.to_parquet(copy / "segments.parquet", index=False)
    # a run whose segments carry a list column: re-listed, else the manifest check refuses it
    write_manifest(copy)
    with pytest.raises(Exception, match=r"(?i)csv"):
        export_audiences_spark(copy, "email", to=target, spark=spark)
    pd.testing.assert_frame_equal(_parts(target), before)
    assert len(before) == first.n_exported
    assert _leftovers(tmp_path) == []
    with pytest.raises(Exception, match=r"(?i)csv"):
        export_audiences_spark(copy, "email", to=tmp_path / "new.csv", spark=spark)
    assert not (tmp_path / "new.csv").exists()
    assert _leftovers(tmp_path) == []


def test_a_failure_after_spark_wrote_removes_the_partial_output(spark, run, tmp_path, monkeypatch):
    from segmint.engines import _spark_export, export_audiences_spark

    real = _spark_export._write

    def write_then_fail(frame, path, fmt):
        real(frame, path, fmt)
        assert any(path.glob("part-*")), "the staging folder should hold part files here"
        raise OSError("disk full")

    monkeypatch.setattr(_spark_export, "_write", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_audiences_spark(run, "sms", to=tmp_path / "sms.parquet", spark=spark)
    assert list(tmp_path.iterdir()) == []


def test_request_errors_are_those_of_the_duckdb_export(spark, run, tmp_path):
    from segmint.engines import export_audiences_spark

    with pytest.raises(ConfigError, match=r"Segment\(s\) \[42\] are not in this run"):
        export_audiences_spark(run, "email", segments=[42], to=tmp_path / "a.parquet", spark=spark)
    with pytest.raises(ConfigError, match="Unknown channel"):
        export_audiences_spark(run, "fax", to=tmp_path / "a.parquet", spark=spark)
    with pytest.raises(InputError, match="no consent column for app"):
        export_audiences_spark(run, "app", to=tmp_path / "a.parquet", spark=spark)
    with pytest.raises(ConfigError, match="Parquet or CSV folder"):
        export_audiences_spark(run, "email", to=f"duckdb://{tmp_path / 'x.duckdb'}#t", spark=spark)
    with pytest.raises(InputError, match="unsupported output format"):
        export_audiences_spark(run, "email", to=tmp_path / "a.json", spark=spark)
    assert list(tmp_path.iterdir()) == []


def test_cli_export_with_the_spark_engine(cli, run, crm, tmp_path):
    out = tmp_path / "sms.parquet"
    args = ["export", "--run", str(run), "--channel", "sms", "--segments", "0,1"]
    result = cli(*args, "--customers", str(crm["csv"]), "--to", str(out), "--engine", "spark")
    assert result.returncode == 0, result.stderr
    assert "no_consent" in result.stdout and "unknown_customer" in result.stdout
    assert f"Written to {out}" in result.stdout
    duck = build_audiences(run, "sms", segments=[0, 1], customers=crm["csv"])
    assert f"Audience: {duck.n_exported:,} rows" in result.stdout
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(out)), _sorted(duck.audience))


def test_cli_export_refuses_an_unknown_engine(cli, run, tmp_path):
    result = cli("export", "--run", str(run), "--to", str(tmp_path / "a.csv"), "--engine", "flink")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[0] == "error: Unknown --engine 'flink'."
    assert list(tmp_path.iterdir()) == []
