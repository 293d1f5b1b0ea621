"""`make bench`: every benchmark, one after the other, each printing its own figures and baseline."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = ("sqlite_write.py", "trigger_throughput.py", "delivery_latency.py", "render_cost.py")


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        if subprocess.run([sys.executable, str(here / name)]).returncode != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
