"""Files of a Hugging Face Hub dataset, downloaded once into the Hub cache and pinned by commit.

:func:`fetch` asks ``huggingface_hub`` for the files of one revision that
match a dataset's patterns (``snapshot_download``: the revision resolved to a
commit sha, the repo's tree listed, each file fetched once into the cache).
Offline (``HF_HUB_OFFLINE=1``) the same call is answered from the cache, so a
machine that loaded a dataset once loads it again without a network.

What a ledger needs to say which data a run used is the :class:`Snapshot`:
the commit sha the revision resolved to and the sha256 of every file read.
Those are computed from the files on disk, so they are the same online and
offline, and they change whenever the served files change.

The settings are read when a dataset is loaded, not when ``huggingface_hub``
is imported: ``HF_ENDPOINT``, ``HF_HOME`` / ``HF_HUB_CACHE``, ``HF_TOKEN``
(registered as a secret before it is sent). A gated dataset (GPQA, HLE)
without access is one :class:`~ipw.errors.DatasetError` saying how to get it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ... import secrets
from ...errors import BackendMissingError, DatasetError

__all__ = ["Snapshot", "fetch", "hub_cache_dir", "DATA_SUFFIXES"]

DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".tsv", ".arrow")
_HASH_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Snapshot:
    """The files one dataset read: where they lie, the commit they came from, and their sha256."""

    repo: str
    requested_revision: str
    revision: str  # the commit sha ``requested_revision`` resolved to
    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # repo path -> sha256

    def paths(self) -> list[Path]:
        return [self.folder / name for name in self.files]

    def describe(self) -> dict[str, object]:
        return {"repo": self.repo, "requested_revision": self.requested_revision, "revision": self.revision,
                "files": dict(self.files)}


def hub_cache_dir() -> Path:
    """The Hub cache as ``huggingface_hub`` would choose it, read from the environment now."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface")
    return Path(home).expanduser() / "hub"


def _token() -> str | None:
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None
    if token:
        secrets.register(token)
        secrets.register(f"Bearer {token}", header=True)
    return token


def _access_hint(repo: str) -> str:
    return (f"accept the dataset's terms at https://huggingface.co/datasets/{repo} while logged in, create a "
            "read token at https://huggingface.co/settings/tokens, and export HF_TOKEN=hf_…")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _matching(folder: Path, patterns: Iterable[str]) -> list[str]:
    """Repo paths under ``folder`` matching the first pattern that matches any data file, sorted."""
    names = sorted(
        p.relative_to(folder).as_posix() for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
    )
    for pattern in patterns:
        found = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if found:
            return found
    return []


def fetch(repo: str, patterns: tuple[str, ...], *, revision: str | None = None, gated: bool = False) -> Snapshot:
    """The files of ``repo`` at ``revision`` matching ``patterns``, from the cache or downloaded into it.

    ``patterns`` are tried in order and the first that matches any data file
    wins, so a list of likely layouts picks one split's files. Every failure
    is a :class:`DatasetError` with what to do.
    """
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.utils.tqdm import tqdm as hub_tqdm
        from huggingface_hub.errors import (
            GatedRepoError,
            HfHubHTTPError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError as exc:
        raise BackendMissingError(f"the Hub dataset {repo}", "hf", module="huggingface_hub") from exc
    class Silent(hub_tqdm):  # type: ignore[misc,valid-type]  # the library never prints: no progress bars
        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    requested = revision or "main"
    token = _token()
    where = f"the Hub dataset {repo} (revision {requested})"
    if gated and token is None and not _offline():
        raise DatasetError(f"{repo} is gated: the Hub serves it only to accounts that accepted its terms",
                           hint=_access_hint(repo))
    try:
        folder = snapshot_download(
            repo, repo_type="dataset", revision=requested, allow_patterns=list(patterns),
            cache_dir=str(hub_cache_dir()), token=token or False,
            endpoint=os.environ.get("HF_ENDPOINT") or None, tqdm_class=Silent,
            # huggingface_hub reads HF_HUB_OFFLINE once, at import; ipw reads it at every load
            local_files_only=_offline(),
        )
    except GatedRepoError:
        raise DatasetError(f"{repo} is gated and this token has no access to it", hint=_access_hint(repo)) from None
    except RevisionNotFoundError:
        raise DatasetError(f"{where}: the Hub has no such revision",
                           hint="pass --dataset-param revision=BRANCH, TAG or a commit sha that exists") from None
    except RepositoryNotFoundError:
        raise DatasetError(f"{where}: the Hub has no such dataset, or it is private",
                           hint="check the ORG/NAME spelling, or export HF_TOKEN for a private dataset") from None
    except LocalEntryNotFoundError:
        raise DatasetError(f"{where} is not in the Hub cache at {hub_cache_dir()} and the Hub cannot be reached",
                           hint="load it once with a network (unset HF_HUB_OFFLINE), or point HF_HOME at a "
                           "cache that holds it") from None
    except HfHubHTTPError as exc:
        raise DatasetError(f"{where}: the Hub answered {secrets.scrub(str(exc).splitlines()[0])}",
                           hint="try again later, or run offline from the cache with HF_HUB_OFFLINE=1") from None
    except OSError as exc:  # a connection refused mid-download, a full disk
        raise DatasetError(f"{where} could not be downloaded: {secrets.scrub(str(exc))}",
                           hint="check the network and the free space of the Hub cache") from None
    root = Path(folder)
    names = _matching(root, patterns)
    if not names:
        raise DatasetError(f"{where} has no data files matching {', '.join(patterns)}",
                           hint="pass --dataset-param files=GLOB naming the split's files in the repo")
    return Snapshot(repo=repo, requested_revision=requested, revision=root.name, folder=root,
                    files={name: _sha256(root / name) for name in names})


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
