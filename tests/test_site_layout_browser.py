"""The site's layout in headless Chromium at a phone's width (390 px) and a desktop's (1280 px),
with 100 re-scored entries and the committed reported figures: no page scrolls sideways (only a
table's own scroll box may), entry names take at most two lines, the forest plots' labels are at
least 11 CSS px as displayed, and the Method page opens with its summary. Screenshots of every page
kind at both widths go to ``test-artifacts/`` for review."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import BROWSER_ARGS, CHROMIUM, model_rows, write_entry, write_truth
from mura_bench.leaderboard.build import build_site

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
REPO_SUBMISSIONS = Path(__file__).resolve().parent.parent / "submissions"
WIDTHS = (390, 1280)
ENTRIES = 100

if not Path(CHROMIUM).is_file():  # CI installs it (.ci/run); a missing browser fails, never skips
    pytest.fail(f"Chromium not found at {CHROMIUM}", pytrace=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout-site")
    truth, studies, labels = write_truth(root)
    subs = root / "submissions"
    for i in range(ENTRIES):
        name = f"Entry {i:03d} with a descriptive name of several words" if i % 10 == 0 else f"Model {i:03d}"
        write_entry(
            subs,
            f"e{i:03d}",
            f'name = "{name}"\nreported = false\nteam = "Team {i}"\n'
            f'description = "A model for the layout test, number {i}."\n',
            model_rows(studies, labels, 0.2 + 2.5 * i / ENTRIES, i),
        )
    for reported in sorted(REPO_SUBMISSIONS.glob("reported-*")):
        shutil.copytree(reported, subs / reported.name)
    build_site(subs, truth, root / "site", resamples=50, seed=0, title="Layout test board")
    return root / "site"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()


def pages_of(site: Path) -> dict[str, Path]:
    entry = sorted((site / "entry").glob("*.html"))[0]
    return {
        "index": site / "index.html",
        "entry": entry,
        "method": site / "method.html",
        "reported": site / "reported.html",
    }


OVERFLOW = """() => {
  const doc = document.documentElement;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const r = e.getBoundingClientRect();
    return r.right > doc.clientWidth + 1 && !e.closest('.table-scroll') && getComputedStyle(e).position !== 'fixed';
  }).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right));
  return {scroll: document.body.scrollWidth, client: doc.clientWidth, wide};
}"""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", ["index", "entry", "method", "reported"])
def test_no_page_scrolls_sideways(site, browser, width, kind):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(pages_of(site)[kind].as_uri())
    state = page.evaluate(OVERFLOW)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"layout-{kind}-{width}.png"), full_page=kind != "index")
    context.close()
    assert state["scroll"] <= state["client"], state
    assert not state["wide"], state


def test_metric_tabs_are_usable_on_a_phone(site, browser):
    context = browser.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    buttons = page.query_selector_all(".switch button")
    assert len(buttons) >= 3
    for button in buttons:
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    buttons[-1].click()
    assert buttons[-1].get_attribute("aria-pressed") == "true"
    context.close()


def test_entry_names_take_at_most_two_lines_at_1280(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    lines = page.eval_on_selector_all(
        "#leaderboard td.entry a",
        """links => links.map(a => {
        const height = a.getBoundingClientRect().height;
        const line = parseFloat(getComputedStyle(a).lineHeight) || 21;
        return [a.innerText, Math.round(height / line)];
    })""",
    )
    context.close()
    assert len(lines) >= ENTRIES
    assert max(n for _, n in lines) <= 2, [x for x in lines if x[1] > 2][:3]
    assert any("several words" in name for name, _ in lines)


def test_forest_plot_labels_are_at_least_11_px_as_displayed(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto((site / "index.html").as_uri())
    images = []
    for handle in page.query_selector_all("#forest img")[:2]:  # loaded lazily: scrolled into view first
        handle.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)
        images.append((handle.get_attribute("src"), handle.bounding_box()["width"]))
    assert images
    sizes = []
    for src, shown in images:
        page.goto((site / src).as_uri())
        user = page.evaluate("""() => {
            const svg = document.querySelector('svg');
            const texts = [...svg.querySelectorAll('text')].filter(t => /Model|Entry/.test(t.textContent));
            const size = Math.min(...texts.map(t => parseFloat(getComputedStyle(t).fontSize)));
            return [size, svg.viewBox.baseVal.width, texts.length];
        }""")
        font, view_width, labels = user
        assert labels >= ENTRIES
        sizes.append(font * shown / view_width)
    context.close()
    print("forest label CSS px as displayed:", sizes)
    assert min(sizes) >= 11, sizes


def test_method_page_leads_with_its_summary(site, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto((site / "method.html").as_uri())
    first = page.evaluate("() => document.querySelector('main h1').nextElementSibling.id")
    text = page.inner_text("#summary")
    context.close()
    assert first == "summary"
    assert "In short" in text and "%" in text and "body part" in text
