"""The built site in headless Chromium (Debian's ``chromium``, driven by PyPI ``playwright``).

Loads the pages from ``file://``: the table renders with the right rows, a click on a header sorts
it, the metric switcher works, there are no console errors (a Content-Security-Policy violation
is one), and the hostile entry's markup never runs. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import BROWSER_ARGS, CHROMIUM, make_submissions, write_truth
from mura_bench.leaderboard.build import build_site

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if not Path(CHROMIUM).is_file():  # CI installs it (.ci/run); a missing browser fails, never skips
    pytest.fail(
        f"Chromium not found at {CHROMIUM}: install Debian's chromium (apt-get install chromium) "
        "or point CHROMIUM_PATH at a Chromium binary",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    truth, studies, labels = write_truth(root)
    subs = make_submissions(root, studies, labels)
    build_site(subs, truth, root / "site", resamples=100, seed=0, title="Browser test board")
    return root / "site"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.problems = []
    page.dialogs = []
    page.on(
        "console",
        lambda m: page.problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("request", lambda r: page.problems.append(f"request: {r.url}") if not r.url.startswith("file://") else None)
    yield page
    context.close()


def _column(page, index: int) -> list[str]:
    return page.eval_on_selector_all(
        "#leaderboard tbody tr", f"rows => rows.map(r => r.cells[{index}].innerText.trim())"
    )


def test_index_renders_sorts_and_stays_clean(site, page):
    page.goto((site / "index.html").as_uri())
    page.wait_for_load_state("load")
    keys = page.eval_on_selector_all("#leaderboard tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert set(keys) == {
        "strong",
        "weak",
        "zero-one",
        "hostile",
        "radiologists",
        *(f"reader:reader_{i}" for i in range(1, 7)),
    }
    ranks = [r for r in _column(page, 0) if r != "—"]
    assert ranks == sorted(ranks, key=int) and ranks[0] == "1"
    assert page.locator("#leaderboard tbody tr.submission").count() == 4
    assert page.locator("img").evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "leaderboard-index.png"), full_page=True)

    # Click "Overall": descending by the shown metric (F1), the header says so.
    page.click("#leaderboard thead th:nth-child(3) button")
    values = [float(v.splitlines()[0]) for v in _column(page, 2)]
    assert values == sorted(values, reverse=True)
    assert page.get_attribute("#leaderboard thead th:nth-child(3)", "aria-sort") == "descending"
    page.click("#leaderboard thead th:nth-child(3) button")
    values = [float(v.splitlines()[0]) for v in _column(page, 2)]
    assert values == sorted(values)
    # Entry names, alphabetically.
    page.click("#leaderboard thead th:nth-child(2) button")
    names = [n.splitlines()[0].lower() for n in _column(page, 1)]
    assert names == sorted(names)

    # Metric switcher: AUROC is shown for probability entries, "—" for 0/1 and readers.
    page.click("button[data-metric='auroc']")
    assert page.get_attribute("#leaderboard", "data-metric") == "auroc"
    row = page.locator("#leaderboard tr[data-key='zero-one'] td:nth-child(3)")
    assert row.inner_text().strip() == "—"
    assert page.locator("#leaderboard tr[data-key='strong'] td:nth-child(3) .m-auroc").is_visible()
    assert not page.locator("#leaderboard tr[data-key='strong'] td:nth-child(3) .m-f1").is_visible()

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.dialogs == [] and page.problems == []


def test_entry_and_reported_pages(site, page):
    for name in ["entry/hostile.html", "entry/strong.html", "reported.html"]:
        page.goto((site / name).as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined", name
        assert page.locator("img").evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
    page.goto((site / "entry" / "hostile.html").as_uri())
    assert page.inner_text("h1") == '<script>window.__pwned = 1</script>Evil "model"'
    assert page.locator("a[href^='javascript']").count() == 0
    assert page.locator("script").count() == 1
    page.screenshot(path=str(ARTIFACTS / "leaderboard-entry.png"), full_page=True)
    page.goto((site / "reported.html").as_uri())
    assert page.locator("table.reported-table tbody tr").count() == 2
    assert page.locator("tr.failed").count() == 1
    assert page.dialogs == [] and page.problems == []
