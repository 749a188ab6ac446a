"""EmulatorOptions: one dataclass for every option; keywords build the same thing."""

from __future__ import annotations

import dataclasses

import pytest

from rcstream.emulator import Emulator, EmulatorOptions


def test_keywords_and_options_build_the_same_emulator() -> None:
    by_keywords = Emulator(extensions=2, seed=7, idle_timeout=5.0)
    by_options = Emulator(options=EmulatorOptions(extensions=2, seed=7, idle_timeout=5.0))
    assert by_keywords.options == by_options.options
    assert by_keywords.extension_ids == by_options.extension_ids
    assert by_keywords.idle_timeout == 5.0


def test_keywords_override_options_and_typos_fail_loudly() -> None:
    emu = Emulator(EmulatorOptions(extensions=3), extensions=1)
    assert len(emu.extension_ids) == 1
    with pytest.raises(TypeError, match="idle_timout"):
        Emulator(idle_timout=1.0)


def test_options_are_frozen_and_validated() -> None:
    opts = EmulatorOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.port = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="error_style"):
        EmulatorOptions(error_style="Nope")  # type: ignore[arg-type]
