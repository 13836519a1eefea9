# Archives for test_archive.py and tests/bench/archive_bench.sh, made at test time by the real tools
# (zipfile, tarfile, bsdtar, 7z, jlha, gcab, the compressors): Japanese documents in every format, names
# a hostile sender writes, executables, and the classic decompression bombs. Run under /usr/bin/python3.
"""Archive builders; each returns the archive's bytes."""
import io
import os
import struct
import subprocess
import tarfile
import tempfile
import zipfile
import zlib

from image_samples import graphic
from test_render_pdf import text_pdf

TEXT = "令和8年度 水道局 予算要求書\n要求総額は１２３，４５６千円です。担当: 髙橋①～\n"
SJIS_TEXT = "住民票の写しの交付について（お知らせ）\n窓口は表示のとおりです。\n"
PDF_LINE = "Budget request of the water bureau"


def png():
    out = io.BytesIO()
    graphic().save(out, "PNG")
    return out.getvalue()


def documents():
    """What every format below holds: path in the archive -> bytes. The Shift_JIS text carries 表, whose
    second byte is 0x5C (a backslash), in its content as the CP932 names carry it in theirs."""
    return {
        "書類/報告.txt": TEXT.encode(),
        "書類/お知らせ.txt": SJIS_TEXT.encode("cp932"),
        "書類/見積書.pdf": text_pdf([PDF_LINE, "Total: 42 items"]),
        "図/地図.png": png(),
    }


def _tree(entries, root):
    """Writes entries (path -> bytes) below root; returns the paths in the order given."""
    for path, data in entries.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full) or root, exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    return list(entries)


def _run(argv, cwd=None, env=None, stdin=None):
    return subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, check=True, timeout=300).stdout


def _made_by(argv_of, entries, suffix):
    """Bytes of the archive the command argv_of(out, paths) writes to `out` (named *suffix, as some tools
    insist) from entries laid out in a temp dir."""
    with tempfile.TemporaryDirectory(prefix="mugai-archive-") as d:
        src = os.path.join(d, "src")
        os.mkdir(src)
        paths = _tree(entries, src)
        out = os.path.join(d, "out" + suffix)
        argv, env = argv_of(out, paths)
        _run(argv, cwd=src, env=env)
        with open(out, "rb") as f:
            return f.read()


# --------------------------------------------------------------------------------------------
# Zip


class RawName(zipfile.ZipInfo):
    """An entry whose name is written as the given bytes with the UTF-8 flag (bit 11) clear, as Windows'
    Explorer and Japanese archivers write CP932 names and as an attacker writes a NUL: zipfile itself
    always flags a non-ASCII name and cuts a name at its NUL."""

    def __init__(self, raw):
        super().__init__(raw.decode("latin-1"))
        self.raw_name = raw

    def _encodeFilenameFlags(self):
        return self.raw_name, self.flag_bits & ~0x800


def zip_archive(entries, compression=zipfile.ZIP_DEFLATED, zip64=False):
    """entries: name (str, or bytes written raw) -> bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in entries.items():
            info = RawName(name) if isinstance(name, bytes) else zipfile.ZipInfo(name)
            info.compress_type = compression
            with z.open(info, "w", force_zip64=zip64) as f:
                f.write(data)
    return out.getvalue()


def cp932_zip(entries):
    """Names in CP932 without the UTF-8 flag. Python's cp932 writes 髙 as NEC's 0xEEE0; Windows writes
    the IBM extension 0xFBFC, which is the one a decoder is likelier to miss."""
    return zip_archive({name.encode("cp932").replace(b"\xee\xe0", b"\xfb\xfc"): data for name, data in entries.items()})


# ①, ～ (CP932 0x8160, which Shift_JIS maps to U+301C and CP932 to U+FF5E), 髙 (0xFBFC, an IBM extension)
# and 表 (0x955C, whose second byte is a backslash).
CP932_NAMES = {"表計算/①会議～予定.txt": "第1回会議の予定\n".encode(), "髙橋/表.txt": "髙橋さんの表\n".encode()}


def encrypted_zip(entries, password, aes=False):
    """ZipCrypto by Info-ZIP's zip, or WinZip AES-256 by 7-Zip."""
    if aes:
        return _made_by(lambda out, paths: (["7z", "a", "-tzip", "-p" + password, "-mem=AES256", out] + paths, None),
                        entries, ".zip")
    return _made_by(lambda out, paths: (["zip", "-q", "-P", password, out] + paths, None), entries, ".zip")


# --------------------------------------------------------------------------------------------
# tar, the single-file compressors, 7z, lzh, cab

