"""Scoring new customers with a saved model: features in DuckDB, then vectorised assignment.

:func:`score` computes the features of new customers from their transactions with the model's
:class:`~segmint.features._behavioural.FeatureSpec` (the same SQL, the same snapshot semantics:
only transactions strictly before the snapshot date count; ``as_of`` moves the snapshot for
fresh data), prepares them with the stored transforms and predicts with the stored segmenter.
:func:`score_features` is the pure-array path for features computed elsewhere.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from segmint._logging import logger
from segmint._spreadsheet import spreadsheet_safe as _spreadsheet_safe
from segmint.activate._model import SegmentModel
from segmint.config import Config
from segmint.exceptions import InputError
from segmint.features._behavioural import FeatureSpec, feature_sql
from segmint.features._catalogue import ROLES, find_column, quote_ident
from segmint.io import (
    RawSource,
    SourceAccount,
    load_accounts,
    load_contacts,
    load_customers,
    load_events,
    load_survey,
    load_transactions,
    map_columns,
    read_source,
)
from segmint.io._accounting import (
    _account,
    _case,
    _clear_previous,
    _insert_rejects,
    _quarantine_from,
    ensure_quarantine,
)
from segmint.io._raw import _sql_str

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

#: Tables besides transactions and customers that ``segmint run`` and ``segmint score`` read,
#: in load order (accounts before contacts: contacts refer to accounts).
EXTRA_ROLES = ("events", "survey", "psychographic", "campaigns", "accounts", "contacts")
#: Level of a missing category or band value, at fit and at scoring.
MISSING_LEVEL = "(missing)"


def load_source_table(
    con: duckdb.DuckDBPyConnection,
    role: str,
    path: str | Path,
    *,
    mapping: Mapping[str, str] | None = None,
    known_customers: str | None = None,
    known_accounts: str | None = None,
    read_options: Mapping[str, Any] | None = None,
) -> SourceAccount:
    """Read ``path`` and load it into the table named ``role`` with that role's loader.

    ``read_options`` are the keyword arguments of :func:`segmint.io.read_source` for a text
    source (``io.encoding`` and ``io.delimiter``: :meth:`segmint.config.IOConfig.read_options`),
    as ``segmint run`` reads every source.

    Every row ends in the table or in the quarantine (``read == used + quarantined``).
    ``psychographic`` is an attitudes survey (loaded like the needs survey, under its own
    role); ``campaigns`` (one row per customer and campaign sent) has no typed loader: rows
    without a customer id (or, with ``known_customers``, of an unknown customer) are
    quarantined and columns named like dates are read as dates.
    """
    check_roles({role: path})
    raw = read_source(con, path, f"raw_{role}", **dict(read_options or {}))
    explicit = dict(mapping or {})
    if role == "events":
        matches = map_columns(raw.columns, "events", explicit=explicit, path=str(raw.path))
        return load_events(con, raw, matches, known_customers=known_customers)
    if role == "survey":
        matches = map_columns(raw.columns, "survey", explicit=explicit, path=str(raw.path))
        return load_survey(con, raw, matches, known_customers=known_customers)
    if role == "psychographic":
        matches = map_columns(raw.columns, "survey", explicit=explicit, path=str(raw.path))
        return load_survey(con, raw, matches, known_customers=known_customers, role=role)
    if role == "accounts":
        matches = map_columns(raw.columns, "accounts", explicit=explicit, path=str(raw.path))
        return load_accounts(con, raw, matches)
    if role == "contacts":
        matches = map_columns(raw.columns, "contacts", explicit=explicit, path=str(raw.path))
        return load_contacts(con, raw, matches, known_accounts=known_accounts)
    return _load_campaigns(con, raw, known_customers)


def _load_campaigns(
    con: duckdb.DuckDBPyConnection, raw: RawSource, known: str | None
) -> SourceAccount:
    cid = find_column(raw.columns, "customer_id", "customer", "customerid", "client_id")
    if cid is None:
        raise InputError(
            f"{raw.path}: the campaigns table has no customer id column "
            f"(columns: {', '.join(raw.columns)}).",
            hint="Name it customer_id.",
        )
    ensure_quarantine(con)
    _clear_previous(con, raw, "campaigns")
    c = quote_ident(cid)
    unknown = (
        f" WHEN cid NOT IN (SELECT customer_id FROM {quote_ident(known)}) THEN 'unknown_customer'"
        if known
        else ""
    )
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _cp2 AS SELECT *, CASE
            WHEN cid IS NULL THEN 'missing_customer_id'{unknown}
        END AS reason FROM (
            SELECT r._row, nullif(trim(CAST(r.{c} AS VARCHAR)), '') AS cid
            FROM {quote_ident(raw.table)} r
        )
    """)
    _quarantine_from(
        con,
        raw,
        "campaigns",
        "_cp2",
        _case({"missing_customer_id": _sql_str(cid), "unknown_customer": _sql_str(cid)}),
        "CASE WHEN c.reason = 'unknown_customer' THEN c.cid END",
    )
    _insert_rejects(con, raw, "campaigns")
    others = []
    for column in raw.columns:
        if column in (cid, "_row"):
            continue
        q = quote_ident(column)
        if re.search(r"date|_at$|_on$", column.lower()):
            others.append(f"TRY_CAST(nullif(trim(CAST(r.{q} AS VARCHAR)), '') AS DATE) AS {q}")
        else:
            others.append(f"r.{q}")
    con.execute(f"""
        CREATE OR REPLACE TABLE campaigns AS
        SELECT c.cid AS customer_id{"".join(", " + o for o in others)}, r._row
        FROM _cp2 c JOIN {quote_ident(raw.table)} r ON r._row = c._row
        WHERE c.reason IS NULL ORDER BY r._row
    """)
    con.execute("DROP TABLE _cp2")
    return _account(con, raw, "campaigns", "campaigns", {}, None, mapping={"customer_id": cid})


