"""PDF attachments through the real binary (`mugaictl sanitize`), checked by independent readers.

The test writes its PDFs in PDF syntax (a text page, a Japanese page in a non-embedded font, a scanned page
of one JPEG made with Pillow, a page carrying every kind of active content, a qpdf-encrypted file), mails
them, and reads the output back with pikepdf, qpdf, pdftotext and pdfinfo: page count, pixel size, the text
in the text layer and in the body (character for character for Japanese), the notice, and none of the keys
that make a PDF act. Every PDF of ../shared/corpus/pdf goes through too, each within a timeout, its output
as safe, and the text INDEX.md lists comes out (skipped with a message when the folder is absent).
Runs under /usr/bin/python3 (Debian's pikepdf and Pillow).
"""
import email
import email.policy
import hashlib
import io
import os
import re
import subprocess
import tempfile
import unittest
from email.message import EmailMessage

import pikepdf
from PIL import Image

BIN = os.environ.get("MUGAI_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
SOURCE = os.environ.get("MUGAI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(SOURCE, "..", "shared", "corpus", "pdf")
FORBIDDEN = [b"/JavaScript", b"/JS", b"/OpenAction", b"/AA", b"/Launch", b"/EmbeddedFile", b"/AcroForm", b"/URI",
             b"/Annots", b"/Metadata", b"/FontFile", b"/XFA"]
TIMEOUT = 60  # per message
# mugaictl sanitize keeps originals in var/quarantine below its working directory: a scratch one.
WORKDIR = tempfile.TemporaryDirectory(prefix="mugai-render-pdf-")


def pdf(objects, trailer=b""):
    """A PDF of `objects` (object i+1 is objects[i], 1 is the catalog) with a correct xref."""
    out = b"%PDF-1.6\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for i, body in enumerate(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i + 1, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)


def stream(data, extra=b""):
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (extra, len(data), data)


HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R %s>>"


def text_pdf(lines):
    content = b"BT /F1 14 Tf 72 720 Td 18 TL " + b" ".join(b"(%s) '" % line.encode() for line in lines) + b" ET"
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", PAGE % b"",
                stream(content), HELVETICA])


JAPANESE = "見積書 合計金額は１２３，４５６円です。𠮟"  # a full-width digit run and a character beyond the BMP


def japanese_pdf():
    # UniJIS-UCS2-H takes UCS-2 codes; 𠮟 is beyond it, so it goes in a second line in UTF-16 (UniJIS-UTF16-H).
    bmp = JAPANESE[:-1].replace(" ", "")
    ucs2 = bmp.encode("utf-16-be").hex().upper().encode()
    utf16 = JAPANESE[-1].encode("utf-16-be").hex().upper().encode()
    content = b"BT /F1 28 Tf 72 700 Td <%s> Tj 0 -40 Td /F2 28 Tf <%s> Tj ET" % (ucs2, utf16)
    descendant = (b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe)"
                  b" /Ordering (Japan1) /Supplement 6 >> /FontDescriptor 7 0 R /DW 1000 >>")
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R /F2 8 0 R >>"
                b" >> /Contents 4 0 R >>",
                stream(content),
                b"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UCS2-H /DescendantFonts [6 0 R] >>",
                descendant,
                b"<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [0 -141 1000 859] /ItalicAngle 0"
                b" /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >>",
                b"<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UTF16-H /DescendantFonts [6 0 R] >>"])


def scan_pdf():
    """One page that is one photographic JPEG (a noisy gradient, as a scanner makes), no text."""
    img = Image.new("RGB", (850, 1100))
    px = img.load()
    seed = 7
    for y in range(1100):
        for x in range(850):
            seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF
            n = (seed >> 24) % 48
            px[x, y] = ((x * 255 // 850 + n) % 256, (y * 255 // 1100 + n) % 256, (x + y + n) % 256)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    jpeg = buf.getvalue()
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im 5 0 R >> >>"
                b" /Contents 4 0 R >>",
                stream(b"q 612 0 0 792 0 0 cm /Im Do Q"),
                stream(jpeg, b"/Type /XObject /Subtype /Image /Width 850 /Height 1100 /ColorSpace /DeviceRGB"
                             b" /BitsPerComponent 8 /Filter /DCTDecode")])


