"""Write and read the index's versioned binary file; no pickle."""

from __future__ import annotations

import io
import json
import os
from typing import Any, Final, cast

import numpy as np
from numpy.typing import NDArray

from empreinte.index.mih.kernels import (
    _ALIGN,
    _HALF_BITS,
    _MAGIC,
    _OFF_BYTES,
    _OFF_PAD,
    _VERSION,
    _layout,
    _max_slot,
)
from empreinte.index.mih.view import _np_parts, _View


class IndexFileError(ValueError):
    """A saved index file is truncated, foreign, of another version, or inconsistent."""


def _sections(view: _View, dead: NDArray[np.bool_]) -> list[tuple[str, np.ndarray[Any, Any]]]:
    n = view.n_total
    codes = view.codes[:n].copy()
    codes[dead[:n]] = 0  # erased: no withdrawn value reaches a snapshot file
    out: list[tuple[str, np.ndarray[Any, Any]]] = [
        ("codes", codes),
        ("ids", view.ids[:n]),
        ("dead", dead),
        ("id_order", view.id_order),
    ]
    out += [(f"table{t}", buf) for t, buf in enumerate(view.tables)]
    return out


def _write_file(
    f: io.BufferedIOBase, nbits: int, view: _View, sections: list[tuple[str, np.ndarray[Any, Any]]]
) -> None:
    entries: list[dict[str, Any]] = []
    pos = 0
    for name, arr in sections:
        dtype = arr.dtype.newbyteorder("<").str
        entries.append({"name": name, "dtype": dtype, "shape": list(arr.shape), "offset": pos})
        pos += -(-arr.nbytes // _ALIGN) * _ALIGN
    header: dict[str, Any] = {"nbits": nbits, "n_total": view.n_total, "n_built": view.n_built}
    header["hb"] = view.hb
    header["body"] = pos
    header["sections"] = entries
    blob = json.dumps(header).encode()
    start = -(-(16 + len(blob)) // _ALIGN) * _ALIGN
    f.write(_MAGIC + _VERSION.to_bytes(4, "little") + len(blob).to_bytes(4, "little") + blob)
    f.write(b"\0" * (start - 16 - len(blob)))
    for (_, arr), entry in zip(sections, entries, strict=True):
        data = np.ascontiguousarray(arr, dtype=np.dtype(entry["dtype"]))
        f.write(data.reshape(-1).view(np.uint8).data)
        f.write(b"\0" * (-data.nbytes % _ALIGN))


def _read_file(f: io.BufferedIOBase) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    head = f.read(16)
    if len(head) < 16 or head[:8] != _MAGIC:
        raise IndexFileError("not an Empreinte Hamming index file (bad magic)")
    version = int.from_bytes(head[8:12], "little")
    if version != _VERSION:
        raise IndexFileError(f"unsupported index file version {version} (expected {_VERSION})")
    header = _parse_header(f.read(int.from_bytes(head[12:16], "little")))
    start = -(-f.tell() // _ALIGN) * _ALIGN
    size = os.fstat(f.fileno()).st_size
    if size != start + int(header["body"]):
        raise IndexFileError(f"index file is {size} bytes, header says {start + header['body']}")
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for entry in header["sections"]:
        if not isinstance(entry, dict):
            raise IndexFileError("corrupt section entry")
        arrays[str(entry.get("name"))] = _read_section(f, start, entry)
    return header, arrays


def _parse_header(blob: bytes) -> dict[str, Any]:
    try:
        header = json.loads(blob.decode())
        for key in ("nbits", "n_total", "n_built", "hb", "body"):
            if not isinstance(header[key], int) or header[key] < 0:
                raise IndexFileError(f"bad header field {key}")
        if not isinstance(header["sections"], list):
            raise IndexFileError("bad header sections")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise IndexFileError(f"corrupt index header: {exc}") from None
    return cast(dict[str, Any], header)


_FILE_DTYPES: Final = {"|u1", "<u4", "<i8", "|b1"}


def _read_section(f: io.BufferedIOBase, start: int, entry: dict[str, Any]) -> np.ndarray[Any, Any]:
    try:
        dtype = str(entry["dtype"])
        shape = tuple(int(x) for x in entry["shape"])
        offset = int(entry["offset"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexFileError(f"corrupt section entry: {exc}") from None
    if dtype not in _FILE_DTYPES or any(x < 0 for x in shape) or offset < 0:
        raise IndexFileError(f"bad section {entry.get('name')!r}")
    arr = np.empty(shape, np.dtype(dtype).newbyteorder("="))
    f.seek(start + offset)
    if arr.nbytes and f.readinto(arr.reshape(-1).view(np.uint8).data) != arr.nbytes:
        raise IndexFileError(f"index file truncated in section {entry.get('name')!r}")
    return arr


def _view_from_arrays(
    nbits: int, header: dict[str, Any], arrays: dict[str, np.ndarray[Any, Any]]
) -> tuple[_View, bool]:
    """Check shapes, dtypes and cross references of loaded arrays and assemble a view; also
    say whether the tables hold only live built slots (no tombstones to drop)."""
    m, n, n_built = nbits // _HALF_BITS, int(header["n_total"]), int(header["n_built"])
    _expect(arrays, "codes", np.uint8, (n, nbits // 8))
    _expect(arrays, "ids", np.int64, (n,))
    _expect(arrays, "dead", np.bool_, (n,))
    order = _expect(arrays, "id_order", np.uint32, None)
    if n_built > n or order.ndim != 1 or (order.size and int(order.max()) >= n):
        raise IndexFileError("slot references out of range")
    hb = int(header["hb"])
    if hb not in (1, 2):
        raise IndexFileError(f"bad slot width {hb}")
    checked = [_check_table(arrays, t, hb, n) for t in range(m)]
    tables = tuple(buf for buf, _ in checked)
    clean = max(top for _, top in checked) < n_built and not arrays["dead"][:n_built].any()
    view = _View(
        codes=arrays["codes"],
        ids=arrays["ids"],
        dead=arrays["dead"],
        n_total=n,
        n_built=n_built,
        id_order=order,
        tables=tables,
        hb=hb,
    )
    return view, bool(clean)


def _check_table(
    arrays: dict[str, np.ndarray[Any, Any]], t: int, hb: int, n_slots: int
) -> tuple[NDArray[np.uint8], int]:
    """Packed table ``t`` and its largest slot, checked for size, monotone offsets and
    in-range slots."""
    buf = _expect(arrays, f"table{t}", np.uint8, None)
    if buf.ndim != 1 or buf.shape[0] < _OFF_PAD:
        raise IndexFileError(f"table {t} is too short")
    off = buf[:_OFF_BYTES].view(np.int64)
    if off[0] != 0 or bool(np.any(np.diff(off) < 0)) or buf.shape[0] != _layout(off[-1], hb)[3]:
        raise IndexFileError(f"table {t} is inconsistent")
    _, _, slo, shi = _np_parts(buf, hb)
    top = _max_slot(slo, shi)
    if top >= n_slots:
        raise IndexFileError(f"table {t} references a slot out of range")
    return buf, top


def _expect(
    arrays: dict[str, np.ndarray[Any, Any]],
    name: str,
    dtype: type[Any] | None,
    shape: tuple[int, ...] | None,
) -> np.ndarray[Any, Any]:
    arr = arrays.get(name)
    if arr is None:
        raise IndexFileError(f"missing section {name!r}")
    if (dtype is not None and arr.dtype != dtype) or (shape is not None and arr.shape != shape):
        raise IndexFileError(f"section {name!r} has dtype {arr.dtype} shape {arr.shape}")
    return arr
