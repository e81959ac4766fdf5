"""A MedPerf evaluator: ``mura-bench medperf evaluate`` (federated evaluation, data stays on site).

MedPerf's evaluator container contract (task ``evaluate``), as mounted by MedPerf::

    /mlcommons/volumes/predictions                       one CSV: the model container's output
    /mlcommons/volumes/labels                            one truth CSV (labels or a reader panel)
    /mlcommons/volumes/parameters/parameters_file.yaml   the benchmark's parameters (below)
    /mlcommons/volumes/results/results.yaml              output: flat mapping metric -> number

The container's entry point is ``mura-bench medperf evaluate``; with no arguments it uses exactly
these mounts. ``parameters.yaml`` keys (all optional): ``protocol`` (auto|single|leave-one-out|
gold-panel), ``bootstrap``, ``seed``, ``confidence``, and ``columns``, the result keys to report
(default: all, the same keys as the Codabench ``scores.json``). ``results.yaml`` is read by
``yaml.safe_load``; ``overall_auroc`` is absent for 0/1 predictions (never null).

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
from mura_bench.hosting.settings import ScoringSettings, single_csv

ALL_KEYS = tuple(c.key for c in leaderboard_columns(with_difference=True))


@dataclass(frozen=True)
class Parameters:
    settings: ScoringSettings
    columns: tuple[str, ...]


def read_parameters(path: str | Path) -> Parameters:
    """Read and validate ``parameters.yaml``."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the parameters file: {exc.strerror or exc}", source=str(path)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"the parameters file is not valid YAML: {_first_line(exc)}", source=str(path)) from None
    settings = ScoringSettings.from_mapping(data, source=str(path), extra=("columns",))
    columns = (data or {}).get("columns")
    if columns is None:
        return Parameters(settings, ALL_KEYS)
    if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
        raise InputError("columns must be a non-empty list of result keys", source=str(path))
    unknown = [c for c in columns if c not in ALL_KEYS]
    if unknown:
        raise InputError(f"unknown column(s) {', '.join(unknown)}; choose from {', '.join(ALL_KEYS)}",
                         source=str(path))
    if len(set(columns)) != len(columns):
        raise InputError("columns lists a key twice", source=str(path))
    return Parameters(settings, tuple(columns))


def evaluate(predictions_dir: str | Path, labels_dir: str | Path, parameters_file: str | Path,
             output_path: str | Path) -> dict[str, float]:
    """Score the one predictions CSV against the one labels CSV; write and return the results."""
    import yaml

    from mura_bench.predictions import read_predictions
    from mura_bench.scoring import score
    from mura_bench.truth import read_truth

    output_path = Path(output_path)
    _check_output(output_path, [Path(predictions_dir), Path(labels_dir), Path(parameters_file)])
    params = read_parameters(parameters_file)
    predictions = read_predictions(single_csv(predictions_dir, what="predictions"))
    truth = read_truth(single_csv(labels_dir, what="labels"))
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
    from mura_bench.outputs import write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text, option="--output-path")   # temp file + rename, umask mode, cleanup on signals


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
