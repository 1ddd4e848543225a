"""Tests for segmint.profile._typing_tool.TypingTool."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.exceptions import InputError, ModelError
from segmint.profile._typing_tool import TypingTool


def _features(n: int = 1500, seed: int = 42) -> tuple[pd.DataFrame, np.ndarray]:
    """8 features; the 3 segments depend on ``recency`` and ``channel`` only."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "recency": rng.uniform(0, 400, n).round(2),
            "income": rng.normal(50_000, 15_000, n),
            "channel": rng.choice(["web", "app", "store"], n),
            "tenure": rng.exponential(3.0, n),
            "visits": rng.poisson(4, n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "score": rng.uniform(0, 1, n),
        }
    )
    segments = np.where(X["recency"] <= 120, 0, np.where(X["channel"] == "store", 1, 2))
    return X, segments


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return _features()


@pytest.fixture(scope="module")
def tool(data) -> TypingTool:
    X, segments = data
    return TypingTool(max_depth=3, max_vars=4, random_state=0).fit(X, segments)


def _run_sql(sql: str, table: pd.DataFrame, name: str = "features") -> pd.DataFrame:
    con = duckdb.connect()
    con.register(name, table)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_curve_reaches_095_at_two_variables_and_picks_them(tool):
    curve = tool.curve_
    assert list(curve.columns) == ["n_vars", "variable", "variables", "cv_accuracy", "accuracy"]
    assert curve["n_vars"].tolist()[:2] == [1, 2]
    two = curve.loc[curve["n_vars"] == 2].iloc[0]
    assert set(two["variables"]) == {"recency", "channel"}
    assert two["accuracy"] >= 0.95 and two["cv_accuracy"] >= 0.95
    # One variable cannot tell "store" from the rest: clearly worse than two.
    assert curve.loc[curve["n_vars"] == 1, "accuracy"].iloc[0] < 0.9
    assert tool.variables_ == ["recency", "channel"]  # recency alone is the better first pick
    assert tool.accuracy_ == pytest.approx(two["accuracy"], abs=1e-12)
    assert tool.accuracy_ >= 0.95


def test_sql_in_duckdb_reproduces_predict_and_reported_accuracy(data, tool):
    X, segments = data
    table = X.assign(customer_id=np.arange(len(X)) + 1000)
    sql = tool.to_sql("features", id_col="customer_id")
    out = _run_sql(sql, table)
    assert out["customer_id"].tolist() == table["customer_id"].tolist()
    sql_segments = out["segment_id"].to_numpy()
    np.testing.assert_array_equal(sql_segments, tool.predict(X))
    holdout = tool.holdout_indices_
    assert 0 < len(holdout) < len(X)
    sql_accuracy = float(np.mean(sql_segments[holdout] == segments[holdout]))
    assert abs(sql_accuracy - tool.accuracy_) < 1e-9


def test_sql_thresholds_are_exact_at_the_split(tool):
    thresholds = [
        t
        for t, f in zip(tool.tree_.tree_.threshold, tool.tree_.tree_.feature, strict=True)
        if f >= 0 and repr(float(t)) in tool.to_sql()
    ]
    assert thresholds, "every numeric threshold is written with repr() precision"
    t = float(thresholds[0])
    edge = pd.DataFrame(
        {
            "recency": [t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), t + 1e-9],
            "channel": ["store", "web", "store", "web"],
        }
    )
    predicted = tool.predict(edge)
    assert predicted.tolist() == [0, 0, 1, 2]  # "<= threshold" goes left, anything above right
    np.testing.assert_array_equal(
        _run_sql(tool.to_sql("edge"), edge, "edge")["segment_id"], predicted
    )


def test_categorical_is_compared_by_value_in_sql(tool):
    sql = tool.to_sql()
    assert "\"channel\" = 'store'" in sql or "\"channel\" <> 'store'" in sql
    assert "channel_" not in sql and 'store"' not in sql  # no one-hot column names
    conditions = [c for rule in tool.rules_ for c in rule["conditions"]]
    assert {
        (c["variable"], c["op"], c["value"]) for c in conditions if c["variable"] == "channel"
    } <= {
        ("channel", "=", "store"),
        ("channel", "!=", "store"),
        ("channel", "=", "web"),
        ("channel", "!=", "web"),
        ("channel", "=", "app"),
        ("channel", "!=", "app"),
    }
    assert sql.splitlines()[-1] == 'FROM "customers"'
    assert "ELSE 2" in sql  # segment 2 (recent is <= 120, store is 1/3) is the majority


