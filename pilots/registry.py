"""The pilot registry (shared/spec/pilot-registry.md): load the YAML folder and enforce its rules."""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, NamedTuple

import yaml

from pilots.contract import ROLES
from pilots import registry_schema as schema
from pilots.defects import Text
from pilots.registry_rules import part, said
from pilots.fiscal import BE_OFFSET, fiscal_year_of


@dataclass(frozen=True)
class Agency:
    code: str
    name_th: str
    name_en: str
    ministry: str | None
    head_th: str | None = None  # the addressee of reminder letters (follow-up.md), optional
    head_en: str | None = None
    email: str | None = None    # for the reminders' mail merge, optional


@dataclass(frozen=True)
class Participant:
    code: str
    role: str  # lead | secondary | supporting | advisory
    no_reminders_until: date | None = None  # an agreed extension: no reminder while as_of <= it


@dataclass(frozen=True)
class Secretariat:
    """The office that sends reminder letters (secretariat.yaml, optional)."""
    name_th: str
    name_en: str
    letter_prefix: str             # document numbers are <letter_prefix>/<running number>
    address_th: str | None = None  # beyond the spec: the letterhead's address and contact line
    address_en: str | None = None
    phone: str | None = None
    # What a Thai external official letter shows under the closing (issue 23): the signer's name
    # and position (written in full, with its department), the division that owns the matter
    # (ส่วนราชการเจ้าของเรื่อง), and its fax and e-mail beside the telephone.
    signer_name_th: str | None = None
    signer_name_en: str | None = None
    signer_position_th: str | None = None
    signer_position_en: str | None = None
    division_th: str | None = None
    division_en: str | None = None
    fax: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Kpi:
    code: str
    name_th: str
    name_en: str
    unit: str          # percent | count | baht | days | score
    direction: str     # higher | lower
    aggregation: str   # last | sum
    weight: Decimal
    thresholds: dict[int, tuple[Decimal, Decimal, Decimal, Decimal, Decimal]]  # BE fiscal year -> t1..t5


@dataclass(frozen=True)
class Pilot:
    pilot_id: str
    name_th: str
    name_en: str
    layer: int
    strategies: tuple[int, ...]
    classification: str  # open | restricted
    start: date
    end: date
    report_due_days: int
    agencies: tuple[Participant, ...]
    kpis: tuple[Kpi, ...]

    @property
    def lead_agency_code(self) -> str:
        return next(p.code for p in self.agencies if p.role == "lead")

    def role_of(self, agency_code: str) -> str | None:
        return next((p.role for p in self.agencies if p.code == agency_code), None)

    def kpi(self, code: str) -> Kpi | None:
        return next((k for k in self.kpis if k.code == code), None)


@dataclass(frozen=True)
class Strategy:
    """One of the seven public-sector development strategies (strategies.yaml, optional)."""
    number: int
    name_th: str
    name_en: str


@dataclass(frozen=True)
class Registry:
    agencies: dict[str, Agency]
    pilots: dict[str, Pilot]
    content_sha256: str = field(default="")  # hash of the folder's YAML files, for ops.runs
    strategies: dict[int, Strategy] = field(default_factory=dict)  # empty without strategies.yaml
    secretariat: Secretariat | None = None

    def kpi_units(self) -> dict[tuple, str]:
        """What the normaliser and the checks need to know of a KPI line (pilots/kpi_units.py, read with
        kpi_unit): (pilot_id, kpi_code) -> unit for an open pilot; for a restricted one, whose units
        are for its lead's files only, (pilot_id,) -> its lead's code and
        (pilot_id, kpi_code, lead's code) -> unit."""
        units: dict[tuple, str] = {}
        for p in self.pilots.values():
            if p.classification == "restricted":
                lead = units[(p.pilot_id,)] = p.lead_agency_code
                units.update(((p.pilot_id, k.code, lead), k.unit) for k in p.kpis)
            else:
                units.update(((p.pilot_id, k.code), k.unit) for k in p.kpis)
        return units


@dataclass(frozen=True)
class RegistryProblem:
    file: str      # path relative to the registry folder
    subject: str   # the pilot, KPI or agency concerned, e.g. "PLT-2548-003 / K1"
    rule: str      # the rule broken, in words of pilot-registry.md (English)
    rule_th: str | None = None  # the same in Thai (pilots/registry_rules.yaml); None: English only

    def __str__(self) -> str:
        return self.said("en")

    def said(self, lang: str) -> str:
        """`file: subject: rule` in one language ('th' or 'en'). The file, the subject and the
        names of fields are written as the registry writes them, in both."""
        rule = self.rule_th if lang == "th" and self.rule_th else self.rule
        return f"{self.file}: {self.subject}: {rule}"


class RegistryError(Exception):
    """A broken registry: the run stops before anything is written."""

    def __init__(self, problems: list[RegistryProblem]):
        self.problems = problems
        super().__init__("broken registry:\n" + "\n".join(f"  - {p}" for p in problems))


# --- loading ---------------------------------------------------------------------------------

