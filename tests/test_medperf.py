"""``mura-bench medperf evaluate``: MedPerf's evaluator contract, run on temporary folders laid out
like the container's mounts (predictions/, labels/, parameters/parameters_file.yaml,
results/results.yaml)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hosting_helpers import (
    BOOTSTRAP,
    SEED,
    cli_scores,
    expected_scores,
    write_binary_labels,
    write_labels,
    write_panel,
    write_probabilities,
)
from mura_bench.cli.main import cli
from mura_bench.hosting.settings import MEDPERF_MOUNTS as MOUNTS

REPO = Path(__file__).resolve().parents[1]
ALL_KEYS = [
    "overall_kappa",
    "overall_f1",
    "overall_auroc",
    "f1_minus_radiologists",
    "f1_minus_radiologists_ci_low",
    "f1_minus_radiologists_ci_high",
    "elbow_f1",
    "finger_f1",
    "forearm_f1",
    "hand_f1",
    "humerus_f1",
    "shoulder_f1",
    "wrist_f1",
]


def mounts(root: Path, truth_writer=write_panel, *, parameters: dict | None = None) -> dict[str, Path]:
    """``root`` laid out as MedPerf mounts it; the predictions are the model container's CSV."""
    paths = {
        "predictions": root / "predictions",
        "labels": root / "labels",
        "parameters_file": root / "parameters" / "parameters_file.yaml",
        "output_path": root / "results" / "results.yaml",
    }
    for key in ("predictions", "labels"):
        paths[key].mkdir(parents=True)
    paths["parameters_file"].parent.mkdir()
    paths["output_path"].parent.mkdir()
    truth = truth_writer(paths["labels"] / "truth.csv")
    write_probabilities(paths["predictions"] / "model-output.csv", truth)
    params = yaml.safe_load((REPO / "medperf" / "parameters.yaml").read_text(encoding="utf-8"))
    params.update({"bootstrap": BOOTSTRAP, "seed": SEED}, **(parameters or {}))
    paths["parameters_file"].write_text(yaml.safe_dump(params), encoding="utf-8")
    return paths


def evaluate(paths: dict[str, Path], *, underscores: bool = False):
    args = ["medperf", "evaluate"]
    for key in ("predictions", "labels", "parameters_file", "output_path"):
        flag = "--" + (key if underscores else key.replace("_", "-"))
        args += [flag, str(paths[key])]
    return CliRunner().invoke(cli, args)


def test_results_yaml_is_a_flat_mapping_equal_to_mura_bench_score(tmp_path):
    paths = mounts(tmp_path)
    result = evaluate(paths)
    assert result.exit_code == 0, result.output
    results = yaml.safe_load(paths["output_path"].read_text(encoding="utf-8"))
    assert list(results) == ALL_KEYS
    assert all(type(v) is float for v in results.values())
    doc = cli_scores(paths["predictions"] / "model-output.csv", paths["labels"] / "truth.csv")
    assert results == expected_scores(doc)


def test_mlcube_style_underscore_options_are_accepted(tmp_path):
    paths = mounts(tmp_path)
    result = evaluate(paths, underscores=True)
    assert result.exit_code == 0, result.output
    assert paths["output_path"].is_file()


def test_labels_only_predictions_and_a_labels_truth(tmp_path):
    paths = mounts(tmp_path, write_labels)
    (paths["predictions"] / "model-output.csv").unlink()
    preds = write_binary_labels(paths["predictions"] / "labels.csv", paths["labels"] / "truth.csv")
    result = evaluate(paths)
    assert result.exit_code == 0, result.output
    results = yaml.safe_load(paths["output_path"].read_text(encoding="utf-8"))
    assert "overall_auroc" not in results and "f1_minus_radiologists" not in results
    assert results == expected_scores(cli_scores(preds, paths["labels"] / "truth.csv"))


def test_columns_parameter_selects_and_orders_the_keys(tmp_path):
    paths = mounts(tmp_path, parameters={"columns": ["wrist_f1", "overall_f1"], "protocol": "gold-panel"})
    result = evaluate(paths)
    assert result.exit_code == 0, result.output
    results = yaml.safe_load(paths["output_path"].read_text(encoding="utf-8"))
    doc = cli_scores(paths["predictions"] / "model-output.csv", paths["labels"] / "truth.csv", protocol="gold-panel")
    assert list(results) == ["wrist_f1", "overall_f1"]
    assert results == {k: expected_scores(doc)[k] for k in results}


