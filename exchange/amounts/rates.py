"""Contribution rates (rules/rates.toml, and rates the centre loads as master data): the model,
read and validated once; every number is a Decimal (TOML floats are parsed as Decimal)."""
from __future__ import annotations

import re
import tomllib
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable

from exchange.errors import ConfigError
from exchange.kinds.spec import CodeTable

ROUNDINGS = {"fen": Decimal("0.01"), "yuan": Decimal("1")}
ZERO = Decimal(0)


@dataclass(frozen=True)
class EmployeeRate:
    """One insurance's rates in force from `start` (YYYYMM) until its next entry."""
    insurance: str
    start: str
    unit_rate: Decimal = ZERO
    person_rate: Decimal = ZERO
    unit_amount: Decimal = ZERO       # a fixed sum per person and month (e.g. 大额医疗费用补助)
    person_amount: Decimal = ZERO


@dataclass(frozen=True)
class ResidentContribution:
    """The yearly individual contribution of some 人员类别, from year `start` on."""
    start: int
    categories: tuple[str, ...]
    amount: Decimal


@dataclass(frozen=True)
class Subsidy:
    """A subsidy that lowers a resident's contribution, from year `start` until the next entry
    of the same name. It applies to the listed categories, or to 计生补助 persons."""
    name: str
    start: int
    amount: Decimal
    categories: tuple[str, ...] = ()
    family_planning: bool = False


@dataclass(frozen=True)
class Collection:
    """The residents' collection period (征缴期), as MM-DD; `year` = next: what is collected in
    the period pays for the next year."""
    start: str = "09-01"
    end: str = "12-31"
    year: str = "next"               # next | same


