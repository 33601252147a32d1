"""Reading a long 1-D HDF5 dataset whose chunks are deflate-compressed, on several threads.

h5py decompresses a dataset's chunks one after the other, holding its global lock (and the GIL)
throughout: a 25 s, 200 kHz sweep stored with gzip is 5 million samples inflated on one core.
Here the compressed chunks are read as they are stored (``read_direct_chunk``, fast: no filter
runs), then inflated (:func:`zlib.decompress` releases the GIL) and un-shuffled on the threads
of :func:`glifx.glif.simulator.map_threads`.  The bytes are those the HDF5 filters would give,
so the array equals ``data[start:stop]``.

Only the common layout is handled: a 1-D, chunked dataset of a native numeric type whose filter
pipeline is deflate alone or shuffle then deflate (what h5py's and pynwb's ``compression="gzip"``,
``shuffle=True`` write).  Anything else (other filters, a missing chunk, one thread, a short
window) is read by h5py as usual.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

#: Windows shorter than this many samples are read by h5py alone (threads would not pay).
MIN_SAMPLES = 1 << 20

_DEFLATE, _SHUFFLE = 1, 2  # HDF5 filter identifiers (H5Z_FILTER_DEFLATE, H5Z_FILTER_SHUFFLE)


def _pipeline(data: Any) -> tuple[bool, int, int] | None:
    """``(shuffled, shuffle_bit, deflate_bit)`` of a supported filter pipeline, else ``None``.

    The bits index the chunk filter mask, in which a set bit means the filter was skipped for
    that chunk (HDF5 skips an optional filter that fails, e.g. deflate on incompressible data).
    """
    if data.ndim != 1 or data.chunks is None or not data.dtype.isnative \
            or data.dtype.kind not in "fiu":
        return None
    plist = data.id.get_create_plist()
    codes = [plist.get_filter(k)[0] for k in range(plist.get_nfilters())]
    if codes == [_DEFLATE]:
        return False, -1, 0
    if codes == [_SHUFFLE, _DEFLATE]:
        return True, 0, 1
    return None


def read_window(data: Any, start: int, stop: int, n_jobs: int | None = None) -> np.ndarray:
    """``data[start:stop]`` of a 1-D h5py dataset, its deflate chunks inflated on threads.

    Parameters
    ----------
    data
        An open ``h5py.Dataset``.
    start, stop
        Sample range, ``0 <= start <= stop <= data.shape[0]``.
    n_jobs
        Threads; default :func:`glifx.glif.simulator.default_n_jobs` (1 in a cohort's worker,
        where h5py's own read is used).

    Returns
    -------
    numpy.ndarray
        The samples, in the dataset's type (equal to ``data[start:stop]``).
    """
    from glifx.glif.simulator import default_n_jobs, map_threads

    n_jobs = default_n_jobs() if n_jobs is None else n_jobs
    layout = _pipeline(data) if n_jobs > 1 and stop - start >= MIN_SAMPLES else None
    if layout is None:
        return data[start:stop]
    shuffled, shuffle_bit, deflate_bit = layout
    length = int(data.chunks[0])
    item = data.dtype.itemsize
    dsid = data.id
    offsets = range(start - start % length, stop, length)
    stored = []
    for offset in offsets:  # the compressed bytes, read under h5py's lock (no filter runs)
        if dsid.get_chunk_info_by_coord((offset,)).byte_offset is None:
            return data[start:stop]  # never written: h5py supplies the fill value
        stored.append(dsid.read_direct_chunk((offset,)))
    out = np.empty(stop - start, dtype=data.dtype)
    out_bytes = out.view(np.uint8)

    def inflate(span: tuple[int, int]) -> bool:
        for k in range(*span):
            mask, raw = stored[k]
            chunk = raw if mask >> deflate_bit & 1 else zlib.decompress(raw)
            if len(chunk) != length * item:
                return False
            values = np.frombuffer(chunk, dtype=np.uint8)
            if shuffled and not mask >> shuffle_bit & 1:  # byte planes back to samples
                values = values.reshape(item, length).T
            else:
                values = values.reshape(length, item)
            a = max(offsets[k], start)
            b = min(offsets[k] + length, stop)
            out_bytes.reshape(-1, item)[a - start:b - start] = \
                values[a - offsets[k]:b - offsets[k]]
        return True

    n = len(stored)
    step = -(-n // n_jobs)
    if not all(map_threads(inflate, [(k, min(k + step, n)) for k in range(0, n, step)],
                           n_jobs=n_jobs)):
        return data[start:stop]  # a chunk of an unexpected size: let HDF5 read it
    return out
