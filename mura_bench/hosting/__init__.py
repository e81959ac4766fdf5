"""Hosting the benchmark on platforms that accept submissions and keep the test labels hidden.

* :mod:`.codabench` writes a Codabench (format version 2) competition bundle whose scoring
  program is mura-bench itself (:mod:`.codabench_scoring` runs inside the Codabench worker);
* :mod:`.medperf` is a MedPerf evaluator: federated evaluation where the data never leaves the
  hospital;
* :mod:`.scores` turns a :class:`~mura_bench.results.Result` into the flat mapping of numbers that
  both platforms store (the leaderboard columns).

Nothing here imports anything heavy at import time; the CLI commands live in :mod:`.cli`.
"""
