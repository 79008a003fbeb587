"""Bytes in: per-thread reusable read buffers, decompression with a size cap, hashing, text checks.

Everything here works on raw bytes or ``memoryview`` s and knows nothing of the file formats; the
CHGCAR and cube parsers (:mod:`.chgcar`, :mod:`.cube`) read from :func:`_byte_stream` over the result.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import io
import lzma
import os
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

from ..config import ReadLimits
from ..errors import InputError
from .naming import strip_compression

#: bytes of decompressed text read to parse a header before the full inflate.
_HEADER_BYTES = 1 << 20


def sha256_file(path: str | Path, *, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def detect_compression(raw: bytes | memoryview, filename: str) -> str | None:
    """Codec from the magic bytes, falling back to the suffix (legacy ``.lzma`` has no magic)."""
    if raw[:2] == b"\x1f\x8b":
        return "gzip"
    if raw[:3] == b"BZh":
        return "bzip2"
    if raw[:6] == b"\xfd7zXZ\x00":
        return "xz"
    codec = strip_compression(filename)[1]
    return "lzma" if codec == "lzma" else None


def _inflater(codec: str):
    if codec == "gzip":
        return zlib.decompressobj(wbits=47)  # 32 + 15: gzip or zlib header
    if codec == "bzip2":
        return bz2.BZ2Decompressor()
    return lzma.LZMADecompressor(format=lzma.FORMAT_AUTO)


def _inflate_gzip_fast(raw: bytes | memoryview, max_bytes: int) -> memoryview | None:
    """One-shot gzip inflate through pyarrow (about 2× faster than zlib here), sized from the trailer.

    The gzip trailer's ISIZE is the uncompressed size modulo 2³² of the last member. When it is
    too small (multi-member files, files over 4 GiB) pyarrow fails; when it is too large pyarrow pads
    with zero bytes, which a text file never ends with. Either way return None and let zlib decide.
    """
    import pyarrow as pa

    size = int.from_bytes(raw[-4:], "little")
    if not 0 < size <= max_bytes:
        return None
    try:
        out = memoryview(pa.decompress(raw, decompressed_size=size, codec="gzip"))  # no copy to bytes
    except (OSError, ValueError, pa.ArrowException):
        return None
    return out if out[-1:] != b"\x00" else None


def _inflate_stream(raw: bytes | memoryview, codec: str, path: str, *, max_bytes: int) -> bytes:
    """Decompress every member of a gzip/bzip2/xz stream, stopping beyond ``max_bytes``.

    Concatenated members (``cat a.gz b.gz``, bgzip, pbzip2) are one file, as gzip itself reads them.
    """
    chunks: list[bytes] = []
    total = 0
    data = raw
    while True:
        inflater = _inflater(codec)
        try:
            out = inflater.decompress(data, max_bytes + 1 - total)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise InputError(path, f"corrupt {codec} data ({exc})") from None
        chunks.append(out)
        total += len(out)
        if total > max_bytes:
            raise InputError(path, f"decompresses to more than {max_bytes:,} bytes, more than its declared grid can hold")
        if not getattr(inflater, "eof", True):
            raise InputError(path, f"truncated {codec} stream (the compressed file ends early)")
        data = inflater.unused_data
        if not data.strip(b"\x00"):  # trailing padding after the last member
            return b"".join(chunks)


def _inflate(raw: bytes | memoryview, codec: str, path: str, *, max_bytes: int) -> bytes | memoryview:
    """Decompress ``raw``, refusing output beyond ``max_bytes`` (decompression bombs)."""
    if codec == "gzip" and (fast := _inflate_gzip_fast(raw, max_bytes)) is not None:
        return fast
    return _inflate_stream(raw, codec, path, max_bytes=max_bytes)


def _inflate_head(raw: bytes | memoryview, codec: str, path: str) -> bytes:
    """The first ``_HEADER_BYTES`` of the decompressed text (for the header check)."""
    try:
        return _inflater(codec).decompress(raw, _HEADER_BYTES)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise InputError(path, f"corrupt {codec} data ({exc})") from None


def _check_text(head: bytes, path: str) -> None:
    if not head.strip():
        raise InputError(path, "empty file")
    sample = head[:4096]
    if b"\x00" in sample or sum(byte > 127 for byte in sample) > len(sample) // 10:
        raise InputError(path, "binary data, not a text CHGCAR or cube file")


def _grid_capacity_check(points: int, raw_size: int, codec: str | None, path: str, limits: ReadLimits) -> None:
    """Refuse a declared grid before allocating it: over the limit, or more than the file can hold."""
    if points > limits.max_grid_points:
        raise InputError(
            path, f"declared grid of {points:,} points exceeds the limit of {limits.max_grid_points:,} (ReadLimits)"
        )
    if codec is None:
        capacity = raw_size // limits.min_bytes_per_value
    elif codec == "gzip":
        capacity = raw_size * limits.max_gzip_ratio // limits.min_bytes_per_value
    else:
        return  # bzip2/xz ratios are unbounded in principle; the grid limit and the inflate cap apply
    if points > capacity:
        raise InputError(
            path, f"declared grid of {points:,} points cannot fit in a file of {raw_size:,} bytes (truncated or corrupt)"
        )



_reusable = threading.local()
#: files up to this size are read into a per-thread buffer that is reused from file to file, bytes.
_REUSABLE_MAX_BYTES = 1 << 30


def read_bytes_reusing(path: str | Path) -> memoryview | bytes:
    """A file's bytes in a per-thread buffer reused by the next call (no fresh allocation per file).

    A fresh 38 MB ``bytes`` costs its page faults on every file (~12 ms of a 128³ CHGCAR's ~28 ms
    read); reading into a buffer that stays mapped avoids them. The view is valid only until this
    thread's next call: parse it, hash it, and let it go. Files over ``_REUSABLE_MAX_BYTES`` come
    back as plain ``bytes``.

    Raises:
        InputError: the file cannot be read.
    """
    try:
        with open(path, "rb", buffering=0) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > _REUSABLE_MAX_BYTES:
                return handle.read()
            buffer: bytearray | None = getattr(_reusable, "buffer", None)
            if buffer is None or len(buffer) < size + 1:
                # a new object rather than a resize: an earlier view may still be exported
                buffer = _reusable.buffer = bytearray(size + 1)
            view = memoryview(buffer)
            count = 0
            while count < size + 1:  # one byte more than fstat said: a file that grew is read whole
                got = handle.readinto(view[count:])
                if not got:
                    break
                count += got
            if count > size:  # it grew while we read it; fall back to reading it in one piece
                handle.seek(0)
                return handle.read()
            return view[:count]
    except OSError as exc:
        raise InputError(str(path), f"cannot read file ({exc.strerror or exc})") from None


class _BufferStream(io.RawIOBase):
    """A seekable binary stream over a ``memoryview``, without copying it (``io.BytesIO`` would)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B") if view.format != "B" else view
        self._size = len(self._view)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(base + offset, 0), self._size)
        return self._pos

    def readinto(self, target) -> int:
        count = min(len(target), self._size - self._pos)
        target[:count] = self._view[self._pos : self._pos + count]
        self._pos += count
        return count

    def read(self, size: int = -1) -> bytes:
        end = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        out = bytes(self._view[self._pos : end])
        self._pos = end
        return out

    def readline(self, size: int = -1) -> bytes:
        # Lines are short here (headers, augmentation titles): search in small copied windows.
        limit = self._size if size is None or size < 0 else min(self._size, self._pos + size)
        start = self._pos
        while start < limit:
            window = bytes(self._view[start : min(start + 256, limit)])
            newline = window.find(b"\n")
            if newline >= 0:
                return self.read(start + newline + 1 - self._pos)
            start += len(window)
        return self.read(limit - self._pos)


def _byte_stream(text: bytes | memoryview) -> IO[bytes]:
    """A binary stream over ``text``: no copy for bytes (``BytesIO`` shares it) nor for a reusable view."""
    return _BufferStream(text) if isinstance(text, memoryview) else io.BytesIO(text)  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _hash_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="screener-sha256")


def _hash_in_background(raw: bytes | memoryview) -> Future[str]:
    """SHA-256 of ``raw`` on a second core while the caller parses.

    hashlib releases the GIL while hashing a large buffer, but the parser does not; so wait until
    the hashing thread has started (and is about to release the GIL) before returning.
    """
    started = threading.Event()

    def work() -> str:
        started.set()
        return hashlib.sha256(raw).hexdigest()

    future = _hash_pool().submit(work)
    started.wait()
    return future
