"""No file cites a protocol document (``protocol`` dot ``md``) that is not in the repo
(review 11): sources are named instead (the developer guide pages, the SDK code,
maintainers' experiments)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent
NEEDLE = "protocol" + ".md"  # spelled so that this file does not match itself
#: the research notes the project was built from live outside the repository too
OUTSIDE = ("webhooks-resume-" + "brokers", "real-" + "platform.md", "shared " + "facts")


def _files_citing(*needles: str) -> list[str]:
    """The repository's own text files (README, docs, code, tests) that mention a needle."""
    places = [ROOT / "README.md", ROOT / "mkdocs.yml"]
    for folder in ("rcstream", "docs", "bench", "tests", "examples"):
        places.extend(p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".sh"))
    return [
        str(p.relative_to(ROOT))
        for p in places
        if p.is_file() and any(n in p.read_text(errors="replace") for n in needles)
    ]


def test_no_file_cites_a_protocol_md_missing_from_the_repo() -> None:
    if any(ROOT.rglob(NEEDLE)):
        return  # if one is ever added, citing it is fine
    assert _files_citing(NEEDLE) == []


def test_no_file_cites_the_research_notes_outside_the_repo() -> None:
    assert _files_citing(*OUTSIDE) == []
