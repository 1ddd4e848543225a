"""A synthetic B2B supplier: accounts, their contacts (the decision-making unit) and orders.

Accounts come from planted account segments that differ in company size, industry mix, buying
committee and ordering behaviour. Every table is drawn with vectorised numpy; the planted label is
returned separately and never read by the pipeline. In a B2B run the account is the customer:
``orders.customer_id`` is the ``account_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmint.datasets._planted import Planted, draw_category, write_tables

INDUSTRIES = (
    "manufacturing",
    "retail",
    "healthcare",
    "financial_services",
    "software",
    "logistics",
    "public_sector",
)
ROLES = ("decision_maker", "influencer", "user", "gatekeeper")
PRODUCT_LINES = ("licences", "services", "hardware", "support")
SALES_CHANNELS = ("field_sales", "inside_sales", "self_service", "partner")
_COUNTRIES = (
    ("Germany", 0.22),
    ("United Kingdom", 0.20),
    ("France", 0.14),
    ("Netherlands", 0.08),
    ("Australia", 0.14),
    ("New Zealand", 0.04),
    ("United States", 0.18),
)


@dataclass(frozen=True)
class PlantedAccountSegment:
    """Profile of one planted B2B account segment (rates per account and year)."""

    name: str
    share: float
    log_employees: tuple[float, float]  # mean, sd of log(employees)
    revenue_per_employee: float
    industry_mix: tuple[float, ...]
    contacts_mean: float
    role_mix: tuple[float, ...]
    orders_per_year: float
    order_value: float
    product_mix: tuple[float, ...]
    channel_mix: tuple[float, ...]
    tenure_years: tuple[float, float]  # uniform range of account age at the end


DEFAULT_B2B_SEGMENTS: tuple[PlantedAccountSegment, ...] = (
    PlantedAccountSegment(
        "enterprise_strategic",
        0.15,
        (8.0, 0.6),
        250_000,
        (0.25, 0.10, 0.15, 0.25, 0.10, 0.05, 0.10),
        9.0,
        (0.25, 0.35, 0.30, 0.10),
        10.0,
        40_000,
        (0.45, 0.35, 0.05, 0.15),
        (0.80, 0.15, 0.00, 0.05),
        (4.0, 10.0),
    ),
    PlantedAccountSegment(
        "midmarket_growth",
        0.30,
        (5.5, 0.5),
        180_000,
        (0.15, 0.15, 0.15, 0.10, 0.30, 0.10, 0.05),
        4.0,
        (0.30, 0.30, 0.35, 0.05),
        8.0,
        8_000,
        (0.50, 0.20, 0.10, 0.20),
        (0.20, 0.60, 0.10, 0.10),
        (0.5, 4.0),
    ),
    PlantedAccountSegment(
        "smb_transactional",
        0.40,
        (2.5, 0.7),
        120_000,
        (0.10, 0.35, 0.10, 0.05, 0.10, 0.25, 0.05),
        1.5,
        (0.70, 0.05, 0.25, 0.00),
        14.0,
        900,
        (0.20, 0.05, 0.60, 0.15),
        (0.02, 0.15, 0.78, 0.05),
        (0.2, 6.0),
    ),
    PlantedAccountSegment(
        "public_tenders",
        0.15,
        (6.5, 0.7),
        90_000,
        (0.0, 0.0, 0.30, 0.0, 0.0, 0.0, 0.70),
        6.0,
        (0.20, 0.25, 0.25, 0.30),
        2.0,
        60_000,
        (0.30, 0.40, 0.20, 0.10),
        (0.30, 0.10, 0.00, 0.60),
        (1.0, 8.0),
    ),
)


@dataclass
class B2BData:
    """Tables of a synthetic B2B supplier, plus the planted ground truth.

    Attributes
    ----------
    accounts : pandas.DataFrame
        ``account_id, name, industry, employees, annual_revenue, country, created_date``.
    contacts : pandas.DataFrame
        ``contact_id, account_id, role, created_date`` (roles: decision maker, influencer,
        user, gatekeeper).
    orders : pandas.DataFrame
        ``order_id, customer_id`` (= account id), ``order_date, amount, quantity, category``
        (product line), ``channel``.
    truth : pandas.DataFrame
        ``account_id, segment``.
    """

    accounts: pd.DataFrame
    contacts: pd.DataFrame
    orders: pd.DataFrame
    truth: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp

    def write(self, directory: str | Path) -> dict[str, Path]:
        """Write every table as CSV into ``directory`` and return the paths by table name."""
        names = ("accounts", "contacts", "orders", "truth")
        return write_tables(directory, {name: getattr(self, name) for name in names})


def _categorical(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One draw per row of the row-wise probabilities ``p`` (normalised per row)."""
    return draw_category(rng, np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1), p.shape[1])


