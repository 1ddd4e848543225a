"""A realistic synthetic retailer generated from planted segments.

Every table is drawn with vectorised numpy from per-segment behaviour profiles, so the planted
segments differ in what customers *do* (how often and how much they buy, what, through which
channel, with what discount, how often they return) and that behaviour persists through the whole
period: a model fitted on the first part of the history predicts the rest. The planted label is
returned separately as ground truth and is never read by the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from segmint.datasets._planted import Planted, draw_category, write_tables

CATEGORIES = ("electronics", "fashion", "home", "grocery", "beauty")
CHANNELS = ("web", "app", "store")
DEVICES = ("mobile", "desktop", "tablet")

# country, region, city, hemisphere weight; both hemispheres, so that season-aware timing matters
_GEOGRAPHY = (
    ("United Kingdom", "England", "London", 0.16),
    ("United Kingdom", "England", "Manchester", 0.07),
    ("United Kingdom", "Scotland", "Glasgow", 0.04),
    ("Germany", "Bavaria", "Munich", 0.08),
    ("Germany", "Berlin", "Berlin", 0.08),
    ("France", "Ile-de-France", "Paris", 0.09),
    ("France", "Provence", "Marseille", 0.04),
    ("Spain", "Catalonia", "Barcelona", 0.05),
    ("Australia", "New South Wales", "Sydney", 0.12),
    ("Australia", "Victoria", "Melbourne", 0.10),
    ("Australia", "Queensland", "Brisbane", 0.04),
    ("New Zealand", "Auckland", "Auckland", 0.05),
    ("New Zealand", "Wellington", "Wellington", 0.02),
    ("Australia", "Western Australia", "Perth", 0.03),
    ("Ireland", "Leinster", "Dublin", 0.03),
)


@dataclass(frozen=True)
class PlantedSegment:
    """Behaviour profile of one planted segment.

    Rates are per customer and year; mixes are expected shares that each customer deviates from
    through a Dirichlet draw with concentration ``mix_concentration``.
    """

    name: str
    share: float
    orders_per_year: float
    order_value: float
    category_mix: tuple[float, ...]
    channel_mix: tuple[float, ...]
    discount_rate: float
    return_rate: float
    age_mean: float
    device_mix: tuple[float, ...]
    email_consent: float
    sms_consent: float
    sessions_per_order: float
    # the customer stops buying after this fraction of the period (None: stays active)
    churn_window: tuple[float, float] | None = None
    # customers joined this many days before the end (None: long-standing customers)
    signup_recent_days: int | None = None
    needs: tuple[float, ...] = ()
    # added columns (drawn from a separate generator, after the original tables)
    lifestyle: tuple[float, ...] = ()
    campaign_response: float = 0.10
    income_shift: float = 0.0
    household_mean: float = 2.3


LIFESTYLE_ITEMS = (
    "seeks_novelty",
    "eco_conscious",
    "health_focused",
    "status_seeking",
    "family_first",
    "tech_enthusiast",
)
INCOME_BANDS = ("<20k", "20-35k", "35-50k", "50-75k", "75-100k", "100k+")
EDUCATION = ("secondary", "vocational", "bachelor", "master", "doctorate")
AREA_TYPES = ("urban", "suburban", "rural")

NEED_ITEMS = (
    "price_matters_most",
    "quality_over_price",
    "convenience_is_key",
    "loves_new_products",
    "values_personal_service",
    "brand_loyal",
    "sustainability_matters",
    "enjoys_shopping",
)

DEFAULT_SEGMENTS: tuple[PlantedSegment, ...] = (
    PlantedSegment(
        name="engaged_app_loyalists",
        share=0.18,
        orders_per_year=16.0,
        order_value=85.0,
        category_mix=(0.40, 0.30, 0.10, 0.05, 0.15),
        channel_mix=(0.15, 0.80, 0.05),
        discount_rate=0.10,
        return_rate=0.06,
        age_mean=34,
        device_mix=(0.85, 0.10, 0.05),
        email_consent=0.90,
        sms_consent=0.70,
        sessions_per_order=2.0,
        needs=(2.5, 4.2, 4.0, 4.5, 3.0, 4.2, 3.0, 4.3),
        lifestyle=(4.2, 3.0, 3.5, 3.8, 2.8, 4.6),
        campaign_response=0.22,
        income_shift=0.5,
        household_mean=2.2,
    ),
    PlantedSegment(
        name="bargain_hunters",
        share=0.24,
        orders_per_year=9.0,
        order_value=28.0,
        category_mix=(0.05, 0.15, 0.25, 0.45, 0.10),
        channel_mix=(0.80, 0.15, 0.05),
        discount_rate=0.75,
        return_rate=0.04,
        age_mean=41,
        device_mix=(0.45, 0.50, 0.05),
        email_consent=0.80,
        sms_consent=0.30,
        sessions_per_order=3.0,
        needs=(4.7, 2.0, 3.2, 2.8, 2.2, 1.8, 2.5, 3.5),
        lifestyle=(2.6, 2.4, 2.8, 2.0, 4.0, 2.6),
        campaign_response=0.30,
        income_shift=-0.8,
        household_mean=3.4,
    ),
    PlantedSegment(
        name="lapsed_big_spenders",
        share=0.14,
        orders_per_year=7.0,
        order_value=160.0,
        category_mix=(0.45, 0.10, 0.35, 0.05, 0.05),
        channel_mix=(0.25, 0.05, 0.70),
        discount_rate=0.08,
        return_rate=0.12,
        age_mean=52,
        device_mix=(0.30, 0.60, 0.10),
        email_consent=0.55,
        sms_consent=0.20,
        sessions_per_order=1.0,
        churn_window=(0.15, 0.45),
        needs=(2.0, 4.6, 2.5, 3.0, 4.4, 3.5, 3.2, 2.5),
        lifestyle=(2.8, 3.2, 3.6, 4.3, 3.2, 3.0),
        campaign_response=0.04,
        income_shift=1.2,
        household_mean=2.6,
    ),
    PlantedSegment(
        name="new_explorers",
        share=0.16,
        orders_per_year=14.0,
        order_value=55.0,
        category_mix=(0.06, 0.12, 0.06, 0.04, 0.72),
        channel_mix=(0.08, 0.90, 0.02),
        discount_rate=0.35,
        return_rate=0.05,
        age_mean=27,
        device_mix=(0.80, 0.15, 0.05),
        email_consent=0.95,
        sms_consent=0.55,
        sessions_per_order=2.5,
        signup_recent_days=120,
        needs=(3.4, 3.2, 4.2, 4.7, 2.6, 2.0, 4.2, 4.0),
        lifestyle=(4.6, 4.2, 3.8, 3.0, 2.2, 4.2),
        campaign_response=0.15,
        income_shift=-0.4,
        household_mean=1.6,
    ),
    PlantedSegment(
        name="occasional_store_shoppers",
        share=0.28,
        orders_per_year=2.5,
        order_value=45.0,
        category_mix=(0.10, 0.35, 0.35, 0.15, 0.05),
        channel_mix=(0.10, 0.02, 0.88),
        discount_rate=0.20,
        return_rate=0.03,
        age_mean=60,
        device_mix=(0.25, 0.55, 0.20),
        email_consent=0.40,
        sms_consent=0.10,
        sessions_per_order=0.5,
        needs=(3.5, 3.3, 2.2, 1.8, 4.0, 3.8, 2.8, 2.0),
        lifestyle=(2.0, 3.4, 3.8, 2.4, 3.6, 1.8),
        campaign_response=0.05,
        income_shift=0.0,
        household_mean=2.0,
    ),
)


@dataclass
class RetailData:
    """Tables of a synthetic retailer, plus the planted ground truth.

    Attributes
    ----------
    customers, transactions, events : pandas.DataFrame
        What a retailer's CRM, order system and web/app analytics would export.
    survey : pandas.DataFrame or None
        Likert (1-5) answers of a sample of customers, with a ``weight`` column; ``None`` when
        not requested.
    truth : pandas.DataFrame
        ``customer_id, segment``: the planted segment of every customer. Never used by the
        pipeline; only for measuring recovery.
    start, end : pandas.Timestamp
        First and last day of the transaction history.
    campaigns : pandas.DataFrame or None
        ``customer_id, campaign_id, channel, sent_date, responded, response_date``: one row per
        campaign sent (to customers with e-mail consent who had signed up).
    psychographic : pandas.DataFrame or None
        Attitudes and lifestyle battery (Likert 1-5, items :data:`LIFESTYLE_ITEMS`) of a sample
        of customers, with ``answered_on`` and a ``weight``.
    """

    customers: pd.DataFrame
    transactions: pd.DataFrame
    events: pd.DataFrame
    survey: pd.DataFrame | None
    truth: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    segments: tuple[PlantedSegment, ...] = field(default=DEFAULT_SEGMENTS)
    campaigns: pd.DataFrame | None = None
    psychographic: pd.DataFrame | None = None

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write every table as CSV into ``directory`` and return the paths by table name."""
        names = ("customers", "transactions", "events", "truth")
        optional = ("survey", "campaigns", "psychographic")  # written when present
        return write_tables(directory, {name: getattr(self, name) for name in names + optional})


