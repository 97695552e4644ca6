"""The HTML leaderboard in a real headless browser (Debian's chromium via selenium): it renders offline,
sorting by a column works, a system's link opens its per-query results; a screenshot is kept in
test-artifacts/leaderboard.png. Skips when chromium, chromedriver or selenium are absent."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.cache import Cache
from rag.datasets import demo
from rag.experiment import Experiment
from retrievers.dense import DenseRetriever
from retrievers.fusion import RRF
from retrievers.lucene import LuceneBM25

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium / chromedriver not installed")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    data = demo()
    folder = tmp_path_factory.mktemp("board")
    bm25, dense = LuceneBM25(data.corpus), DenseRetriever(data.corpus, model="all-MiniLM-L6-v2", threads=1)
    systems = {"BM25": bm25, "MiniLM": dense, "RRF": RRF([bm25, dense]), "BM25-top3": bm25 % 3}
    results = Experiment(systems, data, ["nDCG@10", "R@10", "P@1"], baseline="BM25",
                         cache=Cache(tmp_path_factory.mktemp("cache"))).run()
    results.save(folder)
    return folder / "leaderboard.html"


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def _column(browser, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")
    return [r.find_elements(By.TAG_NAME, "td")[index].get_attribute("data-value") for r in rows]


def test_page_renders_sorts_and_links(page, browser):
    from selenium.webdriver.common.by import By

    browser.get(page.as_uri())
    assert browser.title
    assert _column(browser, 0) == ["BM25", "MiniLM", "RRF", "BM25-top3"]
    assert browser.find_elements(By.CSS_SELECTOR, "#leaderboard td.best")
    assert "config hash" in browser.find_element(By.ID, "provenance").text

    header = browser.find_elements(By.CSS_SELECTOR, "#leaderboard thead th")[2]   # R@10
    header.click()
    ascending = [float(v) for v in _column(browser, 2)]
    assert ascending == sorted(ascending) and len(set(ascending)) > 1
    assert _column(browser, 0)[-1] == "MiniLM"                                  # best R@10 last
    header.click()
    descending = [float(v) for v in _column(browser, 2)]
    assert descending == sorted(descending, reverse=True)
    browser.find_element(By.CSS_SELECTOR, "#leaderboard thead th").click()      # by name again
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "leaderboard.png"))

    browser.find_element(By.LINK_TEXT, "BM25-top3").click()
    details = browser.find_element(By.ID, "pq-BM25-top3")
    assert details.get_attribute("open") is not None
    assert len(details.find_elements(By.CSS_SELECTOR, "tbody tr")) == 14
    assert (ARTIFACTS / "leaderboard.png").stat().st_size > 10_000
