"""What a new process needs to continue the same gateway session, and where it is kept.

A :class:`Checkpoint` is a plain value: the OAuth token pair, the latest ``wsc`` token and
its sequence, the subscription, the recent-uuid window and the times that decide whether
recovery is still possible. A :class:`CheckpointStore` loads and saves it (async, so a
store may live on disk or in a key-value bucket). Stores are optimistic: :meth:`save`
takes the revision of the last :meth:`load` or :meth:`save` and raises
:class:`CheckpointConflict` if somebody else wrote in between.

Times are wall-clock seconds since the epoch (``time.time()``): the monotonic clock of
a dead process means nothing to the next one.

In this module: :class:`FileCheckpoint`, the store for one process (one JSON file,
atomic, 0600, locked), and :class:`CheckpointWriter`, which batches progress writes
over any store and writes token rotations at once. What a restarted process does with a
loaded checkpoint is decided by :mod:`rcstream.protocol.resume`; ``docs/restarts.md``
states the guarantees. The errors, all :class:`~rcstream.exceptions.RCStreamError`:

.. code-block:: text

    CheckpointError         the store failed (file system); the message names the path
    ├── CheckpointConflict  save(): somebody else wrote since our last load/save
    ├── CheckpointCorrupt   load(): unreadable or foreign; set aside, start fresh + gap
    └── CheckpointLocked    another process owns the checkpoint
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol, Self, runtime_checkable

from rcstream.exceptions import RCStreamError
from rcstream.redact import Secret

__all__ = [
    "FORMAT",
    "Checkpoint",
    "CheckpointCheck",
    "CheckpointConflict",
    "CheckpointCorrupt",
    "CheckpointError",
    "CheckpointLocked",
    "CheckpointStore",
    "CheckpointWriter",
    "FileCheckpoint",
    "expect_owner",
]

#: Written into every checkpoint; a file with another value is treated as corrupt.
FORMAT = "rcstream.checkpoint/1"

logger = logging.getLogger(__name__)


class CheckpointError(RCStreamError):
    """A checkpoint could not be read, written or owned (the base of the errors below)."""


class CheckpointConflict(CheckpointError):
    """The checkpoint changed since this process last read or wrote it (another owner)."""


class CheckpointCorrupt(CheckpointError):
    """The stored checkpoint cannot be read as one of ours.

    ``moved_to`` is where a store set the unreadable value aside (``PATH.corrupt`` for
    :class:`FileCheckpoint`), or ``None``. The caller starts a fresh session and reports a gap.
    """

    def __init__(self, message: str, *, moved_to: Path | None = None) -> None:
        super().__init__(message)
        self.moved_to = moved_to


class CheckpointLocked(CheckpointError):
    """Another process holds this checkpoint; two owners would rotate each other's tokens out."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One session's resumable state. Secrets are :class:`~rcstream.redact.Secret` values,
    so a repr never shows them; :meth:`to_json` is the only way out in clear text."""

    #: Which app and server the session belongs to (a checkpoint from another is not ours).
    client_id: str
    server_url: str
    access_token: Secret | None = None
    access_expires_at: float | None = None
    refresh_token: Secret | None = None
    refresh_expires_at: float | None = None
    owner_id: str | None = None
    account_id: str | None = None
    #: The latest ``wsc`` token, and the sequence it came with (``None``: none yet).
    wsc: Secret | None = None
    wsc_sequence: int | None = None
    subscription_id: str | None = None
    filters: tuple[str, ...] = ()
    #: Wall-clock time of the last frame received, and of the disconnect (if known).
    last_frame_at: float | None = None
    disconnected_at: float | None = None
    #: The gateway's recovery window as announced in ConnectionDetails (seconds).
    recovery_timeout: float | None = None
    #: uuids of the most recent events handed to the consumer, oldest first.
    recent_uuids: tuple[str, ...] = ()
    #: Notifications received but not yet handed out (wire bodies, oldest first).
    pending: tuple[dict[str, Any], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def evolve(self, **changes: Any) -> Checkpoint:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The clear-text JSON-ready mapping (secrets included, ``format`` set): for stores only."""
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                value = value.get()
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        data["format"] = FORMAT
        return data

    def to_json(self) -> bytes:
        """The clear-text JSON encoding (secrets included): for stores only."""
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Checkpoint:
        """Decode :meth:`to_json` output; anything else raises :class:`CheckpointCorrupt`."""
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise CheckpointCorrupt("the checkpoint is not valid JSON") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Checkpoint:
        """Decode :meth:`to_dict` output; anything else raises :class:`CheckpointCorrupt`."""
        if not isinstance(data, dict):
            raise CheckpointCorrupt("the checkpoint was not written by this rcstream version")
        data = dict(data)
        if data.pop("format", None) != FORMAT:
            raise CheckpointCorrupt("the checkpoint was not written by this rcstream version")
        if not isinstance(data.get("client_id"), str) or not isinstance(
            data.get("server_url"), str
        ):
            raise CheckpointCorrupt("the checkpoint does not say which app and server it is for")
        try:
            for key in ("access_token", "refresh_token", "wsc"):
                if data.get(key) is not None:
                    data[key] = Secret(str(data[key]))
            for key in ("filters", "recent_uuids", "pending"):
                data[key] = tuple(data.get(key) or ())
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise CheckpointCorrupt("the checkpoint has fields this version does not know") from exc


