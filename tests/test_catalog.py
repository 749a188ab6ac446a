"""The emulator's synthetic event catalogue."""

from __future__ import annotations

import ast
import importlib.util
import json
import random
from pathlib import Path

import pytest

from rcstream.emulator import catalog

CATALOG_FILE = Path(catalog.__file__)


def test_catalog_imports_only_the_standard_library() -> None:
    tree = ast.parse(CATALOG_FILE.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    allowed = {"__future__", "random", "string", "collections", "contextvars", "datetime", "typing"}
    assert modules <= allowed


def test_families_are_unique_and_have_filters() -> None:
    assert len(set(catalog.FAMILIES)) == len(catalog.FAMILIES) >= 30
    for family in catalog.FAMILIES:
        f = catalog.filter_for(family)
        assert f.startswith("/") and " " not in f


def test_unknown_family_is_a_key_error_naming_the_families() -> None:
    with pytest.raises(KeyError, match="telephony-sessions"):
        catalog.filter_for("telefony")
    with pytest.raises(KeyError, match="unknown event family"):
        catalog.generate("telefony", account_id="1", extension_id="2", rng=random.Random(0))


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_event_path_is_the_platforms(family: str) -> None:
    path, body = catalog.generate(
        family, account_id="809646016", extension_id="62534323", rng=random.Random(3)
    )
    f = catalog.filter_for(family)
    assert "~" not in path
    expected = f.replace("/account/~", "/account/809646016").replace(
        "/extension/~", "/extension/62534323"
    )
    if family in catalog.ACCOUNT_LEVEL_EXTENSION_EVENTS:
        # the platform writes the extension's own path (tests/emulator/test_emu_event_paths.py)
        expected = expected.replace("/account/809646016/", "/account/809646016/extension/62534323/")
    if family in catalog.WATCHING_FAMILIES:
        assert path.endswith("/presence") and "/extension/62534323/" not in path
    else:
        assert path == expected
    assert isinstance(body, dict) and body
    json.dumps(body)  # plain JSON values only


@pytest.mark.parametrize("family", catalog.FAMILIES)
def test_generation_is_deterministic_and_varies_with_the_seed(family: str) -> None:
    def run(seed: int) -> list[tuple[str, dict[str, object]]]:
        rng = random.Random(seed)
        return [
            catalog.generate(family, account_id="1", extension_id="2", rng=rng) for _ in range(5)
        ]

    assert run(1) == run(1)
    if family not in ("emergency-address", "favorites", "grants"):  # bodies with ids only
        assert run(1) != run(2)


def test_telephony_bodies_are_realistic() -> None:
    sizes = []
    for seed in range(20):
        _, body = catalog.generate(
            "telephony-sessions",
            account_id="809646016",
            extension_id="809646016",
            rng=random.Random(seed),
        )
        sizes.append(len(json.dumps(body)))
        assert set(body) >= {"sequence", "sessionId", "telephonySessionId", "eventTime", "parties"}
        party = body["parties"][0]
        assert party["status"]["code"] in {"Setup", "Proceeding", "Answered", "Disconnected"}
        assert party["extensionId"] == "809646016"
    assert 700 <= sum(sizes) / len(sizes) <= 1400  # about 1 KB


@pytest.mark.parametrize("account_level", [False, True])
def test_telephony_call_progresses_through_the_states(account_level: bool) -> None:
    events = catalog.telephony_call(
        account_id="1", extension_id="2", rng=random.Random(5), account_level=account_level
    )
    # account-level or not, the platform writes the extension's own path
    assert {path for path, _ in events} == {
        "/restapi/v1.0/account/1/extension/2/telephony/sessions"
    }
    bodies = [body for _, body in events]
    assert [b["sequence"] for b in bodies] == [1, 2, 3, 4]
    assert len({b["telephonySessionId"] for b in bodies}) == 1
    callee = [b["parties"][-1]["status"]["code"] for b in bodies]
    assert callee == ["Setup", "Proceeding", "Answered", "Disconnected"]
    assert [len(b["parties"]) for b in bodies] == [2 if account_level else 1] * 4
    times = [b["eventTime"] for b in bodies]
    assert times == sorted(times)


def test_message_store_ids_are_numbers_like_the_live_gateway() -> None:
    _, body = catalog.generate(
        "message-store", account_id="233676004", extension_id="233676005", rng=random.Random(0)
    )
    assert body["accountId"] == 233676004 and body["extensionId"] == 233676005


def test_docs_events_md_is_generated_from_the_catalog() -> None:
    script = Path(__file__).parent.parent / "docs" / "gen_events.py"
    spec = importlib.util.spec_from_file_location("gen_events", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.BUILDERS) == set(catalog.FAMILIES)
    assert module.main(["--check"]) == 0, "docs/events.md is stale: run docs/gen_events.py"