#: Suffix the pipeline gives a customer-table column whose name a category feature already has.
CUSTOMER_SUFFIX = "_customer"


def category_columns(model: SegmentModel) -> list[str]:
    """The text columns a mixed or latent-class model was fitted on, in its order.

    Those of the feature spec (bands, categories) and, with ``--customers``, the customer
    table's categorical columns the pipeline added (``CUSTOMER_SUFFIX`` on a name clash).
    """
    if model.method not in ("mixed", "lca"):
        return categorical_names(model.spec)
    seen = [str(c) for c in getattr(model.segmenter, "feature_names_in_", [])]
    if not seen:
        return categorical_names(model.spec)
    numeric = set(model.preparer.feature_names_in_) if model.method == "mixed" else set()
    return [c for c in seen if c not in numeric]


def join_customer_categories(
    con: duckdb.DuckDBPyConnection, model: SegmentModel, features: pd.DataFrame
) -> pd.DataFrame:
    """``features`` with the customer-table category columns the model was fitted on.

    As the run built them: text, missing values and customers absent from the table as
    ``"(missing)"``. Needs the table ``customers`` in ``con`` (``--customers``).
    """
    spec_categories = set(categorical_names(model.spec))
    needed = [c for c in category_columns(model) if c not in features.columns]
    if not needed:
        return features
    present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "customers" not in present:
        raise InputError(
            f"The model segments on the customer attribute(s) {', '.join(needed)} from the "
            "run's customer table.",
            hint="Score with --customers (a customer table with those columns).",
        )
    have = {r[0] for r in con.execute("DESCRIBE customers").fetchall()}
    source = {
        c: c[: -len(CUSTOMER_SUFFIX)]
        if c.endswith(CUSTOMER_SUFFIX) and c[: -len(CUSTOMER_SUFFIX)] in spec_categories
        else c
        for c in needed
    }
    lacking = [s for s in source.values() if s not in have]
    if lacking:
        raise InputError(
            f"The customer table lacks the column(s) {', '.join(lacking)} the model segments on.",
            hint="Score with a customer table of the same columns as the run's.",
        )
    cols = ", ".join(
        f"coalesce(CAST({quote_ident(s)} AS VARCHAR), '{MISSING_LEVEL}') AS {quote_ident(c)}"
        for c, s in source.items()
    )
    table = (
        con.sql(f"SELECT CAST(customer_id AS VARCHAR) AS customer_id, {cols} FROM customers")
        .df()
        .drop_duplicates("customer_id")
        .set_index("customer_id")
        .reindex(features["customer_id"].astype(str).to_numpy())
        .fillna(MISSING_LEVEL)
    )
    return features.assign(**{c: table[c].to_numpy() for c in needed})


def categorical_names(spec: FeatureSpec) -> list[str]:
    """The category and band features of ``spec`` (segmented as categories, not numbers)."""
    return [f.name for f in spec.features if f.kind != "numeric"]


