// intcap review page. Every piece of transcript text is set with textContent: never as HTML.
"use strict";
(function () {
  const CODES = ["NET", "ENT", "ABS", "PRI"];
  const VALENCES = ["+", "-", "0"];
  const csrf = document.querySelector('meta[name="intcap-csrf"]').content;
  const $ = (id) => document.getElementById(id);
  let current = null;   // the passage shown
  let chosen = {};      // code -> valence, the answer being built
  let focus = null;     // the code +/-/0 apply to
  let busy = false;
  let help = {};        // code -> {name, definition, examples}, from /api/codebook
  // below this many answers the share of agreeing answers says little, so no percentage is shown
  const MIN_FOR_ESTIMATE = 5;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function status(text, error) {
    $("status").textContent = text || "";
    $("status").className = error ? "error" : "";
  }

  function showProgress(p, retrain) {
    if (!p) return;
    $("progress").textContent = p.reviewed + " reviewed / " + p.queued + " queued";
    $("model").textContent = p.model_version ? "Suggestions from model " + p.model_version : "";
    showGain(p.gain, p.model_version);
    const agree = p.agreement === null ? 0 : Math.round(p.agreement * p.reviewed);
    let words;
    if (p.reviewed < MIN_FOR_ESTIMATE) {
      words = "Estimated agreement: no estimate yet; it needs " + MIN_FOR_ESTIMATE + " answers" +
        (p.reviewed ? " (" + agree + " of " + p.reviewed + " so far equal the model's suggestion)." : ".");
    } else {
      words = "Estimated agreement " + Math.round(p.agreement * 100) + " %: " + agree + " of your " + p.reviewed +
        " answers equal the model's suggestion exactly. The queue shows the passages it is least sure of first, " +
        "so this runs below its agreement on typical passages.";
    }
    $("agreement").textContent = words;
    $("agreement").title = "The share of reviewed passages where your answer (codes and valences) was the model's suggestion.";
    if (retrain) {
      const n = retrain.answers;
      $("retrain").textContent = "The next retrain (intcap review round) will use " + n + " answer" + (n === 1 ? "" : "s") +
        " from this corpus, besides the thesis's coded passages.";
    }
  }

  // a kappa with two decimals ("-0.00" is shown as "0.00")
  function kappa(x) {
    if (x === null || x === undefined) return "–";
    const s = x.toFixed(2);
    return s === "-0.00" ? "0.00" : s;
  }

  // the last learning round's held-back estimate (OUT_DIR/review_adaptation.json); nothing without one
  function showGain(g, shown) {
    const box = $("gain-figures");
    $("gain").textContent = "";
    $("gain").title = "";
    $("gain-codes").textContent = "";
    box.hidden = !g;
    if (!g) return;
    const round = "model " + (g.base_model_version ? g.base_model_version + " → " : "") + g.model_version +
      (shown && shown !== g.model_version ? " (the suggestions shown are from " + shown + ")" : "");
    const hb = g.held_back;
    if (!hb) {
      $("gain").textContent = "Gain: not yet estimated (needs at least " + g.min_answers + " answers)";
      $("gain").title = "The last learning round had " + g.answers + " answer" + (g.answers === 1 ? "" : "s") +
        "; with fewer than " + g.min_answers + " it does not estimate how much the updated model agrees better.";
      $("gain-codes").textContent = round;
      return;
    }
    const before = kappa(hb.kappa_before), after = kappa(hb.kappa_after);
    const change = before === after ? "stayed at " + after
      : (hb.kappa_after > hb.kappa_before ? "rose from " : "fell from ") + before + " to " + after;
    $("gain").textContent = "Agreement on held-back answers " + change + " (" + hb.answers + " answer" +
      (hb.answers === 1 ? "" : "s") + ")";
    $("gain").title = "Mean Cohen's kappa over NET/ENT/ABS/PRI between the model's codes and your answers, " +
      "each answer predicted by a model that did not see it" + (hb.method ? " (" + hb.method + ")" : "") +
      ": before = the starting model, after = the model updated on the answers. The answers are on the passages " +
      "the queue was least sure of, so this is the gain on those, not on the whole corpus.";
    const parts = CODES.filter((c) => hb.per_code[c]).map((c) =>
      c + " " + kappa(hb.per_code[c].before) + " → " + kappa(hb.per_code[c].after));
    $("gain-codes").textContent = (parts.length ? parts.join(" · ") + " · " : "") + round;
  }

  function renderHelp(book) {
    const box = $("code-help");
    box.replaceChildren();
    for (const c of book.codes) {
      help[c.code] = c;
      const card = el("details", null, "code-help");
      card.dataset.code = c.code;
      card.append(el("summary", c.code + " · " + c.name));
      if (c.definition) card.append(el("p", c.definition));
      const dl = el("dl");
      for (const v of VALENCES) {
        if (!c.examples[v]) continue;
        const dt = el("dt", v === "-" ? "−" : v);
        dt.title = { "+": "shown", "-": "lacking", "0": "neither" }[v];
        dl.append(dt, el("dd", "“" + c.examples[v] + "”"));
      }
      card.append(dl);
      box.append(card);
    }
    $("codebook-source").textContent = "Definitions from " + book.source + "; the examples are short illustrations after CODEBOOK.md.";
    markHelp();
  }

  function markHelp() {
    // the selected code's entry is open; with none selected, all are
    document.querySelectorAll(".code-help").forEach((card) => {
      const mine = card.dataset.code === focus;
      card.classList.toggle("current", mine);
      card.open = mine || focus === null;
    });
  }

  function renderContext(box, ctx, label) {
    box.replaceChildren();
    if (!ctx) { box.hidden = true; return; }
    box.hidden = false;
    box.append(el("span", label + (ctx.speaker ? " – " + ctx.speaker : "") + ": ", "who"), el("span", ctx.text));
  }

  function renderText(box, text, spans) {
    // merge evidence spans, then alternate plain text nodes and <mark> elements
    const marks = spans.slice().sort((a, b) => a.start - b.start);
    box.replaceChildren();
    let at = 0;
    for (const s of marks) {
      const start = Math.max(s.start, at);
      if (start >= s.end) continue;
      if (start > at) box.append(document.createTextNode(text.slice(at, start)));
      const mark = el("mark", text.slice(start, s.end));
      mark.title = "evidence for " + s.code;
      box.append(mark);
      at = s.end;
    }
    if (at < text.length) box.append(document.createTextNode(text.slice(at)));
  }

  function renderCodes() {
    const rows = $("code-rows");
    rows.replaceChildren();
    current.codes.forEach((c, i) => {
      const tr = el("tr");
      tr.dataset.code = c.code;
      if (c.code in chosen) tr.classList.add("on");
      if (c.code === focus) tr.classList.add("focus");
      if (c.assigned) tr.classList.add("suggested");
      const name = el("td", null, "code");
      const abbr = el("abbr", c.code);
      const h = help[c.code];
      if (h) {
        abbr.title = h.name + ": " + h.definition;
        name.append(abbr, el("span", h.name, "name"));
      } else {
        name.append(abbr);
      }
      tr.append(el("td", String(i + 1)), name);
      tr.append(el("td", (c.p === null ? "–" : c.p.toFixed(2)) + " (" + c.threshold.toFixed(2) + ")"));
      const vp = c.valence_p || {};
      tr.append(el("td", VALENCES.map((v) => v + " " + (vp[v] === undefined ? "–" : vp[v].toFixed(2))).join("  ")));
      const cell = el("td", null, "valence");
      const toggle = el("button", c.code in chosen ? "✓" : "add");
      toggle.type = "button";
      toggle.addEventListener("click", () => toggleCode(c.code));
      cell.append(toggle);
      for (const v of VALENCES) {
        const b = el("button", v);
        b.type = "button";
        if (chosen[c.code] === v) b.classList.add("chosen");
        b.addEventListener("click", () => { focus = c.code; setValence(v); });
        cell.append(b);
      }
      tr.append(cell);
      rows.append(tr);
    });
    markHelp();
  }

  function render(data) {
    showProgress(data.progress, data.retrain);
    current = data.passage;
    if (!current) {
      $("main").hidden = true;
      $("done").hidden = false;
      return;
    }
    $("done").hidden = true;
    $("main").hidden = false;
    $("passage").dataset.id = current.id;
    $("company").textContent = current.company;
    $("source").textContent = current.source;
    $("speaker").textContent = current.speaker || "–";
    renderContext($("previous"), current.previous, "before");
    renderContext($("next"), current.next, "after");
    renderText($("passage"), current.text, current.evidence || []);
    // after an undo the reviewer's own answer comes back, not the model's suggestion
    chosen = Object.assign({}, current.given || current.suggestion);
    focus = Object.keys(chosen)[0] || null;
    renderCodes();
  }

  function suggestedValence(code) {
    const c = current.codes.find((x) => x.code === code);
    return (current.suggestion[code]) || (c && c.valence) || "0";
  }

  function toggleCode(code) {
    if (!current) return;
    if (code in chosen) { delete chosen[code]; } else { chosen[code] = suggestedValence(code); }
    focus = code;
    renderCodes();
  }

  function setValence(v) {
    if (!current || !focus) return;
    chosen[focus] = v;
    renderCodes();
  }

  async function call(method, path, body) {
    const opts = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      opts.body = JSON.stringify(body);
    }
    const response = await fetch(path, opts);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
    return data;
  }

  async function act(fn) {
    if (busy) return;
    busy = true;
    try { await fn(); } catch (e) { status(e.message, true); } finally { busy = false; }
  }

  const reviewer = () => $("reviewer").value.trim();
  const load = () => act(async () => {
    try { renderHelp(await call("GET", "/api/codebook")); } catch (e) { $("codebook-source").textContent = "codebook unavailable: " + e.message; }
    render(await call("GET", "/api/next"));
  });

  function confirmAnswer() {
    if (!current) return;
    act(async () => {
      const saved = await call("POST", "/api/answer", { passage_id: current.id, codes: chosen, reviewer: reviewer() });
      status("saved answer #" + saved.answer_id + " for " + saved.passage_id);
      render(await call("GET", "/api/next"));
    });
  }

  function skip() {
    if (!current) return;
    act(async () => {
      await call("POST", "/api/skip", { passage_id: current.id, reviewer: reviewer() });
      status("skipped " + current.id);
      render(await call("GET", "/api/next"));
    });
  }

  function undo() {
    act(async () => {
      const r = await call("POST", "/api/undo", { reviewer: reviewer() });
      render(await call("GET", "/api/next"));
      status(r.undone ? "undid the answer for " + r.undone + ": your answer is back, change it and confirm"
        : "nothing to undo");
    });
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.target instanceof HTMLInputElement || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const i = ["1", "2", "3", "4"].indexOf(ev.key);
    if (i >= 0) toggleCode(CODES[i]);
    else if (ev.key === "+" || ev.key === "=") setValence("+");
    else if (ev.key === "-") setValence("-");
    else if (ev.key === "0") setValence("0");
    else if (ev.key === "Enter") confirmAnswer();
    else if (ev.key === "s") skip();
    else if (ev.key === "u") undo();
    else return;
    ev.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", () => {
    $("confirm").addEventListener("click", confirmAnswer);
    $("skip").addEventListener("click", skip);
    $("undo").addEventListener("click", undo);
    load();
  });
})();
