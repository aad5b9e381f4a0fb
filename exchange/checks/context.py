"""What checks may know: records of this file's persons, rules in force, today. Built per chunk."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from exchange.kinds.spec import KindSpec, RuleSet

INSURED, STOPPED = "1", "3"          # rules/codes.toml [person_status]: 参保, 终止


@dataclass(frozen=True)
class PersonRecord:
    id_number: str
    name: str
    person_no: str | None = None
    sex: str | None = None
    birth_date: str | None = None
    unit_code: str | None = None
    status: str | None = None
    insurances: tuple[str, ...] = ()
    paid_months: dict[str, str] = field(default_factory=dict)
    last_paid_month: str | None = None
    arrears: Decimal = Decimal(0)        # money: exact (issue 17)
    wage_base: int | None = None
    household_head: str | None = None
    class_code: str | None = None
    staff_no: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    stopped_after: str | None = None     # insured to the end of this month (YYYYMM), then 终止
    insured_from: str | None = None      # insured from this month (YYYYMM)

    @property
    def insured(self) -> bool:
        return self.status == INSURED

    def value(self, attribute: str) -> Any:
        if hasattr(self, attribute):
            return getattr(self, attribute)
        return self.extra.get(attribute)

    def paid_month(self, insurance: str) -> str | None:
        return self.paid_months.get(insurance) or self.last_paid_month


@dataclass(frozen=True)
class UnitRecord:
    code: str
    name: str
    unit_type: str | None = None
    arrears: Decimal = Decimal(0)        # money: exact (issue 17)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenDeclaration:
    serial: int
    kind: str
    status: str
    unit_code: str
    id_number: str | None = None
    fingerprint: str | None = None


@dataclass
class CheckContext:
    rules: RuleSet
    kind: KindSpec
    unit: UnitRecord
    today: date
    persons: dict[str, PersonRecord] = field(default_factory=dict)
    open_by_person: dict[str, OpenDeclaration] = field(default_factory=dict)
    imported: dict[str, int] = field(default_factory=dict)          # fingerprint -> serial
    declarations: dict[int, OpenDeclaration] = field(default_factory=dict)  # this unit's, for withdraw
    by_person: dict[str, list[OpenDeclaration]] = field(default_factory=dict)
    scope: frozenset[str] | None = None                              # classes a sub-account may touch

    @property
    def current_month(self) -> str:
        return f"{self.today.year:04d}{self.today.month:02d}"

    def person(self, values: dict[str, Any]) -> PersonRecord | None:
        number = values.get("id_number")
        return self.persons.get(number) if number else None
