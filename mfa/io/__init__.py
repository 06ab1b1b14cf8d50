"""Writing outputs: NetCDF, CSV; every file appears whole or not at all."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path):
    """A temporary path beside ``path``; renamed onto it only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); outputs get the usual umask-based mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_netcdf(ds, path: Path, encoding: dict | None = None) -> Path:
    """``ds`` (an ``xr.Dataset`` of plain numbers) as a NETCDF4 file at ``path``, written
    with netCDF4 through :func:`atomic_path`.

    xarray asks dask which scheduler is running before it writes (to pick a lock), and
    dask answers by importing ``distributed`` whenever it is installed: 0.4-1 s, more
    than the write. While distributed has not been imported no distributed client can
    exist, so the answer is "none": the module is hidden for the write, and the
    question ends in the ImportError both expect."""
    hidden = [] if _DISTRIBUTED & sys.modules.keys() else list(_DISTRIBUTED)
    with atomic_path(path) as tmp:
        sys.modules.update(dict.fromkeys(hidden))  # None: an import of it raises ImportError
        try:
            ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=encoding)
        finally:
            for name in hidden:
                del sys.modules[name]
    return Path(path)


_DISTRIBUTED = {"distributed", "dask.distributed"}


from .library import to_netcdf  # noqa: E402  (after atomic_path, which it uses)
