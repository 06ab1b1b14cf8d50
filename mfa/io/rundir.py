"""A run folder replaced as one unit.

A command writes its outputs into a staging folder beside ``--out``
(``.<name>.staging-<pid>``) and swaps it in at the end, so ``--out`` holds either the
complete old set or the complete new set, whatever happens in between (an error, SIGINT,
SIGTERM, SIGKILL, a full disk). One writer at a time: a lock file beside ``--out``
(``.<name>.lock``, holding the writer's PID) is taken with ``flock``, which the kernel
releases when the holder dies, so a killed run never blocks the next one; the lock also
tells the next writer that any staging folder left beside ``--out`` is stale.

Monte-Carlo samples come back to the client (:mod:`mfa.uncertainty`): no sample store is
left on a local disk by a killed run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import InputError

log = logging.getLogger(__name__)

MARK = ".mfa-outputs"
"""An empty file in every folder this module swapped in: the next run may replace it."""
_OURS = (MARK, "results.nc", "report.html", "sensitivity", "compare_*_vs_*")
"""Entries that make an existing folder one of mfa's (also those written before ``MARK``)."""
_LOW_SPACE = 16 * 2**20
"""Free bytes below which a failed write is put down to a full disk (the writers of
NetCDF and GeoPackage report ENOSPC as their own errors, e.g. "NetCDF: HDF error")."""


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[int | None]:
    """An exclusive ``flock`` on ``path`` (created if missing): yields the open descriptor,
    or None when another process holds the lock. The file is removed on release."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield None
            return
        try:  # a releasing holder may have unlinked the file we opened: lock the new one instead
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield fd
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f"process {int(path.read_text().strip())}"
    return "another process"


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        path.unlink()


def _link_tree(source: Path, target: Path) -> None:
    """``source`` recreated at ``target`` with hard links (no data copied, ``source``
    untouched); a plain copy where the file system has no hard links."""
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, copy_function=_link_or_copy, symlinks=True)
    else:
        _link_or_copy(source, target)


def _link_or_copy(source, target) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        shutil.copy2(source, target, follow_symlinks=False)


def _low_space(folder: Path) -> bool:
    with contextlib.suppress(OSError):
        stat = os.statvfs(folder)
        return stat.f_bavail * stat.f_frsize < _LOW_SPACE
    return False


def _name_real_folder(err: InputError, staging: Path, out: Path) -> InputError:
    """``err`` with the staging folder's name replaced by ``--out``'s: the user knows only that one."""
    fix = lambda text: text.replace(str(staging), str(out)) if text else text  # noqa: E731
    return InputError(fix(err.file), fix(err.field), fix(err.expected))


@contextlib.contextmanager
def replacing(out: Path, clone: bool = False, derived: Iterable[str] = ()) -> Iterator[Path]:
    """A staging folder for the new contents of ``out``, swapped in when the block succeeds
    and removed when it fails.

    With ``clone`` the staging folder starts as a hard-linked copy of ``out`` (for commands
    that add files to a run folder; every writer replaces files through
    :func:`mfa.io.atomic_path`, so the old set's files are never written through a link).
    Otherwise it starts empty, and at the swap the entries of the old ``out`` that the
    block did not write are carried over, except those matching a pattern of ``derived``
    (files computed from the ones replaced, which would no longer match them).

    Raises :class:`InputError` when another process is writing ``out``; an ``OSError`` for
    a folder that cannot be created or written (ENOSPC when a failure left the disk full).
    """
    out = Path(out).absolute()
    parent = out.parent
    in_the_way = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if in_the_way is not None:
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way", str(in_the_way))
    _check_target(out)
    parent.mkdir(parents=True, exist_ok=True)
    lock = parent / f".{out.name}.lock"
    with _flock(lock) as fd:
        if fd is None:
            raise InputError(out, "--out", f"a folder no other run is writing; {_holder(lock)} is writing it (lock {lock})")
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _recover(out)
        staging = parent / f".{out.name}.staging-{os.getpid()}"
        if clone and out.is_dir():
            _link_tree(out, staging)
        else:
            staging.mkdir()
        try:
            yield staging
            (staging / MARK).touch()
            if not clone and out.is_dir():
                written = {p.name for p in staging.iterdir()}
                for old in out.iterdir():
                    if old.name not in written and not any(fnmatch.fnmatch(old.name, pattern) for pattern in derived):
                        _link_tree(old, staging / old.name)
            swap(staging, out)
        except InputError as err:
            raise _name_real_folder(err, staging, out) from err
        except OSError as err:
            if err.errno and not err.filename:  # e.g. a write() that hit a full disk: say where
                raise OSError(err.errno, err.strerror, str(out)) from err
            raise
        except Exception as err:
            if _low_space(parent):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out)) from err
            raise
        finally:
            _remove(staging)


def _check_target(out: Path) -> None:
    """Refuse an ``--out`` that must not be swapped: the working directory or one above it,
    a mount point (renaming fails), or a folder of other files (their writers would lose
    what they add while the run is under way)."""
    real, cwd = out.resolve(), Path.cwd().resolve()
    if real == cwd or real in cwd.parents:
        raise InputError(out, "--out", "a folder of its own for the outputs, not the working directory or one above it")
    if not out.is_dir():
        return
    if os.path.ismount(out):
        raise InputError(out, "--out", "a folder inside a mounted file system, not its mount point (outputs are swapped in by renaming)")
    names = [p.name for p in out.iterdir()]
    if names and not any(fnmatch.fnmatch(name, pattern) for name in names for pattern in _OURS):
        raise InputError(out, "--out", f"an empty folder or one with mfa's outputs; this one holds other files ({', '.join(sorted(names)[:3])}...): choose another --out")


def swap(staging: Path, out: Path) -> None:
    """``staging`` becomes ``out``; the old ``out`` is moved aside first and removed after.
    Between the two renames a killed run leaves only ``.<name>.old-<pid>``, which
    :func:`_recover` puts back."""
    if not out.exists():
        os.rename(staging, out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    os.rename(out, old)
    os.rename(staging, out)
    _remove(old)


def _recover(out: Path) -> None:
    """Under the lock: the previous set put back if a run died between the renames of its
    swap, and the staging and old folders of killed runs removed."""
    leftovers = sorted(out.parent.glob(f".{out.name}.old-*")) + sorted(out.parent.glob(f".{out.name}.staging-*"))
    for path in leftovers:
        if path.name.startswith(f".{out.name}.old-") and not out.exists():
            log.warning("%s: restoring the previous outputs, which a killed run had moved aside", out)
            os.rename(path, out)
            continue
        log.info("removing %s, left by a killed run", path)
        _remove(path)
