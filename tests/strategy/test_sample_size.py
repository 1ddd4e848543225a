"""The survey sample-size planner, against hand calculation, and its command."""

from __future__ import annotations

import json

import pytest

from segmint.exceptions import ConfigError
from segmint.strategy._sample_size import _ceil, survey_sample_size


def test_five_segments_smallest_ten_percent_plus_minus_five_points() -> None:
    # z = 1.959964; 1.959964² × 0.25 / 0.05² = 384.15 -> 385; 385 / 0.1 = 3,850
    plan = survey_sample_size(5, 0.1, 0.05, 0.95)
    assert plan.z == pytest.approx(1.959964, abs=1e-6)
    assert plan.per_segment == 385
    assert plan.total == 3850
    assert plan.if_equal_shares == 5 * 385
    assert plan.recommended == 3850
    assert any("384.1" in line and "385" in line for line in plan.reasoning)


def test_other_confidence_levels() -> None:
    # 90 %: z = 1.644854, z² / 4 / 0.05² = 270.55 -> 271; 99 %: 2.575829 -> 663.49 -> 664
    assert survey_sample_size(4, 0.25, 0.05, 0.90).per_segment == 271
    assert survey_sample_size(4, 0.25, 0.05, 0.99).per_segment == 664
    assert survey_sample_size(4, 0.25, 0.05, 0.99).total == 664 * 4


def test_total_is_not_inflated_by_floating_point_noise() -> None:
    # 21 / 0.35 is 60.00000000000001 in binary floating point: still 60 respondents
    plan = survey_sample_size(2, 0.35, 0.2, 0.8)  # z = 1.2816; 1.2816² / 4 / 0.04 = 10.26 -> 11
    assert plan.per_segment == 11
    assert plan.total == 32  # 11 / 0.35 = 31.43 -> 32
    assert _ceil(21 / 0.35) == 60


def test_clustering_rule_of_thumb_raises_the_recommendation() -> None:
    plan = survey_sample_size(3, 0.3, 0.1, 0.95, variables=20)
    # n_seg = 96.04 -> 97; total = 97 / 0.3 = 323.3 -> 324; 70 × 20 = 1,400 is more
    assert plan.per_segment == 97 and plan.total == 324
    assert plan.clustering_minimum == 1400
    assert plan.recommended == 1400
    assert "Dolnicar" in plan.reasoning[-2] and "not met" in plan.reasoning[-2]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"segments": 5, "min_share": 0.3}, "impossible with 5 segments"),
        ({"segments": 5, "min_share": 0.1, "margin_of_error": 0.0}, "--moe"),
        ({"segments": 5, "min_share": 0.1, "confidence": 1.0}, "--confidence"),
        ({"segments": 5, "min_share": 0.1, "variables": 0}, "--variables"),
    ],
)
def test_impossible_inputs_are_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        survey_sample_size(**kwargs)


def test_command_prints_the_reasoning(cli) -> None:
    result = cli(
        "sample-size", "--segments", "5", "--min-share", "0.1", "--moe", "0.05",
        "--confidence", "0.95", "--variables", "12",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "385" in result.stdout and "3,850" in result.stdout
    assert "70 × 12 = 840" in result.stdout and "Dolnicar" in result.stdout


def test_command_json_output(cli) -> None:
    result = cli("sample-size", "--segments", "5", "--min-share", "0.1", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["per_segment"] == 385 and plan["total"] == 3850 and plan["variables"] is None


def test_command_rejects_an_impossible_share_with_exit_code_2(cli) -> None:
    result = cli("sample-size", "--segments", "5", "--min-share", "0.3")
    assert result.returncode == 2
    assert "impossible" in result.stderr and "hint" in result.stderr