@runtime_checkable
class CheckpointStore(Protocol):
    """Where a checkpoint lives. Implementations: ``FileCheckpoint`` (this package) and a
    JetStream key-value store (``rcstream.fleet``)."""

    async def load(self) -> Checkpoint | None:
        """The stored checkpoint, or ``None`` when there is none. Remembers its revision.

        A stored value that cannot be decoded raises :class:`CheckpointCorrupt` after the
        store has set it aside, so the caller can start fresh and report a gap.
        """
        ...

    async def save(self, checkpoint: Checkpoint) -> None:
        """Store ``checkpoint`` durably, if the revision is still the one last seen.

        Raises :class:`CheckpointConflict` otherwise.
        """
        ...

    async def aclose(self) -> None:
        """Release what the store holds (a file lock, a connection)."""
        ...


# --------------------------------------------------------------------------------------
# The file store
# --------------------------------------------------------------------------------------

#: Permission bits that let anyone but the owner read or change the file.
_OPEN_TO_OTHERS: Final = 0o077

#: A checkpoint's own check: ``None`` when the checkpoint is usable, else the reason (a
#: phrase without secrets, e.g. "it belongs to another app").
CheckpointCheck = Callable[[Checkpoint], str | None]


def expect_owner(client_id: str, server_url: str) -> CheckpointCheck:
    """A check that refuses checkpoints written for another app or server."""

    def check(checkpoint: Checkpoint) -> str | None:
        if checkpoint.client_id != client_id:
            return "it was written for another app (client id)"
        if checkpoint.server_url.rstrip("/") != server_url.rstrip("/"):
            return "it was written for another server"
        return None

    return check


