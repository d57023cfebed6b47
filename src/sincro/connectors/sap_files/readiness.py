"""When is a dropped file complete? Sincro reads a file only once its writer has finished.

Strategies (``readiness.strategy`` of a source):

``rename`` (default)
    The writer creates the file under a temporary name (``X.tmp``, ``X.part``, ``.~X``) and
    renames it to its final name when done; a rename is atomic on the same file system, so a
    file with a final name is always complete. Suits SAP jobs writing through a temporary
    name (``RSEOUT00``/``OPEN DATASET`` to a work file then ``RENAME``), SFTP clients with
    "upload to temporary file, then rename" (WinSCP, lftp ``put -E``), rsync (``.name.XXXX``)
    and any writer we control (the simulator, Sincro's own write-back). Not for a writer that
    creates the final name directly and writes into it.

``done_file``
    The data file may grow in place; the writer creates an empty marker (``X.done`` or
    ``X.ok``, also ``X-without-extension.ok``) after closing it. Suits SAP background jobs
    and MFT/SAP PI file adapters that write the data file directly and can emit a trigger file
    afterwards, and FTP uploads where renaming is not allowed. The marker is archived with the
    file.

``stable``
    No help from the writer: the file counts as complete when its size and mtime have not
    changed over ``stable_checks`` further checks ``stable_interval_seconds`` apart after it
    was first seen. The
    last resort for plain FTP/SMB copies by tools that offer neither rename nor markers; a
    writer that stalls longer than the window produces a truncated read, so prefer the other
    two (a truncated CSV shows up as rejects, a truncated IDoc fails to parse and is
    quarantined, never half-applied).

Temporary and hidden names (``readiness.ignore`` globs: ``*.tmp``, ``*.part``, ``.~*``, ``~*``,
``.*``) and markers themselves are never data files, whatever the strategy.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sincro.connectors.sap_files.config import ReadinessConfig


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    checks: int
    at: float


class Readiness:
    """Decides, path by path, whether a file in the inbox can be read now."""

    def __init__(self, cfg: ReadinessConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.clock = clock
        self._seen: dict[Path, _Seen] = {}

    def is_candidate(self, path: Path) -> bool:
        """A name that may be a data file (not temporary, hidden, or a marker)."""
        name = path.name
        if any(fnmatch.fnmatch(name, pattern) for pattern in self.cfg.ignore):
            return False
        return not any(name.lower().endswith(s.lower()) for s in self.cfg.done_suffixes)

    def markers(self, path: Path) -> list[Path]:
        """Marker files of a data file that exist now."""
        found = []
        for suffix in self.cfg.done_suffixes:
            for marker in (path.with_name(path.name + suffix), path.with_suffix(suffix)):
                if marker != path and marker.exists() and marker not in found:
                    found.append(marker)
        return found

    def data_file_of(self, marker: Path) -> Path | None:
        """The data file a marker belongs to (``X.csv.done`` -> ``X.csv``)."""
        for suffix in self.cfg.done_suffixes:
            if marker.name.lower().endswith(suffix.lower()):
                base = marker.with_name(marker.name[: -len(suffix)])
                if base.exists():
                    return base
                siblings = [p for p in marker.parent.glob(base.name + ".*") if self.is_candidate(p)]
                return siblings[0] if len(siblings) == 1 else None
        return None

    def is_ready(self, path: Path) -> bool:
        if not self.is_candidate(path):
            return False
        try:
            stat = path.stat()
        except FileNotFoundError:
            self._seen.pop(path, None)
            return False
        strategy = self.cfg.strategy
        if strategy == "rename":
            return True
        if strategy == "done_file":
            return bool(self.markers(path))
        now = self.clock()
        seen = self._seen.get(path)
        if seen is None or (seen.size, seen.mtime_ns) != (stat.st_size, stat.st_mtime_ns):
            self._seen[path] = _Seen(stat.st_size, stat.st_mtime_ns, 0, now)
            return False
        if now - seen.at >= self.cfg.stable_interval_seconds:
            seen.checks += 1
            seen.at = now
        if seen.checks >= self.cfg.stable_checks:
            self._seen.pop(path, None)
            return True
        return False

    def forget(self, path: Path) -> None:
        self._seen.pop(path, None)
