"""Features: the catalogue of every segmentation basis, computed in SQL as of a snapshot date.

* :func:`build_feature_table` -- the features of the chosen bases per customer, and their spec;
* :func:`compute_feature_table` -- a saved spec applied to new data (no refit);
* :func:`catalogue_sql` -- the one query of a spec, in DuckDB or (via sqlglot) Spark SQL;
* :func:`plan_features` / :func:`build_features` / :func:`feature_sql` -- the behavioural plan;
* :class:`ColumnPreparer` / :class:`FeaturePreparer` -- preparation for clustering;
* :class:`FactorModel` -- factor scores of Likert batteries (psychographic and needs bases);
* :mod:`segmint.features.clv` -- BG/NBD, Pareto/NBD, Gamma-Gamma and CLV.
"""

from segmint.features._behavioural import (
    build_features,
    default_snapshot,
    feature_sql,
    plan_features,
)
from segmint.features._catalogue import (
    Block,
    Feature,
    FeatureOptions,
    FeatureSpec,
    catalogue_sql,
)
from segmint.features._prepare import ColumnPreparer, FeaturePreparer, drop_uninformative
from segmint.features._survey import FactorModel, factor_loadings
from segmint.features._table import (
    BASES,
    REQUIRED_SOURCE,
    build_feature_table,
    check_bases,
    compute_feature_table,
)
from segmint.features._value_contract import contract_columns
from segmint.features._value_report import clv_report_from_file, value_model_summary

__all__ = [
    "BASES",
    "REQUIRED_SOURCE",
    "Block",
    "ColumnPreparer",
    "FactorModel",
    "Feature",
    "FeatureOptions",
    "FeaturePreparer",
    "FeatureSpec",
    "build_feature_table",
    "build_features",
    "catalogue_sql",
    "check_bases",
    "clv_report_from_file",
    "compute_feature_table",
    "contract_columns",
    "default_snapshot",
    "drop_uninformative",
    "factor_loadings",
    "feature_sql",
    "plan_features",
    "value_model_summary",
]
