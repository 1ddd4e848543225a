"""The catalogue: every definition transpiles to Spark SQL, and back to identical results."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sqlglot

from segmint.exceptions import InputError
from segmint.features import FeatureSpec, build_feature_table, catalogue_sql
from segmint.features._catalogue import KINDS, substitute
from segmint.features._prepare import COLUMN_TRANSFORMS
from segmint.features._table import BASES


def _to_spark(sql: str) -> str:
    return sqlglot.transpile(
        sql, read="duckdb", write="spark", unsupported_level=sqlglot.ErrorLevel.RAISE
    )[0]


@pytest.fixture(scope="module")
def specs(retail_all_bases, b2b_con) -> list[FeatureSpec]:
    _, b2b_spec = build_feature_table(
        b2b_con,
        bases=["firmographic", "behavioural"],
        snapshot="2024-10-01",
        tables_available={"accounts": "accounts", "contacts": "contacts", "transactions": "orders"},
        into=None,
    )
    return [retail_all_bases[1], b2b_spec]


def test_catalogue_covers_all_bases_with_complete_entries(specs) -> None:
    features = [f for spec in specs for f in spec.features]
    assert {f.basis for f in features} == set(BASES)
    for f in features:
        assert f.name and f.description and f.definition and f.source, f
        assert f.kind in KINDS and f.transform in COLUMN_TRANSFORMS, f
        if f.kind == "ordinal":
            assert f.levels, f
    for spec in specs:
        assert len(set(spec.names)) == len(spec.names)


def test_every_definition_transpiles_to_spark(specs) -> None:
    n = 0
    for spec in specs:
        for feature in spec.features:
            sql = substitute(f"SELECT {feature.definition} FROM t", spec.snapshot_date, spec.tables)
            spark = _to_spark(sql)
            assert spark.startswith("SELECT "), feature.name
            n += 1
        for block in spec.blocks:
            for _, cte in block.ctes:
                _to_spark(substitute(cte, spec.snapshot_date, spec.tables))
    assert n == sum(len(s.features) for s in specs) == 82


def test_whole_query_in_spark_sql_and_back_gives_identical_results(
    retail_con, retail_all_bases
) -> None:
    frame, spec = retail_all_bases
    spark = catalogue_sql(spec, dialect="spark")
    assert "DATEDIFF(" in spark and "FILTER(WHERE" in spark
    assert "CAST('2024-07-01' AS DATE)" in spark
    back = sqlglot.transpile(spark, read="spark", write="duckdb")[0]
    original = retail_con.sql(catalogue_sql(spec)).df()
    roundtrip = retail_con.sql(back).df()
    assert list(roundtrip.columns) == list(original.columns)
    assert len(roundtrip) == len(original) == len(frame)
    for col in original.columns:
        a, b = original[col], roundtrip[col]
        if pd.api.types.is_numeric_dtype(a):
            np.testing.assert_allclose(
                b.to_numpy(float), a.to_numpy(float), rtol=1e-12, err_msg=col
            )
        else:
            assert (
                a.astype(object)
                .where(a.notna(), None)
                .equals(b.astype(object).where(b.notna(), None))
            ), col


def test_spec_json_round_trip_gives_the_same_sql(specs) -> None:
    for spec in specs:
        again = FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert catalogue_sql(again) == catalogue_sql(spec)
        assert catalogue_sql(again, "spark") == catalogue_sql(spec, "spark")


def test_missing_table_and_unknown_basis_are_input_errors(retail_con) -> None:
    with pytest.raises(InputError, match="Unknown segmentation basis: lifestyle"):
        build_feature_table(
            retail_con, bases=["lifestyle"], snapshot="2024-01-01", tables_available=["customers"]
        )
    with pytest.raises(InputError, match="firmographic basis needs an accounts table"):
        build_feature_table(
            retail_con,
            bases=["firmographic"],
            snapshot="2024-01-01",
            tables_available=["customers"],
        )
    with pytest.raises(InputError, match="No customer to segment"):
        build_feature_table(
            retail_con,
            bases=["demographic"],
            snapshot="2000-01-01",
            tables_available=["customers"],
        )
    with pytest.raises(InputError, match="snapshot date cannot be inferred"):
        build_feature_table(
            retail_con, bases=["demographic"], snapshot=None, tables_available=["customers"]
        )
