"""The one way files and directories are written: under a temporary name beside the target,
renamed onto it when complete. A killed process leaves no file or directory that looks finished.

- a file: ``with atomic_path(path) as tmp: write(tmp)``;
- a directory: ``tmp = staging_dir(out)``, fill it, ``commit_dir(tmp, out, manifest)`` (the
  manifest is written last, inside, then the directory moves into place).
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike, commit: bool = True):
    """Yield a temporary sibling path; it replaces `path` only if the block succeeds (and
    ``commit``: e.g. only on the process that writes, when every process runs the block)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        if commit:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def staging_dir(out: str | os.PathLike) -> Path:
    """An empty ``.<name>.tmp-<pid>`` directory beside ``out``, after removing those that killed
    processes left; :func:`commit_dir` moves it onto ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def commit_dir(
    tmp: Path, out: str | os.PathLike, manifest: dict | None = None, manifest_name: str = "manifest.json"
) -> None:
    """Write ``manifest`` (when given) last inside ``tmp``, then move the finished directory onto
    ``out`` (an older ``out`` is removed after)."""
    out = Path(out)
    if manifest is not None:
        part = tmp / (manifest_name + ".part")
        with open(part, "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, tmp / manifest_name)
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
