"""tfcheckpoint: TensorFlow checkpoints read without TensorFlow, and every damaged file refused with a typed error."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from melrec_lib.errors import MelrecError
from melrec_lib.nets import tfcheckpoint as tc

FIXTURE = Path(__file__).parent / "data" / "musicnn_reference.npz"


def _wheel_prefix(model: str) -> str:
    from melrec_lib.nets import musicnn

    return musicnn.checkpoint_prefix(model)


@pytest.fixture(scope="module")
def tf_digests() -> dict:
    """Shape, dtype and SHA-256 of every tensor as TensorFlow's reader returned them."""
    with np.load(FIXTURE) as d:
        return json.loads(str(d["meta"]))["checkpoints"]


@pytest.fixture
def ckpt(tmp_path) -> str:
    """A private copy of the MSD_musicnn checkpoint to damage."""
    src = Path(_wheel_prefix("MSD_musicnn"))
    for name in (".index", ".data-00000-of-00001"):
        shutil.copy(src / name, tmp_path / name)
    return str(tmp_path) + "/"


# --------------------------------------------------------------------------------------------
# a minimal writer of the same format, for dtypes and layouts the wheel does not have
# --------------------------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, payload: bytes) -> bytes:
    return _varint(number << 3 | wire) + payload


def _block(entries: list[tuple[bytes, bytes]], compression: int = 0) -> tuple[bytes, bytes]:
    """(block contents + trailer, contents) with one restart point and no prefix sharing."""
    body = b"".join(_varint(0) + _varint(len(k)) + _varint(len(v)) + k + v for k, v in entries)
    contents = body + struct.pack("<II", 0, 1)
    if compression == 1:  # snappy: one literal per <= 60 bytes
        stream = bytearray(_varint(len(contents)))
        for i in range(0, len(contents), 60):
            piece = contents[i : i + 60]
            stream += bytes([(len(piece) - 1) << 2]) + piece
        contents = bytes(stream)
    trailer = bytes([compression]) + struct.pack("<I", tc.masked_crc32c(contents + bytes([compression])))
    return contents + trailer, contents


def write_checkpoint(
    prefix: str, tensors: dict[str, np.ndarray], *, compression: int = 0, extra: dict[str, bytes] | None = None
) -> None:
    """Write ``tensors`` as a one-shard TF tensor bundle (sorted keys, one data block).

    ``extra[name]`` is appended to that tensor's BundleEntryProto (a later scalar field
    overrides an earlier one in protobuf), to forge inconsistent entries.
    """
    dtypes = {v.str: k for k, v in tc._DTYPES.items()}
    data, entries = bytearray(), [(b"", _field(1, 0, _varint(1)) + _field(2, 0, _varint(0)))]
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        shape = b"".join(_field(2, 2, _varint(len(d)) + d) for d in (_field(1, 0, _varint(s)) for s in a.shape))
        entry = (
            _field(1, 0, _varint(dtypes[a.dtype.newbyteorder("<").str]))
            + _field(2, 2, _varint(len(shape)) + shape)
            + _field(4, 0, _varint(len(data)))
            + _field(5, 0, _varint(len(raw)))
            + _field(6, 5, struct.pack("<I", tc.masked_crc32c(raw)))
            + (extra or {}).get(name, b"")
        )
        entries.append((name.encode(), entry))
        data += raw
    table = bytearray()
    block, contents = _block(entries, compression)
    data_handle = _varint(0) + _varint(len(contents))
    table += block
    meta_block, meta_contents = _block([])
    meta_handle = _varint(len(table)) + _varint(len(meta_contents))
    table += meta_block
    index_block, index_contents = _block([(entries[-1][0], data_handle)])
    index_handle = _varint(len(table)) + _varint(len(index_contents))
    table += index_block
    footer = (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", tc.TABLE_MAGIC)
    Path(prefix + ".index").write_bytes(bytes(table + footer))
    Path(prefix + ".data-00000-of-00001").write_bytes(bytes(data))


# --------------------------------------------------------------------------------------------
# CRC32C
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data, expected",
    [
        (b"123456789", 0xE3069283),  # the standard check value
        (bytes(32), 0x8A9136AA),  # RFC 3720 B.4 test vectors
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (b"", 0x0),
    ],
)
def test_crc32c_known_values(data, expected):
    assert tc.crc32c(data) == expected


