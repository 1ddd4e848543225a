"""A JSON-serialisable lifetime-value report of a transaction log.

:func:`clv_report` fits BG/NBD and Gamma-Gamma to the RFM summary and reports their estimates,
convergence verdicts, standard errors and diagnostics and, with a holdout period, the
predicted against the actual repeat purchases. The report never contains NaN or infinity.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from segmint._logging import logger
from segmint.exceptions import InputError
from segmint.features.clv._bgnbd import BetaGeoModel
from segmint.features.clv._fit import json_safe
from segmint.features.clv._gamma_gamma import GammaGammaModel
from segmint.features.clv._sql import _to_date
from segmint.features.clv._summary import rfm_summary

__all__ = ["clv_report"]


def clv_report(
    transactions: Any,
    *,
    calibration_end: Any,
    observation_end: Any = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    time_unit_days: float = 7.0,
    max_frequency_group: int = 7,
) -> dict[str, Any]:
    """Fit BG/NBD and Gamma-Gamma to a transaction log and summarise them as a JSON-able dict.

    The RFM summary comes from :func:`rfm_summary`; BG/NBD is fitted on all customers and
    Gamma-Gamma on those with ``frequency > 0`` (repeat buyers whose mean repeat spend is not
    positive, e.g. free or refunded orders, are left out of it with a logged warning). With
    ``observation_end`` the BG/NBD conditional expectations for the holdout period are
    compared with the actual repeat purchases, in total and by number of calibration-period
    repeat purchases (0, 1, ..., ``max_frequency_group``+), as in Figure 4 of [1]_.

    Parameters
    ----------
    transactions : pandas.DataFrame or pyarrow.Table
        Transaction log.
    calibration_end : date-like
        Last day of the calibration period.
    observation_end : date-like, optional
        Last day of the holdout period.
    customer_col, date_col, amount_col : str
        Column names.
    time_unit_days : float, default 7.0
        Length of a time unit in days.
    max_frequency_group : int, default 7
        Customers with at least this many calibration repeat purchases form the last group.

    Returns
    -------
    dict
        ``calibration_end``, ``observation_end`` (ISO strings or None), ``time_unit_days``,
        ``n_customers``, ``n_repeat_buyers``, ``calibration_repeat_purchases``,
        ``bgnbd`` and ``gamma_gamma`` (each with ``params``, ``log_likelihood``,
        ``n_customers``, ``converged``, ``reason`` -- None when converged, else why not --,
        ``std_errors`` and ``diagnostics``; ``gamma_gamma`` also has
        ``n_excluded_nonpositive_spend`` and ``mean_spend``) and,
        with ``observation_end``, ``holdout`` with ``duration_periods``, ``expected_total``,
        ``actual_total`` and ``by_frequency`` (a list of groups with ``frequency`` label,
        ``n_customers``, ``expected_total``, ``actual_total``, ``expected_mean``,
        ``actual_mean``). No value is NaN or infinite (such values are ``None``), so
        ``json.dumps(report, allow_nan=False)`` works. A model that did not converge is still
        reported and used for the holdout check; check its ``converged`` and ``reason``.

    Raises
    ------
    InputError
        As :func:`rfm_summary`, or if there are no repeat buyers for the Gamma-Gamma model.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the
       easy way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
    .. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    if not (isinstance(max_frequency_group, numbers.Integral) and max_frequency_group >= 1):
        raise InputError(
            f"max_frequency_group must be a positive integer, got {max_frequency_group!r}",
            hint="the paper groups 0, 1, ..., 7+",
        )
    summary = rfm_summary(
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        calibration_end=calibration_end,
        observation_end=observation_end,
        time_unit_days=time_unit_days,
    )
    freq, rec, age = summary["frequency"], summary["recency"], summary["T"]
    repeat = summary[freq > 0]
    spend_ok = repeat["monetary_value"] > 0
    n_nonpositive = int((~spend_ok).sum())
    if n_nonpositive and spend_ok.any():
        logger.warning(
            "clv_report: %d repeat buyer(s) with non-positive mean spend are left out of the "
            "Gamma-Gamma fit",
            n_nonpositive,
        )
        gg_data = repeat[spend_ok]
    else:
        # all usable, or nothing usable: let GammaGammaModel.fit raise the precise error
        gg_data = summary
    # Gamma-Gamma first: it raises the clearer error when there are no repeat buyers at all.
    gg = GammaGammaModel().fit(gg_data["frequency"], gg_data["monetary_value"])
    bg = BetaGeoModel().fit(freq, rec, age)

    report: dict[str, Any] = {
        "calibration_end": _to_date(calibration_end, "calibration_end").isoformat(),
        "observation_end": (
            None
            if observation_end is None
            else _to_date(observation_end, "observation_end").isoformat()
        ),
        "time_unit_days": float(time_unit_days),
        "n_customers": len(summary),
        "n_repeat_buyers": len(repeat),
        "calibration_repeat_purchases": int(freq.sum()),
        "bgnbd": _model_section(bg),
        "gamma_gamma": {
            **_model_section(gg),
            "n_excluded_nonpositive_spend": n_nonpositive,
            "mean_spend": float(repeat["monetary_value"][spend_ok].mean()),
        },
    }
    if observation_end is not None:
        duration = float(summary["duration_holdout"].iloc[0])
        expected = np.asarray(bg.expected_purchases(duration, freq, rec, age), dtype=np.float64)
        actual = summary["frequency_holdout"].to_numpy(dtype=np.float64)
        group = np.minimum(freq.to_numpy(), max_frequency_group)
        groups = []
        for g in range(max_frequency_group + 1):
            mask = group == g
            n_g = int(mask.sum())
            label = f"{g}+" if g == max_frequency_group else str(g)
            groups.append(
                {
                    "frequency": label,
                    "n_customers": n_g,
                    "expected_total": float(expected[mask].sum()),
                    "actual_total": float(actual[mask].sum()),
                    "expected_mean": float(expected[mask].mean()) if n_g else None,
                    "actual_mean": float(actual[mask].mean()) if n_g else None,
                }
            )
        report["holdout"] = {
            "duration_periods": duration,
            "expected_total": float(expected.sum()),
            "actual_total": float(actual.sum()),
            "by_frequency": groups,
        }
        logger.info(
            "clv_report: holdout repeat purchases expected %.1f, actual %d",
            expected.sum(),
            int(actual.sum()),
        )
    return json_safe(report)


def _model_section(model: BetaGeoModel | GammaGammaModel) -> dict[str, Any]:
    """The report entry of one fitted model (JSON-safe: unknown values are ``None``)."""
    return json_safe(
        {
            "params": dict(model.params_),
            "log_likelihood": model.log_likelihood_,
            "n_customers": model.n_customers_,
            "converged": model.converged_,
            "reason": model.convergence_reason_,
            "std_errors": dict(model.std_errors_),
            "diagnostics": model.diagnostics_,
        }
    )
