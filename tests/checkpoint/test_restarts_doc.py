"""The Python example in docs/restarts.md runs as printed, twice (a restart), on a real file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "restarts.md"


def _example() -> dict[str, Any]:
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.MULTILINE | re.DOTALL)
    (block,) = [b for b in blocks if "async def resume_demo" in b]
    namespace: dict[str, Any] = {}
    exec(compile(block, str(DOC), "exec"), namespace)
    return namespace


async def test_the_documented_example_runs_and_resumes(tmp_path: Path, capsys: Any) -> None:
    demo = _example()["resume_demo"]
    path = str(tmp_path / "cp")
    await demo(path, "app", "http://127.0.0.1:1")
    first = capsys.readouterr().out
    assert first.strip() == "fresh login no gap"
    await demo(path, "app", "http://127.0.0.1:1")
    second = capsys.readouterr().out
    # the first run left no tokens and no wsc: the planner asks for a fresh login, with a gap
    assert second.startswith("relogin login Events may be missing")
    await demo(path, "another-app", "http://127.0.0.1:1")
    third = capsys.readouterr().out
    assert "another app" in third and "fresh login no gap" in third
    assert (tmp_path / "cp.corrupt").exists()


def test_the_delivery_doc_does_not_deny_what_the_checkpoint_does() -> None:
    # review of issue 14, item 10: it said "There is no persistence" and "No" for events
    # sent while no process ran, next to a section on --checkpoint
    text = (DOC.parent / "delivery.md").read_text()
    assert "There is no persistence." not in text
    (row,) = [line for line in text.splitlines() if line.startswith("| Events sent while no")]
    assert "--checkpoint" in row
    (para,) = [p for p in text.split("\n\n") if p.startswith("**Delivery is per process")]
    assert "checkpoint" in para


def test_the_docs_say_the_checkpoint_covers_stdout_not_the_forward_target() -> None:
    # review of issue 14, item 11: the unit pairs --checkpoint with --forward-to and said a
    # restart "loses nothing", while a refused forward is acknowledged all the same
    unit = (DOC.parent.parent / "examples" / "systemd" / "rcstream-listen.service").read_text()
    header = " ".join(line.lstrip("# ") for line in unit.splitlines() if line.startswith("#"))
    assert "--forward-to" in unit
    assert "covers stdout, not the --forward-to target" in header
    assert "The checkpoint covers stdout, not a `--forward-to` target." in DOC.read_text()
