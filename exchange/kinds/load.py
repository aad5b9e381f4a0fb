"""Read rules/ (kinds, code tables, wage bounds, regional switches), validating as we go."""
from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exchange.errors import ConfigError
from exchange.kinds.spec import (COLUMN_TYPES, REGION_SWITCHES, SUBMISSION_MODES, CodeEntry,
                                 CodeTable, ColumnSpec, KindSpec, PhotoRules, Region, RuleSet,
                                 WageBound)

if TYPE_CHECKING:
    from exchange.amounts.rates import Rates


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _build(cls: type, data: dict[str, Any], where: str, tuples: tuple[str, ...] = ()) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    values = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def load_tables(path: Path) -> dict[str, CodeTable]:
    tables = {}
    for name, body in _read(path).items():
        entries = []
        for i, entry in enumerate(body.get("entries", [])):
            if not (isinstance(entry, list) and len(entry) >= 2 and all(isinstance(x, str) for x in entry)):
                raise ConfigError(f"{path} [{name}].entries[{i}]: expected [code, label, aliases...]")
            entries.append(CodeEntry(entry[0], entry[1], tuple(entry[2:])))
        if not entries:
            raise ConfigError(f"{path} [{name}]: no entries")
        tables[name] = CodeTable(name, tuple(entries))
    return tables


def load_kind(path: Path, tables: dict[str, CodeTable]) -> KindSpec:
    data = _read(path)
    where = str(path)
    columns = []
    for i, col in enumerate(data.pop("columns", [])):
        spec = _build(ColumnSpec, col, f"{where} columns[{i}]", ("aliases",))
        if spec.type not in COLUMN_TYPES:
            raise ConfigError(f"{where} columns[{i}].type: {spec.type!r} is not one of {COLUMN_TYPES}")
        if spec.type in ("code", "codes") and spec.table not in tables:
            raise ConfigError(f"{where} columns[{i}].table: no code table {spec.table!r} in codes.toml")
        if spec.default is not None and spec.table and tables[spec.table].lookup(spec.default) is None:
            raise ConfigError(f"{where} columns[{i}].default: {spec.default!r} not in table {spec.table}")
        if spec.required_where is not None and spec.required_where not in REGION_SWITCHES:
            raise ConfigError(f"{where} columns[{i}].required_where: {spec.required_where!r} is not "
                              f"one of {REGION_SWITCHES}")
        columns.append(spec)
    if not columns:
        raise ConfigError(f"{where}: a kind needs [[columns]]")
    kind = _build(KindSpec, {**data, "columns": tuple(columns)}, where,
                  ("hints", "checks", "change_fields", "unit_types"))
    if kind.kind != path.stem:
        raise ConfigError(f"{where}: kind {kind.kind!r} must match the file name")
    _check_unit_types(tables, kind.unit_types, f"{where} unit_types")
    if kind.only_where is not None and kind.only_where not in REGION_SWITCHES:
        raise ConfigError(f"{where} only_where: {kind.only_where!r} is not one of {REGION_SWITCHES}")
    from exchange.checks.columnar_rows import ROW_RULES
    import exchange.checks.columnar_resident  # noqa: F401  (registers the resident kinds' rules)

    for name in kind.checks:
        if name not in ROW_RULES:
            raise ConfigError(f"{where} checks: unknown check {name!r}")
    for name in (*kind.change_fields, *(x for x in (kind.wage_month, kind.paid_month) if x)):
        if not kind.has(name):
            raise ConfigError(f"{where}: {name!r} names no column")
    return kind


def _check_unit_types(tables: dict[str, CodeTable], types: tuple[str, ...], where: str) -> None:
    for code in types:
        if tables["unit_type"].lookup(code) != code:
            raise ConfigError(f"{where}: {code!r} is not a code of table unit_type")


def load_bounds(path: Path) -> tuple[WageBound, ...]:
    bounds = []
    for i, b in enumerate(_read(path).get("bounds", [])):
        start = str(b.get("from", ""))
        if not re.fullmatch(r"\d{6}", start) or not 1 <= int(start[4:]) <= 12:
            raise ConfigError(f"{path} bounds[{i}].from: expected YYYYMM, got {start!r}")
        low, high = b.get("low"), b.get("high")
        if not (isinstance(low, int) and isinstance(high, int) and 0 < low <= high):
            raise ConfigError(f"{path} bounds[{i}]: low and high must be integers with 0 < low <= high")
        bounds.append(WageBound(start, low, high))
    if not bounds:
        raise ConfigError(f"{path}: no [[bounds]]")
    return tuple(sorted(bounds, key=lambda b: b.start))


def load_region(path: Path, tables: dict[str, CodeTable]) -> Region:
    data = dict(_read(path))
    photo = _build(PhotoRules, data.pop("photo", {}), f"{path} [photo]")
    region = _build(Region, {**data, "photo": photo}, str(path),
                    ("arrears_block", "default_insurances", "households"))
    _check_unit_types(tables, (region.default_unit_type,), f"{path} default_unit_type")
    _check_unit_types(tables, region.households, f"{path} households")
    if region.submission not in SUBMISSION_MODES:
        raise ConfigError(f"{path} submission: {region.submission!r} is not one of {SUBMISSION_MODES}")
    for code in region.default_insurances:
        if tables["insurance"].lookup(code) is None:
            raise ConfigError(f"{path} default_insurances: {code!r} not in table insurance")
    return region


def load_rules(rules_dir: Path) -> RuleSet:
    if not rules_dir.is_dir():
        raise ConfigError(f"{rules_dir}: no rules folder (run `exchange init`)")
    tables = load_tables(rules_dir / "codes.toml")
    kinds = {}
    for path in sorted((rules_dir / "kinds").glob("*.toml")):
        kind = load_kind(path, tables)
        if not kind.unit_types:
            raise ConfigError(f"{path}: unit_types names no unit type that may send the kind")
        kinds[kind.kind] = kind
    master = {}
    for path in sorted((rules_dir / "master").glob("*.toml")):
        spec = load_kind(path, tables)
        master[spec.kind] = spec
    from exchange.checks.resident import RENEWAL_BLOCK    # 续保: resident_add of a known person

    region = load_region(rules_dir / "region.toml", tables)
    known = sorted({*kinds, RENEWAL_BLOCK})
    for name in region.arrears_block:       # a typo would turn the block off without a word
        if name not in known:
            raise ConfigError(f"{rules_dir / 'region.toml'} arrears_block: {name!r} is not a kind "
                              f"(known: {', '.join(known)})")
    return RuleSet(kinds=kinds, tables=tables, bounds=load_bounds(rules_dir / "wages.toml"),
                   region=region, master=master, rates=_rates(rules_dir, tables))


def _rates(rules_dir: Path, tables: dict[str, CodeTable]) -> "Rates":
    """rules/rates.toml; an instance made before rates existed reads the shipped defaults."""
    from exchange.amounts.rates import load_rates
    from exchange.config import DEFAULTS

    path = rules_dir / "rates.toml"
    return load_rates(path if path.exists() else DEFAULTS / "rules" / "rates.toml", tables)
