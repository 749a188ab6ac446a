from __future__ import annotations

import rcstream


def test_all_is_sorted_and_importable() -> None:
    assert list(rcstream.__all__) == sorted(rcstream.__all__)
    for name in rcstream.__all__:
        assert hasattr(rcstream, name), name


def test_every_exception_derives_from_root() -> None:
    for name in rcstream.__all__:
        obj = getattr(rcstream, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, rcstream.RCStreamError), name


def test_import_and_help_stay_light() -> None:
    """`import rcstream` and the CLI module load no network or model code until used."""
    import subprocess
    import sys

    code = (
        "import sys, rcstream, rcstream.cli; "
        "print(sorted(m for m in ('aiohttp', 'websockets', 'pydantic', 'rcstream.models') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
