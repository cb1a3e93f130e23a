"""Read a TensorFlow checkpoint (``.index`` + ``.data-*`` files) into numpy arrays, without TensorFlow.

A TF 1/2 "tensor bundle" checkpoint with prefix ``P`` is two kinds of file:

* ``P.index`` — an immutable sorted key/value table in LevelDB's table format (data blocks of
  prefix-compressed entries with restart points, an index block of block handles, a 48-byte
  footer ending in the magic number ``0xdb4775248b80fb57``; each block is followed by a
  compression byte and a masked CRC32C).  The key ``""`` holds a ``BundleHeaderProto``
  (number of shards, endianness); every other key is a tensor name whose value is a
  ``BundleEntryProto`` (dtype, shape, shard_id, offset, size, masked CRC32C of the bytes).
* ``P.data-SSSSS-of-NNNNN`` — the shards: raw tensor bytes at the offsets the entries give.

References: TensorFlow's ``core/util/tensor_bundle/tensor_bundle.{h,cc}`` and
``tensor_bundle.proto``; LevelDB's ``doc/table_format.md``.  The protobuf wire format is decoded
here by hand (varints and length-delimited fields are all these two messages use).

Every block checksum and every tensor's CRC32C is verified; a truncated, corrupt or foreign file
raises :class:`CheckpointError` (a ``MelrecError`` and ``ValueError``) naming the file and what is
wrong, never an ``IndexError`` or ``struct.error``.

Examples
--------
>>> weights = read_checkpoint("MSD_musicnn/")              # doctest: +SKIP
>>> weights["model/dense/kernel"].shape                    # doctest: +SKIP
(1506, 200)
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from melrec_lib.errors import MelrecError

__all__ = ["CheckpointError", "TensorInfo", "read_checkpoint", "list_tensors", "crc32c", "masked_crc32c"]

TABLE_MAGIC = 0xDB4775248B80FB57
"""The last 8 bytes of every LevelDB (and TensorFlow) table file, little-endian."""
FOOTER_SIZE = 48
_BLOCK_TRAILER = 5  # 1 byte compression type + 4 bytes masked CRC32C
_CRC_MASK_DELTA = 0xA282EAD8

# tensorflow/core/framework/types.proto: DataType -> numpy dtype (little-endian)
_DTYPES = {
    1: np.dtype("<f4"),
    2: np.dtype("<f8"),
    3: np.dtype("<i4"),
    4: np.dtype("u1"),
    5: np.dtype("<i2"),
    6: np.dtype("i1"),
    8: np.dtype("<c8"),
    9: np.dtype("<i8"),
    10: np.dtype("?"),
    17: np.dtype("<u2"),
    18: np.dtype("<c16"),
    19: np.dtype("<f2"),
    22: np.dtype("<u4"),
    23: np.dtype("<u8"),
}
_DTYPE_NAMES = {7: "string", 14: "bfloat16", 20: "resource", 21: "variant"}


class CheckpointError(MelrecError, ValueError):
    """A TensorFlow checkpoint file is missing, truncated, corrupt or of an unsupported kind."""


# --------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), as TF and LevelDB use it
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _crc_table() -> np.ndarray:
    poly = 0x82F63B78  # reflected Castagnoli polynomial
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(poly), table >> 1).astype(np.uint32)
    return table


def _crc_update_py(state: int, data: bytes, table: list[int]) -> int:
    for b in data:
        state = table[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


def _shift_tables(n_bytes: int) -> list[np.ndarray]:
    """Four 256-entry tables of the linear map 'run the CRC register over n_bytes zero bytes'."""
    table = [int(v) for v in _crc_table()]
    # the image of each of the 32 basis vectors of the register
    images = []
    for bit in range(32):
        images.append(_crc_update_py(1 << bit, bytes(n_bytes), table))
    out = []
    for k in range(4):
        t = np.zeros(256, dtype=np.uint32)
        for v in range(256):
            acc = 0
            for j in range(8):
                if v >> j & 1:
                    acc ^= images[8 * k + j]
            t[v] = acc
        out.append(t)
    return out


def crc32c(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    """The CRC32C (Castagnoli) of ``data``, as ``crc32c::Value`` in TF/LevelDB computes it.

    Long inputs are cut into equal chunks whose registers advance together (one numpy step per
    byte position), then are folded together with the linear "advance over zeros" map, so a
    multi-megabyte tensor is checked in milliseconds without a compiled extension.

    Parameters
    ----------
    data : bytes-like or np.ndarray (its raw bytes)

    Returns
    -------
    crc : int in [0, 2**32)

    Examples
    --------
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    buf = (
        np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        if not isinstance(data, np.ndarray)
        else np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    )
    n = buf.size
    table = _crc_table()
    state = 0xFFFFFFFF
    if n < 4096:
        return _crc_update_py(state, buf.tobytes(), [int(v) for v in table]) ^ 0xFFFFFFFF
    chunk = 1 << max(6, int(math.log2(math.isqrt(n))))
    k = n // chunk
    head = n - k * chunk
    state = _crc_update_py(state, buf[:head].tobytes(), [int(v) for v in table])
    columns = np.ascontiguousarray(buf[head:].reshape(k, chunk).T)  # row j: byte j of every chunk
    regs = np.zeros(k, dtype=np.uint32)
    regs[0] = state
    for column in columns:
        regs = table[(regs ^ column) & 0xFF] ^ (regs >> 8)
    t0, t1, t2, t3 = _shift_tables_cached(chunk)
    acc = 0
    for r in regs.tolist():
        acc = int(t0[acc & 0xFF] ^ t1[(acc >> 8) & 0xFF] ^ t2[(acc >> 16) & 0xFF] ^ t3[acc >> 24]) ^ r
    return acc ^ 0xFFFFFFFF


