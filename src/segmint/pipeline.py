"""The main job, end to end: ingest → features → segment → profile → report → outputs.

Each stage is a function of the stages before it; this module only runs them in order, times
them, and writes every output atomically into the output folder.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import sklearn

from segmint import __version__, engines
from segmint._logging import library_warnings_to_log, logger
from segmint.activate import OutputFolder
from segmint.activate._model import (
    MODEL_NAME,
    build_model_document,
    load_model,
    recount_segments,
    save_model,
    seal,
)
from segmint.activate._scoring import (
    EXTRA_ROLES,
    categorical_names,
    category_frame,
    check_roles,
    load_source_table,
    numeric_names,
)
from segmint.config import Config
from segmint.evaluate._behaviour import BEHAVIOUR_COLUMNS, join_behaviour
from segmint.evaluate._behaviour import fill_missing as _fill_missing
from segmint.exceptions import ConfigError
from segmint.features import contract_columns, value_model_summary
from segmint.features._behavioural import build_features, plan_features
from segmint.features._catalogue import FeatureOptions
from segmint.features._prepare import FeaturePreparer, drop_uninformative
from segmint.features._table import _check_bases, build_feature_table
from segmint.io import (
    SourceAccount,
    check_enough_customers,
    configure_connection,
    describe_values,
    hash_identifiers,
    identifier_columns,
    load_customers,
    load_transactions,
    map_columns,
    protect_quarantine,
    read_source,
)
from segmint.monitor import STORE_NAME, record_run
from segmint.monitor._drift import feature_summary
from segmint.profile._names import name_segments
from segmint.profile._profiles import SegmentProfiles, profile_segments
from segmint.report._data import customers_without_purchase, revenue_reconciliation
from segmint.report._html import build_content, render_report
from segmint.segmenters._factory import (
    SegmenterSettings,
    fit_segmenter,
    k_selection,
    method_input,
    normalised_evidence,
    resolve_method,
    segment_names,
    segment_stability,
    selection_rule,
)
from segmint.strategy._deliverables import build_deliverables

ID_RULE = (
    "0 is the largest segment, then by descending size (ties by centre); refits are matched to "
    "earlier ids by member overlap."
)

Progress = Callable[[str], None]

#: The bases computed from the transaction log alone (the default feature stage).
TRANSACTION_BASES = frozenset({"behavioural", "value"})


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


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file, streamed in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": digest.hexdigest()}


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
    config = config or Config()
    sources = {role: Path(path) for role, path in (sources or {}).items()}
    check_roles(sources)
    sources = {role: sources[role] for role in EXTRA_ROLES if role in sources}
    # the transaction features as they always were, or the catalogue over every table given
    catalogue = bool(sources) or not set(config.bases) <= TRANSACTION_BASES
    if config.engine == "spark" and (catalogue or hash_salt is not None):
        extra = [*sources, *(b for b in config.bases if b not in TRANSACTION_BASES)]
        raise ConfigError(
            "The Spark engine computes the transaction bases only; "
            + (
                f"{', '.join(extra)} need the DuckDB engine."
                if extra
                else "hashing identifiers needs the DuckDB engine."
            ),
            hint="Run with --engine duckdb, or keep bases to behavioural and value without "
            "extra tables.",
        )
    if hash_salt is not None and not hash_salt:
        raise ConfigError(
            "hashing identifiers needs a non-empty salt.",
            hint="Pass --salt or set SEGMINT_SALT (keep it to make later runs match).",
        )
    tables = {
        "transactions": "transactions",
        **({"customers": "customers"} if customers is not None else {}),
        **{role: role for role in sources},
    }
    if catalogue:
        _check_bases(config.bases, tables)  # a basis without its table: refused before loading
    timer = _Timer(progress)
    started = datetime.now(UTC)
    inputs = (
        [Path(transactions)] + ([Path(customers)] if customers else []) + list(sources.values())
    )

    with OutputFolder(out) as folder, library_warnings_to_log():
        con = duckdb.connect()
        accounting: list[SourceAccount] = []
        with timer.stage("ingest"):
            # bounded memory: beyond the limit DuckDB spills to the staging folder (the path
            # is quoted as a SQL string there: an output path may hold any character)
            configure_connection(
                con,
                memory_limit=config.io.memory_limit or engines.default_memory_limit(),
                temp_directory=folder.staging,
            )
            if config.engine == "spark":
                spark_run = engines.SparkRun(config.spark, Path(folder.staging) / "spark")
                accounting += spark_run.ingest(
                    con, transactions, customers=customers, config=config
                )
                describe_values(con, next(a for a in accounting if a.role == "transactions"))
                fingerprints = [engines.source_fingerprint(p) for p in inputs]
            else:
                known = None
                if customers is not None:
                    raw_c = read_source(con, customers, "raw_customers", **config.io.read_options())
                    matches = map_columns(
                        raw_c.columns,
                        "customers",
                        explicit=config.mapping.customers,
                        path=str(raw_c.path),
                    )
                    accounting.append(load_customers(con, raw_c, matches))
                    known = "customers"
                raw_t = read_source(
                    con, transactions, "raw_transactions", typed=True, **config.io.read_options()
                )
                matches = map_columns(
                    raw_t.columns,
                    "transactions",
                    explicit=config.mapping.transactions,
                    path=str(raw_t.path),
                )
                accounting.append(
                    load_transactions(
                        con,
                        raw_t,
                        matches,
                        known_customers=known,
                        **config.io.transaction_options(),
                    )
                )
                for role, path in sources.items():
                    accounting.append(
                        load_source_table(
                            con,
                            role,
                            path,
                            mapping=getattr(config.mapping, role, None)
                            if role != "psychographic"
                            else None,
                            known_customers=known,
                            known_accounts="accounts" if "accounts" in sources else None,
                            read_options=config.io.read_options(),
                        )
                    )
                if hash_salt is not None:  # the quarantine's records: protect_quarantine
                    names = [*tables.values(), *(f"raw_{role}" for role in tables)]
                    ids = identifier_columns(accounting)
                    hash_identifiers(con, names, ids, hash_salt, quarantine=False)
                fingerprints = [file_fingerprint(p) for p in inputs]
            data_fingerprint = hashlib.sha256(
                "".join(f["sha256"] for f in fingerprints).encode()
            ).hexdigest()

        if not catalogue and "customers" in tables and config.engine != "spark":
            # contractual customers (contract start and end dates): the value basis fits sBG,
            # which the catalogue's value basis does
            catalogue = contract_columns(con, tables["customers"]) is not None
        with timer.stage("features"):
            if config.engine == "spark":
                spec, features = spark_run.features(con, config)
                n_customers = len(features)
            elif catalogue:
                features, spec = build_feature_table(
                    con,
                    bases=config.bases,
                    snapshot=config.snapshot_date,
                    tables_available=tables,
                    options=FeatureOptions.from_config(config.features),
                )
                spec, features = _fill_missing(con, spec, features)
                features = join_behaviour(
                    con, features, date.fromisoformat(str(spec.snapshot_date))
                )
                n_customers = len(features)
            else:
                spec = plan_features(con, config.snapshot_date)
                spec.features = [f for f in spec.features if f.basis in config.bases]
                n_customers = build_features(con, spec)
                features = con.sql("SELECT * FROM features").df()
            # Spark with spark.sample_customers: fitted on a sample, every customer assigned
            sampled = config.engine == "spark" and spark_run.sampled_
            if sampled:
                n_fitted, n_customers = n_customers, spark_run.n_population_

        with timer.stage("segment"):
            seg_cfg = config.segmentation
            check_enough_customers(
                n_customers if not sampled else n_fitted,
                k=seg_cfg.k,
                k_min=seg_cfg.k_min,
                method=seg_cfg.method,
                snapshot=spec.snapshot_date,
            )
            # numbers are prepared and scaled; categories and bands go to the segmenter as text
            numeric, dropped = drop_uninformative(features, numeric_names(spec))
            spec.features = [f for f in spec.features if f.name not in dropped]
            categories = categorical_names(spec)
            preparer = FeaturePreparer({f.name: f.transform for f in spec.features})
            X = preparer.fit_transform(features[numeric])
            categorical = pd.DataFrame(index=features.index)
            if categories:
                categorical = category_frame(features, categories)
            if seg_cfg.method in ("mixed", "lca") and customers is not None:
                customer_categories = _customer_categories(con, features["customer_id"])
                categorical = (
                    categorical.join(customer_categories, rsuffix="_customer")
                    if categories
                    else customer_categories
                )
            method_name = resolve_method(
                seg_cfg.method, numeric=features[numeric], categorical=categorical
            )
            if categories and method_name in ("kmeans", "gmm", "ensemble"):
                raise ConfigError(
                    f"method '{method_name}' segments numeric features only, and the bases "
                    f"{', '.join(dict.fromkeys(spec.feature(c).basis for c in categories))} "
                    f"give categorical ones: {', '.join(categories)}.",
                    hint="Use method: mixed (k-prototypes) or auto, or remove those bases.",
                )
            settings = SegmenterSettings(
                method=method_name,
                k=seg_cfg.k,
                k_min=seg_cfg.k_min,
                k_max=seg_cfg.k_max,
                min_segment_share=seg_cfg.min_segment_share,
                n_init=seg_cfg.n_init,
                seed=config.seed,
                rules=[(r.name, r.when) for r in seg_cfg.rules],
                default_segment=seg_cfg.default_segment,
                rfm_segments=seg_cfg.rfm.segments,
                rfm_bins=seg_cfg.rfm.bins,
            )
            fit_input = method_input(
                method_name,
                raw=features[spec.names],
                prepared=X,
                prepared_columns=numeric,
                categorical=categorical,
            )
            segmenter = fit_segmenter(method_name, settings, fit_input)
            labels = np.asarray(segmenter.labels_)
            if not hasattr(segmenter, "n_segments_"):
                segmenter.n_segments_ = int(labels.max()) + 1
            segmenter.evidence_ = normalised_evidence(segmenter, seg_cfg.min_segment_share)
            selection = k_selection(segmenter, method_name, seg_cfg.k)
            stability = None
            if seg_cfg.stability_resamples > 0 and segmenter.n_segments_ > 1:
                stability = segment_stability(
                    segmenter,
                    fit_input,
                    labels,
                    n_resamples=seg_cfg.stability_resamples,
                    seed=config.seed,
                )
            folder.write_table("features", features, ("parquet",))

        with timer.stage("profile"):
            # segments are profiled by what their members do too, whatever they were built on
            shown = numeric + [c for c in BEHAVIOUR_COLUMNS if c in features and c not in numeric]
            attributes = features[shown]
            if customers is not None:
                extra = _customer_attributes(con, features["customer_id"])
                # a demographic feature may carry a customer column's name (age): shown once
                attributes = attributes.join(
                    extra.drop(columns=[c for c in extra.columns if c in attributes.columns])
                )
            profiles = profile_segments(attributes, labels)
            names = name_segments(profiles, {**(segment_names(segmenter) or {}), **config.names})
            segments = pd.DataFrame(
                {
                    "customer_id": features["customer_id"].astype(str),
                    "segment_id": labels.astype("int32"),
                    "segment_name": [names[int(i)] for i in labels],
                }
            )

        run_id = started.strftime("%Y%m%dT%H%M%S") + "-" + data_fingerprint[:8]
        n_tx = next(a.n_used for a in accounting if a.role == "transactions")
        tx_range = con.execute(
            "SELECT CAST(min(order_date) AS DATE), CAST(max(order_date) AS DATE) FROM transactions"
        ).fetchall()[0]
        method = {
            "selection_rule": selection_rule(method_name, seg_cfg.k),
            "ids": ID_RULE,
            "features": spec.names,
            "preparation": "sign(x)·log1p(|x|) for money, counts and days; winsorised at the "
            "0.5th/99.5th percentiles; standardised to mean 0, std 1."
            + (" Dropped before fitting: " + "; ".join(dropped.values()) + "." if dropped else ""),
            "segmenter": f"{method_name} (seed {config.seed}), "
            f"k from {seg_cfg.k_min} to {seg_cfg.k_max}"
            + (f", forced k={seg_cfg.k}" if seg_cfg.k else "")
            + ("; method chosen by 'auto' from the data" if seg_cfg.method == "auto" else ""),
            "seed": config.seed,
            "config_hash": config.fingerprint(),
            "data_fingerprint": data_fingerprint,
        }
        if sampled:
            method["segmenter"] += (
                f"; fitted on a stratified sample of {n_fitted:,} of {n_customers:,} customers "
                "(spark.sample_customers; profiles, evidence, stability and scorecard describe "
                "the sample), then every customer assigned with the fitted model"
            )

        with timer.stage("evaluate"):
            deliverables = build_deliverables(
                con,
                features=features,
                feature_names=numeric,
                labels=labels,
                segmenter=segmenter,
                stability=stability,
                profiles=profiles,
                names=names,
                snapshot_date=spec.snapshot_date,
                config=config,
                descriptions={f.name: f.description for f in spec.features},
                tables=tables if catalogue else None,
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

        # the lifetime-value models, when the value basis fitted them (catalogue runs)
        value_model = value_model_summary(spec.models.get("value"))
        with timer.stage("report"):
            revenue = (
                spark_run.population_revenue_
                if sampled
                else _revenue(con, features, spec.snapshot_date)
            )
            # the net value of the lines used, against the revenue of the segmented customers
            reconciliation = (
                None
                if sampled
                else revenue_reconciliation(
                    con, features["customer_id"], str(spec.snapshot_date), revenue
                )
            )
            content = build_content(
                title=config.report.title,
                overview={
                    "customers": n_customers,
                    "segments": segmenter.n_segments_,
                    "k_forced": seg_cfg.k is not None,
                    "transactions_used": n_tx,
                    "revenue": revenue,
                    "snapshot_date": spec.snapshot_date,
                    "first_date": str(tx_range[0]),
                    "last_date": str(tx_range[1]),
                    "run_id": run_id,
                    "segmint_version": __version__,
                },
                accounting=[a.to_dict() for a in accounting],
                evidence=segmenter.evidence_,
                chosen_k=segmenter.n_segments_,
                selection=selection,
                profiles=profiles,
                names=names,
                descriptions={f.name: f.description for f in spec.features},
                bases=list(config.bases),
                method=method,
                deliverables=deliverables,
                value_model=value_model,
                reconciliation=reconciliation,
                currency=config.io.currency,
                duplicate_policy=config.io.duplicates,
            )
            folder.write_text("report.html", render_report(content))

        with timer.stage("outputs"):
            summary = feature_summary(
                features, labels, {f.name: f.transform for f in spec.features if f.name in numeric}
            )
            model = seal(
                build_model_document(
                    spec=spec,
                    preparer=preparer,
                    segmenter=segmenter,
                    segments=profiles.summary,
                    names=names,
                    data_fingerprint=data_fingerprint,
                    config_hash=config.fingerprint(),
                    created_at=started.isoformat(),
                    id_rule=ID_RULE,
                    run_id=run_id,
                    typing_tool=deliverables.typing_tool,
                    reference=summary,
                )
            )
            save_model(model, folder.path(MODEL_NAME))
            fitted = segments  # the customers the model was fitted on
            if sampled:
                start = time.perf_counter()
                segments = _assign_population(
                    spark_run,
                    con,
                    folder.path(MODEL_NAME),
                    method_name=method_name,
                    feature_names=spec.names,
                    preparer=preparer,
                    segmenter=segmenter,
                    names=names,
                    with_categories=seg_cfg.method in ("mixed", "lca") and customers is not None,
                )
                assign_seconds = round(time.perf_counter() - start, 3)
                if len(segments) != n_customers:
                    raise RuntimeError(
                        f"{len(segments)} customers assigned, {n_customers} in the population"
                    )
                kept = len(fitted.merge(segments, on=["customer_id", "segment_id"]))
                # model.json counts every customer assigned (the sample's: run.json "sample")
                model = recount_segments(model, segments["segment_id"].to_numpy())
                save_model(model, folder.path(MODEL_NAME))
                logger.info(
                    "spark: all %d customers assigned with the model fitted on %d (%.1f s; %d of "
                    "those %d keep their fitted segment); segments.parquet/csv cover every "
                    "customer, profiles and evaluation the sample",
                    len(segments),
                    n_fitted,
                    assign_seconds,
                    kept,
                    n_fitted,
                )
            folder.write_table("segments", segments, ("parquet", "csv"))
            folder.write_table("profiles", profiles.wide(names), ("csv",))
            folder.write_table("evidence", segmenter.evidence_, ("csv",))
            ids, keep = identifier_columns(accounting), config.io.keep_raw_quarantine
            protect_quarantine(con, hash_salt, ids, keep)  # privacy by default
            quarantine = con.sql("SELECT * FROM quarantine ORDER BY source, row").df()
            quarantine.to_parquet(folder.path("quarantine.parquet"), index=False)
            if hasattr(segmenter, "predict_proba"):
                proba = segmenter.predict_proba(fit_input)
                folder.write_table(
                    "probabilities",
                    fitted[["customer_id", "segment_id"]].assign(
                        **{f"probability_{j}": proba[:, j] for j in range(proba.shape[1])}
                    ),
                    ("parquet",),
                )
            run = {
                "run_id": run_id,
                "created_at": started.isoformat(),
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
                "inputs": fingerprints,
                "data_fingerprint": data_fingerprint,
                "snapshot_date": spec.snapshot_date,
                "row_accounting": [a.to_dict() for a in accounting],
                **({"revenue_reconciliation": reconciliation} if reconciliation else {}),
                "counts": {
                    "customers_segmented": n_customers,
                    "transactions_used": n_tx,
                    "segments": segmenter.n_segments_,
                    "customers_without_purchase": customers_without_purchase(reconciliation),
                },
                "evidence": segmenter.evidence_.to_dict(orient="records"),
                "selection": selection,
                "method": method_name,
                "stability": stability,
                **({"lift": deliverables.lift.summary()} if deliverables.lift else {}),
                **({"value_model": value_model} if value_model else {}),
                "timings_seconds": timer.timings,
            }
            if sampled:
                run["sample"] = {
                    "customers": n_fitted,
                    "population": spark_run.n_population_,
                    "assigned": len(segments),
                    "seed": config.seed,
                    "design": "proportional stratified: quantile bins of the features in 'by'; "
                    "per stratum the first customers by xxhash64(customer_id, seed)",
                    **spark_run.sample_strata_,
                    "fitted_segment_kept": kept,
                    "fitted_segment_counts": {
                        str(int(i)): int(n)
                        for i, n in fitted["segment_id"].value_counts().sort_index().items()
                    },
                    "assign_seconds": assign_seconds,
                    # segments.parquet/csv and the run store cover every customer; these the sample
                    "describe_the_sample": [
                        "features.parquet",
                        "profiles.csv",
                        "evidence.csv",
                        "stability",
                        "scorecard.csv",
                        "priorities.csv",
                        *(["lift.csv"] if deliverables.lift is not None else []),
                        *(["probabilities.parquet"] if hasattr(segmenter, "predict_proba") else []),
                        "report.html (segment profiles)",
                    ],
                }
            record_run(
                folder.path(STORE_NAME),
                Path(out) / STORE_NAME,
                {
                    **run,
                    "n_customers": n_customers,
                    "n_segments": segmenter.n_segments_,
                    "method": method_name,
                    "metrics": {"evidence": run["evidence"]},
                },
                segments,
                profiles.wide(names),
                summary=summary,
                model=model,
            )
            timer.timings["total"] = round(sum(timer.timings.values()), 3)
            folder.write_json("run.json", run)
        con.close()
        files = folder.commit(run_id=run_id, created_at=started.isoformat())

    logger.info("run %s: %d customers in %d segments", run_id, n_customers, segmenter.n_segments_)
    return RunResult(
        out=Path(out),
        run_id=run_id,
        n_customers=n_customers,
        n_segments=segmenter.n_segments_,
        names=names,
        accounting=accounting,
        evidence=segmenter.evidence_,
        selection=selection,
        segments=segments,
        profiles=profiles,
        timings=timer.timings,
        files=files,
        config=config,
        reconciliation=reconciliation,
    )


def _customer_categories(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> pd.DataFrame:
    """Text customer columns with 2 to 30 distinct values, aligned to ``ids`` (for k-prototypes
    and latent classes); missing values become the level ``"(missing)"``."""
    types = con.execute("DESCRIBE customers").fetchall()
    text = [name for name, kind, *_ in types if kind == "VARCHAR" and name != "customer_id"]
    if not text:
        return pd.DataFrame(index=ids.index)
    counts = con.execute(
        "SELECT " + ", ".join(f'count(DISTINCT "{c}")' for c in text) + " FROM customers"
    ).fetchall()[0]
    keep = [c for c, n in zip(text, counts, strict=True) if 2 <= n <= 30]
    if not keep:
        return pd.DataFrame(index=ids.index)
    cols = ", ".join(f'coalesce("{c}", \'(missing)\') AS "{c}"' for c in keep)
    table = con.sql(f"SELECT customer_id, {cols} FROM customers").df().set_index("customer_id")
    return table.reindex(ids.astype(str).to_numpy()).fillna("(missing)").set_axis(ids.index)


def _customer_attributes(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> pd.DataFrame:
    """Numeric and boolean customer columns, aligned to ``ids`` (missing customers as NaN)."""
    types = con.execute("DESCRIBE customers").fetchall()
    usable = [name for name, kind, *_ in types if kind in ("DOUBLE", "BOOLEAN") and name != "_row"]
    if not usable:
        return pd.DataFrame(index=ids.index)
    cols = ", ".join(f'CAST("{c}" AS DOUBLE) AS "{c}"' for c in usable)
    table = con.sql(f"SELECT customer_id, {cols} FROM customers").df().set_index("customer_id")
    return table.reindex(ids.astype(str).to_numpy()).set_axis(ids.index)


def _assign_population(
    spark_run: Any,
    con: duckdb.DuckDBPyConnection,
    model_path: Path,
    *,
    method_name: str,
    feature_names: list[str],
    preparer: FeaturePreparer,
    segmenter: Any,
    names: dict[int, str],
    with_categories: bool,
) -> pd.DataFrame:
    """Every customer of the population in a segment, after a fit on a Spark sample.

    A k-means model is applied on Spark (:meth:`~segmint.engines.SparkRun.assign`: its
    preparation and nearest-centre rule as Spark SQL); other segmenters predict on the driver,
    batch by batch, on the same inputs their fit had. Returns ``customer_id, segment_id,
    segment_name`` ordered by ``customer_id``, with the types of a run on every customer.
    """
    if method_name == "kmeans":
        table = spark_run.assign(load_model(model_path))
        ids = table["customer_id"].to_pandas()
        segment = table["segment_id"].to_numpy()
    else:
        id_parts, segment_parts = [], []
        for batch in spark_run.population_batches(con):
            raw = batch[feature_names]
            categorical = (
                _customer_categories(con, batch["customer_id"])
                if with_categories
                else pd.DataFrame(index=batch.index)
            )
            fit_input = method_input(
                method_name,
                raw=raw,
                prepared=preparer.transform(raw),
                prepared_columns=feature_names,
                categorical=categorical,
            )
            id_parts.append(batch["customer_id"])
            segment_parts.append(np.asarray(segmenter.predict(fit_input)))
        ids = pd.concat(id_parts, ignore_index=True)
        segment = np.concatenate(segment_parts)
        logger.info(
            "spark: %s has no Spark SQL form; customers assigned on the driver", method_name
        )
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str),
            "segment_id": segment.astype("int32"),
            "segment_name": [names[int(i)] for i in segment],
        }
    )


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