def make_retail(
    n_customers: int = 20_000,
    seed: int = 7,
    *,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    segments: tuple[PlantedSegment, ...] = DEFAULT_SEGMENTS,
    survey_share: float = 0.25,
) -> RetailData:
    """Generate a synthetic retailer whose customers come from planted segments.

    Parameters
    ----------
    n_customers : int, default=20000
        Number of customers.
    seed : int, default=7
        Seed of the random generator; the same seed gives the same tables.
    start, end : str
        First and last day of the transaction history (at least two years by default).
    segments : tuple of PlantedSegment
        The planted segments and their behaviour; shares are normalised to sum to one.
    survey_share : float, default=0.25
        Share of customers who answered the needs survey; 0 for no survey.

    Returns
    -------
    RetailData
        Customers, transactions (with discounts and returns as negative amounts), web/app
        events, the optional survey and the ground truth.

    Examples
    --------
    >>> data = make_retail(500, seed=1)
    >>> sorted(data.truth["segment"].unique())[:2]
    ['bargain_hunters', 'engaged_app_loyalists']
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}.")
    rng = np.random.default_rng(seed)
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    span_days = (end_ts - start_ts).days + 1

    planted = Planted(rng, segments, n_customers)
    customer_ids = np.array([f"C{i:06d}" for i in range(1, n_customers + 1)])

    # --- activity window: signup, churn --------------------------------------------------------
    recent = planted.values("signup_recent_days", dtype=int, default=0)
    signup_offset = np.where(
        recent > 0,
        span_days - rng.integers(1, np.maximum(recent, 2)),
        rng.integers(-3 * 365, span_days // 4, size=n_customers),
    )
    active_from = np.maximum(signup_offset, 0)
    churn_lo, churn_hi = planted.values("churn_window", default=(1.0, 1.0)).T
    active_to = np.floor(span_days * rng.uniform(churn_lo, churn_hi)).astype(int)
    active_to = np.clip(np.maximum(active_to, active_from + 1), 1, span_days)
    active_years = (active_to - active_from) / 365.25

    # --- orders: Poisson counts with gamma heterogeneity; every customer buys at least once ----
    rate = planted.values("orders_per_year") * rng.gamma(8.0, 1 / 8.0, size=n_customers)
    n_orders = 1 + rng.poisson(rate * active_years)
    order_customer = np.repeat(np.arange(n_customers), n_orders)
    n_tx = order_customer.size
    order_day = active_from[order_customer] + np.floor(
        rng.uniform(0, 1, n_tx) * (active_to - active_from)[order_customer]
    ).astype(int)

    def pick(mix_attr: str, concentration: float, options: int) -> np.ndarray:
        person = rng.gamma(planted.values(mix_attr) * concentration + 0.05)
        person /= person.sum(axis=1, keepdims=True)
        return draw_category(rng, np.cumsum(person, axis=1)[order_customer], options)

    category = pick("category_mix", 25.0, len(CATEGORIES))
    channel = pick("channel_mix", 25.0, len(CHANNELS))
    value_level = planted.values("order_value") * rng.lognormal(0, 0.15, n_customers)
    gross = np.round(value_level[order_customer] * rng.lognormal(0, 0.35, n_tx), 2)
    discounted = rng.uniform(0, 1, n_tx) < planted.values("discount_rate", order_customer)
    discount = np.where(discounted, np.round(gross * rng.uniform(0.1, 0.4, n_tx), 2), 0.0)
    amount = np.round(gross - discount, 2)
    quantity = 1 + rng.poisson(np.clip(gross / 40.0, 0.2, 6.0))

    order_ids = np.array([f"O{i:08d}" for i in range(1, n_tx + 1)])
    dates = start_ts + pd.to_timedelta(order_day, unit="D")
    sales = pd.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": customer_ids[order_customer],
            "order_date": dates,
            "amount": amount,
            "quantity": quantity,
            "category": np.array(CATEGORIES)[category],
            "channel": np.array(CHANNELS)[channel],
            "discount": discount,
        }
    )
    # returns are credit lines with negative amounts on the same order, a few days later
    returned = rng.uniform(0, 1, n_tx) < planted.values("return_rate", order_customer)
    ret = sales.loc[returned].copy()
    ret["order_date"] = np.minimum(
        ret["order_date"] + pd.to_timedelta(rng.integers(2, 30, len(ret)), unit="D"), end_ts
    )
    ret["amount"] = -ret["amount"]
    ret["quantity"] = -ret["quantity"]
    ret["discount"] = 0.0
    transactions = (
        pd.concat([sales, ret], ignore_index=True)
        .sort_values(["order_date", "order_id", "amount"], ascending=[True, True, False])
        .reset_index(drop=True)
    )

    # --- customers -----------------------------------------------------------------------------
    geo_p = np.array([g[3] for g in _GEOGRAPHY])
    geo = rng.choice(len(_GEOGRAPHY), size=n_customers, p=geo_p / geo_p.sum())
    age = np.clip(np.round(rng.normal(planted.values("age_mean"), 9.0)), 18, 92).astype(int)
    device_cum = np.cumsum(planted.values("device_mix"), axis=1)
    device = draw_category(rng, device_cum, len(DEVICES))
    customers = pd.DataFrame(
        {
            "customer_id": customer_ids,
            "age": age,
            "gender": rng.choice(
                ["female", "male", "non-binary"], n_customers, p=[0.52, 0.46, 0.02]
            ),
            "country": [_GEOGRAPHY[g][0] for g in geo],
            "region": [_GEOGRAPHY[g][1] for g in geo],
            "city": [_GEOGRAPHY[g][2] for g in geo],
            "signup_date": start_ts + pd.to_timedelta(signup_offset, unit="D"),
            "email_consent": rng.uniform(0, 1, n_customers) < planted.values("email_consent"),
            "sms_consent": rng.uniform(0, 1, n_customers) < planted.values("sms_consent"),
            "preferred_device": np.array(DEVICES)[device],
        }
    )

    # --- web/app events: sessions around each order, platform follows the order channel --------
    n_sessions = rng.poisson(planted.values("sessions_per_order", order_customer))
    ev_order = np.repeat(np.arange(n_tx), n_sessions)
    ev_customer = order_customer[ev_order]
    ev_day = np.clip(order_day[ev_order] - rng.integers(0, 10, ev_order.size), 0, span_days - 1)
    ev_channel = channel[ev_order]
    platform = np.where(ev_channel == 1, "app", "web")
    ev_device_name = np.array(DEVICES)[draw_category(rng, device_cum[ev_customer], len(DEVICES))]
    os_name = np.where(
        ev_device_name == "desktop",
        rng.choice(["Windows", "macOS"], ev_order.size, p=[0.7, 0.3]),
        rng.choice(["iOS", "Android"], ev_order.size, p=[0.55, 0.45]),
    )
    event_type = rng.choice(
        ["session_start", "product_view", "add_to_cart", "checkout"],
        ev_order.size,
        p=[0.35, 0.40, 0.15, 0.10],
    )
    seconds = rng.integers(0, 86_400, ev_order.size)
    events = pd.DataFrame(
        {
            "customer_id": customer_ids[ev_customer],
            "event_time": start_ts
            + pd.to_timedelta(ev_day, unit="D")
            + pd.to_timedelta(seconds, unit="s"),
            "event_type": event_type,
            "platform": platform,
            "device": ev_device_name,
            "os": os_name,
        }
    ).sort_values(["event_time", "customer_id"], kind="stable", ignore_index=True)

    # --- needs survey: Likert 1-5 driven by segment needs, some items skipped ------------------
    survey = None
    if survey_share > 0:
        respondents = np.flatnonzero(rng.uniform(0, 1, n_customers) < survey_share)
        needs = planted.values("needs", respondents)
        answers = np.clip(np.round(needs + rng.normal(0, 0.8, needs.shape)), 1, 5)
        answers[rng.uniform(0, 1, answers.shape) < 0.04] = np.nan
        survey = pd.DataFrame(answers, columns=list(NEED_ITEMS)).astype("Int64")
        survey.insert(0, "customer_id", customer_ids[respondents])
        # design weight: younger customers answer less often, so they weigh more
        survey["weight"] = np.round(np.where(age[respondents] < 35, 1.4, 0.9), 3)

    truth = planted.truth("customer_id", customer_ids)

    # --- added tables and columns: a separate generator, so the tables above stay identical ---
    extra = np.random.default_rng([seed, 1])
    transactions["cost"] = _cost(extra, transactions)
    customers = customers.assign(**_demographics(extra, planted, age))
    campaigns = _campaigns(
        extra, planted, customer_ids, customers, signup_offset, active_to, start_ts
    )
    psychographic = None
    if survey_share > 0 and any(s.lifestyle for s in segments):
        psychographic = _lifestyle_survey(
            extra, planted, customer_ids, age, survey_share, start_ts, span_days
        )
    return RetailData(
        customers=customers,
        transactions=transactions,
        events=events,
        survey=survey,
        truth=truth,
        start=start_ts,
        end=end_ts,
        segments=segments,
        campaigns=campaigns,
        psychographic=psychographic,
    )


# gross margin rate by category (electronics thin, beauty and fashion fat)
_MARGIN_RATE = {
    "electronics": 0.18,
    "fashion": 0.48,
    "home": 0.35,
    "grocery": 0.22,
    "beauty": 0.55,
}


def _cost(rng: np.random.Generator, transactions: pd.DataFrame) -> np.ndarray:
    """Cost of goods per line: the gross value less the category's margin (returns negative)."""
    rate = transactions["category"].map(_MARGIN_RATE).fillna(0.3).to_numpy(dtype=float)
    rate = np.clip(rate + rng.normal(0, 0.04, len(transactions)), 0.02, 0.9)
    gross = (transactions["amount"] + transactions["discount"]).to_numpy(dtype=float)
    cost = pd.Series(np.round(gross * (1.0 - rate), 2), index=transactions["order_id"])
    sale = transactions["amount"].to_numpy() >= 0
    # a return credits back the cost of the line it returns
    of_sale = cost[sale]
    returned = -of_sale.reindex(transactions["order_id"][~sale]).to_numpy()
    out = cost.to_numpy().copy()
    out[~sale] = returned
    return out


