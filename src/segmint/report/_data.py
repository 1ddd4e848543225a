"""What an analyst reads about the data: the row accounting of each source as sentences.

The CLI summary (``segmint run``) and the report's data section say the same things, from the
same figures: the row accounting of :class:`segmint.io.SourceAccount` (as ``run.json`` holds it:
lines read, used and quarantined per reason, the value of the lines without a customer id, of the
duplicates and of the excluded lines, the purchases and returns of the lines used) and the
reconciliation of the lines' net value with the revenue of the segmented customers
(:func:`revenue_reconciliation`, computed in SQL on the loaded transactions). Nothing here
computes a figure from the data; it only writes them down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import pandas as pd

from segmint._money import money

#: What a quarantine reason means, as "<n> lines <label>".
REASON_LABELS = {
    "missing_customer_id": "without a customer id",
    "missing_date": "without an order date",
    "unparseable_date": "with a date that does not parse",
    "future_date": "dated in the future",
    "missing_amount": "without an amount",
    "unparseable_amount": "with an amount that does not parse",
    "implausible_amount": "with an implausible amount (a quadrillion or more)",
    "missing_quantity": "without a quantity",
    "unparseable_quantity": "with a quantity that does not parse",
    "missing_unit_price": "without a unit price",
    "unparseable_unit_price": "with a unit price that does not parse",
    "unknown_customer": "of customers not in the customer table",
    "outlier_amount": "with an outlier amount (io.outliers: quarantine)",
    "malformed_line": "that could not be parsed",
    "duplicate_row": "repeating an earlier line in every column",
    "excluded_line": "removed as non-product lines (io.exclude)",
}


def _pct(share: float) -> str:
    return f"{share * 100:.1f} %"


def _count(n: int, unit: str) -> str:
    return f"{n:,} {unit}{'' if n == 1 else 's'}"


def _reason_value(account: Mapping[str, Any], reason: str, n: int) -> float | None:
    """The value of the lines quarantined for ``reason`` when the account has it."""
    if reason == "missing_customer_id":
        missing = account.get("missing_customer_id") or {}
        if missing.get("lines") == n:
            return float(missing.get("value", 0.0))
    if reason == "duplicate_row":
        dups = account.get("duplicates") or {}
        if dups.get("action") == "quarantined" and dups.get("rows") == n:
            return float(dups.get("value", 0.0))
    if reason == "excluded_line":
        excluded = account.get("excluded") or {}
        if sum(int(e.get("lines", 0)) for e in excluded.values()) == n:
            return float(sum(float(e.get("value", 0.0)) for e in excluded.values()))
    return None


def _proof(dups: Mapping[str, Any]) -> str:
    """Why a repeated line is, or is not, taken for a duplicate."""
    proof = str(dups.get("proof") or "")
    if dups.get("proven"):
        return f"the log can tell lines apart ({proof})"
    return "the log cannot tell them from repeat purchases (" + proof.removeprefix("none: ") + ")"


def source_facts(
    account: Mapping[str, Any],
    currency: str | None = None,
    *,
    duplicate_policy: str = "drop",
    compact: bool = False,
) -> list[str]:
    """The sentences that say what happened to one source's rows, most important first.

    Parameters
    ----------
    account : mapping
        :meth:`segmint.io.SourceAccount.to_dict` (an entry of ``run.json``'s
        ``row_accounting``).
    currency : str, optional
        ISO 4217 code (``io.currency``) for the money; plain numbers without it.
    duplicate_policy : str
        ``io.duplicates`` of the run (said also when no line repeats).
    compact : bool
        Money as ``£1.45M`` (the CLI) rather than ``£1,447,682.12`` (the report).
    """
    transactions = account.get("role") == "transactions"
    unit = "line" if transactions else "row"

    def cash(value: float) -> str:
        return money(value, currency, compact=compact)

    out: list[str] = []
    dups = account.get("duplicates") or {}
    excluded = account.get("excluded") or {}
    reasons = sorted(
        (account.get("quarantined_by_reason") or {}).items(), key=lambda kv: (-kv[1], kv[0])
    )
    for reason, n in reasons:
        value = _reason_value(account, reason, n)
        if reason == "missing_customer_id" and value is not None:
            share = (account.get("missing_customer_id") or {}).get("value_share", 0.0)
            out.append(
                f"{_count(n, unit)} without a customer id ({cash(value)}, {_pct(share)} of the "
                "net value read) quarantined"
            )
        elif reason == "duplicate_row" and value is not None:
            out.append(
                f"{_count(n, 'duplicate ' + unit)} ({cash(value)}) quarantined (io.duplicates: "
                f"{dups.get('policy', duplicate_policy)}): each repeats an earlier line in every "
                f"column, and {_proof(dups)}"
            )
        elif reason == "excluded_line" and value is not None:
            rules = "; ".join(
                f"{name}: {_count(int(e['lines']), unit)} ({cash(e['value'])})"
                for name, e in excluded.items()
            )
            out.append(
                f"{_count(n, 'non-product ' + unit)} ({cash(value)}) quarantined by io.exclude: "
                f"{rules}"
            )
        else:
            label = REASON_LABELS.get(reason, reason.replace("_", " "))
            shown = f" ({cash(value)})" if value is not None else ""
            out.append(f"{_count(n, unit)} {label}{shown} quarantined")
    if transactions and dups.get("rows") and dups.get("action") != "quarantined":
        kept = "kept and flagged" if dups.get("action") == "kept and flagged" else "kept"
        policy = dups.get("policy", duplicate_policy)
        # drop removes proven copies only: say so where the log cannot prove them
        why = "drop removes proven copies only" if policy == "drop" else policy
        out.append(
            f"{_count(int(dups['rows']), unit)} repeating an earlier line in every column "
            f"({cash(dups.get('value', 0.0))}) {kept} and counted as purchases (io.duplicates: "
            f"{why}): {_proof(dups)}"
        )
    elif transactions and not dups.get("rows"):
        out.append(
            f"no line repeats an earlier one in every column (io.duplicates: {duplicate_policy})"
        )
    elif not transactions and account.get("possible_duplicates"):
        out.append(
            f"{_count(int(account['possible_duplicates']), unit)} identical to an earlier row "
            "kept (flagged as possible duplicates)"
        )
    if excluded and not any(int(e.get("lines", 0)) for e in excluded.values()):
        out.append("io.exclude removed no line (" + "; ".join(excluded) + ": 0)")
    value = account.get("value") or {}
    if transactions and value:
        n_ret = int(value.get("return_lines", 0))
        purchases = cash(value.get("purchases", 0.0))
        if n_ret:
            out.append(
                f"{_count(n_ret, 'return or cancellation line')} among the lines used "
                f"({cash(value.get('returns', 0.0))}) netted out: gross purchases {purchases} "
                f"({_count(int(value.get('purchase_lines', 0)), 'line')}) − returns "
                f"{money(abs(value.get('returns', 0.0)), currency, compact=compact)} = net "
                f"value {cash(value.get('net', 0.0))}"
            )
        else:
            out.append(
                f"no return or cancellation line among the lines used: net value {purchases}"
            )
    for reason, n in sorted((account.get("flagged") or {}).items()):
        if reason in ("duplicate_row", "possible_duplicate") and transactions:
            continue  # said with the duplicates
        if reason == "out_of_scale_answer":  # the items, scales and values: the warnings
            items = [w for w in account.get("warnings") or [] if reason in w]
            out.append(f"{_count(n, 'answer')} outside its item's scale: " + "; ".join(items))
            continue
        label = {
            "outlier_amount": "with an outlier amount",
            "invalid_email": "with an invalid e-mail",
        }.get(reason, reason.replace("_", " "))
        out.append(f"{_count(n, unit)} {label} kept and flagged for review (table 'flagged')")
    return out


def accounting_line(account: Mapping[str, Any]) -> str:
    """``read 541,909 lines = used 401,604 + quarantined 140,305``."""
    unit = "lines" if account.get("role") == "transactions" else "rows"
    return (
        f"read {account['read']:,} {unit} = used {account['used']:,} + quarantined "
        f"{account['quarantined']:,}"
    )


def revenue_reconciliation(
    con: duckdb.DuckDBPyConnection,
    segmented: pd.Series,
    snapshot: str,
    revenue: float,
    table: str = "transactions",
    customers: str = "customers",
) -> dict[str, Any]:
    """How the net value of the lines used becomes the revenue of the segmented customers.

    In SQL on the loaded transactions (exact decimal sums, as the row accounting): the net value
    of every line used, the lines of customers who are not segmented (split into customers with
    returns only, no purchase at all, and customers whose purchases all fall on or after the
    snapshot date) and the lines of segmented customers on or after the snapshot date, which
    no feature reads. ``unexplained`` is what remains between those figures and ``revenue``
    (the overview's figure); it is 0 when the features sum what the transactions hold. When
    the ``customers`` table is loaded, ``customers_without_purchase`` counts its customers who
    have no purchase before the snapshot and are not segmented (``customers_without_transaction``
    those of them with no transaction line at all): used rows of the customer table that appear
    in no output.
    """
    cols = {r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()}
    ret = "is_return" if "is_return" in cols else "amount < 0"
    con.register("_segmented_ids", pd.DataFrame({"customer_id": segmented.astype(str).unique()}))
    try:
        totals = con.execute(
            f"""
            WITH t AS (
                SELECT CAST(t.customer_id AS VARCHAR) AS customer_id, t.order_date,
                       CAST(t.amount AS DECIMAL(38, 10)) AS amt, ({ret}) AS ret,
                       s.customer_id IS NOT NULL AS seg
                FROM "{table}" t
                LEFT JOIN _segmented_ids s ON CAST(t.customer_id AS VARCHAR) = s.customer_id
            ), c AS (
                SELECT CASE WHEN bool_and(ret) THEN 'returns_only'
                            WHEN NOT bool_or(NOT ret AND order_date < CAST(? AS DATE))
                            THEN 'purchases_after_snapshot_only'
                            ELSE 'other_not_segmented' END AS kind,
                       count(*) AS lines, sum(amt) AS amt
                FROM t WHERE NOT seg GROUP BY customer_id
            )
            SELECT 'all', NULL, count(*), coalesce(sum(amt), 0) FROM t
            UNION ALL
            SELECT 'segmented_after_snapshot', NULL, count(*), coalesce(sum(amt), 0) FROM t
            WHERE seg AND order_date >= CAST(? AS DATE)
            UNION ALL
            SELECT kind, count(*), sum(lines), sum(amt) FROM c GROUP BY kind
            """,
            [snapshot, snapshot],
        ).fetchall()
        without = _customers_without_purchase(con, table, ret, snapshot, customers)
    finally:
        con.unregister("_segmented_ids")
    parts = {kind: (n, lines, amt) for kind, n, lines, amt in totals}
    _, lines, net = parts.pop("all")
    explained = net
    out: dict[str, Any] = {"lines": int(lines), "net_value": round(float(net), 2)}
    for kind in (
        "returns_only",
        "purchases_after_snapshot_only",
        "other_not_segmented",
        "segmented_after_snapshot",
    ):
        n, k_lines, amt = parts.get(kind, (0, 0, 0))
        explained -= amt
        out[kind] = {"lines": int(k_lines), "value": round(float(amt), 2)}
        if kind != "segmented_after_snapshot":
            out[kind]["customers"] = int(n or 0)
    out.update(
        segmented_customers=int(segmented.nunique()),
        segmented_value=round(float(explained), 2),
        revenue=round(float(revenue), 2),
        unexplained=round(float(revenue) - float(explained), 2),
        snapshot_date=str(snapshot),
    )
    if without is not None:
        out["customers_without_purchase"], out["customers_without_transaction"] = without
    return out


def _customers_without_purchase(
    con: duckdb.DuckDBPyConnection, table: str, ret: str, snapshot: str, customers: str
) -> tuple[int, int] | None:
    """Customers of the customer table with no purchase before the snapshot, who are not
    segmented (and, of them, those with no transaction line at all); None without the table."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    tables |= {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    if customers not in tables:
        return None
    n, none = con.execute(
        f"""
        WITH c AS (
            SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM "{customers}"
            WHERE customer_id IS NOT NULL
        ), b AS (
            SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM "{table}"
            WHERE NOT ({ret}) AND order_date < CAST(? AS DATE)
        ), a AS (SELECT DISTINCT CAST(customer_id AS VARCHAR) AS customer_id FROM "{table}")
        SELECT count(*), count(*) FILTER (WHERE a.customer_id IS NULL)
        FROM c LEFT JOIN b ON b.customer_id = c.customer_id
        LEFT JOIN a ON a.customer_id = c.customer_id
        LEFT JOIN _segmented_ids s ON s.customer_id = c.customer_id
        WHERE b.customer_id IS NULL AND s.customer_id IS NULL
        """,
        [snapshot],
    ).fetchall()[0]
    return int(n), int(none)


def customers_without_purchase(rec: Mapping[str, Any] | None) -> int | None:
    """``run.json``'s ``counts.customers_without_purchase``: None when not known (no customer
    table, or a sampled run without reconciliation)."""
    return rec.get("customers_without_purchase") if rec else None


def customers_without_purchase_sentence(rec: Mapping[str, Any]) -> str | None:
    """``120 customers of the customer table have no purchase before 2024-06-01 and are not
    segmented (95 of them have no transaction at all).``; None when there are none."""
    n = int(rec.get("customers_without_purchase") or 0)
    if not n:
        return None
    none = int(rec.get("customers_without_transaction") or 0)
    have = "has" if n == 1 else "have"
    text = (
        f"{_count(n, 'customer')} of the customer table {have} no purchase before "
        f"{rec['snapshot_date']} and {'is' if n == 1 else 'are'} not segmented"
    )
    if none == n:
        text += f" ({'it has' if n == 1 else 'they have'} no transaction at all)"
    elif none:
        text += f" ({none:,} of them {'has' if none == 1 else 'have'} no transaction at all)"
    return text + "."


def reconciliation_sentence(rec: Mapping[str, Any], currency: str | None = None) -> str:
    """One sentence from the net value of the lines used to the overview's revenue."""

    def cash(value: float) -> str:
        return money(value, currency)

    terms = [
        (
            rec["returns_only"],
            "who only returned goods (no purchase) and are not segmented",
        ),
        (
            rec["purchases_after_snapshot_only"],
            f"whose purchases all fall on or after the snapshot date {rec['snapshot_date']} "
            "and who are not segmented",
        ),
        (
            rec["other_not_segmented"],
            "with purchases before the snapshot date who are not segmented",
        ),
    ]
    text = (
        f"Net value of the {_count(rec['lines'], 'line')} used, {cash(rec['net_value'])} = "
        f"{cash(rec['segmented_value'])} net revenue of the "
        f"{_count(rec['segmented_customers'], 'segmented customer')}"
    )
    if abs(rec["unexplained"]) < 0.005:
        text += " (the overview's figure)"
    for part, what in terms:
        if part["customers"]:
            sign = "−" if part["value"] < 0 else "+"
            text += (
                f" {sign} {money(abs(part['value']), currency)} of the "
                f"{_count(part['lines'], 'line')} of {_count(part['customers'], 'customer')} "
                f"{what}"
            )
    after = rec["segmented_after_snapshot"]
    if after["lines"]:
        sign = "−" if after["value"] < 0 else "+"
        text += (
            f" {sign} {money(abs(after['value']), currency)} of "
            f"{_count(after['lines'], 'line')} of segmented customers on or after the snapshot "
            f"date {rec['snapshot_date']}, which no feature reads"
        )
    if abs(rec["unexplained"]) >= 0.005:
        text += (
            f"; the overview's net revenue is {cash(rec['revenue'])}, a difference of "
            f"{cash(rec['unexplained'])} that these figures do not explain"
        )
    without = customers_without_purchase_sentence(rec)
    return text + "." + (f" {without}" if without else "")
