"""Reading and writing tables and JSON for the command line.

Tables are CSV or Parquet, chosen by file extension. Reading goes through
:func:`iter_table`, which yields DataFrame chunks, and writing through
:class:`TableWriter`, which accepts them one after the other. Today a whole file
is one chunk; a streaming reader can later replace :func:`iter_table` without
changing the subcommands.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from covid_risk._json import bounded_loads

__all__ = [
    "CliError",
    "TABLE_SUFFIXES",
    "TableWriter",
    "format_table",
    "iter_table",
    "parse_mapping",
    "read_json",
    "read_table",
    "table_format",
    "to_jsonable",
    "write_json",
    "write_table",
]

TABLE_SUFFIXES: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""Accepted table file extensions and the format each means."""


class CliError(Exception):
    """A problem with the command line or its input; the CLI exits with status 2."""


def table_format(path: str | Path) -> str:
    """Return ``"csv"`` or ``"parquet"`` from the extension of ``path``.

    Raises
    ------
    CliError
        For any other extension, naming the accepted ones.
    """
    suffix = Path(path).suffix.lower()
    try:
        return TABLE_SUFFIXES[suffix]
    except KeyError:
        allowed = ", ".join(TABLE_SUFFIXES)
        raise CliError(
            f"cannot tell the format of {str(path)!r} from its extension {suffix or '(none)'!r}; "
            f"use one of {allowed}"
        ) from None


