"""codec.container: exact sizes, bit-exact round trips, and every way a .codes file can be bad."""

import json
import struct
import zlib

import numpy as np
import pytest
import soundfile as sf

from codec import container
from codec.container import CodesHeader
from codec.errors import InvalidCodesFile

SIZES = [[2], [1000], [1024], [16384], [1024, 1000, 2, 16384, 3]]


def make(sizes, n_frames=37, seed=0):
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, k, n_frames) for k in sizes])
    codes[:, 0] = [k - 1 for k in sizes]  # extremes are where bit packing goes wrong
    codes[:, 1] = 0
    header = CodesHeader(model="tiny", weights_hash="abc123", sample_rate=24000, frame_rate=75.0,
                         hop=320, codebook_sizes=list(sizes), n_frames=n_frames, n_samples=n_frames * 320)
    return header, codes


def expected_size(header):
    bits = header.n_frames * sum(int(np.ceil(np.log2(k))) for k in header.codebook_sizes)
    return 8 + 2 + 4 + len(header.to_json()) + (bits + 7) // 8 + 4


def reseal(data: bytes) -> bytes:
    """Recompute the CRC so a deliberately edited file passes the checksum."""
    return data[:-4] + struct.pack("<I", zlib.crc32(data[:-4]))


@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_roundtrip_and_exact_size(tmp_path, sizes):
    header, codes = make(sizes)
    path = tmp_path / "x.codes"
    container.write(path, header, codes)
    assert path.stat().st_size == expected_size(header)
    h2, c2 = container.read(path)
    assert h2 == header
    np.testing.assert_array_equal(c2, codes)
    assert list(tmp_path.iterdir()) == [path]


def test_pack_unpack_bits():
    codes = np.array([[1, 0, 1], [1023, 0, 512]])
    data = container.pack_codes(codes, [2, 1024])
    assert len(data) == (3 * 11 + 7) // 8
    assert data[0] == 0b10111111  # 1,0,1 then the MSBs of 1023
    np.testing.assert_array_equal(container.unpack_codes(data, [2, 1024], 3), codes)
    assert container.pack_codes(np.zeros((2, 0), np.int64), [2, 1024]) == b""


def test_payload_matches_nominal_bitrate():
    header, codes = make([1024] * 8, n_frames=750)  # 10 s at 75 Hz, 8 x 10 bit = 6 kbit/s
    assert len(container.pack_codes(codes, header.codebook_sizes)) == 6000 * 10 // 8


def test_every_single_byte_corruption_detected():
    header, codes = make([1024, 1000, 2], n_frames=20)
    data = container.dumps(header, codes)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        with pytest.raises(InvalidCodesFile, match="^f.codes: "):
            container.loads(bytes(bad), "f.codes")


def test_payload_corruption_says_corrupt():
    header, codes = make([1024], n_frames=20)
    data = bytearray(container.dumps(header, codes))
    data[-6] ^= 1
    with pytest.raises(InvalidCodesFile, match="corrupt"):
        container.loads(bytes(data), "f.codes")


