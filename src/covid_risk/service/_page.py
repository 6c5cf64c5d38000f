"""The web calculator: one self-contained page (no CDN, no external font), served at ``/``.

The schema's fields are grouped as a clinician reads them (patient, context,
comorbidities, vital signs, blood tests, imaging), each numeric field with a unit
selector from the schema's unit table. The page posts to ``/v1/predict`` (the same
path as every other caller) and shows, per outcome, the probability, the band and the
factors as bars; a refused value is shown next to its field. Native form controls,
labels and a visible focus make it usable with the keyboard alone.
"""

from __future__ import annotations

import html
import json

from covid_risk.schema import FIELDS, SETTING_OUTCOMES

__all__ = ["GROUPS", "calculator_page", "schema_json"]

GROUPS: tuple[tuple[str, str], ...] = (
    ("demographics", "Patient"),
    ("vital", "Vital signs"),
    ("lab", "Blood tests"),
    ("imaging", "Imaging"),
    ("comorbidity", "Comorbidities"),
    ("context", "Context"),
)
"""Schema group -> heading, in reading order."""


def schema_json() -> dict:
    """Return the predictor fields for the page and ``/v1/schema``."""
    fields = []
    for name, f in FIELDS.items():
        if f.group == "outcome":
            continue
        fields.append({
            "name": name, "label": f.label, "group": f.group, "kind": f.kind,
            "unit": f.unit, "units": list(f.accepted_units), "categories": list(f.categories),
            "required": f.required, "description": f.description,
            "allowed": f.allowed_text(),
        })
    return {"fields": fields}


_CSS = """
:root{--ink:#1b1f24;--muted:#5b6570;--line:#d5dbe1;--bg:#f6f8fa;--accent:#0b5cad;
--up:#b3261e;--down:#1e7b34}
*{box-sizing:border-box}body{margin:0;font:15px/1.4 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:12px 20px}
h1{font-size:20px;margin:0}header p{margin:4px 0 0;color:var(--muted);font-size:13px}
main{display:grid;grid-template-columns:minmax(420px,1.1fr) minmax(360px,1fr);gap:16px;
padding:16px 20px}@media(max-width:900px){main{grid-template-columns:1fr}}
fieldset{background:#fff;border:1px solid var(--line);border-radius:6px;margin:0 0 12px;
padding:8px 12px}legend{font-weight:600;padding:0 4px}
.row{display:grid;grid-template-columns:190px 1fr 110px;gap:6px;align-items:center;
margin:4px 0}.row label{font-size:14px}.row.check{grid-template-columns:auto 1fr}
input,select,button{font:inherit}input[type=text],select{width:100%;padding:4px 6px;
border:1px solid var(--line);border-radius:4px;background:#fff}
input:focus,select:focus,button:focus{outline:3px solid #7fb2e5;outline-offset:1px}
.err{grid-column:1/-1;color:var(--up);font-size:13px;margin:0}.err:empty{display:none}
[aria-invalid=true]{border-color:var(--up)!important;background:#fff5f5!important}
.bar{display:flex;gap:8px;align-items:center}button{background:var(--accent);color:#fff;
border:0;border-radius:4px;padding:8px 16px;cursor:pointer}
#results section{background:#fff;border:1px solid var(--line);border-radius:6px;
padding:10px 12px;margin:0 0 10px}#results h3{margin:0 0 4px;font-size:16px}
.prob{font-size:26px;font-weight:700}.band{display:inline-block;margin-left:8px;padding:1px 8px;
border-radius:10px;font-size:13px;background:#e8eef5}.band.high{background:#fde7c6}
.band.very-high{background:#f9d0cd}.band.low{background:#dcf2e1}
.f{display:grid;grid-template-columns:1fr 120px 56px;gap:6px;align-items:center;font-size:13px}
.f .track{height:10px;background:#eef1f4;border-radius:3px;position:relative}
.f .fill{position:absolute;top:0;bottom:0;left:0;border-radius:3px}
.f.up .fill{background:var(--up)}.f.down .fill{background:var(--down)}
.note{color:var(--muted);font-size:13px}#general{color:var(--up)}
"""

