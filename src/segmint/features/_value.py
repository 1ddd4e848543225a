"""Value-based features: what customers are worth, now and over a horizon.

Revenue (``monetary``), average order value and, when the log has a cost or margin column, margin
and margin rate come from the transaction block (:mod:`segmint.features._behavioural`). The
forward-looking values come from the probability models of :mod:`segmint.features.clv`, fitted
on the purchases before the snapshot (calibration period ending the day before it, in weeks):

* ``expected_purchases`` -- BG/NBD conditional expected orders over the horizon;
* ``p_alive`` -- BG/NBD probability that the customer is still active;
* ``expected_spend`` -- Gamma-Gamma conditional expected value of an order;
* ``clv`` -- expected discounted value over the horizon
  (:func:`~segmint.features.clv.customer_lifetime_value`, monthly discounting steps).

Returns (negative lines) are left out of the purchase process: a credit note is not a purchase.
The fitted parameters, horizon and discount rate are stored in the feature spec; scoring with a
saved spec reuses them (no refit). The scores are written to a DuckDB table that the catalogue's
SQL reads, so the rest of the feature query stays SQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features._catalogue import Block, Feature, PlanContext, date_literal, quote_ident
from segmint.features.clv import (
    BetaGeoModel,
    GammaGammaModel,
    clv_report,
    customer_lifetime_value,
    rfm_summary,
)

SCORES_TABLE = "_segmint_clv_scores"
TIME_UNIT_DAYS = 7.0
CLV_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")


def _purchases(con: duckdb.DuckDBPyConnection, table: str, snapshot: date) -> Any:
    return con.sql(
        f"SELECT customer_id, CAST(order_date AS DATE) AS date, CAST(amount AS DOUBLE) AS amount "
        f"FROM {quote_ident(table)} "
        f"WHERE order_date < {date_literal(snapshot)} AND amount >= 0"
    ).to_arrow_table()


def fit_value_models(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    *,
    horizon_weeks: float = 52.0,
    annual_discount_rate: float = 0.10,
) -> dict:
    """Fit BG/NBD and Gamma-Gamma to the purchases before ``snapshot``; returns their state."""
    cal_end = snapshot - timedelta(days=1)
    summary = rfm_summary(
        _purchases(con, table, snapshot), calibration_end=cal_end, time_unit_days=TIME_UNIT_DAYS
    )
    x, tx, T = summary["frequency"], summary["recency"], summary["T"]
    spend_ok = (x > 0) & (summary["monetary_value"] > 0)
    if not spend_ok.any():
        raise InputError(
            f"No customer bought twice before {snapshot}: the value models cannot be fitted.",
            hint="Use a later snapshot date, or leave value out of bases.",
        )
    bg = BetaGeoModel().fit(x, tx, T)
    gg = GammaGammaModel().fit(x[spend_ok], summary["monetary_value"][spend_ok])
    gg_state: dict | None = gg.to_dict()
    note = None
    if gg.params_["q"] <= 1.0:
        # the population mean spend is infinite: spend is too heterogeneous for Gamma-Gamma
        # (e.g. B2B accounts of very different size); keep the BG/NBD features only
        note = (
            f"Gamma-Gamma q = {gg.params_['q']:.3g} <= 1 (spend too heterogeneous): "
            "expected_spend and clv left out"
        )
        logger.warning("value basis: %s", note)
        gg_state = None
    return {
        "calibration_end": cal_end.isoformat(),
        "time_unit_days": TIME_UNIT_DAYS,
        "horizon_weeks": float(horizon_weeks),
        "annual_discount_rate": float(annual_discount_rate),
        "discounting_steps_weeks": 52.0 / 12.0,
        "bgnbd": bg.to_dict(),
        "gamma_gamma": gg_state,
        "note": note,
        "n_customers": len(summary),
        "n_repeat_buyers": int((x > 0).sum()),
    }


def score_value(
    con: duckdb.DuckDBPyConnection, table: str, snapshot: date, state: dict
) -> pd.DataFrame:
    """Expected purchases, P(alive), expected spend and CLV per customer from fitted models."""
    bg = BetaGeoModel.from_dict(state["bgnbd"])
    summary = rfm_summary(
        _purchases(con, table, snapshot),
        calibration_end=snapshot - timedelta(days=1),
        time_unit_days=state["time_unit_days"],
    )
    x, tx, T = (summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    horizon = float(state["horizon_weeks"])
    scores = pd.DataFrame(
        {
            "customer_id": summary.index.to_numpy(),
            "expected_purchases": np.asarray(bg.expected_purchases(horizon, x, tx, T)),
            "p_alive": np.asarray(bg.probability_alive(x, tx, T)),
        }
    )
    if state.get("gamma_gamma") is None:
        return scores
    gg = GammaGammaModel.from_dict(state["gamma_gamma"])
    m = summary["monetary_value"].to_numpy(dtype=float)
    p, q, v = (gg.params_[k] for k in ("p", "q", "v"))
    # a repeat buyer whose repeat orders were free gets the population mean spend
    m = np.where((x > 0) & (m > 0), m, p * v / (q - 1.0))
    weekly = (1.0 + state["annual_discount_rate"]) ** (state["time_unit_days"] / 365.25) - 1.0
    scores["expected_spend"] = np.asarray(gg.conditional_expected_spend(x, m))
    scores["clv"] = np.asarray(
        customer_lifetime_value(
            bg,
            gg,
            x,
            tx,
            T,
            m,
            horizon_periods=horizon,
            discount_rate_per_period=weekly,
            periods_per_step=state["discounting_steps_weeks"],
        )
    )
    return scores


def materialise_scores(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    state: dict,
    *,
    into: str = SCORES_TABLE,
) -> str:
    """Write the value scores into the DuckDB table the catalogue SQL reads; returns its name."""
    scores = score_value(con, table, snapshot, state)
    con.register("_segmint_clv_frame", scores)
    try:
        con.execute(
            f"CREATE OR REPLACE TABLE {quote_ident(into)} AS SELECT * FROM _segmint_clv_frame"
        )
    finally:
        con.unregister("_segmint_clv_frame")
    return into


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Fit the value models and declare the CLV features (read from the scores table)."""
    opts = ctx.options
    state = fit_value_models(
        ctx.con,
        ctx.tables["transactions"],
        ctx.snapshot,
        horizon_weeks=opts.clv_horizon_weeks,
        annual_discount_rate=opts.clv_annual_discount_rate,
    )
    ctx.models["value"] = state
    # the catalogue SQL reads the scores from this table (written by compute_feature_table;
    # on another engine, write the scores of score_value() there first)
    ctx.tables["clv_scores"] = SCORES_TABLE
    weeks = f"{opts.clv_horizon_weeks:g} weeks"
    rate = f"{opts.clv_annual_discount_rate:.0%}"
    described = {
        "expected_purchases": (f"Expected orders in the next {weeks} (BG/NBD)", "signed_log"),
        "p_alive": ("Probability that the customer is still active (BG/NBD)", "identity"),
        "expected_spend": ("Expected value of an order (Gamma-Gamma)", "signed_log"),
        "clv": (
            f"Customer lifetime value: expected value over the next {weeks}, "
            f"discounted at {rate} a year (BG/NBD x Gamma-Gamma)",
            "signed_log",
        ),
    }
    if state["gamma_gamma"] is None:
        described = {k: described[k] for k in ("expected_purchases", "p_alive")}
    features = [
        Feature(name, "value", text, transform, "transactions", name)
        for name, (text, transform) in described.items()
    ]
    block = Block(
        "vl_clv_features",
        "transactions",
        (("vl_clv", "SELECT * FROM $clv_scores"),),
        "vl_clv",
        False,
        tuple(f.name for f in features),
    )
    return features, [block]


