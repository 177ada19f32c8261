"""The ipw energy monitor: a gRPC sidecar that streams power samples.

Run it with ``ipw-energy-monitor --port 0`` (it prints ``listening on
HOST:PORT``); ipw launches one itself when it needs it. The wire contract is
``proto/energy_monitor.proto``; the collectors live in
:mod:`ipw_energy_monitor.collectors`.
"""

from __future__ import annotations

__version__ = "1.0.0"

__all__ = ["__version__"]
