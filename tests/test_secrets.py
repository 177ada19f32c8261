"""The secret registry (ipw.secrets): what counts as a credential, its wire forms, and where it is scrubbed.

This is the one module for :mod:`ipw.secrets` itself: it pins the registry's
own rules and the two catch-alls built on it, the ledger's encoder and the
CLI's stderr. The commands that carry credentials are tested beside their
code, end to end: ``ipw profile`` (servers that echo credentials back) in
tests/capture/test_profile_credentials.py, ``ipw study run`` in
tests/studies/test_redaction.py.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path

import click
import pytest

from ipw import secrets
from ipw.events import Annotation, QueryFailed, RunStarted, Token, Verdict
from ipw.ledger import LedgerWriter, export_jsonl
from ipw.secrets import REDACTED, register, register_params, register_url, scrub


def test_a_registered_value_is_scrubbed_in_each_of_its_spellings() -> None:
    value = "reg-raw-secret/with+odd&chars\"9"
    register(value)
    text = " | ".join([value, "q=" + "reg-raw-secret%2Fwith%2Bodd%26chars%229", json.dumps({"k": value})])
    out = scrub(text)
    assert "reg-raw-secret" not in out, out
    assert out.count(REDACTED) == 3


def test_a_header_value_registers_the_credential_after_its_scheme() -> None:
    register("Bearer hdr-scheme-secret-5Ka1", header=True)
    assert scrub("token was hdr-scheme-secret-5Ka1 alone") == f"token was {REDACTED} alone"
    basic = base64.b64encode(b"someone:hdr-basic-pass-4Qw2").decode()
    register(f"Basic {basic}", header=True)
    assert scrub(f"got {basic} and hdr-basic-pass-4Qw2") == f"got {REDACTED} and {REDACTED}"


def test_url_userinfo_registers_the_password_and_its_basic_token() -> None:
    register_url("https://u%40corp:url-pass%2Fsecret-8Vn4@example.com/v1")
    token = base64.b64encode(b"u@corp:url-pass/secret-8Vn4").decode()
    out = scrub(f"Authorization: Basic {token}; password url-pass/secret-8Vn4 or url-pass%2Fsecret-8Vn4")
    assert out == f"Authorization: Basic {REDACTED}; password {REDACTED} or {REDACTED}"


def test_params_register_credential_names_and_every_header_whatever_its_name() -> None:
    register_params({
        "api_key": "param-key-secret-1Zs3",
        "nested": {"refresh_token": ["param-token-secret-6Ty0"]},
        "headers": {"X-Anything": "param-header-secret-2Bb5", "Accept": "application/json"},
        "max_tokens": "123456789012",  # a count, not a credential
        "model": "model-name-not-secret",
    })
    text = ("param-key-secret-1Zs3 param-token-secret-6Ty0 param-header-secret-2Bb5 "
            "123456789012 model-name-not-secret")
    assert scrub(text) == f"{REDACTED} {REDACTED} {REDACTED} 123456789012 model-name-not-secret"


def test_short_values_are_not_searched_for_in_free_text() -> None:
    register("abc")
    register_params({"headers": {"X-Short": "on"}})
    assert scrub("abc is on") == "abc is on"


def test_environment_credentials_are_registered_when_a_client_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipw.capture.clients.openai import OpenAIClient

    secrets.register_env()
    monkeypatch.setenv("LATE_SERVICE_PASSWORD", "late-env-secret-9Mm8")
    monkeypatch.setenv("LATE_MAX_TOKENS", "late-env-not-a-secret")
    assert scrub("late-env-secret-9Mm8") == "late-env-secret-9Mm8"  # set after the registry last looked
    OpenAIClient("http://127.0.0.1:9/v1").close()
    assert scrub("late-env-secret-9Mm8 late-env-not-a-secret") == f"{REDACTED} late-env-not-a-secret"
    assert secrets.found_in(b"\xa5xx late-env-secret-9Mm8")


def test_url_credentials_are_cut_from_any_url_and_the_placeholder_is_stable() -> None:
    once = scrub("see http://bob:pw@127.0.0.1:9/v1 and https://tok@host/x")
    assert once == f"see http://{REDACTED}@127.0.0.1:9/v1 and https://{REDACTED}@host/x"
    assert scrub(once) == once
    assert not secrets.found_in(once.encode())


def test_the_ledger_encoder_scrubs_every_event_but_tokens(tmp_path: Path) -> None:
    """The last line of defence: whatever path built an event, its bytes on disk hold no credential."""
    secret = "codec-backstop-secret-3Gh7"
    register(secret)
    run = tmp_path / "run"
    with LedgerWriter.create(run, run_id="r", flush_interval_s=0) as writer:
        writer.append(RunStarted(run_id="r", t_ns=1, wall_time_ns=1,
                                 config={"note": f"echo {secret}", secret: [secret]}))
        writer.append(QueryFailed(query_id=0, t_ns=2, error_type="X", message=f"server said {secret}"))
        writer.append(Verdict(query_id=0, t_ns=3, judge="j", is_correct=None,
                              metadata=json.dumps({"error": f"quoted {secret}"})))
        writer.append(Annotation(t_ns=4, key="note", value=f"http://me:{secret}@host/"))
        # generated text is never rewritten: it is the hot path and the measured answer
        writer.append(Token(query_id=0, t_ns=5, text="the model wrote this"))
    out = io.BytesIO()
    assert export_jsonl(run, out) == 5
    assert secret.encode() not in out.getvalue()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0]["config"] == {"note": f"echo {REDACTED}", REDACTED: [REDACTED]}
    assert events[1]["message"] == f"server said {REDACTED}"
    assert json.loads(events[2]["metadata"]) == {"error": f"quoted {REDACTED}"}
    assert events[3]["value"] == f"http://{REDACTED}@host/"
    assert events[4]["text"] == "the model wrote this"


def test_everything_the_cli_prints_on_stderr_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Error lines and warnings written by any command pass through the registry."""
    from ipw import cli as cli_module

    secret = "stderr-secret-value-8Pp2"
    register(secret)

    @click.command("leaky")
    def leaky() -> None:
        click.echo(f"warning: the server said {secret}", err=True)
        sys.stderr.write(f"progress {secret}\n")
        raise click.ClickException(f"failed at http://u:pw@host/ with {secret}")

    monkeypatch.setitem(cli_module.cli.commands, "leaky", leaky)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["leaky"])
    assert exit_info.value.code == 1
    assert sys.stderr is err  # put back as it was
    printed = err.getvalue()
    assert secret not in printed and ":pw@" not in printed
    assert printed.splitlines() == [
        f"warning: the server said {REDACTED}",
        f"progress {REDACTED}",
        f"ipw: error: failed at http://{REDACTED}@host/ with {REDACTED}",
    ]
