"""Estimation studies: interval coverage, rating calibration, national tables, and speed vs svy.

`python -m benchmarks.bench_estimate` prints the tables and writes results/estimate_studies.json
(`make bench` runs only the speed rows, ``run``). The frames and seeds differ from the ones
the estimator's tests use (frame seeds 7 and 41).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from benchmarks.common import RESULTS, Row, best_of, report
from features.contract import JUDGEMENTS, NOT_APPLICABLE, RISK_SCORE, SUFFICIENT
from features.synthetic.generator import generate
from features.synthetic.truth import true_scores
from serving.estimation import estimate, national_tables, rate
from serving.ratings import BANDS, STANDARDS, band
from serving.sampling import SampleRequest, block_columns, design_for
from serving.simulation import draw_many
from tests.studies.ratings import reliability, spread_statements

FRAME_SEED = 23
DRAW_SEED = 29
BAND = (0.93, 0.97)
"""The issue's acceptance band for 95% intervals."""


def judged_frame(frame: pd.DataFrame, judgements: pd.DataFrame, request: SampleRequest):
    """The frame with every column a judged sample carries, and the design (true scores)."""
    scores = true_scores(frame)
    design = design_for(frame, scores, request)
    judged = pd.concat([frame.reset_index(drop=True), judgements.reset_index(drop=True)], axis=1)
    judged["stratum"] = design.groups.stratum_names[design.groups.stratum]
    judged["inclusion_probability"] = design.pi
    judged["method"] = request.method
    judged["balance"] = ",".join(request.balance_columns())
    blocks = block_columns(design, scores[RISK_SCORE].to_numpy(dtype=float))
    return pd.concat([judged, blocks], axis=1), design


