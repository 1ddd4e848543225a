"""Choice of k: the rule on evidence tables, its null model, and planted data end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from segmint.cli._run import k_line
from segmint.config import Config
from segmint.datasets import make_retail
from segmint.datasets._retail import DEFAULT_SEGMENTS
from segmint.pipeline import run_segmentation
from segmint.segmenters._k_choice import choose_k, null_explained_variance, structure
from segmint.segmenters._kmeans import KMeansSegmenter


def _table(**columns: list) -> pd.DataFrame:
    """An evidence table for k = 2.. with sensible defaults for the columns not given."""
    n = len(next(iter(columns.values())))
    base = {
        "k": list(range(2, 2 + n)),
        "min_segment_share": [0.2] * n,
        "converged": [True] * n,
        "stability_ari": [0.9] * n,
        "stability_ari_low": [0.85] * n,
        "stability_ari_high": [0.95] * n,
        "min_segment_jaccard": [0.9] * n,
        "explained_variance": [0.3 + 0.05 * i for i in range(n)],
        "structure": [0.1] * n,
    }
    return pd.DataFrame({**base, **columns})


# -- the rule on evidence tables ---------------------------------------------------------------


def test_inadmissible_k_are_excluded_with_their_reasons() -> None:
    table = _table(
        min_segment_share=[0.4, 0.04, 0.2, 0.2, 0.2],
        converged=[True, True, False, True, True],
        stability_ari=[0.9, 0.9, 0.9, 0.5, 0.9],
        min_segment_jaccard=[0.9, 0.9, 0.9, 0.9, 0.55],
        structure=[0.1, 0.9, 0.9, 0.9, 0.9],
    )
    selection = choose_k(table)
    assert selection["chosen"] == 2 and selection["runner_up"] is None
    assert selection["excluded"] == {
        "3": ["smallest segment 4.0% < 5% of customers"],
        "4": ["k-means did not converge within max_iter iterations"],
        "5": ["stability 0.500 < 0.60"],
        "6": ["a segment dissolves in the resamples, Jaccard 0.55 < 0.60"],
    }
    assert "excluded: k = 3 (smallest segment 4.0% < 5% of customers)" in selection["reason"]
    # the share threshold is a parameter
    assert choose_k(table, min_segment_share=0.03)["excluded"].keys() == {"4", "5", "6"}


def test_stable_k_with_more_structure_beats_the_most_stable_k() -> None:
    # k = 2 is the most stable; k = 4's interval reaches k = 2's, k = 5's does not
    table = _table(
        stability_ari=[0.96, 0.93, 0.88, 0.80],
        stability_ari_low=[0.92, 0.86, 0.70, 0.70],
        stability_ari_high=[0.99, 0.97, 0.95, 0.90],
        structure=[0.0, 0.10, 0.20, 0.40],
    )
    selection = choose_k(table)
    assert selection["most_stable"] == 2
    assert selection["candidates"] == [2, 3, 4]
    assert selection["chosen"] == 4 and selection["runner_up"] == 3
    assert "within the interval of the most stable k = 2" in selection["reason"]
    assert "k = 5 less stable (interval below 0.920)" in selection["reason"]


def test_splitting_stops_when_structure_does_not_improve() -> None:
    table = _table(structure=[0.10, 0.30, 0.33, 0.34])
    selection = choose_k(table)
    # k = 4 and 5 add 0.03 and 0.04 over k = 3: within the 0.05 tolerance
    assert selection["chosen"] == 3
    assert "add at most 0.040 (tolerance 0.05)" in selection["reason"]
    assert choose_k(table, structure_tolerance=0.005)["chosen"] == 5


def test_two_segments_when_the_evidence_says_so() -> None:
    table = _table(
        stability_ari=[0.99, 0.70, 0.65],
        stability_ari_low=[0.97, 0.50, 0.40],
        stability_ari_high=[1.0, 0.85, 0.80],
        structure=[0.30, 0.32, 0.33],
    )
    selection = choose_k(table)
    assert selection["chosen"] == 2 and selection["candidates"] == [2]
    assert selection["reason"].startswith("stability 0.990 [0.970, 1.000], the most stable k")
    assert "k = 3, 4 less stable" in selection["reason"]


def test_no_admissible_k_falls_back_to_all_and_says_so() -> None:
    table = _table(min_segment_share=[0.01, 0.01], structure=[0.1, 0.3])
    selection = choose_k(table)
    assert selection["chosen"] == 3
    assert selection["reason"].startswith("no k met every requirement")


def test_without_stability_the_structure_decides() -> None:
    table = _table(structure=[0.1, 0.4, 0.42]).drop(
        columns=["stability_ari", "stability_ari_low", "stability_ari_high", "min_segment_jaccard"]
    )
    selection = choose_k(table)
    assert selection["chosen"] == 3 and selection["most_stable"] is None


def test_structure_is_a_log_ratio_of_unexplained_variance() -> None:
    assert structure(0.5, 0.5) == 0.0
    assert structure(0.6, 0.5) == pytest.approx(np.log(0.5 / 0.4))
    assert structure(0.4, 0.5) < 0


def test_null_explained_variance_is_that_of_a_gaussian_cloud() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2)) * [3.0, 0.5]
    null = null_explained_variance(X, [2, 3], random_state=1)
    # k = 2 cuts a Gaussian at its mean along the long axis: 2/pi of that axis' variance
    share = 9.0 / 9.25
    assert null[2] == pytest.approx(2 / np.pi * share, abs=0.02)
    assert null[2] < null[3] < 1
    assert null == null_explained_variance(X, [2, 3], random_state=1)


def test_k_line_names_the_chosen_k_and_the_runner_up() -> None:
    line = k_line({"chosen": 4, "runner_up": 3, "reason": "stability 0.91 [0.88, 0.94]"})
    assert line == "k = 4 chosen (runner-up 3): stability 0.91 [0.88, 0.94]"
    assert k_line({"chosen": 5, "runner_up": None, "reason": "set"}) == "k = 5 chosen: set"


# -- k-means ------------------------------------------------------------------------------------


def test_kmeans_records_the_selection_and_keeps_it_through_json() -> None:
    X, y = make_blobs(n_samples=900, centers=4, n_features=3, cluster_std=1.2, random_state=4)
    seg = KMeansSegmenter(k_range=(2, 6), n_init=3, stability_resamples=5, random_state=0).fit(X)
    assert seg.n_segments_ == 4 and adjusted_rand_score(y, seg.labels_) > 0.95
    selection = seg.selection_
    assert selection["chosen"] == 4 and selection["runner_up"] in (2, 3, 5, 6)
    ev = seg.evidence_.set_index("k")
    assert {"explained_variance", "null_explained_variance", "structure", "converged"} <= set(ev)
    assert (ev["explained_variance"] > ev["null_explained_variance"]).all()
    assert ev["structure"].idxmax() == 4 and ev.loc[4, "chosen"]
    again = KMeansSegmenter.from_dict(json.loads(json.dumps(seg.to_dict())))
    assert again.selection_ == json.loads(json.dumps(selection))


def test_same_seed_same_choice_and_forced_k_overrides() -> None:
    X, _ = make_blobs(n_samples=1200, centers=5, n_features=4, cluster_std=2.5, random_state=2)
    params = {"k_range": (2, 7), "n_init": 3, "stability_resamples": 5}
    a = KMeansSegmenter(random_state=3, **params).fit(X)
    b = KMeansSegmenter(random_state=3, **params).fit(X)
    pd.testing.assert_frame_equal(a.evidence_, b.evidence_)
    assert a.selection_ == b.selection_
    forced = KMeansSegmenter(n_segments=6, random_state=3, **params).fit(X)
    assert forced.n_segments_ == 6 and forced.selection_["rule"] == "forced"
    assert forced.selection_["runner_up"] is None


# -- planted segments through the whole pipeline -------------------------------------------------

EXTRA_SEGMENTS = (
    dataclasses.replace(
        DEFAULT_SEGMENTS[0],
        name="premium_web_regulars",
        share=0.15,
        orders_per_year=24.0,
        order_value=210.0,
        category_mix=(0.6, 0.25, 0.05, 0.05, 0.05),
        channel_mix=(0.9, 0.08, 0.02),
        discount_rate=0.02,
        return_rate=0.15,
    ),
    dataclasses.replace(
        DEFAULT_SEGMENTS[1],
        name="store_discount_regulars",
        share=0.15,
        orders_per_year=20.0,
        order_value=20.0,
        category_mix=(0.05, 0.05, 0.1, 0.2, 0.6),
        channel_mix=(0.04, 0.06, 0.9),
        discount_rate=0.9,
        return_rate=0.01,
    ),
)
BEHAVIOUR = ("orders_per_year", "order_value", "category_mix", "channel_mix", "discount_rate")


def planted_segments(k: int, separation: float) -> tuple:
    """``k`` planted segments whose purchase behaviour is pulled towards their mean.

    ``separation`` 1 keeps the segments as defined; smaller values shrink every behavioural
    field (orders, order value, category and channel mix, discounts, returns) towards the mean
    of the ``k`` segments, so the segments overlap more.
    """
    pool = (*DEFAULT_SEGMENTS, *EXTRA_SEGMENTS)
    chosen = pool[:k] if k != 2 else (pool[0], pool[4])
    shrunk = []
    for segment in chosen:
        fields = {}
        for name in (*BEHAVIOUR, "return_rate"):
            values = np.array([np.atleast_1d(getattr(s, name)) for s in chosen], dtype=float)
            mean = values.mean(axis=0)
            value = mean + separation * (np.atleast_1d(getattr(segment, name)) - mean)
            fields[name] = tuple(value) if isinstance(getattr(segment, name), tuple) else value[0]
        shrunk.append(dataclasses.replace(segment, **fields))
    return tuple(shrunk)


# (planted k, separation): k from 2 to 7, clear and blurred segments
PLANTED = [
    (2, 1.0),
    (3, 1.0),
    (3, 0.7),
    (4, 1.0),
    (4, 0.75),
    (5, 1.0),
    (5, 0.8),
    (6, 1.0),
    (6, 0.85),
    (7, 1.0),
]


@pytest.mark.slow
def test_the_pipeline_finds_the_planted_k_in_at_least_9_of_10_data_sets(tmp_path: Path) -> None:
    found = []
    for i, (k, separation) in enumerate(PLANTED):
        data = make_retail(3000, seed=100 + i, segments=planted_segments(k, separation))
        paths = data.write(tmp_path / f"data{i}")
        result = run_segmentation(
            paths["transactions"], tmp_path / f"out{i}", config=Config(seed=7)
        )
        merged = result.segments.merge(data.truth, on="customer_id")
        ari = adjusted_rand_score(merged["segment"], merged["segment_id"])
        found.append((k, separation, result.n_segments, round(ari, 3)))
        run = json.loads((tmp_path / f"out{i}" / "run.json").read_text())
        assert run["selection"]["chosen"] == result.n_segments == run["counts"]["segments"]
    right = [row for row in found if row[0] == row[2]]
    assert len(right) >= 9, found
    assert all(ari >= 0.9 for *_, ari in right), found


def test_run_json_report_and_summary_carry_the_choice(tmp_path: Path, cli) -> None:
    paths = make_retail(1500, seed=5).write(tmp_path / "data")
    result = cli("run", "--transactions", str(paths["transactions"]), "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    selection = run["selection"]
    chosen = [row["k"] for row in run["evidence"] if row["chosen"]]
    assert chosen == [selection["chosen"]] == [run["counts"]["segments"]]
    assert selection["runner_up"] is not None and selection["runner_up"] != selection["chosen"]
    assert {"structure", "null_explained_variance", "converged"} <= set(run["evidence"][0])
    line = f"k = {selection['chosen']} chosen (runner-up {selection['runner_up']}): "
    assert line + selection["reason"][:40] in " ".join(result.stdout.split())
    html = (tmp_path / "o" / "report.html").read_text()
    assert 'data-testid="k-choice"' in html and 'data-testid="k-runner-up"' in html
    assert (
        f"<b>k = {selection['chosen']} chosen</b> (runner-up k = {selection['runner_up']})" in html
    )

    forced = cli(
        "run",
        "--transactions",
        str(paths["transactions"]),
        "--out",
        str(tmp_path / "f"),
        "--k",
        "3",
    )
    assert forced.returncode == 0, forced.stderr
    run = json.loads((tmp_path / "f" / "run.json").read_text())
    assert run["counts"]["segments"] == 3 and run["selection"]["rule"] == "forced"
    assert "k = 3 chosen: set by n_segments" in " ".join(forced.stdout.split())
