"""Monitoring a segmentation: compare a baseline with a current run (or new data) and decide.

Two ways in:

* :func:`monitor_runs`: two runs from run stores (run ids or run folders). Segments of the
  refit are matched to the baseline's ids, then shares, the migration matrix, PSI per feature
  and centre drift are compared.
* :func:`monitor_model`: a saved model and new transactions. The new customers are scored with
  the model itself; their features are compared with the model's reference summary, and the
  typing tool (when the model has one) is checked against the model's own assignment.

The verdict is the worst status over the checks: **OK**, **WATCH** or **REVALIDATE**, with one
reason per check that is not OK and the thresholds from ``segmint.yaml`` ``monitoring:``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint._logging import logger
from segmint.config import Config, MonitoringConfig
from segmint.exceptions import InputError
from segmint.monitor._drift import centre_shift, feature_summary, psi_table
from segmint.monitor._migration import Matching, match_segments, matrix_json, migration_matrix
from segmint.monitor._store import STORE_NAME, read_store

STATUSES = ("OK", "WATCH", "REVALIDATE")


@dataclass
class RunSnapshot:
    """What monitoring needs of one side: a summary, assignments, names."""

    label: str
    run_id: str | None
    snapshot_date: str | None
    summary: dict[str, Any]
    assignments: pd.DataFrame | None
    names: dict[int, str]
    model: dict[str, Any] | None = None
    folder: Path | None = None


@dataclass
class MonitoringResult:
    """The content of a monitoring report (render with :func:`segmint.monitor.render_monitor`)."""

    mode: str
    baseline: dict[str, Any]
    current: dict[str, Any]
    matching: Matching
    shares: pd.DataFrame
    psi: pd.DataFrame
    centres: pd.DataFrame
    migration: dict[str, Any] | None
    typing_tool: dict[str, Any] | None
    structure: dict[str, Any]
    checks: list[dict[str, Any]]
    verdict: str
    reasons: list[str]
    thresholds: dict[str, Any]
    names: dict[int, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content model."""
        migration = None
        if self.migration is not None:
            migration = {
                "n_common": self.migration["n_common"],
                "stayed": self.migration["stayed"],
                "stay_rate": self.migration["stay_rate"],
                "counts": matrix_json(self.migration["counts"]),
                "shares": matrix_json(self.migration["shares"]),
            }
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "mode": self.mode,
            "baseline": self.baseline,
            "current": self.current,
            "matching": self.matching.to_dict(),
            "structure": self.structure,
            "checks": self.checks,
            "shares": self.shares.to_dict(orient="records"),
            "psi": self.psi.to_dict(orient="records"),
            "centres": self.centres.to_dict(orient="records"),
            "migration": migration,
            "typing_tool": self.typing_tool,
            "thresholds": self.thresholds,
            "names": {str(k): v for k, v in self.names.items()},
        }

    def summary_text(self) -> str:
        """A few plain lines: the verdict, its reasons and the key figures."""
        lines = [f"Verdict: {self.verdict}  ({self.baseline['label']} -> {self.current['label']})"]
        lines += [f"  - {r}" for r in self.reasons] or ["  - every check within thresholds"]
        for check in self.checks:
            value = check["value"]
            shown = "n/a" if value is None else f"{value:.3f}"
            lines.append(
                f"  {check['check']:<22} {shown:>8}  (watch {check['watch']}, revalidate "
                f"{check['revalidate']})  {check['status']}"
            )
        if self.migration is not None:
            lines.append(
                f"  migration: {self.migration['n_common']:,} customers in both, "
                f"{self.migration['stay_rate']:.1%} stayed in their segment"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- loading runs
def _store_path(store: str | Path) -> Path:
    store = Path(store)
    return store / STORE_NAME if store.is_dir() else store


def load_run_snapshot(run: str | Path, store: str | Path | None = None) -> RunSnapshot:
    """A run from a run store: ``run`` is a run folder, or a run id in ``store``."""
    folder = Path(run)
    if folder.is_dir():
        from segmint.activate import check_run_folder

        check_run_folder(folder)  # a run killed or still being written: refused
    if folder.is_dir() and (folder / STORE_NAME).exists() and (folder / "run.json").exists():
        run_id = json.loads((folder / "run.json").read_text(encoding="utf-8"))["run_id"]
        path = folder / STORE_NAME
    elif store is not None:
        run_id, path, folder = str(run), _store_path(store), None
    else:
        raise InputError(
            f"{run}: not a run folder (no {STORE_NAME} and run.json in it).",
            hint="Pass a run folder, or a run id with --store DIR.",
        )
    if not path.exists():
        raise InputError(f"{path}: run store not found.", hint="Pass the folder of a run.")
    with read_store(path) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        rows = con.execute(
            "SELECT run_id, CAST(snapshot_date AS VARCHAR) FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()
        if not rows:
            known = [r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY 1").fetchall()]
            raise InputError(
                f"{path}: no run {run_id!r} in the store.",
                hint=f"Known runs: {', '.join(known[-5:]) or 'none'} (see `segmint history`).",
            )
        if "feature_quantiles" not in tables:
            raise InputError(
                f"{path}: the store has no feature summaries (written by an older segmint).",
                hint="Re-run `segmint run` to record runs with their feature summaries.",
            )
        summary = _summary_from_store(con, run_id)
        assignments = con.execute(
            "SELECT customer_id, segment_id FROM assignments WHERE run_id = ?", [run_id]
        ).df()
        names_rows = con.execute(
            "SELECT segment_id, segment_name FROM segment_profiles WHERE run_id = ?", [run_id]
        ).fetchall()
        model_rows = con.execute(
            "SELECT CAST(model AS VARCHAR) FROM run_models WHERE run_id = ?", [run_id]
        ).fetchall()
    if not summary["feature_quantiles"]:
        raise InputError(
            f"{path}: run {run_id} has no feature summary.",
            hint="Re-run `segmint run` to record it with its feature summary.",
        )
    return RunSnapshot(
        label=run_id,
        run_id=run_id,
        snapshot_date=rows[0][1],
        summary=summary,
        assignments=assignments,
        names={int(i): str(n) for i, n in names_rows},
        model=json.loads(model_rows[0][0]) if model_rows else None,
        folder=folder,
    )


def _summary_from_store(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    q = con.execute(
        "SELECT feature, quantile, value FROM feature_quantiles WHERE run_id = ? "
        "ORDER BY feature, quantile",
        [run_id],
    ).df()
    c = con.execute(
        "SELECT segment_id, feature, centre, scale FROM segment_centres WHERE run_id = ?",
        [run_id],
    ).df()
    shares = con.execute(
        "SELECT segment_id, share, customers FROM segment_profiles WHERE run_id = ?", [run_id]
    ).df()
    levels = sorted(q["quantile"].unique().tolist())
    return {
        "quantile_levels": levels,
        "feature_quantiles": {f: g["value"].tolist() for f, g in q.groupby("feature", sort=False)},
        "transform_centres": {
            str(int(s)): dict(zip(g["feature"], g["centre"], strict=True))
            for s, g in c.groupby("segment_id")
        },
        "transform_scale": dict(zip(c["feature"], c["scale"], strict=False)),
        "segment_shares": {str(int(r.segment_id)): float(r.share) for r in shares.itertuples()},
        "n_customers": int(shares["customers"].sum()) if len(shares) else 0,
    }


# --------------------------------------------------------------------------- comparing
def _status(value: float | None, watch: float, revalidate: float, *, lower: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "OK"
    if lower:  # a figure that is bad when low
        return "OK" if value >= watch else "WATCH"
    if value >= revalidate:
        return "REVALIDATE"
    return "WATCH" if value >= watch else "OK"


def _compare(
    base: RunSnapshot,
    cur: RunSnapshot,
    config: MonitoringConfig,
    *,
    mode: str,
    matching: Matching,
    typing_tool: dict[str, Any] | None,
) -> MonitoringResult:
    names = dict(base.names)
    mapping = matching.mapping
    # shares in baseline ids
    cur_shares: dict[int, float] = {}
    for seg, share in cur.summary["segment_shares"].items():
        target = mapping.get(int(seg), int(seg))
        cur_shares[target] = cur_shares.get(target, 0.0) + share
    base_shares = {int(k): v for k, v in base.summary["segment_shares"].items()}
    ids = sorted(set(base_shares) | set(cur_shares))
    shares = pd.DataFrame(
        {
            "segment_id": ids,
            "segment_name": [names.get(i, cur.names.get(i, f"new segment {i}")) for i in ids],
            "baseline_share": [base_shares.get(i, 0.0) for i in ids],
            "current_share": [cur_shares.get(i, 0.0) for i in ids],
        }
    )
    shares["change"] = shares["current_share"] - shares["baseline_share"]

    psi = psi_table(base.summary, cur.summary, config.psi_bins)
    psi["status"] = [_status(v, config.psi_watch, config.psi_revalidate) for v in psi["psi"]]
    psi = psi.sort_values("psi", ascending=False, ignore_index=True)
    centres = centre_shift(base.summary, cur.summary, mapping or {i: i for i in ids})
    centres.insert(1, "segment_name", [names.get(i, str(i)) for i in centres["segment_id"]])
    centres["status"] = [
        _status(v, config.centre_watch, config.centre_revalidate) for v in centres["max_shift"]
    ]

    migration = None
    if base.assignments is not None and cur.assignments is not None:
        migration = migration_matrix(base.assignments, cur.assignments, mapping)
        if migration["n_common"] == 0:
            migration = None

    matched = {mapping.get(int(s), int(s)) for s in cur.summary["segment_shares"]}
    structure = {
        "baseline_segments": len(base_shares),
        "current_segments": len(cur.summary["segment_shares"]),
        "disappeared": sorted(set(base_shares) - matched),
        "new": sorted(matched - set(base_shares)),
        "features_missing": sorted(
            set(base.summary["feature_quantiles"]) - set(cur.summary["feature_quantiles"])
        ),
    }

    checks, reasons = [], []

    def check(name: str, value: float | None, watch: float, reval: float, why: str) -> None:
        status = _status(value, watch, reval)
        checks.append(
            {"check": name, "value": value, "watch": watch, "revalidate": reval, "status": status}
        )
        if status != "OK":
            limit = reval if status == "REVALIDATE" else watch
            reasons.append(f"{status}: {why} ({value:.3f} >= {limit})")

    if len(psi):
        top = psi.iloc[0]
        check(
            "max PSI",
            float(top["psi"]),
            config.psi_watch,
            config.psi_revalidate,
            f"feature '{top['feature']}' shifted (population stability index)",
        )
    if len(shares):
        worst = shares.iloc[int(np.argmax(np.abs(shares["change"])))]
        check(
            "max share change",
            float(abs(worst["change"])),
            config.share_watch,
            config.share_revalidate,
            f"segment {int(worst['segment_id'])} '{worst['segment_name']}' went from "
            f"{worst['baseline_share']:.1%} to {worst['current_share']:.1%} of customers",
        )
    if len(centres):
        worst = centres.iloc[int(np.argmax(centres["max_shift"]))]
        check(
            "max centre drift",
            float(worst["max_shift"]),
            config.centre_watch,
            config.centre_revalidate,
            f"segment {int(worst['segment_id'])} '{worst['segment_name']}' moved on "
            f"'{worst['feature']}' (baseline standard deviations)",
        )
    if typing_tool is not None:
        check(
            "typing tool decay",
            float(typing_tool["decay"]),
            config.typing_watch,
            config.typing_revalidate,
            f"typing tool accuracy fell from {typing_tool['accuracy_at_fit']:.1%} to "
            f"{typing_tool['accuracy_now']:.1%}",
        )
    changed = structure["disappeared"] or structure["new"]
    checks.append(
        {
            "check": "segments appeared or disappeared",
            "value": float(len(structure["disappeared"]) + len(structure["new"])),
            "watch": 1,
            "revalidate": 1,
            "status": "REVALIDATE" if changed else "OK",
        }
    )
    if changed:
        reasons.append(
            f"REVALIDATE: the segments changed: {structure['baseline_segments']} before, "
            f"{structure['current_segments']} now; disappeared {structure['disappeared']}, "
            f"new {structure['new']}"
        )
    if structure["features_missing"]:
        reasons.append(f"WATCH: features missing now: {', '.join(structure['features_missing'])}")
        checks.append(
            {
                "check": "features present",
                "value": float(len(structure["features_missing"])),
                "watch": 1,
                "revalidate": None,
                "status": "WATCH",
            }
        )
    if migration is not None and config.min_stay_rate is not None:
        status = "WATCH" if migration["stay_rate"] < config.min_stay_rate else "OK"
        checks.append(
            {
                "check": "stay rate",
                "value": float(migration["stay_rate"]),
                "watch": config.min_stay_rate,
                "revalidate": None,
                "status": status,
            }
        )
        if status != "OK":
            reasons.append(
                f"WATCH: only {migration['stay_rate']:.1%} of the customers in both runs stayed "
                f"in their segment (< {config.min_stay_rate})"
            )
    verdict = max((c["status"] for c in checks), key=STATUSES.index, default="OK")
    result = MonitoringResult(
        mode=mode,
        baseline={
            "label": base.label,
            "run_id": base.run_id,
            "snapshot_date": base.snapshot_date,
            "customers": base.summary["n_customers"],
        },
        current={
            "label": cur.label,
            "run_id": cur.run_id,
            "snapshot_date": cur.snapshot_date,
            "customers": cur.summary["n_customers"],
        },
        matching=matching,
        shares=shares,
        psi=psi,
        centres=centres,
        migration=migration,
        typing_tool=typing_tool,
        structure=structure,
        checks=checks,
        verdict=verdict,
        reasons=reasons,
        thresholds=config.model_dump(),
        names=names,
    )
    logger.info("monitoring %s -> %s: %s", base.label, cur.label, verdict)
    return result


def monitor_runs(
    baseline: str | Path,
    current: str | Path,
    *,
    store: str | Path | None = None,
    config: MonitoringConfig | None = None,
) -> MonitoringResult:
    """Compare two recorded runs (run ids in ``store``, or run folders)."""
    config = config or MonitoringConfig()
    base = load_run_snapshot(baseline, store)
    cur = load_run_snapshot(current, store)
    both = None
    if base.assignments is not None and cur.assignments is not None:
        both = base.assignments.merge(
            cur.assignments, on="customer_id", suffixes=("_b", "_c")
        ).rename(columns={"segment_id_b": "baseline_id", "segment_id_c": "current_id"})
    matching = match_segments(base.summary, cur.summary, both)
    typing = _typing_decay_between_runs(base, cur, matching)
    return _compare(base, cur, config, mode="runs", matching=matching, typing_tool=typing)


def _typing_decay_between_runs(
    base: RunSnapshot, cur: RunSnapshot, matching: Matching
) -> dict[str, Any] | None:
    """The baseline's typing tool against the refit's assignment (in baseline ids).

    Needs the baseline model's typing tool and the current run folder's ``features.parquet``;
    ``None`` when either is missing.
    """
    tool_doc = (base.model or {}).get("typing_tool")
    if not tool_doc or cur.folder is None or cur.assignments is None:
        return None
    path = cur.folder / "features.parquet"
    if not path.exists():
        return None
    from segmint.profile._typing_tool import TypingTool

    tool = TypingTool.from_dict(tool_doc)
    features = pd.read_parquet(path)
    columns = list(getattr(tool, "feature_names_in_", tool.variables_))
    if any(c not in features.columns for c in columns) or "customer_id" not in features:
        return None
    features = features.astype({"customer_id": str}).merge(
        cur.assignments.astype({"customer_id": str}), on="customer_id"
    )
    if features.empty:
        return None
    truth = features["segment_id"].map(lambda s: matching.mapping.get(int(s), int(s)))
    predicted = np.asarray(tool.predict(features[columns]))
    accuracy_now = float(np.mean(predicted == truth.to_numpy()))
    return {
        "accuracy_at_fit": float(tool.accuracy_),
        "accuracy_now": accuracy_now,
        "decay": max(0.0, float(tool.accuracy_) - accuracy_now),
        "variables": list(tool.variables_),
    }


def monitor_model(
    model: Any,
    transactions: str | Path | pd.DataFrame,
    *,
    customers: str | Path | None = None,
    as_of: date | str | None = None,
    config: MonitoringConfig | None = None,
    settings: Config | None = None,
) -> MonitoringResult:
    """Score new data with a saved model and compare it with the model's reference.

    ``as_of`` defaults to the day after the last transaction in the new data: new data is
    monitored as of its own end, not the model's snapshot. ``settings``: the ``io:`` and
    ``mapping:`` the new data are read with (as ``segmint run`` and ``score`` read theirs).
    """
    from segmint.activate._model import SegmentModel, load_model
    from segmint.activate._scoring import features_of_table, load_transaction_table, predict_ids
    from segmint.features._behavioural import default_snapshot

    config = config or MonitoringConfig()
    if not isinstance(model, SegmentModel):
        model = load_model(model)
    reference = model.document.get("reference")
    if not reference:
        raise InputError(
            f"{model.path}: the model has no reference summary to monitor against.",
            hint="Re-run `segmint run` with this segmint version.",
        )
    con = duckdb.connect()
    try:
        load_transaction_table(con, transactions, customers=customers, settings=settings)
        as_of = as_of or default_snapshot(con)
        features = features_of_table(con, model, as_of=as_of)
    finally:
        con.close()
    if not len(features):
        raise InputError(
            f"No customer has a purchase before {as_of} in the new data.",
            hint="Pass a later --as-of date.",
        )
    ids, _ = predict_ids(model, features)
    transforms = {f.name: f.transform for f in model.spec.features}
    summary = feature_summary(features, ids, transforms)
    current_assign = pd.DataFrame(
        {"customer_id": features["customer_id"].astype(str), "segment_id": ids}
    )
    base_assign = None
    if model.run_dir is not None and (model.run_dir / "segments.parquet").exists():
        base_assign = pd.read_parquet(model.run_dir / "segments.parquet")
    typing = None
    if model.typing_tool is not None:
        predicted = np.asarray(model.typing_tool.predict(features[list(model.spec.names)]))
        accuracy_now = float(np.mean(predicted == ids))
        accuracy_fit = float(model.typing_tool.accuracy_)
        typing = {
            "accuracy_at_fit": accuracy_fit,
            "accuracy_now": accuracy_now,
            "decay": max(0.0, accuracy_fit - accuracy_now),
            "variables": list(model.typing_tool.variables_),
        }
    base = RunSnapshot(
        label=f"model {model.document.get('run_id') or model.fingerprint[:12]}",
        run_id=model.document.get("run_id"),
        snapshot_date=model.spec.snapshot_date,
        summary=reference,
        assignments=base_assign,
        names=model.names,
        model=model.document,
    )
    cur = RunSnapshot(
        label=f"new data as of {pd.Timestamp(as_of).date()}",
        run_id=None,
        snapshot_date=str(pd.Timestamp(as_of).date()),
        summary=summary,
        assignments=current_assign,
        names=model.names,
    )
    return _compare(
        base, cur, config, mode="model", matching=Matching("identity", {}), typing_tool=typing
    )
