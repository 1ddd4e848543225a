"""Activation: writing outputs and exports atomically."""

from segmint.activate._outputs import OutputFolder, dumps

__all__ = ["OutputFolder", "dumps"]
