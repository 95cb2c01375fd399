"""The one way files and directories are written: under a temporary name beside the target,
renamed onto it when complete. A killed process leaves no file or directory that looks finished.

- a file: ``with atomic_path(path) as tmp: write(tmp)``;
- a directory: ``with staged(out) as stage:`` fill ``stage.path``, set ``stage.manifest``; when the
  block succeeds the manifest is written last, inside, then the directory moves into place; when
  it fails the staging directory is removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from belka_lab.core.errors import InputError

# a write the user's machine refuses (full disk, read-only place, a file where a directory should be)
UNWRITABLE = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.EISDIR,
}


def unwritable(e: OSError, where: Path) -> InputError | None:
    """The InputError for a write the machine refused at ``where``, or None for any other OSError."""
    if e.errno not in UNWRITABLE:
        return None
    return InputError(
        f"cannot write {where}: {e.strerror or e} ({getattr(e, 'filename', None) or where}); free disk space, "
        f"or choose a place this user can write to"
    )


@contextmanager
def _writing(where: Path):
    """A refused write inside the block → one InputError naming ``where``."""
    try:
        yield
    except OSError as e:
        found = unwritable(e, where)
        if found is None:
            raise
        raise found from None


@contextmanager
def atomic_path(path: str | os.PathLike, commit: bool = True):
    """Yield a temporary sibling path; it replaces `path` only if the block succeeds (and
    ``commit``: e.g. only on the process that writes, when every process runs the block)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with _writing(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            if commit:
                os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass
class Stage:
    path: Path  # the directory to fill
    manifest: dict | None = None  # written last, inside, on success
    discard: bool = False  # set when the finished directory turned out not to be needed


@contextmanager
def staged(out: str | os.PathLike, manifest_name: str = "manifest.json") -> Iterator[Stage]:
    """A staging directory beside ``out``: moved onto ``out`` (manifest last) when the block
    succeeds, removed when it fails or sets ``discard``."""
    with _writing(Path(out)):
        stage = Stage(_staging_dir(out))
    try:
        with _writing(Path(out)):
            yield stage
    except BaseException:
        shutil.rmtree(stage.path, ignore_errors=True)
        raise
    if stage.discard:
        shutil.rmtree(stage.path, ignore_errors=True)
    else:
        with _writing(Path(out)):
            _commit_dir(stage.path, out, stage.manifest, manifest_name)


def _staging_dir(out: str | os.PathLike) -> Path:
    """An empty ``.<name>.tmp-<pid>`` directory beside ``out``, after removing those that killed
    processes left (:func:`staged` uses it; :func:`_commit_dir` moves it onto ``out``)."""
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


def _commit_dir(
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
