"""Images through the real `mugaictl sanitize` (issue 10): each kind of image is delivered as a fresh PNG
or JPEG of the same size and close pixels, with no EXIF/GPS, comment, text chunk or trailing byte, checked
by Pillow and by raw chunk/marker walks written here; a header claiming 65535×65535 and an SVG are removed
with their reasons; every file of ../shared/corpus/images goes through without crash or hang.
Needs Debian's python3-pil: run with /usr/bin/python3 (ctest does)."""
import email
import email.policy
import io
import json
import os
import struct
import subprocess
import tempfile
import unittest
import zlib
from email.message import EmailMessage

from PIL import Image, ImageOps

import image_samples as samples

BIN = os.environ.get("MUGAI_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
SOURCE = os.environ.get("MUGAI_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(SOURCE, "..", "shared", "corpus", "images")


def png_chunks(b):
    """Chunk types of a PNG, checking every CRC; raises when anything follows IEND."""
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
    at, types = 8, []
    while True:
        (n,) = struct.unpack(">I", b[at:at + 4])
        t = b[at + 4:at + 8]
        assert zlib.crc32(b[at + 4:at + 8 + n]) & 0xFFFFFFFF == struct.unpack(">I", b[at + 8 + n:at + 12 + n])[0]
        types.append(t.decode("latin-1"))
        at += 12 + n
        if t == b"IEND":
            assert at == len(b), "%d bytes after IEND" % (len(b) - at)
            return types


def jpeg_markers(b):
    """Markers before the first scan, plus a check that nothing follows EOI."""
    assert b[:2] == b"\xff\xd8", "no SOI"
    at, markers = 2, []
    while True:
        assert b[at] == 0xFF
        m = b[at + 1]
        (n,) = struct.unpack(">H", b[at + 2:at + 4])
        markers.append((m, b[at + 4:at + 2 + n]))
        at += 2 + n
        if m == 0xDA:
            break
    eoi = b.rfind(b"\xff\xd9")
    assert eoi == len(b) - 2, "%d bytes after EOI" % (len(b) - 2 - eoi)
    return markers


def assert_only_pixels(test, part):
    data = part.get_payload(decode=True)
    if part.get_content_type() == "image/png":
        test.assertTrue(set(png_chunks(data)) <= {"IHDR", "PLTE", "IDAT", "IEND"}, png_chunks(data))
    else:
        test.assertEqual(part.get_content_type(), "image/jpeg")
        for m, payload in jpeg_markers(data):
            test.assertNotEqual(m, 0xFE, "COM segment")
            test.assertFalse(0xE1 <= m <= 0xEF, "APP%d segment" % (m - 0xE0))
            if m == 0xE0:
                test.assertEqual(payload[:5], b"JFIF\0")
    im = Image.open(io.BytesIO(data))
    test.assertFalse(im.info.get("exif"), "EXIF")
    test.assertNotIn(34853, im.getexif(), "GPS IFD")
    for key in ("comment", "icc_profile", "xmp", "Author", "Comment", "Description", "XML:com.adobe.xmp"):
        test.assertNotIn(key, im.info)
    return im


def mean_difference(a, b):
    a, b = a.convert("RGB"), b.convert("RGB")
    da, db = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(da, db)) / len(da)


def flatten(im):
    """The first frame composed onto white, as mugai does."""
    im.seek(0)
    rgba = im.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    white.alpha_composite(rgba)
    return white.convert("RGB")


class Sanitize:
    def __init__(self, work):
        self.work = work

    def run(self, attachments, timeout=60, extra=()):
        msg = EmailMessage()
        msg["From"] = "sender@example.net"
        msg["To"] = "user@example.org"
        msg["Subject"] = "images"
        msg.set_content("See the pictures.\n")
        for name, ctype, data in attachments:
            maintype, subtype = ctype.split("/")
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        src = os.path.join(self.work, "in.eml")
        out = os.path.join(self.work, "out.eml")
        report = os.path.join(self.work, "report.json")
        with open(src, "wb") as f:
            f.write(msg.as_bytes(policy=email.policy.SMTP))
        for p in (out, report):
            if os.path.exists(p):
                os.unlink(p)
        r = subprocess.run([os.path.join(BIN, "mugaictl"), "sanitize", *extra, "--report", report, src, out], cwd=self.work,
                           capture_output=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError("mugaictl sanitize exit %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
        with open(out, "rb") as f:
            delivered = email.message_from_bytes(f.read(), policy=email.policy.default)
        with open(report, encoding="utf-8") as f:
            rep = json.load(f)
        files = {p.get_filename(): p for p in delivered.iter_attachments()}
        return delivered, files, rep


class RenderImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.s = Sanitize(cls.tmp.name)
        cls.inputs = {
            "写真.jpeg": ("image/jpeg", samples.jpeg_with_exif_gps()),
            "phone.jpg": ("image/jpeg", samples.jpeg_rotated()),
            "text.png": ("image/png", samples.png_with_text_chunks()),
            "zip.png": ("image/png", samples.png_with_zip_appended()),
            "anim.gif": ("image/gif", samples.animated_gif()),
            "図.bmp": ("image/bmp", samples.bmp()),
            "rle.bmp": ("image/bmp", samples.bmp_rle8()),
            "scan.tif": ("image/tiff", samples.tiff()),
            "fax.tif": ("image/tiff", samples.tiff_g4()),
            "cmyk.tif": ("image/tiff", samples.tiff_cmyk()),
            "cmyk.jpg": ("image/jpeg", samples.jpeg_cmyk()),
            "alpha.webp": ("image/webp", samples.webp()),
            "anim.webp": ("image/webp", samples.webp_animated()),
            "huge.png": ("image/png", samples.png_claiming(65535, 65535)),
            "drawing.svg": ("image/svg+xml", samples.svg()),
        }
        cls.delivered, cls.files, cls.report = cls.s.run([(n, t, d) for n, (t, d) in cls.inputs.items()])
        cls.parts = {p.get("filename"): p for p in cls.report["parts"]}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def check_image(self, original, delivered_name, ctype, max_diff):
        part = self.files.get(delivered_name)
        self.assertIsNotNone(part, "%s not delivered; have %s" % (delivered_name, sorted(self.files)))
        self.assertEqual(part.get_content_type(), ctype)
        im = assert_only_pixels(self, part)
        src = flatten(Image.open(io.BytesIO(self.inputs[original][1])))
        self.assertEqual(im.size, src.size)
        self.assertLess(mean_difference(im, src), max_diff)
        return part.get_payload(decode=True)

    def test_message_delivered_with_text(self):
        self.assertEqual(self.delivered.get_content_type(), "multipart/mixed")
        self.assertIn("See the pictures.", next(self.delivered.iter_parts()).get_content())

    def test_jpeg_exif_gps_comment_gone(self):
        data = self.check_image("写真.jpeg", "写真.jpg", "image/jpeg", 6)
        for secret in (b"SecretCam", b"mugai-test-software", b"secret-comment-1234", b"Exif", b"GPS"):
            self.assertNotIn(secret, data)

    def test_jpeg_exif_orientation_applied(self):
        part = self.files["phone.jpg"]
        im = assert_only_pixels(self, part)
        with Image.open(io.BytesIO(self.inputs["phone.jpg"][1])) as src:
            shown = ImageOps.exif_transpose(src)
        self.assertEqual(im.size, (64, 96))
        self.assertLess(mean_difference(im, shown), 6)

    def test_png_text_chunks_gone(self):
        data = self.check_image("text.png", "text.png", "image/png", 0.01)
        for secret in (b"secret", "秘密".encode(), b"tEXt", b"zTXt", b"iTXt"):
            self.assertNotIn(secret, data)

    def test_png_zip_appended_gone(self):
        data = self.check_image("zip.png", "zip.png", "image/png", 0.01)
        self.assertNotIn(b"PK\x03\x04", data)
        self.assertNotIn(b"payload.exe", data)

    def test_animated_gif_first_frame(self):
        data = self.check_image("anim.gif", "anim.png", "image/png", 0.01)
        self.assertNotIn(b"gif-comment", data)
        self.assertIn("first frame", self.parts["anim.gif"]["reason"])

    def test_bmp(self):
        self.check_image("図.bmp", "図.png", "image/png", 0.01)  # 50×30: fewer than 4,096 colours, lossless
        rle = self.files["rle.png"]
        im = Image.open(io.BytesIO(rle.get_payload(decode=True))).convert("RGB")
        self.assertEqual(im.size, (8, 4))
        self.assertEqual(im.getpixel((0, 3)), (255, 0, 0))  # bottom row: the 8-pixel red run
        self.assertEqual(im.getpixel((4, 3)), (255, 0, 0))

    def test_tiff_variants(self):
        self.check_image("scan.tif", "scan.png", "image/png", 0.01)
        self.check_image("fax.tif", "fax.png", "image/png", 0.01)
        self.check_image("cmyk.tif", "cmyk.png", "image/png", 2)
        self.assertNotIn(b"secret-tiff-description", self.files["scan.png"].get_payload(decode=True))

    def test_cmyk_jpeg_colours(self):
        self.check_image("cmyk.jpg", "cmyk.jpg", "image/jpeg", 8)

    def test_webp(self):
        self.check_image("alpha.webp", "alpha.jpg", "image/jpeg", 8)
        self.check_image("anim.webp", "anim.jpg", "image/jpeg", 8)
        self.assertIn("first frame", self.parts["anim.webp"]["reason"])

    def test_huge_header_refused_with_size_and_limit(self):
        self.assertEqual(self.parts["huge.png"]["decision"], "removed")
        self.assertIn("65535×65535 = 4294836225 pixels exceeds render.max_pixels (40000000)",
                      self.parts["huge.png"]["reason"])
        self.assertNotIn("huge.png", self.files)

    def test_svg_removed_with_reason(self):
        self.assertEqual(self.parts["drawing.svg"]["decision"], "removed")
        self.assertIn("SVG removed by policy", self.parts["drawing.svg"]["reason"])
        self.assertFalse(any("drawing" in n for n in self.files))

    def test_max_pixels_limit(self):
        policy = os.path.join(self.tmp.name, "policy.toml")
        with open(policy, "w") as f:
            f.write("[render]\nmax_pixels = 10000\n")  # the config's floor
        for size, kept in (((100, 100), True), ((100, 101), False)):
            out = io.BytesIO()
            samples.photo(*size).save(out, "BMP")
            _, files, rep = self.s.run([("big.bmp", "image/bmp", out.getvalue())], extra=["--policy", policy])
            self.assertEqual(bool(files), kept, rep)
            if not kept:
                self.assertIn("100×101 = 10100 pixels exceeds render.max_pixels (10000)", rep["parts"][-1]["reason"])


class CorpusTest(unittest.TestCase):
    def test_every_corpus_image(self):
        if not os.path.isdir(CORPUS):
            self.skipTest("../shared/corpus/images not found")
        with tempfile.TemporaryDirectory() as work:
            s = Sanitize(work)
            seen = 0
            for root, _, names in os.walk(CORPUS):
                for name in sorted(names):
                    if name.endswith((".md", ".txt")) or name == "LICENSE":
                        continue
                    path = os.path.join(root, name)
                    rel = os.path.relpath(path, CORPUS)
                    with open(path, "rb") as f:
                        data = f.read()
                    with self.subTest(rel):
                        _, files, rep = s.run([(name, "application/octet-stream", data)], timeout=30)
                        part = rep["parts"][-1]
                        self.assertIn(part["decision"], ("replaced", "removed"), part)
                        for out in files.values():
                            im = assert_only_pixels(self, out)
                            if part["decision"] == "replaced" and rel not in self.SIZES:
                                with Image.open(path) as ref:
                                    self.assertEqual(im.size, ref.size, rel)
                        self.check_fact(rel, part, files)
                        seen += 1
            self.assertGreaterEqual(seen, 39)

    # Facts from images/INDEX.md.
    REMOVED = {"decompression_bomb.gif", "decompression_bomb.ico", "zero_width.gif", "broken.png",
               "bmp/q/rgb24jpeg.bmp", "oom-225817ca0f8c663be7ab4b9e717b02c661e66834.tif", "seek_too_large.tif",
               "truncated_image.png", "truncated_jpeg.jpg", "broken_data_stream.png"}
    SIZES = {"exif_gps.jpg": (8, 8), "empty_gps_ifd.jpg": (10, 10), "exif_gps_typeerror.jpg": (800, 531),
             "itxt_chunks.png": (2400, 2000), "exif.png": (512, 512), "iss634.gif": (245, 245),
             "iss634.webp": (245, 245), "hopper_bigtiff.tif": (128, 128), "hopper_g4.tif": (128, 128),
             "total-pages-zero.tif": (1728, 2156), "pil_sample_cmyk.jpg": (100, 100), "hopper.bmp": (128, 128),
             "transparent.webp": (200, 150), "png_decompression_dos.png": (1, 1), "multipage.tiff": (10, 10),
             "junk_jpeg_header.jpg": (1024, 768), "apng/delay.png": (128, 64)}

    def check_fact(self, rel, part, files):
        if rel in self.REMOVED:
            self.assertEqual(part["decision"], "removed", part)
        if rel in self.SIZES:
            self.assertEqual(part["decision"], "replaced", part)
            (out,) = files.values()
            self.assertEqual(Image.open(io.BytesIO(out.get_payload(decode=True))).size, self.SIZES[rel])
        if rel in ("iss634.gif", "iss634.webp", "multiple_comments.gif", "multipage.tiff", "total-pages-zero.tif",
                   "apng/delay.png"):
            self.assertRegex(part["reason"], "first (frame|page)")
        if rel == "hopper_orientation_6.jpg":
            (out,) = files.values()
            with Image.open(os.path.join(CORPUS, rel)) as src:
                shown = ImageOps.exif_transpose(src)
            self.assertLess(mean_difference(Image.open(io.BytesIO(out.get_payload(decode=True))), shown), 6)
        if rel == "multiple_comments.gif":
            (out,) = files.values()
            self.assertNotIn(b"Test comment", out.get_payload(decode=True))


if __name__ == "__main__":
    unittest.main()
