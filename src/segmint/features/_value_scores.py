"""Scoring with a fitted value state: the CLV features per customer, without refitting.

* :func:`value_features` -- the CLV features a state produces (:data:`CLV_COLUMNS` order);
* :func:`score_value` -- expected purchases, P(alive), expected spend and CLV per customer, as
  the fit decided (purchase model, BG/BB, sBG, Gamma-Gamma or the historical spend,
  :data:`HISTORICAL_SPEND`), with non-finite values set to missing;
* :func:`materialise_scores` -- the scores written to the DuckDB table the catalogue SQL reads
  (:data:`SCORES_TABLE`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.features._catalogue import date_literal, quote_ident
from segmint.features._value_choice import _model_class
from segmint.features._value_contract import CONTRACT_MODEL, contract_scores
from segmint.features._value_discrete import DISCRETE_MODEL, _bgbb_scores
from segmint.features._value_shape import _purchase_filter, _purchases
from segmint.features.clv import GammaGammaModel, customer_lifetime_value, rfm_summary

SCORES_TABLE = "_segmint_clv_scores"
CLV_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")

#: ``spend_fallback`` of a state whose Gamma-Gamma fit is unusable: the historical mean spend.
HISTORICAL_SPEND = "historical_mean"
#: ``spend_fallback`` of a contractual state: the customer's value per contract period.
CONTRACT_SPEND = "value_per_period"


def _historical_spend(con: duckdb.DuckDBPyConnection, table: str, snapshot: date) -> pd.Series:
    """Each customer's mean value per purchase day before ``snapshot`` (exact decimal sums)."""
    frame = con.sql(
        f"""
        WITH days AS (
            SELECT customer_id, CAST(order_date AS DATE) AS day,
                   sum(CAST(amount AS DECIMAL(38, 10))) AS value
            FROM {quote_ident(table)}
            WHERE order_date < {date_literal(snapshot)} AND {_purchase_filter(con, table)}
            GROUP BY ALL
        )
        SELECT customer_id, CAST(avg(value) AS DOUBLE) AS spend FROM days GROUP BY customer_id
        """
    ).df()
    return frame.set_index("customer_id")["spend"]


class _HistoricalSpend:
    """Stands in for a Gamma-Gamma model in :func:`customer_lifetime_value`: the spend given."""

    @staticmethod
    def conditional_expected_spend(frequency: Any, monetary_value: Any) -> np.ndarray:
        return np.asarray(monetary_value, dtype=np.float64)


def _purchase_state(state: dict) -> tuple[type, dict] | None:
    """The purchase model class and state of a value state (older states: BG/NBD, ``bgnbd``)."""
    key = state.get("purchase_model", "bgnbd" if state.get("bgnbd") else None)
    if key is None or state.get(key) is None:
        return None
    return _model_class(key)[0], state[key]


def value_features(state: dict) -> list[str]:
    """The CLV features a value state produces, in :data:`CLV_COLUMNS` order."""
    purchase = _purchase_state(state) is not None
    spend = state.get("gamma_gamma") is not None or state.get("spend_fallback") is not None
    have = {
        "expected_purchases": purchase,
        "p_alive": purchase,
        "expected_spend": spend,
        "clv": purchase and spend,
    }
    return [c for c in CLV_COLUMNS if have[c]]