UNITS = ("percent", "count", "baht", "days", "score")
DIRECTIONS = ("higher", "lower")
AGGREGATIONS = ("last", "sum")
CLASSIFICATIONS = ("open", "restricted")
DEFAULT_REPORT_DUE_DAYS = 30
# One report per agency adds up to a pilot's budget totals; with this many agencies at most, and
# each report below 10^14 baht (pilots/checks.py), the totals stay below 10^16: DECIMAL(18,2).
MAX_AGENCIES_PER_PILOT = 100
# The longest text a registry field may hold (docs/registry.md says why): the registry's text is
# printed whole, on a letter's line and in a cell of reminders.csv, which Excel opens (32,767 at most).
MAX_TEXT = schema.MAX_TEXT
TEXT = part("text")  # what a text field must be: "non-empty text"
# What the other fields must be, as a problem says it: made once here, not per KPI and pilot on
# every load (about 6,000 texts formatted for 400 pilots that a valid registry never shows).
_UNIT_IS = part("one_of", choices=" | ".join(UNITS))
_DIRECTION_IS = part("choices", choices=" | ".join(DIRECTIONS))
_AGGREGATION_IS = part("choices", choices=" | ".join(AGGREGATIONS))
_CLASSIFICATION_IS = part("choices", choices=" | ".join(CLASSIFICATIONS))
_LAYER_IS = part("whole_from_to", low=1, high=5)
_STRATEGIES_ARE = part("distinct_list", low=1, high=7)
_STRATEGY_IS = part("whole_from_to", low=1, high=7)
_DATE_IS = part("ce_date")

# The keys each file may hold: declared, with their rules, in pilots/registry_schema.py (docs/registry.md).
_AGENCY_KEYS = schema.AGENCY.names()
_AGENCY_OPTIONAL_TEXT = ("ministry", "head_th", "head_en")
_PARTICIPANT_KEYS = schema.PARTICIPANT.names()
_SECRETARIAT_KEYS = schema.SECRETARIAT.names()
_SECRETARIAT_OPTIONAL_TEXT = ("address_th", "address_en", "phone", "signer_name_th", "signer_name_en",
                              "signer_position_th", "signer_position_en", "division_th", "division_en", "fax")
# One address, no display name or list: the mail merge puts it in a To: field as it is.
_EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")
_PILOT_KEYS = schema.PILOT.names()
_STRATEGY_KEYS = schema.STRATEGY.names()
_KPI_KEYS = schema.KPI.names()

Note = Callable[[str, Text], None]  # note(subject, said(rule, ...)): record one problem in the current file


fiscal_year = fiscal_year_of  # Thai fiscal year (BE) containing a date (pilots/fiscal.py)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # YAML `yes` is a bool, and bool is an int


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _names(v: Any, as_text: Callable[[Any], str] | None = None) -> bool:
    """Whether v can name the entry in a problem: text (or, with as_text, any value shown as text),
    not so long that the problem's line would hold a pasted page (MAX_TEXT)."""
    if as_text is not None:
        return v is not None and len(as_text(v)) <= MAX_TEXT
    return _is_text(v) and len(v) <= MAX_TEXT


def _ce_date(v: Any) -> date | None:
    """v as a CE date, or None. A datetime is a date too (refused); a year >= 2400 is a BE year typed
    by mistake. A date in quotes ("2004-10-01", which YAML reads as text) is taken as the same date:
    the secretariat quotes agency codes, and a quoted date means nothing else (docs/registry.md)."""
    if isinstance(v, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v):  # [0-9]: not Thai digits
        try:
            v = date(int(v[:4]), int(v[5:7]), int(v[8:]))
        except ValueError:  # 2005-02-30
            return None
    return v if isinstance(v, date) and not isinstance(v, datetime) and v.year < 2400 else None


def _is_ce_date(v: Any) -> bool:
    return _ce_date(v) is not None


def _text_number(v: Any, ok: Callable[[Decimal], bool], rule: Text) -> Text | None:
    """For a value YAML read as text where a number belongs (`2e3`, which YAML 1.1 reads as text
    without a dot; a quoted "40"): the advice to write it as a plain number when that number passes
    the field's rule (`ok`), else the rule a plain number must meet (`rule`: "-40" written -40
    would only be refused next); "" when the text is no number at all; None for any other value."""
    if not isinstance(v, str) or len(v) > MAX_TEXT:
        return None
    try:
        d = Decimal(v.strip())
    except ArithmeticError:  # decimal.InvalidOperation
        return ""
    if not d.is_finite():
        return ""
    return part("write_plainly", plain=format(d, "f")) if ok(d) else rule