def clv_report_from_file(
    path: str | Path,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    mapping: dict[str, str] | None = None,
) -> dict:
    """Read a transaction file as ``segmint run`` does and fit the CLV models: the ``clv`` command.

    The file is read with :func:`segmint.io.read_source`, its columns mapped with
    :func:`segmint.io.map_columns` (``mapping`` from ``segmint.yaml`` wins) and typed with
    :func:`segmint.io.load_transactions`; the result of
    :func:`segmint.features.clv.clv_report` gets an ``input`` section with the row accounting.
    """
    from segmint.io import load_transactions, map_columns, read_source

    con = duckdb.connect()
    try:
        raw = read_source(con, path, "raw_transactions", typed=True)
        matches = map_columns(
            raw.columns, "transactions", explicit=mapping or {}, path=str(raw.path)
        )
        account = load_transactions(con, raw, matches)
        tx = con.sql(
            "SELECT customer_id, order_date AS date, amount FROM transactions"
        ).to_arrow_table()
    finally:
        con.close()
    report = clv_report(tx, calibration_end=calibration_end, observation_end=observation_end)
    report["input"] = {
        "path": str(account.source),
        "rows_read": account.n_read,
        "rows_used": account.n_used,
        "rows_quarantined": account.n_quarantined,
        "mapping": account.mapping,
    }
    return report
