"""Figures that show whether the code's design is visible: module sizes, function lengths and
imports of private names across package boundaries.

Usage: ``python scripts/architecture_metrics.py [SRC]`` (default ``src/segmint``). Prints the
largest modules, the longest functions, the count of modules over 500 lines and functions over
80 lines, and each import of a private module or name from another package of segmint.

``python scripts/architecture_metrics.py --check BASELINE`` is the ratchet ``make lint`` runs:
it fails when an import of a private module or name across packages appears that the baseline
file does not list, or when a module grows past 500 lines (or, for a module the baseline
already lists as larger, past its recorded size). ``--write BASELINE`` records today's state;
entries leave the baseline as the code is cleaned up, and none should be added by hand.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def _module_name(path: Path, src: Path) -> str:
    rel = path.relative_to(src.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def collect(src: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]], list[str]]:
    """(lines, module), (lines, function) and the private cross-package import lines."""
    modules = []
    functions = []
    private = []
    for path in sorted(src.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = _module_name(path, src)
        modules.append((len(text.splitlines()), name))
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((node.end_lineno - node.lineno + 1, f"{name}.{node.name}"))
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                target = node.module
                if not target.startswith("segmint."):
                    continue
                if _package(target) == _package(name):
                    continue
                # segmint._logging and segmint._json are the shared ground floor, not a package
                hidden = [p for p in target.split(".")[2:] if p.startswith("_")]
                names = [a.name for a in node.names if a.name.startswith("_")]
                if hidden or names:
                    private.append(f"{name} -> {target} {', '.join(names)}".rstrip())
    modules.sort(reverse=True)
    functions.sort(reverse=True)
    return modules, functions, private


MAX_MODULE_LINES = 500


def write_baseline(src: Path, baseline: Path) -> None:
    """Record the private imports and the modules over the size limit in ``baseline``."""
    modules, _, private = collect(src)
    lines = [f"size {n} {m}" for n, m in modules if n > MAX_MODULE_LINES]
    lines += [f"import {p}" for p in sorted(set(private))]
    baseline.write_text("\n".join(lines) + "\n", encoding="utf-8")


def check(src: Path, baseline: Path) -> int:
    """0 if nothing got worse than ``baseline``; else print what did and return 1."""
    allowed_sizes: dict[str, int] = {}
    allowed_imports: set[str] = set()
    for line in baseline.read_text(encoding="utf-8").splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "size":
            n, _, module = rest.partition(" ")
            allowed_sizes[module] = int(n)
        elif kind == "import":
            allowed_imports.add(rest)
    modules, _, private = collect(src)
    problems = [
        f"{m}: {n} lines (limit {max(MAX_MODULE_LINES, allowed_sizes.get(m, 0))}): split it"
        for n, m in modules
        if n > max(MAX_MODULE_LINES, allowed_sizes.get(m, 0))
    ]
    problems += [
        f"new import of a private name across packages: {p} (import the package's public "
        "name, or move the code)"
        for p in sorted(set(private) - allowed_imports)
    ]
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(src: Path) -> None:
    modules, functions, private = collect(src)
    print(f"modules: {len(modules)}, lines: {sum(n for n, _ in modules):,}")
    print(f"modules over 500 lines: {sum(n > 500 for n, _ in modules)}")
    for n, m in modules[:8]:
        print(f"  {n:5d}  {m}")
    print(f"functions over 80 lines: {sum(n > 80 for n, _ in functions)}")
    for n, f in functions[:8]:
        print(f"  {n:5d}  {f}")
    print(f"imports of private modules or names across packages: {len(private)}")
    for line in private:
        print(f"  {line}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--check"]:
        sys.exit(check(Path(args[2]) if len(args) > 2 else Path("src/segmint"), Path(args[1])))
    if args[:1] == ["--write"]:
        write_baseline(Path(args[2]) if len(args) > 2 else Path("src/segmint"), Path(args[1]))
        sys.exit(0)
    main(Path(args[0]) if args else Path("src/segmint"))
