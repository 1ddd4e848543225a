"""Demo data: a synthetic retailer generated from planted segments."""

from segmint.datasets._retail import (
    CATEGORIES,
    CHANNELS,
    DEFAULT_SEGMENTS,
    NEED_ITEMS,
    PlantedSegment,
    RetailData,
    make_retail,
)

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "DEFAULT_SEGMENTS",
    "NEED_ITEMS",
    "PlantedSegment",
    "RetailData",
    "make_retail",
]
