"""A fake of the Hugging Face Hub's HTTP API on loopback: it stands for https://huggingface.co in tests.

It serves what the installed ``huggingface_hub`` (``snapshot_download`` /
``hf_hub_download``) asks of the real Hub for a dataset repo, with the same
paths, JSON shapes and headers:

``GET  /api/datasets/{repo}/revision/{rev}``        repo info; ``sha`` is the commit a branch resolves to
``GET  /api/datasets/{repo}/tree/{rev}[/{path}]``   the file listing (``oid`` = git blob sha1, ``lfs``
                                                    with the sha256 for LFS files such as Parquet)
``POST /api/datasets/{repo}/paths-info/{rev}``      the listing of named paths
``HEAD|GET /datasets/{repo}/resolve/{rev}/{path}``  a file; ``X-Repo-Commit``, ``ETag`` (the blob sha1, or
                                                    for LFS files ``X-Linked-Etag`` = sha256), sizes

Errors come as the Hub sends them: 404 with ``X-Error-Code: RepoNotFound`` /
``RevisionNotFound`` / ``EntryNotFound``, and 401 with ``X-Error-Code:
GatedRepo`` for a gated repo asked without a token. Every request is logged in
``requests``, so a test can show that an offline load asked nothing.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["FakeHub"]

_LFS_SUFFIXES = (".parquet", ".arrow", ".gz")


def _blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class _Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commit: str = ""
    history: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit sha -> files
    gated: bool = False


class FakeHub:
    """The fake Hub: ``put(repo, files)`` commits new contents; ``url`` goes into ``HF_ENDPOINT``."""

    def __init__(self, token: str | None = None) -> None:
        self.repos: dict[str, _Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.token = token
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                hub._handle(self, "GET")

            def do_HEAD(self) -> None:
                hub._handle(self, "HEAD")

            def do_POST(self) -> None:
                hub._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put(self, repo: str, files: dict[str, bytes], *, gated: bool = False) -> str:
        """Commit ``files`` as the whole content of ``repo``'s main branch; returns the new commit sha."""
        entry = self.repos.setdefault(repo, _Repo())
        digest = hashlib.sha1(repo.encode() + entry.commit.encode())
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + _blob_sha1(files[name]).encode())
        entry.files, entry.commit, entry.gated = dict(files), digest.hexdigest(), gated
        entry.history[entry.commit] = dict(files)
        return entry.commit

    # -- serving -----------------------------------------------------------

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        path = unquote(parts.path)
        self.requests.append((method, req.path))
        body = b""
        if method == "POST":
            body = req.rfile.read(int(req.headers.get("Content-Length") or 0))
        for prefix, kind in (("/api/datasets/", "api"), ("/datasets/", "file")):
            if path.startswith(prefix):
                return self._route(req, method, kind, path[len(prefix):], parse_qs(parts.query), body)
        return self._send(req, 404, {"error": "not found"}, code="EntryNotFound")

    def _find(self, rest: str) -> tuple[str, _Repo | None, str]:
        org, name, tail = (rest.split("/", 2) + ["", ""])[:3]
        repo = f"{org}/{name}"
        return repo, self.repos.get(repo), tail

    def _files_at(self, entry: _Repo, rev: str) -> tuple[str, dict[str, bytes]] | None:
        if rev in ("main", entry.commit):
            return entry.commit, entry.files
        if rev in entry.history:
            return rev, entry.history[rev]
        return None

    def _route(self, req: Any, method: str, kind: str, rest: str, query: dict[str, list[str]], body: bytes) -> None:
        repo, entry, tail = self._find(rest)
        if entry is None:
            return self._send(req, 404, {"error": "Repository not found"}, code="RepoNotFound")
        if entry.gated and req.headers.get("Authorization") != f"Bearer {self.token}":
            return self._send(req, 401, {"error": "Access to this dataset is restricted"}, code="GatedRepo")
        action, _, tail = tail.partition("/")
        rev, _, sub = tail.partition("/")
        rev = unquote(rev)
        found = self._files_at(entry, rev)
        if found is None:
            return self._send(req, 404, {"error": f"Invalid rev id: {rev}"}, code="RevisionNotFound")
        commit, files = found
        if kind == "api" and action == "revision":
            return self._send(req, 200, {"_id": commit[:24], "id": repo, "sha": commit, "private": False,
                                         "gated": "manual" if entry.gated else False, "disabled": False,
                                         "downloads": 0, "likes": 0, "tags": [], "cardData": {},
                                         "lastModified": "2025-01-01T00:00:00.000Z",
                                         "siblings": [{"rfilename": n} for n in sorted(files)]})
        if kind == "api" and action == "tree":
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            return self._send(req, 200, self._tree(files, sub.strip("/"), recursive))
        if kind == "api" and action == "paths-info":
            form = parse_qs(body.decode())
            wanted = form.get("paths", [])
            if not wanted and body.strip().startswith(b"{"):
                wanted = json.loads(body).get("paths", [])
            return self._send(req, 200, [self._file_entry(n, files[n]) for n in wanted if n in files])
        if kind == "file" and action == "resolve":
            data = files.get(sub)
            if data is None:
                return self._send(req, 404, {"error": "Entry not found"}, code="EntryNotFound")
            headers = {"X-Repo-Commit": commit, "ETag": f'"{_blob_sha1(data)}"', "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            if sub.endswith(_LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                headers.update({"X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data)),
                                "ETag": f'"{sha256}"'})
            return self._send_bytes(req, method, data, headers)
        return self._send(req, 404, {"error": "not found"}, code="EntryNotFound")

    def _file_entry(self, name: str, data: bytes) -> dict[str, Any]:
        item: dict[str, Any] = {"type": "file", "oid": _blob_sha1(data), "size": len(data), "path": name}
        if name.endswith(_LFS_SUFFIXES):
            item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return item

    def _tree(self, files: dict[str, bytes], under: str, recursive: bool) -> list[dict[str, Any]]:
        prefix = f"{under}/" if under else ""
        out: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            segments = rest.split("/")
            for depth in range(1, len(segments)):
                folder = prefix + "/".join(segments[:depth])
                if (recursive or depth == 1) and folder not in dirs:
                    dirs.add(folder)
                    out.append({"type": "directory", "oid": _blob_sha1(folder.encode()), "size": 0, "path": folder})
            if recursive or len(segments) == 1:
                out.append(self._file_entry(name, files[name]))
        return out

    def _send(self, req: Any, status: int, payload: Any, *, code: str | None = None) -> None:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if code:
            headers["X-Error-Code"] = code
            headers["X-Error-Message"] = str(payload.get("error", "")) if isinstance(payload, dict) else ""
        self._send_bytes(req, "GET", data, headers, status=status)

    @staticmethod
    def _send_bytes(req: Any, method: str, data: bytes, headers: dict[str, str], *, status: int = 200) -> None:
        req.send_response(status)
        for key, value in headers.items():
            req.send_header(key, value)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if method != "HEAD":
            req.wfile.write(data)
