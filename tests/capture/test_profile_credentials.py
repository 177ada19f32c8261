"""No secret reaches anything ipw writes or prints: the run, its export, its pack, the terminal.

A real ``ipw profile`` runs with credentials in every place a user might put
them: key and token variables in the environment, an ``api_key`` and an
``Authorization`` header through ``--client-param``, a token variable's value
pasted into an innocently named header, and an LLM judge whose key comes from
``IPW_EVAL_API_KEY``. The local llama_cpp.server ignores all of them. Every
byte that results is searched for every secret value.

The second half (v2, SPEC §8) turns to servers that echo what they were sent:
small stub HTTP servers on 127.0.0.1 that quote the ``Authorization`` header,
custom headers and request fields back in an error body. Every credential
route then reaches ipw as text it did not write itself, and every byte ipw
leaves behind (files, each decompressed ledger frame, exports, packs, what it
printed) is searched for each credential and each of its wire forms.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Iterator

import pytest
import zstandard

from ipw.ledger import export_jsonl

from tests._servers import free_port, loopback_http
from tests.conftest import CliResult, assert_one_clean_line, run_cli

ENV_SECRETS = {
    "IPW_EVAL_API_KEY": "ipw-eval-secret-7Q2xK9wz",
    "OPENAI_API_KEY": "sk-openai-secret-4Fj8Lmqa",
    "MY_SERVICE_TOKEN": "svc-token-secret-9Hd3Pwxe",
}
HEADER_SECRET = "hdr-auth-secret-2Vb6Nsty"
PARAM_SECRET = "param-api-secret-8Rt1Czuo"
TAG_SECRET = "plain-tag-secret-3Kq5"  # v2: a header value is a secret whatever the header's name
SECRETS = [*ENV_SECRETS.values(), HEADER_SECRET, PARAM_SECRET, TAG_SECRET]


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
            "X-Request-Tag": TAG_SECRET,
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
        from ipw.judging.apply import judge_run
        from ipw.judging.select import make_judge

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


@pytest.mark.e2e
def test_the_secrets_were_in_play(secret_run: dict[str, Any]) -> None:
    """Guard against a vacuous pass: the recorded config shows each credential redacted, not absent."""
    buf = io.BytesIO()
    export_jsonl(secret_run["run"], buf, kinds={"run_started"})
    config = json.loads(buf.getvalue().splitlines()[0])["config"]
    params = config["client_params"]
    assert params["api_key"] == "<redacted>"
    assert params["headers"]["Authorization"] == "<redacted>"
    assert params["headers"]["X-Request-Tag"] == "<redacted>"
    assert ENV_SECRETS["MY_SERVICE_TOKEN"] not in params["headers"]["X-Service-Id"]
    verdicts = io.BytesIO()
    export_jsonl(secret_run["run"], verdicts, kinds={"verdict"})
    judges = {json.loads(line)["judge"] for line in verdicts.getvalue().splitlines()}
    assert secret_run["judge"] in judges and secret_run["judge"].startswith("llm:openai:gemma:")


@pytest.mark.e2e
def test_no_file_in_the_run_holds_a_secret(secret_run: dict[str, Any]) -> None:
    files = [p for p in secret_run["run"].rglob("*") if p.is_file()]
    assert {"manifest.json", "000001.ipwl", "summary.json", "judges.json"} <= {p.name for p in files}
    for path in files:
        assert _leaks(path.read_bytes()) == [], path


@pytest.mark.e2e
def test_no_decompressed_event_holds_a_secret(secret_run: dict[str, Any]) -> None:
    buf = io.BytesIO()
    n = export_jsonl(secret_run["run"], buf)
    assert n > 0 and b"X-Request-Tag" in buf.getvalue()
    assert _leaks(buf.getvalue()) == []
    exported = (secret_run["root"] / "export.jsonl").read_bytes()
    assert exported == buf.getvalue()
    assert _leaks(exported) == []


@pytest.mark.e2e
def test_the_pack_holds_no_secret(secret_run: dict[str, Any]) -> None:
    pack = (secret_run["root"] / "secret.ipwpack").read_bytes()
    assert b"manifest.json" in pack
    assert _leaks(pack) == []


@pytest.mark.e2e
def test_nothing_printed_holds_a_secret(secret_run: dict[str, Any]) -> None:
    outputs = secret_run["outputs"]
    assert any("X-Request-Tag" in o.stdout for o in outputs)  # 'query' did print the recorded config
    for result in outputs:
        assert _leaks((result.stdout + result.stderr).encode()) == [], result


URL_PASSWORD = "urlpass-secret-5Xy2"


@pytest.mark.e2e
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


# -- v2: every credential the process sends, echoed back by the servers it talks to --------------

ECHO_KEY = "echo-apikey-secret-6Wm1"  # --client-param api_key=…: sent as "Authorization: Bearer …"
ECHO_HEADER = "echo-xcustom-secret-4Pz7"  # headers={"X-Custom": …}: a header value, whatever its name
URL_USER, URL_PASS = "ipw-user", "echo-urlpass-secret-1Lr9"  # client base URL userinfo: HTTP Basic
JUDGE_USER, JUDGE_PASS = "judge-user", "judge-pass-secret-7Nc2"  # judge base URL userinfo: HTTP Basic
JUDGE_PARAM = "judge-param-secret-2Hx8"  # --eval-param judge_token=…: sent in the request body
DEAD_PASS = "dead-urlpass-secret-3Jq6"  # a client base URL that refuses connections


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


# each credential with the forms it takes on the wire: none of them may be left anywhere
ECHO_SECRETS = [ECHO_KEY, ECHO_HEADER, URL_PASS, _basic(URL_USER, URL_PASS), JUDGE_PASS,
                _basic(JUDGE_USER, JUDGE_PASS), JUDGE_PARAM, DEAD_PASS]


class _EchoHandler(BaseHTTPRequestHandler):
    """A misbehaving OpenAI-compatible server that quotes the credentials it was sent.

    ``/echo/v1``: lists a model, then refuses every completion with a 401 whose
    body quotes the ``Authorization`` and ``X-…`` headers (as some proxies do).
    ``/ok/v1``: answers every completion with a short, valid stream.
    ``/judge/v1``: a judge endpoint that answers 400 quoting the headers and
    the request fields it did not expect.
    """

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        return None

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _quoted(self, fields: dict[str, Any]) -> str:
        # the openai SDK's own X-Stainless-* headers (platform, versions) hold no credential; quoting
        # them would push the credentials past the 200 characters of an error excerpt
        sent = [f"{k}: {v}" for k, v in self.headers.items()
                if k.lower() == "authorization" or (k.lower().startswith("x-") and not k.lower().startswith("x-stainless-"))]
        usual = {"model", "messages", "prompt", "stream", "stream_options", "max_tokens", "temperature", "seed"}
        sent += [f"{k}={v}" for k, v in fields.items() if k not in usual]
        return "you sent " + "; ".join(sent)

    def do_GET(self) -> None:
        if self.path.endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "m"}]}).encode())
        else:
            self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path.startswith("/ok/"):
            chunks = [{"choices": [{"text": " 4", "index": 0, "finish_reason": None}]},
                      {"choices": [{"text": "", "index": 0, "finish_reason": "stop"}]}]
            sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
            self._send(200, sse.encode(), "text/event-stream")
            return
        status = 400 if self.path.startswith("/judge/") else 401
        self._send(status, json.dumps({"error": {"message": self._quoted(body)}}).encode())


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    with loopback_http(_EchoHandler, path="") as url:
        yield url


def _frames(segment: bytes) -> list[bytes]:
    """Every frame payload of a segment, decompressed; read here from the documented layout, not by ipw."""
    out, pos = [], 20  # the segment header
    dctx = zstandard.ZstdDecompressor()
    while pos + 48 <= len(segment):
        magic, length = segment[pos:pos + 4], int.from_bytes(segment[pos + 4:pos + 8], "little")
        assert magic == b"IPWF"
        out.append(dctx.decompress(segment[pos + 48:pos + 48 + length]))
        pos += 48 + length
    assert pos == len(segment)
    return out


def _echo_leaks(blob: bytes) -> list[str]:
    return [s for s in ECHO_SECRETS if s.encode() in blob]


@pytest.fixture(scope="module")
def echo_runs(tmp_path_factory: pytest.TempPathFactory, echo_url: str) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("echo")
    outputs: list[CliResult] = []
    small = ("--model", "m", "--client-param", "api=completions", "--max-queries", "2",
             "--gen-param", "max_tokens=4", "--energy", "none", "--output-dir", str(root), "--max-retries", "0")
    with pytest.MonkeyPatch.context() as mp:
        for name in ("IPW_API_KEY", "OPENAI_API_KEY", "IPW_EVAL_API_KEY"):
            mp.delenv(name, raising=False)  # every credential here comes from the command line
        mp.chdir(root)  # no stray .env file supplies a judge key
        # 1 and 2: an api_key param and a custom header, quoted back in a 401 body
        keyed = run_cli("record", "--client", "openai", "--client-base-url", f"{echo_url}/echo/v1", *small,
                        "--run-name", "keyed", "--client-param", f"api_key={ECHO_KEY}",
                        "--client-param", "headers=" + json.dumps({"X-Custom": ECHO_HEADER}))
        # a client base URL with userinfo: httpx sends it as HTTP Basic, and the 401 body quotes it
        userinfo = run_cli("record", "--client", "openai", "--client-base-url",
                           f"{echo_url}/echo/v1".replace("http://", f"http://{URL_USER}:{URL_PASS}@"), *small,
                           "--run-name", "userinfo")
        # 3: a judge at a base URL with userinfo and a secret request field, answering 400 with both quoted
        judge_url = f"{echo_url}/judge/v1".replace("http://", f"http://{JUDGE_USER}:{JUDGE_PASS}@")
        judged = run_cli("profile", "--client", "openai", "--client-base-url", f"{echo_url}/ok/v1", *small,
                         "--run-name", "judged", "--eval-client", "openai", "--eval-base-url", judge_url,
                         "--eval-model", "m", "--eval-param", f"judge_token={JUDGE_PARAM}")
        rejudged = run_cli("replay", str(root / "judged"), "--analysis", "accuracy", "--eval-client", "openai",
                           "--eval-base-url", judge_url, "--eval-model", "m",
                           "--eval-param", f"judge_token={JUDGE_PARAM}")
        # a judge that refuses every request stops the pass (exit 6); the accuracy file is still
        # written from the verdicts kept, so the derived files are searched for leaks too
        accuracy = run_cli("replay", str(root / "judged"), "--analysis", "accuracy", "--no-eval")
        assert accuracy.exit_code == 0, accuracy.stderr
        # 4: a client base URL with a password and nothing listening: the error line names the URL
        dead = run_cli("record", "--client", "openai", "--client-base-url",
                       f"http://{URL_USER}:{DEAD_PASS}@127.0.0.1:{free_port()}/v1", *small, "--run-name", "dead")
        outputs += [keyed, userinfo, judged, rejudged, accuracy, dead]
        for run in ("keyed", "userinfo", "judged"):
            for args in (("ledger", "export", run, "-o", f"{run}.jsonl"),
                         ("ledger", "pack", run, "-o", f"{run}.ipwpack", "--include-derived"),
                         ("ledger", "unpack", f"{run}.ipwpack", "-o", f"unpacked-{run}"),
                         ("ledger", "info", run, "--json")):
                result = run_cli(*args)
                assert result.exit_code == 0, (args, result.stderr)
                outputs.append(result)
    yield {"root": root, "outputs": outputs, "keyed": keyed, "userinfo": userinfo, "judged": judged,
           "rejudged": rejudged, "dead": dead}


def _events(run: Path, kind: str) -> list[dict[str, Any]]:
    buf = io.BytesIO()
    export_jsonl(run, buf, kinds={kind})
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_an_echoed_api_key_and_header_are_scrubbed_from_query_failed(echo_runs: dict[str, Any]) -> None:
    # every query was refused (401): the run is recorded whole and exits 5, "every query failed"
    assert echo_runs["keyed"].exit_code == 5, echo_runs["keyed"].stderr
    assert (echo_runs["root"] / "keyed" / "manifest.json").is_file()
    failures = _events(echo_runs["root"] / "keyed", "query_failed")
    assert len(failures) == 2
    for failed in failures:
        # the server did quote both (guards a vacuous pass), and only the placeholders were kept
        assert "HTTP 401" in failed["message"] and "you sent" in failed["message"]
        assert "Authorization: Bearer <redacted>" in failed["message"], failed["message"]
        assert "X-Custom: <redacted>" in failed["message"], failed["message"]
        assert _echo_leaks(failed["message"].encode()) == []


def test_a_header_value_is_not_stored_in_the_run_config(echo_runs: dict[str, Any]) -> None:
    config = _events(echo_runs["root"] / "keyed", "run_started")[0]["config"]
    assert config["client_params"]["headers"] == {"X-Custom": "<redacted>"}
    assert config["client_params"]["api_key"] == "<redacted>"
    assert config["client_info"]["headers"] == {"X-Custom": "<redacted>"}


def test_an_echoed_basic_token_from_the_client_url_is_scrubbed(echo_runs: dict[str, Any]) -> None:
    failures = _events(echo_runs["root"] / "userinfo", "query_failed")
    assert failures and all("Authorization: Basic <redacted>" in f["message"] for f in failures), failures
    config = _events(echo_runs["root"] / "userinfo", "run_started")[0]["config"]
    assert "127.0.0.1" in config["client_base_url"] and URL_USER not in config["client_base_url"]


def test_an_echoed_judge_basic_token_and_param_stay_out_of_the_verdicts(echo_runs: dict[str, Any]) -> None:
    for name in ("judged", "rejudged"):  # a judge that refuses every request is exit 6, its reason scrubbed
        result = echo_runs[name]
        assert result.exit_code == 6, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert "refused every request" in line and "Authorization: Basic <redacted>" in line, line
        assert _echo_leaks(result.stderr.encode()) == []
    verdicts = _events(echo_runs["root"] / "judged", "verdict")
    assert len(verdicts) == 4  # two answers, asked by profile and again by replay (errors are re-asked)
    for verdict in verdicts:
        meta = json.loads(verdict["metadata"])
        assert meta["outcome"] == "error" and meta["status"] == 400
        assert "Authorization: Basic <redacted>" in meta["error"], meta
        assert "judge_token=<redacted>" in meta["error"], meta
        assert _echo_leaks(verdict["metadata"].encode()) == []
        assert JUDGE_USER not in meta["judge_base_url"]
    config = _events(echo_runs["root"] / "judged", "run_started")[0]["config"]
    assert config["eval"]["base_url"].startswith("http://<redacted>@127.0.0.1"), config["eval"]


def test_a_client_url_password_is_not_printed_in_the_error_line(echo_runs: dict[str, Any]) -> None:
    dead = echo_runs["dead"]
    assert dead.exit_code == 5, dead.stderr
    assert_one_clean_line(dead.stderr)
    assert "127.0.0.1" in dead.stderr and DEAD_PASS not in dead.stderr, dead.stderr
    assert not (echo_runs["root"] / "dead" / "events").exists()


def test_no_byte_left_behind_holds_a_credential(echo_runs: dict[str, Any]) -> None:
    root = echo_runs["root"]
    files = [p for p in root.rglob("*") if p.is_file()]
    names = {p.relative_to(root).as_posix() for p in files}
    for run in ("keyed", "userinfo", "judged"):
        # runs, their analyses, exports, packs and what the packs unpack to: all of them searched
        assert {f"{run}/manifest.json", f"{run}/events/000001.ipwl", f"{run}.jsonl", f"{run}.ipwpack",
                f"unpacked-{run}/manifest.json", f"unpacked-{run}/events/000001.ipwl"} <= names, names
    assert "judged/analysis/accuracy.json" in names and "unpacked-judged/analysis/accuracy.json" in names
    n_frames = 0
    for path in files:
        blob = path.read_bytes()
        assert _echo_leaks(blob) == [], path
        if path.suffix == ".ipwl":
            for payload in _frames(blob):
                n_frames += 1
                assert _echo_leaks(payload) == [], path
        if path.suffix == ".ipwpack":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    assert _echo_leaks(data) == [], (path, member.name)
                    if member.name.endswith(".ipwl"):
                        assert all(_echo_leaks(p) == [] for p in _frames(data)), (path, member.name)
    assert n_frames >= 6


def test_nothing_printed_holds_a_credential(echo_runs: dict[str, Any]) -> None:
    for result in echo_runs["outputs"]:
        assert _echo_leaks((result.stdout + result.stderr).encode()) == [], result
