"""Mapping the columns of a user's file to the roles segmint understands.

Each role (``transactions``, ``customers``, ``events``, ``survey``, ``accounts``, ``contacts``)
has canonical fields, some required. A file's columns are matched to fields by normalised name:
the canonical name itself (confidence 1.0), a known synonym in English or German (0.9), a name
that fits only weakly (0.7, :data:`WEAK_SYNONYMS`: a bare ``price`` as a unit price), or a name
that contains a synonym (0.6; not for the fields in :data:`EXACT_ONLY`). An explicit mapping from
``segmint.yaml`` always wins (confidence 1.0, ``source="config"``). Every match below
:data:`MIN_CONFIDENCE` is a warning naming the other candidate columns and the line of
``segmint.yaml`` that overrides it (:func:`mapping_warnings`).

A transaction log of invoice lines (order id, product, quantity, unit price) needs no amount
column: its line value is quantity × unit price (:func:`derives_amount`), and a unit-price column
is never taken for the amount where a quantity exists.

The fields of each role and their synonyms are in :mod:`segmint.io._role_fields`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from segmint.exceptions import InputError
from segmint.io._role_fields import (
    _CLOSED_ROLES,
    EXACT_ONLY,
    PARTIAL_SYNONYMS,
    ROLE_FIELDS,
    WEAK_SYNONYMS,
)

#: Mappings below this confidence are logged as warnings with the alternatives.
MIN_CONFIDENCE = 0.9


@dataclass(frozen=True)
class ColumnMatch:
    """One field of a role matched to a column of the file.

    ``alternatives`` are the other columns whose names also fit the field (best first), so a
    doubtful match can be shown with what else it could have been.
    """

    field: str
    column: str
    confidence: float
    source: str  # "config", "exact", "synonym", "weak" or "partial"
    alternatives: tuple[str, ...] = ()


class MappedColumnMissing(InputError):
    """An explicit mapping names a column the file lacks: ``field``, ``column`` and the file's
    ``columns`` (so that the command line can say which ``--map`` was wrong)."""

    def __init__(
        self, message: str, hint: str | None, *, field: str, column: str, columns: list[str]
    ) -> None:
        super().__init__(message, hint)
        self.field, self.column, self.columns = field, column, columns


def normalise(name: str) -> str:
    """Lower-case a column name and keep letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _candidate(field_name: str, column: str, synonyms: tuple[str, ...]) -> ColumnMatch | None:
    """How well the name ``column`` fits ``field_name`` (None: not at all)."""
    norm = normalise(column)
    if norm == normalise(field_name):
        return ColumnMatch(field_name, column, 1.0, "exact")
    if norm in synonyms:
        return ColumnMatch(field_name, column, 0.9, "synonym")
    if norm in WEAK_SYNONYMS.get(field_name, ()):
        return ColumnMatch(field_name, column, 0.7, "weak")
    partial = PARTIAL_SYNONYMS.get(field_name, synonyms)
    if field_name not in EXACT_ONLY and any(len(s) >= 4 and s in norm for s in partial):
        return ColumnMatch(field_name, column, 0.6, "partial")
    return None


def derives_amount(matches: dict[str, ColumnMatch]) -> bool:
    """True when a transaction log's line value is ``quantity × unit_price`` (no amount column)."""
    return "amount" not in matches and "unit_price" in matches and "quantity" in matches


def map_columns(
    columns: list[str],
    role: str,
    *,
    explicit: dict[str, str] | None = None,
    path: str = "",
) -> dict[str, ColumnMatch]:
    """Match ``columns`` of a file to the fields of ``role``.

    A column is matched to at most one field, the fields taking their best column in the order
    of :data:`ROLE_FIELDS` (a transaction log's ``unit_price`` before its ``amount``, so a unit
    price is never taken for a value). A transaction log needs an ``amount`` unless it has both
    a ``quantity`` and a ``unit_price``: the line value is then ``quantity × unit_price``
    (:func:`derives_amount`). With neither an amount nor a quantity, a unit-price column is the
    amount (confidence 0.6: a warning says so).

    Parameters
    ----------
    columns : list of str
        Column names as found in the file.
    role : {"transactions", "customers", "events", "survey", "accounts", "contacts"}
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
    if role not in ROLE_FIELDS:
        raise InputError(
            f"{path}: unknown role '{role}'.", hint=f"Roles: {', '.join(ROLE_FIELDS)}."
        )
    fields = ROLE_FIELDS[role]
    explicit = dict(explicit or {})
    matches = _explicit_matches(columns, role, fields, explicit, path)
    _match_by_name(columns, fields, matches)

    if role == "transactions" and "amount" not in matches and "unit_price" in matches:
        if "quantity" not in matches and "unit_price" not in explicit:
            price = matches.pop("unit_price")
            matches["amount"] = replace(
                price, field="amount", confidence=min(price.confidence, 0.6)
            )
    missing = [
        f
        for f, (required, _) in fields.items()
        if required and f not in matches and not (f == "amount" and derives_amount(matches))
    ]
    if missing:
        raise InputError(
            f"{path}: no column found for {', '.join(missing)} ({role}).",
            hint=(
                f"Columns in the file: {', '.join(columns)}. Name them in segmint.yaml, e.g. "
                f"mapping: {{{role}: {{{missing[0]}: <column>}}}}."
            ),
        )
    return matches


def _explicit_matches(
    columns: list[str],
    role: str,
    fields: dict[str, tuple[bool, tuple[str, ...]]],
    explicit: dict[str, str],
    path: str,
) -> dict[str, ColumnMatch]:
    """The matches the config names (``field -> column``), checked against the role's fields
    and the file's ``columns``."""
    matches: dict[str, ColumnMatch] = {}
    for field_name, column in explicit.items():
        if field_name not in fields and role in _CLOSED_ROLES:
            raise InputError(
                f"{path}: the mapping names an unknown field '{field_name}' for {role}.",
                hint=f"Known fields: {', '.join(fields)}.",
            )
        if column not in columns:
            raise MappedColumnMissing(
                f"{path}: the mapping says {field_name} is column '{column}', "
                f"but the file has no such column.",
                hint=f"Columns in the file: {', '.join(columns)}.",
                field=field_name,
                column=column,
                columns=list(columns),
            )
        matches[field_name] = ColumnMatch(field_name, column, 1.0, "config")
    return matches


