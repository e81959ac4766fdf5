"""What the tests share: the optional real-MURA reference folder, synthetic inputs, a reader-study
case, leaderboard entries, throw-away plugin distributions and the external tools some tests run.

Test modules import from here (``from helpers import ...``), never from each other; pytest fixtures
live in ``conftest.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import reference_impl as ref
from mura_bench.data.layout import BODY_PARTS
from mura_bench.synth import synth_panel

REPO = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------------------------
# The real MURA reference files (read-only, never copied into the project; absent in most checkouts)
# ---------------------------------------------------------------------------------------------

#: Where the reference files are: ``$MURA_REFERENCE_DIR``, else ``shared/reference`` beside the checkout.
REFERENCE_DIR = Path(os.environ.get("MURA_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
#: The file most reference tests read; its presence stands for the MURA v1.1 CSVs.
MURA_CSV = "mura-v1.1/valid_labeled_studies.csv"


def needs_reference(*files: str) -> pytest.MarkDecorator:
    """Mark for a test that checks the code against the named reference files (paths relative to
    :data:`REFERENCE_DIR`; default :data:`MURA_CSV`): it is skipped when any of them is absent."""
    missing = [f for f in files or (MURA_CSV,) if not (REFERENCE_DIR / f).is_file()]
    return pytest.mark.skipif(bool(missing), reason=f"reference file(s) {', '.join(missing)} not in {REFERENCE_DIR}")


# ---------------------------------------------------------------------------------------------
# Synthetic MURA-layout inputs (no MURA data)
# ---------------------------------------------------------------------------------------------


def study_id(i: int, *, split: str = "valid", label: int | None = None) -> str:
    """A normalised study id; body part cycles with ``i``; the folder suffix follows ``label``."""
    part = BODY_PARTS[i % len(BODY_PARTS)].upper()
    label = i % 2 if label is None else label
    suffix = "positive" if label else "negative"
    return f"MURA-v1.1/{split}/XR_{part}/patient{10000 + i}/study1_{suffix}/"


def study_ids(n: int, *, split: str = "valid") -> list[str]:
    return [study_id(i, split=split) for i in range(n)]


def write(tmp_path: Path, text: str | bytes, name: str = "input.csv") -> Path:
    """Write ``text`` (exact bytes; no newline translation) and return the path."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def csv_text(rows: list[tuple], header: tuple | None = None) -> str:
    lines = [",".join(str(f) for f in header)] if header else []
    lines += [",".join(str(f) for f in row) for row in rows]
    return "\n".join(lines) + "\n"


def write_submission(submissions: Path, predictions: Path, slug: str = "entry") -> Path:
    """A minimal re-scored leaderboard entry ``submissions/<slug>/`` holding a copy of ``predictions``."""
    folder = submissions / slug
    folder.mkdir(parents=True)
    (folder / "submission.toml").write_text('name = "E"\nteam = "T"\ndate = 2026-01-01\nreported = false\n')
    (folder / "predictions.csv").write_bytes(Path(predictions).read_bytes())
    return folder


# ---------------------------------------------------------------------------------------------
# A reader-study case and the CLI
# ---------------------------------------------------------------------------------------------


