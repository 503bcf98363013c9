"""The bad-input battery: every problem file gives one IngestError naming the file
and the problem, and ingest_folder keeps going with the good files.

Tests run as root here, so `chmod 000` does not make a file unreadable; the
honest root-proof cases are a FIFO named like a transcript (opening it would
block forever) and a symbolic link whose target is gone. The chmod case still
runs for non-root users.
"""
from __future__ import annotations

import codecs
import io
import os
import re
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from pipeline.errors import IngestError
from pipeline.ingest import discover, ingest_folder, read_source

ROOT = Path(__file__).resolve().parents[1]


def png_bytes() -> bytes:
    """A real 1x1 PNG."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "not a Word document")
    return buf.getvalue()


PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
DANISH = "Vi sælger blåbær til Ærø og Østrig.\n\nNæste svar."

#: file name -> (content, regex of the problem); None means the file must read correctly
BATTERY: dict[str, tuple[bytes, str | None]] = {
    "empty.txt": (b"", r"file is empty"),
    "blank.md": (b" \r\n\t\n\n  ", r"contains only whitespace"),
    "report.txt": (PDF, r"looks like a PDF file, not a transcript"),
    "photo.txt": (png_bytes(), r"looks like a PNG file, not a transcript"),
    "nul_heavy.txt": (bytes(range(256)) * 8, r"looks like a binary file, not a transcript"),
    "mixed_encoding.txt": ("Første linje\n".encode() + "anden på cp1252\n".encode("cp1252"),
                           r"not valid UTF-8 at line 2, column 8 \(byte 0xe5\).*mixes encodings"),
    "cp1252.txt": (DANISH.encode("cp1252"), None),
    "latin1_byte.txt": (b"Caf\xe9 in Aarhus", None),
    "utf16_bom.txt": (codecs.BOM_UTF16_LE + DANISH.encode("utf-16-le"), None),
    "utf16_no_bom.txt": (DANISH.encode("utf-16-le"), None),
    "utf16be_no_bom.txt": (DANISH.encode("utf-16-be"), None),
    "bad_time.vtt": (b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHi.\n\n00:00:xx.000 --> 00:00:04.000\nBye.\n",
                     r"line 6: malformed cue timestamp '00:00:xx.000 --> 00:00:04.000'"),
    "bad_minutes.vtt": (b"WEBVTT\n\n00:75:01.000 --> 00:75:02.000\nHi.\n", r"line 3: malformed cue timestamp"),
    "bad_time.srt": (b"1\r\n00:00:01,000 --> 00:00:02,000\r\nHi.\r\n\r\n2\r\n00:00:03,000 -> 00:00:04,000\r\nBye.\r\n",
                     r"line 6: malformed cue timestamp '00:00:03,000 -> 00:00:04,000'"),
    "no_timing.srt": (b"1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\nBye.\n",
                      r"line 6: expected a timing line after cue number 2"),
    "no_cues.vtt": (b"WEBVTT\n\nJust some text.\n", r"contains no WebVTT cues"),
    "text_as.docx": (b"Interviewer: this is plain text saved as .docx\n",
                     r"not a Word \.docx file \(not a zip archive\)"),
    "zip_as.docx": (zip_bytes(), r"is a zip archive but not a readable Word document"),
    "broken_line.jsonl": (b'{"id": "a-1", "text": "fine"}\n{"id": "a-2", "text": "broken\n'
                          b'{"id": "a-3", "text": "ok"}\n', r"line 2: not valid JSON"),
    "dup_ids.jsonl": (b'{"id": "a-1", "text": "one"}\n{"id": "a-2", "text": "two"}\n{"id": "a-1", "text": "three"}\n',
                      r"line 3: duplicate passage id 'a-1' \(first on line 1\)"),
    "no_text.jsonl": (b'{"id": "a-1", "txt": "one"}\n', r"line 1: missing 'text'"),
    "surrogate.jsonl": (b'{"id": "a-1", "text": "bad \\ud800 escape"}\n', r"line 1: contains an invalid \\u escape"),
    "slides.xyz": (b"whatever", r"unsupported file type '\.xyz'; supported: \.docx, \.jsonl, \.markdown, \.md"),
    "old_word.doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100),
                     r"unsupported file type '\.doc' \(save it as \.docx\)"),
}


@pytest.mark.parametrize("name", sorted(BATTERY))
def test_each_bad_file_alone(tmp_path, name):
    data, problem = BATTERY[name]
    path = tmp_path / name
    path.write_bytes(data)
    if problem is None:
        [t] = read_source(path)
        assert t.text.replace("\r\n", "\n") in (DANISH, "Café in Aarhus")
        return
    with pytest.raises(IngestError, match=problem) as exc:
        read_source(path)
    assert exc.value.path == str(path)
    assert str(exc.value).startswith(f"{path}: ")


def test_jsonl_error_lists_every_broken_line(tmp_path):
    """A user mending a pre-segmented file learns every broken line from one run, not one per run."""
    path = tmp_path / "passages.jsonl"
    good = [f'{{"id": "g-{i}", "company": "Ok A/S", "text": "We export to Norway."}}' for i in range(3)]
    broken = ['{"id": "b-1", "text": "   "}', '{"id": "g-0", "text": "again"}', "{not json"]
    broken += [f'{{"id": "m-{i}"}}' for i in range(25)]
    path.write_text("\n".join(good + broken) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as exc:
        read_source(path)
    problem = exc.value.problem
    assert problem.startswith("28 broken lines: line 4: 'text' is empty; ")
    assert "line 5: duplicate passage id 'g-0' (first on line 1)" in problem
    assert "line 6: not valid JSON" in problem
    assert "line 7: missing 'text'" in problem and "line 23: missing 'text'" in problem
    assert "line 24:" not in problem and problem.endswith("; and 8 more broken line(s)")


def make_unreadables(folder: Path) -> dict[str, str]:
    """Files no reader can open, even as root; name -> expected problem."""
    os.mkfifo(folder / "pipe.txt")
    (folder / "gone.txt").symlink_to(folder / "deleted-long-ago.txt")
    (folder / "self.md").symlink_to(folder / "self.md")  # ELOOP
    (folder / "loop").symlink_to(folder, target_is_directory=True)  # a folder containing itself
    return {
        "pipe.txt": r"is not a regular file",
        "gone.txt": r"is a broken symbolic link",
        "self.md": r"is a symbolic link loop; skipped",
        "loop": r"is a symbolic link loop \(links to a folder containing it\)",
    }


def test_ingest_folder_keeps_going(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "sub").mkdir(parents=True)
    for name, (data, _) in BATTERY.items():
        (folder / name).write_bytes(data)
    (folder / "sub" / "good.md").write_text("# Good A/S\n\nWe export to Norway.", encoding="utf-8")
    expected = {name: problem for name, (_, problem) in BATTERY.items() if problem}
    expected.update(make_unreadables(folder))
    (folder / "manifest.csv").write_text("file,company\nsub/good.md,Good A/S\nmissing.txt,Ghost\n", encoding="utf-8")
    expected["missing.txt"] = r"is listed in manifest.csv but does not exist"

    transcripts, errors = ingest_folder(folder)

    by_name = {Path(e.path).name: e for e in errors}
    assert len(by_name) == len(errors), "one error per bad file"
    assert sorted(by_name) == sorted(expected)
    for name, problem in expected.items():
        assert by_name[name].path == str(folder / name)
        assert re.search(problem, by_name[name].problem), (name, by_name[name].problem)
    good = sorted(t.source for t in transcripts)
    assert good == sorted(["sub/good.md", *(n for n, (_, p) in BATTERY.items() if p is None)])
    assert next(t for t in transcripts if t.source == "sub/good.md").company == "Good A/S"


def test_unreadable_file_by_permission(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads chmod-000 files; the FIFO and broken-link cases cover unreadability")
    path = tmp_path / "secret.txt"
    path.write_text("text")
    path.chmod(0)
    try:
        with pytest.raises(IngestError, match="cannot be read: Permission denied"):
            read_source(path)
    finally:
        path.chmod(0o600)


def test_fifo_folder_and_links_named_like_transcripts(tmp_path):
    os.mkfifo(tmp_path / "pipe.vtt")
    with pytest.raises(IngestError, match="not a regular file"):
        read_source(tmp_path / "pipe.vtt")  # must not block
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(IngestError, match="is a folder, not a file"):
        read_source(tmp_path / "folder.txt")
    (tmp_path / "loop.srt").symlink_to(tmp_path / "loop.srt")
    with pytest.raises(IngestError, match="is a symbolic link loop"):
        read_source(tmp_path / "loop.srt")
    (tmp_path / "gone.md").symlink_to(tmp_path / "nowhere.md")
    with pytest.raises(IngestError, match="is a broken symbolic link"):
        read_source(tmp_path / "gone.md")


def test_pdf_named_docx(tmp_path):
    (tmp_path / "paper.docx").write_bytes(PDF)
    with pytest.raises(IngestError, match="looks like a PDF file, not a Word .docx file"):
        read_source(tmp_path / "paper.docx")


def test_folder_without_transcripts(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n")
    (tmp_path / ".hidden.txt").write_text("hidden")
    files, errors = discover(tmp_path)
    assert files == []
    assert [Path(e.path).name for e in errors] == ["notes.csv", tmp_path.name]
    assert "contains no transcripts (supported: .docx" in errors[-1].problem
    assert ingest_folder(tmp_path)[0] == []


def test_missing_folder_raises(tmp_path):
    with pytest.raises(IngestError, match="no such file or folder"):
        ingest_folder(tmp_path / "nope")


def test_broken_manifest_raises(tmp_path):
    (tmp_path / "a.txt").write_text("text")
    (tmp_path / "manifest.csv").write_text("file,company\na.txt,\n")
    with pytest.raises(IngestError, match="line 2: needs both a file and a company"):
        ingest_folder(tmp_path)


def test_five_megabyte_line_without_breaks(tmp_path):
    (tmp_path / "line.txt").write_text("word " * 1_000_000)
    (tmp_path / "label.md").write_text("Anna Holm: " + "ab:cd Ef: " * 500_000)
    (tmp_path / "cue.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.000\nBo: " + "x:y <v " * 700_000 + "\n")
    (tmp_path / "row.jsonl").write_text('{"id": "r", "text": "' + "ab " * 1_700_000 + '"}\n')
    started = time.perf_counter()
    transcripts, errors = ingest_folder(tmp_path)
    assert errors == [] and len(transcripts) == 4
    for t in transcripts:
        assert len(t.turns) == 1 and len(t.text[t.turns[0].start:t.turns[0].end]) > 3_000_000
    assert time.perf_counter() - started < 10


def test_size_guard_refuses_before_reading(tmp_path):
    path = tmp_path / "big.srt"
    with open(path, "wb") as fh:  # sparse: 600 MB on paper, nothing on disk
        fh.truncate(600 * 1024 * 1024)
    with pytest.raises(IngestError, match=r"is 600\.0 MB, over the 512 MB limit"):
        read_source(path)


HUGE_SCRIPT = """
import resource, sys, time
from pipeline.ingest import read_source
start = time.perf_counter()
[t] = read_source(sys.argv[1])
answers = [x for x in t.turns if x.role == "answer"]
last = answers[-1]
assert t.text[last.start:last.end].startswith("Vi startede"), t.text[last.start:last.end][:40]
print(len(t.turns), round(time.perf_counter() - start, 1), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.mark.huge
@pytest.mark.skipif(os.environ.get("INTCAP_HUGE") != "1", reason="set INTCAP_HUGE=1 for the 200 MB transcript")
def test_200_megabyte_transcript(tmp_path):
    para = ("Interviewer: Hvordan kom I ind på det tyske marked?\n\n"
            "Mette Holm: Vi startede med en distributør i Hamborg, og de kendte køberne. Senere ansatte vi "
            "vores egen sælger, som talte flydende tysk og havde arbejdet i branchen i mange år.\n\n").encode()
    path = tmp_path / "huge.txt"
    block = para * 2000
    with open(path, "wb") as fh:
        for _ in range(200 * 1024 * 1024 // len(block) + 1):
            fh.write(block)
    # A fresh interpreter, so the peak memory measured is this file's alone.
    out = subprocess.run([sys.executable, "-c", HUGE_SCRIPT, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=True).stdout.split()
    turns, seconds, peak_mb = int(out[0]), float(out[1]), int(out[2])
    assert turns > 1_700_000
    # bytes + text (200 MB each) + a few million Turn objects; well under 2 GB
    assert peak_mb < 2000, f"peak {peak_mb} MB"
    print(f"200 MB transcript: {turns} turns in {seconds} s, peak {peak_mb} MB")


# Peak memory is VmHWM of the child itself: ru_maxrss would carry the (large) pytest parent's
# peak across fork + exec on Linux.
BOMB_SCRIPT = """
import re, sys
from pipeline.errors import IngestError
from pipeline.ingest import read_source
def peak_mb():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) // 1024
try:
    read_source(sys.argv[1])
    print("accepted")
except IngestError as exc:
    print("refused", peak_mb(), str(exc).replace(" ", "_")[:300])
"""


def docx_bomb(path: Path, unpacked_mb: int, lie: bool) -> Path:
    """A small .docx whose document.xml unpacks to ``unpacked_mb`` MB of paragraphs; with ``lie``
    the zip header declares a few KB instead (patched after writing)."""
    para = b"<w:p><w:r><w:t>We opened an office in Hamburg and waited for calls.</w:t></w:r></w:p>" * 1000
    head = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w='
            b'"http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"/>')
        with zf.open("word/document.xml", "w", force_zip64=True) as fh:
            fh.write(head)
            for _ in range(unpacked_mb * (1 << 20) // len(para)):
                fh.write(para)
            fh.write(b"</w:body></w:document>")
    if lie:  # declare 4 KB in both the local and the central header (zip64 extra fields hold the sizes)
        data = bytearray(path.read_bytes())
        real = unpacked_mb * (1 << 20) // len(para) * len(para) + len(head) + len(b"</w:body></w:document>")
        packed = struct.pack("<Q", real)
        for at in [i for i in range(len(data)) if data.startswith(packed, i)]:
            data[at:at + 8] = struct.pack("<Q", 4096)
        path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("lie", [False, True])
def test_docx_bomb_is_a_clear_error_with_bounded_memory(tmp_path, lie):
    path = docx_bomb(tmp_path / "bomb.docx", 300, lie)
    assert path.stat().st_size < 2 * (1 << 20)  # small on disk
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300).stdout.split()
    assert out and out[0] == "refused", out
    peak_mb, message = int(out[1]), out[2].replace("_", " ")
    assert "decompression bomb" in message or "damaged" in message or "could not be unpacked" in message, message
    # python + python-docx + lxml loaded is ~100 MB; the 300 MB document is never held
    assert peak_mb < 250, f"peak {peak_mb} MB"
    print(f"docx bomb (header {'lies' if lie else 'honest'}): refused, peak {peak_mb} MB")