def _number(v: Any) -> Decimal | None:
    """A YAML number as an exact Decimal (via str, so 0.1 stays 0.1), or None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    d = Decimal(str(v))
    return d if d.is_finite() else None


def _fits(d: Decimal, precision: int, scale: int) -> bool:
    """Whether d fits a DECIMAL(precision, scale) column without rounding."""
    return d.as_tuple().exponent >= -scale and (d == 0 or d.adjusted() < precision - scale)


def _field(d: dict, key: str, ok: Callable[[Any], bool], expect: Text, note: Note, subject: str) -> Any:
    """d[key] if present and ok, else None with a problem noted. Text is refused where it holds a
    character that every output would show as a stand-in (_shown_altered)."""
    value = d.get(key)
    if value is None:
        note(subject, said("field_missing", key=key))
        return None
    if not ok(value):
        note(subject, said("field_must_be", key=key, expect=expect))
        return None
    if isinstance(value, str) and (rule := _text_rule(value, key)):
        note(subject, rule)
        return None
    return value


def _text_rule(value: str, key: str) -> Text | None:
    """The rule a registry text breaks, if any: too long, or shown altered (_shown_altered)."""
    if len(value) > MAX_TEXT:
        return said("text_too_long", key=key, limit=MAX_TEXT, length=len(value))
    if _shown_altered(value, key):
        return said("text_shown_altered", key=key, value=value)
    return None


def _read_as(v: Any) -> Text | None:
    """What YAML made of an unquoted value meant as text: 0042 is the number 34 (octal), yes is true."""
    if isinstance(v, bool):
        return part("read_as_boolean", value=str(v).lower())
    if isinstance(v, (int, float)):
        return part("read_as_number", value=v)
    return None


def _code_field(d: dict, key: str, example: str, note: Note, subject: str) -> str | None:
    """A code that reports name (pilot_id, a KPI's code): text, as reports hold it, trimmed."""
    value = d.get(key)
    if (read := _read_as(value)) is not None:
        note(subject, said("code_read_as", key=key, read=read, example=example))
        return None
    value = _field(d, key, _is_text, TEXT, note, subject)
    if value is not None and value != value.strip():
        # pilots/normalise.py clean_text trims every report cell: "K1 " could never be named.
        note(subject, said("code_spaces", key=key, value=value, trimmed=value.strip()))
        return None
    return None if value is None else str(value)  # a plain str, not the loader's _Unquoted


# Keys whose text may run over lines (a postal address printed on the letter): a line feed kept.
_MULTILINE_TEXT = ("address_th", "address_en")


def _shown_altered(text: str, key: str = "") -> bool:
    """Whether text holds a C0 or C1 control, a bidi control, a line or paragraph separator (or a
    noncharacter): what warehouse.display.visible shows as a stand-in. The registry is the committee's
    text, printed in letters, summaries, `explain` and reminders.csv: a newline there starts a fake
    line, an ESC a terminal sequence, U+202E reorders what follows."""
    from warehouse.display import visible

    return visible(text, keep="\n" if key in _MULTILINE_TEXT else "") != text


def _unknown_keys(d: dict, allowed: set[str], note: Note, subject: str) -> None:
    # A misspelt optional key (report_due_day) would otherwise be silently ignored.
    for key in d:
        if key not in allowed:
            note(subject, said("unknown_field", key=key))


def _agency_code_problem(v: Any) -> Text | None:
    if v is None:
        return said("agency_code_missing")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        # Unquoted, 15001 is a number and 03007 even an octal one (1543): the leading zero is lost.
        return said("agency_code_number", value=v)
    if isinstance(v, _Unquoted) and re.fullmatch(r"[0-9]{5}", v):
        # Unquoted, 03009 is text to YAML 1.1 (9 is no octal digit) but the number 3009 to a YAML
        # 1.2 tool: the spec says "always quoted", so a code of five digits written without quotes
        # (or an explicit !!str) is refused. Any other unquoted code (ABCDE) is told its form below.
        return said("agency_code_unquoted", value=str(v))
    if isinstance(v, str) and v != v.strip() and re.fullmatch(r"[0-9]{5}", v.strip()):
        return said("agency_code_spaces", value=v)
    if isinstance(v, str) and len(v) > MAX_TEXT:
        return said("agency_code_long", length=len(v))
    if not (isinstance(v, str) and re.fullmatch(r"[0-9]{5}", v)):  # [0-9]: \d would accept Thai digits
        return said("agency_code_form", value=v)
    return None


# libyaml's parser with the safe constructor (the same types as yaml.safe_load): 7-8 times faster
# on 400 pilot files (measured 8.7-13.2 s against 1.1-1.8 s, bench/incremental.md).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_MERGE = "tag:yaml.org,2002:merge"


class _Unquoted(str):
    """The text of a `code:` written without quotes (a plain scalar) and without an explicit tag
    (`!!str 03009` is unambiguous to every YAML reader), as the loader marks it: an agency code must
    be quoted (_agency_code_problem). Compares and hashes as its str."""


_STR = "tag:yaml.org,2002:str"
# The tag the loader gives a plain scalar that YAML resolved as text by itself, constructed as str
# (the resolver under _Loader): the node of `!!str 03009` keeps _STR, its tag explicit, and so does
# a quoted one.
_PLAIN_STR = "tag:pilotkpi,2026:plain-str"


class _Loader(_LOADER):  # type: ignore[misc, valid-type]
    """_LOADER that also records every key written more than once in one mapping. YAML itself keeps
    the last one without a word: a second `agencies:` list would silently replace the first, a
    second `2548:` the thresholds above it. Keys a merge (`<<: *base`) brings in may be overridden."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.repeats: list[tuple[yaml.MappingNode, Any, list[int]]] = []  # (mapping, key, its lines)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        own = [k for k, _ in node.value if k.tag != _MERGE] if isinstance(node, yaml.MappingNode) else []
        merged = isinstance(node, yaml.MappingNode) and len(own) < len(node.value)
        mapping = super().construct_mapping(node, deep=deep)
        if type(mapping.get("code")) is str and isinstance(node, yaml.MappingNode):  # only a mapping with a code
            for key_node, value_node in node.value:
                if key_node.value == "code" and getattr(value_node, "tag", None) == _PLAIN_STR:
                    mapping["code"] = _Unquoted(mapping["code"])  # a plain scalar, no explicit tag
        if merged or len(own) > len(mapping):  # without a merge, fewer keys than written: a key came twice
            lines: dict[Any, list[int]] = {}
            for key_node in own:  # constructed already: construct_object answers from its cache
                lines.setdefault(self.construct_object(key_node, deep=True), []).append(key_node.start_mark.line + 1)
            self.repeats += [(node, key, at) for key, at in lines.items() if len(at) > 1]
        return mapping


# A plain scalar no other implicit resolver claims (a number, a date, null, a boolean) is _PLAIN_STR:
# the wildcard resolvers are tried last, for plain scalars only, and a node with an explicit tag is
# never resolved. (A regex match here, in C, costs less than a Python resolve() of our own.)
_Loader.add_implicit_resolver(_PLAIN_STR, re.compile(""), None)
_Loader.add_constructor(_PLAIN_STR, _Loader.construct_yaml_str)


class _Item(NamedTuple):
    """A step into a YAML list on the way to a repeated key: its position and the item's scalar
    fields (its code), so that the problem names the entry as the loaders do."""
    index: int  # 0-based
    fields: dict


@dataclass(frozen=True)
class _Repeat:
    path: tuple  # from the document's top to the mapping holding the key: keys and _Items
    key: Any
    lines: tuple[int, ...]


def _path_to(root: Any, target: Any, loader: _Loader) -> tuple:
    """The steps from root to the node target (depth first, each node once: an alias may loop)."""
    seen: set[int] = set()

    def walk(node: Any, path: tuple) -> tuple | None:
        if node is target:
            return path
        if id(node) in seen:
            return None
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            steps = [(loader.construct_object(k, deep=True) if isinstance(k, yaml.ScalarNode) else "?", v)
                     for k, v in node.value]
        elif isinstance(node, yaml.SequenceNode):
            steps = [(_Item(i, _scalar_fields(v, loader)), v) for i, v in enumerate(node.value)]
        else:
            return None
        for step, child in steps:
            if (found := walk(child, (*path, step))) is not None:
                return found
        return None

    return walk(root, ()) or ()


def _scalar_fields(node: Any, loader: _Loader) -> dict:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {loader.construct_object(k, deep=True): loader.construct_object(v, deep=True) for k, v in node.value
            if isinstance(k, yaml.ScalarNode) and isinstance(v, yaml.ScalarNode) and k.value in ("code", "number")}


def _parse_yaml(raw: bytes) -> tuple[Any, list[_Repeat]]:
    """The document, as yaml.load with _LOADER gives it, and the keys written twice in it."""
    loader = _Loader(raw)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
        repeats = [_Repeat(_path_to(root, node, loader), key, tuple(lines)) for node, key, lines in loader.repeats]
    finally:
        loader.dispose()
    return data, repeats


def _read_yaml(path: Path, rel: str, note: Note, subject: str, hashed: dict[str, bytes],
               entry: Callable[[Any, tuple], tuple[str, tuple]] | None = None) -> tuple[bool, Any]:
    """The file's YAML. A key written twice in one mapping is a problem noted under the entry that
    holds it: entry(data, path) gives the subject and the steps left within that entry."""
    try:
        raw = path.read_bytes()
        hashed[rel] = raw
        data, repeats = _parse_yaml(raw)
    except (OSError, yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. the date 2005-02-30
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        note(subject, said("yaml_unreadable_at", reason=reason, line=mark.line + 1) if mark else
             said("yaml_unreadable", reason=reason))
        return False, None
    for r in repeats:
        who, within = entry(data, r.path) if entry else (subject, r.path)
        note(who, _repeat_rule(r, within))
    return True, data


def _repeat_rule(r: _Repeat, within: tuple) -> Text:
    key = repr(r.key) if isinstance(r.key, str) else str(r.key)
    where = " / ".join(f"entry {s.index + 1}" if isinstance(s, _Item) else str(s) for s in within)
    lines = sorted(set(r.lines))
    at = part("line", line=lines[0]) if len(lines) == 1 else \
        part("lines", lines=", ".join(map(str, lines[:-1])), last=lines[-1])
    if where:
        return said("key_repeated_in", key=key, place=where, times=len(r.lines), at=at)
    return said("key_repeated", key=key, times=len(r.lines), at=at)


def _entry_of_list(name: Callable[[dict, int], str], whole: str) -> Callable[[Any, tuple], tuple[str, tuple]]:
    """For a file that is a list of entries (agencies.yaml, strategies.yaml): the entry as its loader
    names it; the file's own top (a mapping where a list belongs) by the file's subject."""
    def entry(data: Any, path: tuple) -> tuple[str, tuple]:
        if path and isinstance(path[0], _Item):
            return name(path[0].fields, path[0].index), path[1:]
        return whole, path
    return entry


def _pilot_entry(stem: str) -> Callable[[Any, tuple], tuple[str, tuple]]:
    """In a pilot file: the pilot as _load_pilot names it, a KPI as _load_kpis does, an agency of
    the pilot by its code."""
    def entry(data: Any, path: tuple) -> tuple[str, tuple]:
        pid = data.get("pilot_id") if isinstance(data, dict) else None
        pid = pid if _names(pid) else stem
        if len(path) >= 2 and isinstance(path[1], _Item) and path[0] in ("kpis", "agencies"):
            code, i = path[1].fields.get("code"), path[1].index + 1
            if path[0] == "kpis":
                return f"{pid} / {code if _names(code) else f'KPI #{i}'}", path[2:]
            return pid, (f"agency {code}" if _names(code, str) else f"agencies entry {i}", *path[2:])
        return pid, path
    return entry


def _load_agencies(data: Any, note: Note) -> dict[str, Agency] | None:
    """The agencies of agencies.yaml, or None when the file as a whole is unusable."""
    if not isinstance(data, list) or not data:
        note("agencies", said("agencies_not_list"))
        return None
    agencies: dict[str, Agency] = {}
    for i, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            note(f"entry {i}", said("agency_not_mapping"))
            continue
        subject = str(entry["code"]) if _names(entry.get("code"), str) else f"entry {i}"
        _unknown_keys(entry, _AGENCY_KEYS, note, subject)
        if problem := _agency_code_problem(entry.get("code")):
            note(subject, problem)
        name_th = _field(entry, "name_th", _is_text, TEXT, note, subject)
        name_en = _field(entry, "name_en", _is_text, TEXT, note, subject)
        optional = {}
        for key in _AGENCY_OPTIONAL_TEXT:
            optional[key] = entry.get(key)
            if optional[key] is not None and not _is_text(optional[key]):
                note(subject, said("optional_text", key=key))
                optional[key] = None
            elif optional[key] is not None and (rule := _text_rule(optional[key], key)):
                note(subject, rule)
                optional[key] = None
        email = entry.get("email")
        if isinstance(email, str) and len(email) > MAX_TEXT:
            note(subject, said("text_too_long", key="email", limit=MAX_TEXT, length=len(email)))
            email = None
        elif email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
            note(subject, said("email_form", value=email))
            email = None
        if problem or name_th is None or name_en is None:
            continue
        if subject in agencies:
            note(subject, said("agency_code_repeated"))
            continue
        agencies[subject] = Agency(subject, name_th, name_en, optional["ministry"], optional["head_th"],
                                   optional["head_en"], email)
    return agencies


def _load_strategies(data: Any, note: Note) -> dict[int, Strategy]:
    """The named strategies of strategies.yaml. Only names: which strategies a pilot serves stays in
    its own file, and a strategy without a name is shown by its number alone."""
    if not isinstance(data, list) or not data:
        note("strategies", said("strategies_not_list"))
        return {}
    strategies: dict[int, Strategy] = {}
    for i, entry in enumerate(data, 1):
        if not isinstance(entry, dict):
            note(f"entry {i}", said("strategy_not_mapping"))
            continue
        subject = f"strategy {entry['number']}" if _is_int(entry.get("number")) else f"entry {i}"
        _unknown_keys(entry, _STRATEGY_KEYS, note, subject)
        number = _field(entry, "number", lambda v: _is_int(v) and 1 <= v <= 7, _STRATEGY_IS, note, subject)
        name_th = _field(entry, "name_th", _is_text, TEXT, note, subject)
        name_en = _field(entry, "name_en", _is_text, TEXT, note, subject)
        if number in strategies:
            note(subject, said("strategy_repeated"))
        elif None not in (number, name_th, name_en):
            strategies[number] = Strategy(number, name_th, name_en)
    return dict(sorted(strategies.items()))


def _load_participants(raw: Any, known: set[str] | None, note: Note, pid: str) -> list[Participant]:
    if not isinstance(raw, list) or not raw:
        note(pid, said("participants_not_list"))
        return []
    parts: list[Participant] = []
    leads = 0
    for entry in raw:
        if not isinstance(entry, dict):
            note(pid, said("participant_not_mapping"))
            continue
        _unknown_keys(entry, _PARTICIPANT_KEYS, note, pid)
        code, role = entry.get("code"), entry.get("role")
        leads += role == "lead"
        if problem := _agency_code_problem(code):
            note(pid, problem)
        elif known is not None and code not in known:  # known is None: agencies.yaml already reported
            note(pid, said("agency_unknown", code=code))
        if role not in ROLES:
            note(pid, said("role_unknown", code=code, roles=" | ".join(ROLES)))
        until = entry.get("no_reminders_until")
        if until is not None and _ce_date(until) is not None:
            until = _ce_date(until)
        elif until is not None:
            # follow-up.md: an agreed extension, a CE date; advisory agencies get no reminders anyway
            note(pid, said("reminders_until_date", code=code))
            until = None
        if not problem and role in ROLES:
            parts.append(Participant(code, role, until))
    for code, n in Counter(p.code for p in parts).items():
        if n > 1:
            note(pid, said("agency_repeated_in_pilot", code=code, times=n))
    if leads != 1:
        note(pid, said("lead_count", found=leads))
    if len(entries_seen := {p.code for p in parts}) > MAX_AGENCIES_PER_PILOT:
        note(pid, said("too_many_agencies", limit=MAX_AGENCIES_PER_PILOT, found=len(entries_seen)))
    return parts


# Bounds the marts can compute with, checked here so that a registry the check accepts never fails
# a night (a verifier found both, 2026-12-07): a threshold times a sum KPI's share is cast to
# DECIMAL(38,12) (below 10^26), and marts.round4_div divides exactly while both sides stay below
# 8.5 x 10^21 (kpis/macros.sql): an actual between two thresholds below 10^20 keeps every
# difference below 2 x 10^20. A due date 2^31 days on is past DuckDB's dates; ten years is plenty.
THRESHOLD_LIMIT = Decimal(10) ** 20
MAX_REPORT_DUE_DAYS = 3650
# What a number written in quotes must be for the advice "write it <n>" (_text_number); when it
# is not, the advice is the rule itself, not a value the next load would refuse.
_WEIGHT_RULE = part("write_weight")
_THRESHOLD_RULE = part("write_threshold")
_PERCENT_THRESHOLD_RULE = part("write_percent_threshold")


def _weight_passes(d: Decimal) -> bool:
    return 0 < d <= 100 and _fits(d, 9, 4)  # above 100, the weights could not add up to 100


def _threshold_passes(d: Decimal, unit: Any) -> bool:
    """One threshold's own rules (the order of the five is theirs together, said apart)."""
    return abs(d) < THRESHOLD_LIMIT and _fits(d, 38, 10) and (unit != "percent" or 0 <= d <= 100)


def _load_thresholds(raw: Any, unit: Any, direction: Any, years: range | None, note: Note,
                     subject: str) -> dict[int, tuple[Decimal, ...]]:
    if not isinstance(raw, dict) or not raw:
        note(subject, said("thresholds_not_mapping"))
        return {}
    out: dict[int, tuple[Decimal, ...]] = {}
    for fy, values in raw.items():
        if not _is_int(fy) or fy < 2500:
            note(subject, said("threshold_year", offset=BE_OFFSET, year=fy))
            continue
        if not isinstance(values, list):  # `2548:` with nothing, or one number: not five
            note(subject, said("threshold_five", year=fy))
            continue
        nums = [_number(v) for v in values]
        rule = _PERCENT_THRESHOLD_RULE if unit == "percent" else _THRESHOLD_RULE
        texts = [(v, plain) for v, n in zip(values, nums)
                 if n is None and (plain := _text_number(v, lambda d: _threshold_passes(d, unit), rule)) is not None]
        if len(nums) == 5 and texts:  # 2e3 (YAML 1.1 wants 2.0e+3) or "20": text to YAML, said so
            note(subject, said("threshold_text", year=fy, value=texts[0][0], plain=texts[0][1]))
            continue
        if len(nums) != 5 or any(n is None for n in nums):
            note(subject, said("threshold_five", year=fy))
            continue
        pairs = list(zip(nums, nums[1:]))
        if direction == "higher" and not all(a < b for a, b in pairs):
            note(subject, said("threshold_increasing", year=fy))
        if direction == "lower" and not all(a > b for a, b in pairs):
            note(subject, said("threshold_decreasing", year=fy))
        if unit == "percent" and not all(0 <= n <= 100 for n in nums):
            note(subject, said("threshold_percent", year=fy))
        if not all(abs(n) < THRESHOLD_LIMIT for n in nums):
            note(subject, said("threshold_limit", year=fy))
        elif not all(_fits(n, 38, 10) for n in nums):
            note(subject, said("threshold_decimals", year=fy))
        out[fy] = tuple(nums)
    if years is not None:
        given = {fy for fy in raw if _is_int(fy)}
        if missing := [str(fy) for fy in years if fy not in given]:
            note(subject, said("threshold_years_missing", years=", ".join(missing)))
    return dict(sorted(out.items()))


def _load_kpis(raw: Any, years: range | None, note: Note, pid: str) -> list[Kpi]:
    if not isinstance(raw, list) or not raw:
        note(pid, said("kpis_not_list"))
        return []
    kpis: list[Kpi] = []
    weights: list[Decimal | None] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw, 1):
        code = entry.get("code") if isinstance(entry, dict) else None
        subject = f"{pid} / {code if _names(code) else f'KPI #{i}'}"
        if not isinstance(entry, dict):
            note(subject, said("kpi_not_mapping"))
            weights.append(None)
            continue
        _unknown_keys(entry, _KPI_KEYS, note, subject)
        code = _code_field(entry, "code", "K1", note, subject)
        if code is not None and not code.isprintable():  # a format character (U+200B…) as the pilot_id's rule
            note(subject, said("code_invisible", value=code))
            code = None
        if code in seen:
            note(subject, said("kpi_code_repeated"))
        seen.add(code)
        name_th = _field(entry, "name_th", _is_text, TEXT, note, subject)
        name_en = _field(entry, "name_en", _is_text, TEXT, note, subject)
        unit = _field(entry, "unit", lambda v: v in UNITS, _UNIT_IS, note, subject)
        direction = _field(entry, "direction", lambda v: v in DIRECTIONS, _DIRECTION_IS, note, subject)
        aggregation = _field(entry, "aggregation", lambda v: v in AGGREGATIONS, _AGGREGATION_IS, note, subject)
        weight = _number(entry.get("weight"))
        if weight is None and (plain := _text_number(entry.get("weight"), _weight_passes, _WEIGHT_RULE)) is not None:
            note(subject, said("weight_text", value=entry["weight"], plain=plain))  # "40" or 4e1: text to YAML
        elif weight is None or weight <= 0:
            note(subject, said("weight_positive"))
            weight = None
        elif not _fits(weight, 9, 4):
            note(subject, said("weight_decimals"))
        weights.append(weight)
        thresholds = _load_thresholds(entry.get("thresholds"), unit, direction, years, note, subject)
        if None not in (code, name_th, name_en, unit, direction, aggregation, weight):
            kpis.append(Kpi(code, name_th, name_en, unit, direction, aggregation, weight, thresholds))
    if None not in weights and (total := sum(weights, Decimal(0))) != 100:  # exact: Decimal, not float
        note(pid, said("weights_total", total=total))
    return kpis


