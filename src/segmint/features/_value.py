"""Value-based features: what customers are worth, now and over a horizon.

Revenue (``monetary``), average order value and, when the log has a cost or margin column, margin
and margin rate come from the transaction block (:mod:`segmint.features._behavioural`). The
forward-looking values come from the probability models of :mod:`segmint.features.clv`, fitted
on the purchases before the snapshot (calibration period ending the day before it, in weeks):

* ``expected_purchases`` -- conditional expected orders over the horizon (purchase model);
* ``p_alive`` -- probability that the customer is still active (purchase model);
* ``expected_spend`` -- Gamma-Gamma conditional expected value of an order;
* ``clv`` -- expected discounted value over the horizon
  (:func:`~segmint.features.clv.customer_lifetime_value`, monthly discounting steps).

Returns (negative lines) are left out of the purchase process: a credit note is not a purchase.
The fitted parameters, horizon and discount rate are stored in the feature spec; scoring with a
saved spec reuses them (no refit). The scores are written to a DuckDB table that the catalogue's
SQL reads, so the rest of the feature query stays SQL.

Which purchase model
--------------------
The choice is made in :mod:`segmint.features._value_choice` (where the constants named here
live). :func:`detect_data_shape` first says what kind of log this is (the routing hook):

* **contractual** -- the customer table has contract start and end dates (columns named as in
  :mod:`segmint.features._value_contract`): customers leave at an observed date, the setting
  of the shifted-beta-geometric (sBG) model, fitted there (``features.contract_period``, the
  renewal cycle, a month by default);
* **discrete** -- purchases happen on a few shared occasions (a yearly appeal, a monthly
  mailing): at least two purchase dates, on at most :data:`DISCRETE_MAX_DATE_SHARE` of the days
  of the calibration period (one a week), with on average at least
  :data:`DISCRETE_MIN_BUYERS_PER_DATE` buyers per date, and no customer with two orders on one
  date -- the setting of the BG/BB model (Fader, Hardie & Shang, 2010);
* **continuous** -- anything else: purchases at any time, BG/NBD or Pareto/NBD.

A discrete log (with ``clv_model: auto``) is fitted with BG/BB: the occasions are its distinct
purchase dates, ``expected_purchases`` counts the next ``round(horizon / median spacing)``
occasions (at least one), ``p_alive`` is P(alive at the last occasion), ``clv`` discounts each
occasion's expected purchases at its distance in weeks, and the holdout check holds out the last
:data:`HOLDOUT_SHARE` of the occasions (at least one, two left to fit). Contractual customers
(with ``clv_model: auto``) get sBG (:class:`~segmint.features.clv.ShiftedBetaGeometricModel`);
its features, holdout and scores are described in :mod:`segmint.features._value_contract`. A
transaction table with a contract-end column but no contract dates in the customer table keeps
the continuous-time models, and the state says so (``data_shape.note``).

For continuous-time logs ``clv_model`` (``features.clv_model`` in ``segmint.yaml``) is ``"bgnbd"``,
``"pareto"`` or ``"auto"`` (default). With ``"auto"`` the model is chosen by a holdout check:

1. the last :data:`HOLDOUT_SHARE` of the calibration period (from the first purchase to the day
   before the snapshot), in whole weeks and at least :data:`MIN_HOLDOUT_WEEKS`, is held out;
2. BG/NBD and Pareto/NBD are fitted on the customers who bought before the holdout, on their
   purchases before it;
3. each forecasts the cumulative repeat transactions of those customers in every holdout week
   (sum of the conditional expectations, as in Figure 2 of Fader, Hardie & Lee, 2005) and is
   scored by the mean absolute error (MAE) of that curve against the actual counts;
4. Pareto/NBD is chosen only if it converged and its MAE is lower than BG/NBD's by more than the
   counting noise of the holdout -- the mean over the weeks of sqrt(actual cumulative count),
   the Poisson standard error of the counts (a lower bound: purchase counts are over-dispersed).
   Otherwise BG/NBD, the simpler model with a closed-form likelihood, is kept (it is also the
   model when the period is too short for a holdout);
5. the chosen model is refitted on the whole calibration period.

The criterion values, the choice and its reason, and the chosen model's weekly holdout curve
(predicted and actual, with totals) are recorded in the state (``selection`` and ``holdout``).
With ``"bgnbd"`` or ``"pareto"`` the named model is used and its holdout curve is recorded too.

When a model is unusable
------------------------
A fit is *usable* when it did not raise, converged (``converged_``; the models explain a failure in
``convergence_reason_``) and gives finite predictions for every customer. Otherwise:

* purchase model -- with ``"auto"`` the other continuous model is tried on the whole calibration
  period; if none is usable, ``expected_purchases``, ``p_alive`` and ``clv`` are **left out**
  (no historical stand-in: recency, frequency, ``monetary`` and ``avg_order_value`` already carry
  the history);
* Gamma-Gamma -- ``expected_spend`` becomes the customer's **historical mean value per purchase
  day** (all purchase days before the snapshot, the first included) and ``clv`` values the
  expected purchases at it. This is the limit Gamma-Gamma itself reaches when spend does not
  vary within customers (p -> infinity), its most common way of failing. A *converged* fit with
  ``q <= 1`` (spend too heterogeneous for the population mean to exist) leaves ``expected_spend``
  and ``clv`` out, as before.

Each model's outcome is in ``state["fits"]`` as ``{"model", "converged", "reason", "fallback"}``,
a warning is logged, and the run goes on; no NaN or infinite value enters the features.
:func:`score_value` applies a saved state exactly as the fit decided.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.features._catalogue import Block, Feature, PlanContext, date_literal, quote_ident
from segmint.features._value_choice import (
    CLV_MODEL_SETTINGS,
    CRITERION,
    DISCRETE_MODEL,
    TIME_UNIT_DAYS,
    _bgbb_scores,
    _fit,
    _fit_discrete_purchase_model,
    _fit_purchase_model,
    _model_class,
    _purchase_filter,
    _safe,
    detect_data_shape,
)
from segmint.features._value_contract import (
    CONTRACT_MODEL,
    CONTRACT_PERIODS,
    contract_columns,
    contract_scores,
    fit_contract_model,
)
from segmint.features.clv import (
    GammaGammaModel,
    customer_lifetime_value,
    rfm_summary,
)

__all__ = [
    "CLV_COLUMNS",
    "CRITERION",
    "SCORES_TABLE",
    "TIME_UNIT_DAYS",
    "detect_data_shape",
    "fit_value_models",
    "materialise_scores",
    "plan",
    "score_value",
    "value_features",
]

SCORES_TABLE = "_segmint_clv_scores"
CLV_COLUMNS = ("expected_purchases", "p_alive", "expected_spend", "clv")

#: ``spend_fallback`` of a state whose Gamma-Gamma fit is unusable: the historical mean spend.
HISTORICAL_SPEND = "historical_mean"
#: ``spend_fallback`` of a contractual state: the customer's value per contract period.
CONTRACT_SPEND = "value_per_period"


def _purchases(con: duckdb.DuckDBPyConnection, table: str, snapshot: date) -> Any:
    return con.sql(
        f"SELECT customer_id, CAST(order_date AS DATE) AS date, CAST(amount AS DOUBLE) AS amount "
        f"FROM {quote_ident(table)} "
        f"WHERE order_date < {date_literal(snapshot)} AND {_purchase_filter(con, table)}"
    ).to_arrow_table()


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


# --------------------------------------------------------------------------------------------
# The value state
# --------------------------------------------------------------------------------------------


def _fit_spend_model(summary: pd.DataFrame, state: dict) -> None:
    """Fit Gamma-Gamma on the repeat buyers with a positive mean spend, into ``state``.

    Sets ``state["gamma_gamma"]`` (``None`` if unusable), ``state["spend_fallback"]``,
    ``state["note"]`` (for ``q <= 1``) and ``state["fits"]["spend"]``.
    """
    x, m_x = summary["frequency"], summary["monetary_value"]
    spend_ok = (x > 0) & (m_x > 0)
    gg = None
    if spend_ok.any():
        gg, spend = _fit(GammaGammaModel, x[spend_ok], m_x[spend_ok])
    else:
        spend = {
            "model": "Gamma-Gamma",
            "converged": False,
            "reason": "Gamma-Gamma: nobody bought twice before "
            f"{date.fromisoformat(state['calibration_end']) + timedelta(days=1)} with a "
            "positive amount",
        }
    spend["fallback"] = None
    if gg is not None and spend["converged"] and gg.params_["q"] <= 1.0:
        # the population mean spend is infinite: spend is too heterogeneous for Gamma-Gamma
        # (e.g. B2B accounts of very different size); keep the purchase-model features only
        state["note"] = (
            f"Gamma-Gamma q = {gg.params_['q']:.3g} <= 1 (spend too heterogeneous): "
            "expected_spend and clv left out"
        )
        logger.warning("value basis: %s", state["note"])
        spend["reason"] = state["note"]
        spend["fallback"] = (
            "expected_spend and clv left out; avg_order_value is the spend per order"
        )
    elif gg is not None and spend["converged"]:
        p, q, v = (gg.params_[k] for k in ("p", "q", "v"))
        with np.errstate(all="ignore"):
            fill = np.where(spend_ok, m_x, p * v / (q - 1.0))
            check = np.asarray(gg.conditional_expected_spend(x.to_numpy(float), fill), float)
        if np.isfinite(check).all():
            state["gamma_gamma"] = gg.to_dict()
        else:
            spend["converged"] = False
            spend["reason"] = (
                "Gamma-Gamma: the fit converged but gives non-finite expected spend for "
                f"{int((~np.isfinite(check)).sum()):,} customers"
            )
    if state["gamma_gamma"] is None and spend["fallback"] is None:
        state["spend_fallback"] = HISTORICAL_SPEND
        spend["fallback"] = (
            "expected_spend is each customer's historical mean value per purchase day (all "
            "purchase days before the snapshot), and clv values the expected purchases at it"
        )
        logger.warning("value basis: %s; %s", spend["reason"], spend["fallback"])
    state.setdefault("fits", {})["spend"] = spend


def _selection(
    comparison: dict | None, requested: str, chosen: str, used: str | None, why: str
) -> dict:
    """The ``selection`` record of a value state: the choice, its criterion values and reason."""
    candidates = (comparison or {"candidates": {}})["candidates"]
    return {
        "requested": requested,
        "chosen": chosen,
        "used": used,
        "label": _model_class(used)[1] if used else None,
        # a criterion only where models were compared (the continuous ones, by weeks)
        "criterion": CRITERION if (comparison or {}).get("unit") == "week" else None,
        "noise": comparison["noise"] if comparison is not None else None,
        "candidates": [
            {
                "key": key,
                "model": c["model"],
                "converged": c["converged"],
                "reason": c["reason"],
                "mae_cumulative": c["curve"]["mae_cumulative"] if "curve" in c else None,
                "predicted_total": c["curve"]["predicted_total"] if "curve" in c else None,
                "params": c.get("params"),
            }
            for key, c in candidates.items()
        ],
        "reason": why,
    }


def fit_value_models(
    con: duckdb.DuckDBPyConnection,
    table: str,
    snapshot: date,
    *,
    horizon_weeks: float = 52.0,
    annual_discount_rate: float = 0.10,
    clv_model: str = "auto",
    contracts: dict | None = None,
) -> dict:
    """Choose and fit the purchase model and Gamma-Gamma on the purchases before ``snapshot``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        Connection holding ``table``.
    table : str
        Transaction table (``customer_id``, ``order_date``, ``amount``).
    snapshot : date
        The models see the purchases before this day.
    horizon_weeks : float, default 52.0
        Horizon of ``expected_purchases`` and ``clv``.
    annual_discount_rate : float, default 0.10
        Yearly discount rate of ``clv``.
    clv_model : {"auto", "bgnbd", "pareto"}, default "auto"
        Purchase model, or ``"auto"`` to choose it by the holdout check of the module docstring.
    contracts : dict, optional
        The contract columns of the customer table (``table``, ``start_column``,
        ``end_column``, ``end_is_date``, ``period``; see :func:`contract_plan`): with
        ``clv_model="auto"`` the customers are contractual and sBG is fitted
        (:mod:`segmint.features._value_contract`) instead of a purchase model and Gamma-Gamma.

    Returns
    -------
    dict
        JSON-safe state: the settings, ``purchase_model`` (state key of the purchase model used,
        ``None`` if none is usable) and that model's state under its key (``bgnbd`` or
        ``pareto_nbd``), ``gamma_gamma`` (``None`` if unusable), ``fits`` (per role
        ``purchase`` / ``spend``: ``model``, ``converged``, ``reason``, ``fallback``,
        ``params``, ``std_errors``, ...), ``selection`` (requested, chosen, criterion, per-model
        values, reason), ``holdout`` (the used model's weekly holdout curve, or ``None``),
        ``data_shape`` (:func:`detect_data_shape`), ``features`` (the CLV features produced),
        ``note``, ``n_customers`` and ``n_repeat_buyers``.

    Raises
    ------
    ValueError
        If ``clv_model`` is not one of the accepted values.
    """
    if clv_model not in CLV_MODEL_SETTINGS:
        raise ValueError(
            f"clv_model must be one of {sorted(CLV_MODEL_SETTINGS)}, got {clv_model!r}"
        )
    cal_end = snapshot - timedelta(days=1)
    horizon = float(horizon_weeks)
    purchases = _purchases(con, table, snapshot)
    summary = rfm_summary(purchases, calibration_end=cal_end, time_unit_days=TIME_UNIT_DAYS)
    x = summary["frequency"]
    first_day = cal_end - timedelta(days=round(float(summary["T"].max()) * TIME_UNIT_DAYS))
    shape = detect_data_shape(con, table, snapshot, first_day)
    if contracts is not None:
        shape = dict(
            shape,
            shape="contractual",
            model_family="contractual",
            note=None,
            rule=f"the customer table has contract start and end dates "
            f"({contracts['start_column']}, {contracts['end_column']})",
        )
    state: dict[str, Any] = {
        "calibration_end": cal_end.isoformat(),
        "time_unit_days": TIME_UNIT_DAYS,
        "horizon_weeks": horizon,
        "annual_discount_rate": float(annual_discount_rate),
        "discounting_steps_weeks": 52.0 / 12.0,
        "purchase_model": None,
        "bgnbd": None,
        "gamma_gamma": None,
        "spend_fallback": None,
        "note": None,
        "n_customers": len(summary),
        "n_repeat_buyers": int((x > 0).sum()),
        "data_shape": shape,
    }
    contractual = contracts is not None and clv_model == "auto"
    if contractual:
        comparison, chosen, why = fit_contract_model(con, contracts, state, horizon)
    elif shape["shape"] == "discrete" and clv_model == "auto" and state["n_repeat_buyers"]:
        comparison, chosen, why = _fit_discrete_purchase_model(purchases, state, horizon)
    else:
        comparison, chosen, why = _fit_purchase_model(
            con, table, purchases, summary, state, clv_model, first_day, horizon
        )
        if shape["shape"] in ("discrete", "contractual"):
            why += f" The log looks {shape['shape']}, but features.clv_model asks for it."
    if contractual:
        # the value per period only makes sense with a usable sBG fit
        state["spend_fallback"] = CONTRACT_SPEND if state["purchase_model"] else None
    else:
        _fit_spend_model(summary, state)
    used = state["purchase_model"]
    curve = (comparison or {}).get("candidates", {}).get(used, {}).get("curve")
    state["holdout"] = None
    if curve is not None:
        head = ("calibration_start", "fit_end", "end", "unit", "n_periods", "n_customers", "noise")
        state["holdout"] = (
            {k: comparison[k] for k in head}
            | {"quantity": comparison.get("quantity", "repeat transactions")}
            | curve
        )
    state["selection"] = _selection(comparison, clv_model, chosen, used, why)
    state["features"] = value_features(state)
    if shape["note"]:
        logger.warning(
            "value basis: the log looks %s (%s); %s", shape["shape"], shape["rule"], shape["note"]
        )
    logger.info("value basis: %s", why)
    return _safe(state)


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
        contracts = dict(state["contracts"])
        contracts["table"] = (tables or {}).get("customers", contracts["table"])
        ids = con.sql(
            f"SELECT DISTINCT customer_id FROM {quote_ident(table)} "
            f"WHERE order_date < {date_literal(snapshot)} ORDER BY customer_id"
        ).df()["customer_id"]
        scored = contract_scores(
            con, table, snapshot, dict(state, contracts=contracts), pd.Index(ids)
        )
        scores = scored[value_features(state)].reset_index(names="customer_id")
        return _finite(scores)
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


def contract_plan(ctx: PlanContext) -> dict | None:
    """The contract columns of the run's customer table, with the contract period, or ``None``.

    See :func:`segmint.features._value_contract.contract_columns`; the period is
    ``features.contract_period`` (``month`` by default).
    """
    customers = ctx.tables.get("customers")
    if customers is None:
        return None
    found = contract_columns(ctx.con, customers)
    if found is None:
        return None
    period = str(getattr(ctx.options, "contract_period", "month"))
    if period not in CONTRACT_PERIODS:
        raise ValueError(f"contract_period must be one of {sorted(CONTRACT_PERIODS)}")
    end_type = ctx.cols("customers")[found[1]].upper()
    return {
        "table": customers,
        "start_column": found[0],
        "end_column": found[1],
        "end_is_date": end_type.startswith(("DATE", "TIMESTAMP")),
        "period": period,
    }


def plan(ctx: PlanContext) -> tuple[list[Feature], list[Block]]:
    """Fit the value models and declare the CLV features (read from the scores table)."""
    opts = ctx.options
    state = fit_value_models(
        ctx.con,
        ctx.tables["transactions"],
        ctx.snapshot,
        horizon_weeks=opts.clv_horizon_weeks,
        annual_discount_rate=opts.clv_annual_discount_rate,
        clv_model=getattr(opts, "clv_model", "auto"),
        contracts=contract_plan(ctx),
    )
    ctx.models["value"] = state
    kept = value_features(state)
    if not kept:
        return [], []
    # the catalogue SQL reads the scores from this table (written by compute_feature_table;
    # on another engine, write the scores of score_value() there first)
    ctx.tables["clv_scores"] = SCORES_TABLE
    weeks = f"{opts.clv_horizon_weeks:g} weeks"
    rate = f"{opts.clv_annual_discount_rate:.0%}"
    model = state["selection"]["label"] or "BG/NBD"
    historical = state.get("gamma_gamma") is None
    spend = "historical mean order value" if historical else "Gamma-Gamma"
    contract = state.get("purchase_model") == CONTRACT_MODEL
    if contract:
        c = state["contracts"]
        n, unit = c["n_future"], c["period"]
        described = {
            "expected_purchases": (
                f"Expected {unit}ly payments in the next {n} {unit}s (sBG; 0 once the "
                "contract has ended)",
                "signed_log",
            ),
            "p_alive": (
                "Probability of renewing the contract at the next renewal (sBG; 0 once it "
                "has ended)",
                "identity",
            ),
            "expected_spend": (
                f"Value of a contract {unit}: net value of the customer's lines per {unit} paid",
                "signed_log",
            ),
            "clv": (
                f"Customer lifetime value: expected value of the next {n} {unit}s of the "
                f"contract, discounted at {rate} a year (sBG x value per {unit})",
                "signed_log",
            ),
        }
    else:
        described = {
            "expected_purchases": (
                f"Expected orders at the next {state['occasions']['n_future']} purchase occasions "
                f"(about {weeks}) (BG/BB)"
                if state.get("purchase_model") == DISCRETE_MODEL
                else f"Expected orders in the next {weeks} ({model})",
                "signed_log",
            ),
            "p_alive": (f"Probability that the customer is still active ({model})", "identity"),
            "expected_spend": (
                "Value of an order: the customer's historical mean (Gamma-Gamma not estimated)"
                if historical
                else "Expected value of an order (Gamma-Gamma)",
                "signed_log",
            ),
            "clv": (
                f"Customer lifetime value: expected value over the next {weeks}, "
                f"discounted at {rate} a year ({model} x {spend})",
                "signed_log",
            ),
        }
    features = [
        Feature(name, "value", described[name][0], described[name][1], "transactions", name)
        for name in kept
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
