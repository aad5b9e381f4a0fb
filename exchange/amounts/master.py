"""Money as master data: rates and resident contributions the centre loads (replacing
rules/rates.toml's entry of the same key), and payments (person, month, insurance, amount)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from exchange.amounts.rates import ZERO, EmployeeRate, Rates, ResidentContribution
from exchange.store.models import LoadedRate, Payment


def _upsert(s: Session, model: Any, keys: list[str], rows: list[dict[str, Any]]) -> tuple[int, int]:
    """INSERT … ON CONFLICT DO UPDATE on both backends; returns (new, replaced)."""
    if not rows:
        return 0, 0
    table: Table = model.__table__
    pk = [table.c[k] for k in keys]
    merged = {tuple(r[k] for k in keys): r for r in rows}     # a later row of the file wins
    known = 0
    items = list(merged.items())
    for i in range(0, len(items), 500):
        part = items[i:i + 500]
        if len(keys) == 1:
            cond = pk[0].in_([k[0] for k, _ in part])
        else:
            cond = tuple_(*pk).in_([k for k, _ in part])
        known += len(s.execute(select(*pk).where(cond)).all())
    insert = (postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert)
    values = [r for _, r in items]
    for i in range(0, len(values), 5000):
        stmt = insert(table).values(values[i:i + 5000])
        stmt = stmt.on_conflict_do_update(index_elements=pk, set_={
            c.name: stmt.excluded[c.name] for c in table.c if c.name not in keys})
        s.execute(stmt)
    return len(merged) - known, known


def upsert_payments(s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    now = datetime.now().replace(microsecond=0)
    return _upsert(s, Payment, ["id_number", "month", "insurance"], [
        {"id_number": r["id_number"], "month": r["month"], "insurance": r.get("insurance") or "",
         "amount": r["amount"], "unit_code": r.get("unit_code"), "loaded_at": now} for r in rows])


def upsert_rates(s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    now = datetime.now().replace(microsecond=0)
    return _upsert(s, LoadedRate, ["scheme", "code", "start"], [
        {"scheme": "employee", "code": r["insurance"], "start": r["start"],
         **{k: r.get(k) or ZERO for k in ("unit_rate", "person_rate", "unit_amount", "person_amount")},
         "amount": ZERO, "loaded_at": now} for r in rows])


def upsert_resident_rates(s: Session, rows: list[dict[str, Any]]) -> tuple[int, int]:
    now = datetime.now().replace(microsecond=0)
    return _upsert(s, LoadedRate, ["scheme", "code", "start"], [
        {"scheme": "resident", "code": r["category"], "start": str(r["year"]), "amount": r["amount"],
         "unit_rate": ZERO, "person_rate": ZERO, "unit_amount": ZERO, "person_amount": ZERO,
         "loaded_at": now} for r in rows])


LOADERS: dict[str, Callable[[Session, list[dict[str, Any]]], tuple[int, int]]] = {
    "payments": upsert_payments, "rates": upsert_rates, "resident_rates": upsert_resident_rates}


def rates_in_force(rates: Rates, s: Session) -> Rates:
    """rules/rates.toml with the entries the centre loaded in its place."""
    employee, contributions = [], []
    for r in s.scalars(select(LoadedRate)):
        if r.scheme == "employee":
            employee.append(EmployeeRate(r.code, r.start, *(Decimal(getattr(r, k)).normalize() for k in (
                "unit_rate", "person_rate", "unit_amount", "person_amount"))))
        else:
            contributions.append(ResidentContribution(int(r.start), (r.code,), Decimal(r.amount)))
    return rates.merged(employee, contributions)


__all__ = ["LOADERS", "rates_in_force", "upsert_payments", "upsert_rates", "upsert_resident_rates"]
