"""A small Hugging Face Hub on 127.0.0.1 for tests: the real huggingface_hub client talks to it over HTTP.

It implements the routes the client calls to create a dataset repo, upload files and download a snapshot:

* ``POST /api/repos/create``                         create a repo (409 when it exists)
* ``POST /api/validate-yaml``                        check README front matter parses (400 with errors if not)
* ``POST /api/datasets/{repo}/preupload/{rev}``      upload mode: always ``regular`` (files then travel base64
                                                     inside the commit); ``oid`` = git blob sha1 of a present file
* ``POST /api/datasets/{repo}/commit/{rev}``         NDJSON commit: header, ``file`` (base64), ``deletedFile``
* ``GET  /api/datasets/{repo}/revision/{rev}``       repo info with sha and siblings
* ``GET  /api/datasets/{repo}/tree/{rev}[/path]``    file listing (recursive), paginated with a Link header
* ``HEAD|GET /datasets/{repo}/resolve/{rev}/{path}`` file metadata (X-Repo-Commit, ETag) and content

Every request must carry ``Authorization: Bearer <token>``; each request is logged (method, path) without
headers. Anything else answers 404 so a new client call shows up as a failing test, not a silent pass.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

TREE_PAGE_SIZE = 50


def git_blob_sha1(data: bytes) -> str:
    """Git's object id of a blob: sha1 over ``blob <size>\\0`` + content."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """One dataset repo: files at the head of ``main`` and the list of commits (summary, operations)."""

    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict] = field(default_factory=list)

    @property
    def sha(self) -> str:
        digest = hashlib.sha1(json.dumps([c["oid"] for c in self.commits]).encode())
        return digest.hexdigest()


@dataclass
class HubState:
    """What the server holds and saw: repos by id, request log, the token it accepts, and the commit requests
    (1-based, counted over the server's life) it answers with HTTP 500 to simulate a failure mid-upload."""

    token: str
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_commits: set[int] = field(default_factory=set)
    commit_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_REPO = r"(?P<repo>[^/]+/[^/]+)"
