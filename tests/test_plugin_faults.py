"""Plugins are someone else's code: whatever a model does (raises, calls sys.exit, returns
complex/NaN/text/wrong-shaped outputs, declares a nonsense batch_size) is one message naming the
model and what it did, exit code 2, and no output file; never a silent exit 0 or "internal error"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mura_bench.cli.main import cli
from mura_bench.models import registry
from mura_bench.io.outputs import Terminated
from mura_bench.models.guard import PluginError, batch_size_of, plugin_code
from helpers import install_plugin

FAULTY = '''
import math
import sys

import numpy as np


class Stop(BaseException):
    """Not an Exception: a BaseException subclass of the plugin's own."""


class Model:
    def __init__(self, output=None, error=None, batch_size=None):
        self.output, self.error = output, error
        if batch_size is not None:
            self.batch_size = batch_size

    def predict_images(self, images):
        if self.error is not None:
            raise self.error
        return self.output(len(images))


def _model(output=None, error=None, batch_size=None):
    return lambda **options: Model(output, error, batch_size)


class Exits:
    def __init__(self, code):
        self.code = code

    def predict_images(self, images):
        sys.exit(self.code)


class StudyExits:
    def predict_images(self, images):
        return [0.5] * len(images)

    def predict_study(self, images):
        sys.exit(0)


class BadArray:
    def __array__(self, dtype=None, copy=None):
        sys.exit(0)


class RaisingBatchSize:
    @property
    def batch_size(self):
        raise RuntimeError("no batch size today")

    def predict_images(self, images):
        return [0.5] * len(images)


def f_oserror():
    raise OSError(2, "No such file or directory", "weights.pt")

def f_exit0():
    sys.exit(0)

def f_exit3():
    sys.exit(3)

def f_exit_text():
    sys.exit("goodbye")

def f_base():
    raise Stop("stopped")

def f_generator_exit():
    raise GeneratorExit()

def f_options(batch_size="8"):
    return Model(lambda n: [0.5] * n, batch_size=batch_size)

def r_needs(checkpoint, level="0.5"):
    if checkpoint != "ok.pt":
        raise OSError(2, "No such file", checkpoint)
    return Model(lambda n: [float(level)] * n)

