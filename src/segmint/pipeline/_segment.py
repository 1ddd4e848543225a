"""The segment stage: features prepared, the method chosen, fitted, k justified, stability."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from segmint.activate._scoring import categorical_names, category_frame, numeric_names
from segmint.config import Config
from segmint.exceptions import ConfigError
from segmint.features import FeaturePreparer, drop_uninformative
from segmint.io import check_enough_customers
from segmint.pipeline._features import FeatureTable
from segmint.segmenters._factory import (
    SegmenterSettings,
    fit_segmenter,
    k_selection,
    method_input,
    normalised_evidence,
    resolve_method,
    segment_stability,
)


@dataclass
class Segmentation:
    """A fitted segmentation and what it was fitted on.

    ``numeric`` are the prepared numeric features (``dropped``: the uninformative ones left
    out, with the reason), ``fit_input`` what the segmenter saw, ``labels`` one segment per
    customer of the feature table, ``selection`` how k was decided and ``stability`` the
    bootstrap refits (``None`` when not measured).
    """

    method_name: str
    numeric: list[str]
    dropped: dict[str, str]
    preparer: FeaturePreparer
    fit_input: Any
    segmenter: Any
    labels: np.ndarray
    selection: dict[str, Any] | None
    stability: dict[str, Any] | None

    @property
    def n_segments(self) -> int:
        """The number of segments produced."""
        return int(self.segmenter.n_segments_)


def segment(
    con: duckdb.DuckDBPyConnection, table: FeatureTable, config: Config, *, with_customers: bool
) -> Segmentation:
    """Fit the configured method on ``table`` (customer attributes too for mixed and lca)."""
    seg_cfg = config.segmentation
    spec, features = table.spec, table.features
    check_enough_customers(
        table.n_fitted if table.sampled else table.n_customers,
        k=seg_cfg.k,
        k_min=seg_cfg.k_min,
        method=seg_cfg.method,
        snapshot=spec.snapshot_date,
    )
    # numbers are prepared and scaled; categories and bands go to the segmenter as text
    numeric, dropped = drop_uninformative(features, numeric_names(spec))
    spec.features = [f for f in spec.features if f.name not in dropped]
    preparer = FeaturePreparer({f.name: f.transform for f in spec.features})
    prepared = preparer.fit_transform(features[numeric])
    categorical = _categorical_input(con, table, seg_cfg.method, with_customers)
    method_name = resolve_method(seg_cfg.method, numeric=features[numeric], categorical=categorical)
    categories = categorical_names(spec)
    if categories and method_name in ("kmeans", "gmm", "ensemble"):
        raise ConfigError(
            f"method '{method_name}' segments numeric features only, and the bases "
            f"{', '.join(dict.fromkeys(spec.feature(c).basis for c in categories))} "
            f"give categorical ones: {', '.join(categories)}.",
            hint="Use method: mixed (k-prototypes) or auto, or remove those bases.",
        )
    fit_input = method_input(
        method_name,
        raw=features[spec.names],
        prepared=prepared,
        prepared_columns=numeric,
        categorical=categorical,
    )
    segmenter = fit_segmenter(method_name, _settings(config, method_name), fit_input)
    labels = np.asarray(segmenter.labels_)
    if not hasattr(segmenter, "n_segments_"):
        segmenter.n_segments_ = int(labels.max()) + 1
    segmenter.evidence_ = normalised_evidence(segmenter, seg_cfg.min_segment_share)
    selection = k_selection(segmenter, method_name, seg_cfg.k)
    stability = None
    if seg_cfg.stability_resamples > 0 and segmenter.n_segments_ > 1:
        stability = segment_stability(
            segmenter, fit_input, labels, n_resamples=seg_cfg.stability_resamples, seed=config.seed
        )
    return Segmentation(
        method_name=method_name,
        numeric=numeric,
        dropped=dropped,
        preparer=preparer,
        fit_input=fit_input,
        segmenter=segmenter,
        labels=labels,
        selection=selection,
        stability=stability,
    )


def _settings(config: Config, method_name: str) -> SegmenterSettings:
    seg_cfg = config.segmentation
    return SegmenterSettings(
        method=method_name,
        k=seg_cfg.k,
        k_min=seg_cfg.k_min,
        k_max=seg_cfg.k_max,
        min_segment_share=seg_cfg.min_segment_share,
        n_init=seg_cfg.n_init,
        seed=config.seed,
        rules=[(r.name, r.when) for r in seg_cfg.rules],
        default_segment=seg_cfg.default_segment,
        rfm_segments=seg_cfg.rfm.segments,
        rfm_bins=seg_cfg.rfm.bins,
    )


def _categorical_input(
    con: duckdb.DuckDBPyConnection, table: FeatureTable, method: str, with_customers: bool
) -> pd.DataFrame:
    """The categorical features as text, with the customer table's categories for the methods
    that segment on them (mixed, lca)."""
    features = table.features
    categories = categorical_names(table.spec)
    categorical = pd.DataFrame(index=features.index)
    if categories:
        categorical = category_frame(features, categories)
    if method in ("mixed", "lca") and with_customers:
        customer_categories = customer_category_frame(con, features["customer_id"])
        categorical = (
            categorical.join(customer_categories, rsuffix="_customer")
            if categories
            else customer_categories
        )
    return categorical


def customer_category_frame(con: duckdb.DuckDBPyConnection, ids: pd.Series) -> pd.DataFrame:
    """Text customer columns with 2 to 30 distinct values, aligned to ``ids`` (for k-prototypes
    and latent classes); missing values become the level ``"(missing)"``."""
    types = con.execute("DESCRIBE customers").fetchall()
    text = [name for name, kind, *_ in types if kind == "VARCHAR" and name != "customer_id"]
    if not text:
        return pd.DataFrame(index=ids.index)
    counts = con.execute(
        "SELECT " + ", ".join(f'count(DISTINCT "{c}")' for c in text) + " FROM customers"
    ).fetchall()[0]
    keep = [c for c, n in zip(text, counts, strict=True) if 2 <= n <= 30]
    if not keep:
        return pd.DataFrame(index=ids.index)
    cols = ", ".join(f'coalesce("{c}", \'(missing)\') AS "{c}"' for c in keep)
    table = con.sql(f"SELECT customer_id, {cols} FROM customers").df().set_index("customer_id")
    return table.reindex(ids.astype(str).to_numpy()).fillna("(missing)").set_axis(ids.index)
