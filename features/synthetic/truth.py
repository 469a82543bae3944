"""The generator's known ground truth: how each contract column moves each judgement.

For judgement j the log-odds of *insufficient* work is

    eta_j = a_j + b_j * CRC + r_j(RoSH) + c_aim * h(caseload) + g_aim * PSO
            + k_aim * log2(1 + officer_changes) + m_aim * IOM + q_aim * reoffending
            + u_case + v_officer,

with h(c) = scale * softplus((c - knee) / width) ** power: flat below ~40 cases, clearly worse
above ~50 and increasingly so.
``u_case`` (shared by a case's 12 judgements) and ``v_officer`` are latent normal effects. The
intercepts a_j, provider effects b_j and, for the safety aim, RoSH effects r_j are solved so that
a fixed reference population reproduces the published figures in ``calibration.toml``; the other
effects are set there. Gender, ethnicity and age do not appear: they have no direct effect.

``p_true`` integrates the latent effects out, E[sigmoid(eta_fixed + z)] with
z ~ N(0, sigma_case^2 + sigma_officer^2): the best any model of the contract columns can do.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import optimize, special

from features.contract import (
    AIMS,
    JUDGEMENTS,
    REOFFENDING_LEVELS,
    RISK_SCORE,
    ROSH_LEVELS,
    score_column,
    truth_column,
)
from features.synthetic.calibration import TABLE3_CELLS, CalibrationConfig, load_config
from features.synthetic.population import (
    draw_case_covariates,
    draw_officers,
    draw_posts,
    window_months,
)

DRIVERS: tuple[str, ...] = (
    "provider_type",
    "rosh_level",
    "officer_caseload",
    "officer_grade",
    "officer_changes",
    "iom",
    "reoffending_likelihood",
)
"""Contract columns with a direct effect on the truth (all others have none)."""

_AIM_OF = np.array([AIMS.index(j.split("_", 1)[1]) for j in JUDGEMENTS])


@dataclass(frozen=True)
class TruthModel:
    """Solved parameters of the structural model, and what follows from them for any cases."""

    config: CalibrationConfig
    intercept: np.ndarray  # (12,)
    crc: np.ndarray  # (12,)
    rosh: np.ndarray  # (12, 4), RoSH levels in contract order

    def _aim_effect(self, name: str) -> np.ndarray:
        return np.array([getattr(self.config.truth.effects[AIMS[a]], name) for a in _AIM_OF])

    def caseload_curve(self, caseload: np.ndarray) -> np.ndarray:
        """h(c): the non-linear caseload term before its per-aim coefficient."""
        t = self.config.truth
        x = (np.asarray(caseload, dtype=float) - t.caseload_knee) / t.caseload_width
        return t.caseload_scale * np.logaddexp(0.0, x) ** t.caseload_power

    def terms(self, cases: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each driver's additive contribution to the log-odds, an (n, 12) array per driver."""
        crc = (cases["provider_type"].astype(str).to_numpy() == "CRC").astype(float)
        rosh = _codes(cases["rosh_level"], ROSH_LEVELS)
        reoffending = _codes(cases["reoffending_likelihood"], REOFFENDING_LEVELS) - 1.0
        pso = (cases["officer_grade"].astype(str).to_numpy() == "PSO").astype(float)
        changes = np.log2(1.0 + cases["officer_changes"].to_numpy(dtype=float))
        curve = self.caseload_curve(cases["officer_caseload"].to_numpy())
        iom = cases["iom"].to_numpy(dtype=float)
        return {
            "provider_type": np.outer(crc, self.crc),
            "rosh_level": self.rosh[:, rosh].T,
            "officer_caseload": np.outer(curve, self._aim_effect("caseload")),
            "officer_grade": np.outer(pso, self._aim_effect("pso")),
            "officer_changes": np.outer(changes, self._aim_effect("changes")),
            "iom": np.outer(iom, self._aim_effect("iom")),
            "reoffending_likelihood": np.outer(reoffending, self._aim_effect("reoffending")),
        }

    def linear_predictor(self, cases: pd.DataFrame) -> np.ndarray:
        """Fixed part of the log-odds of insufficient, (n, 12), latent effects excluded."""
        return self.intercept + sum(self.terms(cases).values())

    def p_true(self, cases: pd.DataFrame) -> np.ndarray:
        """True P(insufficient | applies, contract columns), latent effects integrated out."""
        return self.marginal(self.linear_predictor(cases))

    def marginal(self, eta: np.ndarray) -> np.ndarray:
        """E[sigmoid(eta + z)], z ~ N(0, sigma_case^2 + sigma_officer^2), to about 1e-8."""
        t = self.config.truth
        grid, values = _marginal_table(float(np.hypot(t.sigma_case, t.sigma_officer)))
        return np.interp(eta, grid, values)

    def p_applies(self, cases: pd.DataFrame) -> np.ndarray:
        """P(judgement is applicable), (n, 12): depends on RoSH and months supervised only."""
        a = self.config.applicability
        n = len(cases)
        months = cases["months_supervised"].to_numpy()
        low = cases["rosh_level"].astype(str).to_numpy() == "low"
        p = np.ones((n, len(JUDGEMENTS)))
        for j, judgement in enumerate(JUDGEMENTS):
            stage, aim = judgement.split("_", 1)
            if stage == "delivery":
                p[:, j] = a.delivery
            elif stage == "review":
                p[:, j] = np.where(months < 6, a.review_short, a.review_long)
            if aim == "safety":
                p[:, j] *= np.where(low, a.safety_low_rosh[stage], 1.0)
        return p

    def driver_variance(self, cases: pd.DataFrame) -> pd.DataFrame:
        """Variance of each driver's term in the true log-odds over ``cases``: judgement × driver.

        This ranks the true drivers of each judgement; the explanation tests compare it with the
        models' mean |SHAP|.
        """
        terms = self.terms(cases)
        return pd.DataFrame(
            {name: term.var(axis=0) for name, term in terms.items()}, index=list(JUDGEMENTS)
        )


