"""The Ray executor: each cell one Ray task, placed by the resources it asks for.

Energy isolation: every task also takes one unit of the per-node custom
resource ``ipw_cell_slot``; a node offering one unit runs one measured cell
at a time. ``ipw study run`` without ``--ray-address`` starts a local Ray
instance that offers it; a cluster's nodes offer it when started with
``ray start --resources='{"ipw_cell_slot": 1}'``.

Transfer: the task records its run in a staging folder on its own node
(``staging_dir`` in the study file, default the node's temp folder), packs
it (:mod:`ipw.ledger.pack`) and returns the pack; the driver verifies and
unpacks it into the study folder, so the hash chain checks the transfer.
With ``--ray-address`` and a study folder the task can see (shared storage),
the task writes into the study folder directly and nothing is copied.

A task that dies (its worker killed, its node lost) marks its cell failed;
its staging folder keeps the partial run, so the next ``ipw study run``
resumes it there when the cell lands on the same node, and starts it afresh
elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from ..errors import BackendMissingError, ConfigError, UsageError
from .spec import Cell, StudySpec
from .state import RunState, StudyState

__all__ = ["SLOT_RESOURCE", "CONNECT_TIMEOUT_S", "check_ray_address", "run_ray", "task_options"]

SLOT_RESOURCE = "ipw_cell_slot"
# how long --ray-address gets to accept a TCP connection before ray.init (which would retry for minutes)
CONNECT_TIMEOUT_S = 5.0
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)$")
TASK_FILE = "task.json"  # written by the task next to its run: its pid and node, for operators (and tests)


def _ray() -> Any:
    return BackendMissingError.require("ray", "the Ray executor", "ray")


def check_ray_address(address: str) -> None:
    """Refuse a ``--ray-address`` that is not ``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``, or whose
    host does not accept a TCP connection within :data:`CONNECT_TIMEOUT_S` (a :class:`ConfigError`, exit 2)."""
    if address in ("auto", "local"):
        return
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not _HOST.match(host) or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UsageError(f"--ray-address {address!r} is not a Ray address",
                         hint="give HOST:PORT of the cluster's head (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "no answer in time" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise ConfigError(f"the Ray cluster at {address} cannot be reached: {reason} "
                          f"(a TCP connect, waited at most {CONNECT_TIMEOUT_S:g} s)",
                          hint="start it with 'ray start --head', or check --ray-address; nothing was run") from None


def task_options(cell: Cell) -> dict[str, Any]:
    """Ray task options from the cell's ``resources`` table (``CPU``, ``GPU``, or custom names)."""
    wanted = cell.resources
    options: dict[str, Any] = {"num_cpus": 1, "num_gpus": 0, "max_retries": 0, "resources": {SLOT_RESOURCE: 1}}
    for name, amount in wanted.items():
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0:
            raise UsageError(f"cell {cell.name}: resources.{name} = {amount!r} is not a quantity",
                             hint="e.g. resources = { GPU = 1 }")
        if name == "CPU":
            options["num_cpus"] = amount
        elif name == "GPU":
            options["num_gpus"] = amount
        elif name != SLOT_RESOURCE:
            options["resources"][name] = amount
    return options


def _staging_root(spec: StudySpec) -> str:
    root = Path(spec.staging_dir) if spec.staging_dir else Path(tempfile.gettempdir()) / "ipw-study-staging"
    tag = hashlib.sha256(str(spec.study_dir.resolve()).encode()).hexdigest()[:12]
    return str(root / f"{spec.name}-{tag}")


def _cell_task(cell_fields: dict[str, Any], staging: str, shared: dict[str, str] | None) -> dict[str, Any]:
    """Runs on a worker: record the cell, then pack it (or, on shared storage, leave it in place)."""
    from ..ledger.pack import pack
    from .runner import run_cell
    from .state import inspect_run

    cell = Cell(**cell_fields)
    if shared is not None and (Path(shared["study_dir"]) / shared["token"]).exists():
        runs_dir = Path(shared["study_dir"]) / "runs"
    else:
        shared, runs_dir = None, Path(staging)
    runs_dir.mkdir(parents=True, exist_ok=True)
    run_dir = runs_dir / cell.name
    info = {"pid": os.getpid(), "node": _node_ip(), "run_dir": str(run_dir)}
    (runs_dir / f"{cell.name}.{TASK_FILE}").write_text(json.dumps(info, sort_keys=True))
    before = inspect_run(run_dir)
    message = None
    if before.state != "complete":
        message = run_cell(cell, runs_dir, resume=before.state == "partial")
        server = cell.server_spec()
        if server is not None and server.cooldown_s > 0:  # before this worker takes its next cell
            time.sleep(server.cooldown_s)
    after = inspect_run(run_dir)
    out: dict[str, Any] = {"message": message, "node": info["node"], "pack": None, "shared": shared is not None}
    if shared is None and after.head_hash is not None:
        pack_file = runs_dir / f".{cell.name}.pack"
        pack(run_dir, pack_file, include_derived=True)
        out["pack"] = pack_file.read_bytes()
        pack_file.unlink()
        if after.state == "complete":
            shutil.rmtree(run_dir, ignore_errors=True)  # delivered; a partial run stays to be resumed here
    return out


