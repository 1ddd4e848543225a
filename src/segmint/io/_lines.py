"""Transaction logs as they come: returns, non-product lines and repeated lines.

Three policies shape a transaction log before any feature sees it, each a setting of
``segmint.yaml`` (``io:``, see :class:`segmint.config.IOConfig`):

*Returns* (:class:`ReturnRules`): a line is a return or cancellation when its order id starts
with a prefix (``C`` in the UCI Online Retail log), its status column says so (``cancelled``,
``returned``, ...), its quantity is negative or its value is negative (each rule can be switched
off). A return's value is stored negative (``-abs``), so it is netted out of monetary value and
never counts as a purchase.

*Exclusions* (:class:`ExcludeRule`): lines that are not products (postage ``POST``, manual
adjustments ``M``, ``BANK CHARGES``, ``AMAZONFEE``, bad-debt adjustments ``B``, discounts ``D``
in Online Retail's ``StockCode``) are removed by a rule on any column of the source: a list of
values or a regular expression. They go to the quarantine as ``excluded_line`` and the account
reports how many each rule removed and their value.

*Duplicates* (:data:`DuplicatePolicy`): a line that repeats an earlier one in every column is a
proven duplicate only when the log can tell lines apart: it has a product or line-number column,
or it is one row per order (no order id has two different rows). Otherwise the repeat may be a
second, identical purchase (two units of the same price on one invoice of an extract without
its product column) and is kept. ``drop`` (default) quarantines proven duplicates as
``duplicate_row`` and flags the unproven ones; ``flag`` keeps and flags both; ``keep`` keeps and
counts them. Count and value are reported whatever the policy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from segmint.exceptions import ConfigError

DuplicatePolicy = Literal["drop", "flag", "keep"]
DUPLICATE_POLICIES = ("drop", "flag", "keep")

#: Status values that mark a return or cancellation (compared trimmed, case-insensitive).
RETURN_STATUSES = (
    "cancelled",
    "canceled",
    "cancellation",
    "cancel",
    "returned",
    "return",
    "refund",
    "refunded",
    "credit",
    "credit note",
    "void",
    "voided",
    "reversed",
    "storniert",
    "storno",
    "retoure",
    "gutschrift",
)


@dataclass(frozen=True)
class ReturnRules:
    """How return and cancellation lines are recognised (any rule that applies marks one).

    Attributes
    ----------
    order_prefix : str or None
        An order id starting with this marks a cancellation (``"C"``: ``C536379``). Applied
        only when fewer than half the lines carry it: a log whose every order id starts with
        the letter uses it for something else (a warning says so).
    status_values : tuple of str
        Values of a mapped ``status`` column that mark a return (trimmed, case-insensitive).
    negative_quantity : bool
        A negative quantity marks a return.
    negative_amount : bool
        A negative value marks a return. Off, a negative line that no other rule marks is kept
        as a purchase line of negative value (a credit).
    """

    order_prefix: str | None = "C"
    status_values: tuple[str, ...] = RETURN_STATUSES
    negative_quantity: bool = True
    negative_amount: bool = True

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | ReturnRules | None) -> ReturnRules:
        """Rules from ``io.returns`` of ``segmint.yaml`` (defaults for what is not given)."""
        if data is None:
            return cls()
        if isinstance(data, ReturnRules):
            return data
        values = data.get("status_values", RETURN_STATUSES)
        return cls(
            order_prefix=data.get("order_prefix", "C") or None,
            status_values=tuple(str(v) for v in (values or ())),
            negative_quantity=bool(data.get("negative_quantity", True)),
            negative_amount=bool(data.get("negative_amount", True)),
        )


@dataclass(frozen=True)
class ExcludeRule:
    """Lines to remove because they are not products: a column and its values or a pattern.

    Attributes
    ----------
    column : str
        Column of the source (any column, mapped or not), e.g. ``StockCode``.
    values : tuple of str
        Values (trimmed, case-sensitive) that exclude a line.
    pattern : str, optional
        A regular expression (RE2, matched against the whole trimmed value) that excludes a
        line, e.g. ``(?i)postage|manual``.
    name : str, optional
        What the rule removes, for the account (default: the column and its values).
    """

    column: str
    values: tuple[str, ...] = ()
    pattern: str | None = None
    name: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | ExcludeRule) -> ExcludeRule:
        """A rule from one entry of ``io.exclude``."""
        if isinstance(data, ExcludeRule):
            return data
        if not data.get("column"):
            raise ConfigError(
                "an io.exclude rule has no column.",
                hint="Write e.g. io: {exclude: [{column: StockCode, values: [POST, M]}]}.",
            )
        return cls(
            column=str(data["column"]),
            values=tuple(str(v) for v in data.get("values") or ()),
            pattern=data.get("pattern") or None,
            name=data.get("name") or None,
        )

    @property
    def label(self) -> str:
        """The rule's name in the account: ``name``, else ``column in [values]`` / ``~ pattern``."""
        if self.name:
            return self.name
        parts = []
        if self.values:
            shown = ", ".join(self.values[:6]) + (", ..." if len(self.values) > 6 else "")
            parts.append(f"{self.column} in [{shown}]")
        if self.pattern:
            parts.append(f"{self.column} ~ {self.pattern}")
        return " or ".join(parts)


def exclude_rules(rules: Iterable[Mapping[str, Any] | ExcludeRule] | None) -> list[ExcludeRule]:
    """``io.exclude`` as rules; a rule with neither values nor a pattern is refused."""
    out = [ExcludeRule.from_mapping(r) for r in rules or ()]
    for i, rule in enumerate(out, start=1):
        if not rule.values and not rule.pattern:
            raise ConfigError(
                f"io.exclude rule {i} (column {rule.column}) has neither values nor a pattern.",
                hint="Give values: [POST, M] or pattern: '(?i)postage'.",
            )
    return out


def duplicate_policy(value: str | None) -> DuplicatePolicy:
    """``io.duplicates`` checked: ``drop``, ``flag`` or ``keep``."""
    policy = value or "drop"
    if policy not in DUPLICATE_POLICIES:
        raise ConfigError(
            f"io.duplicates is '{policy}'.", hint=f"Choose one of {', '.join(DUPLICATE_POLICIES)}."
        )
    return policy  # type: ignore[return-value]
