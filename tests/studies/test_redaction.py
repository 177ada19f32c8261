"""Credentials in a study file never reach a file under the study folder, its names, or the terminal.

The four forms a study can carry: ``client_param.api_key`` (here swept in the
matrix, so it would also name the cells), a header value, a password in the
base URL, and ``eval_param.api_key``. The server is the loopback completions
stub, standing in for any OpenAI-compatible server (the credentials are the
point here, not the answers).
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from ipw.ledger import read_events
from tests.capture._stub_server import completions_server
from tests.conftest import run_cli

API_KEYS = ("sk-study-key-AAAA1111aaaa", "sk-study-key-BBBB2222bbbb")
HEADER = "hdr-secret-CCCC3333cccc"
PASSWORD = "pw-secret-DDDD4444dddd"
EVAL_KEY = "sk-eval-key-EEEE5555eeee"
SECRETS = (*API_KEYS, HEADER, PASSWORD, EVAL_KEY)


def _write(tmp_path: Path, url: str) -> Path:
    with_password = url.replace("http://", f"http://someone:{PASSWORD}@")
    path = tmp_path / "secret.toml"
    path.write_text(
        f'name = "secret"\noutput_dir = {json.dumps(str(tmp_path / "studies"))}\n'
        "[base]\n"
        'client = "openai"\nmodel = "m"\nmax_queries = 2\nenergy = "none"\n'
        f"client_base_url = {json.dumps(with_password)}\n"
        f'client_param = {{ api = "completions", headers = {{ "X-Team-Token" = "{HEADER}" }} }}\n'
        f'eval_client = "openai"\neval_base_url = {json.dumps(url)}\neval_model = "judge"\n'
        f'eval_param = {{ api_key = "{EVAL_KEY}" }}\n'
        "[matrix]\n"
        f'"client_param.api_key" = {json.dumps(list(API_KEYS))}\n'
    )
    return path


def _assert_clean(blob: bytes, where: str) -> None:
    for secret in SECRETS:
        assert secret.encode() not in blob, f"{secret} in {where}"


def test_no_credential_of_a_study_is_written_anywhere(tmp_path: Path) -> None:
    with completions_server() as url:
        result = run_cli("study", "run", str(_write(tmp_path, url)), "--json")
    study = tmp_path / "studies" / "secret"
    assert result.exit_code in (0, 9), result.stderr
    _assert_clean((result.stdout + result.stderr).encode(), "the terminal")
    files = [p for p in study.rglob("*")]
    assert any(p.name == "study.toml" for p in files) and any(p.name == "study.json" for p in files)
    for path in files:
        _assert_clean(str(path.relative_to(tmp_path)).encode(), "a path")
        if path.is_file():
            _assert_clean(path.read_bytes(), str(path))
    cells = json.loads((study / "study.json").read_text())["cells"]
    assert len(cells) == 2 and len({c["name"] for c in cells}) == 2
    for cell in cells:
        assert cell["params"]["client_param.api_key"] == "<redacted>"
        run = study / cell["run_dir"]
        assert (run / "events").is_dir(), cell
        # ledger frames are compressed: read every event back and look at it as JSON
        _assert_clean(msgspec.json.encode(list(read_events(run))), f"the events of {run}")
    saved = (study / "study.toml").read_text()
    assert "<redacted>" in saved and 'model = "m"' in saved  # the rest of the file is kept as written