p_raises = _model(error=ValueError("tensor size mismatch"))
p_oserror = _model(error=OSError(28, "No space left on device"))
p_memory = _model(error=MemoryError())
p_base = _model(error=Stop("stop"))
p_exit0 = lambda: Exits(0)
p_exit3 = lambda: Exits(3)
p_study_exit = lambda: StudyExits()
p_array_exit = _model(lambda n: BadArray())
o_complex = _model(lambda n: np.full(n, 0.5 + 0.25j))
o_complex_list = _model(lambda n: [0.5 + 0j] * n)
o_nan = _model(lambda n: [float("nan")] * n)
o_inf = _model(lambda n: np.full(n, np.inf))
o_shape = _model(lambda n: np.full((n, 2), 0.5))
o_scalar = _model(lambda n: 0.5)
o_short = _model(lambda n: [0.5] * (n - 1))
o_text = _model(lambda n: ["0.5"] * n)
o_bool = _model(lambda n: [True] * n)
o_none = _model(lambda n: None)
o_mixed = _model(lambda n: [0.5] * (n - 1) + ["x"])
o_objects = _model(lambda n: [__import__("decimal").Decimal("0.5")] * n)
good_fractions = _model(lambda n: [__import__("fractions").Fraction(1, 3)] * n)
o_huge = _model(lambda n: [10 ** 400] * n)
b_text = _model(lambda n: [0.5] * n, batch_size="eight")
b_nan = _model(lambda n: [0.5] * n, batch_size=float("nan"))
b_zero = _model(lambda n: [0.5] * n, batch_size=0)
b_fraction = _model(lambda n: [0.5] * n, batch_size=2.5)
b_bool = _model(lambda n: [0.5] * n, batch_size=True)
b_property = lambda: RaisingBatchSize()
good = _model(lambda n: np.linspace(0.1, 0.9, n))
good_float32 = _model(lambda n: np.full(n, 0.25, dtype=np.float32))
good_batch_float = _model(lambda n: [0.5] * n, batch_size=4.0)
'''

FACTORIES = {"f_oserror", "f_exit0", "f_exit3", "f_exit_text", "f_base", "f_generator_exit", "f_options", "r_needs"}
MODELS = {
    name: f"faulty_mod:{name}"
    for name in [
        *FACTORIES,
        "p_raises",
        "p_oserror",
        "p_memory",
        "p_base",
        "p_exit0",
        "p_exit3",
        "p_study_exit",
        "p_array_exit",
        "o_complex",
        "o_complex_list",
        "o_nan",
        "o_inf",
        "o_shape",
        "o_scalar",
        "o_short",
        "o_text",
        "o_bool",
        "o_none",
        "o_mixed",
        "o_objects",
        "o_huge",
        "b_text",
        "b_nan",
        "b_zero",
        "b_fraction",
        "b_bool",
        "b_property",
        "good",
        "good_float32",
        "good_batch_float",
        "good_fractions",
    ]
}
MODELS["i_exit"] = "faulty_exit_on_import:make"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return install_plugin(
        tmp_path_factory.mktemp("plugins") / "site",
        "faulty-plugins",
        "0.9",
        {"faulty_mod": FAULTY, "faulty_exit_on_import": "import sys\nsys.exit(0)\n"},
        MODELS,
    )


@pytest.fixture()
def plugins(site, monkeypatch):
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("faulty_mod", "faulty_exit_on_import"):
        sys.modules.pop(module, None)


def run(model: str, data: Path, out: Path, *extra: str):
    return CliRunner().invoke(cli, ["run", model, "--data", str(data), "--out", str(out), "--quiet", *extra])


CASES = [
    ("f_oserror", "could not be created", "FileNotFoundError: [Errno 2] No such file or directory"),
    ("f_exit0", "could not be created", "called sys.exit(0)"),
    ("f_exit3", "could not be created", "called sys.exit(3)"),
    ("f_exit_text", "could not be created", "called sys.exit('goodbye')"),
    ("f_base", "could not be created", "raised Stop: stopped"),
    ("f_generator_exit", "could not be created", "raised GeneratorExit"),
    ("i_exit", "failed to import faulty_exit_on_import:make", "called sys.exit(0)"),
    ("p_raises", "failed in predict_images", "ValueError: tensor size mismatch"),
    ("p_oserror", "failed in predict_images", "OSError: [Errno 28] No space left on device"),
    ("p_memory", "failed in predict_images", "raised MemoryError"),
    ("p_base", "failed in predict_images", "raised Stop: stop"),
    ("p_exit0", "failed in predict_images", "called sys.exit(0)"),
    ("p_exit3", "failed in predict_images", "called sys.exit(3)"),
    ("p_study_exit", "failed in predict_study", "called sys.exit(0)"),
    ("p_array_exit", "cannot be read as numbers", "called sys.exit(0)"),
    ("o_complex", "not numeric", "complex numbers"),
    ("o_complex_list", "not numeric", "complex numbers"),
    ("o_nan", "NaN or infinite", ""),
    ("o_inf", "NaN or infinite", ""),
    ("o_shape", "has shape (", "expected ("),
    ("o_scalar", "has shape ()", "expected ("),
    ("o_short", "has shape (", "expected ("),
    ("o_text", "not numeric", "text"),
    ("o_bool", "not numeric", "booleans"),
    ("o_none", "not numeric", "returned NoneType values"),
    ("o_mixed", "not numeric", "returned text (a list)"),
    ("o_objects", "not numeric", "returned Decimal values (a list)"),
    ("o_huge", "cannot be read as numbers", "OverflowError"),
    ("b_text", "batch_size 'eight'", "positive integer"),
    ("b_nan", "batch_size nan", "positive integer"),
    ("b_zero", "batch_size 0", "positive integer"),
    ("b_fraction", "batch_size 2.5", "positive integer"),
    ("b_bool", "batch_size True", "positive integer"),
    ("b_property", "batch_size was read", "RuntimeError: no batch size today"),
]


@pytest.mark.parametrize("model, what, detail", CASES, ids=[c[0] for c in CASES])
def test_each_fault_is_exit_2_naming_the_model_with_no_output(plugins, data, tmp_path, model, what, detail):
    out = tmp_path / "predictions.csv"
    result = run(model, data, out)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    text = result.output
    assert f"model '{model}'" in text or f"model {model}" in text
    assert what in text and detail in text
    assert "internal error" not in text and "Traceback" not in text
    assert not out.exists()


def test_bad_option_values_reach_the_models_batch_size_check(plugins, data, tmp_path):
    for value in ("eight", "nan", "-3", ""):
        result = run("f_options", data, tmp_path / "p.csv", "--option", f"batch_size={value}")
        assert result.exit_code == 2, result.output
        assert "model 'f_options' has batch_size" in result.output


def test_command_line_batch_size_overrides_a_bad_model_attribute(plugins, data, tmp_path):
    result = run("b_text", data, tmp_path / "p.csv", "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p.csv").is_file()


@pytest.mark.parametrize("model", ["good", "good_float32", "good_batch_float", "good_fractions"])
def test_valid_plugins_still_run(plugins, data, tmp_path, model):
    result = run(model, data, tmp_path / "p.csv")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) > 8


def test_sys_exit_zero_in_a_plugin_is_exit_2_in_a_real_process(site, data, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(site)}
    for model, code in (("p_exit0", 2), ("f_exit0", 2), ("f_exit3", 2), ("good", 0)):
        out = tmp_path / f"{model}.csv"
        proc = subprocess.run(
            [sys.executable, "-m", "mura_bench", "run", model, "--data", str(data), "--out", str(out), "--quiet"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == code, (model, proc.stderr)
        assert out.exists() == (code == 0)
        if code:
            assert f"model '{model}'" in proc.stderr and "sys.exit" in proc.stderr


@pytest.mark.parametrize("signalled", [KeyboardInterrupt(), Terminated(143), Terminated(129)])
def test_a_signal_is_not_swallowed(signalled):
    with pytest.raises(type(signalled)) as raised:
        with plugin_code("m", "failed"):
            raise signalled
    assert raised.value is signalled


def test_a_plugin_calling_sys_exit_with_a_signal_status_is_still_its_fault():
    with pytest.raises(PluginError, match=r"it called sys.exit\(143\)"):
        with plugin_code("m", "failed"):
            sys.exit(143)


def test_batch_size_of_accepts_only_positive_integers():
    class M:
        pass

    model = M()
    assert batch_size_of(model, "m", 16) == 16
    for good, expected in ((8, 8), (8.0, 8), (__import__("numpy").int64(4), 4), (None, 16)):
        model.batch_size = good
        assert batch_size_of(model, "m", 16) == expected
    for bad in ("8", "eight", float("nan"), float("inf"), 0, -1, 2.5, True, [8]):
        model.batch_size = bad
        with pytest.raises(PluginError, match="model 'm' has batch_size"):
            batch_size_of(model, "m", 16)


def _only(monkeypatch, names: set[str]) -> None:
    real = registry.available_models
    monkeypatch.setattr(registry, "available_models", lambda **kw: [i for i in real(**kw) if i.name in names])


@pytest.mark.parametrize(
    "names, code",
    [
        ({"good", "good_float32", "constant-prior", "image-statistics"}, 0),
        ({"good", "o_complex"}, 2),
        ({"good", "f_exit0"}, 2),
        ({"good", "p_exit3"}, 2),
        ({"good", "i_exit"}, 2),
        ({"good", "b_text"}, 2),
    ],
)
def test_models_check_exits_2_when_any_model_fails(plugins, monkeypatch, names, code):
    _only(monkeypatch, names)
    result = CliRunner().invoke(cli, ["models", "--check"])
    assert result.exit_code == code, result.output
    bad = sorted(names - {"good", "good_float32", "constant-prior", "image-statistics"})
    if bad:
        assert f"failed the check: {', '.join(bad)}" in result.output
    plain = CliRunner().invoke(cli, ["models"])  # listing alone is informational
    assert plain.exit_code == 0, plain.output


def test_models_check_does_not_fail_a_model_whose_required_options_were_not_given(plugins, monkeypatch):
    _only(monkeypatch, {"good", "r_needs"})
    result = CliRunner().invoke(cli, ["models", "--check"])
    assert result.exit_code == 0, result.output
    assert "not checked" in result.output and "r_needs:checkpoint=" in result.output
    assert "failed the check" not in result.output


@pytest.mark.parametrize(
    "options, code",
    [
        (["r_needs:checkpoint=ok.pt"], 0),
        (["r_needs:checkpoint=ok.pt", "r_needs:level=0.25"], 0),
        (["r_needs:checkpoint=missing.pt"], 2),  # the factory fails with the option given
        (["r_needs:checkpoint=ok.pt", "r_needs:level=2"], 2),  # probabilities outside [0, 1]
        (["r_needs:checkpoint=ok.pt", "r_needs:colour=red"], 2),  # an option the factory lacks
    ],
)
def test_models_check_with_options_checks_the_model(plugins, monkeypatch, options, code):
    _only(monkeypatch, {"good", "r_needs"})
    args = ["models", "--check"] + [x for o in options for x in ("--option", o)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    assert "not checked" not in result.output
    if code:
        assert "failed the check: r_needs" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--check", "--option", "checkpoint=ok.pt"], "MODEL:key=value"),
        (["--check", "--option", "nobody:checkpoint=ok.pt"], "no registered model named 'nobody'"),
        (["--check", "--option", "r_needs:checkpoint"], "key=value"),
        (["--option", "r_needs:checkpoint=ok.pt"], "only used with --check"),
    ],
)
def test_models_check_option_mistakes_are_exit_2(plugins, monkeypatch, args, message):
    _only(monkeypatch, {"good", "r_needs"})
    result = CliRunner().invoke(cli, ["models", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
