"""``segmint clv``, ``segmint typing-tool`` and ``segmint sample-size``: models beside the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from segmint.cli._app import app, out_console

# Commands by area. Each area adds its commands below its own marker, nowhere else.
# --- commands: bases and CLV (features) ---


@app.command()
def clv(
    transactions: Annotated[Path, typer.Option(help="Transaction log: CSV, TSV, text or Parquet.")],
    calibration_end: Annotated[
        str, typer.Option("--calibration-end", help="Last day of the calibration period.")
    ],
    observation_end: Annotated[
        str | None,
        typer.Option("--observation-end", help="Last day of the holdout period (optional)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="segmint.yaml (column mapping).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fit BG/NBD and Gamma-Gamma to a transaction log; compare with a holdout period."""
    from segmint import _json
    from segmint.config import load_config
    from segmint.features import clv_report_from_file

    settings = load_config(config)
    report = clv_report_from_file(
        transactions,
        calibration_end=calibration_end,
        observation_end=observation_end,
        mapping=settings.mapping.transactions,
    )
    if as_json:
        print(_json.dumps(report, indent=2))
        return
    bg, gg = report["bgnbd"], report["gamma_gamma"]
    out_console.print(
        f"{report['n_customers']:,} customers, {report['n_repeat_buyers']:,} repeat buyers; "
        f"calibration to {report['calibration_end']}"
    )
    table = Table(title="CLV models")
    table.add_column("model")
    table.add_column("parameters")
    table.add_column("log-likelihood", justify="right")
    for name, fit in (("BG/NBD", bg), ("Gamma-Gamma", gg)):
        params = ", ".join(f"{k}={v:.4g}" for k, v in fit["params"].items())
        table.add_row(name, params, f"{fit['log_likelihood']:.1f}")
    out_console.print(table)
    if "holdout" in report:
        hold = report["holdout"]
        out_console.print(
            f"holdout to {report['observation_end']}: expected {hold['expected_total']:.1f} "
            f"repeat purchases, actual {hold['actual_total']:.0f}"
        )


# --- commands: segmenters and typing tool ---


@app.command("typing-tool")
def typing_tool(
    model: Annotated[Path, typer.Option(help="model.json of a run, or its output folder.")],
    max_vars: Annotated[
        int, typer.Option(help="Most variables the rules may use (golden questions).", min=1)
    ] = 3,
    max_depth: Annotated[int, typer.Option(help="Depth of the decision tree.", min=1)] = 3,
    out: Annotated[
        Path | None, typer.Option(help="Folder for typing_tool.sql/.json (default: the run's).")
    ] = None,
) -> None:
    """Derive the shortest rule set that reproduces a run's segments ("how to recognise them").

    Fits a shallow decision tree on the run's features.parquet and segments.parquet, writes
    typing_tool.sql (a CASE WHEN query that runs in DuckDB and PostgreSQL) and typing_tool.json,
    and prints the accuracy against the number of variables used.
    """
    import pandas as pd

    from segmint.activate import OutputFolder, check_run_folder
    from segmint.exceptions import InputError
    from segmint.profile._typing_tool import TypingTool

    run_dir = model.parent if model.suffix == ".json" else model
    if run_dir.is_dir():
        check_run_folder(run_dir)  # a run killed or still being written: refused
    needed = [
        run_dir / "features.parquet",
        run_dir / "segments.parquet",
        run_dir / "model.json",
        run_dir / "run.json",
    ]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise InputError(
            f"{run_dir}: not a complete segmint run folder (missing {', '.join(missing)}).",
            hint="Point --model at the model.json written by 'segmint run' or 'segmint demo'.",
        )
    import json

    seed = int(json.loads((run_dir / "run.json").read_text()).get("config", {}).get("seed", 0))
    features = pd.read_parquet(needed[0])
    segments = pd.read_parquet(needed[1])
    table = features.merge(segments[["customer_id", "segment_id"]], on="customer_id")
    columns = [c for c in features.columns if c != "customer_id"]
    tool = TypingTool(max_depth, max_vars=max_vars, random_state=seed).fit(
        table[columns], table["segment_id"].to_numpy()
    )
    overall = float((tool.predict(table[columns]) == table["segment_id"].to_numpy()).mean())
    with OutputFolder(out or run_dir) as folder:
        folder.write_text("typing_tool.sql", tool.to_sql(table="features", id_col="customer_id"))
        folder.write_json(
            "typing_tool.json",
            {
                **tool.to_dict(),
                "accuracy_held_out": float(tool.accuracy_),
                "accuracy_all_customers": overall,
                "curve": tool.curve_.to_dict(orient="records"),
            },
        )
        written = folder.commit()
    curve = Table(title="Golden questions: accuracy by number of variables")
    for column in ("variables", "added", "cross-validated", "held-out"):
        curve.add_column(column, justify="left" if column == "added" else "right")
    for row in tool.curve_.itertuples():
        curve.add_row(
            str(row.n_vars), str(row.variable), f"{row.cv_accuracy:.3f}", f"{row.accuracy:.3f}"
        )
    out_console.print(curve)
    out_console.print(
        f"Variables used: {', '.join(tool.variables_)}. Accuracy: {tool.accuracy_:.3f} on held-out "
        f"customers, {overall:.3f} on all {len(table):,} customers."
    )
    out_console.print("Wrote " + ", ".join(str(p) for p in written))


# --- commands: deliverables (evaluate, profile, strategy) ---


@app.command("sample-size")
def sample_size(
    segments: Annotated[int, typer.Option("--segments", help="Number of segments (K).", min=1)],
    min_share: Annotated[
        float, typer.Option("--min-share", help="Share of the smallest segment (S), e.g. 0.1.")
    ],
    moe: Annotated[
        float, typer.Option("--moe", help="Margin of error for a proportion (E), e.g. 0.05.")
    ] = 0.05,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence level (C), e.g. 0.95.")
    ] = 0.95,
    variables: Annotated[
        int | None,
        typer.Option("--variables", help="Segmentation variables (V), for the 70·V rule."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Respondents a segmentation survey needs so that the smallest segment can be read.

    n per segment = z²·p(1−p)/E² with p = 0.5, total = n / S; with --variables, also the
    clustering rule of thumb of Dolnicar et al. (2014): at least 70 respondents per variable.
    """
    from segmint import _json
    from segmint.strategy._sample_size import survey_sample_size

    plan = survey_sample_size(segments, min_share, moe, confidence, variables)
    if as_json:
        print(_json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
        return
    for line in plan.reasoning:
        out_console.print(line, markup=False, highlight=False, soft_wrap=True)
