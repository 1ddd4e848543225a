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
The choice is made in :mod:`segmint.features._value_choice` and its neighbours, where the
constants named here live (:mod:`~segmint.features._value_shape`,
:mod:`~segmint.features._value_holdout`, :mod:`~segmint.features._value_discrete`).
:func:`detect_data_shape` first says what kind of log this is (the routing hook):

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

This module declares the value features to the catalogue (:func:`plan`); the value state is
fitted in :mod:`segmint.features._value_state` (:func:`fit_value_models`) and scored in
:mod:`segmint.features._value_scores` (:func:`score_value`, :func:`materialise_scores`).
"""

from __future__ import annotations

from typing import Any

from segmint.features._catalogue import Block, Feature, PlanContext
from segmint.features._value_choice import CRITERION
from segmint.features._value_contract import CONTRACT_MODEL, CONTRACT_PERIODS, contract_columns
from segmint.features._value_discrete import DISCRETE_MODEL
from segmint.features._value_fit import TIME_UNIT_DAYS
from segmint.features._value_scores import (
    CLV_COLUMNS,
    SCORES_TABLE,
    materialise_scores,
    score_value,
    value_features,
)
from segmint.features._value_shape import detect_data_shape
from segmint.features._value_state import fit_value_models

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
    described = _described(state, opts)
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


def _described(state: dict, opts: Any) -> dict[str, tuple[str, str]]:
    """Description and transform of each CLV feature, in the words of the fitted models."""
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
    return described