def write_case(tmp_path, n_per_part=9, n_readers=6, seed=0, with_label=True):
    """Write a random reader study into ``tmp_path``: ``panel.csv`` (readers r1..rN, optionally a
    label column), ``preds.csv`` (probabilities) and ``labels.csv`` (the official two-column
    format), rows shuffled. Returns ``(sorted study ids, panel, model labels, truth)`` as dicts
    by study id."""
    rng = np.random.default_rng(seed)
    studies, truth, panel, probs = [], {}, {}, {}
    pid = 100
    for part in ref.PARTS:
        for _ in range(n_per_part):
            pid += 1
            y = int(rng.random() < 0.45)
            s = f"MURA-v1.1/valid/XR_{part.upper()}/patient{pid}/study1_{'positive' if y else 'negative'}/"
            studies.append(s)
            truth[s] = y
            acc = rng.uniform(0.7, 0.95)
            panel[s] = [y if rng.random() < acc else 1 - y for _ in range(n_readers)]
            probs[s] = float(np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25), 0, 1))
            if rng.random() < 0.05:
                probs[s] = 0.5  # boundary: normal
    order = rng.permutation(len(studies))  # file order must not matter
    names = [f"r{i + 1}" for i in range(n_readers)]
    header = "study," + ",".join(names) + (",label" if with_label else "")
    lines = [header] + [
        ",".join([studies[i], *map(str, panel[studies[i]])] + ([str(truth[studies[i]])] if with_label else []))
        for i in order
    ]
    (tmp_path / "panel.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "preds.csv").write_text(
        "study,probability\n" + "".join(f"{studies[i]},{probs[studies[i]]!r}\n" for i in order)
    )
    (tmp_path / "labels.csv").write_text("".join(f"{s},{truth[s]}\n" for s in studies))
    model = {s: int(p > 0.5) for s, p in probs.items()}
    return sorted(studies), panel, model, truth


def run(*args, env=None) -> subprocess.CompletedProcess:
    """``python -m mura_bench ARGS`` in a subprocess (text output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "mura_bench", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


# ---------------------------------------------------------------------------------------------
# Leaderboard entries
# ---------------------------------------------------------------------------------------------

#: Studies of the truth panel :func:`write_truth` writes by default.
BOARD_STUDIES = 140
HOSTILE_NAME = '<script>window.__pwned = 1</script>Evil "model"'
HOSTILE_DESCRIPTION = '<img src=x onerror="window.__pwned = 2"> & friends'
HOSTILE_URL = "javascript:window.__pwned=3"


def write_truth(folder: Path, studies: int = BOARD_STUDIES) -> tuple[Path, list[str], np.ndarray]:
    panel = synth_panel(studies, readers=6, seed=3)
    lines = [",".join(["study", *panel.reader_names, "label"])]
    lines += [
        ",".join([s, *(str(int(v)) for v in r), str(int(lab))])
        for s, r, lab in zip(panel.study_ids, panel.readers, panel.labels)
    ]
    path = folder / "panel.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, panel.study_ids, panel.labels


def write_entry(root: Path, slug: str, toml: str, rows: list[str] | None) -> None:
    folder = root / slug
    folder.mkdir(parents=True)
    (folder / "submission.toml").write_text(toml, encoding="utf-8")
    if rows is not None:
        (folder / "predictions.csv").write_text("\n".join(rows) + "\n")


def model_rows(studies: list[str], labels: np.ndarray, separation: float, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    p = 1 / (1 + np.exp(-(separation * (2 * labels - 1) + rng.normal(0, 1, len(labels)))))
    return ["study,probability"] + [f"{s},{v:.4f}" for s, v in zip(studies, p)]


def make_submissions(root: Path, studies: list[str], labels: np.ndarray) -> Path:
    subs = root / "submissions"
    write_entry(subs, "strong", 'name = "Strong"\nreported = false\nteam = "A"\n', model_rows(studies, labels, 2.5, 1))
    write_entry(subs, "weak", 'name = "Weak"\nreported = false\n', model_rows(studies, labels, 0.5, 2))
    write_entry(
        subs, "zero-one", 'name = "Zero one"\nreported = false\n', [f"{s},{int(v)}" for s, v in zip(studies, labels)]
    )
    toml = (
        f"name = {json.dumps(HOSTILE_NAME)}\nreported = false\n"
        f"description = {json.dumps(HOSTILE_DESCRIPTION)}\nurl = {json.dumps(HOSTILE_URL)}\n"
        f'team = "</td><script>window.__pwned = 4</script>"\n'
    )
    write_entry(subs, "hostile", toml, model_rows(studies, labels, 1.0, 3))
    broken = model_rows(studies, labels, 1.0, 4)
    broken[5] = broken[5].rsplit(",", 1)[0] + ",1.5"
    write_entry(subs, "broken", 'name = "Broken"\nreported = false\n', broken)
    write_entry(subs, "partial", 'name = "Partial"\nreported = false\n', model_rows(studies, labels, 1, 5)[:-10])
    write_entry(subs, "no-toml-fields", "reported = false\n", model_rows(studies, labels, 1, 6))
    write_entry(
        subs,
        "paper",
        """name = "A <i>paper</i>"
