"""Validation with row accounting: every role, every reason, weights, outliers, PII hashing."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from segmint.exceptions import ConfigError
from segmint.io import (
    guess_role,
    hash_identifiers,
    identifier_columns,
    load_accounts,
    load_contacts,
    load_customers,
    load_events,
    load_survey,
    load_transactions,
    map_columns,
    read_source,
)

FUTURE = (date.today() + timedelta(days=30)).isoformat()


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def _load(con, tmp_path: Path, name: str, text: str, role: str, loader, **kw):
    path = tmp_path / name
    path.write_text(text)
    raw = read_source(con, path, f"raw_{role}")
    matches = map_columns(raw.columns, role, path=str(path))
    account = loader(con, raw, matches, **kw)
    assert account.n_read == account.n_used + account.n_quarantined
    return raw, account


def _quarantine(con, role: str) -> list[tuple]:
    return con.execute(
        "SELECT row, reason, column_name, value FROM quarantine WHERE role = ? ORDER BY row",
        [role],
    ).fetchall()


def test_transactions_every_reason_and_returns_kept(con, tmp_path: Path) -> None:
    _, customers = _load(
        con, tmp_path, "crm.csv", "customer_id,age\nC1,30\nC2,40\n", "customers", load_customers
    )
    assert customers.n_used == 2
    text = (
        "customer_id,order_id,order_date,amount\n"
        "C1,O1,2024-01-01,10.00\n"  # 1 ok
        ",O2,2024-01-01,10.00\n"  # 2 missing id
        "C1,O3,,10.00\n"  # 3 missing date
        "C1,O4,2024-02-31,10.00\n"  # 4 unparseable date
        f"C1,O5,{FUTURE},10.00\n"  # 5 future
        "C1,O6,2024-01-02,\n"  # 6 missing amount
        "C1,O7,2024-01-02,ten\n"  # 7 unparseable amount
        "C9,O8,2024-01-02,5.00\n"  # 8 unknown customer
        "C1,O1,2024-01-01,10.00\n"  # 9 duplicate of row 1
        "C2,O9,2024-01-03,-4.50\n"  # 10 a return: kept
        "C2,O10,2024-01-03,1,5\n"  # 11 malformed
    )
    _, account = _load(
        con,
        tmp_path,
        "tx.csv",
        text,
        "transactions",
        load_transactions,
        known_customers="customers",
    )
    assert account.n_read == 11 and account.n_used == 2
    assert _quarantine(con, "transactions") == [
        (2, "missing_customer_id", "customer_id", None),
        (3, "missing_date", "order_date", None),
        (4, "unparseable_date", "order_date", "2024-02-31"),
        (5, "future_date", "order_date", FUTURE),
        (6, "missing_amount", "amount", None),
        (7, "unparseable_amount", "amount", "ten"),
        (8, "unknown_customer", "customer_id", "C9"),
        (9, "duplicate_row", None, None),
        (11, "malformed_line", None, "too many columns: Expected Number of Columns: 4 Found: 5"),
    ]
    assert con.execute("SELECT _row, amount FROM transactions ORDER BY _row").fetchall() == [
        (1, 10.0),
        (10, -4.5),
    ]
    records = con.execute(
        "SELECT record FROM quarantine WHERE role = 'transactions' ORDER BY row"
    ).fetchall()
    assert all(r[0] for r in records)
    assert json.loads(records[3][0])["order_date"] == FUTURE


def test_outliers_are_flagged_not_dropped_unless_asked(con, tmp_path: Path) -> None:
    rows = "".join(f"C{i % 7},O{i},2024-01-{1 + i % 28:02d},{20 + i % 13}.50\n" for i in range(200))
    text = "customer_id,order_id,order_date,amount\n" + rows + "C1,OBIG,2024-01-15,2500000\n"
    _, account = _load(con, tmp_path, "tx.csv", text, "transactions", load_transactions)
    assert account.n_used == 201 and account.flagged == {"outlier_amount": 1}
    assert any("flagged" in w for w in account.warnings)
    assert con.execute("SELECT row, reason, value FROM flagged").fetchall() == [
        (201, "outlier_amount", "2500000")
    ]
    con.execute("DELETE FROM flagged")
    _, account = _load(
        con, tmp_path, "tx2.csv", text, "transactions", load_transactions, outliers="quarantine"
    )
    assert account.n_used == 200 and account.quarantined == {"outlier_amount": 1}


def test_ambiguous_day_month_is_reported_and_resolved_when_the_data_can(
    con, tmp_path: Path
) -> None:
    ambiguous = "customer_id,order_date,amount\nC1,01/02/2024,1\nC2,03/04/2024,2\n"
    _, account = _load(con, tmp_path, "a.csv", ambiguous, "transactions", load_transactions)
    assert account.date_format == "%d/%m/%Y"
    assert any("fits both %d/%m/%Y and %m/%d/%Y" in w for w in account.warnings)
    # one day above 12 anywhere in the column settles it (month first here)
    rows = "".join(f"C{i},0{1 + i % 9}/0{1 + i % 9}/2024,1\n" for i in range(30000))
    settled = "customer_id,order_date,amount\n" + rows + "C0,02/25/2024,1\n"
    _, account = _load(con, tmp_path, "b.csv", settled, "transactions", load_transactions)
    assert account.date_format == "%m/%d/%Y" and account.warnings == []
    assert account.n_used == 30001
    # an explicit format wins
    _, account = _load(
        con,
        tmp_path,
        "c.csv",
        ambiguous,
        "transactions",
        load_transactions,
        date_format="%m/%d/%Y",
    )
    assert con.execute(
        "SELECT CAST(order_date AS DATE)::VARCHAR FROM transactions ORDER BY _row"
    ).fetchall() == [("2024-01-02",), ("2024-03-04",)]


def test_numbers_in_both_conventions_and_never_misread(con, tmp_path: Path) -> None:
    text = (
        "customer_id;order_date;amount\n"
        "C1;2024-01-01;1.234,50\n"
        "C1;2024-01-01;12,5\n"
        "C1;2024-01-01;€ 3,20\n"
        "C1;2024-01-01;1.5\n"  # a dot decimal in a decimal-comma column: not read as 15
    )
    _, account = _load(con, tmp_path, "de.csv", text, "transactions", load_transactions)
    assert con.execute("SELECT amount FROM transactions ORDER BY _row").fetchall() == [
        (1234.5,),
        (12.5,),
        (3.2,),
    ]
    assert account.quarantined == {"unparseable_amount": 1}
    text = 'customer_id,order_date,amount\nC1,2024-01-01,"1,234.50"\nC1,2024-01-01,"1,5"\n'
    _, account = _load(con, tmp_path, "us.csv", text, "transactions", load_transactions)
    assert con.execute("SELECT amount FROM transactions").fetchall() == [(1234.5,)]
    assert account.quarantined == {"unparseable_amount": 1}


def test_customers_weights_ages_duplicates_and_emails(con, tmp_path: Path) -> None:
    text = (
        "customer_id,age,weight,email,email_consent\n"
        "C1,34,1.5,ann@example.org,true\n"
        "C2,150,1.0,bob@example.org,false\n"  # impossible age
        "C3,40,-1,cy@example.org,true\n"  # negative weight
        "C4,41,,dee@example.org,true\n"  # missing weight
        "C5,42,heavy,ed@example.org,true\n"  # not a number
        "C1,35,1.0,ann2@example.org,true\n"  # duplicate id: first kept
        "C6,43,0,broken-address,false\n"  # weight 0 is valid; bad e-mail is flagged
    )
    _, account = _load(con, tmp_path, "crm.csv", text, "customers", load_customers)
    assert account.mapping == {
        "customer_id": "customer_id",
        "email": "email",
        "weight": "weight",
        "age": "age",
    }
    assert account.quarantined == {
        "impossible_age": 1,
        "invalid_weight": 3,
        "duplicate_customer_id": 1,
    }
    assert account.flagged == {"invalid_email": 1}
    types = dict(
        con.execute("SELECT column_name, column_type FROM (DESCRIBE customers)").fetchall()
    )
    assert types["weight"] == "DOUBLE" and types["email_consent"] == "BOOLEAN"
    assert types["email"] == "VARCHAR"
    assert con.execute("SELECT customer_id, weight FROM customers ORDER BY _row").fetchall() == [
        ("C1", 1.5),
        ("C6", 0.0),
    ]


def test_events_loader(con, tmp_path: Path) -> None:
    text = (
        "user_id,timestamp,event_name,device,platform,os\n"
        "C1,2024-01-01 10:00:00,page_view,mobile,app,iOS\n"
        "C1,2024-01-01,add_to_cart,mobile,app,iOS\n"  # a date alone: midnight
        "C2,2024-01-01 10:00:00,,desktop,web,Windows\n"  # missing event type
        "C2,yesterday,page_view,desktop,web,Windows\n"
        "C1,2024-01-01 10:00:00,page_view,mobile,app,iOS\n"  # identical: kept, counted
    )
    _, account = _load(con, tmp_path, "ev.csv", text, "events", load_events)
    assert account.mapping == {
        "customer_id": "user_id",
        "event_time": "timestamp",
        "event_type": "event_name",
        "device": "device",
        "platform": "platform",
        "os": "os",
    }
    assert account.quarantined == {"missing_event_type": 1, "unparseable_date": 1}
    assert account.possible_duplicates == 1 and account.n_used == 3
    assert con.execute("SELECT event_time::VARCHAR FROM events ORDER BY _row").fetchall() == [
        ("2024-01-01 10:00:00",),
        ("2024-01-01 00:00:00",),
        ("2024-01-01 10:00:00",),
    ]


def test_survey_loader_with_weights_and_unknown_respondents(con, tmp_path: Path) -> None:
    _load(con, tmp_path, "crm.csv", "customer_id,age\nC1,30\nC2,31\n", "customers", load_customers)
    text = (
        "respondent_id,q1,q2,weight\n"
        "C1,4,5,1.2\n"
        "C2,3,,0.8\n"
        "C3,1,2,1.0\n"  # not a customer
        "C1,2,2,1.0\n"  # answered twice
        "C2,2,2,-0.1\n"
    )
    _, account = _load(
        con,
        tmp_path,
        "survey.csv",
        text,
        "survey",
        load_survey,
        known_customers="customers",
    )
    assert account.quarantined == {
        "unknown_customer": 1,
        "duplicate_customer_id": 1,
        "invalid_weight": 1,
    }
    survey = con.execute("SELECT customer_id, q1, q2, weight FROM survey ORDER BY _row").fetchall()
    assert survey == [("C1", 4.0, 5.0, 1.2), ("C2", 3.0, None, 0.8)]


def test_accounts_and_contacts(con, tmp_path: Path) -> None:
    accounts = (
        "account_id,company_name,industry,employees,annual_revenue,country,created_date\n"
        "A1,Acme,Manufacturing,250,12000000,DE,2020-05-01\n"
        "A2,Globex,Retail,-5,1000000,UK,2021-01-01\n"  # negative employees
        f"A3,Initech,Software,40,3000000,US,{FUTURE}\n"  # created in the future
        "A4,Hooli,Software,many,3000000,US,2021-01-01\n"  # not a number
        "A1,Acme again,Manufacturing,250,12000000,DE,2020-05-01\n"
        "A5,Umbrella,Pharma,90,,FR,2019-03-03\n"
    )
    _, account = _load(con, tmp_path, "acc.csv", accounts, "accounts", load_accounts)
    assert set(account.mapping) == {
        "account_id",
        "name",
        "industry",
        "employees",
        "annual_revenue",
        "country",
        "created_date",
    }
    assert account.quarantined == {
        "invalid_value": 2,
        "future_date": 1,
        "duplicate_account_id": 1,
    }
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE accounts)").fetchall())
    assert (types["employees"], types["annual_revenue"], types["created_date"]) == (
        "DOUBLE",
        "DOUBLE",
        "DATE",
    )
    contacts = (
        "contact_id,account_id,job_title,email\n"
        "P1,A1,CFO,cfo@acme.example\n"
        "P2,A1,Buyer,buyer@acme.example\n"
        "P3,,CEO,ceo@nowhere.example\n"  # no account
        "P4,A2,CTO,cto@globex.example\n"  # account was quarantined: unknown
        "P5,A5,Engineer,not-an-email\n"
    )
    _, account = _load(
        con,
        tmp_path,
        "contacts.csv",
        contacts,
        "contacts",
        load_contacts,
        known_accounts="accounts",
    )
    assert account.mapping["role"] == "job_title"
    assert account.quarantined == {"missing_account_id": 1, "unknown_account": 1}
    assert account.flagged == {"invalid_email": 1}
    assert con.execute("SELECT contact_id, role FROM contacts ORDER BY _row").fetchall() == [
        ("P1", "CFO"),
        ("P2", "Buyer"),
        ("P5", "Engineer"),
    ]


def test_role_is_guessed_from_the_demo_tables(demo_files) -> None:
    from segmint.io import inspect_source

    expected = {
        "transactions": "transactions",
        "customers": "customers",
        "events": "events",
        "survey": "survey",
    }
    for name, role in expected.items():
        header = demo_files[name].read_text().splitlines()[0].split(",")
        if name != "survey":
            assert guess_role(header)[0] == role, name
    # the survey looks like a customer table by its names; its 1-5 answers make it a survey
    assert inspect_source(demo_files["survey"])["role"] == "survey"
    assert guess_role(["account_id", "industry", "employees"])[0] == "accounts"
    assert guess_role(["contact_id", "account_id", "title", "email"])[0] == "contacts"
    assert guess_role(["colour", "size"])[0] is None


def test_mapping_never_takes_a_consent_flag_for_an_email() -> None:
    matches = map_columns(["customer_id", "email_consent", "weight_kg"], "customers")
    assert set(matches) == {"customer_id"}


def test_hash_identifiers_consistent_across_tables(con, tmp_path: Path) -> None:
    _, customers = _load(
        con,
        tmp_path,
        "crm.csv",
        "Kundennummer,email,age\nC1,Ann@Example.org ,30\nC2,bob@example.org,40\n,x@y.z,50\n",
        "customers",
        load_customers,
    )
    _, transactions = _load(
        con,
        tmp_path,
        "tx.csv",
        "customer_id,order_date,amount\nC1,2024-01-01,5\nC2,2024-01-02,7\nC1,bad,1\nC3,2024-01-01,1,9\n",
        "transactions",
        load_transactions,
    )
    before = con.execute(
        "SELECT count(*) FROM transactions t JOIN customers c USING (customer_id)"
    ).fetchall()
    columns = identifier_columns([customers, transactions])
    assert "Kundennummer" in columns and "email" in columns
    done = hash_identifiers(
        con,
        ["customers", "transactions", "raw_customers", "raw_transactions"],
        columns,
        salt="s3cret",
    )
    assert done["customers"] == ["customer_id", "email"]
    assert done["raw_customers"] == ["email", "Kundennummer"]
    after = con.execute(
        "SELECT count(*) FROM transactions t JOIN customers c USING (customer_id)"
    ).fetchall()
    assert after == before == [(2,)]
    expected = con.execute("SELECT sha256('s3cret' || 'C1')").fetchall()[0][0]
    ids = {r[0] for r in con.execute("SELECT customer_id FROM customers").fetchall()}
    assert expected in ids and all(len(i) == 64 for i in ids)
    email = con.execute("SELECT email FROM customers ORDER BY _row LIMIT 1").fetchall()[0][0]
    assert email == con.execute("SELECT sha256('s3cret' || 'ann@example.org')").fetchall()[0][0]
    dump = " ".join(
        str(v)
        for table in (
            "customers",
            "transactions",
            "raw_customers",
            "raw_transactions",
            "quarantine",
        )
        for row in con.execute(f"SELECT * FROM {table}").fetchall()
        for v in row
    )
    for secret in ("C1", "C2", "C3", "Ann@Example.org", "bob@example.org", "x@y.z"):
        assert secret not in dump.split() and f'"{secret}"' not in dump, secret
    with pytest.raises(ConfigError):
        hash_identifiers(con, ["customers"], ["customer_id"], salt="")


def test_logs_name_files_and_counts_never_values(con, tmp_path: Path, caplog) -> None:
    caplog.set_level("DEBUG", logger="segmint")
    _load(
        con,
        tmp_path,
        "crm.csv",
        "customer_id,email\nSECRET-ID-1,secret@example.org\n",
        "customers",
        load_customers,
    )
    text = caplog.text
    assert "crm.csv" in text
    assert "SECRET-ID-1" not in text and "secret@example.org" not in text


def test_ingest_source_loads_every_demo_table(con, demo_files, tmp_path: Path) -> None:
    from segmint.io import configure_connection, ingest_source

    configure_connection(con, memory_limit="256MB", temp_directory=tmp_path / "spill")
    _, customers = ingest_source(con, demo_files["customers"], "customers")
    accounts = [customers]
    for role in ("transactions", "events", "survey"):
        _, account = ingest_source(con, demo_files[role], role, known_customers="customers")
        accounts.append(account)
    for account in accounts:
        assert account.n_read == account.n_used + account.n_quarantined
        assert account.n_used > 0
    survey = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE survey)").fetchall())
    assert survey["weight"] == "DOUBLE" and survey["price_matters_most"] == "DOUBLE"
    assert accounts[1].mapping["order_id"] == "order_id"
    assert con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0].startswith("2")