def active_pdf():
    """Every way a PDF can act or carry: document and page JavaScript, OpenAction, AA, Launch, an embedded
    file, a form, a URI link annotation, XMP metadata."""
    xmp = b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>'
    return pdf([
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R /AA << /WC 6 0 R >> /Names << /JavaScript 7 0 R"
        b" /EmbeddedFiles 8 0 R >> /AcroForm << /Fields [10 0 R] >> /Metadata 12 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE % b"/Annots [10 0 R 11 0 R 13 0 R] /AA << /O 6 0 R >>",
        stream(b"BT /F1 24 Tf 72 700 Td (Active content inside) Tj ET"),
        HELVETICA,
        b"<< /Type /Action /S /JavaScript /JS (app.alert\\('owned'\\)) >>",
        b"<< /Names [(x) 6 0 R] >>",
        b"<< /Names [(evil.exe) 9 0 R] >>",
        b"<< /Type /Filespec /F (evil.exe) /EF << /F 14 0 R >> >>",
        b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (name) /V (value) /Rect [72 600 300 620] /P 3 0 R >>",
        b"<< /Type /Annot /Subtype /Link /Rect [72 690 400 730] /A << /S /URI /URI (http://evil.example/) >> >>",
        stream(xmp, b"/Type /Metadata /Subtype /XML"),
        b"<< /Type /Annot /Subtype /Link /Rect [72 500 400 530] /A << /S /Launch /F (cmd.exe) >> >>",
        stream(b"MZ not really a program", b"/Type /EmbeddedFile"),
    ])


def mail(attachments, body="添付をご確認ください。\n"):
    m = EmailMessage()
    m["From"] = "sender@example.jp"
    m["To"] = "someone@demo.mugai.test"
    m["Subject"] = "PDF"
    m.set_content(body)
    for name, data in attachments:
        m.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return m.as_bytes()


def sanitize(message, timeout=TIMEOUT, sets=()):
    """mugaictl sanitize: the pipeline in its sandboxed worker (workers.memory and workers.timeout hold it)."""
    argv = [os.path.join(BIN, "mugaictl"), "sanitize"]
    for s in sets:
        argv += ["--set", s]
    return subprocess.run(argv, input=message, capture_output=True, timeout=timeout, cwd=WORKDIR.name)


def parse(output):
    msg = email.message_from_bytes(output, policy=email.policy.default)
    text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
    pdfs = [(p.get_filename(), p.get_content()) for p in msg.iter_attachments()]
    return msg, text, pdfs


def pdftotext(data):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        return subprocess.run(["pdftotext", "-enc", "UTF-8", f.name, "-"], capture_output=True, check=True,
                              timeout=TIMEOUT).stdout.decode()


def qpdf_check(data):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        run = subprocess.run(["qpdf", "--check", f.name], capture_output=True, timeout=TIMEOUT)
        return run.returncode, run.stdout.decode() + run.stderr.decode()


