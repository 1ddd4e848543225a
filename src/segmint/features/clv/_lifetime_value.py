"""Expected discounted customer lifetime value from a purchase-count and a spend model.

:func:`customer_lifetime_value` combines a fitted :class:`~._bgnbd.BetaGeoModel` or
:class:`~._pareto.ParetoNBDModel` with a fitted :class:`~._gamma_gamma.GammaGammaModel`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from segmint.exceptions import InputError
from segmint.features.clv._bgnbd import BetaGeoModel
from segmint.features.clv._gamma_gamma import GammaGammaModel
from segmint.features.clv._inputs import _is_real, _spend_arrays, _wrap
from segmint.features.clv._pareto import ParetoNBDModel

__all__ = ["customer_lifetime_value"]


def customer_lifetime_value(
    bgnbd: BetaGeoModel | ParetoNBDModel,
    gamma_gamma: GammaGammaModel,
    frequency: Any,
    recency: Any,
    T: Any,
    monetary_value: Any,
    *,
    horizon_periods: float,
    discount_rate_per_period: float,
    periods_per_step: float = 1.0,
) -> Any:
    r"""Expected discounted customer lifetime value over a finite horizon.

    The horizon :math:`H` is cut into :math:`K = \lceil H / \Delta \rceil` steps of
    :math:`\Delta` = ``periods_per_step`` periods (the last one possibly shorter), ending at
    :math:`t_k = \min(k\Delta, H)`. Purchases of step k are valued at its end:

    .. math:: \mathrm{CLV} = E[M \mid \bar m_x, x] \sum_{k=1}^{K}
       \frac{E[Y(t_k) \mid x, t_x, T] - E[Y(t_{k-1}) \mid x, t_x, T]}{(1+d)^{t_k}}

    with :math:`d` = ``discount_rate_per_period`` (so a step of :math:`\Delta` periods is
    discounted by :math:`(1+d)^{\Delta}`; with ``periods_per_step=1`` the factor is
    :math:`(1+d)^{k}`), :math:`E[Y(t)\mid\cdot]` the conditional expected purchases of the
    purchase-count model and :math:`E[M\mid\cdot]` the Gamma-Gamma conditional expected spend.
    This is the scheme of ``lifetimes`` (which uses monthly steps). As the step shrinks and
    the horizon grows it approaches the continuously discounted expected residual lifetime
    value (DERL, with rate :math:`\ln(1+d)`) of [1]_ times the expected spend.

    Parameters
    ----------
    bgnbd : BetaGeoModel or ParetoNBDModel
        Fitted purchase-count model.
    gamma_gamma : GammaGammaModel
        Fitted spend model.
    frequency, recency, T, monetary_value : array-like
        Customer histories (as returned by :func:`rfm_summary`), in the time unit of the fit.
    horizon_periods : float
        Forecast horizon, in time units (e.g. 52 for one year of weeks).
    discount_rate_per_period : float
        Discount rate per time unit (e.g. ``1.10 ** (1 / 52) - 1`` for 10 % a year in weeks).
    periods_per_step : float, default 1.0
        Length of one discounting step, in time units.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Expected discounted value per customer, in the currency of ``monetary_value``.

    Raises
    ------
    InputError
        If the horizon, step or discount rate is invalid or the inputs are malformed.

    References
    ----------
    .. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value
       curves for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
    """
    for name, value, ok in (
        ("horizon_periods", horizon_periods, lambda v: v > 0),
        ("periods_per_step", periods_per_step, lambda v: v > 0),
        ("discount_rate_per_period", discount_rate_per_period, lambda v: v > -1),
    ):
        if not (_is_real(value) and ok(value)):
            raise InputError(
                f"{name} must be a finite number in range, got {value!r}",
                hint="horizon_periods and periods_per_step must be > 0 and "
                "discount_rate_per_period > -1",
            )
    bgnbd._check_fitted()
    x, tx, T_ = bgnbd._prepare(frequency, recency, T)
    _, m = _spend_arrays(x, monetary_value)
    spend = np.asarray(gamma_gamma.conditional_expected_spend(x, m), dtype=np.float64)

    n_steps = max(1, math.ceil(horizon_periods / periods_per_step - 1e-9))
    edges = np.minimum(np.arange(n_steps + 1) * float(periods_per_step), float(horizon_periods))
    total = np.zeros(np.broadcast_shapes(x.shape, tx.shape, T_.shape, m.shape))
    previous = np.zeros_like(total)
    for end in edges[1:]:
        cumulative = bgnbd._expected(np.asarray(end), x, tx, T_)
        total = total + (cumulative - previous) / (1.0 + discount_rate_per_period) ** end
        previous = cumulative
    return _wrap(total * spend, frequency, recency, T, monetary_value, name="clv")
