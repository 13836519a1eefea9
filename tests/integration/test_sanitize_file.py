# `mugaictl sanitize-file` through the real binaries (its sandboxed worker, poppler, libvips, libarchive,
# LibreOffice): each supported type in and its safe result out, judged by independent readers (pikepdf,
# pdftotext, Pillow, zipfile); unsafe files leave nothing but the reason and their quarantined original;
# OUT is never partial; the real-world files of ../shared/corpus go through without a crash or hang.
# Run with /usr/bin/python3 (Pillow, pikepdf, python3-docx).
import io
import json
import os
import subprocess
import tempfile
import unicodedata
import unittest
import zipfile

import pikepdf
from PIL import Image

import archive_samples as samples
import image_samples
from harness import MUGAICTL, SOURCE_DIR, toml_string
from test_office import HAVE_LIBREOFFICE, docx_bytes
from test_render_pdf import pdftotext, text_pdf

TIMEOUT = 120  # one file, LibreOffice included, on a busy two-core machine
CORPUS = os.path.join(SOURCE_DIR, "..", "shared", "corpus")
MAGIC = {".pdf": b"%PDF-", ".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff", ".zip": b"PK\x03\x04"}
DEVICE_NAMES = {"con", "prn", "aux", "nul"} | {"com%d" % i for i in range(1, 10)} | {"lpt%d" % i for i in range(1, 10)}
# A PE header: detected as an executable, which no rule converts.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00"


class Run:
    def __init__(self, proc, out_path, report):
        self.code = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        self.out_path = out_path
        self.report = report

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read()


class SanitizeFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="mugai-sanitize-file-")
        self.dir = self.tmp.name
        self.config = os.path.join(self.dir, "mugai.toml")
        with open(self.config, "w", encoding="utf-8") as f:
            f.write('[smtp]\nlisten = ["127.0.0.1:2525"]\nhostname = "mugai.localhost"\naccept_domains = ["t.test"]\n'
                    "[delivery]\nnext_hop = %s\n[spool]\ndir = %s\n[quarantine]\ndir = %s\n"
                    % (toml_string("maildir:" + os.path.join(self.dir, "maildir")),
                       toml_string(os.path.join(self.dir, "spool")), toml_string(os.path.join(self.dir, "quarantine"))))

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run_ctl(self, *args, cwd=None, timeout=TIMEOUT):
        return subprocess.run([MUGAICTL, *args], capture_output=True, timeout=timeout, cwd=cwd or self.dir)

    def sanitize(self, name, data, out_name=None, config=False, sets=()):
        """`name` (holding `data`) through sanitize-file to OUT, with --report; the Run."""
        src = self.write(name, data)
        out = os.path.join(self.dir, out_name or "out-" + name)
        report = os.path.join(self.dir, "report.json")
        if os.path.exists(report):
            os.unlink(report)
        argv = ["sanitize-file", "--report", report]
        if config:
            argv += ["--config", self.config]
        for s in sets:
            argv += ["--set", s]
        proc = self.run_ctl(*argv, src, out)
        parsed = None
        if os.path.exists(report):
            with open(report, encoding="utf-8") as f:
                parsed = json.load(f)
        return Run(proc, out, parsed)

    def assert_safe_name(self, name):
        for bad in ("/", "\\"):
            self.assertNotIn(bad, name)
        self.assertFalse(name.startswith("."), name)
        odd = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")]
        self.assertFalse(odd, "%r carries %r" % (name, odd))
        self.assertNotIn(name.split(".")[0].strip().lower(), DEVICE_NAMES, name)

    def assert_report(self, run, name, data, decision):
        r = run.report
        self.assertIsNotNone(r, run.stderr)
        self.assertEqual(r["file"], name)
        self.assertEqual(r["size"], len(data))
        import hashlib
        self.assertEqual(r["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(r["decision"], decision, r)
        self.assertTrue(r["parts"], r)
        return r

    # --- each supported type --------------------------------------------------------------------------

    def test_pdf_becomes_an_image_pdf_with_its_text(self):
        data = text_pdf(["Application form 2026", "Return by Friday"])
        run = self.sanitize("申請書.pdf", data)
        self.assertEqual(run.code, 0, run.stderr)
        out = run.output()
        self.assertNotEqual(out, data)
        with pikepdf.open(io.BytesIO(out)) as pdf:
            self.assertEqual(len(pdf.pages), 1)
            self.assertIn("/XObject", pdf.pages[0].Resources)  # the page is an image
        for active in (b"/JavaScript", b"/OpenAction", b"/AA", b"/Launch", b"/EmbeddedFile", b"/AcroForm", b"/URI"):
            self.assertNotIn(active, out)
        self.assertIn("Application form 2026", pdftotext(out))
        r = self.assert_report(run, "申請書.pdf", data, "sanitized")
        self.assertEqual(r["detected_type"], "application/pdf")
        self.assertEqual(r["result"]["type"], "application/pdf")
        self.assertEqual(r["result"]["name"], "申請書.pdf")
        self.assertIsNone(r["quarantine_id"])  # no --config: nothing is kept

    def test_image_is_re_encoded_without_its_metadata(self):
        data = image_samples.jpeg_with_exif_gps()
        run = self.sanitize("写真.jpg", data)
        self.assertEqual(run.code, 0, run.stderr)
        out = run.output()
        self.assertNotEqual(out, data)
        img = Image.open(io.BytesIO(out))
        self.assertIn(img.format, ("JPEG", "PNG"))
        self.assertFalse(img.getexif(), "EXIF crossed")
        self.assertEqual(self.assert_report(run, "写真.jpg", data, "sanitized")["detected_type"], "image/jpeg")

    def test_text_becomes_utf8_named_txt(self):
        data = "お知らせ：表彰式は十二月です。\r\n".encode("cp932")
        run = self.sanitize("お知らせ.txt", data)
        self.assertEqual(run.code, 0, run.stderr)
        self.assertEqual(run.output().decode("utf-8"), "お知らせ：表彰式は十二月です。\n")
        # A script's text crosses as text, under a name no one can run.
        src = self.write("run.js", b"WScript.Echo('hello');\n")
        proc = self.run_ctl("sanitize-file", src)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.decode().strip(), "run.js.txt")
        with open(os.path.join(self.dir, "run.js.txt"), "rb") as f:
            self.assertEqual(f.read(), b"WScript.Echo('hello');\n")

    @unittest.skipUnless(HAVE_LIBREOFFICE, "LibreOffice (soffice), bwrap or pdftotext is missing")
    def test_office_document_becomes_an_image_pdf(self):
        data = docx_bytes(["令和8年12月2日 総務課 御中", "Quarterly figures attached"])
        run = self.sanitize("回答.docx", data)
        self.assertEqual(run.code, 0, run.stderr)
        out = run.output()
        self.assertTrue(out.startswith(b"%PDF-"))
        self.assertIn("Quarterly figures attached", pdftotext(out))
        r = self.assert_report(run, "回答.docx", data, "sanitized")
        self.assertEqual(r["result"]["name"], "回答.pdf")

    def test_archive_becomes_a_zip_of_safe_results(self):
        entries = dict(samples.documents())
        entries["tool/setup.exe"] = EXE
        data = samples.zip_archive(entries)
        run = self.sanitize("資料.zip", data, out_name="out.zip")
        self.assertEqual(run.code, 0, run.stderr)
        with zipfile.ZipFile(io.BytesIO(run.output())) as z:
            names = sorted(i.filename for i in z.infolist())
            contents = {i.filename: z.read(i) for i in z.infolist()}
        for name in names:
            self.assert_safe_name(name)
            ext = os.path.splitext(name)[1]
            if ext in MAGIC:
                self.assertTrue(contents[name].startswith(MAGIC[ext]), name)
            else:
                self.assertEqual(ext, ".txt", name)
                contents[name].decode("utf-8")
        self.assertEqual(len(names), 4, names)  # the exe is not among them
        self.assertFalse(any("setup" in n for n in names), names)
        for name, original in entries.items():
            if not name.endswith(".txt"):  # UTF-8 text is safe as it is
                self.assertNotIn(original, contents.values(), name)
        sjis = next(n for n in names if "お知らせ" in n)
        self.assertEqual(contents[sjis].decode("utf-8").strip(), samples.SJIS_TEXT.strip())
        r = self.assert_report(run, "資料.zip", data, "sanitized")
        self.assertEqual(r["result"]["type"], "application/zip")
        removed = [p for p in r["parts"] if p["decision"] == "removed"]
        self.assertEqual([p["filename"] for p in removed], ["資料.zip/tool/setup.exe"])

    # --- unsafe files, usage, limits, atomic OUT -------------------------------------------------------

    def test_unsafe_file_leaves_only_its_reason_and_the_quarantined_original(self):
        run = self.sanitize("invoice.exe", EXE, config=True)
        self.assertEqual(run.code, 3, run.stderr)
        self.assertIn("invoice.exe", run.stderr)
        self.assertIn("removed", run.stderr)
        self.assertFalse(os.path.exists(run.out_path))
        r = self.assert_report(run, "invoice.exe", EXE, "removed")
        self.assertIsNone(r["result"])
        qid = r["quarantine_id"]
        self.assertIn(qid, run.stderr)
        shown = self.run_ctl("--config", self.config, "quarantine", "export", qid, "--out",
                             os.path.join(self.dir, "orig"))
        self.assertEqual(shown.returncode, 0, shown.stderr)
        with open(os.path.join(self.dir, "orig"), "rb") as f:
            self.assertEqual(f.read(), EXE)
        audit = self.run_ctl("--config", self.config, "audit", "show")
        self.assertIn("file-removed", audit.stdout.decode())
        self.assertEqual(self.run_ctl("--config", self.config, "audit", "verify").returncode, 0)

    def test_sanitized_file_is_audited_and_quarantined_with_config(self):
        data = text_pdf(["kept in quarantine"])
        run = self.sanitize("form.pdf", data, config=True)
        self.assertEqual(run.code, 0, run.stderr)
        qid = run.report["quarantine_id"]
        self.assertTrue(qid)
        listed = self.run_ctl("--config", self.config, "quarantine", "show", qid)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("form.pdf", listed.stdout.decode())
        audit = self.run_ctl("--config", self.config, "audit", "show").stdout.decode()
        self.assertEqual(audit.count("file-sanitized"), 1, audit)
        # The self-inspection report counts files from the audit trail.
        self.assertEqual(self.sanitize("tool.exe", EXE, config=True).code, 3)
        report = self.run_ctl("--config", self.config, "report", "--since", "1d", "--format", "json")
        self.assertEqual(report.returncode, 0, report.stderr)
        files = json.loads(report.stdout)["files"]
        self.assertEqual((files["sanitized"], files["removed"]), (1, 1), files)
        self.assertEqual({r["key"]: r["count"] for r in files["by_type"]},
                         {"application/pdf": 1, "application/vnd.microsoft.portable-executable": 1})
        self.assertEqual(files["by_place"], [{"key": "sanitize-file", "count": 2}])

    def test_bad_usage_exits_2(self):
        src = self.write("a.txt", b"hello\n")
        for argv in (["sanitize-file"], ["sanitize-file", "-"], ["sanitize-file", src, "-"],
                     ["sanitize-file", "--bogus", src], ["sanitize-file", src, "b", "c"],
                     ["sanitize-file", "--policy", "p.toml", src]):
            proc = self.run_ctl(*argv)
            self.assertEqual(proc.returncode, 2, (argv, proc.stderr))
            self.assertIn(b"usage:", proc.stderr)

    def test_max_size_crossed_is_refused_naming_the_key(self):
        run = self.sanitize("big.txt", b"x" * 2048, sets=["files.max_size=1KiB"])
        self.assertEqual(run.code, 1, run.stderr)
        self.assertIn("files.max_size", run.stderr)
        self.assertFalse(os.path.exists(run.out_path))
        self.assertEqual(self.sanitize("small.txt", b"x" * 1000 + b"\n", sets=["files.max_size=1KiB"]).code, 0)

    def test_out_is_never_partial(self):
        """A run that ends without a safe result leaves an existing OUT as it was and no temporary file."""
        out = self.write("kept.pdf", b"the previous result")
        bomb = image_samples.png_claiming(60000, 60000)
        run = self.sanitize("huge.png", bomb, out_name="kept.pdf")
        self.assertEqual(run.code, 3, run.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"the previous result")
        self.assertEqual([n for n in os.listdir(self.dir) if n.endswith(".tmp")], [])
        # A result replaces OUT whole.
        run = self.sanitize("ok.txt", b"new\n", out_name="kept.pdf")
        self.assertEqual(run.code, 0, run.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"new\n")

    def test_without_out_the_result_never_replaces_a_file(self):
        src = self.write("form.pdf", text_pdf(["x"]))
        proc = self.run_ctl("sanitize-file", src)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.decode().strip(), "form (2).pdf")
        with open(src, "rb") as f:
            self.assertEqual(f.read(), text_pdf(["x"]))

    def test_hostile_names_come_out_safe(self):
        for name in ("CON.txt", "a\x1bb.txt", "\u202egnp.exe.txt", " .hidden.txt", "x" * 250 + ".txt"):
            src = self.write("in.txt", b"text\n")
            named = os.path.join(self.dir, name.replace("/", "_"))
            os.rename(src, named)
            sub = os.path.join(self.dir, "cwd")
            os.makedirs(sub, exist_ok=True)
            proc = self.run_ctl("sanitize-file", named, cwd=sub)
            self.assertEqual(proc.returncode, 0, (name, proc.stderr))
            made = proc.stdout.decode().strip()
            self.assertEqual(os.listdir(sub), [made])
            self.assert_safe_name(made)
            self.assertLessEqual(len(made.encode()), 255)
            os.unlink(os.path.join(sub, made))
            os.unlink(named)

    # --- the corpus -------------------------------------------------------------------------------------

    def test_corpus_files_without_crash_or_hang(self):
        folders = [os.path.join(CORPUS, d) for d in ("pdf", "images", "archives")]
        present = [d for d in folders if os.path.isdir(d)]
        if not present:
            self.skipTest("%s is absent" % CORPUS)
        outcomes = {0: 0, 3: 0}
        for folder in present:
            for root, _, names in os.walk(folder):
                for name in sorted(names):
                    if name.endswith((".md", "LICENSE")) or name == "LICENSE":
                        continue
                    path = os.path.join(root, name)
                    out = os.path.join(self.dir, "corpus-out")
                    report = os.path.join(self.dir, "corpus-report.json")
                    with self.subTest(file=os.path.relpath(path, CORPUS)):
                        proc = self.run_ctl("sanitize-file", "--report", report, path, out, timeout=TIMEOUT)
                        self.assertIn(proc.returncode, (0, 3), proc.stderr.decode("utf-8", "replace")[-2000:])
                        outcomes[proc.returncode] += 1
                        if proc.returncode == 0:
                            with open(out, "rb") as f:
                                result = f.read()
                            with open(report, encoding="utf-8") as f:
                                kind = os.path.splitext(json.load(f)["result"]["name"])[1]
                            if kind == ".txt":
                                result.decode("utf-8")  # text crosses as UTF-8 text, maybe as it was
                            else:
                                self.assertTrue(result.startswith(MAGIC[kind]), kind)
                                with open(path, "rb") as f:
                                    self.assertNotEqual(result, f.read())
                            os.unlink(out)
                        else:
                            self.assertFalse(os.path.exists(out))
                            self.assertTrue(proc.stderr.strip())
        print("corpus through sanitize-file: %d sanitized, %d removed" % (outcomes[0], outcomes[3]))
        self.assertGreater(outcomes[0], 0)


if __name__ == "__main__":
    unittest.main()
