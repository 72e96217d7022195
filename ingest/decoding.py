"""Bounded decoding of HTTP Content-Encodings (gzip, deflate) and of gzip files such as ``.xml.gz``.

Why a module of its own: decompression is where a tiny hostile body (a "zip bomb") turns into
gigabytes, so it is written with bounded ``zlib`` calls whose output never exceeds the caller's cap,
and it is worth reading and testing apart from the network code in :mod:`ingest.fetch`, which streams
raw bytes into a :class:`BodyDecoder`. :func:`maybe_gunzip` serves bodies that are gzip files rather
than gzip-encoded (sitemaps served without ``Content-Encoding``); ``ingest.fetch`` re-exports it.
"""

from __future__ import annotations

import zlib
from typing import Any

from ingest.addresses import FetchError

__all__ = ["ACCEPT_ENCODING", "BodyDecoder", "maybe_gunzip"]

# Only codings we decode with bounded output. brotli is not offered: it is not a dependency, and its
# Python binding has no portable way to cap the output of one decompress call.
ACCEPT_ENCODING = "gzip, deflate"
_MAX_STACKED_ENCODINGS = 2
_GZIP_MAGIC = b"\x1f\x8b"


class _InflateStage:
    """Streaming, output-bounded decoder for one ``gzip`` or ``deflate`` content-coding."""

    def __init__(self, coding: str, url: str) -> None:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise FetchError("unsupported_encoding", url, f"unsupported Content-Encoding {coding!r}")
        self._gzip = coding != "deflate"
        self._url = url
        self._zobj: Any = None
        self._pending = b""
        self._members = 0
        self._finished = False

    def decompress(self, data: bytes, limit: int) -> bytes:
        """Decode ``data``; output never exceeds ``limit`` (reaching it means the caller's cap is hit)."""
        if self._finished:
            return b""  # trailing bytes after a complete stream are ignored, not buffered
        out = bytearray()
        self._pending += data
        while self._pending and not self._finished and len(out) < limit:
            if self._zobj is None and not self._start_member():
                break
            chunk, self._pending = self._pending, b""
            try:
                out += self._zobj.decompress(chunk, limit - len(out))  # max_length > 0: 0 means unbounded
            except zlib.error as exc:
                raise FetchError("unsupported_encoding", self._url, f"corrupt body: {exc}") from exc
            self._pending = self._zobj.unconsumed_tail
            if self._zobj.eof:
                self._pending, self._zobj = self._zobj.unused_data, None
                self._members += 1
        return bytes(out)

    def _start_member(self) -> bool:
        """Open a decompressor for the next stream (gzip may have several members)."""
        if len(self._pending) < 2:
            return False  # need two bytes to recognise the header
        if self._members and not (self._gzip and self._pending.startswith(_GZIP_MAGIC)):
            self._finished, self._pending = True, b""
            return False
        if self._gzip:
            wbits = 16 + zlib.MAX_WBITS
        else:
            # "deflate" is meant to be zlib-wrapped but many servers send raw deflate: sniff the header.
            first, second = self._pending[0], self._pending[1]
            zlib_header = (first & 0x0F) == 8 and ((first << 8) | second) % 31 == 0
            wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
        self._zobj = zlib.decompressobj(wbits)
        return True

    def truncated(self) -> bool:
        """True if the stream stopped inside a compressed member."""
        return self._zobj is not None or (self._members == 0 and bool(self._pending))


class BodyDecoder:
    """Applies a Content-Encoding chain to streamed raw bytes, capping the decoded size."""

    def __init__(self, content_encoding: str, max_bytes: int, url: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > _MAX_STACKED_ENCODINGS:
            raise FetchError("unsupported_encoding", url, f"{len(codings)} stacked encodings: {codings}")
        # Codings are listed in the order applied, so they are undone in reverse.
        self._stages = [_InflateStage(coding, url) for coding in reversed(codings)]
        self._max_bytes = max_bytes
        self._url = url
        self._body = bytearray()

    def feed(self, data: bytes) -> None:
        # Intermediate stages get the same budget: a body whose inner layer exceeds the cap is refused.
        budget = self._max_bytes - len(self._body)
        for stage in self._stages:
            data = stage.decompress(data, budget + 1)
            if len(data) > budget:
                break
        if len(data) > budget:
            raise FetchError("too_large", self._url, f"body exceeds {self._max_bytes} bytes after decoding")
        self._body += data

    def finish(self) -> bytes:
        if any(stage.truncated() for stage in self._stages):
            raise FetchError("dataloss", self._url, "compressed body ended early")
        return bytes(self._body)


def maybe_gunzip(data: bytes, max_bytes: int) -> bytes:
    """Gunzip ``data`` if it is gzip (e.g. a ``.xml.gz`` sitemap served without Content-Encoding).

    Decoding is bounded by ``max_bytes`` (FetchError ``too_large``); a doubly gzipped file is unwrapped
    twice, and still-compressed output is never returned (``unsupported_encoding``).
    """
    for _ in range(_MAX_STACKED_ENCODINGS):
        if not data.startswith(_GZIP_MAGIC):
            break
        decoder = BodyDecoder("gzip", max_bytes, "")
        decoder.feed(data)
        data = decoder.finish()
    if data.startswith(_GZIP_MAGIC):
        raise FetchError("unsupported_encoding", "", "gzip nested more than twice")
    if len(data) > max_bytes:
        raise FetchError("too_large", "", f"body exceeds {max_bytes} bytes")
    return data
