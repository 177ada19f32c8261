"""Plugins used end to end through the ``ipw`` command line: a dataset, a judge and a collector of one distribution.

The distribution is the throwaway ``ipw-contract-plugin`` of :mod:`tests._plugins`
on the subprocess's PYTHONPATH. ``ipw record`` reads the plugin dataset and
starts the real energy monitor (``python -m ipw_energy_monitor.server``, its own
process), which finds the plugin collector through the same ``ipw.collectors``
entry points; ``ipw replay`` judges with the plugin judge. The inference server
is the loopback stub that answers every completion with " 4".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ipw.events import DeviceSeen, PowerSample, QueryFinished, RunStarted, Verdict
from ipw.ledger import read_events, verify

from ._plugins import run_ipw, site_env, write_contract_plugin, write_distribution
from .capture._stub_server import completions_server

DEVICE = "mymeter:plug-0"


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)  # start a monitor of our own, which sees the plugin
    return site_env(write_contract_plugin(tmp_path / "site"))


def _record(env: dict[str, str], out: Path, url: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_ipw(env, "record", "--client", "openai", "--client-base-url", url, "--client-param", "api=completions",
                   "--model", "m", "--dataset", "mydata", "--gen-param", "max_tokens=4", "--output-dir", str(out.parent),
                   "--run-name", out.name, *extra)


def test_record_with_the_plugin_collector_records_its_samples(env: dict[str, str], tmp_path: Path) -> None:
    run = tmp_path / "runs" / "metered"
    with completions_server() as url:
        done = _record(env, run, url, "--energy", "mymeter", "--sample-interval-ms", "10")
    assert done.returncode == 0, done.stderr
    assert verify(run).ok
    events = read_events(run)
    assert next(e for e in events if isinstance(e, RunStarted)).config["energy"] == "mymeter"
    assert [e.device for e in events if isinstance(e, DeviceSeen)] == [DEVICE]
    samples = [e for e in events if isinstance(e, PowerSample)]
    assert samples and {s.device for s in samples} == {DEVICE}
    assert all(s.power_w == 42.0 for s in samples)
    assert sum(isinstance(e, QueryFinished) for e in events) == 3  # every record of the plugin dataset


def test_replay_judges_with_the_plugin_judge(env: dict[str, str], tmp_path: Path) -> None:
    run = tmp_path / "runs" / "judged"
    with completions_server() as url:
        assert _record(env, run, url, "--energy", "none").returncode == 0
    done = run_ipw(env, "replay", str(run), "--analysis", "accuracy", "--eval-client", "myjudge")
    assert done.returncode == 0, done.stderr
    verdicts = [e for e in read_events(run) if isinstance(e, Verdict)]
    assert {v.judge for v in verdicts} == {"scorer:myjudge/v1"} and len(verdicts) == 3
    # every answer is " 4": the plugin judge finds the reference 4 in one of them (2, 3, 4)
    assert sorted(v.is_correct for v in verdicts) == [False, False, True]
    assert "correct 1, incorrect 2" in done.stdout
    again = run_ipw(env, "replay", str(run), "--analysis", "accuracy", "--eval-client", "myjudge")
    assert again.returncode == 0 and len([e for e in read_events(run) if isinstance(e, Verdict)]) == 3


def test_a_collector_no_one_installed_is_refused_before_anything_runs(tmp_path: Path) -> None:
    # the same id the test above records with, without its distribution
    run = tmp_path / "runs" / "unmetered"
    done = run_ipw(site_env(tmp_path / "empty-site"), "record", "--client", "openai", "--model", "m",
                   "--energy", "mymeter", "--output-dir", str(run.parent), "--run-name", run.name)
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (2, 1), done.stderr
    assert "unknown collector(s) mymeter" in lines[0] and not run.exists()


_BAD_METER = '''
from ipw_energy_monitor.collectors.base import Collector


class Bad(Collector):
    """A meter whose probe fails in a way ipw does not know (not an IpwError)."""

    name = "bad"

    def _open(self):
        raise ValueError("no such plug")

    def devices(self):
        return []

    def read(self):
        return []
'''


def test_a_plugin_collector_that_breaks_in_the_monitor_is_one_line_naming_it(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPW_ENERGY_MONITOR", raising=False)
    site = tmp_path / "site"
    write_distribution(site, "bad-meter", "bad_meter", _BAD_METER, "[ipw.collectors]\nbad = bad_meter:Bad\n")
    done = run_ipw(site_env(site), "energy", "--collectors", "bad", "--duration", "1")
    lines = done.stderr.strip().splitlines()
    assert (done.returncode, len(lines)) == (7, 1), done.stderr  # 7: the monitor could not start
    assert "plugin collector 'bad' (from distribution bad-meter 0.1) failed to start: ValueError: no such plug" in lines[0]
    assert "Traceback" not in done.stderr
