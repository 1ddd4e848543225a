"""Mapping the columns of a user's file to the roles segmint understands.

Each role (``transactions``, ``customers``) has canonical fields, some required. A file's columns
are matched to fields by normalised name: the canonical name itself (confidence 1.0), a known
synonym in English or German (0.9), or a name that contains a synonym as a word (0.6). An explicit
mapping from ``segmint.yaml`` always wins (confidence 1.0, ``source="config"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from segmint.exceptions import InputError

# field -> (required, synonyms); synonyms are compared after normalisation (lower, alnum only)
ROLE_FIELDS: dict[str, dict[str, tuple[bool, tuple[str, ...]]]] = {
    "transactions": {
        "customer_id": (
            True,
            (
                "customer",
                "customerid",
                "custid",
                "cust",
                "clientid",
                "client",
                "memberid",
                "userid",
                "accountid",
                "kundennummer",
                "kundenid",
                "kunde",
                "buyerid",
                "shopperid",
            ),
        ),
        "order_date": (
            True,
            (
                "date",
                "orderdate",
                "invoicedate",
                "transactiondate",
                "purchasedate",
                "datum",
                "bestelldatum",
                "timestamp",
                "createdat",
                "orderedat",
                "txdate",
                "saledate",
            ),
        ),
        "amount": (
            True,
            (
                "amount",
                "dollarvalue",
                "revenue",
                "sales",
                "value",
                "total",
                "ordervalue",
                "netamount",
                "grossamount",
                "umsatz",
                "betrag",
                "spend",
                "price",
                "totalprice",
                "salesamount",
                "orderamount",
                "linetotal",
            ),
        ),
        "order_id": (
            False,
            (
                "orderid",
                "invoiceno",
                "invoice",
                "invoiceid",
                "transactionid",
                "orderno",
                "ordernumber",
                "bestellnummer",
                "receiptid",
                "basketid",
            ),
        ),
        "quantity": (
            False,
            ("quantity", "qty", "numberofcds", "units", "items", "menge", "anzahl", "count"),
        ),
        "category": (
            False,
            ("category", "productcategory", "department", "kategorie", "productgroup", "segment"),
        ),
        "channel": (False, ("channel", "saleschannel", "kanal", "source", "storetype")),
        "discount": (False, ("discount", "discountamount", "rabatt", "promo", "couponvalue")),
    },
    "customers": {
        "customer_id": (
            True,
            (
                "customer",
                "customerid",
                "custid",
                "clientid",
                "memberid",
                "userid",
                "accountid",
                "kundennummer",
                "kundenid",
                "id",
            ),
        ),
    },
}


@dataclass(frozen=True)
class ColumnMatch:
    """One field of a role matched to a column of the file."""

    field: str
    column: str
    confidence: float
    source: str  # "config", "exact", "synonym" or "partial"


def normalise(name: str) -> str:
    """Lower-case a column name and keep letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def map_columns(
    columns: list[str],
    role: str,
    *,
    explicit: dict[str, str] | None = None,
    path: str = "",
) -> dict[str, ColumnMatch]:
    """Match ``columns`` of a file to the fields of ``role``.

    Parameters
    ----------
    columns : list of str
        Column names as found in the file.
    role : {"transactions", "customers"}
        What the file holds.
    explicit : dict, optional
        ``field -> column`` from the config; overrides detection.
    path : str
        File name, for error messages.

    Returns
    -------
    dict
        ``field -> ColumnMatch`` for every field found.

    Raises
    ------
    InputError
        A required field is not found, or an explicit mapping names a column the file lacks.
    """
    fields = ROLE_FIELDS[role]
    explicit = dict(explicit or {})
    matches: dict[str, ColumnMatch] = {}
    for field_name, column in explicit.items():
        if field_name not in fields and role == "transactions":
            raise InputError(
                f"{path}: the mapping names an unknown field '{field_name}' for {role}.",
                hint=f"Known fields: {', '.join(fields)}.",
            )
        if column not in columns:
            raise InputError(
                f"{path}: the mapping says {field_name} is column '{column}', "
                f"but the file has no such column.",
                hint=f"Columns in the file: {', '.join(columns)}.",
            )
        matches[field_name] = ColumnMatch(field_name, column, 1.0, "config")

    taken = {m.column for m in matches.values()}
    normalised = {c: normalise(c) for c in columns}
    for field_name, (_, synonyms) in fields.items():
        if field_name in matches:
            continue
        best: ColumnMatch | None = None
        for column, norm in normalised.items():
            if column in taken:
                continue
            if norm == normalise(field_name):
                candidate = ColumnMatch(field_name, column, 1.0, "exact")
            elif norm in synonyms:
                candidate = ColumnMatch(field_name, column, 0.9, "synonym")
            elif any(len(s) >= 4 and s in norm for s in synonyms):
                candidate = ColumnMatch(field_name, column, 0.6, "partial")
            else:
                continue
            if best is None or candidate.confidence > best.confidence:
                best = candidate
        if best is not None:
            matches[field_name] = best
            taken.add(best.column)

    missing = [f for f, (required, _) in fields.items() if required and f not in matches]
    if missing:
        raise InputError(
            f"{path}: no column found for {', '.join(missing)} ({role}).",
            hint=(
                f"Columns in the file: {', '.join(columns)}. Name them in segmint.yaml, e.g. "
                f"mapping: {{{role}: {{{missing[0]}: <column>}}}}."
            ),
        )
    return matches