@pytest.mark.parametrize("n", [4095, 4096, 4097, 65536 + 17, 1_000_003])
def test_crc32c_vectorised_equals_bytewise(rng, n):
    data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    table = [int(v) for v in tc._crc_table()]
    assert tc.crc32c(data) == tc._crc_update_py(0xFFFFFFFF, data, table) ^ 0xFFFFFFFF


def test_masked_crc_is_leveldb_mask():
    crc = tc.crc32c(b"foo")
    assert tc.masked_crc32c(b"foo") == ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    assert tc.masked_crc32c(b"foo") != crc


# --------------------------------------------------------------------------------------------
# good files
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_wheel_checkpoint_equals_tensorflows_reading(model, tf_digests):
    tensors = tc.read_checkpoint(_wheel_prefix(model))
    expected = tf_digests[model]
    assert sorted(tensors) == sorted(expected)
    for name, (shape, dtype, sha) in expected.items():
        a = tensors[name]
        assert list(a.shape) == shape and a.dtype.str == dtype, name
        assert hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest() == sha, name


def test_list_tensors_reads_index_only(tmp_path):
    prefix = _wheel_prefix("MSD_musicnn")
    infos = tc.list_tensors(prefix)
    assert infos["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert infos["dense/kernel"].dtype == np.float32 and infos["dense/kernel"].size == 1506 * 200 * 4
    assert tc.list_tensors(prefix + ".index").keys() == infos.keys()  # the .index path works too


def test_named_subset_and_unknown_name():
    prefix = _wheel_prefix("MTT_musicnn")
    sub = tc.read_checkpoint(prefix, names=["dense_1/bias"])
    assert list(sub) == ["dense_1/bias"] and sub["dense_1/bias"].shape == (50,)
    assert sub["dense_1/bias"].flags.writeable
    with pytest.raises(tc.CheckpointError, match="no tensor named 'nope'"):
        tc.read_checkpoint(prefix, names=["nope"])


@pytest.mark.parametrize("compression", [0, 1])
def test_own_writer_round_trip_dtypes(tmp_path, rng, compression):
    tensors = {
        "a/float32": rng.standard_normal((3, 4)).astype(np.float32),
        "b/float64": rng.standard_normal(5),
        "c/int64": np.arange(-3, 3, dtype=np.int64),
        "d/bool": np.array([True, False, True]),
        "e/float16": rng.standard_normal((2, 2, 2)).astype(np.float16),
        "f/scalar": np.array(7, dtype=np.int32),
        "g/empty": np.zeros((0, 3), np.float32),
        "h/big": rng.standard_normal(3000).astype(np.float32),  # > 4096 bytes: the vectorised CRC
    }
    prefix = str(tmp_path / "model.ckpt")
    write_checkpoint(prefix, tensors, compression=compression)
    out = tc.read_checkpoint(prefix)
    assert sorted(out) == sorted(tensors)
    for name, a in tensors.items():
        assert out[name].dtype == a.dtype and out[name].shape == a.shape
        np.testing.assert_array_equal(out[name], a)


def test_snappy_decoder_copies():
    # "abc" literal, then a 6-byte copy from 3 bytes back (overlapping its own output)
    assert tc._snappy_decompress(b"\x09\x08abc\x09\x03", "t") == b"abcabcabc"
    with pytest.raises(tc.CheckpointError, match="offset"):
        tc._snappy_decompress(b"\x09\x08abc\x09\x09", "t")
    with pytest.raises(tc.CheckpointError, match="decodes to"):
        tc._snappy_decompress(b"\x0a\x08abc\x09\x03", "t")


# --------------------------------------------------------------------------------------------
# bad files: always a CheckpointError (a MelrecError and a ValueError)
# --------------------------------------------------------------------------------------------
def _damage(path: str, fn) -> None:
    p = Path(path)
    p.write_bytes(fn(bytearray(p.read_bytes())))


def _flip(offset: int):
    def fn(b: bytearray) -> bytes:
        b[offset] ^= 0x40
        return bytes(b)

    return fn


@pytest.mark.parametrize(
    "damage, file, match",
    [
        (lambda b: bytes(b[:-1]), ".index", "magic|shorter"),
        (lambda b: bytes(b[: len(b) // 2]), ".index", "magic"),
        (lambda b: b"", ".index", "shorter than a table footer"),
        (_flip(-1), ".index", "bad magic"),
        (_flip(100), ".index", "checksum"),
        (lambda b: bytes(b[:-10]), ".data-00000-of-00001", "truncated"),
        (lambda b: bytes(b[:1000]), ".data-00000-of-00001", "truncated"),
        (_flip(5_000_000), ".data-00000-of-00001", "CRC32C"),
        (_flip(0), ".data-00000-of-00001", "CRC32C"),
    ],
)
def test_damaged_files_are_refused(ckpt, damage, file, match):
    _damage(ckpt + file, damage)
    with pytest.raises(tc.CheckpointError, match=match) as info:
        tc.read_checkpoint(ckpt)
    assert isinstance(info.value, MelrecError) and isinstance(info.value, ValueError)


def test_flipped_data_byte_passes_only_without_verification(ckpt):
    _damage(ckpt + ".data-00000-of-00001", _flip(5_000_000))
    assert len(tc.read_checkpoint(ckpt, verify=False)) == 150


@pytest.mark.parametrize("missing", [".index", ".data-00000-of-00001"])
def test_missing_file(ckpt, missing):
    Path(ckpt + missing).unlink()
    with pytest.raises(tc.CheckpointError, match="no such checkpoint"):
        tc.read_checkpoint(ckpt)


def test_folder_without_separator_gets_a_hint(ckpt):
    with pytest.raises(tc.CheckpointError, match="pass .* as the prefix"):
        tc.read_checkpoint(ckpt.rstrip("/"))


def test_not_a_checkpoint(tmp_path):
    (tmp_path / "x.index").write_bytes(b"this is a text file, not a table" * 10)
    with pytest.raises(tc.CheckpointError, match="magic"):
        tc.read_checkpoint(tmp_path / "x")
    with pytest.raises(tc.CheckpointError, match="path-like"):
        tc.read_checkpoint(42)


def test_every_truncation_and_byte_flip_of_the_index_is_typed(ckpt):
    """No damage to the index, anywhere, escapes as IndexError, struct.error or the like."""
    original = Path(ckpt + ".index").read_bytes()
    for cut in range(0, len(original), 37):
        Path(ckpt + ".index").write_bytes(original[:cut])
        with pytest.raises(tc.CheckpointError):
            tc.list_tensors(ckpt)
    Path(ckpt + ".index").write_bytes(original)
    listing = tc.list_tensors(ckpt)
    unchecked = 0
    for offset in range(0, len(original), 7):
        damaged = bytearray(original)
        damaged[offset] ^= 0xFF
        Path(ckpt + ".index").write_bytes(bytes(damaged))
        try:
            assert tc.list_tensors(ckpt) == listing  # only the footer's padding is unchecked
            unchecked += 1
            assert len(original) - tc.FOOTER_SIZE <= offset < len(original) - 8
        except tc.CheckpointError:
            pass
    assert unchecked < 40 // 7 + 1


@pytest.mark.parametrize(
    "extra, match",
    [
        (_field(1, 0, _varint(7)), "entry 'w': unsupported dtype string"),  # a later field wins
        (_field(1, 0, _varint(99)), "unsupported dtype enum 99"),
        (_field(7, 2, _varint(0)), "sliced"),
        (_field(3, 0, _varint(5)), "shard 5 of 1"),
        (_field(5, 0, _varint(8)), "8 bytes recorded"),
        (_varint(6 << 3 | 5) + b"\x01", "truncated fixed32"),
        (_varint(1 << 3 | 3), "wire type 3"),
    ],
)
def test_unsupported_or_inconsistent_entries_are_named(tmp_path, extra, match):
    prefix = str(tmp_path / "m")
    write_checkpoint(prefix, {"w": np.zeros(3, np.float32)}, extra={"w": extra})
    with pytest.raises(tc.CheckpointError, match=match):
        tc.read_checkpoint(prefix)
