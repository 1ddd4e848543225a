"""The project configuration, ``segmint.yaml``, as typed pydantic models.

Example::

    seed: 7
    snapshot_date: 1998-07-01        # features as of this day; default: day after the last order
    bases: [behavioural, value]
    mapping:
      transactions: {customer_id: cust, order_date: Datum, amount: Umsatz}
    segmentation:
      method: kmeans
      k: null                        # null: choose from k_min..k_max by evidence
      k_min: 2
      k_max: 8
      min_segment_share: 0.05        # every segment holds >= 5 % of customers
    names: {0: "Champions"}          # override generated names by segment id
    report:
      title: "Customer segments"
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from segmint._money import currency_code
from segmint.exceptions import ConfigError

Basis = Literal[
    "demographic",
    "geographic",
    "psychographic",
    "behavioural",
    "technographic",
    "needs",
    "value",
    "firmographic",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MappingConfig(_Strict):
    """Explicit column mapping per role: ``field -> column in the file``."""

    transactions: dict[str, str] = Field(default_factory=dict)
    customers: dict[str, str] = Field(default_factory=dict)
    events: dict[str, str] = Field(default_factory=dict)
    survey: dict[str, str] = Field(default_factory=dict)
    accounts: dict[str, str] = Field(default_factory=dict)
    contacts: dict[str, str] = Field(default_factory=dict)


class ReturnsConfig(_Strict):
    """How return and cancellation lines are recognised (``io.returns``; any rule marks one).

    ``order_prefix``: an order id starting with it is a cancellation (``C`` as in Online
    Retail's ``C536379``; ``null`` switches it off; ignored when half the order ids or more
    start with it). ``status_values``: values of a mapped ``status`` column that mark a return
    (case-insensitive; the default list has ``cancelled``, ``returned``, ``refund``,
    ``storno``, ...). ``negative_quantity`` / ``negative_amount``: a negative quantity / value
    marks one. Returns are netted out of monetary value, counted for the return rate and never
    count as purchases.
    """

    order_prefix: str | None = "C"
    status_values: list[str] | None = None  # None: segmint.io._lines.RETURN_STATUSES
    negative_quantity: bool = True
    negative_amount: bool = True


class ExcludeConfig(_Strict):
    """One ``io.exclude`` rule: lines whose ``column`` holds one of ``values`` (trimmed,
    case-sensitive) or matches ``pattern`` (a regular expression over the whole value) are not
    products and are removed (quarantined as ``excluded_line``; lines and value are reported per
    rule under ``name``)."""

    column: str = Field(min_length=1)
    values: list[str] = Field(default_factory=list)
    pattern: str | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _something(self) -> ExcludeConfig:
        if not self.values and not self.pattern:
            raise ValueError(f"the rule on '{self.column}' needs values or a pattern")
        return self


class IOConfig(_Strict):
    """How sources are read and validated (``segmint.io``).

    ``date_formats``: strptime format per role (``{transactions: "%d.%m.%Y"}``) where the data
    cannot tell day-first from month-first. ``outliers``: amounts beyond ``outlier_factor`` ×
    the median absolute amount are kept and flagged (``flag``) or quarantined. ``encoding`` and
    ``delimiter`` override detection for every text source; ``memory_limit`` caps DuckDB's
    memory while ingesting (e.g. ``"2GB"``; larger data spill to the temp folder).

    Transaction logs (see :mod:`segmint.io._lines`): ``returns`` says how returns and
    cancellations are recognised (:class:`ReturnsConfig`). ``exclude`` lists the non-product
    lines to remove, e.g. for the UCI Online Retail log::

        io:
          exclude:
            - name: postage, fees and adjustments
              column: StockCode
              values: [POST, DOT, C2, M, m, D, S, B, BANK CHARGES, AMAZONFEE, CRUK]

    ``duplicates``: what to do with a line that repeats an earlier one in every column.
    ``drop`` (default) quarantines it as ``duplicate_row`` when the log proves it a repeat (a
    product or line-number column, or one row per order id) and otherwise keeps and flags it
    (``possible_duplicate``: two identical lines of an invoice without its product column may be
    two purchases); ``flag`` keeps and flags every repeat; ``keep`` keeps them and only counts
    them. Their number and value are in the row accounting whatever the policy.

    ``currency``: the ISO 4217 code of the amounts (``GBP``, ``EUR``, ``USD``, ...), used only to
    write money in the CLI summary and the report (``£1.45M``); unset (default), money is shown
    as plain numbers: segmint never guesses a currency.

    ``keep_raw_quarantine``: the raw records of ``quarantine.parquet`` keep their e-mails,
    phones, names and addresses as read (``segmint run --keep-raw-quarantine``); by default
    (False) those are hashed (:func:`segmint.io.protect_quarantine`).
    """

    date_formats: dict[str, str] = Field(default_factory=dict)
    outliers: Literal["flag", "quarantine"] = "flag"
    outlier_factor: float = Field(default=1000.0, gt=1.0)
    encoding: str | None = None
    delimiter: str | None = None
    memory_limit: str | None = None
    duplicates: Literal["drop", "flag", "keep"] = "drop"
    returns: ReturnsConfig = Field(default_factory=ReturnsConfig)
    exclude: list[ExcludeConfig] = Field(default_factory=list)
    currency: str | None = None
    keep_raw_quarantine: bool = False

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return currency_code(value)

    def read_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`segmint.io.read_source` for every text source."""
        return {"encoding": self.encoding, "delimiter": self.delimiter}

    def transaction_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`segmint.io.load_transactions` from these settings."""
        returns = self.returns.model_dump()
        if returns["status_values"] is None:
            del returns["status_values"]
        return {
            "date_format": self.date_formats.get("transactions"),
            "outliers": self.outliers,
            "outlier_factor": self.outlier_factor,
            "returns": returns,
            "exclude": [rule.model_dump() for rule in self.exclude],
            "duplicates": self.duplicates,
        }


class RuleConfig(_Strict):
    """One rule of ``method: rules``: customers matching ``when`` (SQL) join segment ``name``."""

    name: str = Field(min_length=1)
    when: str = Field(min_length=1)


class RFMConfig(_Strict):
    """``method: rfm``: named segments as score patterns, and optional cut points."""

    segments: dict[str, Any] | None = None
    bins: dict[str, list[float]] | None = None


class SegmentationConfig(_Strict):
    """How segments are found.

    ``method``: ``auto`` (k-means for numeric features, k-prototypes when categorical features
    are chosen, latent classes for survey answers alone), ``kmeans``, ``gmm``, ``mixed``,
    ``lca``, ``rules``, ``rfm`` or ``ensemble``.
    """

    method: Literal["auto", "kmeans", "gmm", "mixed", "lca", "rules", "rfm", "ensemble"] = "auto"
    rules: list[RuleConfig] = Field(default_factory=list)
    default_segment: str = "Other"
    rfm: RFMConfig = Field(default_factory=RFMConfig)
    stability_resamples: int = Field(default=20, ge=0, le=500)
    k: int | None = Field(default=None, ge=1, le=50)
    k_min: int = Field(default=2, ge=2, le=50)
    k_max: int = Field(default=8, ge=2, le=50)
    min_segment_share: float = Field(default=0.05, ge=0.0, le=0.5)
    n_init: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="after")
    def _range(self) -> SegmentationConfig:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must be >= k_min ({self.k_min})")
        return self


class FeaturesConfig(_Strict):
    """Settings of the feature bases (see ``segmint.features.FeatureOptions``)."""

    clv: bool = True
    clv_horizon_weeks: float = Field(default=52.0, gt=0, le=520)
    clv_annual_discount_rate: float = Field(default=0.10, ge=0.0, le=1.0)
    clv_model: Literal["auto", "bgnbd", "pareto"] = "auto"
    """Purchase model of the value basis: BG/NBD, Pareto/NBD, or ``auto`` to choose between them
    by a holdout check on the calibration period (``segmint.features._value``)."""
    contract_period: Literal["week", "month", "quarter", "year"] = "month"
    """Renewal cycle of contracts, when the customer table has contract start and end dates
    (the value basis then fits sBG: ``segmint.features._value_contract``)."""
    correlation_threshold: float | None = Field(default=0.95, gt=0.0, le=1.0)
    n_factors: dict[str, int] = Field(default_factory=dict)
    survey_items: dict[str, list[str]] = Field(default_factory=dict)


class ReportConfig(_Strict):
    """What the HTML report shows."""

    title: str = "Customer segments"


Criterion = Literal["measurable", "substantial", "reachable", "stable", "distinct", "actionable"]


class ScorecardConfig(_Strict):
    """Thresholds of the validity scorecard: a figure at or above ``*_pass`` passes, at or above
    ``*_warn`` warns, below fails (Jaccard thresholds after Hennig 2007; effect sizes after Cohen
    1988: d 0.2 small / 0.5 medium, Cramér's V 0.1 small / 0.3 medium)."""

    measurable_pass: float = Field(default=0.95, ge=0.0, le=1.0)
    measurable_warn: float = Field(default=0.80, ge=0.0, le=1.0)
    substantial_pass: float = Field(default=0.05, ge=0.0, le=1.0)
    substantial_warn: float = Field(default=0.02, ge=0.0, le=1.0)
    min_customers: int = Field(default=100, ge=1)
    reachable_pass: float = Field(default=0.60, ge=0.0, le=1.0)
    reachable_warn: float = Field(default=0.30, ge=0.0, le=1.0)
    app_user_min_share: float = Field(default=0.5, gt=0.0, le=1.0)
    stable_pass: float = Field(default=0.85, ge=0.0, le=1.0)
    stable_warn: float = Field(default=0.60, ge=0.0, le=1.0)
    distinct_d_pass: float = Field(default=0.5, ge=0.0)
    distinct_d_warn: float = Field(default=0.2, ge=0.0)
    distinct_v_pass: float = Field(default=0.3, ge=0.0, le=1.0)
    distinct_v_warn: float = Field(default=0.1, ge=0.0, le=1.0)
    actionable_pass: float = Field(default=0.5, ge=0.0)
    actionable_warn: float = Field(default=0.2, ge=0.0)
    levers: list[str] = Field(
        default_factory=lambda: [
            "share_channel_",
            "share_category_",
            "discount_share",
            "email_consent",
            "sms_consent",
        ],
        description="Attributes (or name prefixes) a marketer can change.",
    )
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)
    correction: Literal["bh", "holm"] = "bh"


