"""What a run was made from: code commit, data hash, params hash. Tagged on every run and version."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from medmaas.environment import PROJECT_ROOT


def file_md5(path: Path) -> str:
    """The MD5 DVC 3 records for a single file, so a run's data tag matches dvc.lock."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def directory_md5(path: Path) -> str:
    """The MD5 DVC 3 records for a directory (a folder of images): of its sorted listing of files and their MD5s."""
    import json

    listing = [{"md5": file_md5(p), "relpath": p.relative_to(path).as_posix()} for p in path.rglob("*") if p.is_file()]
    listing.sort(key=lambda entry: entry["relpath"])
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode()).hexdigest() + ".dir"


def path_md5(path: Path) -> str:
    return directory_md5(path) if path.is_dir() else file_md5(path)


def git_commit() -> str:
    """HEAD's commit, suffixed ``-dirty`` when tracked files differ from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


@dataclass(frozen=True)
class Provenance:
    git_commit: str
    data_md5: str
    params_hash: str
    data_files: tuple[str, ...]
    started_by: str = "manual"  # or the schedule or trigger that started the run (the change-control record)

    def tags(self) -> dict[str, str]:
        return {
            "git_commit": self.git_commit,
            "data_md5": self.data_md5,
            "params_hash": self.params_hash,
            "started_by": self.started_by,
        }


def describe(data_files: list[Path], params_hash: str, started_by: str = "manual") -> Provenance:
    hashes = [path_md5(p) for p in data_files if p.exists()]
    data_md5 = hashes[0] if len(hashes) == 1 else hashlib.md5("".join(hashes).encode()).hexdigest()
    names = tuple(str(p.relative_to(PROJECT_ROOT)) if p.is_relative_to(PROJECT_ROOT) else p.name for p in data_files)
    return Provenance(
        git_commit=git_commit(), data_md5=data_md5, params_hash=params_hash, data_files=names, started_by=started_by
    )