def truth_of(judged: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """The frame's realised share sufficient per judgement (and group)."""
    rows = []
    groups = (
        [("all", judged)]
        if by is None
        else [(str(k), g) for k, g in judged.groupby(by, observed=True)]
    )
    for judgement in JUDGEMENTS:
        for name, part in groups:
            values = part[judgement].astype(str)
            applies = values != NOT_APPLICABLE
            rows.append(
                {
                    "judgement": judgement,
                    "group": name,
                    "truth": (values[applies] == SUFFICIENT).mean(),
                }
            )
    return pd.DataFrame(rows)


def coverage(
    frame_seed: int,
    method: str,
    draws: int,
    whole_caseloads: bool = False,
    size: int = 120,
    n_frame: int = 5_000,
    by: str = "gender",
    workers: int = 2,
) -> pd.DataFrame:
    """Per judgement and group: coverage of the 95% interval, mean n, zero-width count, and how
    many Monte Carlo SEs (binomial, at the band's nearer edge) the coverage lies outside
    0.93–0.97 (0 inside)."""
    data = generate(
        2_000, n_frame, seed=frame_seed, with_truth=True, whole_caseloads=whole_caseloads
    )
    request = SampleRequest(size=size, method=method)
    judged, design = judged_frame(data.frame, data.frame_judgements, request)
    chosen = draw_many(design, method, draws, seed=DRAW_SEED, workers=workers)
    truth = pd.concat([truth_of(judged), truth_of(judged, by)], ignore_index=True)
    results = []
    for draw in chosen:
        sample = judged[draw]
        results.append(pd.concat([estimate(sample), estimate(sample, by=by)]))
    table = pd.concat(results, ignore_index=True).merge(truth, on=["judgement", "group"])
    table["covered"] = (table["ci_low"] <= table["truth"]) & (table["truth"] <= table["ci_high"])
    table["zero_width"] = table["ci_high"] <= table["ci_low"]
    cells = (
        table.groupby(["judgement", "group"])
        .agg(coverage=("covered", "mean"), n=("n", "mean"), zero_width=("zero_width", "sum"))
        .reset_index()
    )
    edge = cells["coverage"].clip(*BAND)
    outside = (cells["coverage"] - edge).abs() / np.sqrt(edge * (1 - edge) / draws)
    return cells.assign(se_outside=outside)


def true_ratings(judged: pd.DataFrame, by: str) -> dict[tuple[str, str], int]:
    """The frame's true band per (group, standard), overall ('all') and per value of ``by``."""
    shares = pd.concat([truth_of(judged), truth_of(judged, by)])
    table = shares.pivot(index="group", columns="judgement", values="truth")
    return {
        (group, standard): int(band(table.loc[group, list(q)].min()))
        for group in table.index
        for _, standard, q in STANDARDS
    }


def spread_study(replicates: int, seed: int) -> dict:
    """Calibration over truths spread across the bands (``spread_replicate``)."""
    found = spread_statements(replicates, seed)
    point = found[found["point"]]
    truth = found[found["hit"]]
    middle = point[truth["band"].isin([1, 2]).to_numpy()]
    return {
        "replicates": replicates,
        "accuracy": round(float(point["hit"].mean()), 4),
        "predicted_accuracy": round(float(point["stated"].mean()), 4),
        "accuracy_true_good_or_ri": round(float(middle["hit"].mean()), 4),
        "true_good_or_ri_stated_ge_0.9": round(float((middle["stated"] >= 0.9).mean()), 4),
        "truth_bands": (truth["band"].value_counts(normalize=True).sort_index()).round(3).tolist(),
        "reliability": reliability(
            found["stated"].to_numpy(), found["hit"].to_numpy(float), found["replicate"]
        ),
    }


def ratings_study(
    frame_seeds: list[int], draws: int, method: str = "systematic", by: str = "provider_type"
) -> dict:
    """Stated P(band) against the realised truth, for the overall ratings and for the groups of
    ``by`` (publishable or flagged too few): binned reliability, accuracy of the point rating and
    its stated probability, and how often a truly Good or Requires improvement standard is
    rated right. The frames' truths sit just above 50% for every standard (Requires
    improvement), where no probability computed from the sample alone can be calibrated for
    that fixed truth: ``spread_study`` measures calibration over truths that vary."""
    found: dict[str, dict[str, list]] = {}
    for seed in frame_seeds:
        data = generate(2_000, 5_000, seed=seed, with_truth=True)
        judged, design = judged_frame(
            data.frame, data.frame_judgements, SampleRequest(size=120, method=method)
        )
        truth = true_ratings(judged, by)
        chosen = draw_many(design, method, draws, seed=DRAW_SEED, workers=2)
        for number, draw in enumerate(chosen):
            sample = judged[draw]
            table = pd.concat([rate(sample, draws=2_000), rate(sample, by=by, draws=2_000)])
            for row in table.dropna(subset=["rating"]).itertuples():
                kind = (
                    "overall"
                    if row.group == "all"
                    else ("regions, too few" if row.too_few_to_publish else "regions, publishable")
                )
                probabilities = [
                    row.p_outstanding,
                    row.p_good,
                    row.p_requires_improvement,
                    row.p_inadequate,
                ]
                true_band = truth[(row.group, row.standard)]
                into = found.setdefault(
                    kind, {k: [] for k in ("stated", "hit", "right", "p", "t", "draw")}
                )
                into["draw"].extend([f"{seed}/{number}"] * 4)
                into["stated"].extend(probabilities)
                into["hit"].extend(k == true_band for k in range(4))
                into["right"].append(BANDS.index(row.rating) == true_band)
                into["p"].append(row.p_rating_right)
                into["t"].append(true_band)
    out = {}
    for kind, into in found.items():
        right, true_band = np.array(into["right"]), np.array(into["t"])
        middle = np.isin(true_band, [1, 2])
        out[kind] = {
            "ratings": len(right),
            "accuracy": round(float(right.mean()), 4),
            "predicted_accuracy": round(float(np.mean(into["p"])), 4),
            "accuracy_true_good_or_ri": round(float(right[middle].mean()), 4)
            if middle.any()
            else None,
            "true_bands": np.bincount(true_band, minlength=4).tolist(),
            "reliability": reliability(
                np.array(into["stated"]), np.array(into["hit"], float), np.array(into["draw"])
            ),
        }
    return out


def svy_peer(judged: pd.DataFrame) -> float | None:
    """Best of 3 seconds for svy's stratified proportion estimate of the 12 judgements."""
    try:
        import polars as pl
        import svy
    except ImportError:
        return None
    data = judged[["stratum", "inclusion_probability", *JUDGEMENTS]].copy()
    data["weight"] = 1 / data["inclusion_probability"].astype(float)
    for judgement in JUDGEMENTS:
        values = data[judgement].astype(str)
        data[judgement] = np.where(
            values == NOT_APPLICABLE, np.nan, (values == SUFFICIENT).astype(float)
        )
    frame = pl.from_pandas(data.drop(columns="inclusion_probability").astype({"stratum": str}))
    sample = svy.Sample(frame, svy.Design(stratum="stratum", wgt="weight"))

    def run() -> object:
        return [sample.estimation.mean(j, drop_nulls=True) for j in JUDGEMENTS]

    return best_of(run, 3)


def run() -> list[Row]:
    """Speed rows for `make bench`; the studies run with ``main``."""
    data = generate(2_000, 20_000, seed=FRAME_SEED, with_truth=True)
    judged, design = judged_frame(
        data.frame, data.frame_judgements, SampleRequest(size=2_000, strata=["region", "gender"])
    )
    sample = judged[draw_many(design, "balanced", 1, seed=DRAW_SEED)[0]]
    return [
        Row(
            "estimate, 2,000 judged cases, 12 judgements",
            best_of(lambda: estimate(sample), 3),
            svy_peer(sample),
            "svy mean (Taylor, strata)",
            "s",
        ),
        Row(
            "ratings, 2,000 judged cases, 10,000 draws",
            best_of(lambda: rate(sample), 3),
            None,
            "-",
            "s",
        ),
    ]


def national_study(reps: int, inspections: int = 10, frame_seed: int = 53) -> dict:
    """Coverage of pooled national figures: a 20,000-case frame split into ``inspections``
    inspection frames (offices dealt round-robin), 120 cases drawn from each (systematic), the
    judged samples pooled; truth = the whole frame's shares (overall, Table 2, Table 3)."""
    data = generate(2_000, 20_000, seed=frame_seed, with_truth=True)
    frame = data.frame.reset_index(drop=True)
    judgements = data.frame_judgements.reset_index(drop=True)
    offices = sorted(frame["office"].unique())
    inspection = frame["office"].map({o: k % inspections for k, o in enumerate(offices)})
    parts = []
    for k in range(inspections):
        rows = np.flatnonzero(inspection == k)
        judged, design = judged_frame(
            frame.iloc[rows], judgements.iloc[rows], SampleRequest(size=120, method="systematic")
        )
        chosen = draw_many(design, "systematic", reps, seed=DRAW_SEED + k)
        parts.append((judged.assign(inspection_id=f"I{k}", inspection_date="2019-06-01"), chosen))
    whole = pd.concat([frame, judgements], axis=1)
    cells = whole["provider_type"].astype(str) + " " + whole["rosh_level"].astype(str)
    truth = pd.concat(
        [
            truth_of(whole).assign(table="estimates"),
            truth_of(whole[whole["provider_type"] == "CRC"]).assign(
                table="table 2", group="all CRCs 2019/20"
            ),
            truth_of(whole.assign(cell=cells), "cell").assign(table="table 3"),
        ]
    )
    results = []
    for r in range(reps):
        samples = [judged[chosen[r]] for judged, chosen in parts]
        tables = national_tables(samples)
        results.append(estimate(samples).assign(table="estimates"))
        results.extend(part.assign(table=name) for name, part in tables.items())
    table = pd.concat(results).merge(truth, on=["table", "judgement", "group"])
    table["covered"] = (table["ci_low"] <= table["truth"]) & (table["truth"] <= table["ci_high"])
    summary = (
        table.groupby(["table", "group"])
        .agg(coverage=("covered", "mean"), n=("n", "mean"))
        .round(3)
    )
    print(summary.to_string())
    return {
        "reps": reps,
        "by_table": table.groupby("table")["covered"].mean().round(4).to_dict(),
        "cells_n_ge_15": float(table.loc[table["n"] >= 15, "covered"].mean()),
    }


def main() -> None:
    """The coverage, rating and national studies (tens of minutes), then the speed rows."""
    started = time.perf_counter()
    out: dict[str, object] = {}
    for frame_name, whole in (("window", False), ("whole caseloads", True)):
        for method in ("balanced", "systematic"):
            table = coverage(FRAME_SEED, method, draws=1_000, whole_caseloads=whole)
            overall = table[table["group"] == "all"]
            big = table[(table["group"] != "all") & (table["n"] >= 15)]
            key = f"{frame_name}, {method}"
            out[key] = {
                "overall_mean": float(overall["coverage"].mean()),
                "overall_range": [
                    float(overall["coverage"].min()),
                    float(overall["coverage"].max()),
                ],
                "domains_ge_15_mean": float(big["coverage"].mean()),
                "by_group_mean": table.groupby("group")["coverage"].mean().round(4).to_dict(),
                "mean_n": table.groupby("group")["n"].mean().round(1).to_dict(),
                "zero_width": int(table["zero_width"].sum()),
                "cells_outside_by_3_se": int((table["se_outside"] > 3).sum()),
                "per_judgement": table.pivot(index="judgement", columns="group", values="coverage")
                .round(4)
                .to_dict(),
            }
            print(key, json.dumps({k: v for k, v in out[key].items() if k != "per_judgement"}))
            print(table.pivot(index="judgement", columns="group", values="coverage").to_string())
    out["ratings, spread truths"] = spread_study(replicates=1_000, seed=59)
    print(json.dumps(out["ratings, spread truths"], indent=1))
    out["ratings"] = ratings_study([FRAME_SEED, 31, 37], draws=150)
    out["ratings by region"] = ratings_study([FRAME_SEED, 31, 37], draws=150, by="region")
    print(json.dumps(out["ratings"], indent=1))
    out["national"] = national_study(reps=200)
    print(json.dumps(out["national"], indent=1))
    out["seconds"] = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "estimate_studies.json").write_text(json.dumps(out, indent=1))
    report(run(), "estimate")


if __name__ == "__main__":
    main()
