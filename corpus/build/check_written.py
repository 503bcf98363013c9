"""Check a writer batch file: python3 check_written.py written/t01.jsonl [--target N]"""
import json, sys, collections
path = sys.argv[1]
target = int(sys.argv[sys.argv.index("--target") + 1]) if "--target" in sys.argv else None
REQ = ["id", "company", "text", "codes", "language", "register", "country", "industry"]
CODES = {"NET", "ENT", "ABS", "PRI"}
VAL = {"+", "-", "0"}
LANGS = {"en", "da", "sv", "no", "de"}
REGS = {"interview-answer", "qa-turn", "otter-turns", "zoom-turns", "case-study", "trade-press", "founder-blog", "oral-history", "podcast"}
SPOKEN = {"interview-answer", "qa-turn", "otter-turns", "zoom-turns", "podcast"}
errors, rows, ids, texts = [], [], set(), set()
for n, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except Exception as e:
        errors.append(f"line {n}: not JSON ({e})"); continue
    for k in REQ:
        if k not in r: errors.append(f"line {n}: missing {k}")
    if r.get("id") in ids: errors.append(f"line {n}: duplicate id {r.get('id')}")
    ids.add(r.get("id"))
    t = " ".join(str(r.get("text", "")).split())
    if t in texts: errors.append(f"line {n}: duplicate text")
    texts.add(t)
    c = r.get("codes", {})
    if not isinstance(c, dict) or not set(c) <= CODES or not set(c.values()) <= VAL:
        errors.append(f"line {n}: bad codes {c}")
    if r.get("language") not in LANGS: errors.append(f"line {n}: bad language {r.get('language')}")
    if r.get("register") not in REGS: errors.append(f"line {n}: bad register {r.get('register')}")
    w = len(t.split())
    if w < 25 or w > 260: errors.append(f"line {n}: {w} words (keep 25-260)")
    rows.append(r)
ids_all = {r["id"] for r in rows if "id" in r}
for r in rows:
    if r.get("pair") and r["pair"] not in ids_all:
        errors.append(f"{r['id']}: pair {r['pair']} not in file")
N = len(rows)
print(f"{N} rows" + (f" (target {target})" if target else ""))
print("errors:", len(errors)); [print("  ", e) for e in errors[:30]]
cnt = collections.Counter
print("languages:", dict(cnt(r.get("language") for r in rows)))
print("registers:", dict(cnt(r.get("register") for r in rows)), f"spoken share {sum(r.get('register') in SPOKEN for r in rows)/max(N,1):.0%}")
print("firms:", len({r.get('company') for r in rows}), " countries:", len({r.get('country') for r in rows}), " industries:", len({r.get('industry') for r in rows}))
for code in sorted(CODES):
    v = cnt(r["codes"][code] for r in rows if isinstance(r.get("codes"), dict) and code in r["codes"])
    print(f"{code}: positives {sum(v.values())}  +{v['+']} -{v['-']} 0:{v['0']}")
none = [r for r in rows if not r.get("codes")]
print(f"no code: {len(none)} ({len(none)/max(N,1):.0%}), of which marked lookalike: {sum(bool(r.get('lookalike')) for r in none)}")
print("pairs:", sum(bool(r.get("pair")) for r in rows))
