"""The report's inline stylesheet (screen and print) and its one small script.

The script only sorts and filters what is already in the page; without it the report
reads the same, with the controls hidden.
"""
from __future__ import annotations

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}h2{margin-top:0}
nav{font-size:.9rem;margin:.5rem 0 1rem}nav a{margin-right:.8rem}
.card,.panel{border:1px solid #ccc;border-radius:6px;padding:1rem;margin:1rem 0}
.panel{background:#fcfcfc}
.focus{font-weight:600}
mark{background:#fff3a8}
blockquote{margin:.5rem 0;padding:.2rem .7rem;border-left:3px solid #ddd;font-size:.92rem}
blockquote p{margin:.2rem 0}
.ev-head{display:flex;flex-wrap:wrap;gap:.35rem;align-items:baseline}
.badge{border:1px solid;border-radius:3px;padding:0 .3rem;font-size:.85rem;white-space:nowrap}
table{border-collapse:collapse}td,th{padding:.2rem .5rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}
.muted{color:#666;font-size:.85rem}
.tablewrap{overflow-x:auto;max-width:100%}
.heat td.heat-cell{text-align:center;min-width:3.2rem;border:1px solid #fff;font-variant-numeric:tabular-nums}
.heat th.group{text-align:center;border-bottom:2px solid #999}
.legends{display:flex;flex-wrap:wrap;gap:1.5rem;margin:.6rem 0;font-size:.85rem}
.ramp-legend{display:flex;align-items:center;gap:.4rem}
.ramp{display:inline-block;position:relative;width:10rem;height:.9rem;border:1px solid #999}
.ramp-mid{position:absolute;left:50%;top:100%;transform:translateX(-50%);font-size:.7rem}
.ramp-legend:has(.ramp-mid){padding-bottom:.8rem}
.ramp-title{font-weight:600}
#overview td,#overview th{font-variant-numeric:tabular-nums}
#overview th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:inherit}
#overview th[aria-sort=ascending] button::after{content:" \\25B2"}
#overview th[aria-sort=descending] button::after{content:" \\25BC"}
.controls{display:flex;flex-wrap:wrap;gap:.4rem 1rem;align-items:center;margin:.5rem 0;font-size:.9rem}
.controls[hidden]{display:none}
.bars{max-width:100%;height:auto}
dl.codebook dt{font-weight:600;margin-top:.5rem}dl.codebook dd{margin:.1rem 0 .3rem 1.2rem}
dl.valences{display:grid;grid-template-columns:2rem 1fr;gap:.2rem .5rem}dl.valences dt,dl.valences dd{margin:0}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.35rem;vertical-align:-.05rem;border-radius:2px}
.history-charts{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem}.history-firm h3{margin:.8rem 0 .2rem}
.history-firm.removed h3{color:#777}.removed-note{color:#b00;font-size:.85rem;font-weight:normal}
.history-key{white-space:nowrap;margin-right:.8rem}.history-key svg{vertical-align:middle}
svg.history{max-width:100%;height:auto}
@media print{
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  body{margin:0;max-width:none;font-size:10pt}
  nav,.controls{display:none}
  a{color:inherit;text-decoration:none}
  .card,.panel{break-inside:avoid-page;border-color:#999}
  .card{break-before:auto}
  .tablewrap{overflow:visible}
  blockquote{break-inside:avoid}
}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };

  // overview: click a header to sort (numbers high to low first), type or pick to filter
  var table = $("overview");
  if (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th[data-type]").forEach(function (th) {
      th.querySelector("button").addEventListener("click", function () {
        var numeric = th.dataset.type === "num";
        var current = th.getAttribute("aria-sort");
        var dir = current ? (current === "ascending" ? "descending" : "ascending") : (numeric ? "descending" : "ascending");
        table.querySelectorAll("th[aria-sort]").forEach(function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", dir);
        var col = th.cellIndex, sign = dir === "ascending" ? 1 : -1;
        var key = function (row) { var c = row.cells[col]; return c.dataset.v !== undefined ? c.dataset.v : c.textContent; };
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a), y = key(b);
          return sign * (numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y));
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
    var firmFilter = function () {
      var text = $("firm-filter").value.trim().toLowerCase(), focus = $("focus-filter").value, shown = 0;
      Array.prototype.forEach.call(body.rows, function (r) {
        var ok = r.dataset.company.indexOf(text) >= 0 && (!focus || r.dataset.focus === focus);
        r.hidden = !ok;
        if (ok) shown++;
      });
      $("firm-count").textContent = shown + " of " + body.rows.length + " firms";
    };
    $("firm-filter").addEventListener("input", firmFilter);
    $("focus-filter").addEventListener("change", firmFilter);
    $("overview-filter").hidden = false;
    firmFilter();
  }

  // evidence: show passages with a code matching code, valence and least confidence
  var filter = $("evidence-filter");
  if (filter) {
    var evidenceFilter = function () {
      var code = $("ev-code").value, valence = $("ev-valence").value, least = parseFloat($("ev-conf").value);
      var shown = 0, all = document.querySelectorAll("blockquote.evidence");
      $("ev-conf-value").textContent = least.toFixed(2);
      document.querySelectorAll(".evidence-list").forEach(function (list) {
        var any = false;
        list.querySelectorAll("blockquote.evidence").forEach(function (q) {
          var ok = q.dataset.codes.split(" ").some(function (tag) {
            var t = tag.split(":");
            return (!code || t[0] === code) && (!valence || t[1] === valence) && parseFloat(t[2]) >= least;
          });
          q.hidden = !ok;
          if (ok) { shown++; any = true; }
        });
        var none = list.nextElementSibling;
        if (none && none.classList.contains("ev-none")) none.hidden = any;
      });
      $("ev-count").textContent = shown + " of " + all.length + " passages shown";
    };
    ["ev-code", "ev-valence", "ev-conf"].forEach(function (id) { $(id).addEventListener("input", evidenceFilter); });
    filter.hidden = false;
    evidenceFilter();
  }
})();
"""
