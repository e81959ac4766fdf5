"""One submission's page of the leaderboard site, as a single self-contained HTML file.

Codabench shows ``detailed_results.html`` on its own (no sibling files, no other pages), so the
entry page that ``leaderboard build`` writes for a one-entry site is taken as it is, with three
changes: the ROC plot is inlined as a ``data:`` URI (and the page's Content-Security-Policy allows
``data:`` images instead of the site's own files), the navigation to the site's other pages is
removed, and the rank box (meaningless for a single entry) is dropped.
"""
from __future__ import annotations

import base64
import re
import shutil
import tempfile
from pathlib import Path

from mura_bench.errors import InputError
from mura_bench.truth import Truth

_IMG_SRC = re.compile(r'src="\.\./(plots/[A-Za-z0-9._-]+\.svg)"')
_RELATIVE_LINK = re.compile(r'<a (class="[^"]*" )?href="\.\./[^"]*">(.*?)</a>', re.S)
_RANK_BOX = re.compile(r'\s*<div class="rank-box">.*?</div>', re.S)
_NAV = re.compile(r'\s*<nav>.*?</nav>', re.S)
_CRUMBS = re.compile(r'<p class="crumbs">.*?</p>\n?', re.S)
_IMG_POLICY = re.compile(r"img-src (?:'self'|&#39;self&#39;)")


def detailed_results_html(predictions_csv: str | Path, truth: Truth, *, name: str, resamples: int,
                          seed: int, confidence: float, title: str) -> str:
    """Build a one-entry site for ``predictions_csv`` in a temporary folder and return its entry
    page, made self-contained. Raises :class:`~mura_bench.errors.InputError` as the build does."""
    from mura_bench.leaderboard.build import build_site

    work = Path(tempfile.mkdtemp(prefix="mura-bench-detail-"))
    try:
        entry = work / "submissions" / "submission"
        entry.mkdir(parents=True)
        shutil.copyfile(predictions_csv, entry / "predictions.csv")
        (entry / "submission.toml").write_text(f"name = {_toml_string(name)}\nreported = false\n",
                                               encoding="utf-8")
        site = work / "site"
        report = build_site(work / "submissions", truth, site, resamples=resamples, seed=seed,
                            title=title, confidence=confidence)
        if report.skipped:
            raise InputError(report.skipped[0].reason, source=str(predictions_csv))
        html = (site / "entry" / "submission.html").read_text(encoding="utf-8")
        return self_contained(html, site)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def self_contained(html: str, site: Path) -> str:
    """Inline the page's SVG plots from ``site`` and drop what points at other pages."""
    def inline(match: re.Match) -> str:
        data = (site / match.group(1)).read_bytes()
        return 'src="data:image/svg+xml;base64,' + base64.b64encode(data).decode("ascii") + '"'

    html = _IMG_SRC.sub(inline, html)
    html = _IMG_POLICY.sub("img-src data:", html, count=1)
    html = _NAV.sub("", html, count=1)
    html = _CRUMBS.sub("", html, count=1)
    html = _RELATIVE_LINK.sub(lambda m: f"<span {m.group(1) or ''}>{m.group(2)}</span>".replace(" >", ">"), html)
    return _RANK_BOX.sub("", html, count=1)


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'
