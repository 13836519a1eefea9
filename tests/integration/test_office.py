# Office documents end to end through the real binaries and real LibreOffice: documents this test makes
# (python3-docx, python3-openpyxl, an ODF package written by hand, a compound file) go in over SMTP and
# come out at a real sink as image PDFs whose text layer and body carry the documents' Japanese text
# character for character; a macro, a remote image link, a password and a misleading name each end as
# the recipient should see them; LibreOffice's deadline, memory and output limits cost only their part,
# and a LibreOffice that cannot be started at all holds the message instead of blaming the document.
# Needs Debian's python3-docx, python3-openpyxl, python3-pikepdf and LibreOffice: run with /usr/bin/python3.
import datetime
import io
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest
import zipfile

import docx
import openpyxl
import pikepdf

from harness import GatewayCase, mail_with, run_ctl, send_smtplib, smtp_hop, token, wait_until

HAVE_LIBREOFFICE = all(shutil.which(p) for p in ("soffice", "bwrap", "pdftotext"))
FORBIDDEN = (b"/JavaScript", b"/JS", b"/OpenAction", b"/AA", b"/Launch", b"/EmbeddedFile", b"/AcroForm",
             b"/URI", b"/Annots", b"/Metadata", b"/FontFile")
LETTER = "令和8年12月2日 千代田区役所 総務課 御中 ご依頼の件、下記のとおり回答いたします。髙橋①～"
SHEETS = {"見積": "見積金額 １，３５０，０００円", "明細": "ノートパソコン 10台", "条件": "納期 令和9年1月末日"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def docx_bytes(paragraphs, picture_link=None):
    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    out = io.BytesIO()
    d.save(out)
    if picture_link is None:
        return out.getvalue()
    return with_linked_picture(out.getvalue(), picture_link)


def with_linked_picture(data, url):
    """The docx with a picture whose blip is an external relationship to `url` (Word's "link to file")."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "word/_rels/document.xml.rels":
                body = body.replace(b"</Relationships>", (
                    '<Relationship Id="rIdRemote" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                    'relationships/image" Target="%s" TargetMode="External"/></Relationships>' % url).encode())
            if item.filename == "word/document.xml":
                pic = (
                    '<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/'
                    'wordprocessingDrawing"><wp:extent cx="914400" cy="914400"/><wp:docPr id="1" name="remote"/>'
                    '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData '
                    'uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic xmlns:pic="http://'
                    'schemas.openxmlformats.org/drawingml/2006/picture"><pic:nvPicPr><pic:cNvPr id="1" name="r"/>'
                    '<pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip xmlns:r="http://schemas.openxmlformats.org/'
                    'officeDocument/2006/relationships" r:link="rIdRemote"/><a:stretch><a:fillRect/></a:stretch>'
                    '</pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="914400" cy="914400"/></a:xfrm>'
                    '<a:prstGeom prst="rect"/></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline>'
                    '</w:drawing></w:r></w:p>')
                body = body.replace(b"<w:sectPr", pic.encode() + b"<w:sectPr", 1)
            z.writestr(item, body)
    return out.getvalue()


def xlsx_bytes():
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, text in SHEETS.items():
        ws = wb.create_sheet(title)
        ws["A1"] = text
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def macro_odt(marker):
    """An ODF text document whose OnLoad event runs an embedded Basic macro that writes `marker` and
    appends MACRORAN to the text. (A docm's VBA needs a vbaProject.bin nothing here can write.)"""
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:'
          'opendocument:xmlns:text:1.0" xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" '
          'xmlns:xlink="http://www.w3.org/1999/xlink"')
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content %s office:version="1.3">'
               '<office:scripts><office:event-listeners><script:event-listener script:language="ooo:script" '
               'script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic'
               '&amp;location=document" xlink:type="simple"/></office:event-listeners></office:scripts>'
               '<office:body><office:text><text:p>マクロ付き文書 macro document</text:p></office:text></office:body>'
               '</office:document-content>' % ns)
    module = ('<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD '
              'OfficeDocument 1.0//EN" "module.dtd"><script:module xmlns:script="http://openoffice.org/2000/script" '
              'script:name="Module1" script:language="StarBasic">Sub Main\n  Open "%s" For Output As #1\n'
              '  Print #1, "ran"\n  Close #1\n  ThisComponent.Text.insertString(ThisComponent.Text.getEnd(), '
              '" MACRORAN", False)\nEnd Sub\n</script:module>' % marker)
    lc = ('<?xml version="1.0" encoding="UTF-8"?><library:libraries xmlns:library="http://openoffice.org/2000/'
          'library" xmlns:xlink="http://www.w3.org/1999/xlink"><library:library library:name="Standard" '
          'library:link="false"/></library:libraries>')
    lb = ('<?xml version="1.0" encoding="UTF-8"?><library:library xmlns:library="http://openoffice.org/2000/library" '
          'library:name="Standard" library:readonly="false" library:passwordprotected="false">'
          '<library:element library:name="Module1"/></library:library>')
    files = ["content.xml", "Basic/script-lc.xml", "Basic/Standard/script-lb.xml", "Basic/Standard/Module1.xml"]
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                'opendocument:xmlns:manifest:1.0" manifest:version="1.3"><manifest:file-entry manifest:full-path="/" '
                'manifest:media-type="application/vnd.oasis.opendocument.text"/>' +
                "".join('<manifest:file-entry manifest:full-path="%s" manifest:media-type="text/xml"/>' % f
                        for f in files) + "</manifest:manifest>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        for name, text in zip(["META-INF/manifest.xml"] + files, [manifest, content, lc, lb, module]):
            z.writestr(name, text, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def encrypted_docx():
    """A compound file holding EncryptionInfo and EncryptedPackage, the container Office writes for a
    password-protected docx (the encryption itself is not needed: it is refused before LibreOffice starts)."""
    free, end, fatsect = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    fat = [fatsect, end] + list(range(3, 10)) + [end] + list(range(11, 18)) + [end]
    fat += [free] * (128 - len(fat))

    def entry(name, kind, child=free, right=free, start=end, size=0):
        n = name.encode("utf-16-le") + b"\0\0" if name else b""
        return (n.ljust(64, b"\0") + struct.pack("<HBB", len(n), kind, 1) + struct.pack("<III", free, right, child)
                + b"\0" * 36 + struct.pack("<IQ", start, size))
    directory = (entry("Root Entry", 5, child=1) + entry("EncryptionInfo", 2, right=2, start=2, size=4096)
                 + entry("EncryptedPackage", 2, start=10, size=4096) + entry("", 0))
    header = (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<9I", 0, 1, 1, 0, 4096, end, 0, end, 0)
              + struct.pack("<109I", *([0] + [free] * 108)))
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"
    return header + struct.pack("<128I", *fat) + directory + info.ljust(4096, b"\0") + b"\x5a" * 4096


SLIDES = "説明資料 スライド slides"
FLAT_PRESENTATION = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:'
    'office:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:text="urn:oasis:names:tc:'
    'opendocument:xmlns:text:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.presentation"><office:body>'
    '<office:presentation><draw:page draw:name="p1"><draw:frame svg:x="2cm" svg:y="2cm" svg:width="20cm" '
    'svg:height="5cm"><draw:text-box><text:p>%s</text:p></draw:text-box></draw:frame></draw:page>'
    '</office:presentation></office:body></office:document>' % SLIDES)