def _match_by_name(
    columns: list[str],
    fields: dict[str, tuple[bool, tuple[str, ...]]],
    matches: dict[str, ColumnMatch],
) -> None:
    """Add to ``matches`` each field's best column by name, among the columns not yet taken, in
    the order of the role's fields."""
    taken = {m.column for m in matches.values()}
    for field_name, (_, synonyms) in fields.items():
        if field_name in matches:
            continue
        found = [c for c in (_candidate(field_name, col, synonyms) for col in columns) if c]
        # best first; ties keep the file's column order (sorted is stable)
        found.sort(key=lambda m: -m.confidence)
        free = [m for m in found if m.column not in taken]
        if not free:
            continue
        best = free[0]
        others = tuple(m.column for m in found if m.column != best.column)
        matches[field_name] = replace(best, alternatives=others)
        taken.add(best.column)


def mapping_warnings(
    matches: dict[str, ColumnMatch], role: str, *, threshold: float = MIN_CONFIDENCE
) -> list[str]:
    """One warning per mapping below ``threshold``: the column, the alternatives, the override.

    Returns
    -------
    list of str
        E.g. ``amount <- 'Price' (confidence 0.6, partial name match; other candidates:
        'Total'); if that is wrong, pass --map <column>=amount or set mapping:
        {transactions: {amount: <column>}} in segmint.yaml`` (``--map`` of ``segmint run`` and
        ``segmint inspect`` only for transactions).
    """
    out = []
    for name, match in matches.items():
        if match.confidence >= threshold:
            continue
        others = (
            "other candidates: " + ", ".join(f"'{c}'" for c in match.alternatives)
            if match.alternatives
            else "no other column fits the name"
        )
        cli = f"pass --map <column>={name} or " if role == "transactions" else ""
        out.append(
            f"{name} <- '{match.column}' (confidence {match.confidence:.1f}, {match.source} "
            f"name match; {others}); if that is wrong, {cli}set mapping: {{{role}: {{{name}: "
            f"<column>}}}} in segmint.yaml"
        )
    return out


def _evidence(match: ColumnMatch, synonyms: tuple[str, ...]) -> bool:
    if match.source != "partial":
        return True
    norm = normalise(match.column)
    return any(len(s) >= 5 and s in norm for s in synonyms)


# tie-break order when two roles fit a file equally well
_ROLE_ORDER = ("transactions", "customers", "events", "survey", "accounts", "contacts")


def guess_role(columns: list[str], *, likert_share: float = 0.0) -> tuple[str | None, dict]:
    """The role a file most likely plays, from its column names (and a hint from its values).

    Each role whose required fields are all found (partial matches count only through a
    synonym of five or more letters) scores twice the number of its required
    fields times their mean confidence, plus the confidences of its optional fields: a file that
    fits a specific role (three required fields of a transaction log) beats one that only has an
    id. ``likert_share`` (the share of columns holding small integers such as 1-5 answers) adds
    2 to ``survey`` when above one half.

    Returns
    -------
    (role or None, {role: score})
    """
    scores: dict[str, float] = {}
    for role, fields in ROLE_FIELDS.items():
        try:
            matches = map_columns(columns, role)
        except InputError:
            continue
        # a partial match on a short generic synonym ("date" in signup_date, "type" in
        # area_type) is no evidence that the file plays this role
        strong = {f: m for f, m in matches.items() if _evidence(m, fields[f][1])}
        required = [f for f, (req, _) in fields.items() if req]
        if role == "transactions" and derives_amount(strong):
            # the line value is quantity × unit price: both stand in for the amount
            value = min(strong["quantity"].confidence, strong["unit_price"].confidence)
            strong["amount"] = ColumnMatch("amount", strong["unit_price"].column, value, "derived")
        if any(f not in strong for f in required):
            continue
        mean_req = sum(strong[f].confidence for f in required) / len(required)
        optional = sum(m.confidence for f, m in strong.items() if not fields[f][0])
        score = 2 * len(required) * mean_req + optional
        if role == "survey" and likert_share > 0.5:
            score += 2
        scores[role] = round(score, 3)
    if not scores:
        return None, scores
    best = max(scores, key=lambda r: (scores[r], -_ROLE_ORDER.index(r)))
    return best, scores
