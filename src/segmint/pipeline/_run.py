"""``run_segmentation``: the stages in order, timed, into one atomically written folder."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from segmint._logging import library_warnings_to_log, logger
from segmint.activate import OutputFolder
from segmint.config import Config
from segmint.features import FeatureOptions, value_model_summary
from segmint.io import SourceAccount
from segmint.pipeline._describe import describe, method_record
from segmint.pipeline._features import build_customer_features, uses_catalogue
from segmint.pipeline._fitted import Evaluation, FittedRun
from segmint.pipeline._ingest import ingest
from segmint.pipeline._inputs import RunInputs, check_inputs
from segmint.pipeline._outputs import record_in_store, run_record, write_model, write_tables
from segmint.pipeline._report import reconcile, report_html
from segmint.pipeline._segment import segment
from segmint.profile import SegmentProfiles
from segmint.strategy import Deliverables, build_deliverables

Progress = Callable[[str], None]


@dataclass
class RunResult:
    """What a run produced: the output paths and the key figures."""

    out: Path
    run_id: str
    n_customers: int
    n_segments: int
    names: dict[int, str]
    accounting: list[SourceAccount]
    evidence: pd.DataFrame
    segments: pd.DataFrame
    profiles: SegmentProfiles
    timings: dict[str, float]
    files: list[Path] = field(default_factory=list)
    config: Config | None = None
    reconciliation: dict[str, Any] | None = None
    selection: dict[str, Any] | None = None
    """How k was decided: chosen, runner_up, reason, rule (see ``segmenters.k_selection``)."""


class _Timer:
    def __init__(self, progress: Progress | None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        logger.info("stage %s", name)
        start = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - start, 3)


def run_segmentation(
    transactions: str | Path,
    out: str | Path,
    *,
    customers: str | Path | None = None,
    config: Config | None = None,
    progress: Progress | None = None,
    sources: Mapping[str, str | Path] | None = None,
    hash_salt: str | None = None,
) -> RunResult:
    """Segment the customers in a transaction log and write every output into ``out``.

    Parameters
    ----------
    transactions : str or Path
        Transaction log (CSV/TSV, whitespace-separated text, or Parquet).
    out : str or Path
        Output folder; created if needed. Outputs: ``report.html``, ``segments.parquet``,
        ``segments.csv``, ``profiles.csv``, ``evidence.csv``, ``model.json``, ``run.json``,
        ``quarantine.parquet`` and the run store ``segmint.duckdb``.
    customers : str or Path, optional
        Customer table (CRM export) whose attributes are profiled.
    config : Config, optional
        Settings; defaults when omitted.
    progress : callable, optional
        Called with the name of each stage as it starts.
    sources : mapping, optional
        ``role -> file`` of further tables: ``events``, ``survey``, ``psychographic``,
        ``campaigns``, ``accounts``, ``contacts``. Each is loaded with its role's loader (row
        accounting in run.json and the report) and the features of ``config.bases`` are built
        over all the tables given. Without them, and with only the transaction bases chosen,
        the features are the transaction features as before.
    hash_salt : str, optional
        Pseudonymise the identifiers (customer, account, contact ids, e-mails, phones) of every
        table, the raw tables and the quarantine with salted SHA-256 before any feature is
        computed: no raw id reaches an output. An empty salt is refused. Without it the
        quarantine's e-mails, phones, names and addresses are hashed all the same (random salt)
        unless ``config.io.keep_raw_quarantine``.

    Returns
    -------
    RunResult
    """
    inputs = check_inputs(transactions, customers, config or Config(), sources, hash_salt)
    with OutputFolder(out) as folder, library_warnings_to_log():
        con = duckdb.connect()
        result, started = _run_stages(con, inputs, folder, Path(out), _Timer(progress))
        con.close()
        result.files = folder.commit(run_id=result.run_id, created_at=started.isoformat())
    logger.info(
        "run %s: %d customers in %d segments", result.run_id, result.n_customers, result.n_segments
    )
    return result


def _run_stages(
    con: duckdb.DuckDBPyConnection,
    inputs: RunInputs,
    folder: OutputFolder,
    out: Path,
    timer: _Timer,
) -> tuple[RunResult, datetime]:
    """ingest → features → segment → profile → evaluate → report → outputs."""
    config, started = inputs.config, datetime.now(UTC)
    with_customers = inputs.customers is not None
    with timer.stage("ingest"):
        ingested = ingest(con, inputs, folder.staging)
    catalogue = uses_catalogue(con, inputs, ingested)
    with timer.stage("features"):
        table = build_customer_features(con, inputs, ingested, catalogue)
    with timer.stage("segment"):
        fit = segment(con, table, config, with_customers=with_customers)
        folder.write_table("features", table.features, ("parquet",))
    with timer.stage("profile"):
        described = describe(con, table, fit, config, with_customers=with_customers)
    run = FittedRun(inputs, started, ingested, table, fit, described)
    method = method_record(config, table, fit, ingested.data_fingerprint)
    with timer.stage("evaluate"):
        deliverables = _evaluate(con, folder, run, catalogue)
    with timer.stage("report"):
        revenue, reconciliation = reconcile(con, table, ingested)
        value_model = value_model_summary(table.spec.models.get("value"))
        evaluation = Evaluation(deliverables, value_model, revenue, reconciliation)
        folder.write_text("report.html", report_html(con, run, evaluation, method))
    with timer.stage("outputs"):
        _write_outputs(con, folder, out, run, evaluation, timer)
    result = RunResult(
        out=out,
        run_id=run.run_id,
        n_customers=table.n_customers,
        n_segments=fit.n_segments,
        names=described.names,
        accounting=ingested.accounting,
        evidence=fit.segmenter.evidence_,
        selection=fit.selection,
        segments=described.segments,
        profiles=described.profiles,
        timings=timer.timings,
        config=config,
        reconciliation=reconciliation,
    )
    return result, started


def _evaluate(
    con: duckdb.DuckDBPyConnection, folder: OutputFolder, run: FittedRun, catalogue: bool
) -> Deliverables:
    """Scorecard, out-of-time lift, priorities and typing tool, written as they come."""
    config, table, fit, names = run.config, run.table, run.fit, run.described.names
    deliverables = build_deliverables(
        con,
        features=table.features,
        feature_names=fit.numeric,
        labels=fit.labels,
        segmenter=fit.segmenter,
        stability=fit.stability,
        profiles=run.described.profiles,
        names=names,
        snapshot_date=table.spec.snapshot_date,
        config=config,
        descriptions={f.name: f.description for f in table.spec.features},
        tables=run.inputs.tables if catalogue else None,
        options=FeatureOptions.from_config(config.features) if catalogue else None,
    )
    folder.write_table("scorecard", deliverables.scorecard.to_frame(names), ("csv",))
    if deliverables.lift is not None:
        folder.write_table("lift", deliverables.lift.to_frame(), ("csv",))
    folder.write_table("priorities", deliverables.priorities_frame(), ("csv",))
    if deliverables.typing_tool is not None:
        folder.write_text(
            "typing_tool.sql",
            deliverables.typing_tool.to_sql("features", id_col="customer_id") + ";\n",
        )
    return deliverables


def _write_outputs(
    con: duckdb.DuckDBPyConnection,
    folder: OutputFolder,
    out: Path,
    run: FittedRun,
    evaluation: Evaluation,
    timer: _Timer,
) -> None:
    """Model, tables, quarantine, the run store and ``run.json`` (written last)."""
    fitted = run.described.segments  # before a sampled run's population replaces them
    model, summary, sample = write_model(con, folder, run, evaluation.deliverables)
    write_tables(con, folder, run, fitted)
    record = run_record(run, evaluation, timer.timings)
    if sample is not None:
        record["sample"] = sample
    record_in_store(folder, out, record, run, summary=summary, model=model)
    timer.timings["total"] = round(sum(timer.timings.values()), 3)
    folder.write_json("run.json", record)
