"""``segmint history``, ``segmint monitor`` and ``segmint impact``: watching segments over time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from segmint.cli._app import app, out_console, parse_date, print_frame

# Commands by area. Each area adds its commands below its own marker, nowhere else.
# --- commands: monitoring ---


@app.command()
def history(
    store: Annotated[Path, typer.Option(help="Run folder or its segmint.duckdb.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
) -> None:
    """List the runs recorded in a run store, newest first."""
    from segmint.activate._outputs import dumps
    from segmint.exceptions import InputError
    from segmint.monitor import STORE_NAME, list_runs

    path = store / STORE_NAME if store.is_dir() else store
    if not path.exists():
        raise InputError(f"{path}: run store not found.", hint="Pass the folder of a run.")
    runs = list_runs(path)
    if json_out:
        print(dumps(runs.to_dict(orient="records")))
        return
    table = Table(title=f"{len(runs)} run(s) in {path}")
    for column in ("run_id", "created_at", "snapshot_date", "customers", "segments", "method"):
        table.add_column(column)
    for r in runs.itertuples():
        table.add_row(
            r.run_id,
            str(r.created_at)[:19],
            str(r.snapshot_date),
            f"{r.n_customers:,}",
            str(r.n_segments),
            str(r.method),
        )
    out_console.print(table)


@app.command()
def monitor(
    baseline: Annotated[str | None, typer.Option(help="Baseline run id or run folder.")] = None,
    current: Annotated[str | None, typer.Option(help="Current run id or run folder.")] = None,
    store: Annotated[Path | None, typer.Option(help="Run store (folder) for run ids.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model (run folder) to check.")] = None,
    input: Annotated[Path | None, typer.Option("--input", help="New transactions.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Snapshot of new data.")] = None,
    config: Annotated[Path | None, typer.Option(help="segmint.yaml (monitoring:).")] = None,
    html: Annotated[Path | None, typer.Option(help="Write monitor.html here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
) -> None:
    """Compare a baseline with a current run (or new data): migration, drift, verdict."""
    from segmint.activate._outputs import dumps
    from segmint.activate._scoring import write_text_atomic
    from segmint.config import load_config
    from segmint.exceptions import ConfigError
    from segmint.monitor import monitor_model, monitor_runs
    from segmint.monitor._report import render_monitor

    settings = load_config(config).monitoring
    if model is not None and input is not None:
        from segmint.cli._activate import _reading_settings

        result = monitor_model(
            model,
            input,
            as_of=parse_date(as_of),
            config=settings,
            settings=_reading_settings(config, model),
        )
    elif baseline is not None and current is not None:
        result = monitor_runs(baseline, current, store=store, config=settings)
    else:
        raise ConfigError(
            "Nothing to compare.",
            hint="Use --baseline RUN --current RUN [--store DIR], or --model DIR --input FILE.",
        )
    if html is not None:
        write_text_atomic(html, render_monitor(result))
    if json_out:
        print(dumps(result.to_dict()))
    else:
        colour = {"OK": "green", "WATCH": "yellow", "REVALIDATE": "red"}[result.verdict]
        out_console.print(f"[bold {colour}]{result.verdict}[/bold {colour}]")
        out_console.print(result.summary_text(), highlight=False)
        if result.migration is not None:
            print_frame(
                result.migration["counts"].reset_index(),
                "Migration (rows: baseline segment, columns: current segment)",
            )


@app.command()
def impact(
    model: Annotated[Path, typer.Option(help="Run folder (segments and typing tool).")],
    campaign: Annotated[
        Path | None, typer.Option(help="Campaign: customer_id, group, outcome.")
    ] = None,
    waves: Annotated[Path | None, typer.Option(help="Brand-tracking survey waves.")] = None,
    bootstrap: Annotated[bool, typer.Option(help="Bootstrap intervals.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
) -> None:
    """Campaign uplift per segment, and brand metrics by segment across survey waves."""
    import pandas as pd

    from segmint.activate._model import load_model
    from segmint.activate._outputs import dumps
    from segmint.exceptions import ConfigError, InputError
    from segmint.monitor._impact import brand_by_segment, campaign_uplift

    if campaign is None and waves is None:
        raise ConfigError("Nothing to measure.", hint="Give --campaign FILE and/or --waves FILE.")
    loaded = load_model(model)
    report: dict[str, Any] = {}

    def read(path: Path) -> pd.DataFrame:
        if not path.is_file():
            raise InputError(f"{path}: file not found.", hint="Check the path.")
        if path.suffix.lower() == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=None, engine="python")

    if campaign is not None:
        data = read(campaign)
        if "segment_id" in data.columns:
            segs = data[["customer_id", "segment_id"]].assign(
                segment_name=lambda d: d["segment_id"].map(loaded.names)
            )
            data = data.drop(columns=["segment_id"])
        elif loaded.run_dir is not None:
            segs = pd.read_parquet(loaded.run_dir / "segments.parquet")
        else:
            raise InputError(
                "The campaign has no segment_id and the model has no run folder.",
                hint="Pass the run folder as --model.",
            )
        uplift = campaign_uplift(data, segs, method="bootstrap" if bootstrap else "normal")
        report["uplift"] = uplift.to_dict(orient="records")
        if not json_out:
            print_frame(uplift.drop(columns=["method"]), "Campaign uplift by segment")
    if waves is not None:
        levels, changes = brand_by_segment(
            read(waves), typing_tool=loaded.typing_tool, names=loaded.names
        )
        report["brand_levels"] = levels.to_dict(orient="records")
        report["brand_changes"] = changes.to_dict(orient="records")
        if not json_out:
            print_frame(changes, "Brand metrics: change between waves (Holm-adjusted)")
    if json_out:
        print(dumps(report))
