"""rcstream benchmarks, run by hand: ``python -m bench`` (see ``docs/performance.md``)."""
