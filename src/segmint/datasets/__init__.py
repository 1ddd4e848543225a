"""Demo data: a synthetic retailer and a synthetic B2B supplier generated from planted segments."""

from segmint.datasets._b2b import (
    DEFAULT_B2B_SEGMENTS,
    INDUSTRIES,
    ROLES,
    B2BData,
    PlantedAccountSegment,
    make_b2b,
)
from segmint.datasets._retail import (
    AREA_TYPES,
    CATEGORIES,
    CHANNELS,
    DEFAULT_SEGMENTS,
    EDUCATION,
    INCOME_BANDS,
    LIFESTYLE_ITEMS,
    NEED_ITEMS,
    PlantedSegment,
    RetailData,
    make_retail,
)
from segmint.datasets._scale import make_transactions_at_scale

__all__ = [
    "AREA_TYPES",
    "CATEGORIES",
    "CHANNELS",
    "DEFAULT_B2B_SEGMENTS",
    "DEFAULT_SEGMENTS",
    "EDUCATION",
    "INCOME_BANDS",
    "INDUSTRIES",
    "LIFESTYLE_ITEMS",
    "NEED_ITEMS",
    "ROLES",
    "B2BData",
    "PlantedAccountSegment",
    "PlantedSegment",
    "RetailData",
    "make_b2b",
    "make_retail",
    "make_transactions_at_scale",
]
