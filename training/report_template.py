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
.note { color: #555; font-size: 92%; max-width: 60em; }
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
training): LightGBM against the logistic-regression and prevalence baselines.</p>
{{ training_metrics | safe }}
{% else %}
<p class="note">The training run's baseline metrics are not available from MLflow for this model.
</p>
{% endif %}
<h3>Champion on this file</h3>
<p class="note">Measured on {{ held_note }}.</p>
{{ held_metrics | safe }}
</section>

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
<p class="note">Contribution of caseload, officer changes, RoSH and grade against their value, for
the judgement each matters most to, coloured by the feature it interacts with most.
{% if turn is not none %}The caseload effect turns at about <strong>{{ "%.0f" | format(turn) }}
cases</strong>: from there on the caseload contribution, averaged over the 12 judgements, stays
more than 0.1 log-odds above its level at low caseloads.{% endif %}</p>
<img class="plot" id="plot-dependence" alt="dependence plots"
     src="data:image/png;base64,{{ plots['dependence'] }}">
</section>

<section id="fairness"><h2>Fairness audit</h2>
<p class="note">Decision audited: being among the riskiest 20% by risk score. A case counts as
poorly supervised when at least half of its applicable judgements were insufficient. Gender,
ethnicity and age are not model inputs, so any disparity comes through proxies. 95% bootstrap
intervals in brackets; measured on {{ held_note }}.</p>
{{ fairness_groups | safe }}
<h3>Disparity ratios</h3>
<p class="note">Lowest over highest group value among groups of at least 50 cases; below 0.8 is
flagged. The interval is that of the ratio between the two named groups.</p>
{{ fairness_disparities | safe }}
</section>

<section id="replication"><h2>Replication of published findings</h2>
<p class="note">Observed: difference in the share of applicable judgements found insufficient,
worse group minus better group (within provider or grade where stated), 95% interval from
resampling officers. Model: the same comparison of the feature's SHAP contribution (probability
scale), which separates it from correlated features. "yes" when the observed interval and the
model's effect both point the published way.</p>
{{ replication | safe }}
</section>
</body>
</html>
"""
