"""The submission runner: batching, output validation, resume after an interrupt, predict_study."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mura_bench.errors import InputError
from mura_bench.data.layout import load_split
from mura_bench.models.builtin import constant_prior, image_statistics
from mura_bench.models.runner import (
    ModelOutputError,
    RunKey,
    check_probabilities,
    partial_path,
    predict_split,
    read_partial,
)
from mura_bench.data.predictions import read_predictions
from mura_bench.synth import generate


@pytest.fixture()
def split(tmp_path):
    """A small synthetic valid split (20 studies, about 55 images of 32 x 32 pixels)."""
    generate(tmp_path / "data", studies=20, train_studies=1, image_size=32, seed=3, difficulty="easy")
    return load_split(tmp_path / "data", "valid")


def key_for(index, model="test-model", **options) -> RunKey:
    return RunKey(model=model, options=options, split=index.split, data=str(index.root))


class CountingModel:
    """Probability from each image's mean intensity; counts calls and the images it saw, and
    raises KeyboardInterrupt on call number ``interrupt_at`` (an interrupted run)."""

    def __init__(self, batch_size: int = 3, interrupt_at: int | None = None) -> None:
        self.batch_size = batch_size
        self.interrupt_at = interrupt_at
        self.calls = 0
        self.seen: list[str] = []

    def predict_images(self, images):
        self.calls += 1
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        self.seen.extend(Path(image.filename).as_posix() for image in images)
        return [float(np.asarray(image).mean()) / 255.0 for image in images]


def image_count(index) -> int:
    return sum(len(v) for v in index.images.values())


def test_writes_every_image_once_in_split_order(split, tmp_path):
    out = tmp_path / "predictions.csv"
    model = CountingModel(batch_size=4)
    summary = predict_split(model, split, out, key=key_for(split))
    lines = out.read_text().splitlines()
    expected = [image for study in split.studies for image in split.images[study]]
    assert lines[0] == "image,probability"
    assert [line.split(",")[0] for line in lines[1:]] == expected
    assert model.calls == -(-len(expected) // 4)  # batches cross study boundaries
    assert summary.images == summary.predicted_images == len(expected)
    assert summary.studies == len(split.studies) and summary.resumed_studies == 0
    assert not partial_path(out).exists()
    preds = read_predictions(out)
    assert preds.kind == "image-probabilities" and preds.study_ids == split.studies


def test_interrupted_run_resumes_without_predicting_finished_studies_again(split, tmp_path):
    reference = tmp_path / "uninterrupted.csv"
    predict_split(CountingModel(), split, reference, key=key_for(split))

    out = tmp_path / "predictions.csv"
    first = CountingModel(batch_size=3, interrupt_at=4)  # three batches of 3 images get through
    with pytest.raises(KeyboardInterrupt):
        predict_split(first, split, out, key=key_for(split))
    assert not out.exists()
    cached = read_partial(partial_path(out), key_for(split), split)
    finished_images = {img for study in cached for img in split.images[study]}
    assert 0 < len(cached) < len(split.studies)
    assert finished_images <= {str(Path(p).relative_to(split.root.as_posix())) for p in first.seen}

    second = CountingModel(batch_size=3)
    summary = predict_split(second, split, out, key=key_for(split))
    again = {str(Path(p).relative_to(split.root.as_posix())) for p in second.seen}
    assert again.isdisjoint(finished_images)  # finished studies are not predicted again
    assert len(second.seen) == image_count(split) - len(finished_images)
    assert summary.resumed_studies == len(cached)
    assert summary.predicted_images == len(second.seen)
    assert out.read_bytes() == reference.read_bytes()
    assert not partial_path(out).exists()


def test_cache_of_another_model_or_option_is_not_reused(split, tmp_path):
    out = tmp_path / "predictions.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_split(CountingModel(interrupt_at=3), split, out, key=key_for(split, p="0.2"))
    assert read_partial(partial_path(out), key_for(split, p="0.2"), split)
    for other in (key_for(split, p="0.3"), key_for(split, model="other", p="0.2")):
        assert read_partial(partial_path(out), other, split) == {}
    model = CountingModel()
    summary = predict_split(model, split, out, key=key_for(split, model="other", p="0.2"))
    assert summary.resumed_studies == 0 and len(model.seen) == image_count(split)


def test_restart_ignores_the_cache(split, tmp_path):
    out = tmp_path / "predictions.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_split(CountingModel(interrupt_at=3), split, out, key=key_for(split))
    model = CountingModel()
    predict_split(model, split, out, key=key_for(split), resume=False)
    assert len(model.seen) == image_count(split)


def test_truncated_partial_line_is_predicted_again(split, tmp_path):
    out = tmp_path / "predictions.csv"
    with pytest.raises(KeyboardInterrupt):
        predict_split(CountingModel(batch_size=2, interrupt_at=5), split, out, key=key_for(split))
    cache = partial_path(out)
    lines = cache.read_text().splitlines(keepends=True)
    assert len(lines) >= 3
    last_study = json.loads(lines[-1])["study"]
    cache.write_text("".join(lines[:-1]) + lines[-1][:20])  # torn write of the last study
    cached = read_partial(cache, key_for(split), split)
    assert last_study not in cached and len(cached) == len(lines) - 2


def test_limit_takes_the_first_studies(split, tmp_path):
    out = tmp_path / "predictions.csv"
    summary = predict_split(CountingModel(), split, out, key=key_for(split), limit=3)
    assert summary.studies == 3
    assert read_predictions(out).study_ids == split.studies[:3]


class FixedOutput:
    def __init__(self, output):
        self.output = output
        self.batch_size = 4

    def predict_images(self, images):
        return self.output(len(images))


@pytest.mark.parametrize(
    "output, message",
    [
        (lambda n: np.full(n, np.nan), "NaN or infinite"),
        (lambda n: np.full(n, np.inf), "NaN or infinite"),
        (lambda n: np.full(n, 1.5), "not a probability in [0, 1]"),
        (lambda n: np.full(n, -0.1), "not a probability in [0, 1]"),
        (lambda n: np.full((n, 1), 0.5), "expected ("),
        (lambda n: np.full(n + 1, 0.5), "expected ("),
        (lambda n: ["high"] * n, "not numeric"),
    ],
)
def test_invalid_outputs_are_errors_naming_the_image(split, tmp_path, output, message):
    first_image = split.images[split.studies[0]][0]
    with pytest.raises(ModelOutputError) as err:
        predict_split(FixedOutput(output), split, tmp_path / "p.csv", key=key_for(split))
    text = str(err.value)
    assert message in text and first_image in text and "test-model" in text
    assert isinstance(err.value, InputError)


def test_check_probabilities_names_only_the_bad_images():
    paths = [
        "MURA-v1.1/valid/XR_HAND/patient1/study1_negative/image1.png",
        "MURA-v1.1/valid/XR_HAND/patient1/study1_negative/image2.png",
    ]
    with pytest.raises(ModelOutputError) as err:
        check_probabilities([0.2, float("nan")], paths, model="m")
    assert paths[1] in str(err.value) and paths[0] not in str(err.value)
    assert check_probabilities(np.float32([0.0, 1.0]), paths, model="m").dtype == np.float64


class StudyModel:
    def __init__(self, value=0.7):
        self.value = value
        self.study_calls = 0

    def predict_images(self, images):  # pragma: no cover - must not be used
        raise AssertionError("predict_study should be preferred")

    def predict_study(self, images):
        self.study_calls += 1
        return self.value / len(images)


def test_predict_study_is_used_and_written_to_every_image(split, tmp_path):
    out = tmp_path / "p.csv"
    model = StudyModel()
    predict_split(model, split, out, key=key_for(split))
    assert model.study_calls == len(split.studies)
    preds = read_predictions(out)
    expected = [0.7 / len(split.images[s]) for s in preds.study_ids]
    np.testing.assert_allclose(preds.probabilities, expected)


def test_predict_study_out_of_range_names_the_study(split, tmp_path):
    with pytest.raises(ModelOutputError) as err:
        predict_split(StudyModel(value=10.0), split, tmp_path / "p.csv", key=key_for(split))
    assert split.studies[0] in str(err.value)


def test_missing_image_file_is_an_input_error(split, tmp_path):
    victim = split.images[split.studies[1]][0]
    (split.root / victim).unlink()
    with pytest.raises(InputError, match="image file not found") as err:
        predict_split(CountingModel(), split, tmp_path / "p.csv", key=key_for(split))
    assert victim in str(err.value)


def test_builtin_models_on_the_synthetic_split(split, tmp_path):
    out = tmp_path / "p.csv"
    predict_split(image_statistics(), split, out, key=key_for(split))
    preds = read_predictions(out)
    assert preds.study_ids == split.studies
    accuracy = ((preds.probabilities > 0.5) == split.labels.astype(bool)).mean()
    assert accuracy >= 0.85, accuracy  # hardware-bearing abnormal images are near-white
    predict_split(constant_prior(p="0.25"), split, out, key=key_for(split, p="0.25"))
    assert (read_predictions(out).probabilities == 0.25).all()


# --- parallel decoding ---------------------------------------------------------------------------


class MeanStudyModel:
    """predict_study: the mean intensity of the study's images."""

    def predict_study(self, images):
        return float(np.mean([np.asarray(image).mean() for image in images])) / 255.0


