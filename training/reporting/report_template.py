"""The jinja2 template of the report page (kept in a module so it installs with the package)."""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 78em; margin: 1.5em auto; padding: 0 1em;
       color: #222; }
nav a { margin-right: 1em; }
section { margin: 2.5em 0; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
.table { border-collapse: collapse; font-size: 90%; margin: .5em 0 1em; }
.table td, .table th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; }
.table th { background: #f5f5f5; }
img.plot { max-width: 100%; display: block; margin: .5em 0; }
svg.interactive { border: 1px solid #eee; display: block; }
.controls select { margin-right: 1em; }
.note { color: #555; font-size: 92%; max-width: 60em; }
.charts svg { margin: 4px; vertical-align: top; }
</style>
</head>
<body>
<h1>{{ title }}</h1>
<p class="note">Source <code>{{ source }}</code>, written {{ created }}. Everything on this page
is embedded: it opens offline.</p>
<nav>{% for id, heading in sections %}<a href="#{{ id }}">{{ heading }}</a>{% endfor %}</nav>

<section id="summary"><h2>Data summary</h2>
{{ summary | safe }}
<h3>Judgements</h3>
{{ judged | safe }}
</section>

<section id="model"><h2>Model version</h2>
{{ model | safe }}
</section>

<section id="metrics"><h2>Metrics against baselines</h2>
{% if training_metrics %}
<p class="note">As measured by the training run on its temporal test set (officers unseen in
training): LightGBM against the logistic-regression and prevalence baselines. Precision@k%: share
insufficient among the riskiest k% of cases; lift: that share over the prevalence.</p>
{{ training_metrics | safe }}
{% if margins %}<h3>LightGBM's margin over logistic regression</h3>
<ul class="margins">{% for sentence in margins %}<li>{{ sentence }}</li>{% endfor %}</ul>{% endif %}
{% else %}
<p class="note">The training run's baseline metrics are not available from MLflow for this model.
</p>
{% endif %}
<h3>Champion on this file</h3>
<p class="note">Measured on {{ held_note }}; 95% intervals in brackets from a bootstrap that
resamples officers (an officer's cases share the officer's caseload and quality).</p>
{{ held_metrics | safe }}
</section>

{% if truth %}
<section id="truth"><h2>Truth lab</h2>
<p class="note">This file carries the generator's true probabilities (<code>p_true__*</code>), so
the model can be checked against the known answer, on {{ held_note }}.</p>
<h3>Model against the Bayes-optimal score</h3>
<p class="note">p_true used as the score on the same rows is the best any model of the contract
columns can do. Largest AUC gap: <strong>{{ "%.4f" | format(truth.max_auc_gap) }}</strong>.</p>
{{ truth.bayes | safe }}
<h3>Recovered against true effects of each judgement's three strongest true drivers</h3>
<p class="note">Recovered: the average SHAP difference (probability scale, points) between the
two groups of the contrast; the true effect is the same difference of the generator's own
additive decomposition on the same cases. The interval covers which cases were evaluated (a
bootstrap resampling officers) and the model's estimation error (the spread of its five
cross-validation refits, each without one fold of officers: a delete-one-fold jackknife); it is
simultaneous, 95% jointly for a judgement's three drivers (each at 1 - 0.05/3), with Student's t
on the Welch-Satterthwaite degrees of freedom (five refits give their spread 4). True effect
inside the interval: {{ truth.drivers_inside }} of {{ truth.drivers_shown }} drivers; all three
for {{ truth.recovered }} of {{ truth.judgements }} judgements.</p>
{{ truth.drivers | safe }}
<h3>Protected characteristics: the known answer</h3>
<p class="note">The generator gives gender, ethnicity and age <strong>no direct effect</strong>;
gaps between groups arrive only through the features they go with. Gaps are in points of the
share of applicable judgements insufficient, group minus the largest group. The predicted gap
is split by SHAP into the features that carry it (the three largest shown). The direct effect is
what the model's features leave unexplained (observed minus predicted gap): the known answer is
0, and it lies inside the interval for {{ truth.zero_inside }} of {{ truth.groups }} groups. The
model error is how far the predicted gap is from the true one. Both intervals are 95%, over a
bootstrap resampling officers and the spread of the model's five cross-validation refits.</p>
{{ truth.protected | safe }}
</section>
{% endif %}

<section id="reliability"><h2>Reliability curves</h2>
<p class="note">Observed share insufficient against predicted probability, per 0.1 bin (dot size:
share of cases), on {{ held_note }}. On the dotted diagonal the model is calibrated.</p>
<img class="plot" id="plot-reliability" alt="reliability curves"
     src="data:image/png;base64,{{ plots['reliability'] }}">
</section>

<section id="importance"><h2>Importance by judgement</h2>
<p class="note">Mean |SHAP| (exact TreeSHAP, log-odds of insufficient) of each feature for each
judgement, over every case of the file.</p>
<img class="plot" id="plot-importance" alt="importance heat map"
     src="data:image/png;base64,{{ plots['importance'] }}">
</section>

<section id="shap-summary"><h2>SHAP summary</h2>
<p class="note">Each dot is a case (a random sample): its feature's contribution to the log-odds
of insufficient work, coloured by the feature's value (red high, blue low).</p>
<img class="plot" id="plot-shap-summary" alt="SHAP summary plots"
     src="data:image/png;base64,{{ plots['shap-summary'] }}">
</section>

<section id="dependence"><h2>Dependence plots</h2>
<p class="note">Each dot is a case (a random {{ interactive_cases }}): the chosen feature's
contribution to the log-odds of insufficient work in the chosen judgement, against the feature's
value, coloured by another feature (categories with a key, numbers on a colour bar). Hover a dot
for its case.
{% if turn is not none %}The caseload effect turns at about <strong>{{ "%.0f" | format(turn) }}
cases</strong>: from there on the caseload contribution, averaged over the 12 judgements, stays
more than 0.1 log-odds above its level at low caseloads (dashed line).{% endif %}</p>
<p class="controls">feature <select id="dep-feature"></select>
judgement <select id="dep-judgement"></select>
colour by <select id="dep-colour"></select></p>
<svg id="dep-svg" class="interactive" width="760" height="420" role="img"
     aria-label="dependence plot"></svg>
</section>

<section id="waterfall"><h2>Per-case waterfall</h2>
<p class="note">How one case's probability of insufficient work is built: from the typical case
(the model's base), each feature's contribution (probability scale, red raises it, blue lowers
it), to the case's probability.</p>
<p class="controls">case <select id="wf-case"></select>
judgement <select id="wf-judgement"></select></p>
<svg id="wf-svg" class="interactive" width="760" height="300" role="img"
     aria-label="waterfall"></svg>
</section>

<section id="fairness"><h2>Fairness audit</h2>
<p class="note">Decision audited: being among the riskiest 20% by risk score. A case counts as
poorly supervised when at least half of its applicable judgements were insufficient. Gender,
ethnicity and age are not model inputs, so any disparity comes through proxies. 95% bootstrap
intervals in brackets; measured on {{ held_note }}.</p>
<div class="charts">{% for chart in fairness_charts %}{{ chart | safe }}{% endfor %}</div>
<p class="note">Point and 95% interval per group; red: the two groups of a flagged disparity;
"(small)": fewer than 50 cases, left out of the ratios (most gender × ethnicity groups).</p>
{{ fairness_groups | safe }}
<h3>Disparity ratios</h3>
<p class="note">Lowest over highest group value among groups of at least 50 cases; below 0.8 is
flagged. The interval is that of the ratio between the two named groups.</p>
{{ fairness_disparities | safe }}
<h3>What carries each flagged gap</h3>
<p class="note">Gender, ethnicity and age are not model inputs, so a gap in who is selected comes
from the features the groups differ in. The gap in mean risk score between the two groups of
each flagged ratio, split by SHAP (probability scale, averaged over the judgements) into its
three largest parts.</p>
{{ fairness_attribution | safe }}
</section>

<section id="replication"><h2>Replication of published findings</h2>
<p class="note">Observed: difference in the share of applicable judgements found insufficient,
worse group minus better group (within provider or grade where stated), 95% interval from
resampling officers. Model: the same comparison of the feature's SHAP contribution (probability
scale), which separates it from correlated features. "yes" when the observed interval and the
model's effect both point the published way.</p>
{{ replication | safe }}
</section>
{% for extra in extra_sections %}
<section id="{{ extra.anchor }}"><h2>{{ extra.title }}</h2>
{{ extra.html | safe }}
</section>
{% endfor %}
<script id="report-data" type="application/json">{{ interactive_data | safe }}</script>
<script>{{ interactive_script | safe }}</script>
</body>
</html>
"""
