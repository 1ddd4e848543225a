"""``segmint export``, ``segmint score`` and ``segmint serve``: putting a run's segments to use."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from segmint.cli._app import app, console, out_console, parse_date, print_frame, table_sources
from segmint.exceptions import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from segmint.config import Config, SparkConfig

# Commands by area. Each area adds its commands below its own marker, nowhere else.
# --- commands: activation ---


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


def _recorded_settings(run_json: Path, keys: tuple[str, ...] = ("engine", "spark")) -> Config:
    """The settings ``keys`` (``engine`` and ``spark:``) a run recorded in its ``run.json``, as a
    Config."""
    import json

    from pydantic import ValidationError

    from segmint.config import Config

    try:
        recorded = json.loads(run_json.read_text(encoding="utf-8")).get("config") or {}
        kept = {key: recorded[key] for key in keys if key in recorded}
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


def _reading_settings(config: Path | None, model: Path) -> Config:
    """The ``io:`` and ``mapping:`` that ``segmint score`` reads its tables with: those of
    ``--config``, else those the run recorded in ``run.json`` beside the model (so new data are
    read, mapped and validated as the run's were), else the defaults."""
    from segmint.config import Config, load_config

    if config is not None:
        return load_config(config)
    folder = model if model.is_dir() else model.parent
    if (folder / "run.json").is_file():
        return _recorded_settings(folder / "run.json", ("io", "mapping"))
    return Config()


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
    raw_csv: Annotated[
        bool,
        typer.Option(
            "--raw-csv",
            help="Write CSV cells as they are (for machines): by default text starting with "
            "= + - @ is prefixed with ' so spreadsheets do not run it as a formula.",
        ),
    ] = False,
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

        result = export_audiences(
            run,
            channel,
            segments=chosen,
            to=to,
            customers=customers,
            spreadsheet_safe=not raw_csv,
        )
    print_frame(result.counts(), f"Audience: {result.n_exported:,} rows")
    if len(result.excluded):
        print_frame(result.excluded, "Excluded (per segment, channel and reason)")
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
        Path | None,
        typer.Option(
            help="segmint.yaml whose engine, spark:, io: (encoding, delimiter, returns, ...) and "
            "mapping: settings to use (default for io: and mapping: those the run recorded)."
        ),
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
    raw_csv: Annotated[
        bool,
        typer.Option(
            "--raw-csv",
            help="Write CSV cells as they are (for machines): by default text starting with "
            "= + - @ is prefixed with ' so spreadsheets do not run it as a formula.",
        ),
    ] = False,
) -> None:
    """Assign new customers to the segments of a saved model (batch)."""
    from segmint.activate._model import load_model
    from segmint.activate._scoring import score as score_customers
    from segmint.activate._scoring import write_frame

    started = time.perf_counter()
    engine, spark_settings = _engine_settings(engine, config)
    loaded = load_model(model)
    reading = _reading_settings(config, model)
    sources = table_sources(
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
            loaded, input, customers, as_of=parse_date(as_of), settings=spark_settings
        )
    else:
        scored = score_customers(
            loaded, input, customers, as_of=parse_date(as_of), sources=sources, settings=reading
        )
    write_frame(scored, out, spreadsheet_safe=not raw_csv)
    counts = scored["segment_name"].value_counts()
    out_console.print(
        f"Scored {len(scored):,} customers into {out} in {time.perf_counter() - started:.1f}s"
    )
    for name, n in counts.items():
        out_console.print(f"  {name}: {n:,}")


@app.command()
def serve(
    model: Annotated[Path, typer.Option(help="Run folder or model.json.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the bearer token.")
    ] = "SEGMINT_TOKEN",
    workers: Annotated[
        int | None,
        typer.Option(
            help="Worker processes, each answering on its own core. Default: one per core "
            "this process may use, at most 4.",
            min=1,
            max=64,
        ),
    ] = None,
) -> None:
    """Serve the model over HTTP: POST /v1/score, GET /v1/segments, /healthz, /openapi.json."""
    import os

    from segmint.activate._model import resolve_model_path
    from segmint.activate._service import serve as run_service
    from segmint.exceptions import ConfigError

    token = os.environ.get(token_env, "")
    if not token:
        raise ConfigError(
            f"The environment variable {token_env} holding the bearer token is not set.",
            hint=f"export {token_env}=<a long random secret>",
        )
    resolve_model_path(model)  # a missing model: its one error line, without "Serving ..." first
    if workers is None:
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        workers = min(4, len(usable) if usable else (os.cpu_count() or 1))
    console.print(
        f"Serving {model} on http://{host}:{port} with {workers} worker"
        f"{'s' if workers > 1 else ''} (OpenAPI at /openapi.json)"
    )
    run_service(model, token=token, host=host, port=port, workers=workers, token_variable=token_env)
