"""Codabench's upload rules (read from codalab/codabench's source, written down in
:mod:`mura_bench.hosting.codabench_rules`): the exported bundle keeps every one of them, a bundle
that breaks one is refused by the export with the field named, and -- when a checkout of
Codabench is at hand (``CODABENCH_SOURCE``) -- Codabench's own v2 unpacker, run with the web
framework stubbed out, unpacks the bundle."""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import os
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from hosting_helpers import write_labels, write_panel
from mura_bench.cli.main import cli
from mura_bench.hosting import codabench_rules as rules

IMAGE = "ghcr.io/example/mura-bench:0.1.0"


def export(tmp: Path, *args: str, name: str = "bundle.zip"):
    out = tmp / name
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "codabench",
            "--out",
            str(out),
            "--bootstrap",
            "10",
            "--start",
            "2026-03-02",
            "--docker-image",
            IMAGE,
            *args,
        ],
    )
    return out, result


def entries_of(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("rules")
    dev, final = write_panel(tmp / "dev.csv", 84, seed=2), write_panel(tmp / "test.csv", 70, seed=3)
    out, result = export(tmp, "--truth", str(dev), "--final-truth", str(final))
    assert result.exit_code == 0, result.output
    return out


def test_the_exported_bundle_keeps_every_rule(bundle, tmp_path):
    files = entries_of(bundle)
    doc = yaml.safe_load(files["competition.yaml"])
    assert rules.bundle_faults(doc, files) == []
    labels_only, result = export(tmp_path, "--truth", str(write_labels(tmp_path / "l.csv", 40)))
    assert result.exit_code == 0, result.output
    files = entries_of(labels_only)
    assert rules.bundle_faults(yaml.safe_load(files["competition.yaml"]), files) == []


def _set(doc: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    target = doc
    for part in parents:
        name, _, index = part.partition("[")
        target = target[name][int(index[:-1])] if index else target[name]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value


_DELETE = object()

#: (field to change, new value, field named in the fault, words of the problem)
BROKEN = [
    ("phases[1].start", "2026-03-31 23:59:59", "phases[1].start", "strictly after"),  # == previous end
    ("phases[1].start", "2026-03-20 00:00:00", "phases[1].start", "strictly after"),
    ("phases[0].end", _DELETE, "phases[0].end", "needs an end date"),
    ("phases[0].start", "2026-03-02", "phases[0].start", "YYYY-MM-DD HH:MM:SS"),
    ("phases[0].tasks", [7], "phases[0].tasks", "indices"),
    ("phases[1].max_submissions", -1, "phases[1].max_submissions", "whole number"),
    ("title", "t" * 257, "title", "256 characters"),
    ("docker_image", "d" * 129, "docker_image", "128 characters"),
    ("version", 1, "version", "must be 2"),
    ("image", "missing.png", "image", "logo"),
    ("terms", "pages/nothing.md", "terms", "missing or empty"),
    ("tasks[1].index", 0, "tasks[1].index", "duplicate"),
    ("tasks[0].scoring_program", "nowhere", "tasks[0].scoring_program", "scoring program"),
    ("solutions[0].tasks", [5], "solutions[0].tasks", "indices"),
    ("leaderboards[0].title", "L" * 65, "leaderboards[0].title", "64 characters"),
    ("leaderboards[0].key", "k" * 37, "leaderboards[0].key", "36 characters"),
    ("leaderboards[0].columns[0].key", "k" * 37, "leaderboards[0].columns[0].key", "36 characters"),
    ("leaderboards[0].columns[0].title", "T" * 37, "leaderboards[0].columns[0].title", "36 characters"),
    ("leaderboards[0].columns[1].key", "overall_kappa", "leaderboards[0].columns", "unique"),
    ("leaderboards[0].columns[0].sorting", "up", "leaderboards[0].columns[0].sorting", "desc or asc"),
    ("leaderboards[0].primary_index", 99, "leaderboards[0].primary_index", "index of one"),
    ("leaderboards[0].submission_rule", "Anything", "leaderboards[0].submission_rule", "one of"),
]


@pytest.mark.parametrize("field, value, named, words", BROKEN, ids=[f"{b[0]}={str(b[1])[:12]}" for b in BROKEN])
def test_each_rule_names_the_field_it_refuses(bundle, field, value, named, words):
    files = entries_of(bundle)
    doc = yaml.safe_load(files["competition.yaml"])
    broken = copy.deepcopy(doc)
    _set(broken, field, value)
    faults = rules.bundle_faults(broken, files)
    assert any(f == named and words in p for f, p in faults), faults


def test_an_empty_page_and_a_missing_competition_yaml_are_refused(bundle):
    files = entries_of(bundle)
    doc = yaml.safe_load(files["competition.yaml"])
    assert ("pages[1].file", "the page file is missing or empty") in rules.bundle_faults(
        doc, {**files, "pages/evaluation.md": b""}
    )
    files.pop("competition.yaml")
    assert any(f == "competition.yaml" for f, _ in rules.bundle_faults(doc, files))


# ---------------------------------------------------------------------------------------------
# The export refuses what Codabench would refuse, naming the option and the field
# ---------------------------------------------------------------------------------------------


def test_docker_image_is_required_with_a_pullable_example(tmp_path):
    truth = write_labels(tmp_path / "l.csv", 40)
    result = CliRunner().invoke(cli, ["export", "codabench", "--truth", str(truth), "--out", str(tmp_path / "b.zip")])
    assert result.exit_code == 2 and "--docker-image" in result.output
    assert "ghcr.io/OWNER/mura-bench:" in result.output and "linux/amd64" in result.output
    assert not (tmp_path / "b.zip").exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--docker-image", "ghcr.io/Owner/Mura Bench:1"], ["--docker-image", "not a Docker image name"]),
        (["--title", "t" * 257], ["--title", "competition.yaml title", "256 characters"]),
        (["--docker-image", "ghcr.io/" + "x" * 130], ["--docker-image", "docker_image", "128 characters"]),
        (["--start", "1979-12-31"], ["--start", "1980"]),
        (["--start", "9999-12-15", "--final-truth", "{truth}"], ["--start", "9999"]),
        (["--final-start", "2026-03-02", "--final-truth", "{truth}"], ["--final-start", "23:59:59"]),
    ],
)
def test_export_refuses_what_codabench_or_a_zip_cannot_hold(tmp_path, args, fragments):
    truth = write_labels(tmp_path / "l.csv", 40)
    args = [a.replace("{truth}", str(truth)) for a in args]
    out, result = export(tmp_path, "--truth", str(truth), *args)
    assert result.exit_code == 2, result.output
    assert all(f in result.output for f in fragments), result.output
    assert "Traceback" not in result.output and not out.exists()