class LiftConfig(_Strict):
    """Out-of-time lift: features as of ``cutoff_date`` (default: snapshot minus the horizon),
    outcomes over the ``horizon_days`` after it."""

    horizon_days: int = Field(default=180, ge=7, le=3660)
    cutoff_date: date | None = None
    primary_outcome: Literal["revenue", "orders", "repeat_purchase", "retained"] = "revenue"


class EvaluationConfig(_Strict):
    """Validity scorecard and out-of-time lift."""

    scorecard: ScorecardConfig = Field(default_factory=ScorecardConfig)
    lift: LiftConfig = Field(default_factory=LiftConfig)


class AttractivenessWeights(_Strict):
    """Exponents of attractiveness = potential^a × reachability^b × relevance^c."""

    potential: float = Field(default=1.0, ge=0.0, le=5.0)
    reachability: float = Field(default=1.0, ge=0.0, le=5.0)
    relevance: float = Field(default=1.0, ge=0.0, le=5.0)


class StrategyConfig(_Strict):
    """Prioritisation: objectives (relative weights), attractiveness weights, knock-outs."""

    objectives: dict[Literal["retention", "growth", "value"], float] = Field(
        default_factory=lambda: {"retention": 0.5, "growth": 0.3, "value": 0.2}
    )
    weights: AttractivenessWeights = Field(default_factory=AttractivenessWeights)
    knockouts: list[Criterion] = Field(default_factory=lambda: ["substantial", "reachable"])
    growth_cap: float = Field(default=3.0, ge=1.0, le=100.0)

    @model_validator(mode="after")
    def _objectives(self) -> StrategyConfig:
        if any(w < 0 for w in self.objectives.values()) or not sum(self.objectives.values()) > 0:
            raise ValueError("objectives need non-negative weights with a positive sum")
        return self