def _node_ip() -> str | None:
    try:
        import ray

        return ray.util.get_node_ip_address()
    except Exception:  # informational only
        return None


def run_ray(spec: StudySpec, state: StudyState, todo: list[tuple[Cell, RunState]], *,
            address: str | None, observer: Any) -> None:
    """Submit every pending cell as a task, then collect them as they finish."""
    ray = _ray()
    # Ray prints its own notices (a worker that died, …) on stdout, where they would spoil --json: to stderr
    with contextlib.redirect_stdout(sys.stderr):
        _run_on_cluster(ray, spec, state, todo, address, observer)


def _run_on_cluster(ray: Any, spec: StudySpec, state: StudyState, todo: list[tuple[Cell, RunState]],
                    address: str | None, observer: Any) -> None:
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(resources={SLOT_RESOURCE: 1}, include_dashboard=False, log_to_driver=False)
    try:
        if todo and not ray.cluster_resources().get(SLOT_RESOURCE):
            raise UsageError(f"the Ray cluster offers no '{SLOT_RESOURCE}' resource, so no cell could be placed",
                             hint=f"start each node with ray start --resources='{{\"{SLOT_RESOURCE}\": 1}}'")
        _run_tasks(ray, spec, state, todo, address, observer)
    finally:
        if started_here:
            ray.shutdown()


def _run_tasks(ray: Any, spec: StudySpec, state: StudyState, todo: list[tuple[Cell, RunState]],
               address: str | None, observer: Any) -> None:
    token = f".ray-shared-{uuid.uuid4().hex}"
    shared = None
    if address:
        (spec.study_dir / token).touch()
        shared = {"study_dir": str(spec.study_dir.resolve()), "token": token}
    remote = ray.remote(_cell_task)
    staging = _staging_root(spec)
    refs: dict[Any, Cell] = {}
    try:
        for index, (cell, run) in enumerate(todo, start=1):
            options = task_options(cell)
            observer.cell_started(index, len(todo), cell, run.state == "partial", queued=True)
            fields = {"name": cell.name, "params": cell.params, "settings": cell.settings}
            refs[remote.options(**options).remote(fields, staging, shared)] = cell
            state.note(cell.name, status="running", message=None)
        finished = 0
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            cell = refs.pop(ready[0])
            finished += 1
            entry = _collect(ray, ready[0], cell, state)
            observer.cell_finished(finished, len(todo), entry)
    finally:
        (spec.study_dir / token).unlink(missing_ok=True)


def _collect(ray: Any, ref: Any, cell: Cell, state: StudyState) -> dict[str, Any]:
    from ..errors import IpwError
    from ..reports.audit import check_pack_derived
    from ..ledger.pack import unpack

    try:
        out = ray.get(ref)
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        entry = state.refresh(cell.name, failed=True, message=(
            f"the Ray task running this cell died ({type(exc).__name__}: {first[:200]}); "
            "rerun 'ipw study run' to resume it"))
        # its partial run stays in the staging folder on its node
        return state.note(cell.name, resumable=True)
    message = out.get("message")
    if out.get("pack") is not None:
        run_dir = state.run_dir(cell.name)
        tmp = state.study_dir / f".{cell.name}.pack"
        try:
            tmp.write_bytes(out["pack"])
            if run_dir.exists():
                _set_aside(state.study_dir, run_dir)
            unpack(tmp, run_dir, check_derived=check_pack_derived)
        except IpwError as exc:
            message = f"the run's pack from node {out.get('node')} did not verify: {exc.one_line()}"
        finally:
            tmp.unlink(missing_ok=True)
    return state.refresh(cell.name, message=message, failed=message is not None)


def _set_aside(study_dir: Path, run_dir: Path) -> None:
    """An older copy of a cell's run is moved, never deleted: nothing recorded is lost."""
    aside = study_dir / "superseded"
    aside.mkdir(exist_ok=True)
    n = 1
    while (aside / f"{run_dir.name}.{n}").exists():
        n += 1
    os.replace(run_dir, aside / f"{run_dir.name}.{n}")
