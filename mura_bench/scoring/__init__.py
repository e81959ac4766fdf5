"""Scoring a submission against a reader panel: the scoring options, per-group statistics and
estimates, the score engine behind ``mura_bench.score``, codalab output and memory bounds."""
