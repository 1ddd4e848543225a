"""The ``segmint`` command line.

Errors a user can cause are printed as one red line with a hint and exit code 2; the traceback is
shown only with ``--debug``.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from segmint import __version__
from segmint.exceptions import SegmintError

app = typer.Typer(
    name="segmint",
    help="Customer segmentation: from raw customer data to segments people can act on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out_console = Console()
_state: dict[str, Any] = {"debug": False}


def _version(value: bool) -> None:
    if value:
        print(f"segmint {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug
    if debug or verbose:
        logging.basicConfig(
            level=logging.DEBUG if debug else logging.INFO,
            format="%(asctime)s %(name)s %(levelname)s %(message)s",
        )


def _run_with_progress(job: Callable[[Callable[[str], None]], Any], stages: list[str]) -> Any:
    """Run ``job`` with a Rich progress display advanced at each stage it reports."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=len(stages))
        seen: list[str] = []

        def progress(stage: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(stage)
            bar.update(task, description=stage)

        result = job(progress)
        bar.update(task, completed=len(stages))
    return result


STAGES = ["ingest", "features", "segment", "profile", "report", "outputs"]


def _summary(result: Any, started: float) -> None:
    table = Table(title=f"{result.n_segments} segments of {result.n_customers:,} customers")
    table.add_column("id", justify="right")
    table.add_column("segment")
    table.add_column("customers", justify="right")
    table.add_column("share", justify="right")
    table.add_column("revenue share", justify="right")
    for row in result.profiles.summary.itertuples():
        table.add_row(
            str(row.segment_id),
            result.names[int(row.segment_id)],
            f"{row.customers:,}",
            f"{row.share:.1%}",
            f"{row.revenue_share:.1%}" if hasattr(row, "revenue_share") else "–",
        )
    out_console.print(table)
    for account in result.accounting:
        out_console.print(
            f"{account.role}: read {account.n_read:,} = used {account.n_used:,} "
            f"+ quarantined {account.n_quarantined:,}"
        )
    out_console.print(
        f"Outputs in [bold]{result.out}[/bold] (report.html, segments.parquet, model.json, ...) "
        f"in {time.perf_counter() - started:.1f}s"
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("demo-out"),
    customers: Annotated[
        int, typer.Option(help="Number of customers to generate.", min=50)
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed for data and model.")] = 7,
) -> None:
    """Generate a synthetic retailer into OUT/data/ and segment it.

    The planted segments are written to OUT/data/truth.csv (never read by the pipeline), so the
    recovered segments can be compared with them.
    """
    from segmint.config import Config
    from segmint.datasets import make_retail
    from segmint.pipeline import run_segmentation

    started = time.perf_counter()
    console.print(f"Generating {customers:,} customers (seed {seed}) into {out / 'data'}")
    paths = make_retail(customers, seed).write(out / "data")
    config = Config(seed=seed)
    result = _run_with_progress(
        lambda progress: run_segmentation(
            paths["transactions"],
            out,
            customers=paths["customers"],
            config=config,
            progress=progress,
        ),
        STAGES,
    )
    _summary(result, started)
    try:
        import pandas as pd
        from sklearn.metrics import adjusted_rand_score

        truth = pd.read_csv(paths["truth"], dtype={"customer_id": str})
        merged = result.segments.merge(truth, on="customer_id")
        ari = adjusted_rand_score(merged["segment"], merged["segment_id"])
        out_console.print(f"Agreement with the planted segments (adjusted Rand index): {ari:.3f}")
    except Exception as exc:  # pragma: no cover - reporting only
        console.print(f"(could not compare with the planted segments: {exc})")


@app.command()
def run(
    transactions: Annotated[Path, typer.Option(help="Transaction log: CSV, TSV, text or Parquet.")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    customers: Annotated[
        Path | None, typer.Option(help="Customer table (CRM export) to profile.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="segmint.yaml with settings.")] = None,
    k: Annotated[int | None, typer.Option(help="Force this number of segments.", min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (overrides the config).")] = None,
) -> None:
    """Segment the customers in a transaction log and write the report and outputs to OUT."""
    from segmint.config import load_config
    from segmint.pipeline import run_segmentation

    started = time.perf_counter()
    settings = load_config(config)
    if k is not None:
        settings.segmentation.k = k
    if seed is not None:
        settings.seed = seed
    result = _run_with_progress(
        lambda progress: run_segmentation(
            transactions, out, customers=customers, config=settings, progress=progress
        ),
        STAGES,
    )
    _summary(result, started)


# Commands by area. Each area adds its commands below its own marker, nowhere else.
# --- commands: data in (io) ---

# --- commands: bases and CLV (features) ---

# --- commands: segmenters and typing tool ---

# --- commands: deliverables (evaluate, profile, strategy) ---

# --- commands: activation and monitoring ---

# --- end of commands ---


def main() -> None:
    """Entry point of the ``segmint`` command."""
    try:
        app(standalone_mode=False)
    except SegmintError as exc:
        if _state["debug"]:
            console.print_exception()
        console.print(f"[bold red]error:[/bold red] {exc.message}", highlight=False)
        if exc.hint:
            console.print(f"[yellow]hint:[/yellow] {exc.hint}", highlight=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted: nothing was written to the output folder")
        sys.exit(130)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