def test_no_network_and_nothing_written_but_the_results(tmp_path, monkeypatch):
    import socket

    paths = mounts(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}

    def refuse(*_args, **_kwargs):
        raise AssertionError("the evaluator opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert evaluate(paths).exit_code == 0
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    assert set(after) - set(before) == {paths["output_path"]}
    assert all(after[p] == t for p, t in before.items() if p != paths["output_path"].parent)


def test_results_file_premade_by_medperf_is_rewritten_in_place(tmp_path):
    paths = mounts(tmp_path)
    paths["output_path"].write_text("")  # MedPerf creates the file before it mounts it
    inode = paths["output_path"].stat().st_ino
    assert evaluate(paths).exit_code == 0
    assert paths["output_path"].stat().st_ino == inode
    assert yaml.safe_load(paths["output_path"].read_text(encoding="utf-8"))["overall_f1"] > 0
    assert sorted(p.name for p in paths["output_path"].parent.iterdir()) == ["results.yaml"]


def _bad_predictions(paths):
    path = paths["predictions"] / "model-output.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",1.7"
    path.write_text("\n".join(lines) + "\n")


def _missing_studies(paths):
    path = paths["predictions"] / "model-output.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:-5]) + "\n")


def _second_csv(paths):
    (paths["predictions"] / "other.csv").write_text("x")


def _no_labels(paths):
    (paths["labels"] / "truth.csv").unlink()


def _bad_yaml(paths):
    paths["parameters_file"].write_text("bootstrap: [1,\n")


def _unknown_parameter(paths):
    paths["parameters_file"].write_text("bootstrapp: 100\n")


def _bad_bootstrap(paths):
    paths["parameters_file"].write_text("bootstrap: many\n")


def _unknown_column(paths):
    paths["parameters_file"].write_text("columns: [overall_f1, overall_brier]\n")


def _labels_protocol_on_labels(paths):
    paths["parameters_file"].write_text("protocol: leave-one-out\n")
    write_labels(paths["labels"] / "truth.csv", 140)


BAD = {
    "probability-out-of-range": (_bad_predictions, "line 4"),
    "missing-studies": (_missing_studies, "missing"),
    "two-prediction-files": (_second_csv, "expected one CSV file"),
    "no-labels": (_no_labels, "no CSV file found"),
    "parameters-not-yaml": (_bad_yaml, "not valid YAML"),
    "unknown-parameter": (_unknown_parameter, "bootstrapp"),
    "bootstrap-not-a-number": (_bad_bootstrap, "whole number"),
    "unknown-column": (_unknown_column, "overall_brier"),
    "protocol-needs-a-panel": (_labels_protocol_on_labels, "needs a reader panel"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_inputs_exit_2_with_a_message_and_no_results(tmp_path, case):
    paths = mounts(tmp_path)
    breaker, fragment = BAD[case]
    breaker(paths)
    result = evaluate(paths)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert not paths["output_path"].exists()
    assert list(paths["output_path"].parent.iterdir()) == []


def test_output_never_goes_into_an_input_folder(tmp_path):
    paths = mounts(tmp_path)
    paths["output_path"] = paths["predictions"] / "results.yaml"
    result = evaluate(paths)
    assert result.exit_code == 2 and "input" in result.output
    assert sorted(p.name for p in paths["predictions"].iterdir()) == ["model-output.csv"]


def test_no_arguments_means_medperf_s_fixed_mounts(monkeypatch):
    seen = {}

    def fake_evaluate(*args):
        seen["args"] = args
        return {}

    monkeypatch.setattr("mura_bench.hosting.medperf.evaluate", fake_evaluate)
    assert CliRunner().invoke(cli, ["medperf", "evaluate"]).exit_code == 0
    # no parameters file given: the mounted one when MedPerf mounts it, else the shipped defaults
    assert seen["args"] == (MOUNTS["predictions"], MOUNTS["labels"], None, MOUNTS["output_path"])
    assert MOUNTS == {
        "predictions": "/mlcommons/volumes/predictions",
        "labels": "/mlcommons/volumes/labels",
        "parameters_file": "/mlcommons/volumes/parameters/parameters_file.yaml",
        "output_path": "/mlcommons/volumes/results/results.yaml",
    }


def test_container_config_matches_the_mounts_and_the_task():
    config = yaml.safe_load((REPO / "medperf" / "container_config.yaml").read_text(encoding="utf-8"))
    evaluate_task = config["tasks"]["evaluate"]
    assert list(config["tasks"]) == ["evaluate"] and config["container_type"] == "DockerImage"
    volumes = {**evaluate_task["input_volumes"], **evaluate_task["output_volumes"]}
    assert {k: v["mount_path"] for k, v in volumes.items()} == MOUNTS
    assert {k: v["type"] for k, v in volumes.items()} == {
        "predictions": "directory",
        "labels": "directory",
        "parameters_file": "file",
        "output_path": "file",
    }
    assert list(evaluate_task["output_volumes"]) == ["output_path"]


def test_dockerfile_medperf_target_runs_the_evaluator_as_non_root():
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    stages = {}
    for block in text.split("\nFROM ")[1:]:
        header, _, body = block.partition("\n")
        stages[header.split(" AS ")[-1].strip()] = body
    assert {"base", "medperf", "codabench"} <= set(stages)
    medperf = stages["medperf"]
    assert 'ENTRYPOINT ["mura-bench", "medperf", "evaluate"]' in medperf
    user = [line.split()[1] for line in medperf.splitlines() if line.startswith("USER ")]
    assert user and not user[-1].startswith(("0", "root"))
    assert "pip install" in stages["base"]
    assert list(stages)[-1] == "codabench"  # the default target is the Codabench scoring image


def test_evaluator_runs_as_a_process_with_no_arguments_other_than_the_mounts(tmp_path):
    """The container's command line, with the mount paths swapped for the temporary folders."""
    paths = mounts(tmp_path)
    argv = [sys.executable, "-m", "mura_bench.cli.main", "medperf", "evaluate"]
    for key, value in paths.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert set(yaml.safe_load(paths["output_path"].read_text())) == set(ALL_KEYS)


# ---------------------------------------------------------------------------------------------
# Defaults shipped in the package; the parameters file is capped like every input
# ---------------------------------------------------------------------------------------------


def test_shipped_defaults_are_the_documented_parameters_file():
    from mura_bench.hosting.medperf import default_parameters_text, read_parameters

    assert default_parameters_text() == (REPO / "medperf" / "parameters.yaml").read_text(encoding="utf-8")
    params = read_parameters(None)
    assert params.settings.bootstrap == 10000 and params.settings.protocol == "auto"
    assert list(params.columns) == ALL_KEYS


def test_without_a_parameters_file_the_defaults_are_used(tmp_path, monkeypatch):
    paths = mounts(tmp_path)
    monkeypatch.setitem(MOUNTS, "parameters_file", str(tmp_path / "not-mounted.yaml"))
    args = [
        "medperf",
        "evaluate",
        "--predictions",
        str(paths["predictions"]),
        "--labels",
        str(paths["labels"]),
        "--output-path",
        str(paths["output_path"]),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    results = yaml.safe_load(paths["output_path"].read_text(encoding="utf-8"))
    doc = cli_scores(paths["predictions"] / "model-output.csv", paths["labels"] / "truth.csv", bootstrap=10000, seed=0)
    assert results == expected_scores(doc)


def test_an_endless_parameters_file_is_one_message(tmp_path, monkeypatch):
    monkeypatch.setenv("MURA_BENCH_MAX_INPUT_BYTES", "100000")
    paths = mounts(tmp_path)
    paths["parameters_file"] = Path("/dev/zero")
    result = evaluate(paths)
    assert result.exit_code == 2 and "too large" in result.output and "Traceback" not in result.output
    assert not paths["output_path"].exists()


# ---------------------------------------------------------------------------------------------
# The predictions folder is written by an untrusted container
# ---------------------------------------------------------------------------------------------


def _refused(paths, fragment: str) -> None:
    result = evaluate(paths)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output, result.output
    assert not paths["output_path"].exists()
    return result


def test_predictions_linked_to_the_labels_are_refused_and_not_read(tmp_path):
    paths = mounts(tmp_path)
    (paths["predictions"] / "model-output.csv").unlink()
    (paths["predictions"] / "preds.csv").symlink_to(paths["labels"] / "truth.csv")
    result = _refused(paths, "preds.csv is a symbolic link")
    assert "truth.csv" not in result.output and "MURA-v1.1" not in result.output


def test_predictions_fifo_is_refused_without_blocking(tmp_path):
    paths = mounts(tmp_path)
    (paths["predictions"] / "model-output.csv").unlink()
    os.mkfifo(paths["predictions"] / "preds.csv")
    _refused(paths, "preds.csv is a FIFO")


def test_predictions_device_is_refused(tmp_path):
    paths = mounts(tmp_path)
    (paths["predictions"] / "model-output.csv").unlink()
    try:
        os.mknod(paths["predictions"] / "preds.csv", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here (needs CAP_MKNOD); the FIFO test covers special files")
    _refused(paths, "preds.csv is a device")


def test_predictions_and_labels_in_the_same_folder_are_refused(tmp_path):
    paths = mounts(tmp_path)
    paths["labels"] = paths["predictions"]
    _refused(paths, "two separate folders")


def test_predictions_that_are_the_labels_file_are_refused(tmp_path):
    paths = mounts(tmp_path)
    (paths["predictions"] / "model-output.csv").unlink()
    os.link(paths["labels"] / "truth.csv", paths["predictions"] / "preds.csv")
    _refused(paths, "is the labels file")


@pytest.mark.parametrize("name, shown", [(b"p\x7f.csv", "p\\x7f.csv"), (b"p\xff\x1b[31m.csv", "p\\xff\\x1b[31m.csv")])
def test_odd_file_names_are_shown_escaped(tmp_path, name, shown):
    paths = mounts(tmp_path)
    source = paths["predictions"] / "model-output.csv"
    lines = source.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",1.7"
    os.rename(source, os.path.join(os.fsencode(paths["predictions"]), name))
    (paths["predictions"] / os.fsdecode(name)).write_text("\n".join(lines) + "\n")
    result = _refused(paths, shown)
    assert "\x1b" not in result.output and "\x7f" not in result.output
