"""Scoring new customers with a saved model: features in DuckDB, then vectorised assignment.

:func:`score` computes the features of new customers from their transactions with the model's
:class:`~segmint.features._behavioural.FeatureSpec` (the same SQL, the same snapshot semantics:
only transactions strictly before the snapshot date count; ``as_of`` moves the snapshot for
fresh data), prepares them with the stored transforms and predicts with the stored segmenter.
:func:`score_features` is the pure-array path for features computed elsewhere.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segmint._logging import logger
from segmint.activate._model import SegmentModel
from segmint.exceptions import InputError
from segmint.features._behavioural import FeatureSpec, feature_sql
from segmint.io import load_customers, load_transactions, map_columns, read_source

#: Columns of a transaction table given as a DataFrame (the first three are required).
TRANSACTION_COLUMNS = {
    "customer_id": "VARCHAR",
    "order_date": "TIMESTAMP",
    "amount": "DOUBLE",
    "order_id": "VARCHAR",
    "quantity": "DOUBLE",
    "category": "VARCHAR",
    "channel": "VARCHAR",
    "discount": "DOUBLE",
}
NOT_SCORED = "not scored: no purchase before the snapshot date"


def spec_as_of(spec: FeatureSpec, as_of: date | str | None) -> FeatureSpec:
    """``spec`` with its snapshot moved to ``as_of`` (unchanged when ``None``)."""
    if as_of is None:
        return spec
    return replace(spec, snapshot_date=str(pd.Timestamp(as_of).date()))


def load_transaction_table(
    con: duckdb.DuckDBPyConnection,
    transactions: str | Path | pd.DataFrame,
    *,
    customers: str | Path | None = None,
) -> None:
    """Create the table ``transactions`` (and ``customers``) in ``con``.

    A file goes through the same reading, column mapping and validation as ``segmint run``
    (rows that cannot be used are quarantined, not scored); a DataFrame must already have the
    canonical columns (``customer_id, order_date, amount`` and optionally ``order_id, quantity,
    category, channel, discount``).
    """
    known = None
    if customers is not None:
        raw_c = read_source(con, customers, "raw_customers")
        load_customers(con, raw_c, map_columns(raw_c.columns, "customers", path=str(raw_c.path)))
        known = "customers"
    if isinstance(transactions, pd.DataFrame):
        missing = [c for c in ("customer_id", "order_date", "amount") if c not in transactions]
        if missing:
            raise InputError(
                f"The transactions lack the column(s) {', '.join(missing)}.",
                hint="Give customer_id, order_date and amount for every transaction.",
            )
        cols = [c for c in TRANSACTION_COLUMNS if c in transactions.columns]
        con.register("_tx_in", transactions[cols])
        select = ", ".join(f"CAST({c} AS {TRANSACTION_COLUMNS[c]}) AS {c}" for c in cols)
        where = " WHERE customer_id IN (SELECT customer_id FROM customers)" if known else ""
        con.execute(f"CREATE OR REPLACE TABLE transactions AS SELECT {select} FROM _tx_in{where}")
        con.unregister("_tx_in")
        return
    raw = read_source(con, transactions, "raw_transactions", typed=True)
    matches = map_columns(raw.columns, "transactions", path=str(raw.path))
    account = load_transactions(con, raw, matches, known_customers=known)
    logger.info(
        "scoring input: %d rows read, %d used, %d quarantined",
        account.n_read,
        account.n_used,
        account.n_quarantined,
    )


def _check_columns(con: duckdb.DuckDBPyConnection, spec: FeatureSpec) -> None:
    have = {r[0] for r in con.execute("DESCRIBE transactions").fetchall()}
    need = set(spec.levels) | set(getattr(spec, "columns", {}).get("transactions", []))
    if spec.has_order_id:
        need.add("order_id")
    if "discount_share" in spec.names:
        need.add("discount")
    missing = sorted(need - have)
    if missing:
        raise InputError(
            f"The transactions lack the column(s) {', '.join(missing)} that the model's features "
            "were computed from.",
            hint="Score transactions with the same columns as the data the model was built on.",
        )


def compute_features(
    model: SegmentModel,
    transactions: str | Path | pd.DataFrame,
    *,
    customers: str | Path | None = None,
    as_of: date | str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pd.DataFrame:
    """Features of the customers in ``transactions`` with the model's spec (one row each)."""
    own = con is None
    con = con or duckdb.connect()
    try:
        load_transaction_table(con, transactions, customers=customers)
        return features_of_table(con, model, as_of=as_of)
    finally:
        if own:
            con.close()


