"""Customer-lifetime-value models: RFM summaries, BG/NBD, Pareto/NBD, Gamma-Gamma, BG/BB and sBG.

The package turns a transaction log (or a contracts table) into the per-customer summaries used
by the probability models of Fader, Hardie and co-authors, fits those models by maximum
likelihood and combines them into an expected, discounted customer lifetime value.

Summaries (DuckDB SQL):

* :func:`rfm_summary` (``_summary``) -- frequency / recency / T / monetary value (and holdout
  columns) for the continuous-time models.
* :func:`bgbb_summary` (``_opportunities``) -- (x, t_x, n) per customer over discrete
  opportunities (calendar periods or campaign dates), or the recency/frequency table.
* :func:`contract_durations` (``_contracts``) -- (duration, churned) per customer from a
  contracts table; ``_contracts`` also turns a cohort's survivor counts into weighted rows.
* ``_sql`` -- the DuckDB and date helpers the three share.

Fitting:

* :func:`fit_mle` (``_fit``) -- the maximum-likelihood routine all models share: bounded
  log-parameters on rescaled data, several deterministic starts and an explicit convergence
  rule (optimiser success, small gradient, no parameter at a bound or running off to a
  :class:`Limit`, positive definite Hessian), with standard errors and a reason in words when
  a fit did not converge, in a :class:`FitResult`. Its numerical helpers (starts, finite
  differences, limit checks) are in ``_numerics``.
* ``_base`` -- the model base classes: ``_CLVModel`` (scikit-learn conventions, the fit of
  weighted unique rows through :func:`fit_mle`, the hook for a plain-words diagnosis of
  degenerate data, JSON round-tripping) and ``_PurchaseModel`` (the continuous-time purchase
  models on (frequency, recency, T)).
* ``_inputs`` -- the input checks of all models (arrays, whole numbers, weights, discount
  rates) and the wrapping of results into pandas Series.

Models:

* :class:`BetaGeoModel` (``_bgnbd``) -- the BG/NBD purchase-count model.
* :class:`ParetoNBDModel` (``_pareto``) -- the Pareto/NBD purchase-count model.
* :class:`GammaGammaModel` (``_gamma_gamma``) -- the Gamma-Gamma model of average spend.
* :class:`BetaGeoBetaBinomModel` (``_bgbb``) -- the BG/BB model of discrete-time
  noncontractual purchasing; its likelihood and the sums behind its predictions are in
  ``_bgbb_numerics``.
* :class:`ShiftedBetaGeometricModel` (``_sbg``) -- the sBG model of contractual retention.

Results:

* :func:`customer_lifetime_value` (``_lifetime_value``) -- discounted expected CLV per customer.
* :func:`clv_report` (``_report``) -- a JSON-serialisable summary of the continuous-time
  models, with a holdout check.

All models follow scikit-learn conventions (hyper-parameters in ``__init__``, ``fit`` returns
``self``, fitted attributes end in ``_``) and serialise to plain JSON-compatible dicts with
:meth:`to_dict` / :meth:`from_dict`; nothing is pickled.

These implementations reproduce the published estimates. With the CDNOW sample (2,357
customers, 39-week calibration period): BG/NBD r = 0.243, alpha = 4.414, a = 0.793, b = 2.426
(log-likelihood -9582.4); Pareto/NBD r = 0.553, alpha = 10.58, s = 0.606, beta = 11.67
(log-likelihood -9595.0); Gamma-Gamma p = 6.25, q = 3.74, gamma = 15.44 ([1]_, [2]_). With
the 1995 cohort of 11,104 donors over six yearly opportunities: BG/BB alpha = 1.204,
beta = 0.750, gamma = 0.657, delta = 2.783 (log-likelihood -33,225.6; [7]_). With the two
cohorts of 1,000 customers of [8]_: sBG alpha = 0.668, beta = 3.806 (log-likelihood -1,611.2,
high end) and alpha = 0.704, beta = 1.182 (-1,680.3, regular).

References
----------
.. [1] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy
   way: an alternative to the Pareto/NBD model. *Marketing Science*, 24(2), 275-284.
.. [2] Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). RFM and CLV: using iso-value curves
   for customer base analysis. *Journal of Marketing Research*, 42(4), 415-430.
.. [3] Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your customers: who
   are they and what will they do next? *Management Science*, 33(1), 1-24.
.. [4] Colombo, R. and Jiang, W. (1999). A stochastic RFM model. *Journal of Interactive
   Marketing*, 13(3), 2-12.
.. [5] Fader, P. S. and Hardie, B. G. S. (2005). A note on deriving the Pareto/NBD model and
   related expressions. http://brucehardie.com/notes/009/
.. [6] Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
   http://brucehardie.com/notes/025/
.. [7] Fader, P. S., Hardie, B. G. S. and Shang, J. (2010). Customer-base analysis in a
   discrete-time noncontractual setting. *Marketing Science*, 29(6), 1086-1108.
.. [8] Fader, P. S. and Hardie, B. G. S. (2007). How to project customer retention. *Journal
   of Interactive Marketing*, 21(1), 76-90.
"""

from __future__ import annotations

from segmint.features.clv._bgbb import BetaGeoBetaBinomModel
from segmint.features.clv._bgnbd import BetaGeoModel
from segmint.features.clv._contracts import contract_durations
from segmint.features.clv._fit import FitResult, Limit, fit_mle
from segmint.features.clv._gamma_gamma import GammaGammaModel
from segmint.features.clv._lifetime_value import customer_lifetime_value
from segmint.features.clv._opportunities import bgbb_summary
from segmint.features.clv._pareto import ParetoNBDModel
from segmint.features.clv._report import clv_report
from segmint.features.clv._sbg import ShiftedBetaGeometricModel
from segmint.features.clv._summary import rfm_summary

__all__ = [
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "FitResult",
    "GammaGammaModel",
    "Limit",
    "ParetoNBDModel",
    "ShiftedBetaGeometricModel",
    "bgbb_summary",
    "clv_report",
    "contract_durations",
    "customer_lifetime_value",
    "fit_mle",
    "rfm_summary",
]