_ROUTES = [
    ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
    ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
    ("POST", re.compile(rf"^/api/datasets/{_REPO}/preupload/(?P<rev>[^/]+)$"), "preupload"),
    ("POST", re.compile(rf"^/api/datasets/{_REPO}/commit/(?P<rev>[^/]+)$"), "commit"),
    ("GET", re.compile(rf"^/api/datasets/{_REPO}/revision/(?P<rev>[^/]+)$"), "revision"),
    ("GET", re.compile(rf"^/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?P<path>/.*)?$"), "tree"),
    ("GET", re.compile(rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ("HEAD", re.compile(rf"^/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    # -------------------------------------------------------------- plumbing
    def _reply(self, status: int, body: object = None, *, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        path = unquote(url.path)
        with state.lock:
            state.requests.append((self.command, path))
        if self.headers.get("Authorization") != f"Bearer {state.token}":
            self._body()
            self._reply(401, {"error": "Invalid credentials in Authorization header"})
            return
        for method, pattern, name in _ROUTES:
            match = pattern.match(path) if method == self.command else None
            if match:
                getattr(self, f"_{name}")(**match.groupdict(), query=parse_qs(url.query))
                return
        self._body()
        self._reply(404, {"error": f"fake hub: no route for {self.command} {path}"})

    do_GET = do_POST = do_HEAD = _dispatch

    def _repo(self, repo: str) -> Repo | None:
        found = self.server.state.repos.get(repo)
        if found is None:
            self._reply(404, {"error": "Repository not found"}, headers={"X-Error-Code": "RepoNotFound"})
        return found

    # -------------------------------------------------------------- routes
    def _create_repo(self, query: dict) -> None:
        payload = json.loads(self._body())
        assert payload.get("type") == "dataset", payload
        repo_id = f"{payload['organization']}/{payload['name']}"
        state = self.server.state
        url = f"http://{self.headers['Host']}/datasets/{repo_id}"
        with state.lock:
            if repo_id in state.repos:
                self._reply(409, {"error": "You already created this dataset repo", "url": url})
                return
            state.repos[repo_id] = Repo(private=payload.get("visibility") == "private")
        self._reply(200, {"url": url, "name": repo_id, "id": repo_id})

    def _validate_yaml(self, query: dict) -> None:
        content = json.loads(self._body())["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, re.DOTALL)
        errors = []
        if match is None:
            errors.append({"message": "no YAML front matter"})
        else:
            try:
                meta = yaml.safe_load(match.group(1))
                if not isinstance(meta, dict):
                    errors.append({"message": "front matter is not a mapping"})
            except yaml.YAMLError as exc:
                errors.append({"message": f"invalid YAML: {exc}"})
        self._reply(400 if errors else 200, {"errors": errors, "warnings": []})

    def _preupload(self, repo: str, rev: str, query: dict) -> None:
        payload = json.loads(self._body())
        found = self._repo(repo)
        if found is None:
            return
        files = []
        for item in payload["files"]:
            present = found.files.get(item["path"])
            entry = {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False}
            if present is not None:
                entry["oid"] = git_blob_sha1(present)
            files.append(entry)
        self._reply(200, {"files": files, "commitOid": found.sha})

    def _commit(self, repo: str, rev: str, query: dict) -> None:
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        found = self._repo(repo)
        if found is None:
            return
        header = lines[0]
        assert header["key"] == "header", header
        operations = []
        with self.server.state.lock:
            self.server.state.commit_requests += 1
            if self.server.state.commit_requests in self.server.state.fail_commits:
                self._reply(500, {"error": "fake hub: simulated failure"})
                return
            for line in lines[1:]:
                value = line["value"]
                if line["key"] == "file":
                    assert value["encoding"] == "base64", value.get("encoding")
                    found.files[value["path"]] = base64.b64decode(value["content"])
                elif line["key"] == "deletedFile":
                    found.files.pop(value["path"], None)
                else:
                    self._reply(400, {"error": f"fake hub: unsupported commit operation {line['key']!r}"})
                    return
                operations.append((line["key"], value["path"]))
            oid = hashlib.sha1(json.dumps([found.sha, header, operations]).encode()).hexdigest()
            found.commits.append({"oid": oid, "summary": header["value"]["summary"], "operations": operations})
        url = f"http://{self.headers['Host']}/datasets/{repo}/commit/{oid}"
        self._reply(200, {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None})

    def _revision(self, repo: str, rev: str, query: dict) -> None:
        found = self._repo(repo)
        if found is None:
            return
        siblings = [{"rfilename": path} for path in sorted(found.files)]
        self._reply(200, {"id": repo, "sha": found.sha, "private": found.private, "siblings": siblings})

    def _tree(self, repo: str, rev: str, path: str | None, query: dict) -> None:
        found = self._repo(repo)
        if found is None:
            return
        prefix = (path or "/").strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        entries: dict[str, dict] = {}
        for name in sorted(found.files):
            if prefix and not name.startswith(prefix + "/"):
                continue
            rest = name[len(prefix) + 1 :] if prefix else name
            parts = rest.split("/")
            base = f"{prefix}/" if prefix else ""
            for depth in range(1, len(parts)):
                folder = base + "/".join(parts[:depth])
                entries.setdefault(folder, {"type": "directory", "path": folder, "oid": "0" * 40, "size": 0})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                data = found.files[name]
                entries[name] = {"type": "file", "path": name, "oid": git_blob_sha1(data), "size": len(data)}
        listing = sorted(entries.values(), key=lambda e: e["path"])
        start = int(query.get("cursor", ["0"])[0])
        page = listing[start : start + TREE_PAGE_SIZE]
        headers = {}
        if start + TREE_PAGE_SIZE < len(listing):
            base_url = f"http://{self.headers['Host']}{urlsplit(self.path).path}"
            headers["Link"] = f'<{base_url}?recursive={recursive}&cursor={start + TREE_PAGE_SIZE}>; rel="next"'
        self._reply(200, page, headers=headers)

    def _resolve(self, repo: str, rev: str, path: str, query: dict) -> None:
        found = self._repo(repo)
        if found is None:
            return
        data = found.files.get(path)
        if data is None:
            self._reply(404, {"error": "Entry not found"}, headers={"X-Error-Code": "EntryNotFound"})
            return
        headers = {"X-Repo-Commit": found.sha, "ETag": f'"{git_blob_sha1(data)}"'}
        self._reply(200, data, headers=headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: HubState):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class FakeHub:
    """Start with :meth:`start`, stop with :meth:`stop`; ``endpoint`` is the ``HF_ENDPOINT`` to point at it."""

    def __init__(self, *, token: str):
        self.state = HubState(token=token)
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def files(self, repo_id: str) -> dict[str, bytes]:
        """Files at the head of ``repo_id``."""
        return dict(self.state.repos[repo_id].files)
