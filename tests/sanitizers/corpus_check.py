#!/usr/bin/env python3
"""Real-world corpora through `mugaictl sanitize`, checked by an independent parser (Python's email package).

Corpora: CPython's test_email/data and ../shared/corpus/mikel-mail (each skipped with a message when absent).
Every message must come out either sanitized (exit 0) or held back whole (exit 3), never crash or hang. A
sanitized output must be one text/plain part (followed only by re-encoded PNG/JPEG attachments when the
original had images) with CRLF line ends, no line over 998 octets, no parser defects, and a body Python can
decode. For plain-text originals whose text Python reads cleanly, the words of the
original must be readable in the output.

usage: corpus_check.py MUGAICTL SOURCE_DIR
"""
import email
import email.policy
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77  # ctest SKIP_RETURN_CODE
WORD = re.compile(r"[^\W_]{4,}")
KNOWN_CTE = {"7bit", "8bit", "binary", "base64", "quoted-printable"}


def corpora(source_dir):
    found = []
    try:
        import test  # noqa: F401  (CPython's test package)
        data = os.path.join(os.path.dirname(test.__file__), "test_email", "data")
        files = sorted(os.path.join(data, f) for f in os.listdir(data) if f.startswith("msg_"))
        found.append(("cpython", data, files))
    except (ImportError, FileNotFoundError):
        print("corpus_check: CPython test_email corpus not found, skipping it")
    mikel = os.path.join(source_dir, "..", "shared", "corpus", "mikel-mail")
    if os.path.isdir(mikel):
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(mikel) for f in fs if f != "LICENSE")
        found.append(("mikel-mail", mikel, files))
    else:
        print("corpus_check: ../shared/corpus/mikel-mail not found, skipping it")
    return found


def structural_problems(out):
    problems = []
    lines = out.split(b"\r\n")
    if lines[-1] != b"":
        problems.append("last line does not end in CRLF")
    for n, line in enumerate(lines):
        if b"\n" in line or b"\r" in line:
            problems.append("bare CR or LF in line %d" % (n + 1))
            break
        if len(line) > 998:
            problems.append("line %d has %d octets" % (n + 1, len(line)))
            break
    msg = email.message_from_bytes(out, policy=email.policy.default)
    text_part = msg
    if msg.get_content_type() == "multipart/mixed":
        # Images come back re-encoded (image_render): the text part first, then PNG/JPEG attachments only.
        parts = list(msg.iter_parts())
        text_part = parts[0] if parts else msg
        for p in parts[1:]:
            if p.get_content_type() not in ("image/png", "image/jpeg") or p.get_content_disposition() != "attachment":
                problems.append("unexpected part beside the text: " + p.get_content_type())
    if text_part.is_multipart() or text_part.get_content_type() != "text/plain":
        problems.append("not a text/plain part: " + text_part.get_content_type())
    for m in [msg] + ([text_part] if text_part is not msg else []):
        if m.defects:
            problems.append("parser defects: %r" % m.defects)
    try:
        text = text_part.get_content()
    except Exception as e:  # noqa: BLE001  (any decoding failure is a finding)
        problems.append("body does not decode: %r" % e)
        text = ""
    return problems, text


def original_text(raw):
    """The text of a plain-text original as Python reads it, or None when it is not one or not clean."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.is_multipart() or msg.get_content_type() != "text/plain" or msg.defects:
        return None
    # mugai removes a body in an unknown transfer encoding (fail closed) where Python reads it as 7bit.
    if msg.get("Content-Transfer-Encoding", "7bit").strip().lower() not in KNOWN_CTE:
        return None
    try:
        text = msg.get_content()
    except Exception:  # noqa: BLE001
        return None
    return None if "\ufffd" in text else text


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    mugaictl, source_dir = sys.argv[1], sys.argv[2]
    sets = corpora(source_dir)
    if not sets:
        print("corpus_check: no corpus available, skipped")
        return SKIP
    failures = []
    counts = {"sanitized": 0, "held": 0, "readable_checked": 0}
    with tempfile.TemporaryDirectory() as work:
        out_path = os.path.join(work, "out.eml")
        for name, root, files in sets:
            for path in files:
                label = "%s/%s" % (name, os.path.relpath(path, root))
                if os.path.exists(out_path):
                    os.unlink(out_path)
                try:
                    r = subprocess.run([mugaictl, "sanitize", path, out_path], cwd=work, capture_output=True,
                                       timeout=30)
                except subprocess.TimeoutExpired:
                    failures.append(label + ": timed out")
                    continue
                if r.returncode == 3:
                    counts["held"] += 1
                    continue
                if r.returncode != 0:
                    failures.append("%s: exit %d: %s" % (label, r.returncode, r.stderr.decode(errors="replace")))
                    continue
                counts["sanitized"] += 1
                with open(out_path, "rb") as f:
                    out = f.read()
                problems, text = structural_problems(out)
                with open(path, "rb") as f:
                    before = original_text(f.read())
                if before is not None:
                    counts["readable_checked"] += 1
                    words = set(WORD.findall(before))
                    missing = sorted(w for w in words if w not in text)
                    if words and len(missing) > len(words) // 20:
                        problems.append("%d of %d words lost, e.g. %r" % (len(missing), len(words), missing[:5]))
                failures.extend("%s: %s" % (label, p) for p in problems)
    print("corpus_check: %(sanitized)d sanitized, %(held)d held back whole, "
          "%(readable_checked)d plain-text originals compared word for word" % counts)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
