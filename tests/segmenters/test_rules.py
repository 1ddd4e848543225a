"""Tests for segmint.segmenters._rules.RuleSegmenter (hand-checked expectations)."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmint.exceptions import ConfigError, InputError, ModelError
from segmint.segmenters._rules import RuleSegmenter

RULES = {
    "lapsed_vip": "recency_days > 365 AND monetary > 500",
    "lapsed": "recency_days > 365",
    "big_spender": "monetary >= 600",
    "web": "channel = 'web'",
}


@pytest.fixture
def customers() -> pd.DataFrame:
    # Expected segment (first match wins), worked out by hand:
    # a: 10 d, 900   -> not lapsed; monetary >= 600           -> big_spender (2), though also web
    # b: 400 d, 800  -> lapsed_vip (0), though every rule matches
    # c: 500 d, 50   -> lapsed (1)
    # d: 200 d, 600  -> big_spender (2): 600 >= 600
    # e: 30 d, 20    -> web (3)
    # f: NULL, 1000  -> rules on recency are NULL, not true -> big_spender (2)
    # g: 100 d, 100  -> nothing -> Other (4)
    return pd.DataFrame(
        {
            "customer_id": list("abcdefg"),
            "recency_days": [10, 400, 500, 200, 30, None, 100],
            "monetary": [900.0, 800.0, 50.0, 600.0, 20.0, 1000.0, 100.0],
            "channel": ["web", "web", "store", "app", "web", "store", "store"],
        }
    )


EXPECTED = [2, 0, 1, 2, 3, 2, 4]


def test_first_match_wins_on_hand_made_table(customers):
    seg = RuleSegmenter(RULES).fit(customers)
    assert seg.segment_names_ == ["lapsed_vip", "lapsed", "big_spender", "web", "Other"]
    assert seg.labels_.tolist() == EXPECTED
    assert seg.labels_.dtype == np.int64
    assert seg.segment_sizes_.tolist() == [1, 1, 3, 1, 1]
    assert seg.predict(customers).tolist() == EXPECTED
    assert seg.predict_names(customers).tolist() == [
        "big_spender",
        "lapsed_vip",
        "lapsed",
        "big_spender",
        "web",
        "big_spender",
        "Other",
    ]


def test_rule_order_decides(customers):
    # Same rules, "web" first: a, b and e now all go to web (id 0).
    reordered = [("web", RULES["web"])] + [(k, v) for k, v in RULES.items() if k != "web"]
    seg = RuleSegmenter(reordered).fit(customers)
    assert seg.segment_names_[0] == "web"
    assert seg.labels_.tolist() == [0, 0, 2, 3, 0, 3, 4]


def test_default_segment_name_and_id(customers):
    seg = RuleSegmenter({"lapsed": "recency_days > 365"}, default="Active").fit(customers)
    assert seg.segment_names_ == ["lapsed", "Active"]
    # b, c lapsed; f has NULL recency -> default, like everyone else.
    assert seg.labels_.tolist() == [1, 0, 0, 1, 1, 1, 1]
    assert seg.predict_names(customers).tolist().count("Active") == 5


def test_pyarrow_input(customers):
    seg = RuleSegmenter(RULES).fit(pa.Table.from_pandas(customers))
    assert seg.labels_.tolist() == EXPECTED
    assert seg.predict(pa.Table.from_pandas(customers.iloc[::-1])).tolist() == EXPECTED[::-1]


def test_unknown_column_names_rule_and_column(customers):
    rules = {"ok": "monetary > 1", "vip": "recency_days < 30 AND monetry > 500"}
    with pytest.raises(ConfigError) as info:
        RuleSegmenter(rules).fit(customers)
    err = info.value
    assert "'vip'" in err.message and "'monetry'" in err.message
    assert "monetary" in err.hint  # lists the columns that do exist
    assert err.__cause__ is None and err.__suppress_context__  # no chained DuckDB traceback
    assert "Binder Error" not in str(err)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("monetary > 1; DROP TABLE customers", "';'"),
        ("monetary > 1;", "';'"),
        ("DROP TABLE customers", "DROP"),
        ("monetary > 1 OR 1 IN (SELECT 1)", "SELECT"),
        ("monetary IN (FROM segmint_input)", "FROM"),  # DuckDB's FROM-first subquery
        ("EXISTS (FROM segmint_input)", "FROM"),
        # E-strings hide a quote from naive scanners; DuckDB's tokenizer is not fooled.
        ("channel = E'\\'' OR monetary IN (FROM segmint_input) OR channel = ''", "FROM"),
        ("monetary > avg(monetary) OVER ()", "OVER"),
        ("monetary > 1 -- trailing comment", "comment"),
        ("monetary > 1) OR (1 = 1", "parenthesis"),
    ],
)
def test_statements_and_subqueries_are_refused(customers, expression, fragment):
    with pytest.raises(ConfigError, match="'evil'") as info:
        RuleSegmenter({"evil": expression}).fit(customers)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("monetary > AND 1", "not a valid SQL expression"),
        ("monetary > 1, monetary < 5", "not a valid SQL expression"),
        ("monetary", "not to a boolean"),
        ("avg(monetary) > 1", "aggregate"),
        ("no_such_function(monetary) > 1", "cannot be evaluated"),
    ],
)
def test_invalid_expressions(customers, expression, fragment):
    with pytest.raises(ConfigError, match="'bad'") as info:
        RuleSegmenter({"bad": expression}).fit(customers)
    assert fragment in info.value.message


def test_keywords_inside_literals_and_quoted_identifiers_are_fine():
    X = pd.DataFrame({"from": [1, 5], "note": ["select", "drop"]})
    seg = RuleSegmenter({"kw": "\"from\" > 2 OR note = 'select'"}).fit(X)
    assert seg.labels_.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("rules", "kwargs", "fragment"),
    [
        ({}, {}, "no rules"),
        ([("a", "monetary > 1"), ("a", "monetary > 2")], {}, "unique"),
        ({"Other": "monetary > 1"}, {}, "also the name of a rule"),
        ({"a": ""}, {}, "non-empty"),
        ([("a", "monetary > 1", "extra")], {}, "pair"),
    ],
)
def test_bad_rule_configs(customers, rules, kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        RuleSegmenter(rules, **kwargs).fit(customers)


def test_to_sql_in_duckdb_equals_predict(customers):
    seg = RuleSegmenter(RULES).fit(customers)
    new = customers.assign(monetary=[5.0, 700.0, 650.0, 10.0, 900.0, 0.0, 601.0])
    con = duckdb.connect()
    con.register("customers", new)
    out = con.execute(seg.to_sql("customers")).df()
    assert out["customer_id"].tolist() == new["customer_id"].tolist()  # SELECT * kept
    np.testing.assert_array_equal(out["segment_id"].to_numpy(), seg.predict(new))
    # Hand check of the new data: a web, b lapsed_vip, c lapsed_vip, d Other, e big, f Other,
    # g big.
    assert seg.predict(new).tolist() == [3, 0, 0, 4, 2, 4, 2]
    names = con.execute(seg.to_sql("customers", names=True, segment_col="seg")).df()["seg"]
    assert names.tolist() == seg.predict_names(new).tolist()
    assert seg.to_sql("analytics.customers").rstrip().endswith('FROM "analytics"."customers"')


def test_predict_with_missing_column_is_an_input_error(customers):
    seg = RuleSegmenter(RULES).fit(customers)
    with pytest.raises(InputError, match=r"'web'.*'channel'"):
        seg.predict(customers.drop(columns="channel"))
    with pytest.raises(InputError, match="DataFrame"):
        seg.predict(customers.to_numpy())


def test_to_dict_from_dict_round_trip(customers):
    seg = RuleSegmenter(RULES, default="Rest").fit(customers)
    text = seg.to_json()
    again = RuleSegmenter.from_dict(json.loads(text))
    assert again.segment_names_ == seg.segment_names_
    assert again.segment_sizes_.tolist() == seg.segment_sizes_.tolist()
    assert again.get_params()["default"] == "Rest"
    assert again.predict(customers).tolist() == EXPECTED
    assert again.to_sql() == seg.to_sql()
    assert RuleSegmenter.from_json(text).to_dict() == seg.to_dict()


def test_from_dict_rechecks_rules_and_rejects_malformed_input(customers):
    data = RuleSegmenter(RULES).fit(customers).to_dict()
    data["params"]["rules"][0]["expression"] = "1 = 1; DROP TABLE customers"
    with pytest.raises(ModelError, match="';'"):
        RuleSegmenter.from_dict(data)
    with pytest.raises(ModelError):
        RuleSegmenter.from_dict({"estimator": "RFMSegmenter"})
    with pytest.raises(ModelError):
        RuleSegmenter.from_dict({"estimator": "RuleSegmenter", "format_version": 1})
    with pytest.raises(ModelError):
        RuleSegmenter.from_json("not json")


def test_sklearn_conventions(customers):
    seg = RuleSegmenter(RULES)
    assert seg.get_params() == {"rules": RULES, "default": "Other"}
    with pytest.raises(ValueError, match="default"):
        RuleSegmenter(RULES, default=3).fit(customers)  # _parameter_constraints at fit
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        seg.predict(customers)
    assert seg.fit_predict(customers).tolist() == EXPECTED
    assert seg.rules is RULES  # parameters are stored unchanged