def make_b2b(
    n_accounts: int = 600,
    seed: int = 7,
    *,
    start: str = "2023-01-01",
    end: str = "2024-12-31",
    segments: tuple[PlantedAccountSegment, ...] = DEFAULT_B2B_SEGMENTS,
) -> B2BData:
    """Generate a B2B supplier whose accounts come from planted segments.

    Parameters
    ----------
    n_accounts : int, default=600
    seed : int, default=7
        The same seed gives the same tables.
    start, end : str
        First and last day of the order history; accounts may be older than ``start``.
    segments : tuple of PlantedAccountSegment

    Examples
    --------
    >>> data = make_b2b(50, seed=1)
    >>> sorted(data.contacts["role"].unique())[:2]
    ['decision_maker', 'gatekeeper']
    """
    if n_accounts < 1:
        raise ValueError(f"n_accounts must be at least 1, got {n_accounts}.")
    rng = np.random.default_rng(seed)
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    span = (end_ts - start_ts).days + 1
    planted = Planted(rng, segments, n_accounts)
    ids = np.char.add("A", np.char.zfill(np.arange(1, n_accounts + 1).astype(str), 5))
    mu, sd = planted.values("log_employees").T
    employees = np.maximum(1, np.round(np.exp(rng.normal(mu, sd)))).astype(int)
    revenue = np.round(
        employees * planted.values("revenue_per_employee") * rng.lognormal(0, 0.3, n_accounts), -3
    )
    industry = _categorical(rng, planted.values("industry_mix") + 1e-3)
    countries = np.array([c for c, _ in _COUNTRIES])
    cp = np.array([p for _, p in _COUNTRIES])
    country = countries[rng.choice(len(countries), n_accounts, p=cp / cp.sum())]
    lo, hi = planted.values("tenure_years").T
    age_days = np.round(rng.uniform(lo, hi) * 365.25).astype(int)
    created_offset = span - age_days  # days after start (negative: before the history)
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "name": np.char.add("Company ", ids),
            "industry": np.array(INDUSTRIES)[industry],
            "employees": employees,
            "annual_revenue": revenue,
            "country": country,
            "created_date": start_ts + pd.to_timedelta(created_offset, unit="D"),
        }
    )

    # contacts: the buying committee; joined the account on or after its creation
    n_contacts = 1 + rng.poisson(np.maximum(planted.values("contacts_mean") - 1, 0.1))
    owner = np.repeat(np.arange(n_accounts), n_contacts)
    role = _categorical(rng, planted.values("role_mix", owner) + 1e-3)
    first = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    role[first] = 0  # every account has at least one decision maker
    joined = created_offset[owner] + np.round(
        rng.uniform(0, 1, owner.size) * (span - created_offset[owner]) * 0.5
    ).astype(int)
    joined[first] = created_offset[owner[first]]
    contacts = pd.DataFrame(
        {
            "contact_id": np.char.add(
                "P", np.char.zfill(np.arange(1, owner.size + 1).astype(str), 6)
            ),
            "account_id": ids[owner],
            "role": np.array(ROLES)[role],
            "created_date": start_ts + pd.to_timedelta(joined, unit="D"),
        }
    )

    # orders: Poisson counts over the active window (from creation or the start of history)
    active_from = np.maximum(created_offset, 0)
    years = (span - active_from) / 365.25
    rate = planted.values("orders_per_year") * rng.gamma(6.0, 1 / 6.0, n_accounts)
    n_orders = 1 + rng.poisson(rate * years)
    acc = np.repeat(np.arange(n_accounts), n_orders)
    day = active_from[acc] + np.floor(rng.uniform(0, 1, acc.size) * (span - active_from[acc]))
    value = planted.values("order_value") * rng.lognormal(0, 0.2, n_accounts)
    amount = np.round(value[acc] * rng.lognormal(0, 0.4, acc.size), 2)
    product = _categorical(rng, planted.values("product_mix", acc) + 1e-3)
    channel = _categorical(rng, planted.values("channel_mix", acc) + 1e-3)
    orders = (
        pd.DataFrame(
            {
                "order_id": np.char.add(
                    "B", np.char.zfill(np.arange(1, acc.size + 1).astype(str), 7)
                ),
                "customer_id": ids[acc],
                "order_date": start_ts + pd.to_timedelta(day.astype(int), unit="D"),
                "amount": amount,
                "quantity": 1 + rng.poisson(np.clip(amount / 2_000, 0.1, 50)),
                "category": np.array(PRODUCT_LINES)[product],
                "channel": np.array(SALES_CHANNELS)[channel],
            }
        )
        .sort_values(["order_date", "order_id"])
        .reset_index(drop=True)
    )
    return B2BData(accounts, contacts, orders, planted.truth("account_id", ids), start_ts, end_ts)