def _check_input(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file {str(path)!r} does not exist")
    if path.is_dir():
        raise CliError(f"input {str(path)!r} is a directory; give a CSV or Parquet file")
    return path


def iter_table(path: str | Path, *, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Yield the table in ``path`` as DataFrame chunks (today: one chunk).

    Parameters
    ----------
    path : str or Path
        A ``.csv`` or ``.parquet`` file.
    columns : list of str, optional
        Read only these columns (all by default).

    Yields
    ------
    pandas.DataFrame
        Consecutive rows of the file with a default ``RangeIndex`` continuing
        across chunks.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CliError
        For an unknown extension or a file that cannot be parsed.
    """
    fmt = table_format(path)
    path = _check_input(path)
    try:
        if fmt == "csv":
            df = pd.read_csv(path, usecols=columns)
        else:
            df = pd.read_parquet(path, columns=columns)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CliError(f"cannot read {str(path)!r} as {fmt.upper()}: {first}") from exc
    yield df.reset_index(drop=True)


def read_table(path: str | Path, *, columns: list[str] | None = None) -> pd.DataFrame:
    """Return the whole table in ``path`` (the concatenation of :func:`iter_table`)."""
    chunks = list(iter_table(path, columns=columns))
    if len(chunks) == 1:
        return chunks[0]
    return pd.concat(chunks, ignore_index=True)


def _to_arrow_friendly(df: pd.DataFrame) -> pd.DataFrame:
    """Make ``object`` columns of strings plain strings so Parquet gets one type."""
    out = df
    for name in df.columns:
        if df[name].dtype == object and not df[name].map(
            lambda v: v is None or isinstance(v, (str, float))
        ).all():
            if out is df:
                out = df.copy()
            out[name] = df[name].astype("string")
    return out


class TableWriter:
    """Write DataFrame chunks to one CSV or Parquet file (or CSV to a stream).

    Parameters
    ----------
    target : str, Path or text stream
        File to write (format from its extension) or an open text stream, which
        receives CSV.
    spreadsheet_safe : bool, default=False
        In CSV, prefix ``'`` to text cells that start with ``=``, ``+``, ``-``,
        ``@``, a tab or a carriage return, so spreadsheets do not run them as
        formulas (see :func:`covid_risk.scoring._chunks.neutralise_formulas`).

    Examples
    --------
    >>> import io, pandas as pd
    >>> buf = io.StringIO()
    >>> with TableWriter(buf) as w:
    ...     w.write(pd.DataFrame({"a": [1]}))
    ...     w.write(pd.DataFrame({"a": [2]}))
    >>> buf.getvalue().split()
    ['a', '1', '2']
    """

    def __init__(self, target: str | Path | IO[str], *, spreadsheet_safe: bool = False) -> None:
        self.target = target
        self.spreadsheet_safe = spreadsheet_safe
        self.rows = 0
        self._stream = not isinstance(target, (str, Path))
        self.format = "csv" if self._stream else table_format(target)  # type: ignore[arg-type]
        self._parts: list[pd.DataFrame] = []
        self._header_written = False
        if not self._stream:
            parent = Path(target).parent  # type: ignore[arg-type]
            if not parent.exists():
                raise CliError(
                    f"cannot write {str(target)!r}: folder {str(parent)!r} does not exist"
                )

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (same columns for every chunk)."""
        self.rows += len(df)
        if self.format == "csv":
            if self.spreadsheet_safe:
                from covid_risk.scoring._chunks import neutralise_formulas

                df = df.copy()
                df.columns = neutralise_formulas(pd.Series(df.columns, dtype=object)).tolist()
                for name in df.columns:
                    if df[name].dtype == object or isinstance(df[name].dtype, pd.StringDtype):
                        df[name] = neutralise_formulas(df[name].astype(object))
            header = not self._header_written
            if self._stream:
                df.to_csv(self.target, index=False, header=header)
            else:
                df.to_csv(self.target, index=False, header=header, mode="w" if header else "a")
            self._header_written = True
        else:
            # Parquet needs one schema for the file: keep the parts and write once.
            self._parts.append(df)

    def close(self) -> None:
        """Finish the file (writes Parquet; CSV is already written)."""
        if self.format == "parquet":
            parts = self._parts or [pd.DataFrame()]
            df = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
            _to_arrow_friendly(df).to_parquet(self.target, index=False)
            self._parts = []
        elif not self._header_written and not self._stream:
            pd.DataFrame().to_csv(self.target, index=False)
            self._header_written = True


def write_table(df: pd.DataFrame, target: str | Path | IO[str]) -> int:
    """Write ``df`` to ``target`` (see :class:`TableWriter`) and return the row count."""
    with TableWriter(target) as writer:
        writer.write(df)
    return writer.rows


def parse_mapping(text: str | None, *, option: str) -> dict[str, str]:
    """Parse ``"a=b,c=d"`` into ``{"a": "b", "c": "d"}``.

    Parameters
    ----------
    text : str or None
        The option value; ``None`` or empty gives ``{}``.
    option : str
        Option name for the error message, e.g. ``"--units"``.

    Raises
    ------
    CliError
        For an item without ``=`` or with an empty side.

    Examples
    --------
    >>> parse_mapping("urea=mg/dL, creatinine = mg/dL", option="--units")
    {'urea': 'mg/dL', 'creatinine': 'mg/dL'}
    """
    if not text:
        return {}
    out: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise CliError(
                f"{option}: cannot read {item.strip()!r}; write NAME=VALUE pairs separated by "
                f"commas, e.g. {option} urea=mg/dL,creatinine=mg/dL"
            )
        out[key] = value
    return out


def read_json(stream: IO[str] | None = None) -> Any:
    """Read one JSON document from ``stream`` (default: standard input).

    Raises
    ------
    CliError
        If the stream is empty or not valid JSON (line and column given).
    """
    stream = sys.stdin if stream is None else stream
    text = stream.read()
    if not text.strip():
        raise CliError(
            "no input: give a CSV/Parquet file, or pipe one JSON patient "
            "(an object) or a JSON list of patients on standard input"
        )
    try:
        return bounded_loads(text, "standard input", CliError, finite=False)
    except CliError as exc:
        try:  # name the line and column of a syntax error, as json does
            json.loads(text)
        except json.JSONDecodeError as syntax:
            raise CliError(
                f"standard input is not valid JSON: {syntax.msg} at line {syntax.lineno} "
                f"column {syntax.colno}"
            ) from None
        except (ValueError, RecursionError):
            pass
        raise exc from None


def to_jsonable(obj: Any) -> Any:
    """Turn numpy/pandas scalars, arrays, frames and NaN into plain JSON values.

    Non-finite floats become ``None`` (JSON has no NaN).
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, pd.Series):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    return str(obj)


def write_json(obj: Any, target: str | Path | IO[str] | None = None) -> None:
    """Write ``obj`` as indented JSON to a file or stream (default: standard output)."""
    text = json.dumps(to_jsonable(obj), indent=2) + "\n"
    if target is None or not isinstance(target, (str, Path)):
        stream = sys.stdout if target is None else target
        stream.write(text)
        return
    path = Path(target)
    if not path.parent.exists():
        raise CliError(f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist")
    path.write_text(text, encoding="utf-8")


def format_table(df: pd.DataFrame, *, digits: int = 3) -> str:
    """Return ``df`` as aligned plain text with floats rounded to ``digits``."""
    with pd.option_context(
        "display.max_rows", 500,
        "display.max_columns", 50,
        "display.width", 200,
        "display.float_format", lambda x: f"{x:.{digits}f}",
    ):
        return df.to_string()