def test_a_docker_hub_short_name_is_warned_about(tmp_path):
    truth = write_labels(tmp_path / "l.csv", 40)
    _, result = export(tmp_path, "--truth", str(truth), "--docker-image", "mura-bench:0.1.0")
    assert result.exit_code == 0, result.output
    assert "warning: --docker-image mura-bench:0.1.0 names an official Docker Hub image" in result.output
    assert "ghcr.io/OWNER/mura-bench:" in result.output


def test_a_late_start_is_stamped_as_far_as_zip_timestamps_go(tmp_path):
    truth = write_labels(tmp_path / "l.csv", 40)
    out, result = export(tmp_path, "--truth", str(truth), "--start", "2200-01-01")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as zf:
        assert {i.date_time[:3] for i in zf.infolist()} == {(2107, 12, 31)}
        doc = yaml.safe_load(zf.read("competition.yaml"))
    assert doc["phases"][0]["start"] == "2200-01-01 00:00:00"


def test_truth_from_a_pipe_gives_the_same_bundle_as_the_file(tmp_path):
    truth = write_labels(tmp_path / "l.csv", 40)
    by_file, result = export(tmp_path, "--truth", str(truth), name="file.zip")
    assert result.exit_code == 0, result.output
    piped = tmp_path / "pipe.zip"
    run = subprocess.run(
        f"cat {truth} | {sys.executable} -m mura_bench.cli.main export codabench --truth - "
        f"--out {piped} --bootstrap 10 --start 2026-03-02 --docker-image {IMAGE}",
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    a, b = entries_of(by_file), entries_of(piped)
    assert a["reference_data/development/truth.csv"] == truth.read_bytes() == b["reference_data/development/truth.csv"]
    assert {k: v for k, v in a.items() if k != "competition.yaml"} == {
        k: v for k, v in b.items() if k != "competition.yaml"
    }


def test_a_final_budget_that_could_carry_the_labels_is_warned_about(tmp_path):
    truth = write_labels(tmp_path / "l.csv", 40)
    final = write_labels(tmp_path / "f.csv", 60, seed=4)
    _, result = export(tmp_path, "--truth", str(truth), "--final-truth", str(final), "--final-max-submissions", "5")
    assert result.exit_code == 0, result.output
    assert "warning: the final phase's budget (5 submissions" in result.output and "bits" in result.output
    big = write_labels(tmp_path / "big.csv", 200, seed=5)
    _, result = export(tmp_path, "--truth", str(truth), "--final-truth", str(big), name="ok.zip")
    assert result.exit_code == 0 and "warning" not in result.output


def test_submission_limit_options_reach_the_phases(tmp_path):
    truth = write_labels(tmp_path / "l.csv", 40)
    out, result = export(
        tmp_path,
        "--truth",
        str(truth),
        "--final-truth",
        str(truth),
        "--max-submissions-per-day",
        "3",
        "--max-submissions",
        "30",
        "--final-max-submissions-per-day",
        "1",
        "--final-max-submissions",
        "1",
    )
    assert result.exit_code == 0, result.output
    dev, final = yaml.safe_load(entries_of(out)["competition.yaml"])["phases"]
    assert (dev["max_submissions_per_day"], dev["max_submissions"]) == (3, 30)
    assert (final["max_submissions_per_day"], final["max_submissions"]) == (1, 1)


# ---------------------------------------------------------------------------------------------
# Codabench's own unpacker, when its source is at hand
# ---------------------------------------------------------------------------------------------


def _stub(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _load_codabench_unpacker(source: Path, monkeypatch):
    """Codabench's ``competitions.unpackers`` package (base_unpacker, utils, v2) with Django, the
    REST serializers and the models replaced by stubs: the unpack steps (pages, tasks, solutions,
    terms, logo, phases with their ordering check, leaderboards) run as Codabench runs them."""

    class _Model:
        objects = None

    class _Phase:
        CURRENT, NEXT, PREVIOUS = "Current", "Next", "Previous"

    def now():
        return dt.datetime.now(dt.timezone.utc)

    stubs = {
        "django": _stub("django"),
        "django.core": _stub("django.core"),
        "django.core.files": _stub("django.core.files", File=object),
        "django.test": _stub("django.test", RequestFactory=lambda: types.SimpleNamespace()),
        "django.utils": _stub("django.utils", timezone=_stub("timezone", now=now)),
        "api": _stub("api"),
        "api.serializers": _stub("api.serializers"),
        "api.serializers.competitions": _stub("c", CompetitionSerializer=object),
        "api.serializers.leaderboards": _stub("l", LeaderboardSerializer=object),
        "api.serializers.tasks": _stub("t", TaskSerializer=object, SolutionSerializer=object),
        "competitions": _stub("competitions", __path__=[]),
        "competitions.models": _stub("competitions.models", Phase=_Phase),
        "datasets": _stub("datasets"),
        "datasets.models": _stub("datasets.models", Data=_Model),
        "queues": _stub("queues"),
        "queues.models": _stub("queues.models", Queue=_Model),
        "tasks": _stub("tasks"),
        "tasks.models": _stub("tasks.models", Task=_Model, Solution=_Model),
        "utils": _stub("utils"),
        "utils.storage": _stub("utils.storage", md5=lambda path: ""),
    }
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    folder = source / "src" / "apps" / "competitions" / "unpackers"
    package = _stub("competitions.unpackers", __path__=[str(folder)])
    monkeypatch.setitem(sys.modules, "competitions.unpackers", package)
    loaded = {}
    for name in ("utils", "base_unpacker", "v2"):
        spec = importlib.util.spec_from_file_location(f"competitions.unpackers.{name}", folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        loaded[name] = module
    return loaded["v2"].V2Unpacker, loaded["utils"].CompetitionUnpackingException


@pytest.mark.skipif(
    not os.environ.get("CODABENCH_SOURCE"),
    reason="set CODABENCH_SOURCE to a checkout of codalab/codabench to run its unpacker; "
    "test_the_exported_bundle_keeps_every_rule checks the same rules without it",
)
def test_codabench_s_own_v2_unpacker_unpacks_the_bundle(bundle, tmp_path, monkeypatch):
    unpacker_class, unpacking_error = _load_codabench_unpacker(Path(os.environ["CODABENCH_SOURCE"]), monkeypatch)
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(tmp_path / "bundle")
    doc = yaml.safe_load((tmp_path / "bundle" / "competition.yaml").read_text(encoding="utf-8"))
    creator = types.SimpleNamespace(id=1, username="organiser")
    unpacker = unpacker_class(competition_yaml=doc, temp_directory=str(tmp_path / "bundle"), creator=creator)
    unpacker.unpack()
    phases = unpacker.competition["phases"]
    assert [p["name"] for p in phases] == ["Development", "Final"] and phases[-1]["is_final_phase"]
    assert phases[0]["end"] < phases[1]["start"]
    # the date the export used to write is refused by the same code
    touching = copy.deepcopy(doc)
    touching["phases"][0]["end"] = touching["phases"][1]["start"]
    with pytest.raises(unpacking_error, match="Phases dates conflict"):
        unpacker_class(competition_yaml=touching, temp_directory=str(tmp_path / "bundle"), creator=creator).unpack()
