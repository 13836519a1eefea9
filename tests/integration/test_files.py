# The watched folder (issue 14) through the real gateway: files dropped in files.inbox come out in
# files.outbox as their safe results (judged by their magic bytes and independent parsers) with a report,
# the originals in the quarantine; departments, slow writers, hostile names, unsafe and oversize files,
# the concurrency limit, and kill -9 at several points, after which every file is placed exactly once.
# Needs Debian's python3-pil, python3-pikepdf (and python3-docx with LibreOffice for the Office case):
# run with /usr/bin/python3.
import hashlib
import io
import json
import os
import time
import unittest
import urllib.request
import zipfile

import pikepdf

from archive_samples import SJIS_TEXT, TEXT, documents, encrypted_zip, pe_stub, zip_archive
from harness import Gateway, files_under, read_bytes, run_ctl, toml_string, wait_until
from image_samples import graphic, photo
from test_office import HAVE_LIBREOFFICE, docx_bytes
from test_render_pdf import text_pdf

TIMEOUT = 90
DEVICES = {"CON", "PRN", "AUX", "NUL"} | {"COM%d" % i for i in range(1, 10)} | {"LPT%d" % i for i in range(1, 10)}


def image_bytes(im, fmt):
    out = io.BytesIO()
    im.save(out, fmt)
    return out.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Watched:
    """A gateway with a watched folder in its temp dir (files.inbox must exist before it starts)."""

    def __init__(self, case, sets=None):
        self.gw = Gateway(dict({"files.settle": '"0"', "files.scan_interval": '"1s"'}, **(sets or {})))
        self.inbox = os.path.join(self.gw.workdir, "inbox")
        self.outbox = os.path.join(self.gw.workdir, "outbox")
        self.claims = os.path.join(self.gw.spool_dir, "files")
        os.mkdir(self.inbox)
        self.gw.sets.update({"files.inbox": toml_string(self.inbox), "files.outbox": toml_string(self.outbox)})
        case.addCleanup(self.gw.cleanup)
        self.gw.start()

    def drop(self, name, data, dept=None):
        """Writes `data` under a hidden name and renames it in, as an uploader that knows files.settle = 0
        would; `name` may be bytes (any name a file system allows)."""
        folder = os.fsencode(self.inbox if dept is None else os.path.join(self.inbox, dept))
        os.makedirs(folder, exist_ok=True)
        hidden = os.path.join(folder, b".upload-" + os.urandom(4).hex().encode())
        with open(hidden, "wb") as f:
            f.write(data)
        os.rename(hidden, os.path.join(folder, os.fsencode(name)))

    def wait_claims_done(self):
        """The report is placed before the audit record and the claim's removal: wait for those too."""
        if not wait_until(lambda: not os.listdir(self.claims), 10, 0.05):
            raise AssertionError("claims left: %r" % os.listdir(self.claims))

    def outputs(self):
        """Relative paths (bytes) of everything in the outbox but its temporary directory."""
        root = os.fsencode(self.outbox)
        found = []
        for top, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d != b".mugai-tmp"]
            found.extend(os.path.relpath(os.path.join(top, n), root) for n in names)
        return sorted(found)

    def reports(self):
        return [p for p in self.outputs() if p.endswith(b".report.json")]

    def wait_reports(self, n, timeout=TIMEOUT):
        if not wait_until(lambda: len(self.reports()) >= n, timeout, 0.1):
            raise AssertionError("%d of %d reports after %ss; outbox %r; log:\n%s"
                                 % (len(self.reports()), n, timeout, self.outputs(), self.gw.log_text()[-4000:]))
        return {r: self.report(r) for r in self.reports()}

    def report(self, rel):
        return json.loads(read_bytes(os.path.join(os.fsencode(self.outbox), rel)))

    def result_bytes(self, report, dept=None):
        folder = self.outbox if dept is None else os.path.join(self.outbox, dept)
        return read_bytes(os.path.join(folder, report["result"]["name"]))

    def audit(self, event):
        path = os.path.join(self.gw.quarantine_dir, "audit.log")
        with open(path, "rb") as f:
            records = [json.loads(line) for line in f if line.strip()]
        return [r for r in records if r["event"] == event]

    def exported(self, quarantine_id):
        """The original as `mugaictl quarantine export` gives it back."""
        out = os.path.join(self.gw.workdir, "exported-" + quarantine_id)
        got = run_ctl(self.gw, "quarantine", "export", quarantine_id, "--out", out)
        if got.returncode != 0:
            raise AssertionError(got.stderr)
        return read_bytes(out)

    def metric(self, name):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.gw.metrics_port, timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return int(float(line.split()[-1]))
        return 0

    def restart(self):
        self.gw.restart()