_JS = r"""
const SCHEMA = JSON.parse(document.getElementById('schema').textContent);
const FIELDS = SCHEMA.fields;
const byName = Object.fromEntries(FIELDS.map(f => [f.name, f]));
const form = document.getElementById('form');
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.appendChild(k);
  return e;
}
function build() {
  const holder = document.getElementById('fields');
  for (const [group, title] of SCHEMA.groups) {
    const fs = el('fieldset', {id: 'group-' + group}, el('legend', {text: title}));
    for (const f of FIELDS.filter(x => x.group === group)) {
      const id = 'f-' + f.name;
      const err = el('p', {class: 'err', id: 'err-' + f.name, 'aria-live': 'polite'});
      if (f.kind === 'bool' && group === 'comorbidity') {
        const box = el('input', {type: 'checkbox', id: id, name: f.name,
                                 'aria-describedby': err.id});
        fs.appendChild(el('div', {class: 'row check'}, box,
                          el('label', {for: id, text: f.label, title: f.description}), err));
        continue;
      }
      let input;
      if (f.kind === 'bool' || f.kind === 'category') {
        input = el('select', {id: id, name: f.name, 'aria-describedby': err.id});
        input.appendChild(el('option', {value: '', text: f.required ? 'choose' : 'not recorded'}));
        const opts = f.kind === 'bool' ? [['true', 'yes'], ['false', 'no']]
                                       : f.categories.map(c => [c, c.replace(/_/g, ' ')]);
        for (const [v, t] of opts) input.appendChild(el('option', {value: v, text: t}));
      } else {
        input = el('input', {type: 'text', inputmode: 'decimal', id: id, name: f.name,
                             autocomplete: 'off', 'aria-describedby': err.id,
                             placeholder: f.allowed});
      }
      if (f.required) input.setAttribute('aria-required', 'true');
      let unit = el('span', {class: 'note', text: f.unit || ''});
      if (f.units.length > 1) {
        unit = el('select', {id: 'u-' + f.name, name: 'unit-' + f.name,
                             'aria-label': f.label + ' unit'});
        for (const u of f.units) unit.appendChild(el('option', {value: u, text: u}));
      }
      fs.appendChild(el('div', {class: 'row'},
        el('label', {for: id, text: f.label + (f.required ? ' *' : ''), title: f.description}),
        input, unit, err));
    }
    holder.appendChild(fs);
  }
}
function collect() {
  const patient = {}, units = {};
  for (const f of FIELDS) {
    const input = document.getElementById('f-' + f.name);
    if (input.type === 'checkbox') { patient[f.name] = input.checked; continue; }
    const raw = input.value.trim();
    if (raw === '') continue;
    if (f.kind === 'bool') patient[f.name] = raw === 'true';
    else if (f.kind === 'category') patient[f.name] = raw;
    else {
      const n = Number(raw.replace(',', '.'));
      patient[f.name] = raw !== '' && Number.isFinite(n) ? n : raw;
      const u = document.getElementById('u-' + f.name);
      if (u && u.value !== f.unit) units[f.name] = u.value;
    }
  }
  return [patient, units];
}
function clearErrors() {
  for (const e of document.querySelectorAll('.err')) e.textContent = '';
  for (const e of document.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  document.getElementById('general').textContent = '';
}
function showErrors(body) {
  let first = null;
  const general = [];
  for (const p of body.problems || []) {
    const box = document.getElementById('err-' + p.field);
    const input = document.getElementById('f-' + p.field);
    if (box && input) {
      box.textContent = p.message;
      input.setAttribute('aria-invalid', 'true');
      first = first || input;
    } else general.push(p.message);
  }
  if (!body.problems || general.length) general.unshift(body.detail || 'Request refused.');
  document.getElementById('general').textContent = general.join(' ');
  (first || document.getElementById('general')).focus();
}
function factorRows(list, cls, scale) {
  const out = el('div', {});
  for (const f of list) {
    const w = Math.max(2, Math.round(100 * Math.abs(f.percentage_points) / scale));
    const fill = el('div', {class: 'fill', style: 'width:' + w + '%'});
    const sign = f.percentage_points > 0 ? '+' : '';
    out.appendChild(el('div', {class: 'f ' + cls, 'data-feature': f.feature},
      el('span', {text: f.text}), el('div', {class: 'track', 'aria-hidden': 'true'}, fill),
      el('span', {text: sign + f.percentage_points.toFixed(1) + ' pp'})));
  }
  return out;
}
function showResults(body) {
  const box = document.getElementById('results');
  box.textContent = '';
  box.appendChild(el('p', {class: 'note', id: 'fingerprint',
                           text: 'Model ' + body.model_fingerprint + ' (' + body.setting + ')'}));
  for (const [name, r] of Object.entries(body.risks)) {
    const all = r.raising.concat(r.lowering);
    const scale = Math.max(1e-9, ...all.map(f => Math.abs(f.percentage_points)));
    const sec = el('section', {'data-outcome': name, 'data-probability': String(r.probability),
                               'data-band': r.band, 'aria-label': r.label});
    sec.appendChild(el('h3', {text: r.label}));
    const p = el('div', {}, el('span', {class: 'prob', text: r.percent.toFixed(1) + '%'}),
                 el('span', {class: 'band ' + r.band.replace(' ', '-'), text: r.band}));
    sec.appendChild(p);
    if (r.raising.length) { sec.appendChild(el('p', {class: 'note', text: 'Raising the risk'}));
                            sec.appendChild(factorRows(r.raising, 'up', scale)); }
    if (r.lowering.length) { sec.appendChild(el('p', {class: 'note', text: 'Lowering the risk'}));
                             sec.appendChild(factorRows(r.lowering, 'down', scale)); }
    box.appendChild(sec);
  }
  for (const w of body.warnings) box.appendChild(el('p', {class: 'note', text: w}));
  box.setAttribute('data-ready', 'true');
  document.getElementById('status').textContent = 'Risks updated.';
}
async function submit(ev) {
  ev.preventDefault();
  clearErrors();
  const results = document.getElementById('results');
  results.removeAttribute('data-ready');
  const [patient, units] = collect();
  const setting = document.getElementById('setting').value;
  const q = new URLSearchParams({setting: setting, explain: 'true'});
  if (Object.keys(units).length) q.set('units', JSON.stringify(units));
  let resp;
  try {
    resp = await fetch('v1/predict?' + q.toString(), {method: 'POST',
      headers: {'Content-Type': 'application/json'}, body: JSON.stringify(patient)});
  } catch (e) { showErrors({detail: 'The service did not answer.'}); return; }
  const body = await resp.json().catch(() => ({detail: 'Unreadable answer.'}));
  if (!resp.ok) { showErrors(body); results.setAttribute('data-error', 'true'); return; }
  results.removeAttribute('data-error');
  showResults(body);
}
function prefill() {
  const q = new URLSearchParams(location.hash.replace(/^#/, ''));
  for (const [k, v] of q) {
    if (k === 'setting') { document.getElementById('setting').value = v; continue; }
    const input = document.getElementById('f-' + k);
    if (!input) continue;
    if (input.type === 'checkbox') input.checked = v === 'true' || v === 'True';
    else input.value = v === 'True' ? 'true' : v === 'False' ? 'false' : v;
  }
}
build();
prefill();
window.addEventListener('hashchange', prefill);
form.addEventListener('submit', submit);
"""


