"""One submission's page of the leaderboard site, as a single self-contained HTML file.

The truth behind it is hidden from the participant, so the page is built with the leaderboard's
hidden-truth policy (:mod:`mura_bench.leaderboard.hidden_truth`: aggregates only, no ROC curve
steps, no study-resolution threshold, calibration bins of at least 20 studies). A final phase
shows :func:`summary_results_html` instead: the published scores and nothing more.

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
from mura_bench.data.truth import Truth

_IMG_SRC = re.compile(r'src="\.\./(plots/[A-Za-z0-9._-]+\.svg)"')
_RELATIVE_LINK = re.compile(r'<a (class="[^"]*" )?href="\.\./[^"]*">(.*?)</a>', re.S)
_RANK_BOX = re.compile(r'\s*<div class="rank-box">.*?</div>', re.S)
_NAV = re.compile(r"\s*<nav>.*?</nav>", re.S)
_CRUMBS = re.compile(r'<p class="crumbs">.*?</p>\n?', re.S)
_IMG_POLICY = re.compile(r"img-src (?:'self'|&#39;self&#39;)")


def detailed_results_html(
    predictions_csv: bytes,
    truth: Truth,
    *,
    name: str,
    resamples: int,
    seed: int,
    confidence: float,
    title: str,
    hidden_truth: bool = True,
) -> str:
    """Build a one-entry site for the predictions ``predictions_csv`` (the file's bytes) in a
    temporary folder and return its entry page, made self-contained. ``name`` is the entry's name
    as shown (escaped). Raises :class:`~mura_bench.errors.InputError` as the build does."""
    from mura_bench.leaderboard.build import build_site

    work = Path(tempfile.mkdtemp(prefix="mura-bench-detail-"))
    try:
        entry = work / "submissions" / "submission"
        entry.mkdir(parents=True)
        (entry / "predictions.csv").write_bytes(predictions_csv)
        (entry / "submission.toml").write_text(f"name = {_toml_string(name)}\nreported = false\n", encoding="utf-8")
        site = work / "site"
        report = build_site(
            work / "submissions",
            truth,
            site,
            resamples=resamples,
            seed=seed,
            title=title,
            confidence=confidence,
            hidden_truth=hidden_truth,
        )
        if report.skipped:
            raise InputError(report.skipped[0].reason, source=name)
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


def summary_results_html(scores: dict[str, float], *, name: str, title: str, phase: str) -> str:
    """A final phase's results page: the submission's published scores, nothing else (every other
    figure computed on the hidden test truth would add to what a submission budget can learn)."""
    import jinja2

    template = jinja2.Environment(autoescape=True).from_string(_SUMMARY)
    return template.render(scores=scores, name=name, title=title, phase=phase or "final")


_SUMMARY = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ name }} · {{ title }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:40rem}td,th{padding:.2rem .8rem;text-align:left}</style>
</head><body>
<h1>{{ name }}</h1>
<p>{{ title }}: {{ phase }} phase.</p>
<table><thead><tr><th>Column</th><th>Score</th></tr></thead><tbody>
{% for key, value in scores.items() %}<tr><td><code>{{ key }}</code></td><td>{{ value }}</td></tr>
{% endfor %}</tbody></table>
<p>The test labels of this phase are hidden. To keep them hidden, a submission here gets its
leaderboard scores only, rounded as shown; per-group figures, intervals and plots are not published
for this phase.</p>
</body></html>
"""


def _toml_string(text: str) -> str:
    """A TOML basic string of ``text``: backslash, quote and every control character (DEL
    included) escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if " " <= c != "\x7f" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'