def test_truncation_detected(tmp_path):
    header, codes = make([1024, 2])
    data = container.dumps(header, codes)
    for n in [0, 5, 12, 20, len(data) // 2, len(data) - 1]:
        with pytest.raises(InvalidCodesFile, match="truncated"):
            container.loads(data[:n], "t.codes")


def test_wav_is_foreign(tmp_path):
    path = tmp_path / "a.codes"
    sf.write(path, np.zeros(100, np.float32), 24000, format="WAV")
    with pytest.raises(InvalidCodesFile, match=rf"^{path}: not a \.codes file"):
        container.read(path)
    with pytest.raises(InvalidCodesFile, match="no such file"):
        container.read(tmp_path / "nope.codes")


def test_unsupported_version():
    header, codes = make([2])
    data = bytearray(container.dumps(header, codes))
    data[8:10] = struct.pack("<H", 3)
    with pytest.raises(InvalidCodesFile, match="unsupported .codes version 3 .this reader knows 1 and 2"):
        container.loads(reseal(bytes(data)))


def test_version_1_files_without_codes_hash_still_read():
    """Files written before codes_hash (version 1) read as they were; version 2 carries it."""
    header, codes = make([1024, 2])
    old = CodesHeader(**{**header.__dict__, "version": 1})
    data = container.dumps(old, codes)
    assert data[8:10] == struct.pack("<H", 1) and b"codes_hash" not in data
    h1, c1 = container.loads(data)
    assert (h1.version, h1.codes_hash) == (1, "") and h1 == old
    np.testing.assert_array_equal(c1, codes)
    new = CodesHeader(**{**header.__dict__, "codes_hash": "21a39db1cff0dabf"})
    assert container.loads(container.dumps(new, codes))[0].codes_hash == "21a39db1cff0dabf"
    with pytest.raises(InvalidCodesFile, match="version 1 header carries no codes_hash"):
        container.dumps(CodesHeader(**{**new.__dict__, "version": 1}), codes)
    relabelled = bytearray(data)
    relabelled[8:10] = struct.pack("<H", 2)
    with pytest.raises(InvalidCodesFile, match="header version 1 disagrees with the file's 2"):
        container.loads(reseal(bytes(relabelled)))
    d = json.loads(old.to_json())
    d["version"] = 2  # a version 2 header needs the key
    with pytest.raises(InvalidCodesFile, match="missing .'codes_hash'"):
        container.loads(_with_header(bytes(relabelled), json.dumps(d).encode()))


def _with_header(data: bytes, raw: bytes) -> bytes:
    """Swap the JSON header (keeping the payload) and reseal."""
    hlen = struct.unpack_from("<I", data, 10)[0]
    body = data[:10] + struct.pack("<I", len(raw)) + raw + data[14 + hlen : -4]
    return reseal(body + b"\0\0\0\0")


@pytest.mark.parametrize("edit, match", [
    (lambda d: d.pop("hop"), "missing"),
    (lambda d: d.update(extra=1), "unexpected"),
    (lambda d: d.update(sample_rate="24000"), "sample_rate"),
    (lambda d: d.update(codebook_sizes=[]), "codebook_sizes"),
    (lambda d: d.update(n_frames=38), "payload size disagrees"),
    (lambda d: d.update(n_frames=36), "payload size disagrees"),
])
def test_header_validation(edit, match):
    import json

    header, codes = make([1024, 2])
    data = container.dumps(header, codes)
    d = json.loads(header.to_json())
    edit(d)
    with pytest.raises(InvalidCodesFile, match=match):
        container.loads(_with_header(data, json.dumps(d).encode()), "h.codes")
    with pytest.raises(InvalidCodesFile, match="not valid JSON"):
        container.loads(_with_header(data, b"{not json"), "h.codes")


def test_out_of_range_codes_rejected_on_write_and_read(tmp_path):
    header, codes = make([1000, 2])
    for bad_value in (1000, -1):
        bad = codes.copy()
        bad[0, 5] = bad_value
        with pytest.raises(InvalidCodesFile, match=r"o\.codes: code .* stream 0, frame 5"):
            container.write(tmp_path / "o.codes", header, bad)
    with pytest.raises(InvalidCodesFile, match="shaped"):
        container.write(tmp_path / "o.codes", header, codes[:1])
    with pytest.raises(InvalidCodesFile, match="frames"):
        container.write(tmp_path / "o.codes", header, codes[:, :-1])
    assert list(tmp_path.iterdir()) == []
    # 1000 is not a power of two: 10 bits can hold 1023, which a reader must refuse.
    payload = container.pack_codes(codes, [1024, 2])
    bad = bytearray(container.dumps(header, codes))
    bad[-4 - len(payload):-4] = b"\xff" + payload[1:]
    with pytest.raises(InvalidCodesFile, match="outside codebook of size 1000"):
        container.loads(reseal(bytes(bad)))


def test_atomic_write_keeps_existing_file_on_error(tmp_path):
    header, codes = make([1024])
    path = tmp_path / "keep.codes"
    container.write(path, header, codes)
    before = path.read_bytes()
    bad = codes.copy()
    bad[0, 0] = 5000
    with pytest.raises(InvalidCodesFile):
        container.write(path, header, bad)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
