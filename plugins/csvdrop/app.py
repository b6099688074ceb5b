"""csvdrop: a target plugin written in Python, built into a component with componentize-py.

It takes flat JSON records and delivers them as one CSV file per transfer (RFC 4180: a
header row, CRLF line ends, fields quoted only where needed and quotes doubled, UTF-8),
put into place by the host's file-drop transports.

The plugin is a pure function like the Rust ones: everything it writes comes from its
inputs (the settings, the records, `ctx.now`, `ctx.sequence`). CPython itself imports WASI
(a clock, randomness for its hash seed, stdout/stderr), which the hub links in a locked
sandbox; this code never calls them, and it never iterates a set or uses `hash()` in
output, so the bytes do not depend on the hash seed.
"""

import json
from typing import Dict, List, Tuple

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports.target import (
    Context,
    Delivery,
    EncodeError_Other,
    EncodeError_Records,
    EncodeError_Settings,
    InterpretError_Malformed,
    Payload,
    PluginInfo,
    Record,
    RecordError,
    RecordMeta,
    Response,
    Setting,
    SettingSpec,
    SettingType,
)

VERSION = "0.1.0"
KIND = "row"
# Keys every NDJSON line carries for the hub; they are not columns.
RESERVED = ("id", "kind")
# The most text one spreadsheet cell holds (Excel, LibreOffice): longer would be cut there.
MAX_CELL = 32767
DELIMITERS = {"comma": ",", "semicolon": ";"}


class SettingsError(Exception):
    """The target's settings are unusable (check-settings refuses them at load)."""


class Config:
    """The target's settings, parsed once per call."""

    def __init__(self, settings: List[Setting]) -> None:
        values: Dict[str, str] = {s.name: s.value for s in settings}
        raw = values.get("columns", "")
        columns = [c.strip() for c in raw.split(",")] if raw.strip() else []
        if not columns:
            raise SettingsError("columns: name at least one column, e.g. \"name,amount\"")
        for c in columns:
            if not c or not all(ch.isascii() and (ch.islower() or ch.isdigit() or ch == "_") for ch in c):
                raise SettingsError(
                    f"columns: `{c}` is not a column name (lower-case letters, digits and _)"
                )
            if c in RESERVED:
                raise SettingsError(f"columns: `{c}` is reserved (the record's own {c})")
        seen: List[str] = []
        for c in columns:
            if c in seen:
                raise SettingsError(f"columns: `{c}` is named twice")
            seen.append(c)
        self.columns: List[str] = columns
        delimiter = values.get("delimiter", "comma")
        if delimiter not in DELIMITERS:
            raise SettingsError(f"delimiter: `{delimiter}` is not one of comma, semicolon")
        self.delimiter: str = DELIMITERS[delimiter]
        prefix = values.get("prefix", "records")
        if not prefix or len(prefix) > 40 or not all(
            ch.isascii() and (ch.islower() or ch.isdigit() or ch == "-") for ch in prefix
        ):
            raise SettingsError(
                f"prefix: `{prefix}` must be 1 to 40 lower-case letters, digits and -"
            )
        self.prefix: str = prefix
        self.header: bool = values.get("header", "true") == "true"


def _reject_constant(name: str) -> str:
    raise ValueError(f"{name} is not a JSON number")


def cells(config: Config, record: Record) -> List[str]:
    """One record's cells in column order, or raises `Err(RecordError)` naming the field.

    Numbers are kept as the source wrote them (parsed as text, never through a float), so
    `0.10` stays `0.10` and large integers stay exact.
    """
    try:
        body = json.loads(
            record.body, parse_float=str, parse_int=str, parse_constant=_reject_constant
        )
    except ValueError as e:
        raise Err(RecordError(record.id, None, f"body is not JSON: {e}"))
    if not isinstance(body, dict):
        raise Err(RecordError(record.id, None, "body is not a JSON object"))
    for key in body:
        if key not in RESERVED and key not in config.columns:
            raise Err(
                RecordError(
                    record.id,
                    key,
                    f"is not a column of this target (columns: {', '.join(config.columns)})",
                )
            )
    row = [record.id]
    for column in config.columns:
        if column not in body:
            raise Err(RecordError(record.id, column, "is required (null for an empty cell)"))
        value = body[column]
        if value is None:
            text = ""
        elif value is True:
            text = "true"
        elif value is False:
            text = "false"
        elif isinstance(value, str):
            text = value
        else:
            kind = "an object" if isinstance(value, dict) else "a list"
            raise Err(
                RecordError(
                    record.id, column, f"must be a string, number, boolean or null, not {kind}"
                )
            )
        for ch in text:
            if ch < " " and ch not in "\t\r\n":
                raise Err(
                    RecordError(
                        record.id, column, f"contains the control character U+{ord(ch):04X}"
                    )
                )
        if len(text) > MAX_CELL:
            raise Err(
                RecordError(
                    record.id,
                    column,
                    f"is {len(text)} characters long; a spreadsheet cell holds at most {MAX_CELL}",
                )
            )
        row.append(text)
    return row


