"""The entry-point registry and the built-in models, with throw-away plugin distributions."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from helpers import PLUGIN_MODULES, install_plugin, install_test_plugins
from mura_bench.errors import InputError
from mura_bench.models.builtin import (
    TRAIN_ABNORMAL_FRACTION,
    ConstantPrior,
    ImageStatistics,
    constant_prior,
    image_statistics,
)
from mura_bench.models.registry import PluginError, available_models, load_model, model_names, parse_options


@pytest.fixture()
def plugins(tmp_path, monkeypatch):
    site = install_test_plugins(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in PLUGIN_MODULES:
        sys.modules.pop(module, None)


def test_listing_finds_builtins_and_plugins_without_importing_them(plugins):
    infos = {info.name: info for info in available_models()}
    assert {"constant-prior", "image-statistics", "brightness", "raises-on-import"} <= set(infos)
    good = infos["brightness"]
    assert (good.value, good.package, good.version) == ("good_plugin_mod:make", "good-plugin", "1.2.3")
    assert good.description is None and good.error is None
    assert "good_plugin_mod" not in sys.modules and "broken_import_mod" not in sys.modules
    assert model_names() == sorted(infos)


def test_describing_reports_a_broken_import_and_keeps_the_others(plugins):
    infos = {info.name: info for info in available_models(describe=True)}
    assert infos["brightness"].description == "Mean brightness times a gain, as a probability."
    assert infos["brightness"].error is None
    assert "RuntimeError: cannot find my weights" in infos["raises-on-import"].error
    assert infos["constant-prior"].description.startswith("Constant probability p")


def test_load_model_passes_options_as_strings(plugins):
    model = load_model("brightness", {"gain": "2.5"})
    assert model.gain == 2.5 and model.batch_size == 4


@pytest.mark.parametrize(
    "name, fragments",
    [
        (
            "raises-on-import",
            [
                "'raises-on-import'",
                "broken-plugin 0.1",
                "broken_import_mod:make",
                "failed to import",
                "RuntimeError: cannot find my weights",
            ],
        ),
        ("raises-in-factory", ["'raises-in-factory'", "could not be created", "ValueError: boom"]),
        ("returns-no-model", ["returned int", "no predict_images"]),
    ],
)
def test_broken_plugins_are_plugin_errors_naming_model_and_cause(plugins, name, fragments):
    with pytest.raises(PluginError) as err:
        load_model(name)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_input_error_from_a_factory_passes_through(plugins):
    with pytest.raises(InputError, match="size='9' is too large"):
        load_model("strict-options", {"size": "9"})


def test_unknown_option_lists_the_accepted_ones(plugins):
    with pytest.raises(PluginError) as err:
        load_model("brightness", {"gian": "2"})
    assert "no option 'gian'" in str(err.value) and "its options: gain" in str(err.value)


def test_unknown_model_gets_a_did_you_mean(plugins):
    with pytest.raises(PluginError) as err:
        load_model("image-statistic")
    assert "unknown model 'image-statistic'" in str(err.value)
    assert "did you mean image-statistics?" in str(err.value)
    with pytest.raises(PluginError) as err:
        load_model("zzzz")
    assert "did you mean" not in str(err.value) and "brightness" in str(err.value)


def test_duplicate_names_across_distributions_are_reported(tmp_path, monkeypatch):
    site = tmp_path / "site"
    model = "def make():\n    return None\n"
    install_plugin(site, "dist-a", "1.0", {"dup_a": model}, {"twin": "dup_a:make"})
    install_plugin(site, "dist-b", "2.0", {"dup_b": model}, {"twin": "dup_b:make"})
    monkeypatch.syspath_prepend(str(site))
    twins = [info for info in available_models() if info.name == "twin"]
    assert sorted(t.duplicates for t in twins) == [("dist-a 1.0",), ("dist-b 2.0",)]
    with pytest.raises(PluginError) as err:
        load_model("twin")
    assert "several distributions" in str(err.value)
    assert "dist-a 1.0 (dup_a:make)" in str(err.value) and "dist-b 2.0 (dup_b:make)" in str(err.value)


def test_parse_options():
    assert parse_options(["p=0.3", "path=a=b", "empty="]) == {"p": "0.3", "path": "a=b", "empty": ""}
    for bad in (["p"], ["=3"], ["p=1", "p=2"]):
        with pytest.raises(InputError):
            parse_options(bad)


# ---------------------------------------------------------------------------------------------
# Built-in models
# ---------------------------------------------------------------------------------------------


def test_builtins_load_through_the_registry():
    assert isinstance(load_model("constant-prior"), ConstantPrior)
    assert isinstance(load_model("image-statistics", {"statistic": "quantile"}), ImageStatistics)


def test_constant_prior():
    assert TRAIN_ABNORMAL_FRACTION == round(5177 / 13457, 4) == 0.3847
    images = [Image.new("L", (8, 8))] * 3
    assert constant_prior().predict_images(images).tolist() == [0.3847] * 3
    assert constant_prior(p="1").predict_images(images[:1]).tolist() == [1.0]
    for bad in ("1.5", "-0.1", "nan", "high"):
        with pytest.raises(InputError, match="option p="):
            constant_prior(p=bad)


def _image(values: np.ndarray) -> Image.Image:
    """uint8 (h, w) -> mode L, uint16 -> I;16, uint8 (h, w, 3) -> RGB."""
    return Image.fromarray(values)


def test_image_statistics_separates_bright_hardware():
    rng = np.random.default_rng(0)
    normal = rng.integers(0, 220, (64, 64)).astype(np.uint8)
    hardware = normal.copy()
    hardware[10:14, 10:20] = 250  # 40 of 4096 pixels near-white
    model = image_statistics()
    p_normal, p_hardware = model.predict_images([_image(normal), _image(hardware)])
    assert p_normal < 0.1 and p_hardware > 0.99
    assert model.statistics([_image(hardware)])[0] == pytest.approx(40 / 4096)
    # the same pictures in 16 bits and in RGB give the same statistic
    wide = _image(hardware.astype(np.uint16) * 257)
    rgb = _image(np.repeat(hardware[:, :, None], 3, axis=2))
    assert (wide.mode, rgb.mode) == ("I;16", "RGB")
    assert model.statistics([wide, rgb]).tolist() == pytest.approx([40 / 4096] * 2)


def test_image_statistics_quantile_and_options():
    flat = _image(np.full((16, 16), 204, dtype=np.uint8))  # 0.8 of full scale
    model = image_statistics(statistic="quantile", center="0.8", scale="0.1")
    assert model.predict_images([flat])[0] == pytest.approx(0.5)
    assert image_statistics(threshold="0.7").predict_images([flat])[0] > 0.99
    for options, name in (
        ({"statistic": "median"}, "statistic"),
        ({"scale": "0"}, "scale"),
        ({"threshold": "0"}, "threshold"),
        ({"quantile": "2"}, "quantile"),
        ({"center": "x"}, "center"),
    ):
        with pytest.raises(InputError, match=f"option {name}="):
            image_statistics(**options)
