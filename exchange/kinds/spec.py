"""The data model of kinds, code tables, wage bounds and regional switches."""
from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterable

from exchange.text import INVISIBLE_CLASS

if TYPE_CHECKING:
    from exchange.amounts.rates import Rates

# A kind's `audience` whose people are insured residents or pupils (communities, schools), not staff.
RESIDENT_AUDIENCES = ("resident", "school")

COLUMN_TYPES = ("id", "name", "code", "codes", "month", "date", "wage", "text", "phone",
                "postcode", "serial", "class", "id_type", "amount", "email",
                "rate", "year")

_SEPARATORS = re.compile(r"[\s\-—–_:：.、/|]+")


_FOLDED = re.compile(r"[\s*＊\u3000]+|" + INVISIBLE_CLASS)    # and pasted invisible characters


@functools.lru_cache(maxsize=8192)
def normalise_label(text: str) -> str:
    """Fold full-width forms, drop spaces and required marks: how headers and labels compare.
    Remembered: every file folds the rules' hundreds of column names and kind titles again
    (header.known_names, map_columns, detect_kind)."""
    if text.isascii() and text.isalnum():        # codes such as "21": nothing to fold or drop
        return text.lower()
    text = unicodedata.normalize("NFKC", text)
    return _FOLDED.sub("", text).strip().lower()


@dataclass(frozen=True)
class CodeEntry:
    code: str
    label: str
    aliases: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        """As drop-downs and messages offer it: "21-本科" where the code is one clerks use (the
        registers' numbers), the label alone where it is a word of the program's (add, reset,
        employee_add): unit-facing text is Chinese. Both are read back."""
        return self.label if re.search(r"[a-z]", self.code) else f"{self.code}-{self.label}"


# A code followed by its label, as a cell holds it once normalised ("21-本科", "[21]本科",
# "21本科"): the code and the label; and the code's characters at the start of a cell.
CODE_WITH_LABEL = r"^[\[【(（]?([0-9a-z_]+)[\]】)）]?[\-—–_:：.、/|]*(.+)$"  # input grammar
CODE_RUN = r"^[\[【(（]?([0-9a-z_]+)"


@dataclass(frozen=True)
class CodeTable:
    name: str
    entries: tuple[CodeEntry, ...]
    _index: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for e in self.entries:
            for key in (e.code, e.label, *e.aliases):
                self._index.setdefault(normalise_label(key), e.code)
        # A code typed into a General cell lost its leading zero (01-汉族 became 1): the digits
        # still name it, unless they are another entry's code, label or alias.
        for e in self.entries:
            if e.code.isdigit() and e.code.startswith("0") and e.code.lstrip("0"):
                self._index.setdefault(e.code.lstrip("0"), e.code)

    def lookup(self, value: str) -> str | None:
        """The code for "21", "本科", "大学本科毕业" or "21-本科"; None when none fits."""
        key = normalise_label(value)
        if key in self._index:
            return self._index[key]
        # "21-本科", "21 本科", "[21]本科": a code followed by a label, both must agree; the code
        # is the whole run of code characters ("99" is no 9 labelled 9).
        m = re.match(CODE_WITH_LABEL, key)
        run = re.match(CODE_RUN, key)
        if m and run and run.group(1) == m.group(1):
            code = self._index.get(m.group(1))
            if code is not None and self._index.get(m.group(2)) == code:
                return code
            if code is not None and code == m.group(1) and self.label(code) and \
                    normalise_label(self.label(code)).startswith(m.group(2)):
                return code
        return None

    def label(self, code: str) -> str:
        for e in self.entries:
            if e.code == code:
                return e.label
        return ""

    def examples(self, n: int = 3) -> str:
        return "、".join(e.shown for e in self.entries[:n])

    def choices(self) -> list[str]:
        return [e.shown for e in self.entries]


@dataclass(frozen=True)
class ColumnSpec:
    field: str
    header: str
    type: str = "text"
    required: bool = False
    aliases: tuple[str, ...] = ()
    table: str | None = None
    default: str | None = None
    max_length: int | None = None
    record: str | None = None      # attribute of the person/unit record this column mirrors
    protected: bool = False        # locked in pre-filled templates
    example: str | None = None
    # Required only for the unit types a region switch names (REGION_SWITCHES), e.g. 户主身份证号
    # of resident_add where the region keeps household registers ("households").
    required_where: str | None = None
    # A class column that may name any class of the school (a transfer's target), where the
    # others name one of the sender's own classes (a department or class login's).
    any_class: bool = False
    # A line for the 说明 sheet beyond the type's rule (when a column optional in general is
    # required for some rows: 角色 for 新增).
    note: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.header, *self.aliases)


