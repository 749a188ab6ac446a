"""No file cites a protocol document (``protocol`` dot ``md``) that is not in the repo
(review 11): sources are named instead (the developer guide pages, the SDK code,
maintainers' experiments)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
NEEDLE = "protocol" + ".md"  # spelled so that this file does not match itself


def test_no_file_cites_a_protocol_md_missing_from_the_repo() -> None:
    if any(ROOT.rglob(NEEDLE)):
        return  # if one is ever added, citing it is fine
    places = [ROOT / "README.md", ROOT / "mkdocs.yml"]
    for folder in ("rcstream", "docs", "bench", "tests", "examples"):
        places.extend(p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".sh"))
    cited = [
        str(p.relative_to(ROOT))
        for p in places
        if p.is_file() and NEEDLE in p.read_text(errors="replace")
    ]
    assert cited == []
