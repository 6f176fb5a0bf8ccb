"""Rendered /fetch/ bodies kept per data version, with their gzip form compressed once."""

from __future__ import annotations

import asyncio
import gzip
from collections import OrderedDict
from dataclasses import dataclass

from home.storage import DataVersion

CACHE_MAX_BYTES = 64 * 1024 * 1024
CACHE_MAX_ENTRIES = 256
GZIP_LEVEL = 6
# Bodies larger than this are compressed in a worker thread rather than on the event loop.
GZIP_INLINE_BYTES = 256 * 1024


@dataclass
class CachedBody:
    """One rendered body and, once a client has asked for it, its gzip form."""

    body: bytes
    gzip: bytes | None = None

    @property
    def size(self) -> int:
        """Bytes held, both forms together."""
        return len(self.body) + len(self.gzip or b"")


class BodyCache:
    """Bodies for the newest data version seen; a newer version empties it."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES, max_entries: int = CACHE_MAX_ENTRIES):
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.version: DataVersion | None = None
        self._entries: OrderedDict[str, CachedBody] = OrderedDict()
        self._compressing: dict[str, asyncio.Future[bytes]] = {}
        self._filling: set[str] = set()

    @property
    def size(self) -> int:
        """Bytes held by every entry."""
        return sum(entry.size for entry in self._entries.values())

    def get(self, version: DataVersion, tag: str) -> CachedBody | None:
        """The body rendered for `tag` at exactly `version`, if kept."""
        if version != self.version:
            return None
        entry = self._entries.get(tag)
        if entry is not None:
            self._entries.move_to_end(tag)
        return entry

    def put(
        self, version: DataVersion, tag: str, body: bytes, gzipped: bytes | None = None
    ) -> None:
        """Keep a body rendered at `version` unless a newer version has been seen already."""
        if version != self.version and not self.advance(version):
            return
        entry = CachedBody(body, gzipped)
        if entry.size > self.max_bytes:
            return
        self._entries[tag] = entry
        self._entries.move_to_end(tag)
        self._evict()

    def advance(self, version: DataVersion) -> bool:
        """Move on to `version` unless it is older than the one held, dropping the bodies of
        the old one at once (a large roster's body is not kept beside the next one's render).
        False when `version` is older."""
        if version == self.version:
            return True
        if (
            self.version is not None
            and version.epoch == self.version.epoch
            and version.number < self.version.number
        ):
            return False
        self.version = version
        self._entries.clear()
        self._compressing.clear()
        return True

    def _evict(self) -> None:
        while len(self._entries) > self.max_entries or (
            len(self._entries) > 1 and self.size > self.max_bytes
        ):
            self._entries.popitem(last=False)

    async def gzipped(self, version: DataVersion, tag: str, entry: CachedBody) -> bytes:
        """The gzip form of `entry`, compressed by the first request that needs it."""
        if entry.gzip is not None:
            return entry.gzip
        key = f"{version.token}/{tag}"
        pending = self._compressing.get(key)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._compressing[key] = pending
            try:
                if len(entry.body) <= GZIP_INLINE_BYTES:
                    compressed = compress(entry.body)
                else:
                    compressed = await asyncio.to_thread(compress, entry.body)
            except BaseException as error:
                pending.set_exception(error)
                self._compressing.pop(key, None)
                raise
            entry.gzip = compressed
            self._evict()
            pending.set_result(compressed)
            self._compressing.pop(key, None)
            return compressed
        return await asyncio.shield(pending)

    def claim_fill(self, version: DataVersion, tag: str) -> str | None:
        """Let one stream per body keep a copy for the cache; None if another already does."""
        key = f"{version.token}/{tag}"
        if key in self._filling:
            return None
        self._filling.add(key)
        return key

    def release_fill(self, key: str) -> None:
        """The stream holding `key` has finished (or failed)."""
        self._filling.discard(key)

    def clear(self) -> None:
        """Forget everything (tests, or a database switch)."""
        self.version = None
        self._entries.clear()
        self._compressing.clear()


def compress(body: bytes) -> bytes:
    """gzip with a fixed mtime, so equal bodies compress to equal bytes in every process."""
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