def _load_pilot(data: Any, stem: str, known: set[str] | None, note: Note) -> Pilot | None:
    """The pilot of one file. Fields are None where a problem was noted: the caller then drops it."""
    if not isinstance(data, dict):
        note(stem, said("pilot_not_mapping"))
        return None
    pid = data.get("pilot_id")
    subject = pid if _names(pid) else stem
    _unknown_keys(data, _PILOT_KEYS, note, subject)
    pid = _code_field(data, "pilot_id", "PLT-2548-003", note, subject)
    if pid is not None and pid != stem:
        note(subject, said("pilot_file_name", pilot_id=pid))
    if pid is not None and (pid in (".", "..") or not pid.isprintable() or any(c in pid for c in "/\\")):
        # A pilot id may name a file (its own <pilot_id>.yaml, any per-pilot output): one plain
        # path component, printable. `..` or a backslash would be a path elsewhere.
        note(subject, said("pilot_id_path", value=pid))
    name_th = _field(data, "name_th", _is_text, TEXT, note, subject)
    name_en = _field(data, "name_en", _is_text, TEXT, note, subject)
    layer = _field(data, "layer", lambda v: _is_int(v) and 1 <= v <= 5, _LAYER_IS, note, subject)
    strategies = _field(
        data, "strategies",
        lambda v: isinstance(v, list) and v and all(_is_int(s) and 1 <= s <= 7 for s in v) and len(set(v)) == len(v),
        _STRATEGIES_ARE, note, subject)
    classification = _field(data, "classification", lambda v: v in CLASSIFICATIONS, _CLASSIFICATION_IS, note, subject)
    start = _ce_date(_field(data, "start", _is_ce_date, _DATE_IS, note, subject))
    end = _ce_date(_field(data, "end", _is_ce_date, _DATE_IS, note, subject))
    years = None
    if start and end:
        if start < end:
            years = range(fiscal_year(start), fiscal_year(end) + 1)
        else:
            note(subject, said("start_before_end"))
    due = data.get("report_due_days")
    if due is None:
        due = DEFAULT_REPORT_DUE_DAYS
    elif not (_is_int(due) and due > 0):
        note(subject, said("due_days_positive"))
    elif due > MAX_REPORT_DUE_DAYS:
        note(subject, said("due_days_max", limit=MAX_REPORT_DUE_DAYS))
    parts = _load_participants(data.get("agencies"), known, note, subject)
    kpis = _load_kpis(data.get("kpis"), years, note, subject)
    return Pilot(subject, name_th, name_en, layer, tuple(strategies or ()), classification, start, end, due,
                 tuple(parts), tuple(kpis))