_shift_tables_cached = functools.lru_cache(maxsize=16)(_shift_tables)


def masked_crc32c(data) -> int:
    """``crc32c::Mask(crc32c(data))``: rotated right by 15 bits plus ``0xa282ead8`` (mod 2**32).

    TF and LevelDB store this masked form, so that a CRC of data holding CRCs stays well mixed.
    """
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _CRC_MASK_DELTA) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# protobuf wire format and LevelDB varints
# --------------------------------------------------------------------------------------------
def _varint(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise CheckpointError(f"{what}: truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise CheckpointError(f"{what}: varint longer than 10 bytes")


def _proto_fields(buf: bytes, what: str) -> list[tuple[int, int, int | bytes]]:
    """``(field number, wire type, value)`` for each field of a serialised message."""
    fields, pos, end = [], 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos, end, what)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end, what)
        elif wire == 1:
            if pos + 8 > end:
                raise CheckpointError(f"{what}: truncated fixed64 field {number}")
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, end, what)
            if pos + length > end:
                raise CheckpointError(f"{what}: field {number} runs past the end ({length} bytes)")
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 5:
            if pos + 4 > end:
                raise CheckpointError(f"{what}: truncated fixed32 field {number}")
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise CheckpointError(f"{what}: unsupported protobuf wire type {wire} (field {number})")
        fields.append((number, wire, value))
    return fields