def calculator_page(fingerprints: dict[str, str]) -> str:
    """Return the calculator page's HTML (everything inline).

    Parameters
    ----------
    fingerprints : dict
        Setting -> model fingerprint, shown in the footer.
    """
    data = schema_json() | {"groups": [list(g) for g in GROUPS],
                            "setting_outcomes": {s: list(o) for s, o in SETTING_OUTCOMES.items()}}
    embedded = json.dumps(data).replace("</", "<\\/")
    models = ", ".join(f"{html.escape(s)} {html.escape(fp)}" for s, fp in fingerprints.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>covid_risk calculator</title><style>{_CSS}</style></head>
<body><header><h1>COVID-19 complication risk calculator</h1>
<p>Calibrated, explained risks from the covid_risk models. Trained on synthetic cohorts:
not validated on real patients; not for clinical decisions on its own.</p></header>
<main><form id="form" novalidate aria-label="Patient">
<fieldset><legend>Setting</legend><div class="row"><label for="setting">Setting</label>
<select id="setting" name="setting"><option value="admission">Admitted to hospital</option>
<option value="community">Community (tested positive)</option></select><span></span></div>
</fieldset><div id="fields"></div>
<div class="bar"><button type="submit" id="predict">Predict risks</button>
<span id="status" class="note" role="status" aria-live="polite"></span></div>
<p id="general" tabindex="-1" role="alert"></p></form>
<div><h2 style="font-size:17px;margin:0 0 8px">Risks</h2><div id="results" aria-live="polite">
<p class="note">Enter at least age and sex, then press Predict risks (Enter works in any
field).</p></div><p class="note">Models: {models}</p></div></main>
<script type="application/json" id="schema">{embedded}</script>
<script>{_JS}</script></body></html>
"""