def _load_secretariat(data: Any, note: Note) -> Secretariat | None:
    """secretariat.yaml (pilot-registry.md): the office that signs the reminder letters."""
    if not isinstance(data, dict):
        note("secretariat", said("secretariat_not_mapping"))
        return None
    _unknown_keys(data, _SECRETARIAT_KEYS, note, "secretariat")
    values = {key: _field(data, key, _is_text, TEXT, note, "secretariat")
              for key in ("name_th", "name_en", "letter_prefix")}
    for key in _SECRETARIAT_OPTIONAL_TEXT:
        values[key] = data.get(key)
        if values[key] is not None and not _is_text(values[key]):
            note("secretariat", said("optional_text", key=key))
            values[key] = None
        elif values[key] is not None and (rule := _text_rule(values[key], key)):
            note("secretariat", rule)
            values[key] = None
    values["email"] = data.get("email")
    if isinstance(values["email"], str) and len(values["email"]) > MAX_TEXT:
        note("secretariat", said("text_too_long", key="email", limit=MAX_TEXT, length=len(values["email"])))
        values["email"] = None
    elif values["email"] is not None and not (isinstance(values["email"], str) and _EMAIL.fullmatch(values["email"])):
        note("secretariat", said("email_form", value=values["email"]))
        values["email"] = None
    for lang in ("th", "en"):  # a name under the signature without its position, or the reverse, is half a signature
        name, position = f"signer_name_{lang}", f"signer_position_{lang}"
        if (data.get(name) is None) != (data.get(position) is None):
            note("secretariat", said("signer_pair", name=name, position=position))
    if None in (values["name_th"], values["name_en"], values["letter_prefix"]):
        return None
    return Secretariat(**values)


