"""Reader-study analyses built on the scoring layer: ``mura-bench analyze``'s computation, its
batch driver and its result object."""
