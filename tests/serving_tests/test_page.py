"""The planner page in Debian's Chromium: simulate → draw (sealed) → release, with screenshots."""

from __future__ import annotations

import pytest

from serving.commitment import commit, new_salt


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
    assert "P(right)" in page.inner_text("#rating-table")
    assert page.locator("#frontier circle").count() == 6  # λ = 0, .25, .5, .75, 1 and the chosen .8
    page.screenshot(path=tmp_path / "1-simulate.png", full_page=True)

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
    assert "seed" not in page.inner_text("#sealed")
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


def test_the_page_verifies_what_python_commits_to(page) -> None:
    """Non-ASCII ids and strata, π from 3.3e-7 to 1, and ids that sort differently by UTF-16
    code units (JavaScript's <) and by code points (Python's sort): one canonical form."""
    cases = [
        {"case_id": "Z-ñ-01", "stratum": "Ynys Môn × female", "inclusion_probability": 1e-5},
        {"case_id": "A-é", "stratum": "Zürich × male", "inclusion_probability": 3.3e-7},
        {"case_id": "B-\uff21", "stratum": "Łódź", "inclusion_probability": 2.5e-5},
        {"case_id": "B-\U0001f600", "stratum": "東京", "inclusion_probability": 0.5},
        {"case_id": "C", "stratum": 'quote " and \\', "inclusion_probability": 1.0},
        {"case_id": "D", "stratum": "plain", "inclusion_probability": 0.123456789012345},
    ]
    salt = new_salt()
    released = {"cases": cases, "salt": salt, "commitment": commit(cases, salt)}
    nudged = [{**cases[0], "inclusion_probability": 1.00000001e-5}, *cases[1:]]
    check = "released => verifies(released)"
    assert page.evaluate(check, released) is True
    assert page.evaluate(check, {**released, "cases": nudged}) is False
    assert page.evaluate(check, {**released, "cases": cases[1:]}) is False
