"""The command line as a package: one app, its commands in their order, a fast ``--help``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120", "NO_COLOR": "1"},
        timeout=120,
    )


def test_help_lists_every_command_in_order(tmp_path: Path) -> None:
    result = python("-m", "segmint", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [
        line.split()[1]
        for line in result.stdout.splitlines()
        if len(line.split()) > 1 and line.split()[1] in COMMANDS
    ]
    assert listed == COMMANDS


@pytest.mark.parametrize("module", ["segmint", "segmint.cli"])
def test_python_m_runs_the_command_line(module: str, tmp_path: Path) -> None:
    result = python("-m", module, "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("segmint ")


def test_importing_the_command_line_leaves_the_heavy_libraries_alone(tmp_path: Path) -> None:
    probe = (
        "import json, sys, segmint.cli; "
        "print(json.dumps(sorted(m for m in ('pandas', 'duckdb', 'sklearn', 'numpy', "
        "'segmint.pipeline', 'segmint.config') if m in sys.modules)))"
    )
    result = python("-c", probe, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_entry_point_is_the_package_main() -> None:
    from importlib.metadata import entry_points

    from segmint import cli

    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "segmint"]
    assert script.value == "segmint.cli:main"
    assert script.load() is cli.main
