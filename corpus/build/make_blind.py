import json, sys
b = sys.argv[1]
with open(f"/work/corpus_work/written/{b}.jsonl") as f, open(f"/work/corpus_work/blind/{b}.jsonl", "w") as out:
    for line in f:
        if line.strip():
            r = json.loads(line)
            out.write(json.dumps({"id": r["id"], "company": r["company"], "text": r["text"]}, ensure_ascii=False) + "\n")
print("ok")
