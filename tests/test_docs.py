"""The documentation builds: what ``mkdocs build --strict`` would refuse, checked without
mkdocs (links between pages, the nav, included snippets)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"', re.MULTILINE)


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_point_at_documentation_files(page: Path) -> None:
    for target in LINK.findall(_without_code_blocks(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # external, or an anchor on the same page
        path = target.split("#", 1)[0]
        resolved = (page.parent / path).resolve()
        assert resolved.is_relative_to(DOCS), f"{page.name}: {target} leaves docs/"
        assert resolved.exists(), f"{page.name}: {target} does not exist"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_included_snippets_exist(page: Path) -> None:
    for path in SNIPPET.findall(page.read_text(encoding="utf-8")):
        assert (ROOT / path).is_file(), f"{page.name}: snippet {path} does not exist"


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", config, re.MULTILINE))
    assert nav == {p.name for p in PAGES}


# ----------------------------------------------------------------------------- snippets

SHELL_PAGES = [ROOT / "README.md", DOCS / "cli.md", DOCS / "getting-started.md"]
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _shell_commands() -> list[tuple[str, str]]:
    """Every ``rcstream …`` and ``python examples/…`` command in the shell blocks of the
    README and the docs, comments removed (``pip install`` and ``pytest`` are left out)."""
    found: list[tuple[str, str]] = []
    for page in SHELL_PAGES:
        for block in SHELL_BLOCK.findall(page.read_text(encoding="utf-8")):
            for line in block.splitlines():
                line = re.sub(r"\s{2,}#.*$", "", line).strip()
                for part in line.split("&&"):
                    part = part.strip()
                    if part.startswith(("rcstream ", "python examples/")):
                        found.append((page.name, part))
    return found


SHELL_COMMANDS = _shell_commands()


def test_the_snippet_finder_finds_the_commands() -> None:
    assert len(SHELL_COMMANDS) >= 15, SHELL_COMMANDS
    assert {c.split()[1] for _, c in SHELL_COMMANDS if c.startswith("rcstream")} >= {
        "demo",
        "emulator",
        "listen",
        "subscriptions",
    }


async def test_shell_snippets_run_against_the_emulator(tmp_path: Path) -> None:
    """Each README/docs command runs as printed, against an emulator on 127.0.0.1.

    Only what would otherwise run forever is changed: ``listen`` gets ``--timeout 1``,
    ``demo`` gets ``-n 2``, and ``emulator`` gets ``--port 0`` (the suite may run next to a
    real one on 8765) and is stopped with Ctrl-C after its ``export`` lines. The commands
    run four at a time, each in a directory of its own.
    """
    import asyncio

    from rcstream.emulator import Emulator

    if shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    limit = asyncio.Semaphore(4)
    async with Emulator(auth_rate_limit=None, event_rate=20.0, seed=3) as emu:

        async def one(i: int, page: str, command: str) -> str | None:
            async with limit:
                return await _run_snippet(emu.env(), tmp_path / str(i), page, command)

        unique = list(dict.fromkeys(SHELL_COMMANDS))
        failures = await asyncio.gather(
            *(one(i, page, command) for i, (page, command) in enumerate(unique))
        )
    assert [f for f in failures if f] == []


async def _run_snippet(emu_env: dict[str, str], cwd: Path, page: str, command: str) -> str | None:
    """Run one snippet; ``None`` if it behaved, else what went wrong."""
    import asyncio
    import os
    import signal
    import sys

    _prepare(cwd, emu_env)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RINGCENTRAL_")}
    env.update(emu_env)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["RCSTREAM_AUTH_RATE_LIMIT"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    run = command.removesuffix("&").strip()
    emulator = run.startswith("rcstream emulator")
    if emulator:
        run += " --port 0"
    elif run.startswith("rcstream listen") and "--timeout" not in run:
        run = run.replace("rcstream listen", "rcstream listen --timeout 1", 1)
    elif run.startswith("rcstream demo") and "-n" not in run:
        run = run.replace("rcstream demo", "rcstream demo -n 2", 1)
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        ("exec " if emulator else "set -o pipefail; ") + run,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    if emulator:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 20)
        if not first.startswith(b"export RINGCENTRAL_"):
            proc.kill()
            await proc.communicate()
            return f"{page}: {run}: first line {first!r}"
        proc.send_signal(signal.SIGINT)
    _, err = await asyncio.wait_for(proc.communicate(), 40)
    expected = 130 if emulator else 0
    text = err.decode()
    if proc.returncode != expected or "Traceback" in text:
        return f"{page}: {run}: exit {proc.returncode}\n{text}"
    if "--write-env" in run and "RINGCENTRAL_JWT=" not in _read(cwd / "emulator.env"):
        return f"{page}: {run}: --write-env wrote no credentials"
    return None


def _prepare(cwd: Path, emu_env: dict[str, str]) -> None:
    """A directory with the files the snippets name: examples/, emulator.env, sandbox.env."""
    cwd.mkdir()
    (cwd / "examples").symlink_to(ROOT / "examples")
    for name in ("emulator.env", "sandbox.env"):
        (cwd / name).write_text("".join(f"{k}={v}\n" for k, v in emu_env.items()))


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_getting_started_shows_examples_minimal_exactly() -> None:
    """The page shows the example inline (a snippet include would show literally on
    GitHub); it must stay the file the suite runs."""
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    minimal = (ROOT / "examples" / "minimal.py").read_text(encoding="utf-8")
    assert minimal in PYTHON_BLOCK.findall(page)
