"""DuckDB SQL to Spark SQL, the engine registry and the DuckDB memory bound (no JVM needed)."""

from __future__ import annotations

import builtins
import importlib
from datetime import date

import pytest

from segmint import engines
from segmint.engines import EngineUnavailable, default_memory_limit, java_pattern, to_spark
from segmint.exceptions import SegmintError
from segmint.io._dates import DATE_FORMATS


@pytest.mark.parametrize(
    ("strptime", "java"),
    [
        ("%Y-%m-%d", "yyyy-M-d"),
        ("%d.%m.%Y", "d.M.yyyy"),
        ("%m/%d/%y", "M/d/yy"),
        ("%Y%m%d", "yyyyMMdd"),
        ("%Y-%m-%dT%H:%M:%S.%fZ", "yyyy-M-d'T'H:m:s.SSSSSS'Z'"),
        ("%d/%m/%Y %H:%M", "d/M/yyyy H:m"),
    ],
)
def test_strptime_formats_become_java_patterns(strptime: str, java: str) -> None:
    assert java_pattern(strptime) == java


def test_every_detectable_date_format_has_a_java_pattern() -> None:
    assert all(java_pattern(f) for f in DATE_FORMATS)


def test_unsupported_strptime_directive_is_refused() -> None:
    with pytest.raises(ValueError, match="%b"):
        java_pattern("%d %b %Y")


def test_try_strptime_with_several_formats_tries_each_in_order() -> None:
    sql = to_spark("SELECT try_strptime(trim(v), ['%Y-%m-%d', '%d.%m.%Y']) FROM t")
    assert sql == (
        "SELECT COALESCE(TRY_TO_TIMESTAMP(TRIM(v), 'yyyy-M-d'), "
        "TRY_TO_TIMESTAMP(TRIM(v), 'd.M.yyyy')) FROM t"
    )


def test_full_regex_match_is_anchored_rlike() -> None:
    sql = to_spark(r"SELECT regexp_full_match(x, '-?[0-9]+\.[0-9]') FROM t")
    assert sql == r"SELECT x RLIKE '^(?:-?[0-9]+\\.[0-9])\\z' FROM t"


def test_scalar_subquery_over_one_row_is_inlined() -> None:
    sql = to_spark(
        "SELECT (SELECT CASE WHEN c = '' THEN NULL ELSE c END FROM (SELECT trim(r.a) AS c)) "
        "FROM raw r"
    )
    assert sql == ("SELECT CASE WHEN TRIM(r.a) = '' THEN NULL ELSE TRIM(r.a) END FROM raw AS r")


def test_duckdb_only_functions_get_spark_equivalents() -> None:
    sql = to_spark("SELECT isinf(x), quantile_cont(abs(x), 0.5), to_json(r) FROM t r")
    assert "ABS(x) = CAST('Infinity' AS DOUBLE)" in sql
    assert "PERCENTILE(ABS(x), 0.5)" in sql
    assert "TO_JSON(STRUCT(r.*))" in sql


def test_isfinite_becomes_not_nan_and_not_infinite() -> None:
    # the money sums of the row accounting (segmint.io._line_checks._money) filter on it
    sql = to_spark("SELECT sum(x) FILTER (WHERE isfinite(x) AND y > 0) FROM t")
    assert sql == (
        "SELECT SUM(x) FILTER(WHERE (NOT ISNAN(x) AND ABS(x) <> CAST('Infinity' AS DOUBLE)) "
        "AND y > 0) FROM t"
    )


def test_placeholders_become_literals() -> None:
    sql = to_spark('SELECT * FROM "tx" WHERE d < ? AND c = ?', [date(2024, 7, 1), "it's"])
    assert sql == "SELECT * FROM `tx` WHERE d < CAST('2024-07-01' AS DATE) AND c = 'it\\'s'"


def test_missing_pyspark_names_the_install_command(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError("No module named 'pyspark'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    monkeypatch.setattr(importlib, "import_module", lambda name: no_pyspark(name))
    with pytest.raises(EngineUnavailable, match="pyspark") as caught:
        engines.score_spark  # noqa: B018 - the attribute access is the lazy import
    assert caught.value.hint == "Install it with: pip install 'segmint[spark]'"
    assert isinstance(caught.value, ImportError) and isinstance(caught.value, SegmintError)


def test_unknown_engine_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_engine"):
        engines.no_such_engine  # noqa: B018


def test_default_memory_limit_is_a_share_of_physical_memory() -> None:
    total = engines.physical_memory()
    assert total
    limit = int(default_memory_limit(0.25).removesuffix("MB"))
    assert limit == max(512, int(total * 0.25 / 2**20))
    default = int(default_memory_limit().removesuffix("MB"))
    assert default == max(512, int(total * 0.15 / 2**20))


def test_run_refuses_an_unknown_engine(cli, tmp_path) -> None:
    data = tmp_path / "tx.csv"
    data.write_text("customer_id,order_date,amount\nC1,2024-01-01,5\n")
    result = cli("run", "--transactions", str(data), "--out", str(tmp_path / "o"), "--engine", "x")
    assert result.returncode == 2
    assert "Unknown --engine 'x'" in result.stderr
