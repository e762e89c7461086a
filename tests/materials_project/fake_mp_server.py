"""A small Materials Project REST server on 127.0.0.1 for tests: the routes and shapes mp-api 0.46 calls.

It serves real task documents (``../shared/data/emmet``) under ``materials/tasks/``, material documents
built from them under ``materials/core/`` (one material per formula, its id the smallest task id, as MP
names a material after one of its tasks), and thermo documents under ``materials/thermo/``. Every data
route checks the ``x-api-key`` header, pages with ``_limit``/``_skip``, projects with ``_fields`` and
answers ``{"data": [...], "meta": {"total_doc": N, ...}}``. Faults are queued per route prefix and each
is used once: HTTP 500, 429 with Retry-After, a connection dropped mid-body, a delay.

The route table was taken from the requests the real ``MPRester`` sends (see ``FakeMP.log``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

DB_VERSION = "2025.09.25"
EMMET_VERSION = "0.87.0"


def alpha_suffix(task_id: str) -> str:
    """The padded AlphaID suffix MP's Delta tables use as ``identifier`` (``mp-djowr`` -> ``aaadjowr``)."""
    from emmet.core.mpid import AlphaID

    return str(AlphaID(task_id, padlen=8)).split("-")[-1]


def _calc_type(doc: Mapping[str, Any]) -> str | None:
    value = doc.get("calc_type")
    if value:
        return str(value)
    if doc.get("run_type") and doc.get("task_type"):
        return f"{doc['run_type']} {doc['task_type']}"
    return None


