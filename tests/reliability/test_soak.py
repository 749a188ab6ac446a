"""The chaos soak (``bench/soak.py``) at 5,000 events: every fault kind, nothing lost where
recovery succeeds, every detectable loss covered by a Gap."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SOAK_PATH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def load_soak() -> ModuleType:
    name = "rcstream_bench_soak"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SOAK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


soak = load_soak()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("checkpoint", [True, False], ids=["checkpoint", "one-validate"])
async def test_soak_5000_events_every_fault_kind(checkpoint: bool) -> None:
    # without a checkpoint the typed consumer's events take the client's one-validate path
    # (issue 13), and there is no process to restart
    expected = {k for k in soak.FAULT_KINDS if checkpoint or k != "process_restart"}
    kinds = len(expected)
    cfg = soak.SoakConfig(events=5_000, faults=2 * kinds, seed=3, checkpoint=checkpoint)
    result = await soak.run_soak(cfg)
    report = result.report()
    assert result.ok, report
    assert result.published >= 5_000
    assert len(result.faults) == 2 * kinds
    assert {f.kind for f in result.faults} == expected
    # where the platform's recovery succeeds: nothing lost, nothing twice
    assert result.recoverable_lost == 0, report
    assert result.recoverable_duplicated == 0, report
    assert result.duplicated == 0, report
    assert result.out_of_order == 0, report
    # every loss the client can know about is covered by a Gap in the same segment
    assert result.unexplained_lost == 0, report
    assert result.gaps_reported_true == result.gaps_true_detectable, report
    # a consumer that stalls is told exactly how many events it lost
    for f in result.faults:
        if f.kind == "consumer_stall":
            assert f.lost > 0 and f.overflow_reported == f.lost, report
        if f.kind in ("recovery_failed", "revocation", "recovery_window_expired"):
            assert f.gaps, report
        # more events than the gateway's recovery buffer holds: the server drops the
        # oldest without a word, and the client infers it from a full replay
        if f.kind == "beyond_recovery_buffer":
            assert f.server_dropped > 0, report
            assert "recovery_buffer_full" in f.gaps, report
    assert result.platform_silent_lost == 0, report
    assert result.recoveries > 0 and result.recovery_failures > 0
    assert result.heal_p50 is not None and result.heal_p99 is not None
    assert result.delivered + result.lost == result.published


def test_fault_plan_is_reproducible() -> None:
    import random

    a = soak._fault_plan(40, random.Random("plan-5"))
    b = soak._fault_plan(40, random.Random("plan-5"))
    assert a == b
    assert set(a[: len(soak.FAULT_KINDS)]) == set(soak.FAULT_KINDS)  # every kind each round