class FileCheckpoint:
    """A :class:`CheckpointStore` in one JSON file, for one process at a time.

    * **Atomic**: a save writes a temporary file in the same directory, fsyncs it, renames
      it over ``path`` and fsyncs the directory, so a crash leaves the old or the new
      checkpoint, never a mix.
    * **Private**: files are created with mode 0600 (the checkpoint holds a refresh token);
      loading a file that group or others may read logs a WARNING that names the path only.
    * **Exclusive**: the first :meth:`load`, :meth:`save` or :meth:`open` takes a
      non-blocking ``flock`` on ``PATH.lock`` and keeps it until :meth:`aclose`; a second
      process (or a second store in this one) gets :class:`CheckpointLocked`. Two owners
      would rotate each other's refresh tokens out.
    * **Optimistic**: the file carries a revision counter. :meth:`save` re-reads it under
      the lock and raises :class:`CheckpointConflict` if it is not the revision of this
      store's last load or save (someone bypassed the lock, or restored an old copy).
    * **Self-healing**: a file that is not a checkpoint, or that ``expect``/``check``
      refuses (another app or server), is renamed to ``PATH.corrupt`` and :meth:`load`
      raises :class:`CheckpointCorrupt` with ``moved_to`` set. The caller starts a fresh
      session and reports a gap; the next :meth:`save` creates a new file.

    Blocking file I/O runs in a worker thread (:func:`asyncio.to_thread`). POSIX only
    (``fcntl``). The lock is advisory and, like ``flock`` itself, may not hold across NFS.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        expect: tuple[str, str] | None = None,
        check: CheckpointCheck | None = None,
    ) -> None:
        """``expect=(client_id, server_url)`` refuses checkpoints of another app or server;
        ``check`` is any further test (return a reason to refuse, ``None`` to accept)."""
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.corrupt_path = self.path.with_name(self.path.name + ".corrupt")
        self._checks: list[CheckpointCheck] = []
        if expect is not None:
            self._checks.append(expect_owner(*expect))
        if check is not None:
            self._checks.append(check)
        self._lock_fd: int | None = None
        #: revision of the last load/save; 0: no file; None: not loaded yet
        self._revision: int | None = None
        #: (inode, mtime_ns, size) of the file as this store last wrote or read it
        self._stamp: tuple[int, int, int] | None = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"FileCheckpoint({str(self.path)!r}, revision={self._revision!r})"

    @property
    def revision(self) -> int | None:
        """The revision of the last load or save (0: no file yet; ``None``: not loaded)."""
        return self._revision

    @property
    def locked(self) -> bool:
        """True while this store holds the lock on ``PATH.lock``."""
        return self._lock_fd is not None

    async def open(self) -> None:
        """Take the lock now (load and save take it too). Raises :class:`CheckpointLocked`."""
        await asyncio.to_thread(self._locked_call, self._acquire)

    async def load(self) -> Checkpoint | None:
        """Read the checkpoint; ``None`` when the file does not exist.

        Raises :class:`CheckpointCorrupt` (after renaming the file to ``PATH.corrupt``) when
        it is unreadable or refused, :class:`CheckpointLocked` when another process holds it,
        :class:`CheckpointError` when the file system fails.
        """
        return await asyncio.to_thread(self._locked_call, self._load)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint`` atomically and durably (fsync) as the next revision.

        Raises :class:`CheckpointConflict` when the file's revision is not the one this store
        last loaded or saved; a save without a load expects no file.
        """
        await asyncio.to_thread(self._locked_call, self._save, checkpoint)

    async def aclose(self) -> None:
        """Release the lock. Idempotent; the file stays."""
        await asyncio.to_thread(self._locked_call, self._release)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- blocking parts (worker thread) ------------------------------------------------

    def _locked_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._mutex:
            return fn(*args)

    def _acquire(self) -> None:
        if self._lock_fd is not None:
            return
        if sys.platform == "win32":  # pragma: no cover - POSIX CI
            raise CheckpointError("File checkpoints need a POSIX system (fcntl); use a Unix host.")
        import fcntl

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise CheckpointError(
                f"Could not create the lock file {self.lock_path} ({exc.strerror}); "
                "check that the checkpoint's directory exists and is writable."
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f" (pid {holder})" if holder else ""
            raise CheckpointLocked(
                f"The checkpoint {self.path} is in use by another rcstream process{who}; "
                "stop that process, or give this one its own checkpoint file."
            ) from None
        except OSError as exc:
            os.close(fd)
            raise CheckpointError(
                f"Could not lock {self.lock_path} ({exc.strerror}); "
                "put the checkpoint on a local file system."
            ) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        logger.debug("checkpoint %s locked", self.path)
        self._remove_stale_temp_files()

    def _remove_stale_temp_files(self) -> None:
        # a process killed mid-save leaves its temp file (with a refresh token in it); only
        # the lock holder writes temp files, so any that exist now are stale
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
                logger.debug("removed a stale temporary checkpoint file %s", stale)

    def _release(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        logger.debug("checkpoint %s unlocked", self.path)

    def _not_a_regular_file(self, st: os.stat_result) -> CheckpointError:
        # Never read, set aside or replace something that is not a regular file: run as
        # root, ``--checkpoint /dev/null`` once renamed the device (review of issue 14).
        return CheckpointError(
            f"The checkpoint {self.path} is not a regular file (mode {stat.filemode(st.st_mode)}); "
            "give --checkpoint the path of a regular file, or of one that does not exist yet."
        )

    def _check_regular(self) -> None:
        """Raise :class:`CheckpointError` if PATH exists and is not a regular file."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CheckpointError(
                f"Could not read the checkpoint {self.path} ({exc.strerror}); "
                "check its permissions."
            ) from exc
        if not stat.S_ISREG(st.st_mode):
            raise self._not_a_regular_file(st)

    def _read_raw(self) -> tuple[bytes, os.stat_result] | None:
        self._check_regular()
        try:
            # O_NONBLOCK: a FIFO swapped in after the check must not hang the open
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckpointError(
                f"Could not read the checkpoint {self.path} ({exc.strerror}); "
                "check its permissions."
            ) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise self._not_a_regular_file(st)
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks), st
        except OSError as exc:  # e.g. PATH is a directory
            raise CheckpointError(
                f"Could not read the checkpoint {self.path} ({exc.strerror}); "
                "give --checkpoint the path of a regular file."
            ) from exc
        finally:
            os.close(fd)

    def _load(self) -> Checkpoint | None:
        self._acquire()
        found = self._read_raw()
        if found is None:
            self._revision, self._stamp = 0, None
            return None
        raw, st = found
        if st.st_mode & _OPEN_TO_OTHERS:
            logger.warning(
                "checkpoint %s is accessible to other users (mode %o) and holds a refresh "
                "token; run chmod 600 on it (rcstream rewrites it as 0600 on its next save)",
                self.path,
                st.st_mode & 0o777,
            )
        try:
            revision, checkpoint = _decode(raw)
            for check in self._checks:
                reason = check(checkpoint)
                if reason is not None:
                    raise CheckpointCorrupt(reason)
        except CheckpointCorrupt as exc:
            self._set_aside(str(exc))
            raise CheckpointCorrupt(
                f"The checkpoint {self.path} cannot be used ({exc}); it was moved to "
                f"{self.corrupt_path} and a fresh session starts, so events published since "
                "the last run may be missing.",
                moved_to=self.corrupt_path,
            ) from exc
        self._revision, self._stamp = revision, _stamp(st)
        return checkpoint

    def _set_aside(self, reason: str) -> None:
        self._check_regular()
        try:
            os.replace(self.path, self.corrupt_path)
            _fsync_dir(self.path.parent)
        except OSError as exc:
            raise CheckpointError(
                f"The checkpoint {self.path} cannot be used ({reason}) and could not be moved "
                f"aside ({exc.strerror}); delete it to start fresh."
            ) from exc
        self._revision, self._stamp = 0, None
        logger.warning(
            "checkpoint %s cannot be used (%s); moved it to %s, starting a fresh session",
            self.path,
            reason,
            self.corrupt_path,
        )

    def _disk_revision(self) -> int:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise CheckpointError(
                f"Could not read the checkpoint {self.path} ({exc.strerror}); "
                "check its permissions."
            ) from exc
        if self._stamp is not None and _stamp(st) == self._stamp:
            return self._revision or 0
        found = self._read_raw()
        if found is None:
            return 0
        try:
            return _decode(found[0])[0]
        except CheckpointCorrupt:
            return -1  # somebody wrote something else there: a conflict

    def _save(self, checkpoint: Checkpoint) -> None:
        self._acquire()
        expected = self._revision or 0
        on_disk = self._disk_revision()
        if on_disk != expected:
            raise CheckpointConflict(
                f"The checkpoint {self.path} was changed by someone else since this process "
                "read it; make sure only one process uses it, then restart this one."
            )
        data = checkpoint.to_dict()
        data["revision"] = expected + 1
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.fchmod(fd, 0o600)  # a leftover temp file may have had other bits
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            self._check_regular()  # never replace a device, FIFO or directory
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
            st = os.stat(self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise CheckpointError(
                f"Could not write the checkpoint {self.path} ({exc.strerror}); "
                "check free space and permissions."
            ) from exc
        self._revision, self._stamp = expected + 1, _stamp(st)


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _decode(raw: bytes) -> tuple[int, Checkpoint]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise CheckpointCorrupt("it is not valid JSON") from exc
    if not isinstance(data, dict):
        raise CheckpointCorrupt("it is not a JSON object")
    revision = data.pop("revision", None)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise CheckpointCorrupt("it has no revision counter")
    return revision, Checkpoint.from_dict(data)


# --------------------------------------------------------------------------------------
# Batching progress writes
# --------------------------------------------------------------------------------------

#: Fields the writer tracks itself (hot path); :meth:`CheckpointWriter.update` routes them.
_PROGRESS: Final = frozenset({"wsc", "wsc_sequence", "last_frame_at", "recent_uuids"})


class CheckpointWriter:
    """Keeps a :class:`Checkpoint` current in memory and writes it to a store in batches.

    The hot path is :meth:`note_delivered`: call it *after* an event was handed to the
    consumer (for the CLI: after its line was written). It only updates memory and says
    whether a write is due: after ``max_events`` noted events, or ``interval`` seconds
    (on ``clock``) after the first unwritten one. Then await :meth:`flush` (or
    :meth:`maybe_flush`), or let :meth:`run` do it in a task group.

    Token rotation is not batched: :meth:`save_now` writes at once, and returns only
    when the store has made it durable, so the caller uses a new access token only after
    the refresh token that goes with it is safe on disk.

    One writer per store; writes are serialised.
    """

    def __init__(
        self,
        store: CheckpointStore,
        checkpoint: Checkpoint,
        *,
        interval: float = 1.0,
        max_events: int = 100,
        window: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``interval`` in seconds (of ``clock``); ``window``: how many recent uuids to keep
        (at least the gateway's recovery buffer of 100, so replays can be recognised)."""
        if interval < 0 or max_events < 1 or window < 1:
            raise ValueError("interval must be >= 0, max_events and window >= 1")
        self._store = store
        self._interval = interval
        self._max_events = max_events
        self._clock = clock
        self._base = checkpoint
        self._uuids: deque[str] = deque(checkpoint.recent_uuids, maxlen=window)
        self._wsc = checkpoint.wsc
        self._sequence = checkpoint.wsc_sequence
        self._frame_at = checkpoint.last_frame_at
        self._unwritten = 0  # events noted since the last write
        self._version = 0  # bumped by every change
        self._written_version = 0
        self._first_unwritten_at: float | None = None
        self._write_lock = asyncio.Lock()
        #: number of store writes done (for tests and stats)
        self.writes = 0

    def __repr__(self) -> str:
        return (
            f"CheckpointWriter(store={self._store!r}, unwritten={self._unwritten}, "
            f"writes={self.writes})"
        )

    @property
    def checkpoint(self) -> Checkpoint:
        """The current state, written or not."""
        return self._base.evolve(
            wsc=self._wsc,
            wsc_sequence=self._sequence,
            last_frame_at=self._frame_at,
            recent_uuids=tuple(self._uuids),
        )

    @property
    def unwritten(self) -> int:
        """Events noted since the last write: what a ``kill -9`` now could duplicate."""
        return self._unwritten

    def note_delivered(
        self,
        uuid: str | None,
        *,
        wsc: Secret | None = None,
        sequence: int | None = None,
        at: float | None = None,
    ) -> bool:
        """Record that an event was handed to the consumer. Cheap: memory only.

        ``wsc``/``sequence``: the gateway token that came with *this* event (kept if given;
        not a newer one received since, so that a gateway replaying from the stored token
        replays what was not handed out yet);
        ``at``: its wall-clock arrival time. Returns True when a write is due.
        """
        if uuid is not None:
            self._uuids.append(uuid)
        if wsc is not None:
            self._wsc = wsc
            self._sequence = sequence
        if at is not None:
            self._frame_at = at
        self._unwritten += 1
        self._version += 1
        if self._first_unwritten_at is None:
            self._first_unwritten_at = self._clock()
        return self.due()

    def update(self, **changes: Any) -> None:
        """Change checkpoint fields in memory (subscription id, disconnect time, pending ...);
        they are written with the next flush."""
        self._apply(changes)
        self._version += 1

    def due(self) -> bool:
        """True when unwritten progress has reached ``max_events`` or ``interval``."""
        if self._first_unwritten_at is None:
            return False
        if self._unwritten >= self._max_events:
            return True
        return self._clock() - self._first_unwritten_at >= self._interval

    async def maybe_flush(self) -> bool:
        """:meth:`flush` if :meth:`due`; returns whether it wrote."""
        if not self.due():
            return False
        return await self.flush()

    async def flush(self) -> bool:
        """Write the current state if anything changed since the last write."""
        async with self._write_lock:
            if self._version == self._written_version:
                return False
            await self._write()
            return True

    async def save_now(self, **changes: Any) -> Checkpoint:
        """Apply ``changes`` and write everything at once (durable when this returns).

        For a refresh: ``await writer.save_now(access_token=..., refresh_token=..., ...)``
        before the new access token is first used.
        """
        async with self._write_lock:
            self._apply(changes)
            self._version += 1
            return await self._write()

    async def aclose(self) -> None:
        """Write what is unwritten (a clean stop loses nothing). The store stays open."""
        await self.flush()

    def _apply(self, changes: dict[str, Any]) -> None:
        progress = {k: changes.pop(k) for k in list(changes) if k in _PROGRESS}
        if changes:
            self._base = self._base.evolve(**changes)
        if "recent_uuids" in progress:
            self._uuids.clear()
            self._uuids.extend(progress["recent_uuids"])
        if "wsc" in progress:
            self._wsc = progress["wsc"]
        if "wsc_sequence" in progress:
            self._sequence = progress["wsc_sequence"]
        if "last_frame_at" in progress:
            self._frame_at = progress["last_frame_at"]

    async def _write(self) -> Checkpoint:
        snapshot = self.checkpoint
        noted, version = self._unwritten, self._version
        await self._store.save(snapshot)
        # what was noted or changed while the save ran stays unwritten
        self._unwritten -= noted
        self._written_version = version
        self._first_unwritten_at = self._clock() if self._unwritten else None
        self.writes += 1
        return snapshot
