"""Bytes in: regular files read by position (streamed, hashed in chunks, or into a per-thread reusable
buffer), streaming decompression with a size cap, hashing, text checks.

Everything here works on raw bytes, ``memoryview`` s or open files and knows nothing of the file
formats; the CHGCAR and cube parsers (:mod:`.chgcar`, :mod:`.cube`) read from the stream that
:func:`open_text` gives.
"""

from __future__ import annotations

import bz2
import collections
import functools
import hashlib
import io
import lzma
import os
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Callable

from ..config import ReadLimits
from ..errors import InputError
from .filetype import open_regular
from .naming import strip_compression

#: bytes of decompressed text read to parse a header before the full inflate.
_HEADER_BYTES = 1 << 20


def sha256_file(path: str | Path, *, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes, read in chunks (constant memory)."""
    digest = hashlib.sha256()
    with os.fdopen(open_regular(path), "rb") as handle:
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


#: most decompressed bytes produced per step of a streaming inflate (one chunk of the window); a step
#: produces what the read being served still needs, at least ``_MIN_INFLATE`` (1 to 8 MiB steps
#: inflate a 128³ gzip CHGCAR equally fast, as fast as pyarrow's one-call inflate).
_INFLATE_CHUNK = 1 << 21
_MIN_INFLATE = 1 << 16
#: compressed bytes fed to the inflater per step.
_FEED_CHUNK = 1 << 18
#: decompressed bytes kept behind the read position (the value parser reads 1 MiB ahead and
#: seeks back to the end of the last value it used).
_KEEP_BEHIND = 1 << 21


class _InflatingStream(io.RawIOBase):
    """A read-only binary stream that inflates gzip/bzip2/xz/lzma data as it is read.

    Only a window of a few MiB of the decompressed text is held, so memory does not grow with the
    file; output beyond ``max_bytes`` (what the declared grid can need) is refused as soon as it
    is produced, so a decompression bomb costs a few MiB and stops within ``max_bytes``.
    Concatenated members (``cat a.gz b.gz``, bgzip, pbzip2) are one file, as gzip itself reads them.
    Seeking backwards is allowed within the window (``_KEEP_BEHIND`` bytes behind the position).
    """

    def __init__(self, raw: bytes | memoryview | RegularFile, codec: str, path: str, *, max_bytes: int) -> None:
        super().__init__()
        if isinstance(raw, RegularFile):  # compressed bytes read from the file as they are needed
            self._raw_size, self._read_raw = raw.size, raw.pread
        else:
            view = memoryview(raw).cast("B") if isinstance(raw, memoryview) and raw.format != "B" else memoryview(raw)
            self._raw_size, self._read_raw = len(view), lambda offset, count: view[offset : offset + count]
        self._codec = codec
        self._path = path
        self._max_bytes = max_bytes
        self._inflater = _inflater(codec)
        self._in_pos = 0  # next compressed byte to feed
        self._pending = b""  # compressed bytes left over from a finished member
        self._chunks: collections.deque[bytes] = collections.deque()  # the window: inflated chunks, as produced
        self._base = 0  # absolute offset of _chunks[0][0]
        self._produced = 0  # absolute offset of the end of the last chunk
        self._pos = 0  # absolute read position
        self._done = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    @property
    def produced(self) -> int:
        """Decompressed bytes produced so far."""
        return self._produced

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            raise io.UnsupportedOperation("a streaming inflate has no known end")
        target = offset if whence == io.SEEK_SET else self._pos + offset
        if target < self._base:
            raise io.UnsupportedOperation(f"cannot seek back to {target} (window starts at {self._base})")
        self._fill(target)
        self._pos = min(target, self.produced)
        return self._pos

    def _next_input(self) -> bytes | memoryview:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        data = self._read_raw(self._in_pos, _FEED_CHUNK) if self._in_pos < self._raw_size else b""
        self._in_pos += len(data)
        return data

    def _step(self, want: int = _INFLATE_CHUNK) -> bytes:
        """Inflate the next chunk (empty at the end of the data); checks corruption, truncation and the cap."""
        inflater = self._inflater
        try:
            if isinstance(inflater, type(zlib.decompressobj())):
                data = inflater.unconsumed_tail or self._next_input()
                out = inflater.decompress(data, want)
                starved = not data
            else:
                data = self._next_input() if inflater.needs_input else b""
                out = inflater.decompress(data, want)
                starved = not data and inflater.needs_input
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise InputError(self._path, f"corrupt {self._codec} data ({exc})") from None
        if inflater.eof:
            rest = bytes(inflater.unused_data)
            if rest.strip(b"\x00") or not self._rest_is_nul():  # another member follows
                self._pending = rest
                self._inflater = _inflater(self._codec)
            else:  # the last member (and perhaps trailing padding)
                self._in_pos = self._raw_size
                self._done = True
        elif not out and starved:
            raise InputError(self._path, f"truncated {self._codec} stream (the compressed file ends early)")
        if self.produced + len(out) > self._max_bytes:
            raise InputError(
                self._path, f"decompresses to more than {self._max_bytes:,} bytes, more than its declared grid can need"
            )
        return out

    def _rest_is_nul(self) -> bool:
        """True when the compressed bytes not yet fed are only NULs (padding after the last member), read in chunks."""
        step = 1 << 20
        return all(
            not bytes(self._read_raw(offset, step)).strip(b"\x00") for offset in range(self._in_pos, self._raw_size, step)
        )

    def _fill(self, end: int) -> None:
        """Inflate until ``end`` bytes exist (or the data ends), dropping chunks that lie wholly more
        than ``_KEEP_BEHIND`` bytes behind the position. The chunks are kept as the inflater gives
        them and a read that spans exactly one is served that chunk itself: no copy into a window
        buffer and none out of it (those copies cost about a tenth of a 128³ read)."""
        chunks = self._chunks
        while self._produced < end and not self._done:
            while chunks and self._base + len(chunks[0]) < self._pos - _KEEP_BEHIND:
                self._base += len(chunks.popleft())
            # a step inflates what the read still needs: the value parser's sequential 1 MiB reads
            # then get each chunk as it is, without a copy
            out = self._step(min(max(end - self._produced, _MIN_INFLATE), _INFLATE_CHUNK))
            if out:
                chunks.append(out)
                self._produced += len(out)

    def _slice(self, start: int, end: int) -> bytes:
        """The produced bytes ``[start, end)`` (within the window): a whole chunk itself, else copied once."""
        pieces = []
        offset = self._base
        for chunk in self._chunks:
            stop = offset + len(chunk)
            if stop > start and offset < end:
                lo, hi = max(start - offset, 0), min(end, stop) - offset
                pieces.append(chunk if lo == 0 and hi == len(chunk) else chunk[lo:hi])
            if stop >= end:
                break
            offset = stop
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def _find_newline(self, start: int, end: int) -> int:
        """Absolute offset of the first newline in ``[start, end)`` of the produced bytes, or -1."""
        offset = self._base
        for chunk in self._chunks:
            stop = offset + len(chunk)
            if stop > start and offset < end:
                found = chunk.find(b"\n", max(start - offset, 0), min(end, stop) - offset)
                if found >= 0:
                    return offset + found
            offset = stop
        return -1

    def _take(self, count: int) -> bytes:
        end = min(self._pos + count, self._produced)
        out = self._slice(self._pos, end) if end > self._pos else b""
        self._pos = end
        return out

    def readinto(self, target) -> int:
        self._fill(self._pos + len(target))
        out = self._take(len(target))
        target[: len(out)] = out
        return len(out)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._max_bytes  # bounded by the cap: read() of a bomb stops with an InputError
        self._fill(self._pos + size)
        return self._take(size)

    def readline(self, size: int = -1) -> bytes:
        limit = self._max_bytes if size is None or size < 0 else size
        start = self._pos
        scanned = start
        while True:
            newline = self._find_newline(scanned, start + limit)
            if newline >= 0:
                return self.read(newline + 1 - start)
            scanned = self._produced
            if scanned - start >= limit or self._done:
                return self.read(min(scanned - start, limit))
            self._fill(self._produced + 1)


def open_text(
    raw: bytes | memoryview | RegularFile, codec: str | None, path: str, *, max_bytes: int
) -> IO[bytes]:
    """A binary stream over a file's text: ``raw`` itself, or its decompression.

    Args:
        raw: the file's bytes in memory, or a :class:`RegularFile` to stream from (a plain file
            through a small buffer, a compressed one through the streaming inflate; a few MiB held).
        max_bytes: refuse text (decompressed output, or a plain file's bytes) beyond this (what
            the declared grid can need).
    """
    if isinstance(raw, RegularFile):
        return raw.stream(max_bytes=max_bytes) if codec is None else _InflatingStream(raw, codec, path, max_bytes=max_bytes)
    if codec is None:
        return _byte_stream(raw)
    return _InflatingStream(raw, codec, path, max_bytes=max_bytes)


def _inflate_head(raw: bytes | memoryview, codec: str, path: str, size: int = _HEADER_BYTES) -> bytes:
    """The first ``size`` bytes of the decompressed text (for the header check)."""
    try:
        return _inflater(codec).decompress(raw, size)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise InputError(path, f"corrupt {codec} data ({exc})") from None


def _check_text(head: bytes, path: str) -> None:
    if not head.strip():
        raise InputError(path, "empty file")
    sample = head[:4096]
    if b"\x00" in sample or sum(byte > 127 for byte in sample) > len(sample) // 10:
        raise InputError(path, "binary data, not a text CHGCAR or cube file")


def _grid_capacity_check(points: int, raw_size: int, codec: str | None, path: str, limits: ReadLimits) -> None:
    """Refuse a declared grid before allocating it: over the limit, more than the file can hold, or
    a file larger than its declared grid can need."""
    if points > limits.max_grid_points:
        raise InputError(
            path, f"declared grid of {points:,} points exceeds the limit of {limits.max_grid_points:,} (ReadLimits)"
        )
    if raw_size > limits.text_bytes(points):
        raise InputError(
            path, f"file of {raw_size:,} bytes is larger than its declared grid of {points:,} points can need (ReadLimits)"
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
#: bytes read per step when hashing a file or reading it into fresh memory.
_HASH_CHUNK = 1 << 20
#: buffer of the stream over a plain file, bytes (the value parser reads 1 MiB at a time past it).
_STREAM_BUFFER = 1 << 16


def _too_large(path: str, size: int, max_bytes: int) -> InputError:
    return InputError(path, f"file of {size:,} bytes is larger than any accepted density can need ({max_bytes:,}, ReadLimits)")


def _grew(path: str, max_bytes: int) -> InputError:
    return InputError(path, f"file grew beyond {max_bytes:,} bytes while it was read (ReadLimits)")


class RegularFile:
    """One regular file, open for reading: its size, its first bytes, all of it, a bounded stream, its SHA-256.

    Only regular files are opened (:func:`~screener.io.filetype.open_regular`: a FIFO, socket or
    device, directly or behind a symlink, is refused at once), and none larger than ``max_bytes``.
    Every read is positional (``pread``), so the file's SHA-256 can be computed on another thread
    (:meth:`hash_in_background`) while the parser streams it. Use it as a context manager.

    Raises:
        InputError: the file cannot be opened or read, is not a regular file, or holds more than
            ``max_bytes`` bytes.
    """

    def __init__(self, path: str | Path, *, max_bytes: int | None = None) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self._fd = open_regular(path)
        self._hashing: Future[str] | None = None
        self._stop_hashing = threading.Event()
        try:
            self._stat = os.fstat(self._fd)
        except OSError as exc:
            os.close(self._fd)
            raise InputError(self.path, f"cannot read file ({exc.strerror or exc})") from None
        #: bytes, as ``fstat`` gave them when the file was opened.
        self.size: int = self._stat.st_size
        if max_bytes is not None and self.size > max_bytes:
            os.close(self._fd)
            raise _too_large(self.path, self.size, max_bytes)

    def __enter__(self) -> RegularFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop a hash still running (after its current chunk) and close the file."""
        if self._fd < 0:
            return
        if self._hashing is not None:
            self._stop_hashing.set()
            self._hashing.exception()  # wait for it: it reads through this descriptor
        os.close(self._fd)
        self._fd = -1

    def _error(self, exc: OSError) -> InputError:
        return InputError(self.path, f"cannot read file ({exc.strerror or exc})")

    def pread(self, offset: int, count: int) -> bytes:
        """Up to ``count`` bytes from byte ``offset`` (fewer only at the end of the file)."""
        parts: list[bytes] = []
        got = 0
        try:
            while got < count and (block := os.pread(self._fd, count - got, offset + got)):
                parts.append(block)
                got += len(block)
        except OSError as exc:
            raise self._error(exc) from None
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def preadinto(self, target: memoryview | bytearray, offset: int) -> int:
        """Fill ``target`` from byte ``offset``; the bytes read (fewer only at the end of the file)."""
        view = memoryview(target).cast("B")
        count = 0
        try:
            while count < len(view) and (got := os.preadv(self._fd, [view[count:]], offset + count)):
                count += got
        except OSError as exc:
            raise self._error(exc) from None
        return count

    def read_all(self) -> memoryview | bytes:
        """The whole file, in a per-thread buffer reused by this thread's next call (no fresh allocation per file).

        A fresh 38 MB ``bytes`` costs its page faults on every file (~12 ms of a 128³ CHGCAR's ~28 ms
        read); reading into a buffer that stays mapped avoids them. The view is valid only until this
        thread's next call: parse it, hash it, and let it go. Files over ``_REUSABLE_MAX_BYTES`` come
        back as plain ``bytes``. A file that grew since it was opened is read again in one piece, up to
        ``max_bytes``.
        """
        size = self.size
        if size > _REUSABLE_MAX_BYTES:
            return self._read_capped()
        buffer: bytearray | None = getattr(_reusable, "buffer", None)
        if buffer is None or len(buffer) < size + 1:
            # a new object rather than a resize: an earlier view may still be exported
            buffer = _reusable.buffer = bytearray(size + 1)
        view = memoryview(buffer)
        count = self.preadinto(view[: size + 1], 0)  # one byte more than fstat said: a file that grew is read whole
        if count > size:
            return self._read_capped()
        return view[:count]

    def _read_capped(self) -> bytes:
        """The whole file in fresh memory, never more than ``max_bytes``."""
        limit = self.max_bytes
        parts, offset = [], 0
        while block := self.pread(offset, _HASH_CHUNK if limit is None else min(_HASH_CHUNK, limit + 1 - offset)):
            parts.append(block)
            offset += len(block)
            if limit is not None and offset > limit:
                raise _grew(self.path, limit)
        return b"".join(parts)

    def stream(self, *, max_bytes: int) -> IO[bytes]:
        """A buffered binary stream over the file's bytes (a few KiB held), refused beyond ``max_bytes``."""
        return io.BufferedReader(_FileRaw(self, max_bytes), buffer_size=_STREAM_BUFFER)  # type: ignore[arg-type]

    def sha256(self) -> str:
        """SHA-256 of the file's bytes, read in chunks into one reused buffer (constant memory).

        Raises:
            InputError: the file cannot be read or grew beyond ``max_bytes`` while it was hashed.
        """
        digest = hashlib.sha256()
        buffer = memoryview(bytearray(_HASH_CHUNK))
        offset = 0
        while not self._stop_hashing.is_set() and (count := self.preadinto(buffer, offset)):
            digest.update(buffer[:count])
            offset += count
            if self.max_bytes is not None and offset > self.max_bytes:
                raise _grew(self.path, self.max_bytes)
        return digest.hexdigest()

    def hash_in_background(self) -> Future[str]:
        """:meth:`sha256` on a second core while the caller parses (the file stays open until it is done)."""
        self._hashing = _in_background(self.sha256)
        return self._hashing

    def check_unchanged(self) -> None:
        """Refuse a file whose size or modification time changed since it was opened (read in two passes,
        the hash and the parse could otherwise describe different bytes)."""
        try:
            now = os.fstat(self._fd)
        except OSError as exc:
            raise self._error(exc) from None
        if (now.st_size, now.st_mtime_ns) != (self._stat.st_size, self._stat.st_mtime_ns):
            raise InputError(self.path, "file changed while it was read")


