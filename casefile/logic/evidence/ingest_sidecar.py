"""The sidecar of `casefile ingest`: collector metadata per file, from a CSV or JSON file,
validated in full before anything is ingested."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from casefile.logic.errors import ValidationFailed
from casefile.logic.evidence import submission
from casefile.logic.evidence.ingest_walk import sidecar_key
from casefile.logic.evidence.submission import EvidenceInput

if TYPE_CHECKING:
    from casefile.logic.evidence.ingest_walk import SourceFile

KEY_COLUMNS = ("path", "filename")
HASH_COLUMNS = ("md5", "sha1", "sha256")  # shorthand for declared_hashes, as acquisition logs have
FIELDS = tuple(EvidenceInput.model_fields)


@dataclass(frozen=True)
class Sidecar:
    """Collector metadata per file, keyed by a path relative to the folder given on the command
    line (or as given, or absolute) or by a bare file name; validated in full when loaded."""

    name: str
    entries: dict[str, EvidenceInput]

    def lookup(self, source: SourceFile) -> str | None:
        for key in source.sidecar_keys():
            if key in self.entries:
                return key
        return None


def load_sidecar(path: Path) -> Sidecar:
    """Read a CSV (header row: `path` or `filename`, then EvidenceInput field names) or a JSON
    object (key → object of fields). Any unknown column or invalid value is an error here,
    before anything is ingested."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationFailed({"sidecar": f"cannot read {path}: {error}"}) from None
    if path.suffix.lower() == ".json":
        rows = _json_rows(text)
    elif path.suffix.lower() in (".csv", ".tsv", ".txt"):
        rows = _csv_rows(text, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
    else:
        raise ValidationFailed({"sidecar": "must be a .csv or a .json file"})
    entries: dict[str, EvidenceInput] = {}
    for where, key, fields in rows:
        if not key:
            raise ValidationFailed({"sidecar": f"{where}: no path or filename"})
        if key in entries:
            raise ValidationFailed({"sidecar": f"{where}: {key} is listed twice"})
        try:
            entries[key] = submission.parse_input(_merge_hash_columns(fields))
        except ValidationFailed as error:
            problems = "; ".join(f"{name}: {problem}" for name, problem in error.fields.items())
            raise ValidationFailed({"sidecar": f"{where} ({key}): {problems}"}) from None
        except ValueError as error:  # a malformed declared_hashes list
            raise ValidationFailed({"sidecar": f"{where} ({key}): {error}"}) from None
    return Sidecar(path.name, entries)


def _refuse_unknown_columns(columns: Sequence[str], where: str) -> None:
    unknown = [name for name in columns if name not in (*KEY_COLUMNS, *FIELDS, *HASH_COLUMNS)]
    if unknown:
        raise ValidationFailed(
            {
                "sidecar": f"{where}: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"allowed: path or filename, {', '.join(FIELDS)}, {', '.join(HASH_COLUMNS)}"
            }
        )


Row = tuple[str, str, dict[str, object]]  # (where, key, fields)


def _csv_rows(text: str, *, delimiter: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise ValidationFailed({"sidecar": "the CSV file is empty (it needs a header row)"})
    columns = [name.strip().lower() for name in header]
    _refuse_unknown_columns(columns, "header")
    if not any(name in columns for name in KEY_COLUMNS):
        raise ValidationFailed({"sidecar": "the header has no path or filename column"})
    if len(set(columns)) != len(columns):
        raise ValidationFailed({"sidecar": "the header names a column twice"})
    rows: list[Row] = []
    for values in reader:
        where = f"line {reader.line_num}"
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(columns):
            raise ValidationFailed({"sidecar": f"{where}: more values than columns"})
        row: dict[str, object] = dict(zip(columns, values, strict=False))
        named = [str(row.pop(column, "") or "").strip() for column in KEY_COLUMNS]
        key = next((name for name in named if name), "")
        rows.append((where, sidecar_key(key) if key else "", row))
    return rows


def _json_rows(text: str) -> list[Row]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValidationFailed({"sidecar": f"not valid JSON: {error}"}) from None
    if not isinstance(document, dict):
        raise ValidationFailed({"sidecar": "the JSON must be an object: path or name → fields"})
    rows: list[Row] = []
    for key, fields in document.items():
        if not isinstance(fields, dict):
            raise ValidationFailed({"sidecar": f"{key}: its value must be an object of fields"})
        _refuse_unknown_columns(list(fields), f"{key}")
        rows.append((f"entry {key!r}", sidecar_key(key) if key.strip() else "", dict(fields)))
    return rows


def _merge_hash_columns(fields: Mapping[str, object]) -> dict[str, object]:
    result = {name: value for name, value in fields.items() if name not in HASH_COLUMNS}
    declared = result.get("declared_hashes")
    extra = {
        name: str(fields[name]).strip().lower()
        for name in HASH_COLUMNS
        if name in fields and str(fields[name] or "").strip()
    }
    if extra:
        if isinstance(declared, str) and declared.strip():
            declared = submission.parse_declared_hashes(declared)
        merged = dict(declared) if isinstance(declared, dict) else {}
        result["declared_hashes"] = merged | extra
    return result
