"""The project configuration, ``segmint.yaml``, as typed pydantic models.

Example::

    seed: 7
    snapshot_date: 1998-07-01        # features as of this day; default: day after the last order
    bases: [behavioural, value]
    mapping:
      transactions: {customer_id: cust, order_date: Datum, amount: Umsatz}
    segmentation:
      method: kmeans
      k: null                        # null: choose from k_min..k_max by evidence
      k_min: 2
      k_max: 8
      min_segment_share: 0.02
    names: {0: "Champions"}          # override generated names by segment id
    report:
      title: "Customer segments"
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from segmint.exceptions import ConfigError

Basis = Literal["behavioural", "value"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MappingConfig(_Strict):
    """Explicit column mapping per role: ``field -> column in the file``."""

    transactions: dict[str, str] = Field(default_factory=dict)
    customers: dict[str, str] = Field(default_factory=dict)


class SegmentationConfig(_Strict):
    """How segments are found."""

    method: Literal["kmeans"] = "kmeans"
    k: int | None = Field(default=None, ge=1, le=50)
    k_min: int = Field(default=2, ge=2, le=50)
    k_max: int = Field(default=8, ge=2, le=50)
    min_segment_share: float = Field(default=0.02, ge=0.0, le=0.5)
    n_init: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="after")
    def _range(self) -> SegmentationConfig:
        if self.k_max < self.k_min:
            raise ValueError(f"k_max ({self.k_max}) must be >= k_min ({self.k_min})")
        return self


class ReportConfig(_Strict):
    """What the HTML report shows."""

    title: str = "Customer segments"


class Config(_Strict):
    """Everything a run needs besides the data; saved in ``run.json``."""

    seed: int = 7
    snapshot_date: date | None = None
    bases: list[Basis] = Field(default_factory=lambda: ["behavioural", "value"], min_length=1)
    mapping: MappingConfig = Field(default_factory=MappingConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    names: dict[int, str] = Field(default_factory=dict)
    report: ReportConfig = Field(default_factory=ReportConfig)

    def fingerprint(self) -> str:
        """SHA-256 of the canonical JSON form: equal configs, equal hashes."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def load_config(path: str | Path | None) -> Config:
    """Read and validate ``segmint.yaml``; ``None`` gives the defaults.

    Raises
    ------
    ConfigError
        The file is missing, is not YAML, or a value is invalid (the message names the field).
    """
    if path is None:
        return Config()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found.", hint="Check the --config path.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: not valid YAML ({str(exc).splitlines()[0]}).",
            hint="Check indentation and quoting.",
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level.", hint="See the README.")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise ConfigError(
            f"{path}: invalid value for '{where}': {first['msg']}.",
            hint=f"{exc.error_count()} problem(s) in total; see the example in the README.",
        ) from exc
