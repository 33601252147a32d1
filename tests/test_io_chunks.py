"""Threaded inflation of deflate-compressed chunks (:mod:`glifx.io._chunks`) against h5py's read."""

from __future__ import annotations

import zlib

import h5py
import numpy as np
import pytest

from glifx.io._chunks import read_window

N = 300_007  # not a multiple of the chunk length: the last chunk is partly outside the data


class _CountingZlib:
    """Stands in for ``zlib`` in glifx.io._chunks: counts the chunks inflated on the threads."""

    def __init__(self) -> None:
        self.calls = 0

    def decompress(self, raw: bytes) -> bytes:
        self.calls += 1
        return zlib.decompress(raw)


@pytest.fixture
def inflated(monkeypatch) -> _CountingZlib:
    """The threaded path for windows of any length, with a count of the chunks it inflated."""
    import glifx.io._chunks as chunks

    counter = _CountingZlib()
    monkeypatch.setattr(chunks, "MIN_SAMPLES", 1)
    monkeypatch.setattr(chunks, "zlib", counter)
    return counter


@pytest.fixture
def datasets(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "chunks.h5"
    values = {
        "f4": np.cumsum(rng.normal(0, 1e-4, N)).astype(np.float32) - 0.07,
        "f8": rng.normal(0, 1, N),
        "i2": rng.integers(-2000, 2000, N).astype(np.int16),
    }
    with h5py.File(path, "w") as f:
        for name, x in values.items():
            f.create_dataset(f"{name}/shuffle", data=x, chunks=(7036,), compression="gzip",
                             shuffle=True)
            f.create_dataset(f"{name}/gzip", data=x, chunks=(5000,), compression="gzip",
                             compression_opts=9)
            f.create_dataset(f"{name}/plain", data=x, chunks=(5000,))
            f.create_dataset(f"{name}/lzf", data=x, chunks=(5000,), compression="lzf")
        # a chunk the deflate filter skipped (filter mask bit 1 set): stored shuffled only
        d = f.create_dataset("skipped", shape=(3 * 4096,), dtype="f4", chunks=(4096,),
                             compression="gzip", shuffle=True)
        block = rng.normal(0, 1, 3 * 4096).astype(np.float32)
        for k in range(3):
            part = block[k * 4096:(k + 1) * 4096]
            shuffled = part.view(np.uint8).reshape(4096, 4).T.tobytes()
            if k == 1:
                d.id.write_direct_chunk((k * 4096,), shuffled, filter_mask=0b10)
            else:
                d.id.write_direct_chunk((k * 4096,), zlib.compress(shuffled), filter_mask=0)
        # a chunk never written: h5py supplies the fill value
        f.create_dataset("sparse", shape=(20_000,), dtype="f4", chunks=(4096,),
                         compression="gzip", fillvalue=-1.5)[:4096] = 1.0
    with h5py.File(path, "r") as f:
        yield f


@pytest.mark.parametrize("window", [(0, N), (1, N - 1), (7036, 7036 * 3), (12_345, 250_001),
                                    (N - 10, N), (100, 100)])
def test_equals_h5py(datasets, inflated, window) -> None:
    start, stop = window
    for name in ("f4", "f8", "i2"):
        for layout in ("shuffle", "gzip", "plain", "lzf"):
            d = datasets[f"{name}/{layout}"]
            got = read_window(d, start, stop, n_jobs=2)
            expected = d[start:stop]
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
    if stop > start:
        assert inflated.calls > 0  # the threaded path ran (h5py read the others)


def test_skipped_filter_and_missing_chunks(datasets, inflated) -> None:
    for name in ("skipped", "sparse"):
        d = datasets[name]
        for start, stop in [(0, d.shape[0]), (1000, d.shape[0] - 3)]:
            np.testing.assert_array_equal(read_window(d, start, stop, n_jobs=2), d[start:stop])
    assert inflated.calls == 2 * 2  # "skipped": chunks 0 and 2 of each window; "sparse": h5py


def test_one_thread_reads_with_h5py(datasets, inflated) -> None:
    d = datasets["f4/shuffle"]
    np.testing.assert_array_equal(read_window(d, 0, N, n_jobs=1), d[:])
    assert inflated.calls == 0
