"""The README's examples work as written, against the served app."""

from __future__ import annotations

import json
import re
import subprocess

from home.tooling.cli import PROJECT_DIR
from home.tooling.servers import Server

MAKE_RUN_URL = "http://127.0.0.1:8000"


def example(after: str) -> str:
    """The first ```bash block of the README after the line containing `after`."""
    text = (PROJECT_DIR / "README.md").read_text()
    start = text.index(after)
    return re.search(r"```bash\n(.*?)```", text[start:], re.DOTALL).group(1)


def documents(text: str) -> list:
    """The JSON documents curl printed one after another."""
    decoder, found, position = json.JSONDecoder(), [], 0
    while position < len(text.rstrip()):
        document, position = decoder.raw_decode(text, position)
        found.append(document)
        while position < len(text) and text[position].isspace():
            position += 1
    return found


def test_the_sessions_api_examples_work_as_written(sqlite_db):
    script = example("Against `make run`")
    assert MAKE_RUN_URL in script
    with Server(sqlite_db.env, workers=1) as server:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script.replace(MAKE_RUN_URL, server.url)],
            cwd=PROJECT_DIR,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    member = json.loads(result.stderr.strip().splitlines()[-1])
    answers = documents(result.stdout)
    start, stop, period, shown, refused = answers
    assert member["real_name"] == "Ada Lovelace"
    assert (start["start_time"], start["end_time"]) == ("2026-11-30T03:45:00Z", None)
    assert stop["end_time"] == "2026-11-30T12:00:00Z"
    assert period["start_time"] == "2026-11-29T09:00:00Z"
    assert shown["id"] == member["id"] and len(shown["activity"]) == 2
    assert shown["active_since"] is None
    assert refused["ok"] is False and "no session is running" in refused["error"]