reported = true
[source]
citation = "Someone <script>1</script>"
test_set = "another set"
metric = "kappa"
[[results]]
label = "Model"
[results.kappa]
overall = { value = 0.7, ci = [0.6, 0.8] }
[[results]]
label = "Run that failed"
kind = "run"
status = "failed"
""",
        None,
    )
    return subs


REPORTED_TOML = """name = "Paper"
reported = true
[source]
citation = "Someone 2017"
test_set = "a test set"
metric = "f1"
[[results]]
label = "Model"
kind = "model"
[results.f1]
overall = { value = 0.8, ci = [0.7, 0.9] }
elbow = { value = 0.5 }
"""


# ---------------------------------------------------------------------------------------------
# Throw-away plugin distributions
# ---------------------------------------------------------------------------------------------

GOOD_PLUGIN = '''
"""A plugin used by the tests."""
import numpy as np


class Brightness:
    batch_size = 4

    def __init__(self, gain):
        self.gain = gain

    def predict_images(self, images):
        return [min(1.0, self.gain * float(np.asarray(im).mean()) / 255.0) for im in images]


def make(gain="1.0"):
    """Mean brightness times a gain, as a probability."""
    return Brightness(float(gain))
'''


def install_plugin(site: Path, dist: str, version: str, modules: dict[str, str], entry_points: dict[str, str]) -> Path:
    """Install a distribution by hand into ``site``: its modules and a ``*.dist-info`` folder with
    METADATA and ``entry_points.txt`` registering ``entry_points`` in ``mura_bench.models``."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\nSummary: test plugin\n")
    (info / "entry_points.txt").write_text(
        "[mura_bench.models]\n" + "".join(f"{n} = {v}\n" for n, v in entry_points.items())
    )
    return site


def install_test_plugins(site: Path) -> Path:
    """The plugins the registry and CLI tests use: one good model and four broken ones."""
    install_plugin(
        site, "good-plugin", "1.2.3", {"good_plugin_mod": GOOD_PLUGIN}, {"brightness": "good_plugin_mod:make"}
    )
    install_plugin(
        site,
        "broken-plugin",
        "0.1",
        {
            "broken_import_mod": "raise RuntimeError('cannot find my weights')\n",
            "broken_factory_mod": """
            from mura_bench.errors import InputError


            def explode(**options):
                raise ValueError("boom")


            def not_a_model():
                return 42


            def strict(size="3"):
                raise InputError(f"option size={size!r} is too large", source="--option")
        """,
        },
        {
            "raises-on-import": "broken_import_mod:make",
            "raises-in-factory": "broken_factory_mod:explode",
            "returns-no-model": "broken_factory_mod:not_a_model",
            "strict-options": "broken_factory_mod:strict",
        },
    )
    return site


PLUGIN_MODULES = ("good_plugin_mod", "broken_import_mod", "broken_factory_mod", "dup_a", "dup_b")


# ---------------------------------------------------------------------------------------------
# External tools
# ---------------------------------------------------------------------------------------------


def check_workflow(path: Path) -> subprocess.CompletedProcess:
    """check-jsonschema's GitHub-workflow schema on ``path``."""
    exe = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(exe), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


#: Headless Chromium (Debian's package, or ``$CHROMIUM_PATH``) and the arguments the browser tests use.
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def pty_output(args, columns, rows=60, timeout=120):
    """Run ``python -m mura_bench ARGS`` on a real pseudo-terminal of ``columns`` x ``rows``;
    return its exit code and everything it wrote, as the terminal received it."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mura_bench", *map(str, args)],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=timeout)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def run_in_pty(args, columns, rows=60):
    """:func:`pty_output` without colour codes and carriage returns."""
    code, raw = pty_output(args, columns, rows)
    return code, ANSI.sub("", raw).replace("\r", "")
