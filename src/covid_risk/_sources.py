"""Where rows come from: the Parquet files of a file or a folder (a partitioned dataset).

Shared by streaming scoring, Dask scoring and Dask training, which all accept a
Parquet file or a folder of Parquet files.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["parquet_files"]


def parquet_files(src: Path) -> list[Path]:
    """Return the Parquet file ``src`` or the Parquet files under folder ``src``, sorted.

    Files whose name starts with ``.`` or ``_`` (``_metadata``, ``_SUCCESS``,
    temporary files) are skipped, as Dask and Spark do.
    """
    if src.is_dir():
        files = sorted(
            p for p in src.rglob("*")
            if p.is_file() and not any(part.startswith((".", "_"))
                                       for part in p.relative_to(src).parts)
            and p.suffix.lower() in (".parquet", ".pq")
        )
        if not files:
            raise FileNotFoundError(
                f"Folder {str(src)!r} holds no .parquet files; give a CSV or Parquet file or "
                "a folder of Parquet files."
            )
        return files
    return [src]
