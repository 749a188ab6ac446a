"""docs/delivery.md says no more than the code does (review 12): the intro qualifies which
losses are detected, and the routing section states the unmatched-event fallback."""

from __future__ import annotations

from pathlib import Path

DOC = (Path(__file__).parent.parent / "docs" / "delivery.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(title)
    end = DOC.find("\n## ", start + len(title))
    return DOC[start : end if end != -1 else None]


def test_intro_does_not_promise_every_loss_is_reported() -> None:
    intro = _section("## In one paragraph")
    assert "Whenever events may be missing" not in intro
    assert "rests on an assumption" in intro
    assert "not\ndetected" in intro or "not detected" in intro


def test_routing_states_the_fallback_exception() -> None:
    routing = _section("## Routing")
    assert "never gets another extension's presence" not in routing
    assert "telephony/sessions" in routing  # the family is the whole resource suffix
    assert "one exception" in routing and "stats.unmatched" in routing
