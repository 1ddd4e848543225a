"""``manifest.json``: the mark of a complete run folder, written last.

A run's files are moved into its folder one at a time, so a run killed during the move (or one
still being written) leaves a folder that can look complete. The manifest closes that gap: it is
written atomically (temp file + ``os.replace``) after every file is in place, and removed before
a new run replaces an earlier one, so a folder without a valid manifest is an incomplete run.

It lists every file of the run with its size and SHA-256, and the run id and creation time.
Readers (:func:`check_run_folder`) check the size of every listed file, and the SHA-256 of the
small files everything else hangs on (``model.json``, ``run.json``). The run store
``segmint.duckdb`` is listed too (size and SHA-256): each run writes a new copy of it (the earlier
runs plus this one) that is moved in with the run's other files, so a store from another run next
to this run's ``run.json`` is the same kind of mix as any other file; it is checked by size only.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segmint import _json
from segmint._logging import logger
from segmint.exceptions import ModelError

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "segmint-run-manifest"
MANIFEST_VERSION = 1
# files whose SHA-256 every reader checks (small; the rest are checked by size)
HASHED_ON_READ = ("model.json", "run.json")


def _incomplete(folder: Path, why: str) -> ModelError:
    return ModelError(f"{folder}: incomplete run ({why}); re-run segmint run")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_files(folder: Path) -> list[str]:
    """The files of a run folder a manifest lists: regular files, not hidden, not itself."""
    return sorted(
        p.name
        for p in Path(folder).iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST_NAME
    )


def file_entry(path: Path) -> dict[str, Any]:
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def write_manifest(
    folder: str | Path,
    names: Iterable[str] | None = None,
    *,
    run_id: str | None = None,
    created_at: str | None = None,
    entries: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write ``folder/manifest.json`` atomically, listing ``names`` (default: every run file).

    Without ``run_id``, the run id and ``created_at`` are those in ``folder/run.json``.
    ``entries`` are entries already computed (name -> entry), reused instead of hashing again.
    """
    folder = Path(folder)
    if run_id is None:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        run_id, created_at = run["run_id"], created_at or run.get("created_at")
    entries = entries or {}
    listed = sorted(set(run_files(folder) if names is None else names))
    document = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "run_id": run_id,
        "created_at": created_at,
        "completed_at": datetime.now(UTC).isoformat(),
        "files": [entries.get(n) or file_entry(folder / n) for n in listed],
    }
    target = folder / MANIFEST_NAME
    tmp = folder / f".{MANIFEST_NAME}.{uuid.uuid4().hex[:8]}.partial"
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(_json.dumps(document, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` as written, or None when there is none or it is unreadable."""
    try:
        raw = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(raw, dict)
        and raw.get("format") == MANIFEST_FORMAT
        and isinstance(raw.get("files"), list)
        and all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in raw["files"])
    )
    return raw if ok else None


def check_run_folder(folder: str | Path) -> dict[str, Any]:
    """The manifest of a complete run folder; else a one-line :class:`ModelError`.

    Every listed file must be present with the listed size; ``model.json`` and ``run.json``
    must also have the listed SHA-256, and ``run.json`` the manifest's run id.
    """
    folder = Path(folder)
    if not (folder / MANIFEST_NAME).exists():
        raise _incomplete(
            folder, "no manifest.json: the run was interrupted or is still being written"
        )
    manifest = read_manifest(folder)
    if manifest is None:
        raise _incomplete(folder, "manifest.json is not a valid manifest")
    for entry in manifest["files"]:
        path = folder / Path(entry["name"]).name
        try:
            size = path.stat().st_size
        except OSError:
            missing = f"{entry['name']} listed in manifest.json is missing"
            raise _incomplete(folder, missing) from None
        if size != entry.get("bytes"):
            raise _incomplete(
                folder,
                f"{entry['name']} has {size} bytes, manifest.json lists {entry.get('bytes')}",
            )
        if entry["name"] in HASHED_ON_READ and file_sha256(path) != entry.get("sha256"):
            raise _incomplete(folder, f"{entry['name']} differs from the one manifest.json lists")
    names = {entry["name"] for entry in manifest["files"]}
    if "run.json" in names:
        run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if run.get("run_id") != manifest.get("run_id"):
            raise _incomplete(folder, "run.json is from another run than manifest.json")
    return manifest


def resolve_model_path(path: str | Path) -> Path:
    """``path`` itself, or ``path/model.json`` for a run folder (refused if incomplete)."""
    path = Path(path)
    if path.is_dir():
        check_run_folder(path)
        path = path / "model.json"
    if not path.is_file():
        raise ModelError(
            f"{path}: model file not found.",
            hint="Pass a run folder written by `segmint run` or its model.json.",
        )
    return path


def complete_run_dir(model_path: Path) -> Path | None:
    """The folder of an explicit ``model.json`` when it is a complete run holding it, else None.

    A bare model.json carries its own integrity hash and is scored on its own; the run files
    next to it (profiles, segments) are used only when the folder's manifest vouches for them.
    """
    folder = model_path.parent
    if not (folder / "run.json").exists():
        return None
    try:
        manifest = check_run_folder(folder)
    except (ModelError, OSError, ValueError) as exc:
        logger.warning("%s; its run files are not used, %s is read on its own", exc, model_path)
        return None
    return folder if model_path.name in {f["name"] for f in manifest["files"]} else None
