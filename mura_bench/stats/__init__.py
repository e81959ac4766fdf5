"""Statistics over numpy arrays: the metrics and their registry, rank sums, the paired bootstrap,
the randomization test, two-way and Obuchowski-Rockette reader analyses, calibration and triage."""
