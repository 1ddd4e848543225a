"""Contractual customers: a customer table with contract dates routes the value basis to sBG.

The log is generated from the sBG model itself (churn probability theta ~ Beta(0.7, 3.8) per
customer, monthly renewals, a payment at the start of every month paid), so the fitted
parameters, the holdout renewals and the per-customer scores can be checked against figures
computed here independently: the holdout counts from the simulated lifetimes, the scores from
the closed-form retention rates r_t = (beta + t - 1) / (alpha + beta + t - 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

ALPHA, BETA = 0.7, 3.8
OBS_END = pd.Timestamp("2024-12-31")
N = 4000


def _contracts(seed: int = 5, n: int = N) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers with contract start/end dates and their simulated lifetimes (periods paid)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 540, n), unit="D")
    life = np.minimum(rng.geometric(rng.beta(ALPHA, BETA, n)), 240)
    end = pd.Series(
        [
            s + pd.DateOffset(months=int(k)) - pd.Timedelta(days=1)
            for s, k in zip(start, life, strict=True)
        ]
    )
    ids = np.char.add("C", np.arange(n).astype(str))
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "contract_start": start.date,
            "contract_end": end.where(end <= OBS_END).dt.date,
            "price": rng.choice([9.99, 19.99, 49.0], n, p=[0.5, 0.35, 0.15]),
        }
    )
    return frame, life


def _payments(customers: pd.DataFrame, life: np.ndarray) -> pd.DataFrame:
    """One payment on the first day of every contract month paid, up to the observation end."""
    con = duckdb.connect()
    con.register("c", customers.assign(life=life))
    return con.sql(
        f"""
        SELECT customer_id, CAST(CAST(contract_start AS DATE) + to_months(CAST(k AS INTEGER))
               AS DATE) AS order_date, price AS amount
        FROM c, range(240) AS r(k)
        WHERE k < life
          AND CAST(contract_start AS DATE) + to_months(CAST(k AS INTEGER))
              <= DATE '{OBS_END.date()}'
        ORDER BY customer_id, order_date
        """
    ).df()


@pytest.fixture(scope="module")
def contract_run(tmp_path_factory: pytest.TempPathFactory, cli) -> dict:
    folder = tmp_path_factory.mktemp("contracts")
    customers, life = _contracts()
    customers.drop(columns="price").to_csv(folder / "customers.csv", index=False)
    payments = _payments(customers, life)
    payments.to_csv(folder / "payments.csv", index=False)
    out = folder / "out"
    result = cli(
        "run",
        "--transactions",
        str(folder / "payments.csv"),
        "--customers",
        str(folder / "customers.csv"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    return {
        "folder": folder,
        "out": out,
        "customers": customers,
        "life": life,
        "run": json.loads((out / "run.json").read_text()),
        "stdout": result.stdout,
    }


def test_contract_dates_route_to_sbg_and_recover_the_parameters(contract_run: dict) -> None:
    vm = contract_run["run"]["value_model"]
    assert vm["data_shape"]["shape"] == "contractual"
    assert "contract_start, contract_end" in vm["data_shape"]["rule"]
    assert vm["purchase_model"] == "sBG"
    assert vm["spend_model"] == "value per contract period"
    assert "sBG, the model of contractual retention" in vm["reason"]
    (fit,) = [f for f in vm["fits"] if f["role"] == "purchase"]
    assert fit["model"] == "sBG" and fit["converged"] is True
    params = {p["name"]: (p["value"], p["std_error"]) for p in fit["params"]}
    for name, truth in (("alpha", ALPHA), ("beta", BETA)):
        value, se = params[name]
        assert se is not None and se > 0
        assert abs(value - truth) < 3.5 * se, (name, value, se)
    customers = contract_run["customers"]
    ended = customers["contract_end"].notna()
    assert vm["contracts"]["n_contracts"] == N
    assert vm["contracts"]["n_ended"] == int(ended.sum())
    assert vm["contracts"]["n_future"] == 12  # the 52-week horizon in months


def _renewals_by(start: pd.Timestamp, day: pd.Timestamp) -> int:
    """Renewals a contract started on ``start`` has made by ``day``: whole months passed."""
    m = (day.year - start.year) * 12 + day.month - start.month
    while m > 0 and start + pd.DateOffset(months=m) > day:
        m -= 1
    return max(m, 0)


def test_the_holdout_counts_the_renewals_the_simulation_made(contract_run: dict) -> None:
    h = contract_run["run"]["value_model"]["holdout"]
    assert h["model"] == "sBG" and h["unit"] == "month" and h["quantity"] == "renewals"
    fit_end = pd.Timestamp(h["fit_end"])
    customers, life = contract_run["customers"], contract_run["life"]
    start = pd.to_datetime(customers["contract_start"])
    last_day = pd.Series(
        [
            s + pd.DateOffset(months=int(k)) - pd.Timedelta(days=1)
            for s, k in zip(start, life, strict=True)
        ]
    )
    # contracts running on the holdout's eve, and the renewals they had made by then
    active = ((start <= fit_end) & (last_day > fit_end)).to_numpy()
    made = np.array([_renewals_by(s, fit_end) for s in start[active]])
    assert h["n_customers"] == int(active.sum())
    # renewal made + j happened if the contract paid more than made + j months, or is still
    # running at the observation end (its later renewals are not observed yet)
    running = (last_day[active] > OBS_END).to_numpy()
    actual = [
        int(((life[active] - 1 >= made + j) | running).sum()) for j in range(1, h["n_periods"] + 1)
    ]
    assert [p["actual"] for p in h["periods"]] == actual
    assert h["actual_total"] == sum(actual)
    # the forecast of a model fitted before the holdout: within 5 % of what happened
    assert abs(h["predicted_total"] - h["actual_total"]) < 0.05 * h["actual_total"]


def test_scores_follow_the_sbg_formulas(contract_run: dict) -> None:
    vm = contract_run["run"]["value_model"]
    (fit,) = [f for f in vm["fits"] if f["role"] == "purchase"]
    a, b = (next(p["value"] for p in fit["params"] if p["name"] == n) for n in ("alpha", "beta"))
    features = pd.read_parquet(contract_run["out"] / "features.parquet").set_index("customer_id")
    customers = contract_run["customers"].set_index("customer_id")
    ended = customers["contract_end"].notna()
    lost = features.loc[ended[ended].index]
    assert (lost[["p_alive", "expected_purchases", "clv"]] == 0).all().all()
    monthly = (1.10) ** (1 / 12) - 1
    checked = 0
    for cid in ended[~ended].index[:50]:
        start = pd.Timestamp(customers.loc[cid, "contract_start"])
        snapshot_eve = pd.Timestamp(vm["calibration_end"])
        k = _renewals_by(start, snapshot_eve)
        ratios = np.cumprod([(b + t - 1) / (a + b + t - 1) for t in range(k + 1, k + 13)])
        row = features.loc[cid]
        assert row["p_alive"] == pytest.approx(ratios[0], rel=1e-9)
        assert row["expected_purchases"] == pytest.approx(ratios.sum(), rel=1e-9)
        price = customers.loc[cid, "price"]
        assert row["expected_spend"] == pytest.approx(price, rel=1e-9)
        discount = (1 + monthly) ** -np.arange(1, 13)
        assert row["clv"] == pytest.approx(price * (ratios @ discount), rel=1e-9)
        checked += 1
    assert checked == 50
    assert "Likely" in contract_run["stdout"]  # names read P(renewal), not "High p alive"


def test_the_report_states_the_contract_model(contract_run: dict) -> None:
    report = (contract_run["out"] / "report.html").read_text(encoding="utf-8")
    assert "Fitted on the contracts of 4,000 customers" in report
    assert "renewals every month" in report
    assert "Cumulative renewals" in report


def test_scoring_with_the_saved_model_reproduces_the_scores(contract_run: dict, cli) -> None:
    folder, out = contract_run["folder"], contract_run["out"]
    scored = folder / "scored.parquet"
    result = cli(
        "score",
        "--model",
        str(out),
        "--input",
        str(folder / "payments.csv"),
        "--customers",
        str(folder / "customers.csv"),
        "--out",
        str(scored),
    )
    assert result.returncode == 0, result.stderr
    segments = pd.read_parquet(out / "segments.parquet").set_index("customer_id")
    again = pd.read_parquet(scored).set_index("customer_id")
    common = segments.index.intersection(again.index)
    assert len(common) == N
    assert (again.loc[common, "segment_id"] == segments.loc[common, "segment_id"]).all()


def test_no_contract_ended_is_not_called_converged(tmp_path: Path, cli) -> None:
    customers, _ = _contracts(seed=9, n=600)
    customers["contract_end"] = None  # nobody has left: churn cannot be estimated
    payments = _payments(customers, np.full(len(customers), 240))
    customers.drop(columns="price").to_csv(tmp_path / "customers.csv", index=False)
    payments.to_csv(tmp_path / "payments.csv", index=False)
    out = tmp_path / "out"
    result = cli(
        "run",
        "--transactions",
        str(tmp_path / "payments.csv"),
        "--customers",
        str(tmp_path / "customers.csv"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    run = json.loads((out / "run.json").read_text())
    vm = run["value_model"]
    (fit,) = [f for f in vm["fits"] if f["role"] == "purchase"]
    assert fit["model"] == "sBG" and fit["converged"] is False
    assert "churn" in fit["reason"].lower()
    assert fit["fallback"] and vm["purchase_model"] is None
    assert not {"p_alive", "clv"} & set(vm["features"])
