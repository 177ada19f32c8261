"""No secret reaches anything ipw writes or prints: the run, its export, its pack, the terminal.

A real ``ipw profile`` runs with credentials in every place a user might put
them: key and token variables in the environment, an ``api_key`` and an
``Authorization`` header through ``--client-param``, a token variable's value
pasted into an innocently named header, and an LLM judge whose key comes from
``IPW_EVAL_API_KEY``. The local llama_cpp.server ignores all of them. Every
byte that results is searched for every secret value.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from ipw.ledger import export_jsonl

from tests.conftest import CliResult, run_cli

pytestmark = pytest.mark.e2e

ENV_SECRETS = {
    "IPW_EVAL_API_KEY": "ipw-eval-secret-7Q2xK9wz",
    "OPENAI_API_KEY": "sk-openai-secret-4Fj8Lmqa",
    "MY_SERVICE_TOKEN": "svc-token-secret-9Hd3Pwxe",
}
HEADER_SECRET = "hdr-auth-secret-2Vb6Nsty"
PARAM_SECRET = "param-api-secret-8Rt1Czuo"
SECRETS = [*ENV_SECRETS.values(), HEADER_SECRET, PARAM_SECRET]
VISIBLE = "visible-tag-3Kq5"  # a header value that is no secret, so it must be kept


def _leaks(blob: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in blob]


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory, llama_server_url: str) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("secrets")
    outputs: list[CliResult] = []
    with pytest.MonkeyPatch.context() as mp:
        for name, value in ENV_SECRETS.items():
            mp.setenv(name, value)
        headers = {
            "Authorization": f"Bearer {HEADER_SECRET}",
            "X-Request-Tag": VISIBLE,
            "X-Service-Id": ENV_SECRETS["MY_SERVICE_TOKEN"],  # a token variable's value under a plain name
        }
        result = run_cli(
            "profile", "--client", "openai", "--client-base-url", llama_server_url, "--model", "gemma",
            "--client-param", "api=completions", "--client-param", f"api_key={PARAM_SECRET}",
            "--client-param", f"headers={json.dumps(headers)}",
            "--max-queries", "2", "--gen-param", "max_tokens=4", "--energy", "none",
            "--output-dir", str(root), "--run-name", "secret",
        )
        assert result.exit_code == 0, result.stderr
        outputs.append(result)
        run = root / "secret"

        # an LLM judge at a loopback URL takes its key from IPW_EVAL_API_KEY; max_tokens keeps it short
        from ipw.judging.apply import judge_run, make_judge

        judge = make_judge("openai", llama_server_url, "gemma", params={"max_tokens": 2})
        assert judge.describe()["auth"] == "bearer"  # it did pick up IPW_EVAL_API_KEY
        report = judge_run(run, judge)
        assert report.calls == 2

        for args in (
            ("replay", str(run), "--analysis", "judges"),
            ("replay", str(run), "--analysis", "summary"),
            ("ledger", "info", str(run), "--json"),
            ("ledger", "export", str(run), "-o", str(root / "export.jsonl")),
            ("ledger", "pack", str(run), "-o", str(root / "secret.ipwpack"), "--include-derived"),
            ("query", str(run), "SELECT config FROM runs", "--json"),
        ):
            result = run_cli(*args)
            assert result.exit_code == 0, (args, result.stderr)
            outputs.append(result)
    yield {"run": run, "root": root, "outputs": outputs, "judge": judge.spec}


def test_the_secrets_were_in_play(secret_run: dict[str, Any]) -> None:
    """Guard against a vacuous pass: the recorded config shows each credential redacted, not absent."""
    buf = io.BytesIO()
    export_jsonl(secret_run["run"], buf, kinds={"run_started"})
    config = json.loads(buf.getvalue().splitlines()[0])["config"]
    params = config["client_params"]
    assert params["api_key"] == "<redacted>"
    assert params["headers"]["Authorization"] == "<redacted>"
    assert params["headers"]["X-Request-Tag"] == VISIBLE
    assert ENV_SECRETS["MY_SERVICE_TOKEN"] not in params["headers"]["X-Service-Id"]
    verdicts = io.BytesIO()
    export_jsonl(secret_run["run"], verdicts, kinds={"verdict"})
    judges = {json.loads(line)["judge"] for line in verdicts.getvalue().splitlines()}
    assert secret_run["judge"] in judges and secret_run["judge"].startswith("llm:openai:gemma:")


def test_no_file_in_the_run_holds_a_secret(secret_run: dict[str, Any]) -> None:
    files = [p for p in secret_run["run"].rglob("*") if p.is_file()]
    assert {"manifest.json", "000001.ipwl", "summary.json", "judges.json"} <= {p.name for p in files}
    for path in files:
        assert _leaks(path.read_bytes()) == [], path


def test_no_decompressed_event_holds_a_secret(secret_run: dict[str, Any]) -> None:
    buf = io.BytesIO()
    n = export_jsonl(secret_run["run"], buf)
    assert n > 0 and VISIBLE.encode() in buf.getvalue()
    assert _leaks(buf.getvalue()) == []
    exported = (secret_run["root"] / "export.jsonl").read_bytes()
    assert exported == buf.getvalue()
    assert _leaks(exported) == []


def test_the_pack_holds_no_secret(secret_run: dict[str, Any]) -> None:
    pack = (secret_run["root"] / "secret.ipwpack").read_bytes()
    assert b"manifest.json" in pack
    assert _leaks(pack) == []


def test_nothing_printed_holds_a_secret(secret_run: dict[str, Any]) -> None:
    outputs = secret_run["outputs"]
    assert any(VISIBLE in o.stdout for o in outputs)  # 'query' did print the recorded config
    for result in outputs:
        assert _leaks((result.stdout + result.stderr).encode()) == [], result


URL_PASSWORD = "urlpass-secret-5Xy2"


def test_credentials_in_the_base_url_are_not_recorded(tmp_path: Path, llama_server_url: str, cli) -> None:
    url = llama_server_url.replace("http://", f"http://ipw-user:{URL_PASSWORD}@", 1)
    result = cli(
        "record", "--client", "openai", "--client-base-url", url, "--model", "gemma",
        "--client-param", "api=completions", "--max-queries", "1", "--gen-param", "max_tokens=2",
        "--energy", "none", "--output-dir", str(tmp_path), "--run-name", "userinfo",
    )
    assert result.exit_code == 0, result.stderr
    buf = io.BytesIO()
    export_jsonl(tmp_path / "userinfo", buf)
    assert b"127.0.0.1" in buf.getvalue()  # the URL itself is recorded
    assert URL_PASSWORD.encode() not in buf.getvalue()
    assert URL_PASSWORD not in result.stdout + result.stderr