# --------------------------------------------------------------------------------------------
# LevelDB table
# --------------------------------------------------------------------------------------------
def _snappy_decompress(data: bytes, what: str) -> bytes:
    """Decode a raw snappy block (LevelDB's compression type 1)."""
    n, pos = _varint(data, 0, len(data), what)
    out = bytearray()
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                if pos + extra > end:
                    raise CheckpointError(f"{what}: truncated snappy literal length")
                length = int.from_bytes(data[pos : pos + extra], "little")
                pos += extra
            length += 1
            if pos + length > end:
                raise CheckpointError(f"{what}: truncated snappy literal")
            out += data[pos : pos + length]
            pos += length
            continue
        if kind == 1:
            if pos + 1 > end:
                raise CheckpointError(f"{what}: truncated snappy copy")
            length, offset = 4 + ((tag >> 2) & 7), ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            width = 2 if kind == 2 else 4
            if pos + width > end:
                raise CheckpointError(f"{what}: truncated snappy copy")
            length, offset = (tag >> 2) + 1, int.from_bytes(data[pos : pos + width], "little")
            pos += width
        if offset == 0 or offset > len(out):
            raise CheckpointError(f"{what}: snappy copy offset {offset} outside the {len(out)} bytes decoded")
        for _ in range(length):  # byte by byte: copies may overlap their own output
            out.append(out[-offset])
    if len(out) != n:
        raise CheckpointError(f"{what}: snappy block decodes to {len(out)} bytes, header says {n}")
    return bytes(out)


def _read_block(table: bytes, offset: int, size: int, what: str) -> bytes:
    """The contents of the block at ``offset`` (``size`` bytes + 5-byte trailer), checked."""
    if offset < 0 or size < 0 or offset + size + _BLOCK_TRAILER > len(table) - FOOTER_SIZE:
        raise CheckpointError(
            f"{what}: block at {offset} (+{size} bytes) lies outside the file "
            f"({len(table)} bytes): truncated or corrupt"
        )
    contents = table[offset : offset + size]
    kind = table[offset + size]
    stored = int.from_bytes(table[offset + size + 1 : offset + size + 5], "little")
    if masked_crc32c(contents + bytes([kind])) != stored:
        raise CheckpointError(f"{what}: checksum mismatch in the block at offset {offset}: corrupt file")
    if kind == 1:
        return _snappy_decompress(contents, what)
    if kind != 0:
        raise CheckpointError(f"{what}: unknown block compression type {kind} at offset {offset}")
    return contents


def _block_entries(block: bytes, what: str) -> Iterable[tuple[bytes, bytes]]:
    """The (key, value) pairs of one block, prefix compression undone."""
    if len(block) < 4:
        raise CheckpointError(f"{what}: block of {len(block)} bytes has no restart count")
    n_restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * n_restarts
    if n_restarts == 0 or end < 0:
        raise CheckpointError(f"{what}: block restart array ({n_restarts} entries) does not fit its {len(block)} bytes")
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos, end, what)
        unshared, pos = _varint(block, pos, end, what)
        n_value, pos = _varint(block, pos, end, what)
        if shared > len(key) or pos + unshared + n_value > end:
            raise CheckpointError(f"{what}: malformed block entry at byte {pos}")
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + n_value]
        pos += n_value


def _handle(buf: bytes, pos: int, end: int, what: str) -> tuple[int, int, int]:
    offset, pos = _varint(buf, pos, end, what)
    size, pos = _varint(buf, pos, end, what)
    return offset, size, pos


def _table_items(path: Path) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of a LevelDB-format table file, in key order."""
    what = str(path)
    try:
        table = path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: no such checkpoint index file") from exc
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc})") from exc
    if len(table) < FOOTER_SIZE:
        raise CheckpointError(
            f"{path}: {len(table)} bytes is shorter than a table footer "
            f"({FOOTER_SIZE}): truncated or not a checkpoint index"
        )
    footer = table[-FOOTER_SIZE:]
    magic = int.from_bytes(footer[-8:], "little")
    if magic != TABLE_MAGIC:
        raise CheckpointError(
            f"{path}: bad magic number 0x{magic:016x} (expected 0x{TABLE_MAGIC:016x}): "
            "truncated or not a TensorFlow checkpoint index"
        )
    meta_offset, meta_size, pos = _handle(footer, 0, FOOTER_SIZE - 8, what)
    index_offset, index_size, _ = _handle(footer, pos, FOOTER_SIZE - 8, what)
    _read_block(table, meta_offset, meta_size, what)  # the metaindex: unused by TF, but checksummed
    index = _read_block(table, index_offset, index_size, what)
    items: list[tuple[bytes, bytes]] = []
    for _, handle in _block_entries(index, what):
        offset, size, _ = _handle(handle, 0, len(handle), what)
        items.extend(_block_entries(_read_block(table, offset, size, what), what))
    if any(a[0] >= b[0] for a, b in zip(items, items[1:])):
        raise CheckpointError(f"{path}: keys are not in strictly increasing order: corrupt table")
    return items


# --------------------------------------------------------------------------------------------
# tensor bundle
# --------------------------------------------------------------------------------------------
class TensorInfo(NamedTuple):
    """Where and what one tensor of a checkpoint is, as its ``BundleEntryProto`` records it."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int | None


