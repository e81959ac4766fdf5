"""Statistics over numpy arrays: the reader-study protocols (which readers form each reference),
the metrics and their registry, rank sums, the paired bootstrap, the randomization test, two-way
and Obuchowski-Rockette reader analyses, calibration and triage."""
