"""The model artefact, ``model.json``: everything needed to assign new customers, and no pickle.

A model document holds the feature definitions (``FeatureSpec``), the learned transforms
(``FeaturePreparer``), the fitted segmenter (its ``to_dict``), the typing tool when one was
fitted, the segment ids and names, a reference summary of the training features for
monitoring, and the data fingerprint. It is versioned (``format``, ``format_version``) and
sealed with an integrity hash: the SHA-256 of the canonical
JSON (sorted keys, no whitespace, UTF-8) of the whole document without its ``integrity`` field.

:func:`load_model` validates the schema (pydantic), the format version and the hash, and the
structure (as many centres as declared segments, unique segment ids and names, a known method,
the features the segmenter expects), and refuses a tampered or incompatible file with a
:class:`~segmint.exceptions.ModelError`.

Threat model. The SHA-256 has no secret: it detects accidental damage and hand edits, not a
deliberate forgery (anyone can recompute it). Where model files cross a trust boundary (shared
folders, an artefact store, the scoring service), set ``SEGMINT_MODEL_KEY`` (a secret of at
least 16 characters) both where models are written and where they are read: ``save_model``
then adds an HMAC-SHA-256 of the same canonical JSON (``integrity.hmac_sha256``), and
``load_model`` refuses any model whose HMAC is missing or does not match. Without the key a
signed model still loads (its SHA-256 is checked) and a warning says the signature was not
verified. Models never hold code: they are JSON, rebuilt by the segmenters' ``from_dict``.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from segmint import __version__
from segmint._logging import logger
from segmint.activate._manifest import complete_run_dir, resolve_model_path
from segmint.activate._outputs import dumps
from segmint.exceptions import ModelError
from segmint.features._behavioural import FeatureSpec
from segmint.features._prepare import TRANSFORMS, FeaturePreparer

MODEL_FORMAT = "segmint-model"
MODEL_FORMAT_VERSION = 2
#: Versions this segmint reads. Version 1 (written before the integrity hash) is refused.
SUPPORTED_VERSIONS = (2,)
MODEL_NAME = "model.json"
#: Environment variable holding the secret that signs and verifies models (HMAC-SHA-256).
MODEL_KEY_ENV = "SEGMINT_MODEL_KEY"
_MIN_KEY_LENGTH = 16

#: ``segmenter["method"]`` -> (module, class, what ``predict`` takes: prepared array or raw
#: feature table). Classes are imported lazily, only the one a model needs.
SEGMENTERS: dict[str, tuple[str, str, str]] = {
    "kmeans": ("segmint.segmenters._kmeans", "KMeansSegmenter", "prepared"),
    "gmm": ("segmint.segmenters._gmm", "GaussianMixtureSegmenter", "prepared"),
    "ensemble": ("segmint.segmenters._ensemble", "ConsensusSegmenter", "prepared"),
    "lca": ("segmint.segmenters._lca", "LatentClassSegmenter", "features"),
    "mixed": ("segmint.segmenters._mixed", "MixedTypeSegmenter", "features"),
    "rfm": ("segmint.segmenters._rfm", "RFMSegmenter", "features"),
    "rules": ("segmint.segmenters._rules", "RuleSegmenter", "features"),
}
_METHOD_OF_CLASS = {cls: method for method, (_, cls, _) in SEGMENTERS.items()}
_HINT = "Re-run `segmint run` to write a fresh model.json; do not edit the file by hand."


# --------------------------------------------------------------------------- schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    # sections written by other modules (feature catalogue, preparer) may gain fields
    model_config = ConfigDict(extra="allow")


class FeatureEntry(_Open):
    name: str = Field(min_length=1)
    basis: str
    description: str
    transform: str


class FeatureSection(_Open):
    snapshot_date: str
    features: list[FeatureEntry] = Field(min_length=1)
    levels: dict[str, list[str]]
    has_order_id: bool


class PreparationSection(_Open):
    columns: list[str] = Field(min_length=1)
    transforms: list[str]
    clip_quantiles: list[float] = Field(min_length=2, max_length=2)
    lower: list[float]
    upper: list[float]
    mean: list[float]
    scale: list[float]

    @model_validator(mode="after")
    def _same_lengths(self) -> PreparationSection:
        n = len(self.columns)
        for name in ("transforms", "lower", "upper", "mean", "scale"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"preparation.{name} has {len(getattr(self, name))} values, "
                    f"expected {n} (one per column)"
                )
        bad = [t for t in self.transforms if t not in TRANSFORMS]
        if bad:
            raise ValueError(f"unknown transform {bad[0]!r}")
        return self


class SegmentEntry(_Strict):
    id: int = Field(ge=0)
    name: str
    customers: int = Field(ge=0)
    share: float = Field(ge=0, le=1)


class ReferenceSection(_Strict):
    """Summary of the training features, the baseline for drift monitoring."""

    quantile_levels: list[float]
    feature_quantiles: dict[str, list[float]]
    transform_centres: dict[str, dict[str, float]]
    transform_scale: dict[str, float]
    segment_shares: dict[str, float]
    n_customers: int


class Integrity(_Strict):
    algorithm: Literal["sha256"]
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    hmac_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ModelDocument(_Strict):
    """Schema of ``model.json`` (format version 2)."""

    format: Literal["segmint-model"]
    format_version: int
    segmint_version: str
    created_at: str
    run_id: str | None = None
    data_fingerprint: str
    config_hash: str
    features: FeatureSection
    preparation: PreparationSection
    segmenter: dict[str, Any]
    segments: list[SegmentEntry] = Field(min_length=1)
    typing_tool: dict[str, Any] | None = None
    reference: ReferenceSection | None = None
    id_rule: str
    integrity: Integrity

    @model_validator(mode="after")
    def _consistent(self) -> ModelDocument:
        if self.segmenter.get("method") not in SEGMENTERS:
            raise ValueError(
                f"segmenter.method {self.segmenter.get('method')!r} is not one of "
                f"{sorted(SEGMENTERS)}"
            )
        # categories and bands reach the segmenter as text: only numeric features are prepared
        names = [
            f.name
            for f in self.features.features
            if getattr(f, "kind", "numeric") in (None, "numeric")
        ]
        if self.preparation.columns != names:
            raise ValueError("preparation.columns differ from the numeric feature names")
        ids = [s.id for s in self.segments]
        if len(set(ids)) != len(ids):
            raise ValueError("segment ids are not unique")
        names = [s.name for s in self.segments]
        if len(set(names)) != len(names):
            raise ValueError("segment names are not unique")
        return self


# --------------------------------------------------------------------------- hashing
def canonical_json(content: dict[str, Any]) -> str:
    """The canonical JSON text the integrity hash is computed over."""
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def content_hash(content: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``content`` without its ``integrity`` field."""
    body = {k: v for k, v in content.items() if k != "integrity"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- building
def segmenter_method(segmenter: Any) -> str:
    """The registry name of a fitted segmenter (``"kmeans"``, ``"gmm"``, ...).

    A class without a registry entry gets its lower-cased class name: the model is still
    written (the run succeeds), and :func:`load_model` refuses it with a clear message.
    """
    name = type(segmenter).__name__
    if name not in _METHOD_OF_CLASS:
        logger.warning("model.json: no scoring registry entry for %s; it cannot be scored", name)
        return name.lower()
    return _METHOD_OF_CLASS[name]


def build_model_document(
    *,
    spec: FeatureSpec,
    preparer: FeaturePreparer,
    segmenter: Any,
    segments: pd.DataFrame,
    names: dict[int, str],
    data_fingerprint: str,
    config_hash: str,
    created_at: str,
    id_rule: str,
    run_id: str | None = None,
    typing_tool: Any | None = None,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The content of ``model.json`` (without the integrity field, added by :func:`save_model`).

    Parameters
    ----------
    spec, preparer, segmenter :
        The feature definitions, the fitted preparer and the fitted segmenter.
    segments : pandas.DataFrame
        Per segment: ``segment_id, customers, share`` (e.g. ``SegmentProfiles.summary``).
    names : dict
        Segment id -> name.
    typing_tool : TypingTool, optional
        Fitted typing tool (golden questions) to store with the model.
    reference : dict, optional
        Training feature summary (:func:`segmint.monitor.feature_summary`).
    """
    state = segmenter.to_dict()
    segmenter_doc = {**state, "method": segmenter_method(segmenter)}
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "segmint_version": __version__,
        "created_at": created_at,
        "run_id": run_id,
        "data_fingerprint": data_fingerprint,
        "config_hash": config_hash,
        "features": spec.to_dict(),
        "preparation": preparer.to_dict(),
        "segmenter": segmenter_doc,
        "segments": [
            {
                "id": int(r.segment_id),
                "name": names[int(r.segment_id)],
                "customers": int(r.customers),
                "share": float(r.share),
            }
            for r in segments.itertuples()
        ],
        "typing_tool": None if typing_tool is None else typing_tool.to_dict(),
        "reference": reference,
        "id_rule": id_rule,
    }


def recount_segments(content: dict[str, Any], segment_ids: np.ndarray) -> dict[str, Any]:
    """``content`` with each segment's ``customers`` and ``share`` counted over ``segment_ids``.

    For a model fitted on a sample and then applied to every customer: the segment entries
    then describe the population the run assigned, not the sample. Everything else (the fitted
    parameters, the ``reference`` summary of the training features) is unchanged.

    Parameters
    ----------
    content : dict
        A model document (sealed or not).
    segment_ids : numpy.ndarray
        The segment id of every customer.

    Returns
    -------
    dict
        The document, sealed again (its integrity hash covers the new counts).
    """
    ids, counts = np.unique(np.asarray(segment_ids, dtype=np.int64), return_counts=True)
    by_id = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    total = int(counts.sum())
    entries = [
        {
            **entry,
            "customers": by_id.get(int(entry["id"]), 0),
            "share": by_id.get(int(entry["id"]), 0) / total if total else 0.0,
        }
        for entry in content["segments"]
    ]
    return seal({**content, "segments": entries})


def model_key() -> bytes | None:
    """The signing secret of ``SEGMINT_MODEL_KEY`` (``None`` when unset or empty).

    Raises
    ------
    ModelError
        If the key is set but shorter than 16 characters.
    """
    key = os.environ.get(MODEL_KEY_ENV, "")
    if not key:
        return None
    if len(key) < _MIN_KEY_LENGTH:
        raise ModelError(
            f"{MODEL_KEY_ENV} is too short ({len(key)} characters) to sign models.",
            hint=f"Use a random secret of at least {_MIN_KEY_LENGTH} characters.",
        )
    return key.encode("utf-8")


def content_hmac(content: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA-256 (hex) of the canonical JSON of ``content`` without ``integrity``."""
    body = {k: v for k, v in content.items() if k != "integrity"}
    return hmac.new(key, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


def seal(content: dict[str, Any]) -> dict[str, Any]:
    """``content`` normalised to plain JSON and with its integrity field.

    With ``SEGMINT_MODEL_KEY`` set the integrity field also carries the HMAC-SHA-256 signature.
    """
    plain = json.loads(dumps({k: v for k, v in content.items() if k != "integrity"}))
    plain["integrity"] = {"algorithm": "sha256", "content_sha256": content_hash(plain)}
    key = model_key()
    if key is not None:
        plain["integrity"]["hmac_sha256"] = content_hmac(plain, key)
    return plain


def model_text(content: dict[str, Any]) -> str:
    """The text of ``model.json`` for ``content`` (sealed)."""
    return dumps(seal(content)) + "\n"


def save_model(content: dict[str, Any], path: str | Path) -> Path:
    """Seal ``content`` and write it to ``path`` atomically (temp file + rename).

    ``path`` may be a folder (``model.json`` is written into it) or a file path.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_NAME
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        tmp.write_text(model_text(content), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("model written to %s", path)
    return path


# --------------------------------------------------------------------------- loading
@dataclass
class SegmentModel:
    """A loaded, validated model: ready to score new customers.

    Attributes
    ----------
    document : dict
        The validated ``model.json`` content.
    spec : FeatureSpec
    preparer : FeaturePreparer
    segmenter : object
        The fitted segmenter, rebuilt with its class's ``from_dict``.
    method : str
        Registry name of the segmenter.
    input_kind : str
        ``"prepared"`` (scaled array) or ``"features"`` (raw feature table) for ``predict``.
    names : dict
        Segment id -> name.
    typing_tool : TypingTool or None
    path : Path
        The ``model.json`` that was loaded.
    run_dir : Path or None
        The run folder when ``model.json`` sits in one (with ``segments.parquet`` etc.).
    """

    document: dict[str, Any]
    spec: FeatureSpec
    preparer: FeaturePreparer
    segmenter: Any
    method: str
    input_kind: str
    names: dict[int, str]
    typing_tool: Any | None
    path: Path
    run_dir: Path | None

    @property
    def fingerprint(self) -> str:
        """The integrity hash: identifies the model."""
        return self.document["integrity"]["content_sha256"]

    @property
    def segment_ids(self) -> list[int]:
        return sorted(self.names)

    @property
    def has_probabilities(self) -> bool:
        return hasattr(self.segmenter, "predict_proba")


def load_model(path: str | Path) -> SegmentModel:
    """Read, validate and rebuild a model from ``model.json`` (or a run folder holding one).

    Raises
    ------
    ModelError
        The file is not JSON, does not match the schema, has an unsupported format version,
        or its integrity hash does not match its content (the file was modified).
    """
    path = resolve_model_path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not valid JSON ({exc}).", hint=_HINT) from None
    if not isinstance(raw, dict) or raw.get("format") != MODEL_FORMAT:
        raise ModelError(
            f"{path}: not a segmint model (format {_get(raw, 'format')!r}).",
            hint="Pass the model.json written by `segmint run`.",
        )
    version = raw.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise ModelError(
            f"{path}: model format version {version!r} is not supported; this segmint "
            f"({__version__}) reads version(s) {', '.join(map(str, SUPPORTED_VERSIONS))}.",
            hint="Re-run `segmint run` with this segmint version to write a compatible model.",
        )
    integrity = raw.get("integrity")
    if not isinstance(integrity, dict) or "content_sha256" not in integrity:
        raise ModelError(f"{path}: the model has no integrity hash.", hint=_HINT)
    try:
        actual = content_hash(raw)
    except ValueError:  # NaN or Infinity literals: never written by save_model
        raise ModelError(f"{path}: the model holds non-finite numbers.", hint=_HINT) from None
    if actual != integrity["content_sha256"]:
        raise ModelError(
            f"{path}: integrity check failed: the content hash is {actual[:12]}…, the file says "
            f"{str(integrity['content_sha256'])[:12]}…; the model was modified after it was "
            "written.",
            hint=_HINT,
        )
    _verify_signature(raw, integrity, path)
    try:
        ModelDocument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ModelError(
            f"{path}: invalid model: '{where}': {first['msg']}.",
            hint=_HINT,
        ) from None
    return _rebuild(raw, path)


def _verify_signature(raw: dict[str, Any], integrity: dict[str, Any], path: Path) -> None:
    """Check the HMAC when ``SEGMINT_MODEL_KEY`` is set (see the module's threat model)."""
    key = model_key()
    signature = integrity.get("hmac_sha256")
    if key is None:
        if signature:
            logger.warning(
                "%s is signed, but %s is not set here: the signature was not verified",
                path,
                MODEL_KEY_ENV,
            )
        return
    if not signature:
        raise ModelError(
            f"{path}: the model is not signed, and {MODEL_KEY_ENV} requires signed models.",
            hint=f"Re-run `segmint run` with {MODEL_KEY_ENV} set to sign the model.",
        )
    if not hmac.compare_digest(str(signature), content_hmac(raw, key)):
        raise ModelError(
            f"{path}: signature check failed: the model was not signed with this "
            f"{MODEL_KEY_ENV}, or was modified after it was signed.",
            hint=_HINT,
        )


def _rebuild(doc: dict[str, Any], path: Path) -> SegmentModel:
    method = doc["segmenter"]["method"]
    module, cls_name, input_kind = SEGMENTERS[method]
    cls = getattr(importlib.import_module(module), cls_name)
    state = {k: v for k, v in doc["segmenter"].items() if k != "method"}
    try:
        spec = FeatureSpec.from_dict(doc["features"])
        preparer = FeaturePreparer.from_dict(doc["preparation"])
        segmenter = cls.from_dict(state)
        typing_tool = None
        if doc.get("typing_tool") is not None:
            from segmint.profile._typing_tool import TypingTool

            typing_tool = TypingTool.from_dict(doc["typing_tool"])
    except ModelError as exc:
        raise ModelError(f"{path}: {exc.message}", hint=exc.hint or _HINT) from None
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path}: the model cannot be rebuilt ({exc!r}).", hint=_HINT) from None
    n_features = len(spec.names)
    if input_kind == "prepared" and int(getattr(segmenter, "n_features_in_", n_features)) != (
        n_features
    ):
        raise ModelError(
            f"{path}: the segmenter expects {segmenter.n_features_in_} features, the feature "
            f"spec defines {n_features}.",
            hint=_HINT,
        )
    centres = getattr(segmenter, "cluster_centers_", None)
    if centres is not None and not np.all(np.isfinite(centres)):
        raise ModelError(f"{path}: the segment centres hold non-finite values.", hint=_HINT)
    n_declared = len(doc["segments"])
    if centres is not None and len(np.asarray(centres)) != n_declared:
        raise ModelError(
            f"{path}: the segmenter has {len(np.asarray(centres))} segment centre(s), the model "
            f"declares {n_declared} segments.",
            hint=_HINT,
        )
    names = {int(s["id"]): str(s["name"]) for s in doc["segments"]}
    return SegmentModel(
        document=doc,
        spec=spec,
        preparer=preparer,
        segmenter=segmenter,
        method=method,
        input_kind=input_kind,
        names=names,
        typing_tool=typing_tool,
        path=path,
        run_dir=complete_run_dir(path),
    )


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None
