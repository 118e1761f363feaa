# SPDX-License-Identifier: Apache-2.0
"""Compression of stored bodies and texts: zstd, optionally against a base used as a raw dictionary.

Pure (bytes in, bytes out), so a worker process can pack a fetched page while the archive's process fetches
the next one. The archive decides what is stored against what (:mod:`tosmonitor.archive`); this module only
knows how.
"""

from __future__ import annotations

from functools import lru_cache

import zstandard

from .errors import ArchiveError

# Level 3 compresses a ~90 KB page in about a quarter of the time level 6 takes, for ~3% more bytes.
LEVEL = 3

_DECOMPRESSOR = zstandard.ZstdDecompressor()

Packed = tuple[bytes, str, str | None]  # blob, codec, sha256 of the keyframe it is a delta against


@lru_cache(maxsize=2)
def _delta_compressor(base: bytes) -> zstandard.ZstdCompressor:
    """A compressor with ``base`` as its dictionary, prepared once for consecutive deltas against one base
    (an import of one page's captures: all against the same keyframe). Two at most: each holds a few MB."""
    dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
    dictionary.precompute_compress(level=LEVEL)
    return zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)


def compress(data: bytes, base: bytes | None = None, *, reuse_base: bool = True) -> tuple[bytes, str]:
    """Compress ``data``; with ``base``, as a delta against it. Returns (blob, codec).

    ``reuse_base``: keep the compressor prepared for ``base`` (see ``_delta_compressor``); False for a base
    used once, such as one of many pages' keyframes in turn, whose prepared compressors would only take memory.
    """
    if base:
        if reuse_base:
            compressor = _delta_compressor(base)
        else:
            dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            compressor = zstandard.ZstdCompressor(level=LEVEL, dict_data=dictionary)
        return compressor.compress(data), "zstd-delta"
    return zstandard.ZstdCompressor(level=LEVEL).compress(data), "zstd"


def decompress(blob: bytes, codec: str, base: bytes | None = None) -> bytes:
    """The data ``compress`` was given (``base``: the same base).

    :raises ArchiveError: on an unknown codec, or a delta without its base.
    """
    if codec == "zstd":
        return _DECOMPRESSOR.decompress(blob)
    if codec == "zstd-delta":
        if base is None:
            raise ArchiveError("delta-compressed record without its base")
        dictionary = zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return zstandard.ZstdDecompressor(dict_data=dictionary).decompress(blob)
    if codec == "raw":
        return blob
    raise ArchiveError(f"unknown codec {codec!r}")


def pack_snapshot(
    body: bytes, keyframe: bytes | None, keyframe_sha: str | None, *, reuse_base: bool = True
) -> Packed:
    """A raw body as the archive stores it: a delta against its page's keyframe (``keyframe``, the full body
    whose sha256 is ``keyframe_sha``) when there is one, or a new keyframe (a full copy) when there is none or
    the page drifted too far from it (the delta is over 1/8 of the body and no more than 4 times the size of
    a full copy). ``reuse_base``: as for :func:`compress`."""
    blob, codec = compress(body, keyframe, reuse_base=reuse_base)
    if codec == "zstd-delta" and len(blob) > len(body) // 8:  # drifted too far: start a new keyframe
        plain, plain_codec = compress(body)
        if len(plain) <= len(blob) * 4:
            return plain, plain_codec, None
    return blob, codec, keyframe_sha if codec == "zstd-delta" else None