class MonitoringConfig(_Strict):
    """Thresholds of the monitoring verdict (OK / WATCH / REVALIDATE): a figure at or above
    ``*_watch`` gives WATCH, at or above ``*_revalidate`` REVALIDATE. PSI 0.10 / 0.25 are the
    customary credit-scoring cut-offs (Siddiqi 2006); share changes are absolute (0.05 = five
    percentage points); centre drift is in baseline standard deviations; typing-tool decay is the
    drop in accuracy against the model's own assignment."""

    psi_watch: float = Field(default=0.10, gt=0.0)
    psi_revalidate: float = Field(default=0.25, gt=0.0)
    psi_bins: int = Field(default=10, ge=2, le=50)
    share_watch: float = Field(default=0.05, gt=0.0, le=1.0)
    share_revalidate: float = Field(default=0.10, gt=0.0, le=1.0)
    centre_watch: float = Field(default=0.5, gt=0.0)
    centre_revalidate: float = Field(default=1.0, gt=0.0)
    typing_watch: float = Field(default=0.05, gt=0.0, le=1.0)
    typing_revalidate: float = Field(default=0.10, gt=0.0, le=1.0)
    min_stay_rate: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> MonitoringConfig:
        for name in ("psi", "share", "centre", "typing"):
            watch, revalidate = getattr(self, f"{name}_watch"), getattr(self, f"{name}_revalidate")
            if revalidate < watch:
                raise ValueError(
                    f"{name}_revalidate ({revalidate}) must be >= {name}_watch ({watch})"
                )
        return self


