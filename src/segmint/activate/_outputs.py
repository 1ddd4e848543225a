"""Writing a run's outputs atomically: all files appear together, or none do.

Files are written into a staging folder inside the output folder and moved into place with
``os.replace`` only after every stage succeeded; on any error the staging folder is removed, so
the output folder never holds a half-written file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from segmint import _json
from segmint._spreadsheet import spreadsheet_safe
from segmint.exceptions import InputError


def dumps(data: Any) -> str:
    """JSON text with numpy/pandas values converted and NaN/inf written as null."""
    return _json.dumps(data, indent=2)


class OutputFolder:
    """Stage outputs in ``<out>/.staging-<id>/`` and move them into ``out`` on success.

    Use as a context manager; call :meth:`path` for a staging path to write to.
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.staging: Path | None = None
        self.written: list[str] = []
        self._created = False

    def __enter__(self) -> OutputFolder:
        try:
            self._created = not self.out.exists()
            self.out.mkdir(parents=True, exist_ok=True)
            self.staging = self.out / f".staging-{uuid.uuid4().hex[:12]}"
            self.staging.mkdir()
        except OSError as exc:
            raise InputError(
                f"{self.out}: cannot create the output folder ({exc.strerror}).",
                hint="Choose a folder you can write to with --out.",
            ) from exc
        return self

    def path(self, name: str) -> Path:
        """A path in the staging folder; the file becomes ``out/name`` on commit."""
        assert self.staging is not None
        if name not in self.written:
            self.written.append(name)
        return self.staging / name

    def write_text(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.write_text(text, encoding="utf-8")
        return path

    def write_json(self, name: str, data: Any) -> Path:
        return self.write_text(name, dumps(data) + "\n")

    def write_table(self, stem: str, frame: pd.DataFrame, formats: tuple[str, ...]) -> None:
        for fmt in formats:
            if fmt == "parquet":
                frame.to_parquet(self.path(f"{stem}.parquet"), index=False)
            elif fmt == "csv":
                # spreadsheet-safe: ids or names such as "=HYPERLINK(...)" stay text in Excel
                spreadsheet_safe(frame).to_csv(self.path(f"{stem}.csv"), index=False)
            else:  # pragma: no cover - programming error
                raise ValueError(fmt)

    def commit(self) -> list[Path]:
        """Move every staged file into the output folder; returns the final paths."""
        assert self.staging is not None
        final = []
        for name in self.written:
            source = self.staging / name
            if source.exists():
                target = self.out / name
                os.replace(source, target)
                final.append(target)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None
        return final

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
            # a folder this run created and could not fill is removed again
            if self._created and self.out.is_dir() and not any(self.out.iterdir()):
                self.out.rmdir()
