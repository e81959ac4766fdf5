"""The ``mura-bench`` command line: the click group and its commands (``main``), ``analyze`` and
``demo``; the subcommands of the leaderboard, hosting and models are loaded by name from there."""
