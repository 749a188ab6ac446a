"""The documentation builds: what ``mkdocs build --strict`` would refuse, checked without
mkdocs (links between pages, the nav, included snippets)."""

from __future__ import annotations

import re
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
