"""A resumed run never reuses predictions of images that changed since they were cached, and a
resume cache of the wrong shape is a clear message (exit 2), never an internal error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mura_bench.errors import InputError
from mura_bench.data.layout import load_split
from mura_bench.models.runner import PARTIAL_SCHEMA, RunKey, partial_path, predict_split, read_partial
from mura_bench.synth import generate


class MeanModel:
    """Probability = mean intensity; raises KeyboardInterrupt on call ``interrupt_at``."""

    batch_size = 4

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.interrupt_at, self.calls, self.seen = interrupt_at, 0, []

    def predict_images(self, images):
        self.calls += 1
        if self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        self.seen.extend(Path(image.filename).as_posix() for image in images)
        return [float(np.asarray(image).mean()) / 255.0 for image in images]


@pytest.fixture()
def split(tmp_path):
    generate(tmp_path / "data", studies=16, train_studies=1, image_size=24, seed=5)
    return load_split(tmp_path / "data", "valid")


def key_of(index) -> RunKey:
    return RunKey("mean", {}, index.split, str(index.root))


def interrupted_run(index, out) -> dict[str, list[float]]:
    with pytest.raises(KeyboardInterrupt):
        predict_split(MeanModel(interrupt_at=6), index, out, key=key_of(index))
    cached = read_partial(partial_path(out), key_of(index), index)
    assert len(cached) >= 3
    return cached


def rewrite(index, image_path: str, value: int, *, keep_mtime: bool = False) -> None:
    file = index.image_file(image_path)
    before = file.stat()
    with Image.open(file) as im:
        size, mode = im.size, im.mode
    Image.new(mode, size, color=value).save(file, format="PNG")
    if keep_mtime:
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("changes", [1, 3])
def test_regenerated_images_are_predicted_again_and_match_a_restart(split, tmp_path, changes):
    out = tmp_path / "p.csv"
    cached = interrupted_run(split, out)
    changed_studies = list(cached)[:changes]
    for study in changed_studies:
        rewrite(split, split.images[study][0], 200)
    model = MeanModel()
    predict_split(model, split, out, key=key_of(split))
    resumed = out.read_bytes()
    for study in changed_studies:  # the changed studies were predicted again ...
        assert split.image_file(split.images[study][0]).as_posix() in model.seen
    untouched = [s for s in cached if s not in changed_studies]
    assert not any(
        split.image_file(i).as_posix() in model.seen for s in untouched for i in split.images[s]
    )  # ... the others not
    predict_split(MeanModel(), split, tmp_path / "fresh.csv", key=key_of(split), resume=False)
    assert resumed == (tmp_path / "fresh.csv").read_bytes()


def test_a_touched_image_invalidates_only_its_study(split, tmp_path):
    out = tmp_path / "p.csv"
    cached = interrupted_run(split, out)
    study = next(iter(cached))
    file = split.image_file(split.images[study][-1])
    stat = file.stat()
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert study not in read_partial(partial_path(out), key_of(split), split)
    assert set(read_partial(partial_path(out), key_of(split), split)) == set(cached) - {study}


def test_a_deleted_image_invalidates_its_study(split, tmp_path):
    out = tmp_path / "p.csv"
    cached = interrupted_run(split, out)
    study = next(iter(cached))
    split.image_file(split.images[study][0]).unlink()
    assert study not in read_partial(partial_path(out), key_of(split), split)


def test_cache_lines_record_size_and_mtime_of_each_image(split, tmp_path):
    out = tmp_path / "p.csv"
    interrupted_run(split, out)
    lines = partial_path(out).read_text().splitlines()
    assert json.loads(lines[0])["schema"] == PARTIAL_SCHEMA
    record = json.loads(lines[1])
    stamps = [[split.image_file(i).stat().st_size, split.image_file(i).stat().st_mtime_ns] for i in record["images"]]
    assert record["stamps"] == stamps


BAD_LINES = [
    {"study": 5, "images": [], "probabilities": [], "stamps": []},
    {"study": "s/", "images": "image1.png", "probabilities": [0.5], "stamps": [[1, 2]]},
    {"study": "s/", "images": ["a"], "probabilities": ["0.5"], "stamps": [[1, 2]]},
    {"study": "s/", "images": ["a"], "probabilities": [None], "stamps": [[1, 2]]},
    {"study": "s/", "images": ["a"], "probabilities": [True], "stamps": [[1, 2]]},
    {"study": "s/", "images": ["a"], "probabilities": [0.5], "stamps": [[1, "2"]]},
    {"study": "s/", "images": ["a"], "probabilities": [0.5]},
    [1, 2, 3],
    "a string",
    None,
    {"study": "s/", "images": ["a"], "probabilities": {"x": 1}, "stamps": [[1, 2]]},
]


@pytest.mark.parametrize("bad", BAD_LINES, ids=range(len(BAD_LINES)))
def test_cache_line_of_wrong_types_is_an_input_error_naming_the_line(split, tmp_path, bad):
    out = tmp_path / "p.csv"
    interrupted_run(split, out)
    cache = partial_path(out)
    lines = cache.read_text().splitlines()
    lines.insert(2, json.dumps(bad))
    cache.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="resume cache") as info:
        read_partial(cache, key_of(split), split)
    assert "line 3" in str(info.value) and "--restart" in str(info.value)


def test_cli_reports_a_broken_cache_with_exit_2_and_restart_recovers(tmp_path):
    generate(tmp_path / "data", studies=6, train_studies=1, image_size=16, seed=2)
    out = tmp_path / "p.csv"
    index = load_split(tmp_path / "data", "valid")
    key = RunKey("image-statistics", {}, "valid", str(index.root.resolve()))
    partial_path(out).write_text(
        json.dumps({"schema": PARTIAL_SCHEMA, "key": key.to_dict()})
        + "\n"
        + json.dumps(
            {
                "study": index.studies[0],
                "images": index.images[index.studies[0]],
                "probabilities": ["x"],
                "stamps": [[0, 0]],
            }
        )
        + "\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "mura_bench",
        "run",
        "image-statistics",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--quiet",
    ]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert cp.returncode == 2 and "resume cache" in cp.stderr and "line 2" in cp.stderr, cp.stderr
    assert "internal error" not in cp.stderr and not out.exists()
    cp = subprocess.run(cmd + ["--restart"], capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert out.is_file() and not partial_path(out).exists()
