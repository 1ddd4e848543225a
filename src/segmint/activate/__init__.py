"""Activation: atomic outputs, the model artefact, scoring, audience exports and the service.

The service (:func:`create_app`) needs FastAPI and is imported only when asked for.
"""

from typing import Any

from segmint.activate._exports import ExportResult, build_audiences, export_audiences
from segmint.activate._model import (
    SegmentModel,
    build_model_document,
    load_model,
    save_model,
)
from segmint.activate._outputs import OutputFolder, dumps
from segmint.activate._scoring import score, score_features

__all__ = [
    "ExportResult",
    "OutputFolder",
    "SegmentModel",
    "build_audiences",
    "build_model_document",
    "create_app",
    "dumps",
    "export_audiences",
    "load_model",
    "save_model",
    "score",
    "score_features",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from segmint.activate._service import create_app

        return create_app
    raise AttributeError(name)
