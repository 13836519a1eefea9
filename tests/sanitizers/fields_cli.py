#!/usr/bin/env python3
"""Structured fields with comments and spaced parameters through the real `mugaictl sanitize`.

One message whose Content-Type, Content-Transfer-Encoding and Content-Disposition fields carry RFC 5322
comments and white space around '=' and ';' (as mail readers accept them): the HTML body must arrive
converted to text, the base64 ISO-2022-JP part decoded, the PDF removed and named. The output is read
back with Python's email package, an independent parser, which also reads the original the same way.

usage: fields_cli.py MUGAICTL
"""
import base64
import email
import email.policy
import os
import subprocess
import sys
import tempfile

JIS = "請求書を送ります".encode("iso-2022-jp")
MESSAGE = (
    "From: a@sender.example\r\n"
    "To: b@city.example.lg.jp\r\n"
    "Subject: fields\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary = "b1" (comment)\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/html (fancy) ; charset = utf-8\r\n"
    "\r\n"
    "<p>Hello <b>world</b></p><script>evil()</script>\r\n"
    "--b1\r\n"
    'Content-Type: text/plain; charset="iso-2022-jp" (jis)\r\n'
    "Content-Transfer-Encoding: base64 (encoded)\r\n"
    "\r\n" + base64.b64encode(JIS).decode() + "\r\n"
    "--b1\r\n"
    "Content-Type: application/pdf\r\n"
    'Content-Disposition: attachment (x); filename = "a.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n" + base64.b64encode(b"%PDF-1.4\n%%EOF\n").decode() + "\r\n"
    "--b1--\r\n"
).encode()


def check_reference():
    """Python's own reading of the original, so the expectations below are a mail reader's."""
    msg = email.message_from_bytes(MESSAGE, policy=email.policy.default)
    parts = list(msg.iter_parts())
    assert msg.get_boundary() == "b1", msg.get_boundary()
    assert parts[0]["content-type"].content_type == "text/html"
    assert parts[1]["content-type"].params["charset"] == "iso-2022-jp"
    assert parts[1]["content-transfer-encoding"].cte == "base64"
    assert parts[2].get_filename() == "a.pdf"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    check_reference()
    with tempfile.TemporaryDirectory() as work:
        src, out = os.path.join(work, "in.eml"), os.path.join(work, "out.eml")
        with open(src, "wb") as f:
            f.write(MESSAGE)
        r = subprocess.run([sys.argv[1], "sanitize", src, out], cwd=work, capture_output=True, timeout=60)
        if r.returncode != 0:
            print("FAIL: mugaictl sanitize exited %d: %s" % (r.returncode, r.stderr.decode(errors="replace")))
            return 1
        with open(out, "rb") as f:
            sanitized = email.message_from_bytes(f.read(), policy=email.policy.default)
    text = sanitized.get_content()
    problems = []
    if sanitized.get_content_type() != "text/plain" or sanitized.is_multipart():
        problems.append("not one text/plain part: " + sanitized.get_content_type())
    for want in ("Hello world", "請求書を送ります", "a.pdf"):
        if want not in text:
            problems.append("missing %r" % want)
    for unwanted in ("<p>", "<b>", "evil()", "%PDF"):
        if unwanted in text:
            problems.append("kept %r" % unwanted)
    for p in problems:
        print("FAIL " + p)
    if problems:
        print(text)
        return 1
    print("fields_cli: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