@pytest.mark.parametrize("make_model", [lambda: CountingModel(batch_size=4), MeanStudyModel])
def test_decoding_threads_change_nothing_in_the_output(split, tmp_path, make_model):
    outputs = []
    for workers in (1, 2, 7):
        out = tmp_path / f"w{workers}.csv"
        model = make_model()
        predict_split(model, split, out, key=key_for(split), decode_workers=workers)
        outputs.append(out.read_bytes())
        if isinstance(model, CountingModel):  # the model still sees every image once, in split order
            assert model.seen == [
                split.image_file(image).as_posix() for s in split.studies for image in split.images[s]
            ]
    assert outputs[0] == outputs[1] == outputs[2]


def test_an_unreadable_image_stops_a_threaded_run_with_its_name_and_keeps_finished_studies(split, tmp_path):
    bad_study = split.studies[12]
    bad = split.image_file(split.images[bad_study][0])
    bad.write_bytes(b"not a png")
    out = tmp_path / "predictions.csv"
    with pytest.raises(InputError, match="cannot read image") as info:
        predict_split(CountingModel(batch_size=2), split, out, key=key_for(split), decode_workers=4)
    assert str(bad) in str(info.value)
    assert not out.exists()
    cached = read_partial(partial_path(out), key_for(split), split)
    assert bad_study not in cached and set(split.studies[:10]) <= set(cached)


def test_decode_workers_must_be_positive(split, tmp_path):
    with pytest.raises(InputError, match="decode workers"):
        predict_split(CountingModel(), split, tmp_path / "p.csv", key=key_for(split), decode_workers=0)
