"""Scoring program of a mura-bench Codabench competition (written by `mura-bench export codabench`).

Run by the Codabench worker as ``python3 /app/program/score.py /app/input /app/output`` inside the
competition's Docker image, which must have mura-bench installed (see the project's Dockerfile).
The settings (protocol, resamples, seed, columns) are in settings.json next to this file.
"""

import sys
from pathlib import Path


def main() -> int:
    try:
        from mura_bench.hosting.codabench_scoring import main as score_main
    except ImportError as exc:
        print(
            f"error: mura-bench is not installed in this Docker image ({exc}); use the image built "
            "from mura-bench's Dockerfile",
            file=sys.stderr,
        )
        return 1
    return score_main(sys.argv[1:], program_dir=Path(__file__).resolve().parent)


if __name__ == "__main__":
    sys.exit(main())
