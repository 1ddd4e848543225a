"""Audience exports: consent, exclusion counts, and atomic writes to files, DuckDB, PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pytest

from segmint.activate import _exports, build_audiences, export_audiences
from segmint.exceptions import ConfigError, InputError


def _expected(retail_run: dict[str, Path], customers: pd.DataFrame, flag: str) -> pd.DataFrame:
    members = pd.read_parquet(retail_run["run"] / "segments.parquet")
    merged = members.merge(customers, on="customer_id", how="left", indicator=True)
    merged["reason"] = None
    merged.loc[merged["_merge"] == "left_only", "reason"] = "unknown_customer"
    known = merged["_merge"] == "both"
    merged.loc[known & (merged[flag] != True), "reason"] = "no_consent"  # noqa: E712
    return merged


@pytest.fixture
def partial_crm(retail_run, tmp_path) -> tuple[Path, pd.DataFrame]:
    """The CRM export without its last 200 customers (they become unknown customers)."""
    customers = pd.read_csv(retail_run["customers"])
    kept = customers.iloc[:-200]
    path = tmp_path / "crm.csv"
    kept.to_csv(path, index=False)
    return path, kept


def test_email_audience_holds_only_consenting_known_customers(retail_run, partial_crm):
    path, crm = partial_crm
    result = build_audiences(retail_run["run"], "email", customers=path)
    expected = _expected(retail_run, crm, "email_consent")
    allowed = set(expected.loc[expected["reason"].isna(), "customer_id"])
    assert set(result.audience["customer_id"]) == allowed
    assert (result.audience["channel"] == "email").all()
    counts = expected.dropna(subset=["reason"]).groupby(["segment_id", "reason"]).size()
    got = result.excluded.set_index(["segment_id", "reason"])["customers"]
    assert got.sort_index().to_dict() == counts.sort_index().to_dict()
    assert got.xs("unknown_customer", level="reason").sum() == 200
    assert len(result.audience) + result.excluded["customers"].sum() == 3000


def test_segments_filter_and_sms_channel(retail_run):
    result = build_audiences(retail_run["run"], "sms", segments=[0, 2])
    assert set(result.audience["segment_id"]) <= {0, 2}
    crm = pd.read_csv(retail_run["customers"])
    expected = _expected(retail_run, crm, "sms_consent")
    expected = expected[expected["segment_id"].isin([0, 2])]
    assert len(result.audience) == int(expected["reason"].isna().sum())
    assert result.excluded["customers"].sum() == int(expected["reason"].notna().sum())


def test_all_channels_skip_a_channel_without_consent_column(retail_run):
    result = build_audiences(retail_run["run"], "all")
    assert result.channels == ["email", "sms"]
    assert "app" in result.skipped_channels
    assert set(result.audience["channel"]) == {"email", "sms"}


def test_a_channel_without_consent_column_is_an_error(retail_run):
    with pytest.raises(InputError, match="no consent column for app"):
        build_audiences(retail_run["run"], "app")


def test_unknown_segment_is_a_config_error(retail_run):
    with pytest.raises(ConfigError, match="not in this run"):
        build_audiences(retail_run["run"], "email", segments=[42])


def test_csv_and_parquet_files(retail_run, tmp_path):
    for name in ("audience.csv", "audience.parquet"):
        result = export_audiences(retail_run["run"], "email", to=tmp_path / name)
        back = (
            pd.read_csv(tmp_path / name)
            if name.endswith("csv")
            else pd.read_parquet(tmp_path / name)
        )
        assert len(back) == result.n_exported > 0
    assert not list(tmp_path.glob(".*partial"))


def test_a_failed_file_write_leaves_the_old_file_and_no_temp(retail_run, tmp_path, monkeypatch):
    target = tmp_path / "audience.csv"
    target.write_text("old content\n")

    def broken(self, path, *args, **kwargs):
        Path(path).write_text("customer_id,segment_id\nC1,")  # half a file, then failure
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        export_audiences(retail_run["run"], "email", to=target)
    assert target.read_text() == "old content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["audience.csv"]


def _fail_after_first_batch(monkeypatch):
    real = _exports._batches

    def failing(frame, size=_exports.BATCH_ROWS):
        batches = real(frame, 100)
        yield next(batches)
        raise RuntimeError("connection lost mid-write")

    monkeypatch.setattr(_exports, "_batches", failing)


def test_duckdb_target_replaces_the_table_atomically(retail_run, tmp_path, monkeypatch):
    db = tmp_path / "crm.duckdb"
    target = f"duckdb://{db}#audience_email"
    first = export_audiences(retail_run["run"], "email", to=target)
    con = duckdb.connect(str(db))
    try:
        rows = con.execute("SELECT count(*) FROM audience_email").fetchall()[0][0]
    finally:
        con.close()
    assert rows == first.n_exported

    _fail_after_first_batch(monkeypatch)
    with pytest.raises(RuntimeError, match="mid-write"):
        export_audiences(retail_run["run"], "sms", to=target)
    with pytest.raises(RuntimeError, match="mid-write"):
        export_audiences(retail_run["run"], "sms", to=f"duckdb://{db}#audience_new")
    con = duckdb.connect(str(db))
    try:
        tables = sorted(r[0] for r in con.execute("SHOW TABLES").fetchall())
        channels = con.execute("SELECT DISTINCT channel FROM audience_email").fetchall()
        count = con.execute("SELECT count(*) FROM audience_email").fetchall()[0][0]
    finally:
        con.close()
    assert tables == ["audience_email"]  # no staging table, no half-written new table
    assert channels == [("email",)] and count == first.n_exported


def test_postgresql_target_with_a_real_server(retail_run, postgres_url):
    target = f"{postgres_url}#public.audience_email"
    result = export_audiences(retail_run["run"], "email", to=target)
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT segment_id, count(*) FROM public.audience_email GROUP BY 1 ORDER BY 1"
        ).fetchall()
    expected = result.audience.groupby("segment_id").size()
    assert dict(rows) == {int(k): int(v) for k, v in expected.items()}
    # a second export replaces the table
    again = export_audiences(retail_run["run"], "sms", to=target)
    with psycopg.connect(postgres_url) as conn:
        count, channels = conn.execute(
            "SELECT count(*), string_agg(DISTINCT channel, ',') FROM public.audience_email"
        ).fetchall()[0]
    assert count == again.n_exported and channels == "sms"


def test_postgresql_failure_mid_write_leaves_no_half_written_table(
    retail_run, postgres_url, monkeypatch
):
    target = f"{postgres_url}#audience_atomic"
    first = export_audiences(retail_run["run"], "email", to=target)
    _fail_after_first_batch(monkeypatch)
    with pytest.raises(RuntimeError, match="mid-write"):
        export_audiences(retail_run["run"], "sms", to=target)
    with pytest.raises(RuntimeError, match="mid-write"):
        export_audiences(retail_run["run"], "sms", to=f"{postgres_url}#audience_never")
    with psycopg.connect(postgres_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        count, channels = conn.execute(
            "SELECT count(*), string_agg(DISTINCT channel, ',') FROM audience_atomic"
        ).fetchall()[0]
    assert "audience_never" not in tables
    assert not any(t.startswith("_segmint_stage") for t in tables)
    assert count == first.n_exported and channels == "email"


def test_cli_export_prints_excluded_counts(cli, retail_run, tmp_path):
    out = tmp_path / "sms.parquet"
    result = cli(
        "export",
        "--run",
        str(retail_run["run"]),
        "--channel",
        "sms",
        "--segments",
        "0,1",
        "--to",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "no_consent" in result.stdout
    back = pd.read_parquet(out)
    assert set(back["segment_id"]) <= {0, 1} and (back["channel"] == "sms").all()


def test_a_bad_table_name_is_refused_before_anything_is_written(retail_run, tmp_path):
    with pytest.raises(ConfigError, match="Invalid table name"):
        export_audiences(
            retail_run["run"], "email", to=f"duckdb://{tmp_path / 'x.duckdb'}#bad name;drop"
        )
    assert not (tmp_path / "x.duckdb").exists()


def test_probabilities_are_exported_when_the_run_has_them(retail_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(retail_run["run"], run)
    members = pd.read_parquet(run / "segments.parquet")
    k = int(members["segment_id"].max()) + 1
    proba = pd.DataFrame(
        {"customer_id": members["customer_id"], "segment_id": members["segment_id"]}
    )
    for j in range(k):
        proba[f"probability_{j}"] = (members["segment_id"] == j).astype(float) * 0.9 + 0.1 / k
    proba.to_parquet(run / "probabilities.parquet", index=False)
    result = build_audiences(run, "email")
    columns = [f"probability_{j}" for j in range(k)]
    assert list(result.audience.columns[4:]) == columns
    top = result.audience[columns].to_numpy().argmax(axis=1)
    assert (top == result.audience["segment_id"].to_numpy()).all()
    plain = build_audiences(retail_run["run"], "email")
    assert not any(c.startswith("probability") for c in plain.audience.columns)