def _codes(column: pd.Series, levels: tuple[str, ...]) -> np.ndarray:
    codes = pd.Index(levels).get_indexer(column.astype(str).to_numpy())
    if np.any(codes < 0):
        raise ValueError(f"{column.name}: values outside {levels}")
    return codes.astype(np.int64)


@lru_cache(maxsize=4)
def _marginal_table(sigma: float) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(-25.0, 25.0, 20001)
    nodes, weights = np.polynomial.hermite_e.hermegauss(120)
    values = special.expit(grid[:, None] + sigma * nodes[None, :]) @ weights
    return grid, values / weights.sum()


def reference_population(config: CalibrationConfig) -> pd.DataFrame:
    """A fixed population of inspected-like cases the truth's free parameters are solved on."""
    rng = np.random.default_rng(config.truth.reference_seed)
    n = config.truth.reference_cases
    posts = draw_posts(max(50, n // 10), config, rng)
    officers = draw_officers(posts, 0.0, config, rng)
    weights = officers["officer_caseload"].to_numpy(dtype=float)
    chosen = officers.iloc[rng.choice(len(officers), size=n, p=weights / weights.sum())]
    return draw_case_covariates(chosen, window_months(n, config, rng), config, rng)


@lru_cache(maxsize=1)
def solve_truth() -> TruthModel:
    """The truth for the packaged config, with intercepts solved to the published targets."""
    config = load_config()
    cases = reference_population(config)
    model = TruthModel(
        config, np.zeros(len(JUDGEMENTS)), np.zeros(len(JUDGEMENTS)), np.zeros((12, 4))
    )
    fixed = model.linear_predictor(cases)  # everything but the parameters solved below
    applies = model.p_applies(cases)
    crc = cases["provider_type"].to_numpy() == "CRC"
    rosh = cases["rosh_level"].to_numpy()
    intercept, crc_effect, rosh_effect = model.intercept, model.crc, model.rosh
    for j, judgement in enumerate(JUDGEMENTS):
        stage, aim = judgement.split("_", 1)
        targets = config.targets[aim][stage]
        if aim == "safety":
            cells = [
                (cases["provider_type"].to_numpy() == ptype) & np.isin(rosh, levels)
                for ptype, levels in (TABLE3_CELLS[name] for name in targets)
            ]
            medium, low = rosh == "medium", rosh == "low"
            design = np.column_stack([np.ones(len(cases)), crc, medium, low])
        else:
            cells = [~crc, crc]
            design = np.column_stack([np.ones(len(cases)), crc])
        goal = 1.0 - np.array(list(targets.values())) / 100.0

        def gap(theta: np.ndarray, j: int = j, cells=cells, design=design, goal=goal):
            p = model.marginal(fixed[:, j] + design @ theta) * applies[:, j]
            return np.array([p[c].sum() / applies[c, j].sum() for c in cells]) - goal

        solution = optimize.root(gap, np.zeros(design.shape[1]), method="hybr", tol=1e-12)
        if not solution.success:  # pragma: no cover - the targets are attainable
            raise RuntimeError(f"cannot calibrate {judgement}: {solution.message}")
        intercept[j], crc_effect[j] = solution.x[:2]
        if aim == "safety":
            rosh_effect[j, ROSH_LEVELS.index("medium")] = solution.x[2]
            rosh_effect[j, ROSH_LEVELS.index("low")] = solution.x[3]
    return model


def true_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """CONTRACT §3 scores from a ``--with-truth`` table's ``p_true__*``: a perfect model.

    Tests and benchmarks use it to separate the sampler's behaviour from a model's errors.
    """
    scores = pd.DataFrame({"case_id": frame["case_id"].to_numpy()})
    for judgement in JUDGEMENTS:
        scores[score_column(judgement)] = frame[truth_column(judgement)].to_numpy()
    scores[RISK_SCORE] = scores[[score_column(j) for j in JUDGEMENTS]].mean(axis=1)
    return scores
