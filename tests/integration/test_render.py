# Rendering end to end through the real binaries: a mail carrying the quick start's quotation PDF
# (Japanese text in a non-embedded font, a JavaScript OpenAction) and a photo with GPS EXIF goes in
# over SMTP and comes out at a real sink with a fresh image PDF (text layer, nothing active), a
# re-encoded JPEG (no metadata), the PDF's text in the body under its heading, and a notice citing
# each original's size, SHA-256 and quarantine id; the originals come back from the quarantine. And
# the one PDF bomb poppler itself does not bound (forms drawing the next one twice: 2^40 draws) costs
# only its message: the worker's deadline ends it, the message is held, the next one goes through.
# Needs Debian's python3-pil and python3-pikepdf: run with /usr/bin/python3.
import hashlib
import io
import os
import subprocess
import tempfile
import time
import unittest

import pikepdf
from PIL import Image

import harness
from harness import (SOURCE_DIR, GatewayCase, parse, run_ctl, send_smtplib, smtp_hop, token)
from test_render_pdf import pdf, stream

SAMPLE_PDF = os.path.join(SOURCE_DIR, "docs", "examples", "mitsumori.pdf")
FORBIDDEN = (b"/JavaScript", b"/JS", b"/OpenAction", b"/AA", b"/Launch", b"/EmbeddedFile", b"/AcroForm",
             b"/URI", b"/Annots", b"/Metadata", b"/FontFile")


def gps_photo():
    """A 640×480 JPEG with EXIF GPS coordinates and a comment, as a phone would send it."""
    img = Image.new("RGB", (640, 480))
    for y in range(480):
        for x in range(0, 640, 8):
            img.putpixel((x, y), ((x * 3) % 256, (y * 5) % 256, (x + y) % 256))
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}  # GPSInfo: Tokyo
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif, comment=b"secret comment")
    return out.getvalue()


def fan_out_pdf(depth=40):
    """Form i draws form i + 1 twice: within poppler's nesting limit, 2^depth draws of one page."""
    first = 5  # objects: catalog, pages, page, content, then the forms
    forms = []
    for i in range(depth):
        if i + 1 < depth:
            body = b"/X%d Do /X%d Do" % (i + 1, i + 1)
            res = b"/Resources << /XObject << /X%d %d 0 R >> >>" % (i + 1, first + i + 1)
        else:
            body, res = b"0 0 1 1 re f", b""
        forms.append(stream(body, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] " + res))
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /X0 %d 0 R >> >> /Contents 4 0 R >>" % first
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page,
                stream(b"/X0 Do")] + forms)


def mail_with(tok, attachments):
    return harness.mail_with(tok, attachments, "見積書の送付", "お世話になっております。見積書と現場写真を添付します。")


def jpeg_markers(data):
    """The marker bytes of a JPEG up to SOS, and how many bytes follow its EOI."""
    markers, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return markers, len(data) - (data.rfind(b"\xff\xd9") + 2)