class FilesTest(unittest.TestCase):
    def test_each_type_becomes_its_safe_result_with_a_report(self):
        w = Watched(self)
        pdf = text_pdf(["Budget request of the water bureau", "Total: 42 items"])
        inputs = {
            "予算要求書.pdf": pdf,
            "地図.png": image_bytes(graphic(), "PNG"),
            "写真.jpg": image_bytes(photo(), "JPEG"),
            "報告.txt": TEXT.encode(),
            "お知らせ.txt": SJIS_TEXT.encode("cp932"),
            "書類.zip": zip_archive(documents()),
        }
        if HAVE_LIBREOFFICE:
            inputs["回答.docx"] = docx_bytes(["令和8年12月2日 総務課 御中"])
        else:
            print("skipped: the docx case (LibreOffice, bwrap or pdftotext is missing)")
        for name, data in inputs.items():
            w.drop(name, data)
        reports = w.wait_reports(len(inputs))
        by_file = {r["file"]: r for r in reports.values()}
        self.assertEqual(set(by_file), set(inputs))
        expected = {"予算要求書.pdf": ("application/pdf", b"%PDF-"), "地図.png": ("image/png", b"\x89PNG\r\n\x1a\n"),
                    "写真.jpg": ("image/jpeg", b"\xff\xd8\xff"), "報告.txt": ("text/plain", None),
                    "お知らせ.txt": ("text/plain", None), "書類.zip": ("application/zip", b"PK\x03\x04"),
                    "回答.docx": ("application/pdf", b"%PDF-")}
        for name, data in inputs.items():
            with self.subTest(name=name):
                r = by_file[name]
                self.assertEqual(r["decision"], "sanitized", r)
                self.assertEqual((r["size"], r["sha256"]), (len(data), sha256(data)))
                self.assertTrue(r["detected_type"], r)
                rtype, magic = expected[name]
                self.assertEqual(r["result"]["type"], rtype)
                result = w.result_bytes(r)
                self.assertEqual((r["result"]["size"], r["result"]["sha256"]), (len(result), sha256(result)))
                self.assertNotIn(b"/", r["result"]["name"].encode())
                if magic:
                    self.assertTrue(result.startswith(magic), result[:16])
                shown = run_ctl(w.gw, "quarantine", "show", r["quarantine_id"])
                self.assertEqual(shown.returncode, 0, shown.stderr)
                self.assertEqual(w.exported(r["quarantine_id"]), data)
        # A PDF is re-rendered (an image PDF), never the original's bytes.
        pdf_out = w.result_bytes(by_file["予算要求書.pdf"])
        self.assertNotEqual(pdf_out, pdf)
        with pikepdf.open(io.BytesIO(pdf_out)) as doc:
            self.assertEqual(len(doc.pages), 1)
            self.assertTrue(doc.pages[0].images)
        self.assertEqual(w.result_bytes(by_file["報告.txt"]).decode("utf-8"), TEXT)
        self.assertEqual(w.result_bytes(by_file["お知らせ.txt"]).decode("utf-8"), SJIS_TEXT)
        with zipfile.ZipFile(io.BytesIO(w.result_bytes(by_file["書類.zip"]))) as z:
            self.assertTrue(any(n.endswith("報告.txt") for n in z.namelist()), z.namelist())
        self.assertEqual(os.listdir(w.inbox), [])
        w.wait_claims_done()
        self.assertEqual(len(w.audit("file-sanitized")), len(inputs))
        self.assertTrue(wait_until(lambda: w.metric('mugai_files_total{decision="sanitized"}') == len(inputs), 10, 0.1))
        self.assertTrue(wait_until(lambda: len(w.gw.events("files-sanitized")) == len(inputs), 10, 0.1))
        # Their runs count with the mail's: time with the worker, and the pages and images rendered (the PDF,
        # the docx's page, the two images, and the zip's PDF and PNG at least).
        self.assertEqual(w.metric("mugai_sanitize_seconds_count"), len(inputs))
        self.assertGreaterEqual(w.metric("mugai_render_pages_total"), 6 if HAVE_LIBREOFFICE else 5)

    def test_departments_go_to_their_own_outbox_folders(self):
        w = Watched(self, {"files.subfolders": "true"})
        w.drop("議事録.txt", "総務課の議事録\n".encode(), dept="総務課")
        w.drop("議事録.txt", "水道局の議事録\n".encode(), dept="水道局")
        w.drop("top.txt", b"top level\n")
        w.drop("hidden.txt", b"never taken\n", dept=".hidden")
        w.drop(b"\x1b[31m", b"odd department\n", dept=os.fsdecode(b"\x1b[31m"))
        reports = w.wait_reports(4)
        self.assertIn(b"top.txt", w.outputs())
        self.assertEqual(read_bytes(os.path.join(w.outbox, "総務課", "議事録.txt")), "総務課の議事録\n".encode())
        self.assertEqual(read_bytes(os.path.join(w.outbox, "水道局", "議事録.txt")), "水道局の議事録\n".encode())
        # The department's folder is named safely too: no control character, no leading dot.
        odd = [p for p in w.outputs() if p.startswith(b"_u001B[31m/")]
        self.assertEqual(len(odd), 2, w.outputs())
        self.assertTrue(os.path.exists(os.path.join(w.inbox, ".hidden", "hidden.txt")))
        w.wait_claims_done()
        wheres = sorted(r["where"] for r in w.audit("file-sanitized"))
        self.assertIn("inbox/総務課", wheres)
        self.assertIn("inbox", wheres)
        self.assertEqual(len(reports), 4)

    def test_a_slowly_written_file_is_taken_whole(self):
        w = Watched(self, {"files.settle": '"3s"'})
        path = os.path.join(w.inbox, "growing.txt")
        chunks = [("第%d部 " % i).encode() * 200 + b"\n" for i in range(4)]
        start = time.monotonic()
        with open(path, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                f.flush()
                last_write = time.monotonic()
                time.sleep(1.5)  # < files.settle: the file is still changing
                self.assertEqual(w.reports(), [])
        finished = time.monotonic()
        # Not taken before files.settle has passed since the last change.
        report = w.wait_reports(1)[b"growing.txt.report.json"]
        self.assertGreaterEqual(time.monotonic() - last_write, 3)
        self.assertEqual(report["size"], sum(map(len, chunks)))
        self.assertEqual(w.result_bytes(report), b"".join(chunks))
        self.assertGreater(finished - start, 3)
        # A name that says it is being written is not taken, however long it stays.
        w.drop("upload.pdf.part", text_pdf(["partial"]))
        time.sleep(5)
        self.assertEqual(len(w.reports()), 1)
        self.assertTrue(w.gw.events("files-skipped"))
        os.rename(os.path.join(w.inbox, "upload.pdf.part"), os.path.join(w.inbox, "upload.pdf"))
        w.wait_reports(2)

    def test_hostile_names_come_out_safe(self):
        w = Watched(self)
        names = [b"CON.txt", b"a\nb.txt", b"\x1b[31mred.pdf", b"x" * 246 + b".txt", b"\xff\xfe\x81.txt", b"x.js",
                 b"\xe2\x80\xaetxt.exe", b"a\\b.txt", b"<x>:|?.txt", b"nul"]
        for name in names:
            data = text_pdf(["hostile"]) if name.endswith(b".pdf") else b"harmless text " + name.hex().encode() + b"\n"
            w.drop(name, data)
        # A name cut to 255 bytes is cut before ".report.json": every report ends in it.
        self.assertTrue(wait_until(lambda: len(w.outputs()) >= 2 * len(names), TIMEOUT, 0.1), w.outputs())
        self.assertTrue(wait_until(lambda: len(w.audit("file-sanitized")) == len(names), 10, 0.1))
        reports = {p: w.report(p) for p in w.reports()}
        self.assertEqual(len(reports), len(names), w.outputs())
        outputs = w.outputs()
        self.assertEqual(len(outputs), 2 * len(names), outputs)
        for p in outputs:
            with self.subTest(name=p):
                self.assertNotIn(b"/", p)
                p.decode("utf-8")
                self.assertFalse(any(c < 0x20 or c == 0x7F for c in p), p)
                self.assertNotIn("\u202e", p.decode())
                self.assertFalse(p.startswith(b"."))
                self.assertLessEqual(len(p), 255)
                self.assertNotIn(p.split(b".")[0].decode().upper(), DEVICES)
                self.assertFalse(any(ch in p for ch in b'\\:*?"<>|'))
        # The report keeps the name as it came (a JSON string), for the admin to recognise.
        self.assertIn("a\nb.txt", [r["file"] for r in reports.values()])
        self.assertIn(b"x.js.txt", outputs)
        self.assertEqual(files_under(os.path.join(w.gw.workdir, "etc")), [])
        self.assertEqual(os.listdir(w.inbox), [])

    def test_links_devices_and_fifos_are_not_taken(self):
        w = Watched(self)
        secret = os.path.join(w.gw.workdir, "secret.txt")
        with open(secret, "wb") as f:
            f.write(b"not for the LGWAN side\n")
        os.symlink(secret, os.path.join(w.inbox, "link.txt"))
        os.mkfifo(os.path.join(w.inbox, "fifo.txt"))
        os.mkdir(os.path.join(w.inbox, "folder"))  # files.subfolders is false
        w.drop("plain.txt", b"plain\n")
        w.wait_reports(1)
        self.assertTrue(wait_until(lambda: len(w.gw.events("files-skipped")) >= 3, 10, 0.1))
        time.sleep(2.5)  # two more scans: still not taken, and logged once each
        self.assertEqual(w.outputs(), [b"plain.txt", b"plain.txt.report.json"])
        self.assertEqual(sorted(os.listdir(w.inbox)), ["fifo.txt", "folder", "link.txt"])
        self.assertEqual(sorted(e["file"] for e in w.gw.events("files-skipped")), ["fifo.txt", "folder", "link.txt"])

    def test_a_missing_inbox_stops_the_start(self):
        gw = Gateway({"files.inbox": toml_string("/nonexistent/inbox"), "files.outbox": toml_string("/tmp/x")})
        self.addCleanup(gw.cleanup)
        with self.assertRaises(RuntimeError) as caught:
            gw.start(timeout=5)
        self.assertIn("files.inbox", str(caught.exception))

    def test_sigterm_lets_files_in_flight_finish_or_stay_claimed(self):
        w = Watched(self)
        for i in range(6):
            w.drop("資料%d.pdf" % i, text_pdf(["page of file %d" % i] * 30))
        self.assertTrue(wait_until(lambda: any(n.endswith(".claim") for n in os.listdir(w.claims)), 30, 0.001))
        self.assertEqual(w.gw.terminate(), 0)
        self.assertEqual(os.listdir(os.path.join(w.outbox, ".mugai-tmp")), [])
        w.restart()
        w.wait_reports(6)
        self.assertTrue(wait_until(lambda: len(w.audit("file-sanitized")) == 6, 10, 0.1))
        self.assertFalse([p for p in w.outputs() if b"(2)" in p])
        self.assertEqual(len(w.outputs()), 12)

    def test_a_converter_that_cannot_start_is_retried_then_the_file_removed(self):
        # bwrap replaced by a program that fails at once: the host's trouble, so the claim waits and is run
        # again at the next interval, sanitize.max_attempts runs in all; then removed, the original kept.
        w = Watched(self, {"render.office_bwrap": '"/bin/false"', "sanitize.max_attempts": "2"})
        document = docx_bytes(["令和8年12月2日 総務課 御中"])
        w.drop("依頼文.docx", document)
        report = w.wait_reports(1)["依頼文.docx.report.json".encode()]
        self.assertEqual(report["decision"], "removed")
        self.assertIn("2 runs", report["reason"])
        self.assertIn("bubblewrap", report["reason"])
        self.assertEqual(len(w.gw.events("files-retry")), 1)
        self.assertEqual(w.exported(report["quarantine_id"]), document)

    def test_an_unsafe_file_leaves_only_its_report_and_is_quarantined(self):
        w = Watched(self)
        exe = pe_stub()
        locked = encrypted_zip({"秘密.txt": TEXT.encode()}, "pass1234")
        w.drop("setup.exe", exe)
        w.drop("秘密.zip", locked)
        reports = w.wait_reports(2)
        self.assertEqual(sorted(w.outputs()), sorted(reports))
        for r, data in ((reports[b"setup.exe.report.json"], exe), (reports["秘密.zip.report.json".encode()], locked)):
            self.assertEqual(r["decision"], "removed", r)
            self.assertIsNone(r["result"])
            self.assertTrue(r["reason"])
            self.assertEqual(w.exported(r["quarantine_id"]), data)
        w.wait_claims_done()
        self.assertEqual(len(w.audit("file-removed")), 2)
        self.assertTrue(wait_until(lambda: w.metric('mugai_files_total{decision="removed"}') == 2, 10, 0.1))
        # A file's original has no recipients to be released to by mail: the refusal says how to get it.
        refused = run_ctl(w.gw, "quarantine", "release", reports[b"setup.exe.report.json"]["quarantine_id"],
                          "--reason", "the vendor's installer")
        self.assertEqual(refused.returncode, 1, refused.stderr)
        self.assertIn(b"mugaictl quarantine export", refused.stderr)

    def test_oversize_files_are_refused_with_a_report(self):
        w = Watched(self, {"files.max_size": '"1KiB"'})
        w.drop("big.txt", b"a" * 1025 + b"\n")
        w.drop("fits.txt", b"b" * 1023 + b"\n")  # exactly files.max_size
        reports = w.wait_reports(2)
        big = reports[b"big.txt.report.json"]
        self.assertEqual((big["decision"], big["size"], big["sha256"], big["result"], big["quarantine_id"]),
                         ("removed", 1026, None, None, None))
        self.assertIn("files.max_size (1024 bytes)", big["reason"])
        self.assertEqual(read_bytes(os.path.join(w.inbox, ".refused", "big.txt")), b"a" * 1025 + b"\n")
        self.assertEqual(reports[b"fits.txt.report.json"]["decision"], "sanitized")
        self.assertNotIn(b"big.txt", w.outputs())
        self.assertTrue(wait_until(lambda: w.metric('mugai_files_total{decision="refused"}') == 1, 10, 0.1))
        w.wait_claims_done()
        self.assertEqual([(r["file"], r["size"], r["quarantine_id"]) for r in w.audit("file-removed")],
                         [("big.txt", "1026", "")])
        w.wait_claims_done()

    def test_files_concurrency_bounds_the_files_in_flight(self):
        for limit in (1, 2):
            with self.subTest(concurrency=limit):
                w = Watched(self, {"files.concurrency": str(limit)})
                for i in range(6):
                    w.drop("資料%d.pdf" % i, text_pdf(["page of file %d" % i] * 30))
                most = 0
                deadline = time.monotonic() + TIMEOUT
                while len(w.reports()) < 6 and time.monotonic() < deadline:
                    claims = [n for n in os.listdir(w.claims) if n.endswith(".claim")]
                    most = max(most, len(claims))
                    time.sleep(0.005)
                w.wait_reports(6)
                self.assertLessEqual(most, limit)
                self.assertGreaterEqual(most, 1)
                self.assertTrue(wait_until(lambda: len(w.audit("file-sanitized")) == 6, 10, 0.1))

    def test_kill_9_at_any_point_places_each_file_once(self):
        w = Watched(self, {"files.concurrency": "2"})
        originals = {}
        for i in range(12):
            name = "資料%d.pdf" % i if i % 2 else "メモ%d.txt" % i
            data = text_pdf(["document %d" % i] * 40) if i % 2 else ("メモ %d\n" % i).encode() * 50
            originals[name] = data
            w.drop(name, data)
        points = {
            "a claim is written": lambda: any(n.endswith(".claim") for n in os.listdir(w.claims)),
            "its names are recorded": lambda: any(n.endswith(".placed") for n in os.listdir(w.claims)),
            "a result is placed": lambda: len(w.outputs()) > len(w.reports()),
        }
        reached = []
        for _ in range(2):  # each point twice: the second time, some files are being recovered
            for point, seen in points.items():
                if wait_until(seen, 30, 0.001):
                    w.gw.kill()
                    reached.append(point)
                    w.restart()
        self.assertIn("a claim is written", reached)
        reports = w.wait_reports(len(originals))
        self.assertTrue(wait_until(lambda: len(w.audit("file-sanitized")) >= len(originals), 30, 0.1),
                        (reached, w.audit("file-sanitized"), w.gw.log_text()[-6000:]))
        time.sleep(1.5)  # a duplicate would show up within a scan
        outputs = w.outputs()
        self.assertEqual(len(outputs), 2 * len(originals), outputs)
        self.assertFalse([p for p in outputs if b"(2)" in p], outputs)
        by_file = {r["file"]: r for r in reports.values()}
        self.assertEqual(set(by_file), set(originals))
        for name, data in originals.items():
            self.assertEqual(by_file[name]["sha256"], sha256(data))
        audited = [r["file"] for r in w.audit("file-sanitized")]
        self.assertEqual(sorted(audited), sorted(originals), (reached, w.gw.log_text()[-6000:]))
        for r in reports.values():
            self.assertEqual(w.exported(r["quarantine_id"]), originals[r["file"]])
        self.assertEqual(os.listdir(w.inbox), [])
        w.wait_claims_done()
        self.assertEqual(os.listdir(os.path.join(w.outbox, ".mugai-tmp")), [])


if __name__ == "__main__":
    unittest.main()