def _demographics(
    rng: np.random.Generator, planted: Planted, age: np.ndarray
) -> dict[str, np.ndarray]:
    """Income band, household size, education, marital status and area type per customer."""
    n = planted.of.size
    shift = planted.values("income_shift")
    # income peaks in mid-life; bands are quantiles of a latent normal score
    latent = shift + 0.6 * np.exp(-(((age - 48) / 18.0) ** 2)) + rng.normal(0, 1, n)
    income = np.digitize(latent, [-1.2, -0.5, 0.2, 0.9, 1.6])
    hh_mean = planted.values("household_mean")
    household = np.clip(1 + rng.poisson(np.maximum(hh_mean - 1, 0.1)), 1, 8)
    edu_score = 0.8 * shift + rng.normal(0, 1, n) - 0.01 * np.maximum(age - 45, 0)
    education = np.digitize(edu_score, [-0.9, -0.1, 0.9, 1.9])
    married_p = np.clip(0.15 + 0.012 * (age - 18) + 0.08 * (household - 1), 0.05, 0.85)
    married = rng.uniform(0, 1, n) < married_p
    single = np.where(age > 70, "widowed", "single")
    marital = np.where(married, "married", np.where(household >= 2, "partnered", single))
    area = rng.choice(len(AREA_TYPES), n, p=[0.55, 0.30, 0.15])
    return {
        "income_band": np.array(INCOME_BANDS)[income],
        "household_size": household.astype(int),
        "education": np.array(EDUCATION)[education],
        "marital_status": marital,
        "area_type": np.array(AREA_TYPES)[area],
    }


