#!/usr/bin/env python3
"""Time the quickstart on the 64-record sample shipped in the package, for docs/quickstart.md.

    python benchmarks/quickstart_sample.py --run-dir /tmp/qs     # writes benchmarks/results/quickstart_sample.json

Runs ``python -m ecgsl_keras.quickstart --run-dir RUN --overwrite --verbose 0`` (the defaults of
``QuickstartConfig``, seed 42) in a child process and writes its summary JSON (stage seconds, validation
figures of the best and the last epoch) with what the machine was doing: the 1-minute load average
before and after, and the child's CPU time (user and system seconds, all its threads). The docs render
every quickstart figure from this file. A few CPU minutes; the timings follow the load of the machine.
The last line of stdout is the JSON object.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "quickstart_sample.json"


def _portable(value, prefixes: dict[str, str]):
    """The summary with this machine's folders written as RUN (the run folder) and . (the repository)."""
    if isinstance(value, dict):
        return {key: _portable(item, prefixes) for key, item in value.items()}
    if isinstance(value, list):
        return [_portable(item, prefixes) for item in value]
    if isinstance(value, str):
        for prefix, name in sorted(prefixes.items(), key=lambda pair: -len(pair[0])):
            if value == prefix or value.startswith(prefix + "/"):
                return name + value[len(prefix):]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="quickstart run folder (emptied: --overwrite)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON file to write (default %(default)s)")
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "ecgsl_keras.quickstart", "--run-dir", str(args.run_dir), "--overwrite",
               "--verbose", "0"]
    load_start = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_end = os.getloadavg()[0]
    if done.returncode != 0:
        print(f"error: the quickstart exited with status {done.returncode}", file=sys.stderr)
        return done.returncode
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = _portable(json.loads(lines[-1]), {str(args.run_dir.resolve()): "RUN", str(args.run_dir): "RUN",
                                                 str(ROOT): "."})
    result = {
        "command": "python -m ecgsl_keras.quickstart --run-dir RUN --overwrite --verbose 0",
        "script": "python benchmarks/quickstart_sample.py --run-dir RUN",
        "measured": {
            "date": datetime.date.today().isoformat(),
            "cpus": os.cpu_count(),
            "load_average_1min_start": round(load_start, 2),
            "load_average_1min_end": round(load_end, 2),
            "cpu_user_s": round(after.ru_utime - before.ru_utime, 2),
            "cpu_system_s": round(after.ru_stime - before.ru_stime, 2),
        },
        **summary,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