def _shape(buf: bytes, what: str) -> tuple[int, ...]:
    dims = []
    for number, wire, value in _proto_fields(buf, what):
        if number == 3 and value:
            raise CheckpointError(f"{what}: tensor of unknown rank")
        if number == 2 and wire == 2:
            size = 0
            for n2, w2, v2 in _proto_fields(value, what):
                if n2 == 1 and w2 == 0:
                    size = v2 - (1 << 64) if v2 >= 1 << 63 else v2
            if size < 0:
                raise CheckpointError(f"{what}: negative dimension {size}")
            dims.append(size)
    return tuple(dims)


def _entry(name: str, buf: bytes, what: str) -> TensorInfo:
    what = f"{what}: entry {name!r}"
    dtype = shard = offset = size = 0
    crc, shape = None, ()
    for number, wire, value in _proto_fields(buf, what):
        if number == 1 and wire == 0:
            dtype = value
        elif number == 2 and wire == 2:
            shape = _shape(value, what)
        elif number == 3 and wire == 0:
            shard = value
        elif number == 4 and wire == 0:
            offset = value
        elif number == 5 and wire == 0:
            size = value
        elif number == 6 and wire == 5:
            crc = value
        elif number == 7:
            raise CheckpointError(f"{what}: partitioned (sliced) tensors are not supported")
    if dtype not in _DTYPES:
        kind = _DTYPE_NAMES.get(dtype, f"enum {dtype}")
        raise CheckpointError(f"{what}: unsupported dtype {kind}")
    expected = _DTYPES[dtype].itemsize * math.prod(shape)
    if size != expected:
        raise CheckpointError(
            f"{what}: {size} bytes recorded for shape {shape} of {_DTYPES[dtype]} ({expected} expected)"
        )
    return TensorInfo(name, _DTYPES[dtype], shape, shard, offset, size, crc)


def _index_path(prefix: str | os.PathLike) -> tuple[str, Path]:
    if not isinstance(prefix, (str, os.PathLike)):
        raise CheckpointError(f"prefix must be a str or path-like, got {type(prefix).__name__}")
    prefix = os.fspath(prefix)
    if prefix.endswith(".index"):
        prefix = prefix[: -len(".index")]
    return prefix, Path(prefix + ".index")


def _bundle(prefix) -> tuple[str, int, dict[str, TensorInfo]]:
    prefix, index = _index_path(prefix)
    if not index.exists() and (Path(prefix) / ".index").is_file():
        raise CheckpointError(
            f"{index}: no such checkpoint index file; the checkpoint was saved "
            f"into the folder {prefix}: pass {prefix + os.sep!r} as the prefix"
        )
    items = _table_items(index)
    if not items or items[0][0] != b"":
        raise CheckpointError(f"{index}: no bundle header (the empty key): not a tensor bundle")
    n_shards, endianness = 1, 0
    for number, wire, value in _proto_fields(items[0][1], f"{index}: header"):
        if number == 1 and wire == 0:
            n_shards = value
        elif number == 2 and wire == 0:
            endianness = value
    if endianness != 0:
        raise CheckpointError(f"{index}: big-endian checkpoints are not supported")
    if n_shards < 1:
        raise CheckpointError(f"{index}: header records {n_shards} shards")
    infos = {}
    for key, value in items[1:]:
        try:
            name = key.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{index}: tensor name {key!r} is not UTF-8") from exc
        info = _entry(name, value, str(index))
        if info.shard_id >= n_shards:
            raise CheckpointError(f"{index}: entry {name!r} is in shard {info.shard_id} of {n_shards}")
        infos[name] = info
    return prefix, n_shards, infos