class _FileRaw(io.RawIOBase):
    """Positional raw reads of a :class:`RegularFile` for an :class:`io.BufferedReader`, refused beyond
    ``max_bytes`` (a file that grows while it is read cannot make the reader go on forever)."""

    def __init__(self, file: RegularFile, max_bytes: int) -> None:
        super().__init__()
        self._file = file
        self._max_bytes = max_bytes
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._file.size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, target) -> int:
        count = self._file.preadinto(target, self._pos)
        self._pos += count
        if self._pos > self._max_bytes:
            raise _grew(self._file.path, self._max_bytes)
        return count


def read_bytes_reusing(path: str | Path, *, max_bytes: int | None = None) -> memoryview | bytes:
    """A file's bytes in a per-thread buffer reused by the next call (:meth:`RegularFile.read_all`).

    Raises:
        InputError: the file cannot be read, is not a regular file, or holds more than ``max_bytes``.
    """
    with RegularFile(path, max_bytes=max_bytes) as file:
        return file.read_all()


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


def _in_background(work: Callable[[], str]) -> Future[str]:
    """Run ``work`` (a hash) on the hashing thread, a second core, while the caller parses.

    hashlib and file reads release the GIL, but the parser does not; so wait until the hashing
    thread has started (and is about to release the GIL) before returning.
    """
    started = threading.Event()

    def run() -> str:
        started.set()
        return work()

    future = _hash_pool().submit(run)
    started.wait()
    return future


def _hash_in_background(raw: bytes | memoryview) -> Future[str]:
    """SHA-256 of ``raw`` on a second core while the caller parses."""
    return _in_background(lambda: hashlib.sha256(raw).hexdigest())
