"""The HTML leaderboard in a real headless browser (Debian's chromium via selenium): it renders offline,
sorting by a column works, a system's link opens its per-query results; a screenshot is kept in
test-artifacts/leaderboard.png. Skips when chromium, chromedriver or selenium are absent."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.core.cache import Cache
from rag.datasets import demo
from rag.experiment import Experiment
from retrievers.dense import DenseRetriever
from retrievers.fusion import RRF
from retrievers.lucene import LuceneBM25

webdriver = pytest.importorskip("selenium.webdriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="chromium / chromedriver not installed (apt-get install chromium chromium-driver)")
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
    from selenium.webdriver.common.keys import Keys

    browser.get(page.as_uri())
    assert browser.title
    assert _column(browser, 0) == ["BM25", "MiniLM", "RRF", "BM25-top3"]
    assert browser.find_elements(By.CSS_SELECTOR, "#leaderboard td.best")
    assert "config hash" in browser.find_element(By.ID, "provenance").text
    # nothing was fetched from the network: every resource is inline (data: URIs)
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [url for url in fetched if url.startswith("http")]
    # the per-query plot written next to the tables is inlined and decodes
    images = browser.find_elements(By.CSS_SELECTOR, "figure img")
    assert images and all(browser.execute_script("return arguments[0].naturalWidth", i) > 100 for i in images)
    # hovering a value gives its difference from the baseline and the p-value
    minilm_r10 = browser.find_element(By.CSS_SELECTOR, "#row-MiniLM td:nth-child(3)")
    assert "vs. BM25" in minilm_r10.get_attribute("title") and "p (adjusted)" in minilm_r10.get_attribute("title")
    assert "DenseRetriever" in browser.find_element(By.CSS_SELECTOR, "#row-MiniLM td").get_attribute("title")

    header = browser.find_elements(By.CSS_SELECTOR, "#leaderboard thead th")[2]   # R@10: best first
    header.click()
    descending = [float(v) for v in _column(browser, 2)]
    assert descending == sorted(descending, reverse=True) and len(set(descending)) > 1
    assert _column(browser, 0)[0] == "MiniLM" and header.get_attribute("aria-sort") == "descending"
    header.click()
    ascending = [float(v) for v in _column(browser, 2)]
    assert ascending == sorted(ascending) and header.get_attribute("aria-sort") == "ascending"
    name = browser.find_element(By.CSS_SELECTOR, "#leaderboard thead th")
    name.send_keys(Keys.ENTER)                                                  # keyboard sorting, by name
    assert _column(browser, 0) == sorted(["BM25", "MiniLM", "RRF", "BM25-top3"])
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "leaderboard.png"))

    browser.find_element(By.LINK_TEXT, "BM25-top3").click()                     # row -> per-query results
    details = browser.find_element(By.ID, "pq-BM25-top3")
    assert details.get_attribute("open") is not None
    assert len(details.find_elements(By.CSS_SELECTOR, "tbody tr")) == 14
    minilm = browser.find_element(By.ID, "pq-MiniLM")                           # per-query wins and losses
    assert minilm.find_elements(By.CSS_SELECTOR, "td.up") and minilm.find_elements(By.CSS_SELECTOR, "td.down")
    details.find_element(By.CSS_SELECTOR, "a.back").click()                     # per-query results -> row
    assert browser.execute_script("return location.hash") == "#row-BM25-top3"
    assert (ARTIFACTS / "leaderboard.png").stat().st_size > 10_000
