"""Help texts of the command line: command lists that are never cut, and the commands' epilogs.

click shortens each command's one-line purpose in a group's command list to fit a fixed width
(ending it with ``...``); :class:`UncutHelpGroup` shows the whole first line of each command's
help and lets the formatter wrap it instead. Epilogs hold examples; a ``\\b`` line keeps click
from re-wrapping the block after it.
"""

from __future__ import annotations

import click


def first_line(command: click.Command) -> str:
    """The command's one-line purpose: ``short_help``, else the first paragraph of its help."""
    if command.short_help:
        return command.short_help
    text = (command.help or "").strip()
    return " ".join(text.split("\n\n")[0].split())


class UncutHelpGroup(click.Group):
    """A click group whose ``--help`` lists every command with its whole one-line purpose."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            rows.append((name, first_line(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


SCORE_EPILOG = """\b
Prediction formats (detected automatically; a header is optional):
  labels               study_path,0|1 (official format, headerless; no AUROC)
  study-probabilities  study_path,probability
  image-probabilities  image_path,probability (mean over each study's images)
Truth: study,label (single) | study,r1..rN[,label] with N >= 3 (leave-one-out)
       | the official headerless study,r1,r2,r3 (gold-panel).
Metrics: f1, kappa, auroc, accuracy, sensitivity, specificity, precision.
Outputs: table (fits the terminal; --wide, --show-readers), json (schema
mura-bench/score/v1), csv (one row per group, subject, metric), codalab.

\b
Examples:
  mura-bench score preds.csv --truth MURA-v1.1/valid_labeled_studies.csv
  mura-bench score preds.csv --truth panel.csv --metrics f1,kappa \\
      --bootstrap 2000 --seed 1 --output json --out result.json
"""

SYNTH_EPILOG = """\b
Examples:
  mura-bench synth --out ~/mura-scratch/data
  mura-bench synth --out ~/mura-scratch/big --studies 1199 --readers 6 --seed 1
"""

DEMO_EPILOG = """\b
Examples:
  mura-bench demo
  mura-bench demo --full
  mura-bench demo --no-site --bootstrap 500
"""

MODELS_EPILOG = """\b
Options of a model are passed to `mura-bench run` as --option KEY=VALUE
(e.g. --option level=0.8); the options column shows each factory's
parameters with their defaults.
"""

RUN_EPILOG = """\b
Examples:
  mura-bench run image-statistics --data ~/mura-scratch/data --out preds.csv
  mura-bench run constant-prior --data DIR --split valid --out p.csv \\
      --option p=0.4 --score
"""

BUILD_EPILOG = """\b
Examples:
  mura-bench leaderboard build submissions --truth panel.csv --out site/_build
  mura-bench leaderboard build subs --truth panel.csv --out site --bootstrap 2000
"""
