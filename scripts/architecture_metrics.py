"""Figures that show whether the code's design is visible: module sizes, function lengths and
imports of private names across package boundaries.

Usage: ``python scripts/architecture_metrics.py [SRC]`` (default ``src/segmint``). Prints the
largest modules, the longest functions, the count of modules over 500 lines and functions over
80 lines, and each import of a private module or name from another package of segmint.
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


def main(src: Path) -> None:
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
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("src/segmint"))
