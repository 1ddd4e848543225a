"""Impact by segment: campaign uplift with intervals; brand metrics across survey waves."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from segmint.activate import load_model
from segmint.activate._scoring import compute_features
from segmint.monitor._impact import brand_by_segment, campaign_uplift, holm, two_proportion_z


def test_uplift_of_a_hand_computed_case():
    campaign = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(8)],
            "group": ["treated"] * 4 + ["control"] * 4,
            "outcome": [1, 1, 1, 0, 1, 0, 0, 0],
        }
    )
    segments = pd.DataFrame({"customer_id": campaign["customer_id"], "segment_id": 0})
    row = campaign_uplift(campaign, segments).set_index("segment_id").loc[0]
    se = np.sqrt(0.75 * 0.25 / 4 + 0.25 * 0.75 / 4)
    assert row["uplift"] == pytest.approx(0.5)
    assert row["ci_low"] == pytest.approx(0.5 - 1.959964 * se, abs=1e-5)
    assert row["outcome_kind"] == "proportion"


def _campaign(segments: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Segment 0 converts 30 % when treated vs 10 %; every other segment 10 % either way."""
    rng = np.random.default_rng(seed)
    treated = rng.uniform(size=len(segments)) < 0.5
    rate = np.where(treated & (segments["segment_id"].to_numpy() == 0), 0.30, 0.10)
    return pd.DataFrame(
        {
            "customer_id": segments["customer_id"],
            "group": np.where(treated, "treated", "control"),
            "outcome": (rng.uniform(size=len(segments)) < rate).astype(int),
        }
    )


@pytest.mark.parametrize("method", ["normal", "bootstrap"])
def test_uplift_is_found_in_the_segment_that_responds(periods, method):
    segments = pd.read_parquet(periods["baseline"]["run"] / "segments.parquet")
    table = campaign_uplift(_campaign(segments), segments, method=method).set_index("segment_id")
    first = table.loc[0]
    assert first["ci_low"] > 0 and first["ci_low"] < 0.2 < first["ci_high"]
    others = table.drop(index=[0, "all"])
    assert ((others["ci_low"] < 0) & (others["ci_high"] > 0)).sum() >= len(others) - 1


def test_holm_adjustment_of_a_known_case():
    # sorted p 0.01, 0.02, 0.04 with m=3: 0.03, 0.04, 0.04 (monotone)
    assert holm(np.array([0.04, 0.01, 0.02])).tolist() == pytest.approx([0.04, 0.03, 0.04])


def test_two_proportion_z_is_symmetric_and_zero_for_equal_shares():
    z, p = two_proportion_z(30, 100, 50, 100)
    z2, p2 = two_proportion_z(50, 100, 30, 100)
    assert z == pytest.approx(-z2) and p == pytest.approx(p2) and p < 0.01
    assert two_proportion_z(10, 100, 10, 100)[1] == pytest.approx(1.0)


def _waves(periods) -> tuple[pd.DataFrame, object]:
    model = load_model(periods["baseline"]["run"])
    features = compute_features(model, periods["baseline"]["transactions"]).head(2000)
    segment = np.asarray(model.typing_tool.predict(features[model.spec.names]))
    rng = np.random.default_rng(1)
    wave = np.repeat([1, 2], len(features) // 2)
    # awareness rises from 30 % to 60 % in segment 0 only; consideration never moves
    aware_rate = np.where((segment == 0) & (wave == 2), 0.6, 0.3)
    waves = features[model.spec.names].copy()
    waves.insert(0, "respondent_id", range(len(waves)))
    waves["wave"] = wave
    waves["aware"] = (rng.uniform(size=len(waves)) < aware_rate).astype(int)
    waves["consider"] = (rng.uniform(size=len(waves)) < 0.2).astype(int)
    return waves, model


def test_brand_metrics_by_typing_tool_segment_and_wave(periods):
    waves, model = _waves(periods)
    levels, changes = brand_by_segment(waves, typing_tool=model.typing_tool, names=model.names)
    assert set(levels["metric"]) == {"aware", "consider"}
    aware0 = changes[(changes["segment_id"] == 0) & (changes["metric"] == "aware")].iloc[0]
    assert aware0["significant"] and aware0["change"] > 0.2
    assert not changes.loc[changes["metric"] == "consider", "significant"].any()
    assert (changes["p_adjusted"] >= changes["p_value"]).all()


def test_cli_impact_campaign_and_waves(cli, periods, tmp_path):
    segments = pd.read_parquet(periods["baseline"]["run"] / "segments.parquet")
    _campaign(segments).to_csv(tmp_path / "campaign.csv", index=False)
    waves, _ = _waves(periods)
    waves.to_csv(tmp_path / "waves.csv", index=False)
    result = cli(
        "impact",
        "--model",
        str(periods["baseline"]["run"]),
        "--campaign",
        str(tmp_path / "campaign.csv"),
        "--waves",
        str(tmp_path / "waves.csv"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {r["segment_id"] for r in report["uplift"]} >= {0, "all"}
    assert report["brand_changes"]