class SparkConfig(_Strict):
    """The Spark engine (``engine: spark``; needs ``pip install 'segmint[spark]'``).

    ``master``: ``local[2]``, ``spark://host:7077``, ``yarn``, ...; ``conf``: further Spark
    settings (``{spark.driver.memory: 4g, spark.sql.shuffle.partitions: "64"}``). The model is
    fitted on the driver (scikit-learn), on the per-customer features pulled as Arrow:
    ``sample_customers`` limits them to a sample of exactly that many customers (``null``: all of
    them), stratified in proportion to quintiles of ``monetary`` x terciles of ``recency_days``
    and drawn by a hash of the customer id and ``seed`` (the same data and seed, the same sample).
    Every customer is then assigned a segment with the fitted model (on Spark for k-means), so
    ``segments.parquet`` covers the whole base; profiles and evaluation describe the sample, and
    ``run.json`` records it under ``sample``.
    """

    master: str = "local[*]"
    app_name: str = "segmint"
    conf: dict[str, str] = Field(default_factory=dict)
    sample_customers: int | None = Field(default=None, ge=100)


class Config(_Strict):
    """Everything a run needs besides the data; saved in ``run.json``."""

    seed: int = 7
    snapshot_date: date | None = None
    bases: list[Basis] = Field(default_factory=lambda: ["behavioural", "value"], min_length=1)
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    names: dict[int, str] = Field(default_factory=dict)
    report: ReportConfig = Field(default_factory=ReportConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    io: IOConfig = Field(default_factory=IOConfig)
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark: SparkConfig = Field(default_factory=SparkConfig)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON form: equal configs, equal hashes."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path | None) -> Config:
    """Read and validate ``segmint.yaml``; ``None`` gives the defaults.

    Raises
    ------
    ConfigError
        The file is missing, is not YAML, or a value is invalid (the message names the field).
    """
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found.", hint="Check the --config path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid YAML ({str(exc).splitlines()[0]}).",
            hint="Check indentation and quoting.",
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level.", hint="See the README.")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"{path}: invalid value for '{where}': {first['msg']}.",
            hint=f"{exc.error_count()} problem(s) in total; see the example in the README.",
        ) from exc
