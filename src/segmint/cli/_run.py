"""``segmint demo``, ``segmint run`` and ``segmint inspect``: data in, segments out."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from segmint.cli._app import app, console, out_console, run_with_progress, table_sources
from segmint.exceptions import ConfigError

# Commands by area. Each area adds its commands below its own marker, nowhere else.
# --- commands: segment (pipeline) ---


STAGES = ["ingest", "features", "segment", "profile", "evaluate", "report", "outputs"]

MAP_HELP = (
    "COLUMN=ROLE: the transactions' column COLUMN is ROLE (e.g. --map Quantity=quantity "
    "--map UnitPrice=unit_price); repeatable; overrides mapping: transactions: of segmint.yaml."
)


def _check_maps(
    ctx: typer.Context, param: typer.CallbackParam, values: list[str] | None
) -> list[str]:
    """``--map COLUMN=ROLE`` checked: the form, a role of the transactions, one column each."""
    from segmint.io import ROLE_FIELDS

    roles = list(ROLE_FIELDS["transactions"])
    seen: dict[str, str] = {}
    for value in values or []:
        column, sep, role = value.rpartition("=")
        column, role = column.strip(), role.strip()
        if not sep or not column or not role:
            raise typer.BadParameter(
                f"'{value}' is not COLUMN=ROLE (e.g. Quantity=quantity); roles: " + ", ".join(roles)
            )
        if role not in roles:
            raise typer.BadParameter(f"'{value}': unknown role '{role}'; roles: {', '.join(roles)}")
        if role in seen and seen[role] != column:
            raise typer.BadParameter(f"'{value}': role '{role}' is already column '{seen[role]}'")
        seen[role] = column
    return list(values or [])


def _maps(values: list[str] | None) -> dict[str, str]:
    """``role -> column`` of the checked ``--map`` values."""
    out = {}
    for value in values or []:
        column, _, role = value.rpartition("=")
        out[role.strip()] = column.strip()
    return out


def _map_column_error(
    ctx: typer.Context, source: object, column: str, field: str, columns: list[str]
) -> Exception:
    """The usage error of a ``--map`` naming a column the file lacks."""
    param = next((p for p in ctx.command.params if p.name == "column_map"), None)
    return typer.BadParameter(
        f"'{column}={field}': {source} has no column '{column}' (columns: {', '.join(columns)})",
        ctx=ctx,
        param=param,
    )


def k_line(selection: dict[str, Any]) -> str:
    """The one summary line on the number of segments: ``k = 4 chosen (runner-up 3): reason``.

    Parameters
    ----------
    selection : dict
        ``RunResult.selection`` (``chosen``, ``runner_up``, ``reason``).

    Returns
    -------
    str
        The line, without markup.
    """
    runner_up = selection.get("runner_up")
    shown = "" if runner_up is None else f" (runner-up {runner_up})"
    return f"k = {selection['chosen']} chosen{shown}: {selection['reason']}"


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
    if getattr(result, "selection", None):
        out_console.print(k_line(result.selection), markup=False, highlight=False, soft_wrap=True)
    from segmint.report._data import accounting_line, reconciliation_sentence, source_facts

    settings = getattr(result, "config", None)
    currency = settings.io.currency if settings is not None else None
    policy = settings.io.duplicates if settings is not None else "drop"
    for account in result.accounting:
        data = account.to_dict()
        out_console.print(
            f"{account.role}: {accounting_line(data)}", highlight=False, soft_wrap=True
        )
        for fact in source_facts(data, currency, duplicate_policy=policy, compact=True):
            out_console.print(f"  {fact}", highlight=False, soft_wrap=True)
    if getattr(result, "reconciliation", None):
        out_console.print(
            reconciliation_sentence(result.reconciliation, currency),
            highlight=False,
            soft_wrap=True,
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
    result = run_with_progress(
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
    ctx: typer.Context,
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
            help="Replace customer/account/contact ids, e-mails and phone numbers by salted "
            "SHA-256 hashes in every table before features (salt from --salt or SEGMINT_SALT).",
        ),
    ] = False,
    keep_raw_quarantine: Annotated[
        bool,
        typer.Option(
            "--keep-raw-quarantine",
            help="Keep the e-mails, phones, names and addresses of quarantined rows as read in "
            "quarantine.parquet (by default they are hashed).",
        ),
    ] = False,
    salt: Annotated[
        str | None, typer.Option(help="Secret salt for --hash-ids (default: $SEGMINT_SALT).")
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="COLUMN=ROLE", help=MAP_HELP, callback=_check_maps),
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
    maps = _maps(column_map)
    settings.mapping.transactions.update(maps)
    if k is not None:
        settings.segmentation.k = k
    if keep_raw_quarantine:
        settings.io.keep_raw_quarantine = True
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
    sources = table_sources(
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
    from segmint.io._mapping import MappedColumnMissing

    try:
        result = run_with_progress(
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
    except MappedColumnMissing as exc:
        if maps.get(exc.field) != exc.column:
            raise
        raise _map_column_error(ctx, transactions, exc.column, exc.field, exc.columns) from None
    _summary(result, started)


# --- commands: data in (io) ---


@app.command("inspect")
def inspect_command(
    ctx: typer.Context,
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
    column_map: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="COLUMN=ROLE", help=MAP_HELP, callback=_check_maps),
    ] = None,
) -> None:
    """Show how segmint reads SOURCE: format, columns, role, mapping and problems per reason.

    Nothing is written: the rows are validated in memory exactly as a run would. Exits with 2
    when the source cannot be read, or cannot be used in its role (the error line says why).
    """
    from segmint import _json
    from segmint.config import load_config
    from segmint.io import inspect_source

    settings = load_config(config)
    maps = _maps(column_map)
    settings.mapping.transactions.update(maps)
    if maps and role not in (None, "transactions"):
        raise typer.BadParameter(
            f"maps columns of the transactions, not of --role {role}",
            ctx=ctx,
            param=next(p for p in ctx.command.params if p.name == "column_map"),
        )
    result = inspect_source(
        source,
        role="transactions" if maps else role,
        mapping=settings.mapping.model_dump(),
        sheet=sheet,
        encoding=encoding or settings.io.encoding,
        delimiter=delimiter or settings.io.delimiter,
        date_formats=settings.io.date_formats,
        io_options=settings.io.transaction_options(),
    )
    names = [c["name"] for c in result.get("columns", [])]
    for field, column in maps.items():
        if column not in names:
            raise _map_column_error(ctx, source, column, field, names)
    if as_json:
        print(_json.dumps(result, indent=2, default=str))
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
        out_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
