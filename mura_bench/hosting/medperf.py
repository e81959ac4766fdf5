"""A MedPerf evaluator: ``mura-bench medperf evaluate`` (federated evaluation, data stays on site).

MedPerf's evaluator container contract (task ``evaluate``), as mounted by MedPerf::

    /mlcommons/volumes/predictions                       one CSV: the model container's output
    /mlcommons/volumes/labels                            one truth CSV (labels or a reader panel)
    /mlcommons/volumes/parameters/parameters_file.yaml   the benchmark's parameters (below)
    /mlcommons/volumes/results/results.yaml              output: flat mapping metric -> number

The container's entry point is ``mura-bench medperf evaluate``; with no arguments it uses exactly
these mounts, and without a parameters file (none given and none mounted) the defaults shipped in
the package (``templates/medperf_parameters.yaml``, the same file as the project's
``medperf/parameters.yaml``). ``parameters.yaml`` keys (all optional): ``protocol`` (auto|single|leave-one-out|
gold-panel), ``bootstrap``, ``seed``, ``confidence``, and ``columns``, the result keys to report
(default: all, the same keys as the Codabench ``scores.json``). ``results.yaml`` is read by
``yaml.safe_load``; ``overall_auroc`` is absent for 0/1 predictions (never null).

The predictions folder is written by the model's own container, so it is untrusted: its CSV must
be a regular file inside the folder (:mod:`.untrusted`: a symbolic link, FIFO or device is refused
and nothing of a link's target is read), and the predictions and labels must be two separate
folders holding two different files. The parameters file is size-capped like every input. What
is written, ``results.yaml``, holds aggregates only (the hidden-truth policy of
:mod:`mura_bench.leaderboard.hidden_truth`).

Bad inputs raise :class:`~mura_bench.errors.InputError` before anything is written. The results are
written with one write: MedPerf bind-mounts the results file itself (it exists, empty, before the
run), so it is rewritten in place; a results file that does not exist yet is created next to
where it goes and renamed into place. Nothing else is written outside ``/tmp``; no network is used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mura_bench.errors import InputError
from mura_bench.hosting.scores import flat_scores, leaderboard_columns, select
from mura_bench.hosting.settings import MEDPERF_MOUNTS, ScoringSettings

ALL_KEYS = tuple(c.key for c in leaderboard_columns(with_difference=True))
DEFAULTS_FILE = "medperf_parameters.yaml"


@dataclass(frozen=True)
class Parameters:
    settings: ScoringSettings
    columns: tuple[str, ...]


def default_parameters_text() -> str:
    """The documented defaults, shipped in the package."""
    from importlib.resources import files

    return files("mura_bench.hosting").joinpath("templates", DEFAULTS_FILE).read_text(encoding="utf-8")


def read_parameters(path: str | Path | None) -> Parameters:
    """Read and validate ``parameters.yaml``; None means the shipped defaults."""
    from mura_bench.io.outputs import display
    from mura_bench.data.tabular import read_input

    if path is None:
        return parse_parameters(default_parameters_text(), source="the default parameters")
    raw = read_input(path, what="parameters")  # size-capped: /dev/zero is one message
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the parameters file is not UTF-8 text", source=display(path)) from None
    return parse_parameters(text, source=display(path))


def parse_parameters(text: str, *, source: str) -> Parameters:
    """Validate the parameters YAML ``text``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"the parameters file is not valid YAML: {_first_line(exc)}", source=source) from None
    settings = ScoringSettings.from_mapping(data, source=source, extra=("columns",))
    columns = (data or {}).get("columns")
    if columns is None:
        return Parameters(settings, ALL_KEYS)
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise InputError("columns must be a non-empty list of result keys", source=source)
    unknown = [c for c in columns if c not in ALL_KEYS]
    if unknown:
        raise InputError(f"unknown column(s) {', '.join(unknown)}; choose from {', '.join(ALL_KEYS)}", source=source)
    if len(set(columns)) != len(columns):
        raise InputError("columns lists a key twice", source=source)
    return Parameters(settings, tuple(columns))


def evaluate(
    predictions_dir: str | Path, labels_dir: str | Path, parameters_file: str | Path | None, output_path: str | Path
) -> dict[str, float]:
    """Score the one predictions CSV against the one labels CSV; write and return the results.

    ``parameters_file`` None: MedPerf's mounted file when there is one, else the shipped defaults.
    """
    import yaml

    from mura_bench.hosting.untrusted import check_distinct_files, check_distinct_folders, parse_bytes, read_folder_csv
    from mura_bench.io.outputs import display
    from mura_bench.data.predictions import read_predictions
    from mura_bench.scoring.engine import score
    from mura_bench.data.truth import read_truth

    output_path = Path(output_path)
    if parameters_file is None and os.path.lexists(MEDPERF_MOUNTS["parameters_file"]):
        parameters_file = MEDPERF_MOUNTS["parameters_file"]
    inputs = [Path(predictions_dir), Path(labels_dir)] + ([Path(parameters_file)] if parameters_file else [])
    _check_output(output_path, inputs)
    params = read_parameters(parameters_file)
    check_distinct_folders(predictions_dir, labels_dir, what="medperf evaluate")
    preds = read_folder_csv(predictions_dir, what="predictions", place="predictions")
    labels = read_folder_csv(labels_dir, what="labels", place="labels")
    check_distinct_files(preds, labels, source=display(predictions_dir))
    predictions = parse_bytes(preds.data, read_predictions, source=display(Path(predictions_dir) / preds.name))
    truth = parse_bytes(labels.data, read_truth, source=display(Path(labels_dir) / labels.name))
    result = score(predictions, truth, **params.settings.score_options())
    results = select(flat_scores(result), list(params.columns))
    write_results(output_path, yaml.safe_dump(results, sort_keys=False))
    return results


def write_results(path: Path, text: str) -> None:
    """Rewrite an existing results file in place (MedPerf's bind mount), else create it atomically."""
    if path.is_file():
        with open(path, "r+", encoding="utf-8") as fh:
            fh.write(text)
            fh.truncate()
            fh.flush()
            os.fsync(fh.fileno())
        return
    from mura_bench.io.outputs import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text, option="--output-path")  # temp file + rename, umask mode, cleanup on signals


def _check_output(output: Path, inputs: list[Path]) -> None:
    if output.is_symlink() or (output.exists() and not output.is_file()):
        raise InputError("the output path exists and is not a regular file", source=str(output))
    target = output.resolve()
    for item in inputs:
        item = item.resolve()
        if target == item or item in target.parents:
            raise InputError(f"the output path would write into an input ({item})", source=str(output))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