def expanded(data):
    """The file with every stream decompressed and no object streams, so a key cannot hide in one."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.pdf"), os.path.join(d, "out.pdf")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run(["qpdf", "--qdf", "--object-streams=disable", src, dst], capture_output=True, timeout=TIMEOUT)
        with open(dst, "rb") as f:
            return f.read()


class Safe:
    def assert_safe(self, data, what):
        rc, out = qpdf_check(data)
        self.assertEqual(rc, 0, f"{what}: qpdf --check: {out}")
        plain = expanded(data)
        for key in FORBIDDEN:
            self.assertNotIn(key, plain, f"{what}: {key!r} in the output")
        with pikepdf.open(io.BytesIO(data)) as doc:
            self.assertNotIn("/Info", doc.trailer, what)
            for page in doc.pages:
                xobjects = page.Resources.XObject
                self.assertEqual(list(xobjects.keys()), ["/Im0"], what)
                self.assertEqual(xobjects.Im0.Subtype, "/Image", what)
                for name, font in page.Resources.get("/Font", {}).items():
                    self.assertEqual(font.Subtype, "/Type3", f"{what}: font {name}")


def image_size(page):
    im = page.Resources.XObject.Im0
    return int(im.Width), int(im.Height), str(im.get("/Filter"))


class RenderedPdfs(unittest.TestCase, Safe):
    @classmethod
    def setUpClass(cls):
        cls.originals = {
            "report.pdf": text_pdf(["Quarterly report of the water bureau", "Total: 42 items approved"]),
            "見積書.pdf": japanese_pdf(),
            "scan": scan_pdf(),
            "active.pdf": active_pdf(),
        }
        run = sanitize(mail(cls.originals.items()))
        assert run.returncode == 0, run.stderr.decode()
        cls.msg, cls.text, pdfs = parse(run.stdout)
        cls.pdfs = dict(pdfs)

    def test_names(self):
        # The scan had no extension: it gets .pdf; a name ending .pdf is kept as it is.
        self.assertEqual(sorted(self.pdfs), sorted(["report.pdf", "見積書.pdf", "scan.pdf", "active.pdf"]))

    def test_every_output_is_inert_and_valid(self):
        for name, data in self.pdfs.items():
            self.assert_safe(data, name)

    def test_pages_and_pixels(self):
        want = {"report.pdf": (1275, 1650, "/FlateDecode"), "見積書.pdf": (1240, 1754, "/FlateDecode"),
                "scan.pdf": (1275, 1650, "/DCTDecode"), "active.pdf": (1275, 1650, "/FlateDecode")}
        for name, data in self.pdfs.items():
            with pikepdf.open(io.BytesIO(data)) as doc:
                self.assertEqual(len(doc.pages), 1, name)
                self.assertEqual(image_size(doc.pages[0]), want[name], name)
                box = [float(v) for v in doc.pages[0].MediaBox]
                w, h, _ = want[name]
                self.assertAlmostEqual(box[2], w * 72 / 150, delta=0.01)
                self.assertAlmostEqual(box[3], h * 72 / 150, delta=0.01)
            info = subprocess.run(["pdfinfo", "-"], input=data, capture_output=True, check=True).stdout.decode()
            self.assertRegex(info, r"Pages:\s+1\n", name)
            self.assertRegex(info, r"JavaScript:\s+no\n", name)

    def test_text_layer_and_body(self):
        layer = pdftotext(self.pdfs["report.pdf"])
        for line in ("Quarterly report of the water bureau", "Total: 42 items approved"):
            self.assertIn(line, layer)
            self.assertIn(line + "\n", self.text)
        self.assertIn("Active content inside", pdftotext(self.pdfs["active.pdf"]))
        self.assertEqual(pdftotext(self.pdfs["scan.pdf"]).strip(), "")

    def test_japanese_character_for_character(self):
        squeeze = lambda s: re.sub(r"\s+", "", s)
        want = squeeze(JAPANESE)
        self.assertEqual(squeeze(pdftotext(self.pdfs["見積書.pdf"])), want)
        heading = "■ 添付ファイル「見積書.pdf」のテキスト化 / Text of the attachment 見積書.pdf\n"
        start = self.text.index(heading) + len(heading)
        end = self.text.index("■ 添付ファイル「見積書.pdf」のテキスト化ここまで")
        self.assertEqual(squeeze(self.text[start:end]), want)

    def test_notice_lists_each_original(self):
        qid = self.msg["X-Mugai-Quarantine-Id"]
        self.assertTrue(qid)
        for name, data in self.originals.items():
            sha = hashlib.sha256(data).hexdigest()
            line = next((l for l in self.text.splitlines() if f"sha256:{sha}" in l), None)
            self.assertIsNotNone(line, name)
            self.assertIn(f"| {len(data)} bytes |", line)
            self.assertIn("replaced by the attached safe copy", line)
            self.assertIn("1 of 1 page(s) rendered at up to 150 dpi", line)
            self.assertIn(f"隔離ID/quarantine id: {qid}", line)


class RefusedPdfs(unittest.TestCase):
    def test_password_protected_and_broken(self):
        with tempfile.TemporaryDirectory() as d:
            plain, locked = os.path.join(d, "p.pdf"), os.path.join(d, "l.pdf")
            with open(plain, "wb") as f:
                f.write(text_pdf(["secret"]))
            subprocess.run(["qpdf", "--encrypt", "u", "o", "256", "--", plain, locked], check=True)
            with open(locked, "rb") as f:
                encrypted = f.read()
        run = sanitize(mail([("locked.pdf", encrypted), ("broken.pdf", b"%PDF-1.7\n1 0 obj << >> garbage")]))
        self.assertEqual(run.returncode, 0, run.stderr.decode())
        msg, text, pdfs = parse(run.stdout)
        self.assertEqual(len(pdfs), 0)
        self.assertRegex(text, r"locked\.pdf \|.*\| password-protected PDF \|")
        self.assertRegex(text, r"broken\.pdf \|.*\| broken PDF: ")
        self.assertIn("添付をご確認ください。", text)


# What INDEX.md says a reader sees on page 1 (whitespace ignored), and the files that need a password.
CORPUS_TEXT = {
    "90ms_rksj_h_sample.pdf": "日本語テスト", "noembed-sjis.pdf": "あいうえお", "noembed-identity.pdf": "あいうえお",
    "issue11555.pdf": "あいう", "vertical.pdf": "あいうえお", "issue6387.pdf": "あのイーハトーヴォのすきとおった風",
    "issue5202.pdf": "𠮟る", "prefilled_f1040.pdf": "Form1040", "issue6106.pdf": "Shouldtriggeraprintaction.",
    "issue17846.pdf": "Hello,it'saChineselink", "xref_command_missing.pdf": "Reducedtest-case",
    "helloworld-bad.pdf": "Hello,world!", "pdkids.pdf": "PDKIDS", "hello_world_rotated.pdf": "Helloworld",
}
# encrypted-attachment.pdf is not here: its xref is broken too, poppler reconstructs it without the
# encryption dictionary and renders its unencrypted page ("Example"); the output is checked as safe like any.
LOCKED = {"issue6010_1.pdf", "issue6010_2.pdf", "issue3371.pdf"}
# Resource bombs poppler itself does not bound, so nothing in the pipeline can: the JBIG2 content stream of
# bomb_giant.pdf makes poppler's lexer allocate gigabytes (past 2 GiB and growing for over a minute without
# a limit). Under the worker's 1 GiB address-space limit (workers.memory) the allocation fails at once,
# poppler drops the stream and the page renders. Should it still run away (an ASan build has no such
# limit), workers.timeout ends it and the test checks that nothing is delivered (fail closed).
NEEDS_WORKER = {"bomb_giant.pdf"}


class Corpus(unittest.TestCase, Safe):
    def test_every_corpus_pdf(self):
        if not os.path.isdir(CORPUS):
            self.skipTest(f"{CORPUS} is absent")
        names = sorted(f for f in os.listdir(CORPUS) if f.endswith(".pdf"))
        self.assertGreaterEqual(len(names), 40)
        for name in names:
            with self.subTest(name=name):
                with open(os.path.join(CORPUS, name), "rb") as f:
                    original = f.read()
                if name in NEEDS_WORKER:
                    run = sanitize(mail([(name, original)]), timeout=60, sets=['workers.timeout="15s"'])
                    if run.returncode != 0:
                        self.assertEqual(run.stdout, b"")
                        self.assertRegex(run.stderr.decode(), r"cannot sanitize .*: (timeout after 15 s|out of memory)")
                        print(f"{name}: stopped by the worker ({run.stderr.decode().strip().splitlines()[-1]}), nothing delivered")
                        continue
                else:
                    run = sanitize(mail([(name, original)]))  # a hang fails here (TimeoutExpired)
                self.assertEqual(run.returncode, 0, run.stderr.decode())
                _, text, pdfs = parse(run.stdout)
                for _, data in pdfs:
                    self.assert_safe(data, name)
                if name in LOCKED:
                    self.assertEqual(len(pdfs), 0)
                    self.assertIn("password-protected PDF", text)
                if name in CORPUS_TEXT:
                    self.assertEqual(len(pdfs), 1, text[:2000])
                    squeeze = re.sub(r"\s+", "", text)
                    self.assertIn(CORPUS_TEXT[name], squeeze)
                    self.assertIn(CORPUS_TEXT[name], re.sub(r"\s+", "", pdftotext(pdfs[0][1])))


if __name__ == "__main__":
    unittest.main()
