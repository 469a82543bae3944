"""The planner page in Debian's Chromium: simulate → draw (sealed) → release, with screenshots."""

from __future__ import annotations

import pytest


@pytest.fixture
def page(browser, service):
    context = browser.new_context(viewport={"width": 1200, "height": 1600})
    page = context.new_page()
    page.goto(f"{service.url}/ui")
    yield page
    context.close()


def test_planner_simulates_draws_and_releases_a_sample(page, service, tmp_path) -> None:
    page.fill("#token", service.token)
    page.fill("#size", "120")
    page.fill("#risk-weight", "0.8")
    page.click("#simulate")
    page.wait_for_selector("#simulation:not([hidden])", timeout=120_000)
    assert "yield ratio" in page.inner_text("#sim-table")
    assert page.locator("#frontier circle").count() == 6  # λ = 0, .25, .5, .75, 1 and the chosen .8
    page.screenshot(path=tmp_path / "1-simulate.png", full_page=True)

    page.fill("#seed", "7")
    page.click("#draw")
    page.wait_for_selector("#sealed:not([hidden])", timeout=120_000)
    commitment = page.inner_text("#commitment")
    assert len(commitment) == 64
    assert page.locator("#cases-table tr").count() == 0  # sealed: no case list yet
    page.screenshot(path=tmp_path / "2-sealed.png", full_page=True)

    page.click("#release")
    page.wait_for_selector("#released:not([hidden])", timeout=120_000)
    assert page.locator("#cases-table tr").count() == 121  # header + 120 cases
    assert "Commitment verified" in page.inner_text("#verified")
    assert "chosen in stratum" in page.inner_text("#cases-table")
    charts = page.locator("#charts .chart")
    assert sorted(charts.evaluate_all("nodes => nodes.map(n => n.dataset.column)")) == sorted(
        ["gender", "ethnicity", "sentence_type", "office", "rosh_level"]
    )
    assert page.locator("#charts rect.bar-sample").count() > 10
    with page.expect_download() as download:
        page.click("#download")
    csv = download.value.path().read_text()
    assert csv.count("\n") == 120 and csv.startswith("case_id,office")
    page.screenshot(path=tmp_path / "3-released.png", full_page=True)
    assert (tmp_path / "3-released.png").stat().st_size > 10_000


def test_a_wrong_token_shows_the_error_on_the_page(page) -> None:
    page.fill("#token", "not-the-token")
    page.click("#draw")
    page.wait_for_function("document.querySelector('#status').className === 'error'")
    assert "401" in page.inner_text("#status")
