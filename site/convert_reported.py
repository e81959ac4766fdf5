"""Convert the published MURA tables into reported leaderboard entries (run once, by hand).

    python site/convert_reported.py REFERENCE_DIR SUBMISSIONS_DIR      # from the repository root

Writes ``SUBMISSIONS_DIR/<slug>/submission.toml`` for the MURA paper's Table 2 (F1), the paper's
later kappa table and the historical MURA leaderboard, each read from its CSV in ``REFERENCE_DIR``
(see :data:`REFERENCE_TABLES`). The files follow the reported-entry format of
:mod:`mura_bench.leaderboard.reported`, which validates them when the leaderboard is built; the
published tables themselves are not part of the project.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mura_bench.data.layout import GROUPS  # noqa: E402
from mura_bench.leaderboard.reported import Figure, status_of  # noqa: E402

PAPER_V1 = {
    "citation": (
        "P. Rajpurkar, J. Irvin, A. Bagul, D. Ding, T. Duan, H. Mehta, B. Yang, K. Zhu, "
        "D. Laird, R. L. Ball, C. Langlotz, K. Shpanskaya, M. P. Lungren, A. Y. Ng. "
        "MURA Dataset: Towards Radiologist-Level Abnormality Detection in Musculoskeletal "
        "Radiographs. arXiv:1712.06957v1, 2017. Table 2."
    ),
    "url": "https://arxiv.org/abs/1712.06957v1",
}
PROJECT_PAGE = "https://stanfordmlgroup.github.io/competitions/mura/"


def convert_paper_table2(path: str | Path) -> dict:
    """The MURA paper's Table 2 (radiologists vs model F1 per body part) as submission data."""
    rows = _read_csv(path)
    results = []
    for label, prefix, kind in (
        ("Radiologists (mean of 6)", "radiologists", "radiologists"),
        ("Model (DenseNet-169)", "model", "model"),
    ):
        results.append(
            {
                "label": label,
                "kind": kind,
                "status": "scored",
                "f1": {
                    _group(r["study_type"]): _cell(r[f"{prefix}_f1"], r[f"{prefix}_lo"], r[f"{prefix}_hi"])
                    for r in rows
                },
            }
        )
    return {
        "name": "MURA paper (v1), Table 2: radiologists vs model, F1",
        "team": "Stanford ML Group",
        "reported": True,
        "url": PAPER_V1["url"],
        "description": (
            "F1 of the DenseNet-169 model and of the average radiologist per body part, "
            "as published; each of 6 radiologists and the model scored against the "
            "majority of the other radiologists (leave-one-out), 95% bootstrap CIs."
        ),
        "source": {
            "citation": PAPER_V1["citation"],
            "url": PAPER_V1["url"],
            "file": Path(path).name,
            "test_set": "MURA test set (6 board-certified radiologists per study; leave-one-out majority)",
            "metric": "f1",
            "interval": "95% bootstrap confidence interval",
        },
        "results": results,
    }


def convert_paper_kappa(path: str | Path) -> dict:
    """The later paper version's κ table (radiologists 1-3 and the model) as submission data."""
    rows = _read_csv(path)
    results = []
    for label, prefix, kind in (
        ("Radiologist 1", "rad1", "reader"),
        ("Radiologist 2", "rad2", "reader"),
        ("Radiologist 3", "rad3", "reader"),
        ("Model (DenseNet-169)", "model", "model"),
    ):
        results.append(
            {
                "label": label,
                "kind": kind,
                "status": "scored",
                "kappa": {
                    _group(r["study_type"]): _cell(r[f"{prefix}_kappa"], r[f"{prefix}_lo"], r[f"{prefix}_hi"])
                    for r in rows
                },
            }
        )
    return {
        "name": "MURA paper (later version): radiologists vs model, Cohen's kappa",
        "team": "Stanford ML Group",
        "reported": True,
        "url": PROJECT_PAGE,
        "description": (
            "Cohen's kappa of three radiologists and the model per body part on the "
            "207-study test set, against a gold standard of three other radiologists, "
            "as published with the paper's later version and on the MURA project page."
        ),
        "source": {
            "citation": (
                "P. Rajpurkar, J. Irvin, et al. MURA: Large Dataset for Abnormality "
                "Detection in Musculoskeletal Radiographs. arXiv:1712.06957 (later "
                "version); kappa table as shown on the MURA project page."
            ),
            "url": PROJECT_PAGE,
            "file": Path(path).name,
            "test_set": "MURA test set, 207 studies (gold standard: majority of 3 radiologists)",
            "metric": "kappa",
            "interval": "95% confidence interval, as published",
        },
        "results": results,
    }


