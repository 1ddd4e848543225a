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
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from segmint import __version__
from segmint.exceptions import ConfigError, SegmintError

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import Config, SparkConfig

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


STAGES = ["ingest", "features", "segment", "profile", "evaluate", "report", "outputs"]


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
    method: Annotated[
        str | None,
        typer.Option(
            help="Segmentation method: auto, kmeans, gmm, mixed, lca, rules, rfm or ensemble "
            "(overrides the config)."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="Engine: duckdb (default) or spark (settings under spark: in the config; "
            "needs pip install 'segmint[spark]'). Overrides the config."
        ),
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Web/app events (technographic basis).")
    ] = None,
    survey: Annotated[Path | None, typer.Option(help="Needs survey (needs basis).")] = None,
    psychographic: Annotated[
        Path | None, typer.Option(help="Attitudes/lifestyle survey (psychographic basis).")
    ] = None,
    campaigns: Annotated[
        Path | None, typer.Option(help="Campaigns sent and responses (behavioural basis).")
    ] = None,
    accounts: Annotated[
        Path | None, typer.Option(help="B2B accounts (firmographic basis).")
    ] = None,
    contacts: Annotated[Path | None, typer.Option(help="B2B contacts of the accounts.")] = None,
    hash_ids: Annotated[
        bool,
        typer.Option(
            "--hash-ids",
            help="Replace customer/account/contact ids and e-mails by salted SHA-256 hashes in "
            "every table before features (salt from --salt or SEGMINT_SALT).",
        ),
    ] = False,
    salt: Annotated[
        str | None, typer.Option(help="Secret salt for --hash-ids (default: $SEGMINT_SALT).")
    ] = None,
) -> None:
    """Segment the customers in a transaction log and write the report and outputs to OUT.

    Further tables (--events, --survey, ...) feed the bases chosen in segmint.yaml (bases:).
    """
    import os

    from segmint.config import load_config
    from segmint.pipeline import run_segmentation

    started = time.perf_counter()
    settings = load_config(config)
    if k is not None:
        settings.segmentation.k = k
    if seed is not None:
        settings.seed = seed
    if method is not None:
        from segmint.segmenters._factory import METHODS

        if method not in METHODS:
            raise ConfigError(
                f"Unknown --method '{method}'.", hint=f"Choose one of {', '.join(METHODS)}."
            )
        settings.segmentation.method = method
    if engine is not None:
        if engine not in ("duckdb", "spark"):
            raise ConfigError(f"Unknown --engine '{engine}'.", hint="Choose duckdb or spark.")
        settings.engine = engine  # type: ignore[assignment]
    sources = _sources(
        events=events,
        survey=survey,
        psychographic=psychographic,
        campaigns=campaigns,
        accounts=accounts,
        contacts=contacts,
    )
    hash_salt = None
    if hash_ids:
        hash_salt = salt if salt is not None else os.environ.get("SEGMINT_SALT")
        if not hash_salt:
            raise ConfigError(
                "--hash-ids needs a secret salt.",
                hint="Pass --salt or set the environment variable SEGMINT_SALT (keep it to make "
                "later runs match).",
            )
    elif salt is not None:
        raise ConfigError("--salt is only used with --hash-ids.", hint="Add --hash-ids.")
    result = _run_with_progress(
        lambda progress: run_segmentation(
            transactions,
            out,
            customers=customers,
            config=settings,
            progress=progress,
            sources=sources,
            hash_salt=hash_salt,
        ),
        STAGES,
    )
    _summary(result, started)


def _sources(**paths: Path | None) -> dict[str, Path]:
    """``role -> file`` of the further tables given (``--events``, ``--survey``, ...)."""
    return {role: path for role, path in paths.items() if path is not None}


# Commands by area. Each area adds its commands below its own marker, nowhere else.
# --- commands: data in (io) ---


