"""segmint: customer segmentation from raw customer data to segments people can act on."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segmint")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

from segmint._api import run

__all__ = ["__version__", "run"]
