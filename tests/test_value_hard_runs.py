"""Whole runs on logs where the lifetime-value models cannot be estimated well.

The value basis (BG/NBD and Gamma-Gamma, part of the default bases) must never crash a run, write
NaN/inf, or call a fit converged when it is not: a fit that did not converge carries a reason in
words in ``run.json``, and the run goes on with a stated fallback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _log(case: str, seed: int = 3) -> pd.DataFrame:
    """A small transaction log of the given hard shape (customer_id, order_date, amount)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2023-01-01")
    if case == "one_purchase_each":
        n = 300
        days = rng.integers(0, 365, n)
        return pd.DataFrame(
            {
                "customer_id": [f"c{i}" for i in range(n)],
                "order_date": start + pd.to_timedelta(days, unit="D"),
                "amount": rng.gamma(2.0, 30.0, n).round(2),
            }
        )
    n_customers = {"twenty_customers": 20}.get(case, 300)
    span = {"short_window": 14, "long_window": 3650}.get(case, 365)
    orders = 1 + rng.poisson(2.0, n_customers)
    customer = np.repeat(np.arange(n_customers), orders)
    first = rng.integers(0, max(span // 2, 1), n_customers)[customer]
    day = first + (rng.random(customer.size) * (span - first)).astype(int)
    if case == "constant_spend":
        spend = rng.gamma(2.0, 25.0, n_customers).round(2)[customer]
    else:
        spend = rng.gamma(3.0, 15.0, customer.size).round(2)
    if case == "whales":
        spend = np.where(customer < 3, spend * 10_000, spend)
    return pd.DataFrame(
        {
            "customer_id": np.char.add("c", customer.astype(str)),
            "order_date": start + pd.to_timedelta(day, unit="D"),
            "amount": spend,
        }
    )


def _fits(node: object, path: str = "") -> Iterator[tuple[str, dict]]:
    """Every dict in a JSON document that says whether a fit converged."""
    if isinstance(node, dict):
        if "converged" in node:
            yield path, node
        for key, value in node.items():
            yield from _fits(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _fits(value, f"{path}[{i}]")


def _strict(text: str) -> dict:
    def refuse(token: str) -> float:
        raise AssertionError(f"non-finite JSON token {token}")

    return json.loads(text, parse_constant=refuse)


CASES = [
    "one_purchase_each",
    "twenty_customers",
    "constant_spend",
    "short_window",
    "long_window",
    "whales",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_a_run_on_a_hard_log_goes_on_and_says_why(case: str, tmp_path: Path, cli) -> None:
    data = tmp_path / f"{case}.csv"
    log = _log(case)
    log.to_csv(data, index=False)
    # a customer table with ages makes this a catalogue run, where the value basis fits the
    # lifetime-value models (a transaction-only run describes value by history alone)
    ids = log["customer_id"].drop_duplicates().to_numpy()
    ages = np.random.default_rng(11).integers(18, 80, ids.size)
    crm = tmp_path / "crm.csv"
    pd.DataFrame({"customer_id": ids, "age": ages}).to_csv(crm, index=False)
    config = tmp_path / "segmint.yaml"
    config.write_text(
        "bases: [behavioural, value, demographic]\nsegmentation: {stability_resamples: 3}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["run", "--transactions", str(data), "--customers", str(crm), "--config", str(config)]
    args += ["--out", str(out)]
    if case == "twenty_customers":
        args += ["--k", "2"]
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    run = _strict((out / "run.json").read_text())
    model = _strict((out / "model.json").read_text())
    fits = list(_fits(run)) + list(_fits(model))
    assert fits, "run.json/model.json say nothing about the value models' fits"
    for where, fit in fits:
        if fit["converged"] is False:
            reason = fit.get("reason") or fit.get("convergence_reason")
            assert isinstance(reason, str) and len(reason) > 20, (where, fit)
    features = pd.read_parquet(out / "features.parquet")
    numeric = features.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy(dtype=float)).all()