@dataclass(frozen=True)
class Rates:
    rounding: str = "fen"
    employee: tuple[EmployeeRate, ...] = ()
    contributions: tuple[ResidentContribution, ...] = ()
    subsidies: tuple[Subsidy, ...] = ()
    collection: Collection = field(default_factory=Collection)
    default_category: str = "21"
    resident_insurance: str = "390"  # the insurance a resident's yearly contribution pays
    arrears_months: int = 24         # how far back computed arrears look at most
    _by_insurance: dict[str, tuple[list[str], list[EmployeeRate]]] = field(
        init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        grouped: dict[str, list[EmployeeRate]] = {}
        for r in sorted(self.employee, key=lambda r: r.start):     # stable: a later entry wins
            grouped.setdefault(r.insurance, []).append(r)
        object.__setattr__(self, "_by_insurance",
                           {ins: ([e.start for e in es], es) for ins, es in grouped.items()})

    @property
    def quantum(self) -> Decimal:
        return ROUNDINGS[self.rounding]

    def round(self, amount: Decimal) -> Decimal:
        """The centre's rounding, stated once in rates.toml: ROUND_HALF_UP to the fen or yuan."""
        return amount.quantize(self.quantum, rounding=ROUND_HALF_UP).quantize(Decimal("0.01"))

    @property
    def insurances(self) -> list[str]:
        return list(self._by_insurance)

    def employee_rate(self, insurance: str, month: str) -> EmployeeRate | None:
        """The rate of an insurance in force in `month` (YYYYMM), None before its first entry."""
        found = self._by_insurance.get(insurance)
        if not found:
            return None
        at = bisect_right(found[0], month)
        return found[1][at - 1] if at else None

    def segments(self, insurance: str) -> list[EmployeeRate]:
        """An insurance's entries in order of start (one per start month: the last given)."""
        entries = self._by_insurance.get(insurance, ([], []))[1]
        out: dict[str, EmployeeRate] = {}
        for e in entries:
            out[e.start] = e
        return list(out.values())

    def contribution(self, category: str, year: int) -> Decimal | None:
        best: ResidentContribution | None = None
        for c in self.contributions:
            if category in c.categories and c.start <= year and (best is None or c.start >= best.start):
                best = c
        return best.amount if best else None

    def subsidies_for(self, category: str, family_planning: bool, year: int) -> list[Subsidy]:
        """The subsidies a resident gets in `year`: per name, the latest entry in force."""
        latest: dict[str, Subsidy] = {}
        for sub in self.subsidies:
            if sub.start <= year and (sub.name not in latest or sub.start >= latest[sub.name].start):
                latest[sub.name] = sub
        return [sub for sub in latest.values()
                if category in sub.categories or (sub.family_planning and family_planning)]

    def contribution_year(self, day: Any) -> int:
        """The year a resident declared on `day` (a date) pays for."""
        mmdd = f"{day.month:02d}-{day.day:02d}"
        inside = self.collection.start <= mmdd <= self.collection.end
        return day.year + 1 if inside and self.collection.year == "next" else day.year

    def merged(self, employee: Iterable[EmployeeRate] = (),
               contributions: Iterable[ResidentContribution] = ()) -> "Rates":
        """These rates with entries the centre loaded: a loaded entry replaces the file's entry
        of the same insurance and month (or category and year)."""
        employee, contributions = list(employee), list(contributions)
        if not employee and not contributions:
            return self
        keys = {(e.insurance, e.start) for e in employee}
        kept = [e for e in self.employee if (e.insurance, e.start) not in keys]
        loaded = {(c.start, cat) for c in contributions for cat in c.categories}
        old = []
        for c in self.contributions:
            left = tuple(cat for cat in c.categories if (c.start, cat) not in loaded)
            if left:
                old.append(replace(c, categories=left))
        return replace(self, employee=tuple(kept + employee),
                       contributions=tuple(old + contributions))


# Reading rates.toml ------------------------------------------------------------------------------
def _month(value: Any, where: str) -> str:
    text = str(value)
    if not re.fullmatch(r"\d{6}", text) or not 1 <= int(text[4:]) <= 12:
        raise ConfigError(f"{where}: expected YYYYMM, got {value!r}")
    return text


def _money(value: Any, where: str, *, rate: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise ConfigError(f"{where}: expected a number, got {value!r}") from exc
    if not number.is_finite() or number < 0:
        raise ConfigError(f"{where}: must be a number not below 0, got {value!r}")
    if rate and number >= 1:
        raise ConfigError(f"{where}: a rate is a fraction below 1 (0.08 for 8%), got {value!r}")
    places = -number.as_tuple().exponent  # type: ignore[operator]
    if places > (6 if rate else 2):
        raise ConfigError(f"{where}: at most {6 if rate else 2} decimals, got {value!r}")
    return number


def _year(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 2999:
        raise ConfigError(f"{where}: expected a year such as 2026, got {value!r}")
    return value


def _keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")


def _categories(value: Any, table: CodeTable, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{where}: expected a list of resident_category codes")
    for code in value:
        if code not in {e.code for e in table.entries}:
            raise ConfigError(f"{where}: {code!r} not in table resident_category")
    return tuple(value)


def employee_rate(data: dict[str, Any], insurances: CodeTable, where: str) -> EmployeeRate:
    """One employee rate entry, checked (also used for rates loaded as master data)."""
    _keys(data, {"insurance", "from", "unit_rate", "person_rate", "unit_amount", "person_amount"},
          where)
    code = str(data.get("insurance", ""))
    if insurances.lookup(code) != code:
        raise ConfigError(f"{where}.insurance: {code!r} not in table insurance")
    return EmployeeRate(
        code, _month(data.get("from"), f"{where}.from"),
        *(_money(data.get(k, 0), f"{where}.{k}", rate=True) for k in ("unit_rate", "person_rate")),
        *(_money(data.get(k, 0), f"{where}.{k}") for k in ("unit_amount", "person_amount")))


def load_rates(path: Path, tables: dict[str, CodeTable]) -> Rates:
    """rules/rates.toml, validated: an error names the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    _keys(data, {"rounding", "employee", "resident", "arrears_months"}, str(path))
    arrears_months = data.get("arrears_months", 24)
    if isinstance(arrears_months, bool) or not isinstance(arrears_months, int) or \
            not 1 <= arrears_months <= 240:
        raise ConfigError(f"{path} arrears_months: expected a whole number of months 1-240, "
                          f"got {arrears_months!r}")
    rounding = data.get("rounding", "fen")
    if rounding not in ROUNDINGS:
        raise ConfigError(f"{path} rounding: expected one of {', '.join(ROUNDINGS)}, got {rounding!r}")
    employee = tuple(employee_rate(e, tables["insurance"], f"{path} employee[{i}]")
                     for i, e in enumerate(data.get("employee", [])))
    if not employee:
        raise ConfigError(f"{path}: no [[employee]] rates")
    resident = dict(data.get("resident", {}))
    where = f"{path} [resident]"
    _keys(resident, {"default_category", "insurance", "collection", "contribution", "subsidy"}, where)
    insurance = str(resident.get("insurance", "390"))
    if tables["insurance"].lookup(insurance) != insurance:
        raise ConfigError(f"{where}.insurance: {insurance!r} not in table insurance")
    categories = tables["resident_category"]
    default = str(resident.get("default_category", "21"))
    if categories.lookup(default) != default:
        raise ConfigError(f"{where}.default_category: {default!r} not in table resident_category")
    col = dict(resident.get("collection", {}))
    _keys(col, {"start", "end", "year"}, f"{where}.collection")
    for key in ("start", "end"):
        if key in col and not re.fullmatch(r"(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])", str(col[key])):
            raise ConfigError(f"{where}.collection.{key}: expected MM-DD, got {col[key]!r}")
    if col.get("year", "next") not in ("next", "same"):
        raise ConfigError(f"{where}.collection.year: expected next or same, got {col['year']!r}")
    collection = Collection(**{k: str(v) for k, v in col.items()})
    if collection.start > collection.end:
        raise ConfigError(f"{where}.collection: start {collection.start} after end {collection.end}")
    contributions = []
    for i, c in enumerate(resident.get("contribution", [])):
        at = f"{where}.contribution[{i}]"
        _keys(c, {"from", "categories", "amount"}, at)
        contributions.append(ResidentContribution(
            _year(c.get("from"), f"{at}.from"), _categories(c.get("categories"), categories,
                                                            f"{at}.categories"),
            _money(c.get("amount"), f"{at}.amount")))
    seen: dict[tuple[int, str], int] = {}
    for i, c in enumerate(contributions):
        for cat in c.categories:
            if (c.start, cat) in seen:
                raise ConfigError(f"{where}.contribution[{i}].categories: {cat!r} already has an "
                                  f"amount from {c.start} (contribution[{seen[(c.start, cat)]}])")
            seen[(c.start, cat)] = i
    subsidies = []
    for i, sub in enumerate(resident.get("subsidy", [])):
        at = f"{where}.subsidy[{i}]"
        _keys(sub, {"name", "from", "amount", "categories", "family_planning"}, at)
        name = sub.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}.name: a subsidy needs a name")
        fp = sub.get("family_planning", False)
        if not isinstance(fp, bool):
            raise ConfigError(f"{at}.family_planning: expected true or false")
        cats = _categories(sub.get("categories", []), categories, f"{at}.categories")
        if not cats and not fp:
            raise ConfigError(f"{at}: names no categories and is not family_planning")
        subsidies.append(Subsidy(name.strip(), _year(sub.get("from"), f"{at}.from"),
                                 _money(sub.get("amount"), f"{at}.amount"), cats, fp))
    return Rates(rounding, employee, tuple(contributions), tuple(subsidies), collection, default,
                 insurance, arrears_months)


__all__ = ["Rates", "EmployeeRate", "ResidentContribution", "Subsidy", "Collection", "load_rates",
           "employee_rate", "ROUNDINGS"]