def list_tensors(prefix: str | os.PathLike) -> dict[str, TensorInfo]:
    """The tensors a checkpoint holds, from its ``.index`` file alone.

    Parameters
    ----------
    prefix : str or path-like
        The checkpoint prefix (``P`` of ``P.index``; ``P.index`` itself is accepted too).

    Returns
    -------
    dict[str, TensorInfo]
        By tensor name, in key order.

    Raises
    ------
    CheckpointError
        Missing, truncated or corrupt index file.
    """
    return _bundle(prefix)[2]


def read_checkpoint(
    prefix: str | os.PathLike,
    *,
    names: Iterable[str] | None = None,
    verify: bool = True,
) -> dict[str, np.ndarray]:
    """Every tensor (or the named ones) of a TensorFlow checkpoint, as numpy arrays.

    Parameters
    ----------
    prefix : str or path-like
        The checkpoint prefix ``P``: the files are ``P.index`` and ``P.data-00000-of-00001``
        (and further shards).  For a checkpoint saved into a folder, ``P`` ends with ``/``.
    names : iterable of str, optional
        Read only these tensors (default: all).
    verify : bool
        Check each tensor's bytes against the CRC32C recorded in the index (default True).

    Returns
    -------
    tensors : dict[str, np.ndarray]
        By name, native byte order, with the recorded dtype and shape (each array owns its memory).

    Raises
    ------
    CheckpointError
        A missing file, a truncated or corrupt index or data shard, a checksum mismatch, an
        unknown tensor name in ``names``, or an unsupported entry (string tensors, slices).

    Examples
    --------
    >>> w = read_checkpoint("model/")                           # doctest: +SKIP
    >>> sorted(w)[:2]                                           # doctest: +SKIP
    ['model/batch_normalization/beta', 'model/batch_normalization/gamma']
    """
    prefix, n_shards, infos = _bundle(prefix)
    if names is not None:
        names = list(names)
        missing = [n for n in names if n not in infos]
        if missing:
            raise CheckpointError(f"{prefix}.index holds no tensor named {missing[0]!r} ({len(infos)} tensors)")
        infos = {n: infos[n] for n in names}
    shards: dict[int, bytes] = {}
    out = {}
    for name, info in infos.items():
        if info.shard_id not in shards:
            data = Path(f"{prefix}.data-{info.shard_id:05d}-of-{n_shards:05d}")
            try:
                shards[info.shard_id] = data.read_bytes()
            except FileNotFoundError as exc:
                raise CheckpointError(f"{data}: no such checkpoint data shard") from exc
            except OSError as exc:
                raise CheckpointError(f"{data}: cannot read ({exc})") from exc
        shard = shards[info.shard_id]
        if info.offset + info.size > len(shard):
            raise CheckpointError(
                f"{prefix}.data-{info.shard_id:05d}-of-{n_shards:05d}: tensor {name!r} "
                f"needs bytes {info.offset}..{info.offset + info.size} of a "
                f"{len(shard)}-byte shard: truncated"
            )
        raw = shard[info.offset : info.offset + info.size]
        if verify and info.crc32c is not None and masked_crc32c(raw) != info.crc32c:
            raise CheckpointError(f"{prefix}: tensor {name!r} fails its CRC32C check: corrupt data shard")
        out[name] = (
            np.frombuffer(raw, dtype=info.dtype).reshape(info.shape).astype(info.dtype.newbyteorder("="), copy=True)
        )
    return out