def _campaigns(
    rng: np.random.Generator,
    planted: Planted,
    customer_ids: np.ndarray,
    customers: pd.DataFrame,
    signup_offset: np.ndarray,
    active_to: np.ndarray,
    start: pd.Timestamp,
) -> pd.DataFrame:
    """One e-mail campaign every two months to consenting, signed-up customers."""
    span = int(active_to.max())
    send_days = np.arange(20, span, 61)
    n_c = customer_ids.size
    cust = np.repeat(np.arange(n_c), send_days.size)
    camp = np.tile(np.arange(send_days.size), n_c)
    day = send_days[camp]
    eligible = customers["email_consent"].to_numpy()[cust] & (signup_offset[cust] <= day)
    cust, camp, day = cust[eligible], camp[eligible], day[eligible]
    p = planted.values("campaign_response", cust)
    p = np.where(day > active_to[cust], 0.15 * p, p)  # lapsed customers rarely respond
    responded = rng.uniform(0, 1, cust.size) < p
    lag = rng.integers(0, 8, cust.size)
    sent = start + pd.to_timedelta(day, unit="D")
    return pd.DataFrame(
        {
            "customer_id": customer_ids[cust],
            "campaign_id": np.char.add("K", np.char.zfill((camp + 1).astype(str), 2)),
            "channel": "email",
            "sent_date": sent,
            "responded": responded,
            "response_date": pd.Series(sent + pd.to_timedelta(lag, unit="D")).where(responded),
        }
    )


def _lifestyle_survey(
    rng: np.random.Generator,
    planted: Planted,
    customer_ids: np.ndarray,
    age: np.ndarray,
    survey_share: float,
    start: pd.Timestamp,
    span_days: int,
) -> pd.DataFrame:
    """Attitudes/lifestyle battery (Likert 1-5), answered on a day in the history."""
    respondents = np.flatnonzero(rng.uniform(0, 1, planted.of.size) < survey_share)
    means = planted.values("lifestyle", respondents)
    answers = np.clip(np.round(means + rng.normal(0, 0.8, means.shape)), 1, 5)
    answers[rng.uniform(0, 1, answers.shape) < 0.03] = np.nan
    frame = pd.DataFrame(answers, columns=list(LIFESTYLE_ITEMS)).astype("Int64")
    frame.insert(0, "customer_id", customer_ids[respondents])
    day = rng.integers(0, span_days, respondents.size)
    frame.insert(1, "answered_on", start + pd.to_timedelta(day, unit="D"))
    frame["weight"] = np.round(np.where(age[respondents] < 35, 1.3, 0.95), 3)
    return frame
