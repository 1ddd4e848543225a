"""The library logs through ``logging.getLogger("segmint")`` and never configures handlers."""

from __future__ import annotations

import logging

logger = logging.getLogger("segmint")
