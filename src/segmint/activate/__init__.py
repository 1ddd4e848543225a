"""Activation: atomic outputs, the model artefact, scoring, audience exports and the service.

The service (:func:`create_app`) needs FastAPI and is imported only when asked for.
"""

from typing import Any

from segmint.activate._exports import ExportResult, build_audiences, export_audiences
from segmint.activate._manifest import MANIFEST_NAME, check_run_folder, write_manifest
from segmint.activate._model import (
    MODEL_NAME,
    SegmentModel,
    build_model_document,
    load_model,
    recount_segments,
    save_model,
    seal,
)
from segmint.activate._outputs import OutputFolder, dumps
from segmint.activate._scoring import score, score_features

__all__ = [
    "MANIFEST_NAME",
    "MODEL_NAME",
    "ExportResult",
    "OutputFolder",
    "SegmentModel",
    "build_audiences",
    "build_model_document",
    "check_run_folder",
    "create_app",
    "dumps",
    "export_audiences",
    "load_model",
    "recount_segments",
    "save_model",
    "score",
    "score_features",
    "seal",
    "write_manifest",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from segmint.activate._service import create_app

        return create_app
    raise AttributeError(name)