def quote(field: str, delimiter: str) -> str:
    """RFC 4180: a field with the delimiter, a quote or a line break goes in quotes, and
    its quotes are doubled; any other field is written as it is."""
    if delimiter in field or '"' in field or "\r" in field or "\n" in field:
        return '"' + field.replace('"', '""') + '"'
    return field


def line(fields: List[str], delimiter: str) -> str:
    return delimiter.join(quote(f, delimiter) for f in fields) + "\r\n"


class Target(exports.Target):
    def describe(self) -> PluginInfo:
        return PluginInfo(
            name="csvdrop",
            version=VERSION,
            record_kinds=[KIND],
            settings=[
                SettingSpec(
                    "columns",
                    "the CSV columns after `id`, comma-separated, e.g. \"name,amount\"",
                    SettingType.TEXT,
                    True,
                    None,
                ),
                SettingSpec(
                    "delimiter",
                    "comma, or semicolon (spreadsheets in German locales)",
                    SettingType.TEXT,
                    False,
                    "comma",
                ),
                SettingSpec(
                    "prefix",
                    "file names start with this (lower-case letters, digits, -)",
                    SettingType.TEXT,
                    False,
                    "records",
                ),
                SettingSpec(
                    "header", "write a header row", SettingType.BOOLEAN, False, "true"
                ),
            ],
            delivery=Delivery.FILE_DROP,
            max_batch=10000,
        )

    def check_settings(self, settings: List[Setting]) -> None:
        try:
            Config(settings)
        except SettingsError as e:
            raise Err(str(e))

    def validate(self, settings: List[Setting], records: List[Record]):
        try:
            config = Config(settings)
        except SettingsError as e:
            return [Err(RecordError(r.id, None, f"the target's settings: {e}")) for r in records]
        answers = []
        for r in records:
            try:
                cells(config, r)
            except Err as e:
                answers.append(e)
                continue
            # One file per transfer, numbered per target.
            answers.append(Ok(RecordMeta("", "files", None)))
        return answers

    def encode(self, ctx: Context, records: List[Record]) -> List[Payload]:
        try:
            config = Config(ctx.settings)
        except SettingsError as e:
            raise Err(EncodeError_Settings(str(e)))
        if ctx.sequence is None:
            raise Err(EncodeError_Other("no sequence number: csvdrop numbers its files"))
        rows: List[List[str]] = []
        errors: List[RecordError] = []
        for r in records:
            try:
                rows.append(cells(config, r))
            except Err as e:
                errors.append(e.value)
        if errors:
            raise Err(EncodeError_Records(errors))
        out: List[str] = []
        if config.header:
            out.append(line(["id"] + config.columns, config.delimiter))
        for row in rows:
            out.append(line(row, config.delimiter))
        now = ctx.now
        date = f"{now.year:04d}{now.month:02d}{now.day:02d}"
        labels: List[Tuple[str, str]] = [
            ("number", str(ctx.sequence)),
            ("date", f"{now.year:04d}-{now.month:02d}-{now.day:02d}"),
            ("rows", str(len(rows))),
        ]
        return [
            Payload(
                name=f"{config.prefix}-{date}-{ctx.sequence:06d}.csv",
                media_type="text/csv; charset=utf-8; header=" + ("present" if config.header else "absent"),
                bytes="".join(out).encode("utf-8"),
                records=[r.id for r in records],
                labels=labels,
            )
        ]

    def interpret(
        self, ctx: Context, payload: str, records: List[Record], response: Response
    ) -> list:
        raise Err(
            InterpretError_Malformed(f"csvdrop is file-drop and expects no response (payload {payload})")
        )
