"""Every benchmark, one after another, by one command.

    .venv/bin/python -m bench [all | NAME ...] [--quick] [--list]   (make bench, make bench-quick)

Each benchmark runs as its own process (each starts and stops its own embedded services, so
they never share a database or a machine's cores with each other) at its full size, or with
--quick at a smoke size that only proves it works end to end; quick results go to
bench/results/smoke/, never over the full-size numbers in bench/results/. Arguments after `--`
reach every benchmark run. A failed benchmark does not stop the others; the exit status says
whether all passed, and runs.json (next to the results) records each one's exit status and
duration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from bench.output import ROOT

# name → (full-size arguments, smoke-size arguments); full size is each module's default.
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "streaming": ([], ["--users", "20", "50"]),
    "overhead": ([], ["--concurrency", "1", "5", "--turns", "10"]),
    "cache_hits": ([], ["--clients", "1", "5", "--turns-per-client", "5", "--questions", "5"]),
    "stage_cost": ([], ["--rounds", "1", "--per-set", "10"]),
    "faults": ([], ["--turns", "100", "--concurrency", "10"]),
    "guardrails": ([], ["--iterations", "100"]),
    "admission": ([], ["--rows", "0,5000", "--calls", "20"]),
    "retrieval": ([], []),
    "tracing": ([], ["--turns", "20"]),
    "cache_quality": ([], []),
    "cache_speed": ([], ["--sizes", "2000", "--lookups", "30", "--turns", "10"]),
    "dashboards": ([], ["--rows", "20000", "--users", "200", "--runs", "1"]),
    "shared_metrics": ([], ["--turns", "200"]),
}
SMOKE_RESULTS = ROOT / "bench" / "results" / "smoke"


def run(name: str, argv: list[str], env: dict[str, str]) -> dict:
    command = [sys.executable, "-m", f"bench.{name}", *argv]
    print(f"\n=== {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=ROOT, env=env)
    seconds = round(time.monotonic() - started, 1)
    outcome = "ok" if code == 0 else f"FAILED (exit {code})"
    print(f"=== {name}: {outcome} in {seconds} s", flush=True)
    return {"exit_status": code, "seconds": seconds, "arguments": argv}


def split_at_dashes(argv: list[str]) -> tuple[list[str], list[str]]:
    """(our arguments, the benchmarks' arguments): those after a `--`."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=["all"], help="benchmarks to run (or all)")
    parser.add_argument("--quick", action="store_true", help="smoke sizes, to bench/results/smoke")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    ours, extra = split_at_dashes(sys.argv[1:])
    args = parser.parse_args(ours)
    if args.list:
        for name, (_, quick) in BENCHES.items():
            print(f"{name:14} quick: {' '.join(quick) or '(same as full)'}")
        return 0
    names = list(BENCHES) if args.names == ["all"] else args.names
    if unknown := [name for name in names if name not in BENCHES]:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; see --list")

    env = dict(os.environ)
    if args.quick:
        env["BENCH_RESULTS"] = str(SMOKE_RESULTS)
    size = 1 if args.quick else 0
    runs = {name: run(name, [*BENCHES[name][size], *extra], env) for name in names}

    results = SMOKE_RESULTS if args.quick else ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    record = results / "runs.json"
    earlier = json.loads(record.read_text()) if record.exists() else {}
    record.write_text(json.dumps({**earlier, **runs}, indent=2) + "\n")
    failed = [name for name, result in runs.items() if result["exit_status"]]
    print(f"\n{len(runs) - len(failed)} of {len(runs)} benchmarks passed", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