def numeric_names(spec: FeatureSpec) -> list[str]:
    """The numeric features of ``spec`` (prepared and scaled for clustering)."""
    return [f.name for f in spec.features if f.kind == "numeric"]


def category_frame(features: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """The category/band columns ``names`` as text, missing values as ``(missing)``."""
    table = features[names].astype(object)
    return table.where(table.notna(), MISSING_LEVEL).astype(str).astype(object)


_PLACEHOLDER = re.compile(r"\$(" + "|".join(ROLES) + r")\b")


def required_tables(spec: FeatureSpec) -> dict[str, list[str]]:
    """``table role -> bases`` that the features of ``spec`` read, transactions included.

    Tables a run was given but none of its features read are not required.
    """
    used = set(spec.names)
    needed: dict[str, list[str]] = {}

    def need(role: str, basis: str | None) -> None:
        table = spec.tables.get(role, role) if spec.tables else role
        bases = needed.setdefault(table, [])
        if basis and basis not in bases:
            bases.append(basis)

    for feature in spec.features:
        need(feature.source, feature.basis)
    for block in spec.blocks:
        if not used & set(block.features):
            continue
        basis = next((spec.feature(n).basis for n in block.features if n in used), None)
        for _, sql in block.ctes:
            for role in _PLACEHOLDER.findall(sql):
                need(role, basis)
    for role in _PLACEHOLDER.findall(spec.population or ""):
        need(role, None)
    needed.setdefault("transactions", [])
    return needed


def is_catalogue_spec(spec: FeatureSpec) -> bool:
    """Whether ``spec`` reads tables other than transactions (made by ``build_feature_table``)."""
    return bool(spec.blocks) and (
        set(required_tables(spec)) != {"transactions"}
        or any(f.kind != "numeric" for f in spec.features)
        or "value" in spec.models
    )


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
    settings: Config | None = None,
) -> None:
    """Create the table ``transactions`` (and ``customers``) in ``con``.

    A file goes through the same reading, column mapping and validation as ``segmint run``
    (rows that cannot be used are quarantined, not scored), with the ``io:`` and ``mapping:``
    of ``settings`` (encoding, delimiter, returns, exclusions, duplicates; the defaults without
    them); a DataFrame must already have the canonical columns (``customer_id, order_date,
    amount`` and optionally ``order_id, quantity, category, channel, discount``).
    """
    settings = settings or Config()
    read = settings.io.read_options()
    known = None
    if customers is not None:
        raw_c = read_source(con, customers, "raw_customers", **read)
        load_customers(
            con,
            raw_c,
            map_columns(
                raw_c.columns,
                "customers",
                explicit=settings.mapping.customers,
                path=str(raw_c.path),
            ),
        )
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
    raw = read_source(con, transactions, "raw_transactions", typed=True, **read)
    matches = map_columns(
        raw.columns, "transactions", explicit=settings.mapping.transactions, path=str(raw.path)
    )
    account = load_transactions(
        con, raw, matches, known_customers=known, **settings.io.transaction_options()
    )
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
    sources: Mapping[str, str | Path] | None = None,
    settings: Config | None = None,
) -> pd.DataFrame:
    """Features of the customers in ``transactions`` with the model's spec (one row each).

    ``sources`` (``role -> file``) gives the other tables a model's features read (events,
    survey, ...), loaded and validated like ``segmint run`` does; ``settings`` gives the
    ``io:`` and ``mapping:`` every table is read with (:func:`load_transaction_table`).
    """
    settings = settings or Config()
    own = con is None
    con = con or duckdb.connect()
    try:
        check_sources(model.spec, sources or {}, customers=customers is not None)
        load_transaction_table(con, transactions, customers=customers, settings=settings)
        known = "customers" if customers is not None else None
        for role in EXTRA_ROLES:
            if role in (sources or {}):
                load_source_table(
                    con,
                    role,
                    sources[role],  # type: ignore[index]
                    mapping=getattr(settings.mapping, role, None)
                    if role != "psychographic"
                    else None,
                    known_customers=known,
                    known_accounts="accounts" if "accounts" in sources else None,  # type: ignore[operator]
                    read_options=settings.io.read_options(),
                )
        return features_of_table(con, model, as_of=as_of)
    finally:
        if own:
            con.close()