@app.command("inspect")
def inspect_command(
    source: Annotated[
        str, typer.Argument(help="File (CSV, TSV, text, Parquet, xlsx, JSON, sav) or DB URL.")
    ],
    role: Annotated[
        str | None,
        typer.Option(help="transactions, customers, events, survey, accounts or contacts."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="segmint.yaml (column mapping).")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name or number.")] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding (default: detect).")] = None,
    delimiter: Annotated[str | None, typer.Option(help="Field delimiter (default: sniff).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Show how segmint reads SOURCE: format, columns, role, mapping and problems per reason.

    Nothing is written: the rows are validated in memory exactly as a run would. Exits with 2
    when the source cannot be read, or cannot be used in its role (the error line says why).
    """
    import json

    from segmint.config import load_config
    from segmint.io import inspect_source

    settings = load_config(config)
    result = inspect_source(
        source,
        role=role,
        mapping=settings.mapping.model_dump(),
        sheet=sheet,
        encoding=encoding or settings.io.encoding,
        delimiter=delimiter or settings.io.delimiter,
        date_formats=settings.io.date_formats,
    )
    if as_json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_inspection(result)
    if result.get("error"):  # the source cannot be used in this role: one error line, exit 2
        from segmint.exceptions import InputError

        raise InputError(result["error"], hint=result.get("hint"))


def _print_inspection(result: dict[str, Any]) -> None:
    shown = {
        **result,
        "delimiter": {"\t": "tab", " ": "whitespace"}.get(
            result.get("delimiter") or "", result.get("delimiter")
        ),
    }
    read = ", ".join(
        f"{k} {shown[k]}"
        for k in ("format", "encoding", "delimiter", "sheet")
        if shown.get(k) not in (None, "")
    )
    out_console.print(
        f"[bold]{result['source']}[/bold]: {read}; header {result['header']}; "
        f"{result['rows']:,} rows",
        highlight=False,
    )
    for note in result.get("notes", []):
        out_console.print(f"note: {note}", highlight=False)
    mapped = {m["column"]: (f, m) for f, m in result.get("mapping", {}).items()}
    columns = Table(title="Columns")
    for name in ("column", "type", "non-empty", "empty", "distinct", "mapped to", "confidence"):
        columns.add_column(name, justify="right" if name in ("non-empty", "empty") else "left")
    for col in result["columns"]:
        field, match = mapped.get(col["name"], ("", {}))
        columns.add_row(
            col["name"] + (f" ({col['label']})" if col.get("label") else ""),
            col["type"] + (f" {col['date_format']}" if col.get("date_format") else ""),
            f"{col['non_empty']:,}",
            f"{col['empty']:,}",
            f"{col['distinct']:,}",
            field,
            f"{match['confidence']:.1f} {match['source']}" if match else "",
        )
    out_console.print(columns)
    scores = ", ".join(f"{r} {s:g}" for r, s in sorted(result["role_scores"].items()))
    out_console.print(
        f"role: [bold]{result['role']}[/bold] ({result['role_source']}; scores: {scores or '–'})",
        highlight=False,
    )
    if result.get("missing_required"):
        out_console.print(f"missing required fields: {', '.join(result['missing_required'])}")
    problems = result.get("problems")
    if problems:
        table = Table(
            title=f"Rows: read {problems['read']:,} = used {problems['used']:,} "
            f"+ quarantined {problems['quarantined']:,}"
        )
        table.add_column("reason")
        table.add_column("rows", justify="right")
        table.add_column("first rows")
        first = problems.get("first_rows", {})
        for reason, n in problems["quarantined_by_reason"].items():
            table.add_row(reason, f"{n:,}", ", ".join(str(r) for r in first.get(reason, [])))
        for reason, n in problems.get("flagged", {}).items():
            table.add_row(f"{reason} (kept, flagged)", f"{n:,}", "")
        if problems.get("possible_duplicates"):
            table.add_row("identical rows (kept)", f"{problems['possible_duplicates']:,}", "")
        out_console.print(table)
    if result.get("date_format"):
        out_console.print(f"dates read as {result['date_format']}", highlight=False)
    for warning in result.get("warnings", []):
        out_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)


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
    import json

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
        print(json.dumps(report, indent=2))
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

    from segmint.activate import OutputFolder
    from segmint.exceptions import InputError
    from segmint.profile._typing_tool import TypingTool

    run_dir = model.parent if model.suffix == ".json" else model
    needed = [run_dir / "features.parquet", run_dir / "segments.parquet", run_dir / "model.json"]
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
    import json

    from segmint.strategy._sample_size import survey_sample_size

    plan = survey_sample_size(segments, min_share, moe, confidence, variables)
    if as_json:
        print(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
        return
    for line in plan.reasoning:
        out_console.print(line, markup=False, highlight=False, soft_wrap=True)


# --- commands: activation and monitoring ---


def _print_frame(frame: Any, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    out_console.print(table)


def _segment_list(text: str | None) -> list[int] | None:
    from segmint.exceptions import ConfigError

    if not text:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(
            f"--segments {text!r} is not a list of segment ids.", hint="e.g. --segments 0,2"
        ) from None


def _recorded_settings(run_json: Path) -> Config:
    """The ``engine`` and ``spark:`` settings a run recorded in its ``run.json`` (as a Config)."""
    import json

    from pydantic import ValidationError

    from segmint.config import Config

    try:
        recorded = json.loads(run_json.read_text(encoding="utf-8")).get("config") or {}
        kept = {key: recorded[key] for key in ("engine", "spark") if key in recorded}
        return Config.model_validate(kept)
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
        raise ConfigError(
            f"{run_json}: cannot read the run's settings ({exc}).",
            hint="Pass --engine or --config.",
        ) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"{run_json}: invalid recorded value for '{where}': {first['msg']}.",
            hint="Pass --engine or --config.",
        ) from None


def _engine_settings(
    engine: str | None, config: Path | None, *, run: Path | None = None
) -> tuple[str, SparkConfig]:
    """The engine of a command and its Spark settings (``segmint.config.SparkConfig``).

    ``--engine`` when given, else the ``engine`` of the settings: ``--config`` (segmint.yaml),
    else, for a run folder, those recorded in its ``run.json``, else the defaults (duckdb).
    With spark, the settings' source and master are printed to stderr.
    """
    from segmint.config import Config, load_config
    from segmint.engines import ENGINES

    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"Unknown --engine '{engine}'.", hint="Choose duckdb or spark.")
    if config is not None:
        settings, source = load_config(config), str(config)
    elif run is not None and (run / "run.json").is_file():
        settings, source = _recorded_settings(run / "run.json"), str(run / "run.json")
    else:
        settings, source = Config(), "defaults"
    chosen = engine or settings.engine
    if chosen == "spark":
        console.print(
            f"engine spark, master {settings.spark.master} (spark settings: {source})",
            style="dim",
            highlight=False,
            soft_wrap=True,
        )
    return chosen, settings.spark


@app.command()
def export(
    run: Annotated[Path, typer.Option("--run", help="Run folder (from `segmint run`).")],
    channel: Annotated[str, typer.Option(help="email, sms, app or all.")] = "email",
    segments: Annotated[str | None, typer.Option(help="Segment ids, e.g. 0,2.")] = None,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="FILE.csv, FILE.parquet, duckdb:///path.duckdb#table or "
            "postgresql://user@host:port/db#table (default: RUN/audience_CHANNEL.csv); on the "
            "spark engine, a FOLDER.parquet or FOLDER.csv (default: "
            "RUN/audience_CHANNEL.parquet).",
        ),
    ] = None,
    customers: Annotated[
        Path | None, typer.Option(help="Customer table with consent (default: the run's).")
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="segmint.yaml whose engine and spark: settings to use (default: those the "
            "run was made with, from RUN/run.json)."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="duckdb or spark (master and conf from spark: in the config; needs pip install "
            "'segmint[spark]'). Overrides the config's engine."
        ),
    ] = None,
) -> None:
    """Export per-segment audiences of customers with the channel's consent, atomically."""
    chosen = _segment_list(segments)
    engine, spark_settings = _engine_settings(engine, config, run=run)
    if engine == "spark":
        from segmint.engines import export_audiences_spark

        result = export_audiences_spark(
            run, channel, segments=chosen, to=to, customers=customers, settings=spark_settings
        )
    else:
        from segmint.activate._exports import export_audiences

        result = export_audiences(run, channel, segments=chosen, to=to, customers=customers)
    _print_frame(result.counts(), f"Audience: {result.n_exported:,} rows")
    if len(result.excluded):
        _print_frame(result.excluded, "Excluded (per segment, channel and reason)")
    for ch, why in result.skipped_channels.items():
        console.print(f"[yellow]channel {ch} skipped:[/yellow] {why}")
    out_console.print(f"Written to {result.target}")


@app.command()
def score(
    model: Annotated[Path, typer.Option(help="Run folder or model.json.")],
    input: Annotated[Path, typer.Option("--input", help="Transactions of the customers.")],
    out: Annotated[Path, typer.Option(help="Output .csv or .parquet.")],
    customers: Annotated[Path | None, typer.Option(help="Only (and all) these customers.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Snapshot date (default: the model's).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="segmint.yaml whose engine and spark: settings to use.")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="duckdb (default) or spark (master and conf from spark: in the config; needs "
            "pip install 'segmint[spark]'). Overrides the config's engine."
        ),
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Web/app events, when the model's features use them.")
    ] = None,
    survey: Annotated[
        Path | None, typer.Option(help="Needs survey, when the model's features use it.")
    ] = None,
    psychographic: Annotated[
        Path | None, typer.Option(help="Attitudes survey, when the model's features use it.")
    ] = None,
    campaigns: Annotated[
        Path | None, typer.Option(help="Campaigns sent, when the model's features use them.")
    ] = None,
    accounts: Annotated[
        Path | None, typer.Option(help="B2B accounts, when the model's features use them.")
    ] = None,
    contacts: Annotated[
        Path | None, typer.Option(help="B2B contacts, when the model's features use them.")
    ] = None,
) -> None:
    """Assign new customers to the segments of a saved model (batch)."""
    from segmint.activate._model import load_model
    from segmint.activate._scoring import score as score_customers
    from segmint.activate._scoring import write_frame

    started = time.perf_counter()
    engine, spark_settings = _engine_settings(engine, config)
    loaded = load_model(model)
    sources = _sources(
        events=events,
        survey=survey,
        psychographic=psychographic,
        campaigns=campaigns,
        accounts=accounts,
        contacts=contacts,
    )
    if engine == "spark":
        from segmint.activate._scoring import is_catalogue_spec, required_tables

        if sources or is_catalogue_spec(loaded.spec):
            others = sorted({*sources, *required_tables(loaded.spec)} - {"transactions"})
            raise ConfigError(
                "The Spark engine scores models of the transaction bases only; this one needs "
                + (f"the {', '.join(others)} table(s)." if others else "the DuckDB engine."),
                hint="Score with --engine duckdb and pass those tables.",
            )
        from segmint.engines import score_file_spark

        scored = score_file_spark(
            loaded, input, customers, as_of=_date(as_of), settings=spark_settings
        )
    else:
        scored = score_customers(loaded, input, customers, as_of=_date(as_of), sources=sources)
    write_frame(scored, out)
    counts = scored["segment_name"].value_counts()
    out_console.print(
        f"Scored {len(scored):,} customers into {out} in {time.perf_counter() - started:.1f}s"
    )
    for name, n in counts.items():
        out_console.print(f"  {name}: {n:,}")


def _date(text: str | None) -> Any:
    from datetime import date

    from segmint.exceptions import ConfigError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date.", hint="Use YYYY-MM-DD.") from None


@app.command()
def serve(
    model: Annotated[Path, typer.Option(help="Run folder or model.json.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the bearer token.")
    ] = "SEGMINT_TOKEN",
) -> None:
    """Serve the model over HTTP: POST /v1/score, GET /v1/segments, /healthz, /docs."""
    import os

    from segmint.activate._service import serve as run_service
    from segmint.exceptions import ConfigError

    token = os.environ.get(token_env, "")
    if not token:
        raise ConfigError(
            f"The environment variable {token_env} holding the bearer token is not set.",
            hint=f"export {token_env}=<a long random secret>",
        )
    console.print(f"Serving {model} on http://{host}:{port} (docs at /docs)")
    run_service(model, token=token, host=host, port=port)


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
        result = monitor_model(model, input, as_of=_date(as_of), config=settings)
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
            _print_frame(
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
            _print_frame(uplift.drop(columns=["method"]), "Campaign uplift by segment")
    if waves is not None:
        levels, changes = brand_by_segment(
            read(waves), typing_tool=loaded.typing_tool, names=loaded.names
        )
        report["brand_levels"] = levels.to_dict(orient="records")
        report["brand_changes"] = changes.to_dict(orient="records")
        if not json_out:
            _print_frame(changes, "Brand metrics: change between waves (Holm-adjusted)")
    if json_out:
        print(dumps(report))


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
