"""The Typer app of the ``segmint`` command line, its shared console and its error handling.

Errors a user can cause are printed as one red line with a hint and exit code 2; the traceback is
shown only with ``--debug``. That covers the errors of segmint itself
(:class:`~segmint.exceptions.SegmintError`) and the usage errors the command-line parser raises
(a missing option, a bad value, an unknown option), which also get the usage line of the command.

The commands live in the sibling modules of their area and register themselves on :data:`app`
when :mod:`segmint.cli` imports them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


# --- helpers shared by the commands ---


def run_with_progress(job: Callable[[Callable[[str], None]], Any], stages: list[str]) -> Any:
    """Run ``job`` with a Rich progress display advanced at each stage it reports.

    Parameters
    ----------
    job
        Called with a ``progress(stage)`` function, which it calls as each stage starts.
    stages
        The stages ``job`` goes through, in order (the length of the bar).

    Returns
    -------
    Any
        What ``job`` returns.
    """
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


def table_sources(**paths: Path | None) -> dict[str, Path]:
    """``role -> file`` of the further tables given (``--events``, ``--survey``, ...)."""
    return {role: path for role, path in paths.items() if path is not None}


def parse_date(text: str | None) -> Any:
    """The ``datetime.date`` of an ISO date option (``--as-of``), or None when not given.

    Raises
    ------
    ConfigError
        When ``text`` is not a ``YYYY-MM-DD`` date.
    """
    from datetime import date

    from segmint.exceptions import ConfigError

    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{text!r} is not a date.", hint="Use YYYY-MM-DD.") from None


def print_frame(frame: Any, title: str) -> None:
    """Print a pandas DataFrame as a Rich table (floats to 4 significant digits)."""
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
    out_console.print(table)


# --- error handling ---


@cache
def click_errors() -> tuple[type[Exception], type[Exception]]:
    """``(ClickException, UsageError)`` of the click that the app's parser runs on.

    Older typer parses with the separately installed ``click``; newer typer vendors its own copy
    (``typer._click``), whose exceptions are unrelated classes of the same names. Either way
    ``typer.BadParameter`` is the parser's own ``BadParameter``, so both base classes are taken
    from its MRO rather than imported from one fixed path.

    Returns
    -------
    tuple of type
        The base class of every error click can show to the user, and its subclass for usage
        errors (missing or bad option or argument, unknown option or command).
    """
    mro = typer.BadParameter.__mro__
    base = next(cls for cls in mro if cls.__name__ == "ClickException")
    usage = next(cls for cls in mro if cls.__name__ == "UsageError")
    return base, usage


def _print_error(message: str, hint: str | None) -> None:
    """The one ``error:`` line (never wrapped, never read as markup) and its ``hint:`` line."""
    console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    if hint:
        console.print(Text.assemble(("hint:", "yellow"), " ", hint), soft_wrap=True)


def _command_path(args: Sequence[str]) -> str:
    """``segmint COMMAND`` of a command line whose parser error carries no context to say so.

    The program is named as click names it in the usage line: ``python -m segmint`` when run
    as a module, else the name of the script.
    """
    package = getattr(sys.modules.get("__main__"), "__package__", None)
    if package:
        program = "python -m " + package.removesuffix(".__main__")
    else:
        program = Path(sys.argv[0]).name or str(app.info.name)
    names = getattr(typer.main.get_command(app), "commands", {})
    command = next((arg for arg in args if arg in names), None)
    return " ".join(filter(None, [program, command]))


def _show_click_error(exc: Any, args: Sequence[str]) -> None:
    """Print a click error as the command's usage line, one ``error:`` line and a hint."""
    usage_error = click_errors()[1]
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        console.print(ctx.get_usage(), markup=False, highlight=False, soft_wrap=True)
    if not isinstance(exc, usage_error):
        hint = "Check the path." if getattr(exc, "filename", None) else None
    elif ctx is not None and ctx.command.get_help_option(ctx) is not None:
        hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
    else:
        hint = f"Try '{_command_path(args)} --help' for help."
    _print_error(exc.format_message(), hint)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``segmint`` command.

    Parameters
    ----------
    argv
        The arguments after the program name (default: ``sys.argv[1:]``).

    Notes
    -----
    Exits with 0 on success, 2 on an error caused by the input or the command line (printed as
    one ``error:`` line and a hint; the traceback only with ``--debug``), 130 when interrupted.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    _state["debug"] = False
    click_error, _ = click_errors()
    try:
        code = app(args=args, standalone_mode=False)
    except SegmintError as exc:
        if _state["debug"]:
            console.print_exception()
        _print_error(exc.message, exc.hint)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("interrupted: nothing was written to the output folder")
        sys.exit(130)
    except click_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `segmint`: the help, as click does
            if exc.format_message().strip():  # rich help is printed as the error is made
                exc.show()
            sys.exit(exc.exit_code)
        # the callback may not have run when the group's own options are wrong
        if _state["debug"] or "--debug" in args:
            console.print_exception()
        _show_click_error(exc, args)
        sys.exit(2)
    # with standalone_mode=False, click returns the code of an Exit instead of raising it
    if isinstance(code, int) and code:
        sys.exit(code)
