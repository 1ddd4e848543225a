"""Writing a run's outputs atomically: a run folder is complete, or readers refuse it.

Files are written into a staging folder inside the output folder and moved into place with
``os.replace`` only after every stage succeeded; on any error the staging folder is removed, so
the output folder never holds a half-written file. The move itself is one file at a time, so a
run commit removes the earlier run's ``manifest.json`` first and writes its own last (see
:mod:`segmint.activate._manifest`): a folder caught mid-move has no manifest, and every reader
refuses it.

While an :class:`OutputFolder` is open it holds ``<out>/.segmint.lock`` (``fcntl.flock``, so the
kernel releases it when the process dies; the file names the holder's pid): a second run into
the same folder is refused, a lock left by a killed run is taken over with a warning. Staging
folders left by killed runs are removed once the lock is held.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import pandas as pd

from segmint import _json
from segmint._logging import logger
from segmint._spreadsheet import spreadsheet_safe
from segmint.activate._manifest import MANIFEST_NAME, file_entry, read_manifest, write_manifest
from segmint.activate._run_lock import RunLock
from segmint.exceptions import InputError

STAGING_PREFIX = ".staging-"


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
        self._lock: RunLock | None = None

    def __enter__(self) -> OutputFolder:
        try:
            self._created = not self.out.exists()
            self.out.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock(self.out).acquire()
        except OSError as exc:
            raise InputError(
                f"{self.out}: cannot create the output folder ({exc.strerror}).",
                hint="Choose a folder you can write to with --out.",
            ) from exc
        try:
            self._remove_leftovers()
            self.staging = self.out / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
            self.staging.mkdir()
        except OSError as exc:
            self._release()
            raise InputError(
                f"{self.out}: cannot create the output folder ({exc.strerror}).",
                hint="Choose a folder you can write to with --out.",
            ) from exc
        return self

    def _remove_leftovers(self) -> None:
        """Staging folders and temp files of runs that were killed (the lock is held)."""
        left = [
            p
            for p in self.out.iterdir()
            if p.name.startswith(STAGING_PREFIX)
            or (p.name.startswith(f".{MANIFEST_NAME}.") and p.name.endswith(".partial"))
        ]
        for path in left:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if left:
            logger.warning(
                "%s: removed %d leftover(s) of an interrupted run: %s",
                self.out,
                len(left),
                ", ".join(p.name for p in left),
            )

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

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

    def commit(self, *, run_id: str | None = None, created_at: str | None = None) -> list[Path]:
        """Move every staged file into the output folder; returns the final paths.

        With ``run_id`` this is a run: the earlier run's manifest goes first (and the files it
        listed that this run does not write), ``manifest.json`` listing this run's files last.
        Without, files added to a complete run folder (``typing-tool``) are added to its
        manifest; a folder without a manifest just gets the files.
        """
        assert self.staging is not None
        staged = [n for n in self.written if (self.staging / n).exists()]
        # hashed in staging, before the move: nothing else writes there
        entries = {n: {**file_entry(self.staging / n), "name": n} for n in staged}
        previous = read_manifest(self.out)
        amend = run_id is None and previous is not None
        if run_id is not None and previous is not None:
            for entry in previous["files"]:  # an earlier run's file this run does not replace
                name = Path(entry["name"]).name
                if name not in entries and name != MANIFEST_NAME:
                    (self.out / name).unlink(missing_ok=True)
        if run_id is not None or amend:
            (self.out / MANIFEST_NAME).unlink(missing_ok=True)
        final = []
        for name in staged:
            target = self.out / name
            os.replace(self.staging / name, target)
            final.append(target)
        if run_id is not None:
            write_manifest(self.out, entries, run_id=run_id, created_at=created_at, entries=entries)
            final.append(self.out / MANIFEST_NAME)
        elif amend:
            assert previous is not None
            kept = {f["name"]: f for f in previous["files"]}
            kept.update(entries)
            write_manifest(
                self.out,
                kept,
                run_id=previous.get("run_id"),
                created_at=previous.get("created_at"),
                entries=kept,
            )
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging = None
        return final

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        failed = self.staging is not None
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self._release()
        # a folder this run created and could not fill is removed again
        if failed and self._created and self.out.is_dir() and not any(self.out.iterdir()):
            with contextlib.suppress(OSError):
                self.out.rmdir()