def convert_leaderboard(path: str | Path) -> dict:
    """All runs of the historical MURA leaderboard (per-body-part κ, official intervals)."""
    rows = _read_csv(path)
    results = []
    for r in rows:
        figures = {}
        for group in GROUPS:
            mean = r[f"{group}_mean"]
            if mean.strip():
                figures[group] = _cell(mean, r[f"{group}_lower"], r[f"{group}_upper"])
        entry = {
            "label": r["description"].strip() or "(no description)",
            "kind": "run",
            "team": r["user"].strip(),
            "date": r["submitted"].strip(),
            "run": r["predictions_bundle"].strip(),
        }
        if figures:
            entry["kappa"] = figures
        entry["status"] = status_of({"kappa": {g: Figure(c["value"], None) for g, c in figures.items()}})
        results.append(entry)
    return {
        "name": "MURA leaderboard (historical, hidden test set), Cohen's kappa",
        "team": "Stanford ML Group (leaderboard data)",
        "reported": True,
        "url": PROJECT_PAGE,
        "date": "2019-03-26",
        "description": (
            f"All {len(results)} runs of the official MURA leaderboard as of 2019-03-26, "
            "with per-body-part kappa on the hidden test set. Runs without a score "
            "are marked failed; runs with a kappa below 0 (worse than chance) are "
            "marked as such."
        ),
        "source": {
            "citation": "MURA leaderboard, Stanford ML Group; data updated 2019-03-26.",
            "url": PROJECT_PAGE,
            "file": Path(path).name,
            "test_set": "MURA hidden test set (207 studies; truth: majority of 3 radiologists)",
            "metric": "kappa",
            "interval": "official interval: kappa +/- 1.96 se",
            "note": (
                "The official scorer's standard error omits the square root "
                "(se = p_o(1-p_o) / (n (1-p_e)^2)), so these intervals are about ten "
                "times too narrow; they are shown as published."
            ),
        },
        "results": results,
    }


REFERENCE_TABLES = {
    "reported-paper-v1-table2": ("paper-v1-table2-f1.csv", convert_paper_table2),
    "reported-paper-kappa": ("paper-kappa-table.csv", convert_paper_kappa),
    "reported-mura-leaderboard": ("mura-leaderboard-test-kappa.csv", convert_leaderboard),
}


def convert_reference(reference_dir: str | Path, submissions_dir: str | Path) -> list[Path]:
    """Write ``<slug>/submission.toml`` for each published table found in ``reference_dir``.
    Every table is converted and checked (:func:`check_figures`) before anything is written."""
    converted = []
    for slug, (name, convert) in REFERENCE_TABLES.items():
        source = Path(reference_dir) / name
        data = convert(source)
        check_figures(data, source)
        converted.append((Path(submissions_dir) / slug / "submission.toml", dump_toml(data)))
    for target, text in converted:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return [target for target, _ in converted]


def check_figures(data: dict, source: str | Path) -> None:
    """Refuse (ValueError naming the file and the key) a published value outside its metric's range
    (kappa [-1, 1], every other metric [0, 1]) or outside its own interval."""
    for i, row in enumerate(data.get("results", [])):
        for metric, cells in row.items():
            if not isinstance(cells, dict):
                continue
            low, high = (-1.0, 1.0) if metric == "kappa" else (0.0, 1.0)
            for group, cell in cells.items():
                key = f"results[{i}] ({row.get('label', '')}) {metric}.{group}"
                value, (lo, hi) = cell["value"], cell["ci"]
                if not low <= value <= high:
                    raise ValueError(f"{Path(source).name}: {key}: value {value!r} is outside [{low:g}, {high:g}]")
                if not lo <= value <= hi:
                    raise ValueError(
                        f"{Path(source).name}: {key}: value {value!r} lies outside its own interval [{lo!r}, {hi!r}]"
                    )


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _group(study_type: str) -> str:
    group = study_type.strip().lower()
    if group not in GROUPS:
        raise ValueError(f"unknown study type {study_type!r}")
    return group


def _cell(value: str, lo: str, hi: str) -> dict:
    return {"value": float(value), "ci": [float(lo), float(hi)]}


def dump_toml(data: dict) -> str:
    """Serialise the submission structure above (strings, bools, numbers, tables of cells, an
    array of ``results`` tables) as TOML. Floats use ``repr`` so they read back identically."""
    lines = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, (dict, list))}
    for key, value in scalars.items():
        lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{key}]"] + [f"{k} = {_toml_value(v)}" for k, v in value.items()]
    for key, value in data.items():
        if isinstance(value, list):
            for row in value:
                lines += ["", f"[[{key}]]"]
                lines += [f"{k} = {_toml_value(v)}" for k, v in row.items() if not isinstance(v, dict)]
                for metric, cells in row.items():
                    if isinstance(cells, dict):
                        lines.append(f"[{key}.{metric}]")
                        lines += [f"{g} = {_toml_value(c)}" for g, c in cells.items()]
    return "\n".join(lines) + "\n"


#: Short escapes of TOML basic strings; every other control character TOML forbids (U+0000 to
#: U+001F and U+007F) is written as \\uXXXX.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string: quote, backslash and every control character TOML forbids
    escaped (U+007F included); a lone surrogate, which no TOML file can hold, is a ValueError."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04X}")
        elif 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"a lone surrogate U+{code:04X} cannot be written to TOML")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python site/convert_reported.py REFERENCE_DIR SUBMISSIONS_DIR", file=sys.stderr)
        return 2
    try:
        written = convert_reference(args[0], args[1])
    except (ValueError, KeyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