COMPRESSORS = {"gzip": ["gzip", "-c"], "bzip2": ["bzip2", "-c"], "xz": ["xz", "-c"], "zstd": ["zstd", "-q", "-c"]}


def compressed(data, compressor):
    """data through one of COMPRESSORS."""
    return _run(COMPRESSORS[compressor], stdin=data)


def tar_archive(entries, compressor=None):
    """A pax tar (UTF-8 names) by tarfile, compressed by the real tool; "compress" (.Z, LZW) by bsdtar,
    there being no compress(1) here."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            t.addfile(info, io.BytesIO(data))
    tar = out.getvalue()
    if compressor is None:
        return tar
    if compressor == "compress":
        return _run(["bsdtar", "-c", "-Z", "-f", "-", "@-"], stdin=tar)
    return compressed(tar, compressor)


def seven_zip(entries, password=None, encrypt_names=False):
    def argv(out, paths):
        extra = ["-p" + password, "-mhe=" + ("on" if encrypt_names else "off")] if password else []
        return ["7z", "a", "-t7z", "-bd"] + extra + [out] + paths, None
    return _made_by(argv, entries, ".7z")


def lzh_archive(entries):
    """jlha, names in CP932 (as LHA for Windows writes them); jlha's library reads lha.encoding."""
    env = dict(os.environ, JAVA_TOOL_OPTIONS="-Dlha.encoding=MS932")
    return _made_by(lambda out, paths: (["jlha", "a", out] + paths, env), entries, ".lzh")


def cab_archive(entries):
    """gcab, MSZIP-compressed; it flags non-ASCII names as UTF-8 (_A_NAME_IS_UTF)."""
    return _made_by(lambda out, paths: (["gcab", "-c", "-z", out] + paths, None), entries, ".cab")


def cp932_cab(entries):
    """A cab with CP932 names and no UTF-8 attribute, as Windows' makecab writes them: gcab writes each name
    as an ASCII stand-in of the same length (so no offset moves), which is then overwritten. A cab separates
    folders with a backslash, and 表's second byte is one."""
    stand_ins, raw = {}, {}
    for i, name in enumerate(entries):
        parts = [c.encode("cp932") for c in name.split("/")]
        fake = ["%c%c" % (65 + i, 97 + j) + "_" * (len(p) - 2) if len(p) > 1 else p.decode() for j, p in enumerate(parts)]
        stand_ins["/".join(fake)] = entries[name]
        raw["\\".join(fake).encode()] = b"\\".join(parts)
    data = cab_archive(stand_ins)
    for fake, name in raw.items():
        assert data.count(fake) == 1, fake
        data = data.replace(fake, name)
    return data


# --------------------------------------------------------------------------------------------
# What must never reach the recipient

def elf():
    with open("/bin/true", "rb") as f:
        return f.read()


def pe_stub():
    """A Windows PE: DOS header (MZ) pointing at a PE signature, an i386 COFF header and a PE32 optional
    header, no sections; file(1) calls it a PE32 executable."""
    dos = b"MZ" + b"\0" * 58 + struct.pack("<I", 0x40)
    coff = b"PE\0\0" + struct.pack("<HHIIIHH", 0x14C, 0, 0, 0, 0, 0xE0, 0x0102)
    optional = struct.pack("<HBB", 0x10B, 14, 0).ljust(0xE0, b"\0")
    return dos + coff + optional


def hostile_names():
    """Entry names a hostile sender writes -> bytes: climbing out, absolute, Windows device names,
    bidi overrides hiding an extension, a NUL hiding the rest."""
    return {
        "../../etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n",
        "../../上位.pdf": text_pdf(["climbing out"]),
        "/abs/x.txt": "絶対パスの名前\n".encode(),
        "CON.txt": "デバイス名\n".encode(),
        "CON.pdf": text_pdf(["a device name"]),
        "nul.png": png(),
        "a\u202egpj.exe": pe_stub(),
        b"nul\0hidden.txt": "NULの後ろ\n".encode(),
        "見積\u202e書.pdf": text_pdf(["bidi inside a name"]),
    }


# --------------------------------------------------------------------------------------------
# Bombs


def nested_bomb(levels=5, copies=16, leaf_size=1 << 20):
    """42.zip's shape: `levels` zips deep, each holding `copies` copies of the one below, the innermost
    holding `copies` files of leaf_size zeros; 16**5 MiB = 1 TiB from a few tens of kilobytes."""
    data = zip_archive({"%x.bin" % i: bytes(leaf_size) for i in range(copies)})
    for _ in range(levels - 1):
        data = zip_archive({"%x.zip" % i: data for i in range(copies)})
    return data


