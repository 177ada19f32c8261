"""``ipw proxy``: record any OpenAI-compatible agent by pointing its base URL at ipw.

Exit codes: 0 when the proxy was stopped (Ctrl-C, SIGTERM) with no call in
flight (``run_finished`` says ``completed``); 130 when a call was in flight
and was recorded as interrupted (``interrupted``); 2 for bad usage or a run
that exists without ``--resume``; 3 when another process writes the run.
"""

from __future__ import annotations

import signal

import click

from ._options import wait_option


@click.command("proxy")
@click.option("--upstream", required=True, help="The model server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port the agent connects to (0: any free port, printed at start).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback exposes the proxy (and the credentials through it).")
@click.option("--task-gap-s", type=float, default=30.0, show_default=True,
              help="Calls without X-IPW-Task or /task/<id>/v1 are one task until a pause this long.")
@click.option("--output-dir", default="runs", show_default=True, type=click.Path(file_okay=False), help="Where run directories go.")
@click.option("--run-name", default=None, help="Name of the run directory (default: proxy_<time>).")
@click.option("--energy", default="auto", show_default=True, help="auto, none, or a comma list of collectors.")
@click.option("--sample-interval-ms", type=int, default=100, show_default=True, help="Energy sampling interval.")
@click.option("--cpu-tdp-w", type=float, default=None, help="TDP for the estimated CPU collector.")
@click.option("--ack-early", is_flag=True,
              help="End each answer without waiting for its record to be fsynced (saves the fsync per call; "
              "a kill -9 may then lose the last second of calls).")
@click.option("--resume", is_flag=True, help="Continue the run with the same --output-dir/--run-name.")
@wait_option
def proxy(upstream: str, port: int, host: str, task_gap_s: float, output_dir: str, run_name: str | None,
          energy: str, sample_interval_ms: int, cpu_tdp_w: float | None, ack_early: bool, resume: bool) -> int:
    """Run a recording OpenAI-compatible proxy in front of UPSTREAM until Ctrl-C.

    Every /v1/chat/completions and /v1/completions call is passed through and
    recorded as a query of one run, grouped into tasks by an X-IPW-Task header,
    a /task/<id>/v1 base URL, or pauses of --task-gap-s. POST
    /ipw/task/<id>/finish {"outcome": "solved"} (or an X-IPW-Task-Outcome
    header on a call) reports how a task ended.

    Example:

        ipw proxy --upstream http://127.0.0.1:8000/v1 --port 8080 --run-name my-agent
    """
    from ..capture.lifecycle import terminate_as_interrupt
    from ..proxy import LOOPBACK_HOSTS, ProxyConfig, ProxyRun

    config = ProxyConfig(upstream=upstream, host=host, port=port, task_gap_s=task_gap_s, output_dir=output_dir,
                         run_name=run_name, energy=energy, sample_interval_ms=sample_interval_ms,
                         cpu_tdp_w=cpu_tdp_w, durable_ack=not ack_early)
    if host not in LOOPBACK_HOSTS:
        click.echo(f"ipw: warning: listening on {host}, not loopback: anyone who can reach it can use your "
                   "upstream and its credentials through it", err=True)
    run = ProxyRun(config)
    previous = terminate_as_interrupt()
    try:
        run.start(resume=resume)
        if run.energy_note:
            click.echo(f"note: {run.energy_note}", err=True)
        click.echo(f"ipw proxy: recording into {run.run_dir}; point the agent's base URL at {run.url}", err=True)
        try:
            run.serve()
        except KeyboardInterrupt:
            pass
        status = run.close()
    finally:
        if run.status is None:
            run.close("failed")
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    click.echo(str(run.run_dir))
    if status == "interrupted":
        click.echo("ipw: the proxy stopped with calls in flight; they are recorded as interrupted", err=True)
        return 130
    return 0
