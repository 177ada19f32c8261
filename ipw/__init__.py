"""ipw — Intelligence Per Watt: correct answers per joule, measured and replayable.

The package is layered; each layer imports only the layers above it in this
list (checked by tests/test_layers.py), and the CLI may import all:

  foundations  errors, secrets, _untrusted, _sandbox, _atomic, _endpoints, registry: importable from anywhere
               (the registry names components by dotted path and imports only errors;
               _sandbox runs untrusted programs in a child process and imports nothing of ipw;
               _atomic writes a file whole or not at all, fsynced where that is promised;
               _endpoints normalises a service's base URL and quotes its bodies in error lines)
  events       what happened: frozen msgspec Structs, no I/O
  ledger       how events are stored: frames, checksums, hash chain, segments, recovery
  replay       the replay engine and the projection protocol: needs only events and the ledger
  capture      the only layer with side effects on the world: runner, clients, datasets, telemetry
  agent        the built-in agent: a tool-calling loop, its tools and tasks, captured by the runner
  proxy        the recording reverse proxy: an agent's calls through the capture's transport and telemetry
  judging      scorers and LLM judges that turn answers into verdict events
  analyses     pure projections: accuracy, energy, latency, regression, summary, judges
  reports      JSON files, tables, plots, diffs, DuckDB views, the HTML report; never a source of truth
  plugins      the public base classes a third-party client, dataset, scorer or analysis builds on
  api          the pipeline as functions: record, judge, analyse, profile
  studies      many runs as one experiment
  cli          thin click commands and the one error boundary
"""

from __future__ import annotations

__version__ = "1.0.0"

__all__ = ["__version__"]