def features_of_table(
    con: duckdb.DuckDBPyConnection, model: SegmentModel, *, as_of: date | str | None = None
) -> pd.DataFrame:
    """Features of the customers in the table ``transactions`` of ``con``."""
    spec = spec_as_of(model.spec, as_of)
    _check_columns(con, spec)
    try:
        return con.sql(feature_sql(spec)).df()
    except duckdb.Error as exc:
        raise InputError(
            f"The features could not be computed from the transactions ({exc}).",
            hint="Check the transaction values (dates, amounts).",
        ) from None


def prepare(model: SegmentModel, features: pd.DataFrame) -> np.ndarray:
    """The model's stored preparation of ``features``, in one vectorised pass.

    Identical to ``model.preparer.transform`` (same transform, clip bounds and scaling, float64)
    but working on all columns of a kind at once, so that a million rows take a few hundred
    milliseconds.
    """
    prep = model.preparer
    columns = list(prep.feature_names_in_)
    values = features[columns].to_numpy(dtype=np.float64, copy=True)
    finite = np.isfinite(values)
    if not finite.all():
        bad = columns[int(np.flatnonzero(~finite.all(axis=0))[0])]
        raise InputError(
            f"Feature '{bad}' has missing or infinite values.",
            hint="Fill or drop them before scoring.",
        )
    logged = np.flatnonzero(np.asarray(prep._kinds(columns)) == "signed_log")
    if len(logged):
        part = values[:, logged]
        values[:, logged] = np.sign(part) * np.log1p(np.abs(part))
    np.clip(values, prep.lower_, prep.upper_, out=values)
    values -= prep.mean_
    values /= prep.scale_
    return values


