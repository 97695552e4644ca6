"""Tables as Parquet bytes and back (what the cache stores for a stage output), with list columns as Python lists.

pandas turns each cell of an Arrow list column into a NumPy array; a cached table must come back as it was
computed, with Python lists (nested lists too), so list columns are built here from the Arrow arrays directly:
one slice of a Python list per cell, strings shared per distinct value, with the cyclic garbage collector paused
while millions of lists are made (1M-row ranking with an answers column: 3.5-5.2 s through NumPy cells, 1.5-2.2
s here, on a loaded 2-core machine).
"""
from __future__ import annotations

import contextlib
import gc
import io
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["no_gc", "read_table_bytes", "table_bytes"]


def table_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as Parquet bytes (its index is not kept: a table read back has a fresh RangeIndex)."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused for a block that makes millions of container objects (one list
    per cell): each full collection walks every object alive, so building a million lists with it on costs
    several times what building them does. Reference counting still frees everything as usual."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _python_values(values: pa.Array) -> list[Any]:
    """An Arrow array's values as Python objects (what the cell's list held: str, int, float, bool, nested lists,
    dicts; a missing float is NaN, as pandas shows it)."""
    kind = values.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _list_cells(values)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if values.null_count:
            return values.to_numpy(zero_copy_only=False).tolist()      # None where missing
        codes = pc.dictionary_encode(values)   # one str object per distinct value, shared by its cells
        return codes.dictionary.to_numpy(zero_copy_only=False)[codes.indices.to_numpy()].tolist()
    if pa.types.is_floating(kind) or ((pa.types.is_integer(kind) or pa.types.is_boolean(kind))
                                      and not values.null_count):
        return values.to_numpy(zero_copy_only=False).tolist()
    return values.to_pylist()    # ints or booleans with None, dicts, dates, bytes: as Arrow gives them


def _list_cells(array: pa.Array) -> list[Any]:
    """The cells of an Arrow list array as Python lists (None where the cell is missing), without a Python
    object per cell on the way (pandas' conversion makes a NumPy array per cell)."""
    offsets = array.offsets.to_numpy()        # len(array) + 1 positions in array.values (which ignores slicing)
    start = int(offsets[0])
    values = _python_values(array.values.slice(start, int(offsets[-1]) - start))
    bounds = (offsets - start).tolist()
    cells: list[Any] = [values[a:b] for a, b in zip(bounds, bounds[1:])]
    if array.null_count:
        for i in np.flatnonzero(~array.is_valid().to_numpy(zero_copy_only=False)).tolist():
            cells[i] = None
    return cells


def read_table_bytes(data: bytes) -> pd.DataFrame:
    """A table from the Parquet bytes :meth:`Cache.put_frame` wrote: the columns and dtypes pandas gives, list
    columns as Python lists (built from the Arrow arrays directly)."""
    file = pq.ParquetFile(pa.BufferReader(data))
    schema = file.schema_arrow
    lists = [i for i, field in enumerate(schema) if pa.types.is_list(field.type) or pa.types.is_large_list(field.type)
             or pa.types.is_fixed_size_list(field.type)]
    if not lists:
        return pd.read_parquet(io.BytesIO(data))
    names = schema.names
    rest = [name for i, name in enumerate(names) if i not in lists]
    with no_gc():
        frame = pd.read_parquet(io.BytesIO(data), columns=rest)
        table = file.read(columns=[names[i] for i in lists])
        for i in lists:   # in column order, so each lands where it was
            column = table.column(names[i])
            cells: list[Any] = []
            for chunk in column.chunks:
                cells.extend(chunk.to_pylist() if pa.types.is_fixed_size_list(chunk.type) else _list_cells(chunk))
            frame.insert(i, names[i], cells)
    return frame