def saved_as(source_name, source, formats):
    """`source` converted by plain LibreOffice (outside the gateway) to each of `formats`: how the test gets
    the legacy and presentation formats no Python library here writes."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, source_name), "wb") as f:
            f.write(source)
        for fmt in formats:
            subprocess.run(["soffice", "-env:UserInstallation=file://%s/profile" % d, "--headless", "--norestore",
                            "--convert-to", fmt, "--outdir", d, os.path.join(d, source_name)],
                           capture_output=True, timeout=120, check=True)
        stem = source_name.rsplit(".", 1)[0]
        out = {}
        for fmt in formats:
            with open(os.path.join(d, stem + "." + fmt), "rb") as f:
                out[fmt] = f.read()
        return out


def pdf_text(data):
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(data)
        f.flush()
        return subprocess.run(["pdftotext", f.name, "-"], capture_output=True, text=True, check=True).stdout


def flat(text):
    """Text without whitespace, to compare characters: lines wrap where the page ends, and LibreOffice's
    autospace leaves a visible gap between Japanese and Latin characters (令和 8 年), which pdftotext of
    LibreOffice's own PDF reads as a space too."""
    return "".join(text.split())


@unittest.skipUnless(HAVE_LIBREOFFICE, "SKIPPED: LibreOffice, bubblewrap or pdftotext is not installed")
class OfficeThroughGatewayTest(GatewayCase):
    def start(self, **sets):
        sink = self.sink()
        gw = self.gateway(dict({"delivery.next_hop": smtp_hop(sink.port)}, **sets))
        return sink, gw

    def deliver(self, gw, sink, attachments, timeout=120):
        tok = token()
        send_smtplib(gw.port, mail_with(tok, attachments))
        self.assertTrue(sink.wait_for(tok, timeout), gw.log_text()[-4000:])
        got = sink.find(tok)[0].message()
        self.assertEqual(got["X-Mugai-Sanitized"], "yes")
        return got, {p.get_filename(): p for p in got.iter_attachments()}, got.get_body(("plain",)).get_content()

    def held(self, gw, queue_id):
        """The quarantine entry of the message held whole, once it is there (or [] after 90 s)."""
        def entry():
            res = run_ctl(gw, "quarantine", "list", "--since", "1h", "--json")
            return [e for e in json.loads(res.stdout) if e["queue_id"] == queue_id]
        return wait_until(entry, 90, 0.5) or []

    def assert_safe_pdf(self, part, pages=None):
        self.assertEqual(part.get_content_type(), "application/pdf")
        data = part.get_content()
        for name in FORBIDDEN:
            self.assertNotIn(name, data)
        with pikepdf.open(io.BytesIO(data)) as doc:
            if pages is not None:
                self.assertEqual(len(doc.pages), pages)
            for page in doc.pages:
                self.assertEqual(len(page.images), 1)  # each page is one picture (with its text layer)
        return pdf_text(data)

    def test_japanese_docx_and_xlsx_arrive_rendered_with_their_text(self):
        sink, gw = self.start()
        got, parts, body = self.deliver(gw, sink, [(docx_bytes([LETTER]), DOCX, "依頼文.docx"),
                                                   (xlsx_bytes(), "application/vnd.ms-excel", "見積書.xlsx")])
        self.assertEqual(sorted(parts), ["依頼文.pdf", "見積書.pdf"], list(parts))
        self.assertIn(flat(LETTER), flat(self.assert_safe_pdf(parts["依頼文.pdf"], pages=1)))
        # Every sheet printed, each on its own page(s).
        sheets = self.assert_safe_pdf(parts["見積書.pdf"])
        with pikepdf.open(io.BytesIO(parts["見積書.pdf"].get_content())) as doc:
            self.assertGreaterEqual(len(doc.pages), 3)
        for text in SHEETS.values():
            self.assertIn(flat(text), flat(sheets))
            self.assertIn(flat(text), flat(body))
        self.assertIn(flat(LETTER), flat(body))
        self.assertIn("添付ファイル「依頼文.pdf」のテキスト化", body)
        self.assertIn("converted from docx by LibreOffice", body)
        self.assertIn("converted from xlsx by LibreOffice", body)
        # The originals are in quarantine, byte for byte.
        qid = got["X-Mugai-Quarantine-Id"]
        res = run_ctl(gw, "quarantine", "show", qid, "--json")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        held = {p["filename"]: p for p in json.loads(res.stdout)["parts"]}
        self.assertEqual(held["依頼文.docx"]["detected_type"], DOCX)
        self.assertTrue(gw.wait_event("office", 5, format="xlsx"), gw.log_text()[-2000:])

    def test_every_format_by_its_content(self):
        # Declared as octet-stream, so only the content (libmagic) can say what each one is.
        words = saved_as("letter.docx", docx_bytes([LETTER]), ["doc", "rtf", "odt"])
        sheets = saved_as("book.xlsx", xlsx_bytes(), ["xls", "ods"])
        slides = saved_as("deck.fodp", FLAT_PRESENTATION.encode(), ["pptx", "ppt", "odp"])
        attachments = [(data, "application/octet-stream", "letter." + fmt) for fmt, data in words.items()]
        attachments += [(data, "application/octet-stream", "book." + fmt) for fmt, data in sheets.items()]
        attachments += [(data, "application/octet-stream", "deck." + fmt) for fmt, data in slides.items()]
        sink, gw = self.start()
        got, parts, body = self.deliver(gw, sink, attachments, timeout=240)
        names = sorted(p.get_filename() for p in got.iter_attachments())
        self.assertEqual(names, ["book.pdf"] * 2 + ["deck.pdf"] * 3 + ["letter.pdf"] * 3, body)
        for fmt in list(words) + list(sheets) + list(slides):
            self.assertIn("converted from %s by LibreOffice" % fmt, body)
        texts = [self.assert_safe_pdf(p) for p in got.iter_attachments()]
        self.assertEqual(len(texts), 8)
        self.assertEqual(sum(flat(LETTER) in flat(t) for t in texts), 3)
        self.assertEqual(sum(flat(SHEETS["見積"]) in flat(t) for t in texts), 2)
        self.assertEqual(sum(flat(SLIDES) in flat(t) for t in texts), 3)

    def test_macro_link_password_and_misleading_names(self):
        marker = os.path.join(tempfile.gettempdir(), "mugai-macro-ran-%d" % os.getpid())
        if os.path.exists(marker):
            os.unlink(marker)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        listener.setblocking(False)
        self.addCleanup(listener.close)
        url = "http://127.0.0.1:%d/logo.png" % listener.getsockname()[1]
        sink, gw = self.start()
        # A PNG named like a spreadsheet: rendered as the image it is.
        png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
               b"\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND"
               b"\xaeB`\x82")
        got, parts, body = self.deliver(gw, sink, [
            (macro_odt(marker), "application/vnd.oasis.opendocument.text", "マクロ.odt"),
            (docx_bytes(["リンク画像付き linked picture"], picture_link=url), DOCX, "リンク.docx"),
            (encrypted_docx(), DOCX, "パスワード付き.docx"),
            (docx_bytes(["写真ではない文書 not a photo"]), "image/jpeg", "photo.jpg"),
            (png, DOCX, "一覧.xlsx"),
        ])
        self.assertEqual(sorted(parts), ["photo.pdf", "マクロ.pdf", "リンク.pdf", "一覧.png"], list(parts))
        # The macro did not run: neither its file nor its text exists (LibreOffice's convert never runs
        # document macros, the fresh profile forbids them, and the sandbox's /tmp is not this one).
        macro_text = self.assert_safe_pdf(parts["マクロ.pdf"])
        self.assertIn("マクロ付き文書", macro_text)
        self.assertNotIn("MACRORAN", macro_text + body)
        self.assertFalse(os.path.exists(marker))
        # The linked picture was never fetched: no connection reached the listener.
        self.assertIn(flat("リンク画像付き linked picture"), flat(self.assert_safe_pdf(parts["リンク.pdf"])))
        with self.assertRaises(BlockingIOError):
            listener.accept()
        # Named and declared as a photo, detected as a docx: converted as one.
        self.assertIn(flat("写真ではない文書"), flat(self.assert_safe_pdf(parts["photo.pdf"])))
        self.assertEqual(parts["一覧.png"].get_content_type(), "image/png")
        # The password-protected document is removed, saying why; the original is in quarantine.
        self.assertIn("パスワード付き.docx", body)
        self.assertIn("password-protected document", body)
        res = run_ctl(gw, "quarantine", "show", got["X-Mugai-Quarantine-Id"], "--json")
        held = {p["filename"]: p for p in json.loads(res.stdout)["parts"]}
        self.assertEqual(held["パスワード付き.docx"]["decision"], "removed")

    def test_limits_cost_only_their_part(self):
        long_doc = docx_bytes([LETTER * 8] * 400)
        for sets, reason in (({"render.office_timeout": "1"}, "render.office_timeout"),
                             ({"render.office_max_output": '"1KiB"'}, "render.office_max_output"),
                             ({"render.office_memory": '"64MiB"'}, "LibreOffice")):
            with self.subTest(**sets):
                sink, gw = self.start(**sets)
                doc = long_doc if "render.office_timeout" in sets else docx_bytes([LETTER])
                got, parts, body = self.deliver(gw, sink, [(doc, DOCX, "依頼文.docx")])
                self.assertEqual(parts, {})
                self.assertIn("依頼文.docx", body)
                self.assertIn(reason, body)
        # render.max_pages cuts a long document, and says so.
        sink, gw = self.start(**{"render.max_pages": "2"})
        got, parts, body = self.deliver(gw, sink, [(docx_bytes([LETTER] * 200), DOCX, "長い文書.docx")])
        self.assert_safe_pdf(parts["長い文書.pdf"], pages=2)
        self.assertIn("left out (render.max_pages)", body)

    def test_office_concurrency_bounds_conversions_at_once(self):
        # Two messages on two workers at once: each asks for a conversion within milliseconds of the other.
        # LibreOffice's runs (the gateway logs when each started and how long it took) overlap with two
        # allowed, and follow each other with one.
        for concurrency, overlapping in ((2, True), (1, False)):
            with self.subTest(concurrency=concurrency):
                sink, gw = self.start(**{"workers.count": "2", "render.office_concurrency": str(concurrency)})
                toks = [token(), token()]
                for tok in toks:
                    send_smtplib(gw.port, mail_with(tok, [(docx_bytes([LETTER] * 40), DOCX, "依頼文.docx")]))
                for tok in toks:
                    self.assertTrue(sink.wait_for(tok, 120), gw.log_text()[-3000:])
                runs = []
                for ev in gw.events("office"):
                    end = datetime.datetime.fromisoformat(ev["ts"].rstrip("Z")).timestamp()
                    runs.append((end - int(ev["ms"]) / 1000, end, int(ev["waited_ms"])))
                self.assertEqual(len(runs), 2, runs)
                (a_start, a_end, _), (b_start, b_end, b_waited) = sorted(runs)
                # Each event is logged a moment after its run ends: 0.2 s of slack for that.
                self.assertEqual(b_start < a_end - 0.2, overlapping, runs)
                if not overlapping:
                    self.assertGreater(b_waited, 0, runs)  # the second waited for the first

    def test_libreoffice_time_counts_against_the_message_timeout(self):
        # LibreOffice needs well over a second per document (it starts afresh each time): four documents
        # take more than the message's 4 s, none runs into its own 3 s, and the message is held whole for
        # the timeout, so its conversions cannot keep a worker and LibreOffice busy without end.
        sink, gw = self.start(**{"workers.timeout": "4", "workers.cpu_seconds": "10", "render.office_timeout": "3"})
        tok = token()
        docs = [(docx_bytes([LETTER]), DOCX, "依頼文%d.docx" % i) for i in range(4)]
        queue_id = send_smtplib(gw.port, mail_with(tok, docs))
        held = self.held(gw, queue_id)
        self.assertTrue(held, gw.log_text()[-3000:])
        self.assertEqual(held[0]["reason"], "timeout after 4 s")
        self.assertFalse([ev for ev in gw.events("office") if "render.office_timeout" in ev["result"]])
        self.assertTrue(gw.wait_event("office", 5), gw.log_text()[-3000:])
        self.assertFalse([r for r in sink.find(tok) if not r.message()["X-Mugai-Quarantine-Id"]], "nothing else crossed")

    def test_a_converter_that_cannot_start_holds_the_message_not_the_document(self):
        # bwrap replaced by a program that fails at once: the host's failure. With one attempt allowed,
        # the message is held whole with that reason, and its recipient told; nothing of it crosses.
        sink, gw = self.start(**{"render.office_bwrap": '"/bin/false"', "sanitize.max_attempts": "1"})
        tok = token()
        queue_id = send_smtplib(gw.port, mail_with(tok, [(docx_bytes([LETTER]), DOCX, "依頼文.docx")]))
        held = self.held(gw, queue_id)
        self.assertTrue(held, gw.log_text()[-3000:])
        self.assertIn("bubblewrap", held[0]["reason"])
        notice = wait_until(lambda: [r for r in sink.messages() if r.message()["X-Mugai-Quarantine-Id"] == held[0]["id"]], 30)
        self.assertTrue(notice, gw.log_text()[-3000:])
        self.assertFalse([r for r in sink.find(tok) if not r.message()["X-Mugai-Quarantine-Id"]], "nothing else crossed")


if __name__ == "__main__":
    unittest.main()