def predict_ids(
    model: SegmentModel, features: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    """Segment ids (and membership probabilities when the segmenter has them) of ``features``."""
    names = model.spec.names
    missing = [c for c in names if c not in features.columns]
    if missing:
        raise InputError(
            f"Features missing from the input: {', '.join(missing)}.",
            hint="Score customers with the same feature definitions the model was built on.",
        )
    X = prepare(model, features) if model.input_kind == "prepared" else features[names]
    centres = getattr(model.segmenter, "cluster_centers_", None)
    if model.method == "kmeans" and centres is not None:
        # nearest centre: argmin ||x-c||² = argmin (||c||² - 2 x·c); ||x||² is the same for all c.
        # One BLAS thread: a (n, d) x (d, k) product with tiny k gains nothing from threads, and
        # on a busy machine (2 shared cores) extra threads make it several times slower.
        if len(X) >= 20_000:
            with threadpool_limits(limits=1, user_api="blas"):
                cross = X @ centres.T
        else:  # small batches (the service): not worth the thread-pool introspection
            cross = X @ centres.T
        ids = np.argmin((centres * centres).sum(axis=1) - 2.0 * cross, axis=1)
    else:
        ids = np.asarray(model.segmenter.predict(X), dtype=np.int64)
    proba = None
    if model.has_probabilities:
        proba = np.asarray(model.segmenter.predict_proba(X), dtype=float)
    return ids, proba


def score_features(model: SegmentModel, features: pd.DataFrame) -> pd.DataFrame:
    """Assign already-computed features to segments: the pure-array fast path.

    Parameters
    ----------
    model : SegmentModel
        From :func:`~segmint.activate.load_model`.
    features : pandas.DataFrame
        One row per customer with the model's feature columns (and ``customer_id`` if known).

    Returns
    -------
    pandas.DataFrame
        ``customer_id`` (when given), ``segment_id``, ``segment_name`` (categorical) and, when
        the segmenter gives them, ``probabilities`` (a list per customer, in segment-id order).
    """
    ids, proba = predict_ids(model, features)
    top = max(model.names) + 1
    labels = [model.names.get(i, f"segment {i}") for i in range(top)]
    out: dict[str, object] = {}
    if "customer_id" in features.columns:
        ids_col = features["customer_id"]
        if not pd.api.types.is_string_dtype(ids_col):
            ids_col = ids_col.astype(str)
        out["customer_id"] = ids_col.to_numpy()
    out["segment_id"] = ids.astype(np.int32)
    if len(set(labels)) == len(labels):
        out["segment_name"] = pd.Categorical.from_codes(ids, categories=labels)
    else:  # duplicate names cannot be categories
        out["segment_name"] = np.asarray(labels, dtype=object)[ids]
    frame = pd.DataFrame(out)
    if proba is not None:
        frame["probabilities"] = list(np.round(proba, 6))
    return frame


def score(
    model: SegmentModel,
    transactions: str | Path | pd.DataFrame,
    customers: str | Path | None = None,
    *,
    as_of: date | str | None = None,
) -> pd.DataFrame:
    """Score new customers from their transactions.

    Parameters
    ----------
    model : SegmentModel
    transactions : str, Path or pandas.DataFrame
        A transaction file (read and validated like ``segmint run``) or a canonical table.
    customers : str or Path, optional
        Customer table: only these customers are scored, and every one of them gets a row
        (``segment_id`` missing for those without a purchase before the snapshot).
    as_of : date or str, optional
        Snapshot date for fresh data; default: the model's snapshot date.

    Returns
    -------
    pandas.DataFrame
        ``customer_id, segment_id, segment_name[, probabilities]`` ordered by customer id.
    """
    con = duckdb.connect()
    try:
        features = compute_features(model, transactions, customers=customers, as_of=as_of, con=con)
        scored = score_features(model, features)
        if customers is not None:
            ids = con.sql("SELECT customer_id FROM customers ORDER BY customer_id").df()
            scored = ids.merge(scored, on="customer_id", how="left")
            scored["segment_id"] = scored["segment_id"].astype("Int32")
            names = scored["segment_name"]
            if isinstance(names.dtype, pd.CategoricalDtype):
                names = names.cat.add_categories([NOT_SCORED])
            scored["segment_name"] = names.fillna(NOT_SCORED)
    finally:
        con.close()
    logger.info("scored %d customers", len(scored))
    return scored


def _expand_probabilities(frame: pd.DataFrame) -> pd.DataFrame:
    if "probabilities" not in frame.columns:
        return frame
    rows = frame["probabilities"].to_list()
    k = max((len(r) for r in rows if r is not None), default=0)
    matrix = np.full((len(rows), k), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            matrix[i, : len(r)] = r
    wide = pd.DataFrame(matrix, columns=[f"probability_{j}" for j in range(k)], index=frame.index)
    return pd.concat([frame.drop(columns="probabilities"), wide], axis=1)


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically: temp file, then rename.

    In CSV, a ``probabilities`` list column becomes one ``probability_<id>`` column per segment.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(
            f"{path}: unsupported output format {suffix or '(none)'}.",
            hint="Write to a .csv or .parquet file.",
        )
    if not path.parent.is_dir():
        raise InputError(f"{path.parent}: folder does not exist.", hint="Create it first.")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        if suffix == ".csv":
            _expand_probabilities(frame).to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write a text file atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
