"""Throwaway plugin distributions: what ``pip install`` leaves in site-packages, written to a temp dir.

A distribution here is real as far as ``importlib.metadata`` is concerned: a
module and a ``*.dist-info`` folder (METADATA + entry_points.txt). A subprocess
sees it through PYTHONPATH (:func:`site_env`); this process through
``sys.path`` and a registry that reads the entry points again
(:func:`installed`).

:data:`CONTRACT_PLUGIN` is one distribution with a working component of every
kind, so each kind's contract suite runs over a plugin beside the built-ins;
:data:`PLUGIN_IDS` names them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

from ipw.registry import REGISTRY

__all__ = ["CONTRACT_PLUGIN", "PLUGIN_IDS", "installed", "run_ipw", "site_env", "write_contract_plugin",
           "write_distribution"]


def write_distribution(site: Path, name: str, module: str, source: str, entry_points: str) -> None:
    """One distribution ``name`` 0.1 in ``site``: ``module``.py holding ``source``, and its entry points."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(source)
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def site_env(site: Path) -> dict[str, str]:
    """This environment with ``site`` first on PYTHONPATH: a subprocess (and its children) see its plugins."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


def run_ipw(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``ipw`` command line in a subprocess with ``env``."""
    return subprocess.run([sys.executable, "-m", "ipw.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@contextlib.contextmanager
def installed(site: Path) -> Iterator[None]:
    """The distributions in ``site`` installed in this process for the block: on sys.path, read by the registry."""
    before = set(sys.modules)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    REGISTRY.forget_plugins()
    try:
        yield
    finally:
        sys.path.remove(str(site))
        for name in set(sys.modules) - before:
            if name.startswith("ipw_contract_plugin"):
                del sys.modules[name]
        REGISTRY.forget_plugins()


CONTRACT_DIST = "ipw-contract-plugin"
PLUGIN_IDS = {"clients": "echo", "datasets": "mydata", "analyses": "mycount", "judges": "myjudge",
              "visualizations": "mydraw", "collectors": "mymeter"}

CONTRACT_PLUGIN = '''
"""One working component of every kind, as a third-party distribution would ship them."""
import time
from pathlib import Path

from ipw.plugins import DatasetProvider, DatasetRecord, ScoreResult
from ipw.capture.clients.openai import OpenAIClient
from ipw_energy_monitor.collectors.base import Capabilities, Collector, DeviceInfo, PowerIntegrator, Reading


class EchoClient(OpenAIClient):
    """The OpenAI client under another name, shipped by a plugin."""

    client_id = "echo"
    client_name = "Echo (plugin)"


class MyData(DatasetProvider):
    """Three sums, each judged by the plugin judge."""

    dataset_id = "mydata"
    dataset_name = "My data (plugin)"

    def _load(self):
        for n in range(3):
            yield DatasetRecord(f"sum-{n}", f"What is {n} + 2?", str(n + 2), "arithmetic", scorer="myjudge")


class MyCount:
    """How many queries a run measured (a plugin analysis)."""

    analysis_id = "mycount"

    def compute(self, view, options):
        return {"measured": len(view.measured_queries())}


class MyJudge:
    """Right when the answer holds the reference anywhere (a plugin judge)."""

    spec = "scorer:myjudge/v1"

    def score(self, answer_text, reference, *, choices=None):
        right = reference.strip().lower() in answer_text.lower()
        return ScoreResult(right, 1.0 if right else 0.0, {"judged_by": "myjudge"})


def my_draw(views, output_dir, options):
    """One file per run listing its queries (a plugin visualization)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, view in enumerate(views):
        path = out / f"mydraw-{n}.txt"
        path.write_text(f"{len(view.measured_queries())} queries\\n")
        paths.append(path)
    return paths


class MyMeter(Collector):
    """A wall-plug meter that always reads 42 W (a plugin collector)."""

    name = "mymeter"

    def _open(self):
        self._integrator = PowerIntegrator()

    def devices(self):
        return [DeviceInfo("mymeter:plug-0", "system", name="wall plug", vendor="contract",
                           capabilities=Capabilities(power=True), collector="mymeter")]

    def read(self):
        t_ns = time.monotonic_ns()
        return [Reading("mymeter:plug-0", t_ns, power_w=42.0, energy_j=self._integrator.add(t_ns, 42.0))]
'''

_ENTRY_POINTS = """[ipw.clients]
echo = ipw_contract_plugin:EchoClient
[ipw.datasets]
mydata = ipw_contract_plugin:MyData
[ipw.analyses]
mycount = ipw_contract_plugin:MyCount
[ipw.judges]
myjudge = ipw_contract_plugin:MyJudge
[ipw.visualizations]
mydraw = ipw_contract_plugin:my_draw
[ipw.collectors]
mymeter = ipw_contract_plugin:MyMeter
"""


def write_contract_plugin(site: Path) -> Path:
    """:data:`CONTRACT_PLUGIN` as the distribution ``ipw-contract-plugin`` in ``site``; returns ``site``."""
    write_distribution(site, CONTRACT_DIST, "ipw_contract_plugin", CONTRACT_PLUGIN, _ENTRY_POINTS)
    return site
