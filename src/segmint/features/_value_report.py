"""What ``run.json`` and the report show of the value basis' models, and the ``clv`` command.

* :func:`value_model_summary` -- the fitted lifetime-value models of a run (model, reason,
  parameters with standard errors, holdout curve, data shape), JSON-safe;
* :func:`clv_report_from_file` -- a transaction file read as ``segmint run`` reads it, then the
  CLV models fitted on it (:func:`segmint.features.clv.clv_report`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from segmint.features._value_fit import _safe
from segmint.features._value_scores import CONTRACT_SPEND, _purchase_state, value_features
from segmint.features.clv import clv_report

__all__ = ["clv_report_from_file", "value_model_summary"]


def _param_rows(verdict: dict) -> list[dict]:
    std = verdict.get("std_errors") or {}
    return [
        {"name": k, "value": v, "std_error": std.get(k)}
        for k, v in (verdict.get("params") or {}).items()
    ]


def value_model_summary(state: dict | None) -> dict | None:
    """The lifetime-value models of a run, for ``run.json`` and the report (JSON-safe).

    Parameters
    ----------
    state : dict or None
        ``spec.models["value"]`` as written by :func:`fit_value_models` (``None``: the run fitted
        no value model, and ``None`` is returned).

    Returns
    -------
    dict or None
        ``purchase_model`` / ``spend_model`` (labels, ``None`` when not estimated), ``reason``
        (why that purchase model), ``criterion``, ``candidates`` (per model: converged, reason,
        criterion value), ``noise``, ``fits`` (per model: ``role``, ``model``, ``converged``,
        ``reason``, ``fallback``, ``params`` with ``name``, ``value``, ``std_error``,
        ``log_likelihood``, ``n_customers``), ``holdout`` (the weekly curve and totals, or
        ``None``), ``data_shape``, ``features``, ``calibration_end``, ``horizon_weeks``,
        ``annual_discount_rate``, ``n_customers`` and ``n_repeat_buyers``.
    """
    if not state:
        return None
    fits = state.get("fits")
    if fits is None:  # a state written before the fits were recorded: BG/NBD + Gamma-Gamma
        fits = {
            "purchase": {"model": "BG/NBD", "converged": True, "reason": None, "fallback": None}
            | {k: (state.get("bgnbd") or {}).get(k) for k in ("params", "log_likelihood")},
            "spend": {"model": "Gamma-Gamma", "converged": True, "reason": state.get("note")}
            | {"fallback": None, "params": (state.get("gamma_gamma") or {}).get("params")},
        }
    selection = state.get("selection") or {}
    used = _purchase_state(state) is not None
    return _safe(
        {
            "purchase_model": selection.get("label", "BG/NBD" if used else None) if used else None,
            "spend_model": "Gamma-Gamma"
            if state.get("gamma_gamma") is not None
            else (
                "value per contract period"
                if state.get("spend_fallback") == CONTRACT_SPEND
                else None
            ),
            "contracts": state.get("contracts"),
            "requested": selection.get("requested", "bgnbd"),
            "reason": selection.get("reason"),
            "criterion": selection.get("criterion"),
            "noise": selection.get("noise"),
            "candidates": selection.get("candidates", []),
            "fits": [
                {
                    "role": role,
                    "model": f.get("model"),
                    "converged": f.get("converged"),
                    "reason": f.get("reason"),
                    "fallback": f.get("fallback"),
                    "params": _param_rows(f),
                    "log_likelihood": f.get("log_likelihood"),
                    "n_customers": f.get("n_customers"),
                }
                for role, f in fits.items()
            ],
            "holdout": state.get("holdout"),
            "data_shape": state.get("data_shape"),
            "features": value_features(state),
            "calibration_end": state.get("calibration_end"),
            "horizon_weeks": state.get("horizon_weeks"),
            "annual_discount_rate": state.get("annual_discount_rate"),
            "n_customers": state.get("n_customers"),
            "n_repeat_buyers": state.get("n_repeat_buyers"),
        }
    )


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
