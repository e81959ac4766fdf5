"""An option that would change nothing is refused (exit 2, one message), never ignored."""

from __future__ import annotations

import pytest

from helpers import run, write_case, write_submission
from mura_bench import InputError, score


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("case")
    write_case(folder, n_per_part=3, n_readers=5)
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ["--permutations", "500"],
        ["--permutations", "10000"],
        ["--test", "ci", "--permutations", "7"],
        ["--adjust", "none", "--permutations", "3"],
    ],
)
def test_permutations_without_the_randomization_test_is_refused(case, args):
    proc = run("score", case / "preds.csv", "--truth", case / "panel.csv", "--bootstrap", "0", *args)
    assert proc.returncode == 2 and "--permutations only applies to --test randomization" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_permutations_with_the_randomization_test_runs(case):
    proc = run(
        "score",
        case / "preds.csv",
        "--truth",
        case / "panel.csv",
        "--bootstrap",
        "0",
        "--test",
        "randomization",
        "--permutations",
        "50",
        "--output",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    assert '"permutations": 50' in proc.stdout


def test_leaderboard_build_refuses_permutations_without_the_randomization_test(case, tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    write_submission(subs, case / "preds.csv")
    proc = run(
        "leaderboard",
        "build",
        subs,
        "--truth",
        case / "panel.csv",
        "--out",
        tmp_path / "site",
        "--permutations",
        "100",
        "--quiet",
    )
    assert proc.returncode == 2 and "--permutations only applies" in proc.stderr
    assert not (tmp_path / "site").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["--test", "randomization"],
        ["--resample-readers"],
        ["--test", "randomization", "--adjust", "holm"],
        ["--resample-readers", "--bootstrap", "50"],
    ],
)
@pytest.mark.parametrize("truth", ["labels.csv", "panel_gold_only"])
def test_reader_comparisons_without_scored_readers_are_refused(case, tmp_path, args, truth):
    """Labels only, or a gold panel whose readers are all gold: nothing to compare with."""
    extra = []
    if truth == "panel_gold_only":
        lines = (case / "panel.csv").read_text().splitlines()
        (tmp_path / "gold.csv").write_text("\n".join(",".join(line.split(",")[:4]) for line in lines) + "\n")
        truth_path, extra = tmp_path / "gold.csv", ["--protocol", "gold-panel"]
    else:
        truth_path = case / truth
    proc = run("score", case / "preds.csv", "--truth", truth_path, *extra, *args)
    assert proc.returncode == 2, proc.stdout
    assert "nothing to test" in proc.stderr and "Traceback" not in proc.stderr


def test_the_library_refuses_them_too(case):
    with pytest.raises(InputError, match="nothing to test"):
        score(case / "preds.csv", case / "labels.csv", bootstrap=0, test="randomization")
    with pytest.raises(InputError, match="nothing to test"):
        score(case / "preds.csv", case / "labels.csv", bootstrap=20, resample_readers=True)
    # a gold panel with readers beyond the gold ones has readers to test
    result = score(
        case / "preds.csv",
        case / "panel.csv",
        protocol="gold-panel",
        bootstrap=0,
        test="randomization",
        permutations=30,
    )
    assert result.groups["overall"].difference["f1"].p_value is not None


def test_a_board_ranked_by_randomization_on_labels_still_builds(case, tmp_path):
    """On a board the randomization test ranks the models against each other: meaningful without
    readers, so ``leaderboard build`` keeps it."""
    subs = tmp_path / "subs"
    subs.mkdir()
    write_submission(subs, case / "preds.csv")
    proc = run(
        "leaderboard",
        "build",
        subs,
        "--truth",
        case / "labels.csv",
        "--out",
        tmp_path / "site",
        "--bootstrap",
        "20",
        "--test",
        "randomization",
        "--permutations",
        "30",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "index.html").is_file()