def zeros_zip(size=200 * 1000 * 1000, name="zeros.txt"):
    """One deflate member of `size` zero bytes (about 1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open(name, "w", force_zip64=size > 0x7FFFFFFF) as f:
            chunk = bytes(1 << 20)
            for _ in range(size // len(chunk)):
                f.write(chunk)
            f.write(bytes(size % len(chunk)))
    return out.getvalue()


_CRC_POLY = 0xEDB88320  # CRC-32, bit-reversed: bit 31 is the coefficient of x^0


def _crc_mul(a, b):
    """a * b modulo the CRC-32 polynomial, both bit-reversed."""
    product = 0
    for bit in range(31, -1, -1):
        if a >> bit & 1:
            product ^= b
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return product


def _crc_concat(crc_a, crc_b, len_b):
    """crc32(A + B) from crc32(A), crc32(B) and len(B): A's register run through len(B) zero bytes is A's
    CRC times x^(8 len(B)), and the pre/post inversions cancel between the two terms."""
    power, square, n = 1 << 31, 1 << 30, len_b * 8  # x^0; x^1 (to be squared up)
    while n:
        if n & 1:
            power = _crc_mul(power, square)
        square = _crc_mul(square, square)
        n >>= 1
    return _crc_mul(crc_a, power) ^ crc_b


def overlap_bomb(files=200, kernel=None):
    """David Fifield's overlapping-file construction ("A better zip bomb", 2019), quoted-overlap
    variant: one deflate kernel shared by every file; file i's compressed data starts with a stored
    block that quotes file i+1's local header and runs on through every later header into the kernel,
    so each central-directory entry decompresses to the headers after it plus the kernel's output.
    kernel: the bytes the kernel expands to (default 4 MiB of zeros, about 1000:1)."""
    kernel = bytes(4 << 20) if kernel is None else kernel
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel_deflate = comp.compress(kernel) + comp.flush()
    names = [("%04d.txt" % i).encode() for i in range(files)]

    def local_header(name, crc, csize, usize):
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, csize, usize, len(name), 0) + name

    # Sizes and CRCs from the last file back: file i covers quote(i+1) + header(i+1) + what file i+1 covers.
    headers = [None] * files
    crc, csize, usize = zlib.crc32(kernel), len(kernel_deflate), len(kernel)
    sizes = [None] * files
    for i in range(files - 1, -1, -1):
        sizes[i] = (crc, csize, usize)
        headers[i] = local_header(names[i], crc, csize, usize)
        quoted = headers[i]
        crc = _crc_concat(zlib.crc32(quoted), crc, usize)
        csize += 5 + len(quoted)
        usize += len(quoted)
    body, offsets = b"", []
    for i in range(files):
        if i:
            n = len(headers[i])
            body += struct.pack("<BHH", 0, n, n ^ 0xFFFF)  # stored block, not final, quoting header i
        offsets.append(len(body))
        body += headers[i]
    body += kernel_deflate
    directory = b""
    for i, name in enumerate(names):
        crc, csize, usize = sizes[i]
        directory += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, csize, usize,
                                 len(name), 0, 0, 0, 0, 0, offsets[i]) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, files, files, len(directory), len(body), 0)
    return body + directory + end


def sparse_tar(size="10G"):
    """GNU tar -S of a sparse file: a PDF's first page, then holes up to `size`. A few kilobytes that
    expand to `size`, and that a renderer would read to the end (zeros alone are sniffed and dropped)."""
    with tempfile.TemporaryDirectory(prefix="mugai-sparse-") as d:
        with open(os.path.join(d, "disk.pdf"), "wb") as f:
            f.write(text_pdf(["sparse"]))
        _run(["truncate", "-s", size, os.path.join(d, "disk.pdf")])
        _run(["tar", "-cSf", os.path.join(d, "out.tar"), "disk.pdf"], cwd=d)
        with open(os.path.join(d, "out.tar"), "rb") as f:
            return f.read()


class _Bits:
    """A deflate bit stream: fields least significant bit first, Huffman codes most significant first."""

    def __init__(self):
        self.value = self.count = 0

    def put(self, value, bits):
        self.value |= value << self.count
        self.count += bits

    def code(self, value, bits):
        self.put(int(format(value, "0%db" % bits)[::-1], 2), bits)

    def empty_fixed_block(self):
        self.put(0, 1)
        self.put(1, 2)
        self.code(0, 7)  # end of block (symbol 256)

    def stored_header(self, length, final=False):
        self.put(int(final), 1)
        self.put(0, 2)
        self.count += -self.count % 8
        return self.value.to_bytes(self.count // 8, "little") + struct.pack("<HH", length, length ^ 0xFFFF)


def _length_symbol(n):
    """Deflate's length symbol for a copy of n bytes, its extra bits and their value (RFC 1951 3.2.5)."""
    base = 3
    for symbol in range(257, 285):
        extra = max(0, (symbol - 261) // 4)
        if n < base + (1 << extra):
            return symbol, extra, n - base
        base += 1 << extra
    raise ValueError(n)


def _distance_code(d):
    base = 1
    for code in range(30):
        extra = max(0, code // 2 - 1)
        if d < base + (1 << extra):
            return code, extra, d - base
        base += 1 << extra
    raise ValueError(d)


QUINE_UNIT = 10  # bytes of every op but the last: what lets a copy of ops reproduce ops


def _lit(n):
    """Print the next n bytes: a stored block, after four empty fixed blocks that pad it to QUINE_UNIT."""
    b = _Bits()
    for _ in range(4):
        b.empty_fixed_block()
    return b.stored_header(n)


def _rep(n, size=QUINE_UNIT, final=False):
    """Repeat the last n bytes: one copy in a fixed block, then an empty stored block that realigns to a
    byte, with as many empty fixed blocks in front as make it `size` bytes."""
    for padding in range(4):
        b = _Bits()
        for _ in range(padding):
            b.empty_fixed_block()
        b.put(0, 1)
        b.put(1, 2)
        symbol, extra, rest = _length_symbol(n)
        if symbol < 280:
            b.code(symbol - 256, 7)
        else:
            b.code(0xC0 + symbol - 280, 8)
        b.put(rest, extra)
        dist, extra, rest = _distance_code(n)
        b.code(dist, 5)
        b.put(rest, extra)
        b.code(0, 7)
        op = b.stored_header(0, final)
        if len(op) == size:
            return op
    raise ValueError("no %d-byte copy of %d" % (size, n))


def _crc_fixed_point(make):
    """x with crc32(make(x)) == x, or None. crc32 of a message of fixed length is affine in x over GF(2),
    so crc32(make(x)) = c ^ A x and the fixed points solve (A ^ I) x = c."""
    c = zlib.crc32(make(0))
    basis = {}  # highest bit -> (vector, the bits of x that make it)
    for k in range(32):
        vector, combo = zlib.crc32(make(1 << k)) ^ c ^ (1 << k), 1 << k
        while vector:
            top = vector.bit_length() - 1
            if top not in basis:
                basis[top] = (vector, combo)
                break
            vector ^= basis[top][0]
            combo ^= basis[top][1]
    target, x = c, 0
    while target:
        top = target.bit_length() - 1
        if top not in basis:
            return None
        target ^= basis[top][0]
        x ^= basis[top][1]
    return x


def gzip_quine():
    """A .gz that decompresses to itself, after Russ Cox's "Zip Files All The Way Down" (2010): deflate
    ops "print the next n bytes" (a stored block) and "repeat the last n bytes" (a copy), each one unit
    long, arranged so that the output catches up with the program, header and trailer included. The CRC
    in the trailer is the CRC of a file that holds it twice: solved for, not searched."""
    lit, rep = _lit, _rep
    final = rep(17, 9, final=True)  # repeats itself and the 8-byte trailer
    for attempt in range(64):
        # 3 units of gzip header (FNAME set): the name pads it, and varies it should a CRC have no fixed point.
        name = ("quine%02d" % attempt).ljust(3 * QUINE_UNIT - 11, "x").encode() + b"\0"
        header = b"\x1f\x8b\x08\x08\0\0\0\0\x00\x03" + name
        program = (header
                   + lit(40) + header + lit(40) + rep(40)                   # output: header lit(40), twice; one op behind
                   + lit(10) + rep(40) + lit(10) + lit(10)                  # behind by rep(40) lit(10) lit(10)
                   + lit(40) + rep(40) + lit(10) + lit(10) + lit(40) + rep(40)  # caught up but for that rep(40)
                   + lit(40) + rep(40) + lit(40) + rep(40) + lit(40) + rep(40)  # now one lit(40) ahead
                   + lit(40) + rep(40) + lit(0) + lit(0) + lit(17)          # level; the rep repeats these four
                   + rep(40) + lit(0) + lit(0)                               # and they run: ahead by lit(17)
                   + lit(17))
        size = len(program) + 2 * (len(final) + 8)

        def make(crc):
            trailer = struct.pack("<II", crc, size)
            return program + final + trailer + final + trailer

        crc = _crc_fixed_point(make)
        if crc is not None:
            return make(crc)
    raise RuntimeError("no CRC fixed point")