def score_value(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    state: dict,
    *,
    tables: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Expected purchases, P(alive), expected spend and CLV per customer from fitted models.

    Only the columns of :func:`value_features` are returned (what the fit decided to keep),
    ``customer_id`` always. With ``spend_fallback`` the expected spend is the customer's
    historical mean value per purchase day (:func:`_historical_spend`). Non-finite values (not
    expected from a usable fit) become missing, with a warning, so that the scorer's
    missing-value fill applies. A contractual state (sBG) reads the contracts from
    ``tables["customers"]`` (default: the customer table it was fitted on).
    """
    if state.get("purchase_model") == CONTRACT_MODEL:
        return _contract_value_scores(con, table, snapshot, state, tables)
    purchases = _purchases(con, table, snapshot)
    summary = rfm_summary(
        purchases,
        calibration_end=snapshot - timedelta(days=1),
        time_unit_days=state["time_unit_days"],
    )
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    horizon = float(state["horizon_weeks"])
    scores = pd.DataFrame({"customer_id": summary.index.to_numpy()})
    found = _purchase_state(state)
    purchase = discounted = None
    if found is not None and state.get("purchase_model") == DISCRETE_MODEL:
        purchase = found[0].from_dict(found[1])
        expected, p_alive, discounted = _bgbb_scores(
            purchase, purchases, snapshot, state, summary.index
        )
        scores["expected_purchases"], scores["p_alive"] = expected, p_alive
    elif found is not None:
        model_cls, model_state = found
        purchase = model_cls.from_dict(model_state)
        scores["expected_purchases"] = np.asarray(purchase.expected_purchases(horizon, x, tx, T))
        scores["p_alive"] = np.asarray(purchase.probability_alive(x, tx, T))
    spend_model: Any = None
    if state.get("gamma_gamma") is not None:
        spend_model = GammaGammaModel.from_dict(state["gamma_gamma"])
        m = summary["monetary_value"].to_numpy(dtype=float)
        p, q, v = (spend_model.params_[k] for k in ("p", "q", "v"))
        # a repeat buyer whose repeat orders were free gets the population mean spend
        m = np.where((x > 0) & (m > 0), m, p * v / (q - 1.0))
        scores["expected_spend"] = np.asarray(spend_model.conditional_expected_spend(x, m))
    elif state.get("spend_fallback") == HISTORICAL_SPEND:
        spend_model = _HistoricalSpend()
        m = _historical_spend(con, table, snapshot).reindex(summary.index).to_numpy(dtype=float)
        scores["expected_spend"] = m
    if discounted is not None and spend_model is not None:
        scores["clv"] = discounted * np.asarray(spend_model.conditional_expected_spend(x, m))
    elif purchase is not None and spend_model is not None:
        weekly = (1.0 + state["annual_discount_rate"]) ** (state["time_unit_days"] / 365.25) - 1.0
        scores["clv"] = np.asarray(
            customer_lifetime_value(
                purchase,
                spend_model,
                x,
                tx,
                T,
                m,
                horizon_periods=horizon,
                discount_rate_per_period=weekly,
                periods_per_step=state["discounting_steps_weeks"],
            )
        )
    return _finite(scores)


def _contract_value_scores(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    state: dict,
    tables: dict[str, str] | None,
) -> pd.DataFrame:
    """:func:`score_value` of a contractual state (sBG): the contracts read from
    ``tables["customers"]`` (default: the customer table it was fitted on)."""
    contracts = dict(state["contracts"])
    contracts["table"] = (tables or {}).get("customers", contracts["table"])
    ids = con.sql(
        f"SELECT DISTINCT customer_id FROM {quote_ident(table)} "
        f"WHERE order_date < {date_literal(snapshot)} ORDER BY customer_id"
    ).df()["customer_id"]
    scored = contract_scores(con, table, snapshot, dict(state, contracts=contracts), pd.Index(ids))
    scores = scored[value_features(state)].reset_index(names="customer_id")
    return _finite(scores)


def _finite(scores: pd.DataFrame) -> pd.DataFrame:
    """``scores`` with non-finite values set to missing (with a warning)."""
    values = scores.drop(columns="customer_id")
    bad = ~np.isfinite(values.to_numpy(dtype=float))
    if bad.any():
        logger.warning(
            "value basis: %d non-finite score(s) (%s) set to missing",
            int(bad.sum()),
            ", ".join(values.columns[bad.any(axis=0)]),
        )
        scores[values.columns] = values.mask(bad)
    return scores


def materialise_scores(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    state: dict,
    *,
    into: str = SCORES_TABLE,
    tables: dict[str, str] | None = None,
) -> str:
    """Write the value scores into the DuckDB table the catalogue SQL reads; returns its name."""
    scores = score_value(con, table, snapshot, state, tables=tables)
    con.register("_segmint_clv_frame", scores)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(into)} AS SELECT * FROM _segmint_clv_frame"
        )
    finally:
        con.unregister("_segmint_clv_frame")
    return into