@dataclass(frozen=True)
class KindSpec:
    kind: str
    title: str
    label: str
    columns: tuple[ColumnSpec, ...]
    hints: tuple[str, ...] = ()
    audience: str = "employer"      # employer | resident | school | any: the wording of outputs
    # Unit types (rules/codes.toml [unit_type]) that may send the kind; `only_where` narrows
    # them to those a region switch names (a 户主信息表 only where households are kept).
    unit_types: tuple[str, ...] = ()
    only_where: str | None = None
    sub_accounts: bool = True       # a school's department and class logins may send it too
    subject: str = "person"         # person | unit | declaration | household
    action: str = "declare"         # declare | withdraw
    effect: str | None = None
    prefill: bool = False
    # A pre-filled row the clerk left as it was (every column but the locked ones blank) is
    # no declaration: read past and named in the receipt (a school moving one pupil with the
    # 学生转班表 of all its pupils, as the web page's 勾选, not 999 failed rows).
    skip_untouched: bool = False
    checks: tuple[str, ...] = ()
    change_fields: tuple[str, ...] = ()
    wage_month: str | None = None
    paid_month: str | None = None
    version: int = 1
    review: bool = True             # accepted rows wait for submission and centre review

    def column(self, field_name: str) -> ColumnSpec:
        for c in self.columns:
            if c.field == field_name:
                return c
        raise KeyError(field_name)

    def has(self, field_name: str) -> bool:
        return any(c.field == field_name for c in self.columns)

    @property
    def required(self) -> tuple[ColumnSpec, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def person_field(self) -> str | None:
        return "id_number" if self.subject == "person" and self.has("id_number") else None


@dataclass(frozen=True)
class WageBound:
    start: str   # YYYYMM
    low: int
    high: int


@dataclass(frozen=True)
class PhotoRules:
    width: int = 236
    height: int = 295
    min_width: int = 150
    min_height: int = 200
    quality: int = 90


# Region switches that name unit types (a kind's `only_where`, a column's `required_where`);
# "schools" is the one type every region has, whose students are each declared into a class.
REGION_SWITCHES = ("households", "schools")
# rules/codes.toml [unit_type]: 40 学校. Kindergartens and the like (Changchun "单位形式城镇居民")
# count as schools once they have classes (checks.resident.is_school).
SCHOOL_TYPE = "40"
SUBMISSION_MODES = ("nightly", "unit_confirms")


@dataclass(frozen=True)
class Region:
    person_must_be_on_file: bool = False
    arrears_block: tuple[str, ...] = ("employee_stop", "resident_suspend", "resident_renewal")
    default_insurances: tuple[str, ...] = ("310", "510")
    basic_insurance: str = "310"          # what every employee's 参保险种 includes
    photo: PhotoRules = field(default_factory=PhotoRules)
    # The type of a unit whose 单位类型 is not on file.
    default_unit_type: str = "10"
    # Unit types that keep household registers (户主信息表) and name a registered head on every
    # resident enrolment (Putian: communities).
    households: tuple[str, ...] = ("30",)
    # How pending declarations reach the centre (issue 16.5): "nightly", the submit_batches job
    # submits every unit's; "unit_confirms", each unit submits its own by sending back its
    # 待提交清单 (exchange.view.confirm) and the job submits nobody's.
    submission: str = "nightly"

    def switch(self, name: str) -> tuple[str, ...]:
        """The unit types a switch of REGION_SWITCHES names."""
        return (SCHOOL_TYPE,) if name == "schools" else tuple(getattr(self, name))


@dataclass(frozen=True)
class RuleSet:
    kinds: dict[str, KindSpec]
    tables: dict[str, CodeTable]
    bounds: tuple[WageBound, ...]
    region: Region
    master: dict[str, KindSpec] = field(default_factory=dict)
    rates: "Rates | None" = None      # rules/rates.toml (issue 17: money)

    def __post_init__(self) -> None:
        ordered = sorted(self.bounds, key=lambda b: b.start)      # stable: the last of a month wins
        object.__setattr__(self, "_bounds", ordered)
        object.__setattr__(self, "_starts", [b.start for b in ordered])

    def bound_for(self, month: str) -> WageBound | None:
        """The bounds in force in a month (YYYYMM): the latest to start by then."""
        at = bisect_right(self._starts, month)      # type: ignore[attr-defined]
        return self._bounds[at - 1] if at else None  # type: ignore[attr-defined]

    def unit_type(self, unit_type: str | None) -> str:
        return unit_type or self.region.default_unit_type

    def sender_types(self, kind: KindSpec) -> tuple[str, ...]:
        """The unit types that may send the kind."""
        if kind.only_where is None:
            return kind.unit_types
        switch = self.region.switch(kind.only_where)
        return tuple(t for t in kind.unit_types if t in switch)

    def allows(self, kind: KindSpec, unit_type: str | None) -> bool:
        """Whether a unit of this type may send the kind."""
        return self.unit_type(unit_type) in self.sender_types(kind)

    def for_unit_type(self, kind: KindSpec, unit_type: str | None) -> KindSpec:
        """The kind as a unit of this type fills it: columns required where the region says."""
        if not any(c.required_where for c in kind.columns):
            return kind
        typ = self.unit_type(unit_type)
        cache = self.__dict__.setdefault("_adapted", {})
        key = (kind.kind, typ)
        if key not in cache:
            columns = tuple(replace(c, required=typ in self.region.switch(c.required_where))
                            if c.required_where else c for c in kind.columns)
            cache[key] = replace(kind, columns=columns)
        adapted: KindSpec = cache[key]
        return adapted

    def serves_residents(self, unit_type: str | None) -> bool:
        """Whether a unit of this type insures residents (communities, schools) rather than
        staff: it may send no kind whose audience is employers."""
        return not any(k.audience == "employer" for k in self.kinds.values()
                       if self.allows(k, unit_type))

    def kinds_for_unit_type(self, unit_type: str | None) -> list[KindSpec]:
        """The kinds a unit of this type may send, as it fills them."""
        return [self.for_unit_type(k, unit_type) for k in self.kinds.values()
                if self.allows(k, unit_type)]