class RenderThroughGatewayTest(GatewayCase):
    def test_pdf_and_photo_arrive_rendered(self):
        sink = self.sink()
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port)})
        tok = token()
        with open(SAMPLE_PDF, "rb") as f:
            pdf = f.read()
        photo = gps_photo()
        qid = send_smtplib(gw.port, mail_with(tok, [(pdf, "application/pdf", "見積書.pdf"),
                                                     (photo, "image/jpeg", "現場写真.jpg")]))
        self.assertTrue(sink.wait_for(tok, 60), gw.log_text()[-3000:])
        got = sink.find(tok)[0].message()
        self.assertEqual(got["X-Mugai-Sanitized"], "yes")
        parts = {p.get_filename(): p for p in got.iter_attachments()}
        self.assertEqual(sorted(parts), ["現場写真.jpg", "見積書.pdf"], list(parts))

        # The PDF: one page of pixels at 150 dpi, the text layer gives the Japanese text back, nothing active.
        out_pdf = parts["見積書.pdf"].get_content()
        self.assertEqual(parts["見積書.pdf"].get_content_type(), "application/pdf")
        for name in FORBIDDEN:
            self.assertNotIn(name, out_pdf)
        with pikepdf.open(io.BytesIO(out_pdf)) as doc:
            self.assertEqual(len(doc.pages), 1)
            page = doc.pages[0]
            images = list(page.images.values())
            self.assertEqual(len(images), 1)
            self.assertEqual((int(images[0].Width), int(images[0].Height)), (1240, 1754))  # A4 at 150 dpi
            self.assertNotIn("/Annots", page.obj)
            self.assertNotIn("/OpenAction", doc.Root)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(out_pdf)
            f.flush()
            layer = subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True).stdout
            check = subprocess.run(["qpdf", "--check", f.name], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        for text in ("御見積書", "ノートパソコン", "１，３５０，０００", "Quotation No. 2026-0412"):
            self.assertIn(text, layer)

        # The photo: same size, re-encoded, no EXIF/GPS, no comment, nothing after its end.
        out_jpg = parts["現場写真.jpg"].get_content()
        img = Image.open(io.BytesIO(out_jpg))
        self.assertEqual((img.format, img.size), ("JPEG", (640, 480)))
        self.assertEqual(len(img.getexif()), 0)
        markers, trailing = jpeg_markers(out_jpg)
        self.assertFalse([m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE], [hex(m) for m in markers])
        self.assertEqual(trailing, 0)

        # The body: the sender's text, the PDF's text under a heading naming it, the notice citing
        # each original by size and SHA-256 and the quarantine id.
        body = got.get_body(("plain",)).get_content()
        self.assertIn("お世話になっております", body)
        self.assertIn("見積書.pdf", body)
        self.assertIn("株式会社サンプル商事", body)
        for original in (pdf, photo):
            self.assertIn(hashlib.sha256(original).hexdigest(), body)
            self.assertIn(str(len(original)), body)
        entries = [e for e in self.ctl_json(gw, "quarantine", "list", "--since", "1h") if e["queue_id"] == qid]
        self.assertEqual(len(entries), 1, entries)
        self.assertIn(entries[0]["id"], body)

        # The originals stay in quarantine, byte for byte.
        res = run_ctl(gw, "quarantine", "export", entries[0]["id"], "--out", "-")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        original = parse(res.stdout)
        kept = {p.get_filename(): p.get_content() for p in original.iter_attachments()}
        self.assertEqual(kept["見積書.pdf"], pdf)
        self.assertEqual(kept["現場写真.jpg"], photo)

    def test_form_bomb_costs_only_its_message(self):
        sink = self.sink()
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "workers.timeout": '"3s"',
                           "workers.cpu_seconds": "30", "workers.count": "1"})
        bomb, after = token(), token()
        started = time.monotonic()
        qid = send_smtplib(gw.port, mail_with(bomb, [(fan_out_pdf(), "application/pdf", "bomb.pdf")]))
        send_smtplib(gw.port, mail_with(after, []))
        self.assertTrue(sink.wait_for(after, 60), gw.log_text()[-3000:])
        self.assertLess(time.monotonic() - started, 45)
        entries = [e for e in self.ctl_json(gw, "quarantine", "list", "--since", "1h") if e["queue_id"] == qid]
        self.assertEqual(len(entries), 1, entries)
        self.assertIn("timeout after 3 s", entries[0]["reason"])
        # Its recipient gets the hold notice, never the bomb.
        self.assertTrue(sink.wait_for(entries[0]["id"], 30))
        self.assertFalse([m for m in sink.find(bomb) if b"bomb.pdf" in m.data and b"%PDF" in m.data])

    def ctl_json(self, gw, *args):
        import json
        res = run_ctl(gw, *args, "--json")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return json.loads(res.stdout)


if __name__ == "__main__":
    unittest.main()