_LAST: dict[tuple[str, str], Registry] = {}  # the last registry loaded, by folder and its files' bytes


def _files_digest(folder: Path) -> str | None:
    """SHA-256 over the names and bytes of every file load_registry reads or looks for; None when
    one cannot be read (the load then says why)."""
    h = hashlib.sha256()
    try:
        names = ["agencies.yaml", "strategies.yaml", "secretariat.yaml", "secretariat.yml"]
        pilots_dir = folder / "pilots"
        if pilots_dir.is_dir():
            names += sorted(f"pilots/{p.name}" for p in pilots_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        for name in names:
            path = folder / name
            data = path.read_bytes() if path.is_file() else None
            h.update(f"{name}\0{-1 if data is None else len(data)}\0".encode() + (data or b""))
    except OSError:
        return None
    return h.hexdigest()


def loaded_registry(folder: str | Path) -> Registry | None:
    """The registry load_registry gave this process for `folder`, if its files still hold the
    same bytes; None otherwise (nothing is parsed: a forked reader must not spend a second on it)."""
    folder = Path(folder)
    digest = _files_digest(folder) if folder.is_dir() else None
    return _LAST.get((str(folder.resolve()), digest)) if digest is not None else None


def load_registry(folder: str | Path) -> Registry:
    """Read agencies.yaml, pilots/*.yaml and the optional secretariat.yaml, check every rule, and
    return the registry.

    Raises RegistryError listing every problem found.

    A process that loads the same folder again with the same bytes gets the registry it loaded
    last (frozen; nothing changes it): `pilotkpi run` checks the registry before Prefect starts and
    the job loads it again, which cost a second parse of every pilot's YAML (about 1 s at 400 pilots).
    """
    folder = Path(folder)
    digest = _files_digest(folder) if folder.is_dir() else None
    key = (str(folder.resolve()), digest or "")
    if digest is not None and key in _LAST:
        return _LAST[key]
    registry = _load_registry(folder)
    if digest is not None:
        _LAST.clear()
        _LAST[key] = registry
    return registry


def _load_registry(folder: Path) -> Registry:
    problems: list[RegistryProblem] = []
    hashed: dict[str, bytes] = {}

    def noter(rel: str) -> Note:
        return lambda subject, rule: problems.append(RegistryProblem(rel, subject, rule.en, rule.th))

    if not folder.is_dir():
        missing = said("folder_missing", folder=folder)
        raise RegistryError([RegistryProblem(".", "registry", missing.en, missing.th)])

    agencies, known = None, None  # known: codes listed, valid or not, so one bad entry is reported once
    note = noter("agencies.yaml")
    if not (folder / "agencies.yaml").is_file():
        note("registry", said("agencies_file_missing"))
    else:
        ok, data = _read_yaml(folder / "agencies.yaml", "agencies.yaml", note, "agencies", hashed, _entry_of_list(
            lambda e, i: str(e["code"]) if _names(e.get("code"), str) else f"entry {i + 1}", "agencies"))
        if ok and (agencies := _load_agencies(data, note)) is not None:
            known = {str(e.get("code")).strip() for e in data if isinstance(e, dict)}  # " 15001": reported once

    strategies: dict[int, Strategy] = {}
    if (folder / "strategies.yaml").is_file():  # optional: without it strategies show as numbers
        note = noter("strategies.yaml")
        ok, data = _read_yaml(folder / "strategies.yaml", "strategies.yaml", note, "strategies", hashed, _entry_of_list(
            lambda e, i: f"strategy {e['number']}" if _is_int(e.get("number")) else f"entry {i + 1}", "strategies"))
        if ok:
            strategies = _load_strategies(data, note)
    secretariat = None
    if (folder / "secretariat.yml").exists():  # would otherwise be silently skipped
        noter("secretariat.yml")("secretariat", said("secretariat_file_yml"))
    if (folder / "secretariat.yaml").exists():  # optional: without it letters are signed generically
        note = noter("secretariat.yaml")
        ok, data = _read_yaml(folder / "secretariat.yaml", "secretariat.yaml", note, "secretariat", hashed)
        if ok:
            secretariat = _load_secretariat(data, note)

    pilots: dict[str, Pilot] = {}
    files_of: dict[str, str] = {}
    pilots_dir = folder / "pilots"
    if not pilots_dir.is_dir():
        noter("pilots")("registry", said("pilots_folder_missing"))
    else:
        for stray in sorted(pilots_dir.glob("*.yml")):  # would otherwise be silently skipped
            noter(f"pilots/{stray.name}")(stray.stem, said("pilot_file_yml"))
        paths = sorted(p for p in pilots_dir.glob("*.yaml") if p.is_file())
        if not paths:
            noter("pilots")("registry", said("pilots_folder_empty"))
        for path in paths:
            rel = f"pilots/{path.name}"
            note = noter(rel)
            before = len(problems)
            ok, data = _read_yaml(path, rel, note, path.stem, hashed, _pilot_entry(path.stem))
            pilot = _load_pilot(data, path.stem, known, note) if ok else None
            if pilot is None:
                continue
            if pilot.pilot_id in files_of:
                note(pilot.pilot_id, said("pilot_id_repeated", file=files_of[pilot.pilot_id]))
            files_of.setdefault(pilot.pilot_id, rel)
            if len(problems) == before:
                pilots[pilot.pilot_id] = pilot

    if problems:
        raise RegistryError(problems)
    digest = hashlib.sha256()
    for rel in sorted(hashed):  # path and length framing: no two folders hash alike by concatenation
        digest.update(f"{rel}\0{len(hashed[rel])}\0".encode())
        digest.update(hashed[rel])
    return Registry(dict(sorted(agencies.items())), dict(sorted(pilots.items())), digest.hexdigest(),
                    strategies=strategies, secretariat=secretariat)


# --- warehouse rows --------------------------------------------------------------------------

def registry_rows(registry: Registry) -> dict[str, list[dict]]:
    """The registry as rows of the registry.* tables (warehouse/migrations/0001_initial.sql)."""
    pilots = registry.pilots.values()
    return {
        "registry.agencies": [
            {"agency_code": a.code, "name_th": a.name_th, "name_en": a.name_en, "ministry": a.ministry,
             "head_th": a.head_th, "head_en": a.head_en, "email": a.email}
            for a in registry.agencies.values()
        ],
        "registry.pilots": [
            {"pilot_id": p.pilot_id, "name_th": p.name_th, "name_en": p.name_en, "layer": p.layer,
             "strategies": list(p.strategies), "classification": p.classification, "start_date": p.start,
             "end_date": p.end, "lead_agency_code": p.lead_agency_code, "report_due_days": p.report_due_days}
            for p in pilots
        ],
        "registry.pilot_agencies": [
            {"pilot_id": p.pilot_id, "agency_code": a.code, "role": a.role, "no_reminders_until": a.no_reminders_until}
            for p in pilots for a in p.agencies
        ],
        "registry.secretariat": [
            {"name_th": s.name_th, "name_en": s.name_en, "letter_prefix": s.letter_prefix, "address_th": s.address_th,
             "address_en": s.address_en, "phone": s.phone, "signer_name_th": s.signer_name_th,
             "signer_name_en": s.signer_name_en, "signer_position_th": s.signer_position_th,
             "signer_position_en": s.signer_position_en, "division_th": s.division_th, "division_en": s.division_en,
             "fax": s.fax, "email": s.email}
            for s in ([registry.secretariat] if registry.secretariat else [])
        ],
        "registry.kpis": [
            {"pilot_id": p.pilot_id, "kpi_code": k.code, "name_th": k.name_th, "name_en": k.name_en,
             "unit": k.unit, "direction": k.direction, "aggregation": k.aggregation, "weight": k.weight}
            for p in pilots for k in p.kpis
        ],
        "registry.strategies": [
            {"number": s.number, "name_th": s.name_th, "name_en": s.name_en} for s in registry.strategies.values()
        ],
        "registry.kpi_thresholds": [
            {"pilot_id": p.pilot_id, "kpi_code": k.code, "fiscal_year": fy,
             **{f"t{i}": t for i, t in enumerate(ts, 1)}}
            for p in pilots for k in p.kpis for fy, ts in k.thresholds.items()
        ],
    }