def test_rules_describe_the_leaves(tool):
    t = float(tool.tree_.tree_.threshold[0])
    assert 119.0 < t < 121.0  # the tree found the true cut at recency 120
    simple = [
        ([(c["variable"], c["op"], c["value"]) for c in r["conditions"]], r["segment"])
        for r in tool.rules_
    ]
    assert simple == [
        ([("recency", "<=", t)], 0),
        ([("recency", ">", t), ("channel", "!=", "store")], 2),
        ([("recency", ">", t), ("channel", "=", "store")], 1),
    ]
    n_train = 1500 - len(tool.holdout_indices_)
    assert sum(r["n_samples"] for r in tool.rules_) == n_train
    assert sum(r["support"] for r in tool.rules_) == pytest.approx(1.0, abs=1e-12)
    assert [r["purity"] for r in tool.rules_] == [1.0, 1.0, 1.0]
    assert tool.rules_[1]["sql"] == f'"recency" > {t!r} AND "channel" <> \'store\''


def test_quotes_and_booleans_in_categories():
    rng = np.random.default_rng(7)
    n = 600
    X = pd.DataFrame(
        {
            "company": rng.choice(["o'reilly", "acme", "initech"], n),
            "member": rng.choice([True, False], n),
            "noise": rng.normal(size=n),
        }
    )
    segments = np.where(X["company"] == "o'reilly", 0, np.where(X["member"], 1, 2))
    tool = TypingTool(max_depth=2, random_state=1).fit(X, segments)
    sql = tool.to_sql("t")
    assert "'o''reilly'" in sql
    assert '"member" = TRUE' in sql or '"member" = FALSE' in sql or '"member" <> ' in sql
    np.testing.assert_array_equal(_run_sql(sql, X, "t")["segment_id"], tool.predict(X))
    assert tool.accuracy_ == 1.0


def _answer_of(item: dict, raw) -> object:
    for answer in item["answers"]:
        value = answer["value"]
        if isinstance(value, list):
            lo, hi = value
            if (lo is None or raw > lo) and (hi is None or raw <= hi):
                return value
        elif value == raw:
            return value
    raise AssertionError(f"no answer option for {raw!r} in {item['variable']}")


def _walk(questionnaire: list[dict], row: dict) -> object:
    """Ask the questions in order and follow the routing, as a survey script would."""
    given: dict[int, object] = {}
    for item in questionnaire:
        given[item["number"]] = _answer_of(item, row[item["variable"]])
        for rule in item["routing"]:
            if all(given[c["number"]] in c["answers"] for c in rule["if"]):
                return rule["segment"]
        assert item["next"] == item["number"] + 1
    raise AssertionError("the questionnaire ended without a segment")


def test_questionnaire_lists_only_chosen_items_in_order(data, tool):
    X, _ = data
    questionnaire = tool.to_questionnaire(
        question_text={"channel": "Where do you usually buy?", "age": "never asked"},
        answer_labels={"channel": {"store": "In a shop"}},
    )
    assert [item["variable"] for item in questionnaire] == tool.variables_ == ["recency", "channel"]
    assert [item["number"] for item in questionnaire] == [1, 2]
    channel = questionnaire[1]
    assert channel["question"] == "Where do you usually buy?"
    assert questionnaire[0]["question"] == "recency"
    assert [a["value"] for a in channel["answers"]] == ["app", "store", "web"]
    assert [a["label"] for a in channel["answers"]] == ["app", "In a shop", "web"]
    # recency has > 20 distinct values: asked in bands between the tree's thresholds.
    assert questionnaire[0]["answers"][0]["value"][0] is None
    assert questionnaire[0]["answers"][-1]["value"][1] is None
    assert questionnaire[-1]["next"] is None
    rows = X.sample(300, random_state=0)
    walked = [_walk(questionnaire, row) for row in rows.to_dict(orient="records")]
    assert walked == tool.predict(rows).tolist()


