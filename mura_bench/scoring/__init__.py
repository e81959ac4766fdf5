"""Scoring a submission against a reader panel: the protocols, the scoring options, per-group
statistics and estimates, the score engine behind ``mura_bench.score``, codalab output, memory bounds."""
