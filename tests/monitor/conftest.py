"""Demo data in two periods: a baseline, a period with a planted shift, and one without.

The generator is not changed: the shifted period uses ``dataclasses.replace`` on the default
planted segments (occasional store shoppers lose 15 points of share to bargain hunters, and the
app loyalists order half as often); "no shift" is the same segments with another seed.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from segmint.config import Config
from segmint.datasets import DEFAULT_SEGMENTS, make_retail
from segmint.pipeline import run_segmentation

N = 3000
# one k, few starts, no resampling: the runs are fixtures, not the subject of these tests
CONFIG = Config(
    seed=7,
    segmentation={"method": "kmeans", "k": 5, "n_init": 3, "stability_resamples": 0},
)


def shifted_segments() -> tuple:
    segments = {s.name: s for s in DEFAULT_SEGMENTS}
    store = segments["occasional_store_shoppers"]
    bargain = segments["bargain_hunters"]
    app = segments["engaged_app_loyalists"]
    segments["occasional_store_shoppers"] = dataclasses.replace(store, share=store.share - 0.15)
    segments["bargain_hunters"] = dataclasses.replace(bargain, share=bargain.share + 0.15)
    segments["engaged_app_loyalists"] = dataclasses.replace(
        app, orders_per_year=app.orders_per_year / 2
    )
    return tuple(segments[s.name] for s in DEFAULT_SEGMENTS)


@pytest.fixture(scope="session")
def periods(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Data and run folders: ``baseline``, ``shift`` (planted shift), ``same`` (no shift)."""
    root = tmp_path_factory.mktemp("periods")
    data = {
        "baseline": make_retail(N, seed=7),
        "shift": make_retail(N, seed=7, segments=shifted_segments()),
        "same": make_retail(N, seed=8),
    }
    out = {}
    for name, retail in data.items():
        paths = retail.write(root / name / "data")
        folder = root / name / "run"
        if name == "shift":  # the shifted period is recorded into a copy of the baseline's
            shutil.copytree(out["baseline"]["run"], folder)  # folder: its store holds both
        run_segmentation(paths["transactions"], folder, customers=paths["customers"], config=CONFIG)
        out[name] = {**paths, "run": folder}
    return out


@pytest.fixture(scope="session")
def history_store(periods) -> Path:
    """The folder that received the baseline run, then the shifted one."""
    return periods["shift"]["run"]
