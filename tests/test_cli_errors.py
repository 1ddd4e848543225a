"""Every error a user can make on the command line is one ``error:`` line, a hint and exit code 2.

Each case runs the real entry point, ``python -m segmint ...``, in a subprocess: a missing
required option or argument, a value of the wrong type or out of range, an unknown option and a
path that does not exist, for every command. A usage error (caught by the parser) also prints
the usage line of the command; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer

from segmint.cli import _app, app

MISSING = "/nonexistent/segmint-tests"  # a folder that does not exist


def segmint(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m segmint ARGS`` in a subprocess in ``cwd``, with ``env`` added to its
    environment."""
    return subprocess.run(
        [sys.executable, "-m", "segmint", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1", **env},
        timeout=120,
    )


def lines_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_usage_error(result: subprocess.CompletedProcess[str], command: str, names: str) -> None:
    """Exit 2, no traceback; at most the usage line, one error line naming ``names``, a hint."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    lines = lines_of(result.stderr)
    path = f"python -m segmint {command}".rstrip()
    if lines[0].startswith("Usage:"):
        assert lines[0].startswith(f"Usage: {path} "), lines
        lines = lines[1:]
    assert len(lines) == 2, result.stderr
    error, hint = lines
    assert error.startswith("error: ") and names in error, result.stderr
    assert hint == f"hint: Try '{path} --help' for help."


COMMANDS = [
    "demo",
    "run",
    "inspect",
    "clv",
    "typing-tool",
    "sample-size",
    "export",
    "score",
    "serve",
    "history",
    "monitor",
    "impact",
]

# (kind, args, what the error line must name). Errors the parser finds: a missing required
# option or argument, a bad value (type, range, a value given to a flag), an unknown option.
USAGE_ERRORS = [
    ("missing", ["run"], "Missing option '--transactions'."),
    ("missing", ["run", "--transactions", "t.csv"], "Missing option '--out'."),
    ("missing", ["inspect"], "Missing argument 'source'."),
    ("missing", ["clv"], "Missing option '--transactions'."),
    ("missing", ["clv", "--transactions", "t.csv"], "Missing option '--calibration-end'."),
    ("missing", ["typing-tool"], "Missing option '--model'."),
    ("missing", ["sample-size"], "Missing option '--segments'."),
    ("missing", ["sample-size", "--segments", "4"], "Missing option '--min-share'."),
    ("missing", ["export"], "Missing option '--run'."),
    ("missing", ["score"], "Missing option '--model'."),
    ("missing", ["score", "--model", "m"], "Missing option '--input'."),
    ("missing", ["score", "--model", "m", "--input", "t.csv"], "Missing option '--out'."),
    ("missing", ["serve"], "Missing option '--model'."),
    ("missing", ["history"], "Missing option '--store'."),
    ("missing", ["impact"], "Missing option '--model'."),
    ("missing", ["run", "--transactions", "t.csv", "--out", "o", "--k"], "'--k' requires an"),
    ("value", ["demo", "--customers", "abc"], "Invalid value for '--customers'"),
    ("value", ["demo", "--customers", "10"], "Invalid value for '--customers'"),
    ("value", ["run", "--transactions", "t.csv", "--out", "o", "--k", "abc"], "'--k'"),
    ("value", ["run", "--transactions", "t.csv", "--out", "o", "--seed", "1.5"], "'--seed'"),
    ("value", ["inspect", "t.csv", "--json=yes"], "Option '--json' does not take a value."),
    ("value", ["clv", "--transactions", "t.csv", "--json=1"], "Option '--json'"),
    ("value", ["typing-tool", "--model", "m", "--max-vars", "abc"], "'--max-vars'"),
    ("value", ["typing-tool", "--model", "m", "--max-depth", "0"], "'--max-depth'"),
    ("value", ["sample-size", "--segments", "abc", "--min-share", "0.1"], "'--segments'"),
    ("value", ["sample-size", "--segments", "4", "--min-share", "abc"], "'--min-share'"),
    ("value", ["sample-size", "--segments", "4", "--min-share", "0.1", "--moe", "x"], "'--moe'"),
    ("value", ["serve", "--model", "m", "--port", "abc"], "Invalid value for '--port'"),
    ("value", ["serve", "--model", "m", "--port", "70000"], "Invalid value for '--port'"),
    ("value", ["history", "--store", "s", "--json=1"], "Option '--json'"),
    ("value", ["monitor", "--json=1"], "Option '--json'"),
    ("value", ["impact", "--model", "m", "--bootstrap=1"], "Option '--bootstrap'"),
    *(
        ("unknown", [command, "--no-such-option"], "No such option: --no-such-option")
        for command in COMMANDS
    ),
    ("unknown", ["--no-such-option"], "No such option: --no-such-option"),
    ("unknown", ["segmentise"], "No such command 'segmentise'."),
]

# (kind, args, what the error line must name). Errors segmint finds past the parser: paths
# that do not exist, values the parser cannot check, nothing to do.
INPUT_ERRORS = [
    ("path", ["run", "--transactions", f"{MISSING}/t.csv", "--out", "o"], f"{MISSING}/t.csv"),
    (
        "path",
        ["run", "--transactions", "t.csv", "--out", "o", "--config", f"{MISSING}/segmint.yaml"],
        f"{MISSING}/segmint.yaml: config file not found",
    ),
    ("path", ["inspect", f"{MISSING}/t.csv"], f"{MISSING}/t.csv: file not found"),
    (
        "path",
        ["clv", "--transactions", f"{MISSING}/t.csv", "--calibration-end", "1997-09-30"],
        f"{MISSING}/t.csv: file not found",
    ),
    ("path", ["typing-tool", "--model", f"{MISSING}/run"], "not a complete segmint run folder"),
    ("path", ["export", "--run", f"{MISSING}/run"], f"{MISSING}/run: no segments.parquet"),
    (
        "path",
        ["score", "--model", f"{MISSING}/run", "--input", f"{MISSING}/t.csv", "--out", "s.csv"],
        f"{MISSING}/run: model file not found",
    ),
    (
        "path",
        ["serve", "--model", f"{MISSING}/run", "--token-env", "SEGMINT_TEST_TOKEN"],
        f"{MISSING}/run: model file not found",
    ),
    ("path", ["history", "--store", f"{MISSING}/run"], f"{MISSING}/run: run store not found"),
    (
        "path",
        ["monitor", "--model", f"{MISSING}/run", "--input", f"{MISSING}/t.csv"],
        f"{MISSING}/run: model file not found",
    ),
    (
        "path",
        ["monitor", "--baseline", f"{MISSING}/a", "--current", f"{MISSING}/b"],
        f"{MISSING}/a: not a run folder",
    ),
    (
        "path",
        ["impact", "--model", f"{MISSING}/run", "--campaign", "c.csv"],
        f"{MISSING}/run: model file not found",
    ),
    ("value", ["run", "--transactions", "t", "--out", "o", "--method", "dbscan"], "'dbscan'"),
    ("value", ["export", "--run", "r", "--segments", "a,b"], "--segments 'a,b' is not a list"),
    ("value", ["export", "--run", "r", "--engine", "flink"], "Unknown --engine 'flink'."),
    (
        "value",
        ["score", "--model", "m", "--input", "t.csv", "--out", "s.csv", "--engine", "flink"],
        "Unknown --engine 'flink'.",
    ),
    ("value", ["monitor", "--model", "m", "--input", "t", "--as-of", "soon"], "'soon' is not a"),
    ("missing", ["monitor"], "Nothing to compare."),
]

# commands without the case: demo and monitor have no required option (monitor says "Nothing to
# compare" instead), demo and sample-size read no file
NOT_APPLICABLE = {("demo", "missing"), ("demo", "path"), ("sample-size", "path")}


def _ids(cases: list[tuple[str, list[str], str]]) -> list[str]:
    return [f"{kind}:{' '.join(args)}" for kind, args, _ in cases]


@pytest.mark.parametrize(("kind", "args", "names"), USAGE_ERRORS, ids=_ids(USAGE_ERRORS))
def test_a_usage_error_is_one_line_with_a_hint_and_exit_2(
    kind: str, args: list[str], names: str, tmp_path: Path
) -> None:
    command = args[0] if args[0] in COMMANDS else ""
    assert_usage_error(segmint(*args, cwd=tmp_path), command, names)


@pytest.mark.parametrize(("kind", "args", "names"), INPUT_ERRORS, ids=_ids(INPUT_ERRORS))
def test_an_input_error_is_one_error_line_and_its_hint(
    kind: str, args: list[str], names: str, tmp_path: Path
) -> None:
    result = segmint(*args, cwd=tmp_path, SEGMINT_TEST_TOKEN="a-long-random-secret")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    error, hint = lines_of(result.stderr)  # no usage line, and serve no "Serving ..." first
    assert error.startswith("error: ") and names in error, result.stderr
    assert hint.startswith("hint: ")
    assert not any(tmp_path.iterdir()), "nothing is written"


def test_every_command_is_checked_for_every_kind_of_error() -> None:
    assert list(typer.main.get_command(app).commands) == COMMANDS  # type: ignore[attr-defined]
    covered = {(args[0], kind) for kind, args, _ in USAGE_ERRORS + INPUT_ERRORS}
    wanted = {(c, k) for c in COMMANDS for k in ("missing", "value", "unknown", "path")}
    assert wanted - NOT_APPLICABLE <= covered
    assert not NOT_APPLICABLE & covered


def test_debug_adds_the_traceback_to_a_usage_error(tmp_path: Path) -> None:
    args = ["run", "--transactions", "t.csv", "--out", "o", "--k", "abc"]
    result = segmint("--debug", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "error: Invalid value for '--k'" in result.stderr
    early = segmint("--no-such-option", "--debug", cwd=tmp_path)  # the callback never ran
    assert early.returncode == 2 and "Traceback" in early.stderr
    plain = segmint(*args, cwd=tmp_path)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_no_command_shows_the_help(tmp_path: Path) -> None:
    result = segmint(cwd=tmp_path)
    assert result.returncode == 2  # as typer and click do for no_args_is_help
    assert "Usage:" in result.stdout and "sample-size" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture
def fresh_click_errors() -> Iterator[None]:
    _app.click_errors.cache_clear()
    yield
    _app.click_errors.cache_clear()


def test_older_typer_parsing_with_click_itself_is_handled(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fresh_click_errors: None
) -> None:
    # Older typer re-exports click's own BadParameter and raises click's exceptions; the handler
    # takes its classes from typer, so click's MissingParameter is the usage error there.
    click = pytest.importorskip("click")
    monkeypatch.setattr(typer, "BadParameter", click.BadParameter)
    option = click.Option(["--transactions"], required=True)
    command = click.Command("run", params=[option])

    def app_on_click(**kwargs: object) -> None:
        ctx = click.Context(command, info_name="segmint run")
        raise click.MissingParameter(ctx=ctx, param=option)

    monkeypatch.setattr(_app, "app", app_on_click)
    with pytest.raises(SystemExit) as exit_:
        _app.main(["run"])
    assert exit_.value.code == 2
    lines = lines_of(capsys.readouterr().err)
    assert lines == [
        "Usage: segmint run [OPTIONS]",
        "error: Missing option '--transactions'.",
        "hint: Try 'segmint run --help' for help.",
    ]


def test_the_usage_error_class_is_the_one_typer_parses_with(fresh_click_errors: None) -> None:
    base, usage = _app.click_errors()
    assert issubclass(typer.BadParameter, usage) and issubclass(usage, base)
    try:
        app(["run"], standalone_mode=False)
    except usage as exc:  # what the parser raises for a missing option
        assert "--transactions" in exc.format_message()
    else:  # pragma: no cover
        pytest.fail("no usage error")