def materials_from_tasks(
    tasks: list[dict[str, Any]], deprecated_tasks: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """MaterialsDoc-shaped documents grouping task documents by reduced formula (``formula_pretty``)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for doc in tasks:
        groups.setdefault(str(doc.get("formula_pretty")), []).append(doc)
    materials = []
    for formula, docs in sorted(groups.items()):
        task_ids = sorted(str(d["task_id"]) for d in docs)
        elements = sorted({str(e) for d in docs for e in d.get("elements") or []})
        materials.append(
            {
                "material_id": task_ids[0],
                "formula_pretty": formula,
                "chemsys": "-".join(elements),
                "elements": elements,
                "nelements": len(elements),
                "task_ids": task_ids,
                "calc_types": {str(d["task_id"]): _calc_type(d) for d in docs if _calc_type(d)},
                "deprecated_tasks": sorted(t for t in task_ids if t in deprecated_tasks),
                "deprecated": False,
            }
        )
    return materials


@dataclass
class Fault:
    """One injected fault, used on the next ``times`` requests to ``route``: ``kind`` is "500", "429" (with
    Retry-After), "drop" (connection closed mid-body), "garbage" (a 200 whose body is not JSON) or "delay"."""

    kind: str
    route: str
    retry_after_s: int = 1
    delay_s: float = 0.0
    times: int = 1


@dataclass
class FakeMP:
    """State of the fake server: documents, expected key, queued faults and a request log."""

    api_key: str
    tasks: list[dict[str, Any]]
    materials: list[dict[str, Any]]
    thermo: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, dict[str, list[str]], int]] = field(default_factory=list)
    request_delay_s: float = 0.0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if route.startswith(fault.route) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def requests_to(self, route: str) -> list[dict[str, list[str]]]:
        return [params for path, params, _ in self.log if path.startswith(route)]


def _split(params: dict[str, list[str]], name: str) -> list[str] | None:
    if name not in params:
        return None
    return [v for value in params[name] for v in value.split(",") if v]


def _project(doc: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    if not fields:
        return doc
    return {f: doc[f] for f in fields if f in doc}


def _select_tasks(state: FakeMP, params: dict[str, list[str]]) -> list[dict[str, Any]]:
    wanted = _split(params, "task_ids")
    if wanted is None:
        return list(state.tasks)
    # mp-api sends each id in its legacy integer form and as a padded AlphaID: match them all on the AlphaID.
    wanted_set = {alpha_suffix(w) for w in wanted}
    return [d for d in state.tasks if _alpha_or_none(d.get("task_id")) in wanted_set]


def _alpha_or_none(task_id: Any) -> str | None:
    try:
        return alpha_suffix(str(task_id))
    except Exception:  # a malformed document's id: it matches nothing
        return None


def _select_materials(state: FakeMP, params: dict[str, list[str]]) -> list[dict[str, Any]]:
    found = list(state.materials)
    if (ids := _split(params, "material_ids")) is not None:
        found = [m for m in found if alpha_suffix(m["material_id"]) in {alpha_suffix(i) for i in ids}]
    if (systems := _split(params, "chemsys")) is not None:
        found = [m for m in found if m["chemsys"] in {"-".join(sorted(s.split("-"))) for s in systems}]
    if (elements := _split(params, "elements")) is not None:
        found = [m for m in found if set(elements) <= set(m["elements"])]
    return found


def _select_thermo(state: FakeMP, params: dict[str, list[str]]) -> list[dict[str, Any]]:
    found = list(state.thermo)
    if (ids := _split(params, "material_ids")) is not None:
        found = [t for t in found if alpha_suffix(t["material_id"]) in {alpha_suffix(i) for i in ids}]
    if (types := _split(params, "thermo_types")) is not None:
        found = [t for t in found if t["thermo_type"] in set(types)]
    return found


ROUTES = {
    "/materials/tasks/": _select_tasks,
    "/materials/core/": _select_materials,
    "/materials/thermo/": _select_thermo,
}


def _handler(state: FakeMP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            params = parse_qs(parsed.query)
            route = parsed.path if parsed.path.endswith("/") else parsed.path + "/"
            if route == "/heartbeat/":
                state.log.append((route, params, 200))
                body = {"db_version": DB_VERSION, "access_controlled_batch_ids": [], "version": EMMET_VERSION}
                self._send(200, json.dumps(body).encode())
                return
            if self.headers.get("x-api-key") != state.api_key:
                state.log.append((route, params, 401))
                self._send(401, json.dumps({"detail": "Invalid or missing API key"}).encode())
                return
            select = ROUTES.get(route)
            if select is None:
                state.log.append((route, params, 404))
                self._send(404, json.dumps({"detail": "Not Found"}).encode())
                return
            if state.request_delay_s:
                time.sleep(state.request_delay_s)
            fault = state.take_fault(route)
            if fault is not None:
                state.log.append((route, params, {"500": 500, "429": 429}.get(fault.kind, 200)))
                if fault.kind == "500":
                    self._send(500, b'{"detail": "Internal Server Error"}')
                    return
                if fault.kind == "429":
                    self._send(429, b'{"detail": "Too Many Requests"}', {"Retry-After": str(fault.retry_after_s)})
                    return
                if fault.kind == "drop":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b'{"data": [{"task_id": "mp-')
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if fault.kind == "garbage":  # a complete response whose body is not JSON
                    self._send(200, b'{"data": [{"task_id": "mp-ddduw", "input": {')
                    return
                if fault.kind == "delay":
                    time.sleep(fault.delay_s)
            state.log.append((route, params, 200))
            docs = select(state, params)
            skip = int(params.get("_skip", ["0"])[0])
            limit = int(params.get("_limit", [str(len(docs) or 1)])[0])
            fields = _split(params, "_fields")
            page = [_project(d, fields) for d in docs[skip : skip + limit]]
            body = {"data": page, "meta": {"total_doc": len(docs), "max_limit": 1000, "db_version": DB_VERSION}}
            self._send(200, json.dumps(body).encode())

    return Handler


@contextmanager
def serve(state: FakeMP) -> Iterator[FakeMP]:
    """Run the server on 127.0.0.1 (a free port) in a thread; ``state.url`` is its endpoint (trailing slash)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
