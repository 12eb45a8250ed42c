"""Benchmark (not a test) of the partition's cluster count (issue 24): a calibration run measured
again where ``partition_head`` now clusters differently, without solving every run again
(``bench/solve_again.py --change partition``, under the name its results were made with).

    python bench/partition_clusters.py BASE OUT [--source digits|mnist] [--verify 4] [--reuse DIR]
"""

from __future__ import annotations

import sys

from solve_again import main

if __name__ == "__main__":
    raise SystemExit(main([*sys.argv[1:], "--change", "partition"], script="bench/partition_clusters.py"))