def test_survey_questionnaire_with_answer_values():
    rng = np.random.default_rng(3)
    n = 900
    X = pd.DataFrame({f"q{i}": rng.integers(1, 6, n) for i in range(1, 9)})
    segments = np.where(X["q2"] <= 2, "A", np.where(X["q5"] >= 4, "B", "C"))
    tool = TypingTool(max_depth=3, max_vars=3, random_state=0).fit(X, segments)
    assert tool.variables_ == ["q2", "q5"]
    likert = {1: "Strongly disagree", 2: "Disagree", 3: "Neutral", 4: "Agree", 5: "Strongly agree"}
    questionnaire = tool.to_questionnaire(
        question_text={"q2": "I enjoy shopping", "q5": "Price matters most"},
        answer_labels={"q2": likert, "q5": likert},
    )
    assert [item["variable"] for item in questionnaire] == ["q2", "q5"]
    assert [a["value"] for a in questionnaire[0]["answers"]] == [1, 2, 3, 4, 5]
    assert questionnaire[0]["answers"][3]["label"] == "Agree"
    # q2 <= 2 decides segment A right after the first question.
    first = questionnaire[0]["routing"]
    assert [(r["segment"], r["if"][0]["answers"]) for r in first] == [("A", [1, 2])]
    walked = [_walk(questionnaire, row) for row in X.to_dict(orient="records")]
    assert walked == tool.predict(X).tolist()
    out = _run_sql(tool.to_sql("survey"), X, "survey")
    assert out["segment_id"].tolist() == tool.predict(X).tolist()
    # "A" (q2 <= 2, about 40% of respondents) is the majority: its leaf folds into ELSE.
    assert tool.to_sql("survey") == (
        "SELECT\n"
        "  CASE\n"
        '    WHEN "q2" > 2.5 AND "q5" <= 3.5 THEN \'C\'\n'
        '    WHEN "q2" > 2.5 AND "q5" > 3.5 THEN \'B\'\n'
        "    ELSE 'A'\n"
        '  END AS "segment_id"\n'
        'FROM "survey"'
    )


def test_to_dict_from_dict_round_trip(data, tool):
    X, _ = data
    text = tool.to_json()
    again = TypingTool.from_dict(json.loads(text))
    assert again.tree_ is None
    assert again.variables_ == tool.variables_
    assert again.accuracy_ == tool.accuracy_
    np.testing.assert_array_equal(again.predict(X), tool.predict(X))
    assert again.to_sql("features", id_col="id") == tool.to_sql("features", id_col="id")
    assert again.to_questionnaire() == tool.to_questionnaire()
    assert again.rules_ == tool.rules_
    pd.testing.assert_frame_equal(again.curve_, tool.curve_)
    assert again.to_dict() == tool.to_dict()
    # Only the chosen columns are needed to type new customers.
    np.testing.assert_array_equal(again.predict(X[["channel", "recency"]]), tool.predict(X))


def test_from_dict_rejects_tampered_models(tool):
    data = tool.to_dict()
    bad = json.loads(json.dumps(data))
    bad["tree"]["nodes"][0]["left"] = 0  # a cycle
    with pytest.raises(ModelError, match="malformed"):
        TypingTool.from_dict(bad)
    bad = json.loads(json.dumps(data))
    bad["format_version"] = 99
    with pytest.raises(ModelError, match="version"):
        TypingTool.from_dict(bad)
    with pytest.raises(ModelError):
        TypingTool.from_json("{")


def test_max_vars_limits_the_rules(data):
    X, segments = data
    tool = TypingTool(max_vars=1, random_state=0).fit(X, segments)
    assert tool.variables_ == ["recency"]
    assert len(tool.curve_) == 1
    assert "channel" not in tool.to_sql()
    assert 0.7 < tool.accuracy_ < 0.9  # recency alone: segment 0 versus the rest


def test_input_errors(data, tool):
    X, segments = data
    with pytest.raises(InputError, match="missing or infinite"):
        TypingTool().fit(X.assign(income=np.nan), segments)
    with pytest.raises(InputError, match="missing values"):
        TypingTool().fit(X.assign(channel=None), segments)
    with pytest.raises(InputError, match="target y is None"):
        TypingTool().fit(X, None)
    with pytest.raises(InputError, match="'channel'"):
        tool.predict(X.drop(columns="channel"))
    with pytest.raises(ValueError, match="max_depth"):
        TypingTool(max_depth=0).fit(X, segments)


def _expected_failed_checks(estimator) -> dict[str, str]:
    return {
        "check_fit_score_takes_y": (
            "fit's target argument is named `segments` (segmint API), not `y`"
        ),
    }


@parametrize_with_checks(
    [TypingTool(random_state=0)], expected_failed_checks=_expected_failed_checks
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
