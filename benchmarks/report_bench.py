"""Size and time of ``screener report`` at 50 and 100,000 rows (fixture results like ``screener run`` writes).

Run::

    python benchmarks/report_bench.py [--rows 50 100000]

For each size it writes a results directory (tests/report/report_fixtures.py: plausible K, G, E,
formation energy, θ_D, spreads and OOD scores, three errors, a manifest), then times
``write_report`` (reading through DuckDB, figures, page) in this process and a whole
``screener report`` CLI process, and prints the page size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[50, 100_000])
    args = parser.parse_args()
    from screener.report.page import write_report
    from tests.report.report_fixtures import write_fixture

    print("| rows | write_report [s] | CLI process [s] | page [MB] |")
    print("|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            results = write_fixture(Path(tmp) / f"r{rows}", rows, seed=1)
            write_report([results], Path(tmp) / "warm.html")  # imports, file cache
            start = time.perf_counter()
            _, size, _ = write_report([results], Path(tmp) / f"r{rows}.html")
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "screener.cli.main", "report", "-r", str(results), "-o",
                            str(Path(tmp) / f"cli{rows}.html")], check=True, capture_output=True)  # fmt: skip
            cli = time.perf_counter() - start
            print(f"| {rows:,} | {seconds:.2f} | {cli:.2f} | {size / 1e6:.1f} |", flush=True)


if __name__ == "__main__":
    main()
