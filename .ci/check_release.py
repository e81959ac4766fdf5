#!/usr/bin/env python3
"""Check mura-bench as released: build, install, use away from the source tree.

``wheel`` (tox env ``wheel``): build the sdist and the wheel, ``twine check --strict`` both, install
the wheel (not editable) into a fresh virtual environment, and from an empty folder run ``demo``,
``synth``, ``run``, ``score``, ``analyze``, ``leaderboard build`` and ``medperf evaluate`` with the
installed command; the JSON results are validated against the schemas as installed.

``sdist`` (tox env ``py312-sdist``): build the sdist, unpack it into an empty folder, install it
(not editable) into the running environment with its ``test`` extra, and run pytest there with the
remaining arguments.

Every step is printed before it runs; the first failure stops the check with its exit code.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def step(*argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    print(f"+ {shlex.join(map(str, argv))}" + (f"   (in {cwd})" if cwd else ""), flush=True)
    code = subprocess.call([str(a) for a in argv], cwd=cwd, env=env)
    if code:
        sys.exit(code)


def build(dist: Path, *kinds: str) -> list[Path]:
    step(sys.executable, "-m", "build", *kinds, "--outdir", dist, REPO)
    return sorted(dist.iterdir())


def check_wheel(work: Path) -> None:
    artifacts = build(work / "dist", "--sdist", "--wheel")
    step(sys.executable, "-m", "twine", "check", "--strict", *artifacts)
    wheel = next(p for p in artifacts if p.suffix == ".whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    step(bin_dir / "python", "-m", "pip", "install", "-q", wheel)
    here = work / "empty"
    here.mkdir()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(work / "home"),
        "MPLBACKEND": "Agg",
    }
    env.pop("PYTHONPATH", None)
    mb = bin_dir / "mura-bench"
    step(
        bin_dir / "python",
        "-c",
        "import mura_bench, sys; assert 'site-packages' in mura_bench.__file__, "
        "mura_bench.__file__; print('mura_bench', mura_bench.__version__, 'from', mura_bench.__file__)",
        cwd=here,
        env=env,
    )
    step(mb, "--version", cwd=here, env=env)
    step(mb, "demo", cwd=here, env=env)
    step(mb, "synth", "--out", "data", "--studies", "70", "--seed", "1", cwd=here, env=env)
    truth = "data/MURA-v1.1/valid_panel.csv"
    step(
        mb,
        "run",
        "image-statistics",
        "--data",
        "data",
        "--split",
        "valid",
        "--out",
        "predictions.csv",
        cwd=here,
        env=env,
    )
    step(
        mb,
        "score",
        "predictions.csv",
        "--truth",
        truth,
        "--bootstrap",
        "500",
        "--output",
        "json",
        "--out",
        "score.json",
        cwd=here,
        env=env,
    )
    step(
        mb,
        "analyze",
        "predictions.csv",
        "--truth",
        truth,
        "--bootstrap",
        "500",
        "--output",
        "json",
        "--out",
        "analysis.json",
        cwd=here,
        env=env,
    )
    entry = here / "submissions" / "image-statistics"
    entry.mkdir(parents=True)
    shutil.copy(here / "predictions.csv", entry / "predictions.csv")
    (entry / "submission.toml").write_text(
        'name = "Image statistics"\nteam = "mura-bench"\n'
        'description = "Built-in plugin"\ndate = 2026-01-01\nreported = false\n',
        encoding="utf-8",
    )
    step(
        mb,
        "leaderboard",
        "build",
        "submissions",
        "--truth",
        truth,
        "--out",
        "site",
        "--bootstrap",
        "200",
        "--strict",
        "--quiet",
        cwd=here,
        env=env,
    )
    for folder, source in (("preds", "predictions.csv"), ("labels", truth)):
        (here / folder).mkdir()
        shutil.copy(here / source, here / folder / Path(source).name)
    (here / "parameters.yaml").write_text("bootstrap: 200\nseed: 0\n", encoding="utf-8")
    step(
        mb,
        "medperf",
        "evaluate",
        "--predictions",
        "preds",
        "--labels",
        "labels",
        "--parameters-file",
        "parameters.yaml",
        "--output-path",
        "results.yaml",
        cwd=here,
        env=env,
    )
    for name, produced in (("score-v1.json", "score.json"), ("analysis-v1.json", "analysis.json")):
        schema = subprocess.check_output(
            [
                bin_dir / "python",
                "-c",
                f"from importlib.resources import files; print(files('mura_bench') / 'schemas' / '{name}')",
            ],
            text=True,
            env=env,
            cwd=here,
        ).strip()
        if "site-packages" not in schema:
            sys.exit(f"release check: {name} was read from {schema}, not from the installed wheel")
        step(sys.executable, "-m", "check_jsonschema", "--schemafile", schema, here / produced)
    for produced in ("site/index.html", "results.yaml"):
        if not (here / produced).is_file():
            sys.exit(f"release check: {produced} was not written")
    print("release check: the wheel installs and works from an empty folder", flush=True)


def check_sdist(work: Path, pytest_args: list[str]) -> None:
    (sdist,) = build(work / "dist", "--sdist")
    unpacked = work / "src"
    with tarfile.open(sdist) as tar:
        if sys.version_info >= (3, 12):
            tar.extractall(unpacked, filter="data")
        else:
            tar.extractall(unpacked)  # noqa: S202 - our own archive, just built
    (root,) = unpacked.iterdir()
    step(sys.executable, "-m", "pip", "install", "-q", f"{root}[test]")
    step(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args, cwd=root)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("wheel", "sdist"):
        sys.exit("usage: check_release.py wheel | sdist [PYTEST ARGS...]")
    with tempfile.TemporaryDirectory(prefix="mura-bench-release-") as tmp:
        if argv[0] == "wheel":
            check_wheel(Path(tmp))
        else:
            check_sdist(Path(tmp), argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
