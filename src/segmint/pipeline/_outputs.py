"""The outputs stage: the model, the segment tables, the quarantine, run.json and the store."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sklearn

from segmint import __version__
from segmint.activate import (
    MODEL_NAME,
    OutputFolder,
    build_model_document,
    recount_segments,
    save_model,
    seal,
)
from segmint.io import identifier_columns, protect_quarantine
from segmint.monitor import STORE_NAME, feature_summary, record_run
from segmint.pipeline._describe import ID_RULE
from segmint.pipeline._fitted import Evaluation, FittedRun
from segmint.pipeline._population import assign_population, sample_record
from segmint.report import customers_without_purchase
from segmint.strategy import Deliverables


def write_model(
    con: duckdb.DuckDBPyConnection,
    folder: OutputFolder,
    run: FittedRun,
    deliverables: Deliverables,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """``model.json`` written; on a sample, the population assigned and the model recounted.

    Returns the sealed model document, the feature summary it holds (the drift reference)
    and, for a sample, ``run.json``'s ``sample`` record (``None`` otherwise); ``run.described``
    then holds the population's segments.
    """
    config, table, fit, described = run.config, run.table, run.fit, run.described
    numeric = {f.name: f.transform for f in table.spec.features if f.name in fit.numeric}
    summary = feature_summary(table.features, fit.labels, numeric)
    model = seal(
        build_model_document(
            spec=table.spec,
            preparer=fit.preparer,
            segmenter=fit.segmenter,
            segments=described.profiles.summary,
            names=described.names,
            data_fingerprint=run.ingested.data_fingerprint,
            config_hash=config.fingerprint(),
            created_at=run.started.isoformat(),
            id_rule=ID_RULE,
            run_id=run.run_id,
            typing_tool=deliverables.typing_tool,
            reference=summary,
        )
    )
    save_model(model, folder.path(MODEL_NAME))
    if not table.sampled:
        return model, summary, None
    fitted = described.segments  # the customers the model was fitted on
    population = assign_population(
        run.ingested.distributed,
        con,
        folder.path(MODEL_NAME),
        table,
        fit,
        fitted,
        described.names,
        with_categories=config.segmentation.method in ("mixed", "lca")
        and run.inputs.customers is not None,
    )
    # model.json counts every customer assigned (the sample's: run.json "sample")
    model = recount_segments(model, population.segments["segment_id"].to_numpy())
    save_model(model, folder.path(MODEL_NAME))
    sample = sample_record(
        run.ingested.distributed,
        config,
        table,
        fitted,
        population,
        with_lift=deliverables.lift is not None,
        with_probabilities=hasattr(fit.segmenter, "predict_proba"),
    )
    described.segments = population.segments
    return model, summary, sample


def write_tables(
    con: duckdb.DuckDBPyConnection, folder: OutputFolder, run: FittedRun, fitted: pd.DataFrame
) -> None:
    """Segments, profiles, evidence, the quarantine (identifying columns protected) and the
    membership probabilities of the ``fitted`` customers when the segmenter gives them."""
    fit, described = run.fit, run.described
    folder.write_table("segments", described.segments, ("parquet", "csv"))
    folder.write_table("profiles", described.profiles.wide(described.names), ("csv",))
    folder.write_table("evidence", fit.segmenter.evidence_, ("csv",))
    ids = identifier_columns(run.ingested.accounting)
    keep = run.config.io.keep_raw_quarantine
    protect_quarantine(con, run.inputs.hash_salt, ids, keep)  # privacy by default
    quarantine = con.sql("SELECT * FROM quarantine ORDER BY source, row").df()
    quarantine.to_parquet(folder.path("quarantine.parquet"), index=False)
    if hasattr(fit.segmenter, "predict_proba"):
        proba = fit.segmenter.predict_proba(fit.fit_input)
        folder.write_table(
            "probabilities",
            fitted[["customer_id", "segment_id"]].assign(
                **{f"probability_{j}": proba[:, j] for j in range(proba.shape[1])}
            ),
            ("parquet",),
        )


def run_record(run: FittedRun, evaluation: Evaluation, timings: dict[str, float]) -> dict[str, Any]:
    """The content of ``run.json`` (without ``sample``, which :func:`write_model` gives)."""
    config, table, fit = run.config, run.table, run.fit
    lift, reconciliation = evaluation.deliverables.lift, evaluation.reconciliation
    return {
        "run_id": run.run_id,
        "created_at": run.started.isoformat(),
        "segmint_version": __version__,
        "versions": {
            "python": platform.python_version(),
            "duckdb": duckdb.__version__,
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "config": config.model_dump(mode="json"),
        "config_hash": config.fingerprint(),
        "inputs": run.ingested.fingerprints,
        "data_fingerprint": run.ingested.data_fingerprint,
        "snapshot_date": table.spec.snapshot_date,
        "row_accounting": [a.to_dict() for a in run.ingested.accounting],
        **({"revenue_reconciliation": reconciliation} if reconciliation else {}),
        "counts": {
            "customers_segmented": table.n_customers,
            "transactions_used": run.ingested.transactions.n_used,
            "segments": fit.n_segments,
            "customers_without_purchase": customers_without_purchase(reconciliation),
        },
        "evidence": fit.segmenter.evidence_.to_dict(orient="records"),
        "selection": fit.selection,
        "method": fit.method_name,
        "stability": fit.stability,
        **({"lift": lift.summary()} if lift else {}),
        **({"value_model": evaluation.value_model} if evaluation.value_model else {}),
        "timings_seconds": timings,
    }


def record_in_store(
    folder: OutputFolder,
    out: Path,
    record: dict[str, Any],
    run: FittedRun,
    *,
    summary: dict[str, Any],
    model: dict[str, Any],
) -> None:
    """The run added to the run store (``segmint.duckdb``), for history and monitoring."""
    described = run.described
    record_run(
        folder.path(STORE_NAME),
        out / STORE_NAME,
        {
            **record,
            "n_customers": run.table.n_customers,
            "n_segments": run.fit.n_segments,
            "method": run.fit.method_name,
            "metrics": {"evidence": record["evidence"]},
        },
        described.segments,
        described.profiles.wide(described.names),
        summary=summary,
        model=model,
    )
