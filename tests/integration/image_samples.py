"""Test images made by Pillow at test time (never fetched): each carries what a sanitizer must remove
(EXIF with GPS, comments, text chunks, a ZIP after the end) or exercises a decoder path (animation, CMYK,
fax, palette, RLE). Run under /usr/bin/python3 (Debian's python3-pil). Also writes the fuzz seeds:
`python3 image_samples.py seeds DIR`."""
import io
import struct
import sys
import zipfile
import zlib

from PIL import Image, ImageDraw


def photo(w=96, h=64):
    """Many colours: a smooth two-way gradient with a bright disc (reads as a photograph)."""
    im = Image.new("RGB", (w, h))
    im.putdata([((x * 255) // w, (y * 255) // h, ((x + y) * 127) // (w + h) + 64) for y in range(h) for x in range(w)])
    ImageDraw.Draw(im).ellipse((w // 4, h // 4, w // 2, h // 2), fill=(250, 240, 30))
    return im


def graphic(w=80, h=48):
    """Few colours, sharp edges: a diagram."""
    im = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(im)
    d.rectangle((4, 4, w // 2, h // 2), fill=(200, 0, 0))
    d.line((0, h - 1, w - 1, 0), fill=(0, 0, 200), width=3)
    return im


def jpeg_with_exif_gps():
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "mugai-test-software"  # Software
    gps = {1: "N", 2: (35.0, 41.0, 22.0), 3: "E", 4: (139.0, 41.0, 30.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    photo().save(out, "JPEG", quality=90, exif=exif.tobytes(), comment=b"secret-comment-1234")
    return out.getvalue()


def jpeg_rotated():
    """A 96×64 photo whose EXIF says "turn 90° clockwise to show" (orientation 6), as phones write."""
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    photo().save(out, "JPEG", quality=90, exif=exif.tobytes())
    return out.getvalue()


def png_with_text_chunks():
    from PIL import PngImagePlugin
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "secret-author-tEXt")
    info.add_text("Comment", "secret-comment-zTXt " * 20, zip=True)
    info.add_itxt("Description", "秘密-iTXt", lang="ja", tkey="説明")
    out = io.BytesIO()
    graphic().save(out, "PNG", pnginfo=info)
    return out.getvalue()


def png_with_zip_appended():
    out = io.BytesIO()
    graphic().save(out, "PNG")
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("payload.exe", b"MZ" + b"\0" * 64)
    return out.getvalue() + z.getvalue()


def animated_gif():
    frames = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        im = Image.new("RGB", (40, 30), (255, 255, 255))
        ImageDraw.Draw(im).rectangle((5 + i * 5, 5, 20 + i * 5, 20), fill=colour)
        frames.append(im.convert("P", palette=Image.ADAPTIVE))
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0, comment=b"gif-comment")
    return out.getvalue()


def bmp():
    out = io.BytesIO()
    photo(50, 30).save(out, "BMP")
    return out.getvalue()


def tiff():
    out = io.BytesIO()
    graphic().save(out, "TIFF", compression="tiff_lzw", description="secret-tiff-description")
    return out.getvalue()


def tiff_g4():
    out = io.BytesIO()
    graphic().convert("1").save(out, "TIFF", compression="group4")
    return out.getvalue()


def tiff_cmyk(w=80, h=48):
    out = io.BytesIO()
    graphic(w, h).convert("CMYK").save(out, "TIFF")
    return out.getvalue()


def jpeg_cmyk():
    out = io.BytesIO()
    photo().convert("CMYK").save(out, "JPEG", quality=90)
    return out.getvalue()


def webp():
    out = io.BytesIO()
    im = photo().convert("RGBA")
    im.putalpha(200)
    im.save(out, "WEBP", quality=90)
    return out.getvalue()


def webp_animated():
    out = io.BytesIO()
    frames = [photo(), graphic(96, 64)]
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    return out.getvalue()


def png_claiming(w, h):
    """A PNG whose IHDR claims w×h (valid CRC) over one tiny IDAT: the size must be refused before decoding."""
    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b""))


def bmp_rle8():
    """8-bit RLE BMP written by hand (Pillow writes none): 8×4, runs, an absolute run, a delta, EOL, EOF."""
    w, h = 8, 4
    palette = b"".join(bytes((b, g, r, 0)) for r, g, b in [(255, 255, 255), (255, 0, 0), (0, 0, 255)] + [(0, 0, 0)] * 253)
    rows = [b"\x08\x01\x00\x00", b"\x00\x04\x02\x01\x02\x01\x04\x00\x00\x00", b"\x00\x02\x02\x00\x06\x02\x00\x00",
            b"\x04\x02\x04\x01"]
    data = b"".join(rows) + b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + palette + data


def svg():
    return (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<script>alert(1)</script><rect width="10" height="10"/></svg>\n')


SEEDS = {
    "image_render": {"cmyk.jpg": jpeg_cmyk, "exif.jpg": jpeg_rotated, "text.png": png_with_text_chunks, "anim.gif": animated_gif,
                     "g4.tif": tiff_g4, "cmyk.tif": lambda: tiff_cmyk(24, 16), "alpha.webp": webp, "anim.webp": webp_animated,
                     "rgb24.bmp": bmp, "rle8.bmp": bmp_rle8, "huge.png": lambda: png_claiming(65535, 65535)},
    "bmp_decode": {"rgb24.bmp": bmp, "rle8.bmp": bmp_rle8},
}


def write_seeds(root):
    import os
    for target, files in SEEDS.items():
        os.makedirs(os.path.join(root, target), exist_ok=True)
        for name, make in files.items():
            with open(os.path.join(root, target, name), "wb") as f:
                f.write(make())
    for mode, name in [("1", "pal1.bmp"), ("L", "pal8.bmp"), ("P", "pal8p.bmp"), ("RGBA", "rgba32.bmp")]:
        out = io.BytesIO()
        graphic(12, 7).convert(mode).save(out, "BMP")
        with open(os.path.join(root, "bmp_decode", name), "wb") as f:
            f.write(out.getvalue())


if __name__ == "__main__" and sys.argv[1:2] == ["seeds"]:
    write_seeds(sys.argv[2])
