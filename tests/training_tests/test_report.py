"""`casework report` and `casework explain` end to end, and the report page in a real browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from casework.cli import app
from features.contract import JUDGEMENTS
from features.settings import get_settings
from training.lifecycle.drift import drift_html, drift_report
from training.lifecycle.promotion import name_new_version, publish
from training.lifecycle.registry import connect
from training.lifecycle.tracking import log_training
from training.reporting.model_card import model_card, render_model_card
from training.reporting.report import SECTIONS, Section, render_page

runner = CliRunner()
PLOTS = ("reliability", "importance", "shap-summary")


@pytest.fixture(scope="module")
def champion(tmp_path_factory, trained_50k, workspace_at):
    """A workspace whose champion (registered and exported) is the 50k model, and a data file
    of 2,000 cases it trained on and 2,000 it did not."""
    cases, result = trained_50k
    root = tmp_path_factory.mktemp("report")
    with workspace_at(root) as settings:
        rows = np.r_[result.split.train[:2000], result.split.test[:2000]]
        sample = cases.iloc[rows].reset_index(drop=True)
        logged = log_training(result, sample, "test", settings, {}, model_card(result))
        registered = name_new_version(settings, logged)
        publish(result.model, registered.version, settings)
        data = root / "inspected.parquet"
        sample.to_parquet(data)
        out = root / "reports" / "report.html"
        ran = runner.invoke(app, ["report", "--data", str(data), "--out", str(out)])
        yield root, data, out, ran, sample


def test_report_command_writes_one_self_contained_page(champion) -> None:
    root, _, out, ran, _ = champion
    assert ran.exit_code == 0, ran.output
    assert str(out) in ran.output and re.search(r"findings replicated: \d of 6", ran.output)
    page = out.read_text(encoding="utf-8")
    for section, heading in SECTIONS:
        assert f'<section id="{section}"><h2>{heading}</h2>' in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(s.startswith(("data:image/png;base64,", "#")) for s in sources), sources
    assert len(page.encode()) < 5_000_000
    assert "Largest AUC gap" in page and "no direct effect" in page  # the truth lab
    assert len(re.findall(r'<img class="plot"', page)) == len(PLOTS)
    assert "AUC logistic" in page and "AUC prevalence" in page  # baselines from the MLflow run
    assert "lift@10% LightGBM" in page and "LightGBM has" in page
    assert not re.search(r"\de[+-]\d", re.sub(r'src="[^"]+"', "", page))  # no 1.313e+04
    assert "2,000 cases the champion was not trained on" in page
    assert not list(out.parent.glob(".*.tmp"))


def test_report_is_logged_to_mlflow(champion) -> None:
    _, _, out, ran, _ = champion
    replicated = int(re.search(r"findings replicated: (\d) of 6", ran.output).group(1))
    client = connect(get_settings())
    experiment = client.get_experiment_by_name("casework").experiment_id
    (run,) = client.search_runs([experiment], "tags.kind = 'report'")
    assert run.data.tags["model_version"] == "1"
    assert run.data.metrics["findings_replicated"] == replicated
    logged = client.download_artifacts(run.info.run_id, "report.html", str(out.parent))
    assert Path(logged).read_text(encoding="utf-8") == out.read_text(encoding="utf-8")


def test_the_report_renders_offline_in_chromium(champion, browser, tmp_path) -> None:
    _, _, out, _, _ = champion
    page, requests = _offline_page(browser)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(out.resolve().as_uri())
    for section, heading in SECTIONS:
        located = page.locator(f"section#{section} > h2")
        assert located.is_visible() and located.inner_text() == heading
    for plot in PLOTS:
        image = page.locator(f"section#{plot} img#plot-{plot}")
        image.scroll_into_view_if_needed()
        size = image.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]")
        assert size[0] and size[1] > 300 and size[2] > 200, (plot, size)
        assert image.bounding_box()["width"] > 300
    for table in ("summary", "metrics", "truth", "fairness", "replication"):
        assert page.locator(f"section#{table} table").first.is_visible()
    assert page.locator("section#fairness svg.chart").count() == 5
    # the dependence plot redraws for any feature, coloured by category or on a colour bar
    assert page.locator("#dep-svg circle").count() == 1000
    page.select_option("#dep-feature", "rosh_level")
    page.select_option("#dep-colour", "officer_caseload")
    assert page.locator("#dep-svg #dep-bar").count() == 1  # numeric colour: a colour bar
    page.select_option("#dep-colour", "iom")
    assert page.locator("#dep-key rect").count() == 2  # IOM: two categories with a key
    assert page.locator("#dep-svg text", has_text="very_high").count() == 1
    page.select_option("#wf-case", index=3)
    page.select_option("#wf-judgement", "review_safety")
    bars = page.locator("#wf-svg rect")
    assert bars.count() == 11  # base, 9 features, probability
    assert page.locator("section#fairness table tr").count() > 12
    assert page.locator("section#replication table tbody tr").count() == 6
    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 50_000
    assert requests == [] and errors == []
    page.close()


def test_extra_sections_follow_the_built_in_ones_and_join_the_contents() -> None:
    extra = [
        Section("Judged samples", "<table><tr><td>1 &amp; 2</td></tr></table>"),
        Section("Notes", "<p>n</p>", id="notes"),
    ]
    page, sections = render_page({"turn": None, "plots": {}}, SECTIONS, extra)
    assert sections == (*SECTIONS, ("judged-samples", "Judged samples"), ("notes", "Notes"))
    for anchor, heading in sections:
        assert f'<a href="#{anchor}">{heading}</a>' in page
    judged = page.index('<section id="judged-samples"><h2>Judged samples</h2>')
    assert page.index('<section id="replication">') < judged < page.index('<section id="notes">')
    assert "<td>1 &amp; 2</td>" in page[judged:]  # the fragment as given, not escaped again


def test_explain_writes_global_importance(champion) -> None:
    root, data, _, _, sample = champion
    out = root / "importance.csv"
    ran = runner.invoke(app, ["explain", "--data", str(data), "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["judgement", "feature", "mean_abs_shap"]
    assert len(table) == 12 * 9 and table["judgement"].unique().tolist() == list(JUDGEMENTS)
    top = table.groupby("judgement", sort=False).head(1)
    assert (top["feature"] == "officer_caseload").all()


def test_explain_one_case_in_words_and_as_json(champion) -> None:
    _, data, _, _, sample = champion
    case_id = sample["case_id"].iloc[7]
    words = runner.invoke(app, ["explain", "--case-id", case_id, "--data", str(data), "--top", "2"])
    assert words.exit_code == 0, words.output
    caseload = sample["officer_caseload"].iloc[7]
    assert f"caseload {caseload}: " in words.output
    assert "safety: assessment " in words.output and len(words.output.splitlines()) <= 12
    as_json = runner.invoke(app, ["explain", "--case-id", case_id, "--data", str(data), "--json"])
    assert as_json.exit_code == 0, as_json.output
    explanation = json.loads(as_json.output)
    assert explanation["case_id"] == case_id
    assert all(len(d) == 5 for d in explanation["judgements"].values())
    for judgement in JUDGEMENTS:
        p, base = explanation["probability"][judgement], explanation["base_probability"][judgement]
        assert 0 < p < 1 and 0 < base < 1


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--case-id", "NO-SUCH-CASE"], "not found"),
        ([], "either --out"),
        (["--case-id", "x", "--out", "x.csv"], "either --out"),
    ],
)
def test_explain_bad_input_exits_2(champion, arguments, message) -> None:
    _, data, _, _, _ = champion
    ran = runner.invoke(app, ["explain", "--data", str(data), *arguments])
    assert ran.exit_code == 2 and message in ran.output


def test_report_without_a_champion_or_judgements_exits_2(workspace, small_data) -> None:
    inspected, frame = workspace / "inspected.parquet", workspace / "frame.parquet"
    small_data.inspected.to_parquet(inspected)
    small_data.frame.to_parquet(frame)
    out = workspace / "report.html"
    ran = runner.invoke(app, ["report", "--data", str(inspected), "--out", str(out)])
    assert ran.exit_code == 2 and "casework train" in ran.output
    ran = runner.invoke(app, ["report", "--data", str(frame), "--out", str(out)])
    assert ran.exit_code == 2
    assert not out.exists()


def test_model_card_and_drift_report_render_offline_in_chromium(
    champion, trained_50k, browser, tmp_path
) -> None:
    _, _, _, _, sample = champion
    cases, result = trained_50k
    card = tmp_path / "model_card.html"
    card.write_text(render_model_card(model_card(result))["model_card.html"], encoding="utf-8")
    batch = sample.copy()
    batch["officer_caseload"] += 10
    drift = tmp_path / "drift.html"
    drift.write_text(
        drift_html(drift_report(cases.iloc[:4000], batch, result.model), "batch.csv"),
        encoding="utf-8",
    )
    for path, headings, check in (
        (card, ("Intended use and users", "Test metrics", "Limits"), "table"),
        (drift, ("Checks", "Store against batch"), "svg.chart"),
    ):
        page, requests = _offline_page(browser)
        page.goto(path.resolve().as_uri())
        for heading in headings:
            assert page.locator("h2", has_text=heading).first.is_visible(), heading
        assert page.locator(check).first.is_visible()
        if path == drift:
            assert page.locator("svg.chart").count() == 10  # 9 features and the risk score
            verdict = page.locator("#verdict").inner_text()
            assert verdict.startswith("Drift in") and "officer_caseload" in verdict
        page.screenshot(path=str(tmp_path / f"{path.stem}.png"), full_page=True)
        assert (tmp_path / f"{path.stem}.png").stat().st_size > 20_000
        assert requests == []
        page.close()


def _offline_page(browser):
    """A page that refuses (and records) any request leaving the file."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(("file:", "data:"))
            else (requests.append(route.request.url), route.abort())
        ),
    )
    return page, requests
