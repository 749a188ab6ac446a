"""Print the Markdown tables of ``docs/performance.md`` from saved results.

``python -m bench.report [--out DIR]`` reads ``DIR/*.json`` (default ``bench/results/``).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from bench.run import LABELS, RESULTS


def _load(out: Path, name: str) -> dict[str, Any] | None:
    path = out / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def throughput(d: dict[str, Any]) -> str:
    s, r = d["summary"], d["ratios"]
    per_round = d.get("per_round_ratios", {})
    lines = [
        "| configuration | median notifications/s | rounds | client CPU µs/notification "
        "(steady state) | server CPU µs/notification |",
        "|---|---:|---|---:|---:|",
    ]
    # proto, proto-raw: issue 13's prototypes, no longer run (kept for the saved results in
    # bench/results/phase1/, printed under their key)
    for k in ("floor", "sdk", "rcstream", "rcstream-raw", "cli", "sink", "proto", "proto-raw"):
        if k not in s:
            continue
        rounds = ", ".join(f"{x:,.0f}" for x in s[k]["rates"])
        steady = s[k].get("steady_cpu_us_median")
        cpu = f"{s[k]['cpu_us_median']:.1f}" + (f" ({steady:.1f})" if steady else "")
        lines.append(
            f"| {LABELS.get(k, k)} | **{s[k]['rate_median']:,.0f}** | {rounds} | "
            f"{cpu} | {s[k]['server_cpu_us_median']:.2f} |"
        )
    lines += [
        "",
        "| ratio (median of per-round ratios) | value | per round | target (issue 13) |",
        "|---|---:|---|---|",
    ]
    targets = {
        "rcstream/sdk": "≥ 1.0",
        "rcstream/floor": "≥ 0.8",
        "rcstream-raw/sdk": "≥ 1.2",
        "cli/sdk": "≥ 1.0",
        "sdk/floor": "—",
    }
    for k, v in r.items():
        rounds = " ".join(f"{x:.2f}" for x in per_round.get(k, []))
        lines.append(f"| {k} | {v:.2f} | {rounds} | {targets.get(k.removesuffix(' by CPU'), '')} |")
    return "\n".join(lines)


def latency(d: dict[str, Any]) -> str:
    s = d["summary"]
    lines = [
        "| client | p50 ms | p99 ms | max ms | achieved rate /s |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in s.items():
        lines.append(
            f"| {k} | {v['p50_ms']:.3f} | {v['p99_ms']:.3f} | {v['max_ms']:.3f} | "
            f"{v['achieved_rate']:.0f} |"
        )
    lines += ["", "| added over the floor (median of per-round differences) | ms |", "|---|---:|"]
    for k, v in d["added"].items():
        lines.append(f"| {k} | {v:+.3f} |")
    return "\n".join(lines)


def reconnect(d: dict[str, Any]) -> str:
    lines = [
        "| client : recovery | median ms (median of rounds) | worst ms | recovered / drops |",
        "|---|---:|---:|---:|",
    ]
    for k, v in d["summary"].items():
        lines.append(
            f"| {k} | {v['median_ms']:.2f} | {v['max_ms']:.2f} | {v['recovered']} / {v['drops']} |"
        )
    return "\n".join(lines)


def memory(d: dict[str, Any]) -> str:
    s = d["summary"]
    lines = ["| client | idle peak RSS MB (median) |", "|---|---:|"]
    for k, v in s["idle_hwm_mb"].items():
        lines.append(f"| {k} | {v:.1f} |")
    if "imports_hwm_mb" in s:
        lines += ["", "| a process that only imports | peak RSS MB (median) |", "|---|---:|"]
        for k, v in s["imports_hwm_mb"].items():
            lines.append(f"| {k} | {v:.1f} |")
    lines += [
        "",
        "| client | RSS first sample MB | RSS max MB | RSS last MB | 2nd-half slope MB/min "
        "| consumed / sent | ended early |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for k, v in s["slow"].items():
        runs = [x for x in d["slow"] if x["kind"] == k]
        consumed = "; ".join(f"{x['consumed']:,} / {x['server_sent']:,}" for x in runs)
        ended = "; ".join(
            f"after {x['ended_after_s']} s ({x['ended_by'][:60]})" for x in runs if x["ended_by"]
        )
        lines.append(
            f"| {k} | {_f(v['rss_first_mb'], '.1f')} | {_f(v['rss_max_mb'], '.1f')} | "
            f"{_f(v['rss_last_mb'], '.1f')} | {_f(v['second_half_slope_mb_per_min'], '+.2f')} | "
            f"{consumed} | {ended or 'no'} |"
        )
    return "\n".join(lines)


def startup(d: dict[str, Any]) -> str:
    lines = ["| command | median s |", "|---|---:|"]
    for k, v in d["summary"].items():
        lines.append(f"| `{k}` | {v:.3f} |")
    return "\n".join(lines)


def fixes(d: dict[str, Any]) -> str:
    s, r = d["summary"], d["ratios"]
    lines = [
        "| configuration | median /s | CPU µs/notification | vs SDK | vs floor |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, v in s.items():
        lines.append(
            f"| {k} | {v['rate_median']:,.0f} | {v['cpu_us_median']:.1f} | "
            f"{_f(r.get(f'{k}/sdk'))} | {_f(r.get(f'{k}/floor'))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.report")
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args(argv)
    for name, fn in (
        ("throughput", throughput),
        ("latency", latency),
        ("reconnect", reconnect),
        ("memory", memory),
        ("startup", startup),
        ("fixes", fixes),
    ):
        d = _load(a.out, name)
        if d is None:
            continue
        m = d["machine"]
        print(f"### {name}  ({m['date']}, loadavg {m.get('loadavg')})\n")
        print(fn(d))
        print()


if __name__ == "__main__":
    main()
