"""The report stage: the overview figures, the revenue reconciliation and the HTML report."""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from segmint import __version__
from segmint.pipeline._features import FeatureTable
from segmint.pipeline._fitted import Evaluation, FittedRun
from segmint.pipeline._ingest import Ingested
from segmint.report import build_content, render_report, revenue_reconciliation


def reconcile(
    con: duckdb.DuckDBPyConnection, table: FeatureTable, ingested: Ingested
) -> tuple[float, dict[str, Any] | None]:
    """The segmented customers' revenue, and the net value of the lines used against it
    (``None`` for a sample, whose lines are not all in this connection)."""
    if table.sampled:
        return ingested.distributed.population_revenue_, None
    revenue = _revenue(con, table.features, table.spec.snapshot_date)
    snapshot = str(table.spec.snapshot_date)
    return revenue, revenue_reconciliation(con, table.features["customer_id"], snapshot, revenue)


def report_html(
    con: duckdb.DuckDBPyConnection, run: FittedRun, evaluation: Evaluation, method: dict[str, Any]
) -> str:
    """The self-contained HTML report of the run."""
    config, table, fit = run.config, run.table, run.fit
    first, last = con.execute(
        "SELECT CAST(min(order_date) AS DATE), CAST(max(order_date) AS DATE) FROM transactions"
    ).fetchall()[0]
    content = build_content(
        title=config.report.title,
        overview={
            "customers": table.n_customers,
            "segments": fit.n_segments,
            "k_forced": config.segmentation.k is not None,
            "transactions_used": run.ingested.transactions.n_used,
            "revenue": evaluation.revenue,
            "snapshot_date": table.spec.snapshot_date,
            "first_date": str(first),
            "last_date": str(last),
            "run_id": run.run_id,
            "segmint_version": __version__,
        },
        accounting=[a.to_dict() for a in run.ingested.accounting],
        evidence=fit.segmenter.evidence_,
        chosen_k=fit.n_segments,
        selection=fit.selection,
        profiles=run.described.profiles,
        names=run.described.names,
        descriptions={f.name: f.description for f in table.spec.features},
        bases=list(config.bases),
        method=method,
        deliverables=evaluation.deliverables,
        value_model=evaluation.value_model,
        reconciliation=evaluation.reconciliation,
        currency=config.io.currency,
        duplicate_policy=config.io.duplicates,
    )
    return render_report(content)


def _revenue(con: duckdb.DuckDBPyConnection, features: pd.DataFrame, snapshot: str) -> float:
    """Revenue of the segmented customers before the snapshot (``monetary`` when computed)."""
    if "monetary" in features:
        return float(features["monetary"].sum())
    return float(
        con.execute(
            "SELECT coalesce(sum(amount), 0) FROM transactions WHERE order_date < CAST(? AS DATE) "
            "AND customer_id IN (SELECT customer_id FROM features)",
            [snapshot],
        ).fetchall()[0][0]
    )
