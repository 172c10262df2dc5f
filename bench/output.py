"""Where benchmark results go: bench/results/, or the folder named by BENCH_RESULTS.

`python -m bench --quick` points it at bench/results/smoke/, so a smoke-sized run never
overwrites the full-size numbers the README quotes.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results").resolve()