def check_roles(sources: Mapping[str, object]) -> None:
    """Refuse a table role other than :data:`EXTRA_ROLES` (for ``sources`` of run and score)."""
    unknown = [r for r in sources if r not in EXTRA_ROLES]
    if unknown:
        raise InputError(
            f"Unknown source role(s): {', '.join(unknown)}.",
            hint=f"Roles: {', '.join(EXTRA_ROLES)}.",
        )


def check_sources(spec: FeatureSpec, sources: Mapping[str, object], *, customers: bool) -> None:
    """Refuse scoring without a table the model's features read (names the option to pass)."""
    check_roles(sources)
    have = {"transactions", *sources, *(["customers"] if customers else [])}
    for role, bases in required_tables(spec).items():
        if role not in have:
            what = f" (its {', '.join(bases)} features)" if bases else ""
            raise InputError(
                f"The model needs the {role} table{what}, which was not given.",
                hint=f"Pass it with --{role}, the same kind of file the run was given.",
            )


def features_of_table(
    con: duckdb.DuckDBPyConnection, model: SegmentModel, *, as_of: date | str | None = None
) -> pd.DataFrame:
    """Features of the customers in the table ``transactions`` of ``con`` (and of the other
    tables the model's features read, under their role names)."""
    spec = spec_as_of(model.spec, as_of)
    _check_columns(con, spec)
    if is_catalogue_spec(spec):
        from segmint.features._table import compute_feature_table

        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        missing = [t for t in required_tables(spec) if t not in present]
        if missing:
            raise InputError(
                f"The model needs the {', '.join(missing)} table(s), which were not given.",
                hint=f"Pass {', '.join('--' + t for t in missing)}.",
            )
        try:
            return compute_feature_table(con, spec)
        except duckdb.Error as exc:
            raise InputError(
                f"The features could not be computed from the inputs ({exc}).",
                hint="Score with tables of the same columns as the data the model was built on.",
            ) from None
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
    categories = category_columns(model)
    if model.input_kind == "prepared":
        X = prepare(model, features)
    elif categories and model.method in ("mixed", "lca"):
        # the table the run fitted on: prepared numbers, then the categories as text (the
        # features' own, and customer-table columns that score() joins in)
        absent = [c for c in categories if c not in features.columns]
        if absent:
            raise InputError(
                f"The model segments on the customer attribute(s) {', '.join(absent)}, which "
                "the input lacks.",
                hint="Score with --customers (the customer table, with the same columns as the "
                "run's), or add the columns to the features.",
            )
        X = category_frame(features, categories)
        if model.method == "mixed":
            numbers = pd.DataFrame(
                prepare(model, features),
                columns=list(model.preparer.feature_names_in_),
                index=features.index,
            )
            X = pd.concat([numbers, X], axis=1)
    else:
        X = features[names]
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
    sources: Mapping[str, str | Path] | None = None,
    settings: Config | None = None,
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
    sources : mapping, optional
        ``role -> file`` of the other tables the model's features read (``events``,
        ``survey``, ``psychographic``, ``campaigns``, ``accounts``, ``contacts``); a model
        that reads a table not given is refused with an :class:`InputError` naming it.
    settings : Config, optional
        The ``io:`` (encoding, delimiter, returns, exclusions, duplicates) and ``mapping:``
        every table is read with; for scoring to see the data as the run did, the run's own
        (``segmint score`` takes those recorded in ``run.json`` unless ``--config`` is given).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, segment_id, segment_name[, probabilities]`` ordered by customer id.
    """
    con = duckdb.connect()
    try:
        features = compute_features(
            model,
            transactions,
            customers=customers,
            as_of=as_of,
            con=con,
            sources=sources,
            settings=settings,
        )
        if model.method in ("mixed", "lca"):
            features = join_customer_categories(con, model, features)
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


def write_frame(frame: pd.DataFrame, path: str | Path, *, spreadsheet_safe: bool = True) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix) atomically: temp file, then rename.

    In CSV, a ``probabilities`` list column becomes one ``probability_<id>`` column per segment,
    and (unless ``spreadsheet_safe=False``) text cells that a spreadsheet would run as a formula
    are neutralised (:func:`segmint._spreadsheet.spreadsheet_safe`).
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
            wide = _expand_probabilities(frame)
            (_spreadsheet_safe(wide) if spreadsheet_safe else wide).to_csv(tmp, index=False)
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
