# Password-protected archives (PPAP, issue 12) through the real binaries: zips the test encrypts with
# `zip -P` (ZipCrypto) and 7z (AES-256) go in over SMTP; the mail waits for its password mail from the
# same sender (across a kill -9 too) and arrives at the real sink with the archive's content once that
# came, or without the archive when the window ends; archive.encrypted = "quarantine" and "reject" remove
# it at once (the sender of a rejected one gets a report on the bounce route); `mugaictl quarantine
# unlock` delivers the sanitized content for the right password only, audited, two-person rule included.
# No password ever reaches the gateway's log. Needs Debian's zip and p7zip-full (7z).
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
import uuid
import zlib

from harness import (GatewayCase, RCPT, SENDER, mail_with, run_ctl, run_ctl_args, send_smtplib, smtp_hop,
                     text_message, token, wait_until)

HAVE_TOOLS = all(shutil.which(p) for p in ("zip", "7z"))
WINDOW = 4  # seconds: archive.pair_window for the tests that wait for its end


def png_bytes(width=64, height=48):
    """A small RGB PNG, made by hand (a gradient), so no imaging library is needed."""
    raw = b"".join(b"\x00" + b"".join(bytes((x * 4 % 256, y * 5 % 256, 128)) for x in range(width))
                   for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def secret_password():
    return "Pw-" + uuid.uuid4().hex[:12]


def encrypted_zip(files, password, aes=False):
    """A zip of `files` ({name: bytes}) encrypted with `password`: ZipCrypto (zip -P) or AES-256 (7z)."""
    with tempfile.TemporaryDirectory(prefix="mugai-ppap-") as d:
        names = []
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            names.append(name)
        out = os.path.join(d, "archive.zip")
        if aes:
            argv = ["7z", "a", "-tzip", "-p" + password, "-mem=AES256", out] + names
        else:
            argv = ["zip", "-q", "-P", password, out] + names
        subprocess.run(argv, cwd=d, check=True, capture_output=True, timeout=60)
        with open(out, "rb") as f:
            return f.read()


def attachments(msg):
    """(content type, filename) of every attached part."""
    return [(p.get_content_type(), p.get_filename()) for p in msg.walk() if p.get_filename()]


def decoded_text(msg):
    """Every text part of a delivered message, decoded, and every attachment's filename."""
    out = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_filename():
            out.append(part.get_filename())
        if part.get_content_maintype() == "text":
            out.append(part.get_content())
    return "\n".join(out)


@unittest.skipUnless(HAVE_TOOLS, "needs zip and 7z (Debian's zip, p7zip-full)")
class PpapCase(GatewayCase):
    def start(self, window=60, bounce=None, **sets):
        sink = self.sink()
        base = {"delivery.next_hop": smtp_hop(sink.port), "archive.pair_window": '"%ds"' % window}
        if bounce is not None:
            base["delivery.bounce"] = smtp_hop(bounce.port)
        base.update(sets)
        return sink, self.gateway(base)

    def archive_mail(self, password, aes=False):
        """A mail carrying an encrypted zip with a text file and a PNG; returns (bytes, token, text marker)."""
        tok = token()
        marker = "MITSUMORI-" + uuid.uuid4().hex[:10]
        files = {"見積.txt": ("見積書 社外秘 %s\n" % marker).encode(), "図面.png": png_bytes()}
        data = encrypted_zip(files, password, aes)
        return mail_with(tok, [(data, "application/zip", "資料.zip")]), tok, marker

    @staticmethod
    def password_mail(password, label="パスワード"):
        tok = token()
        return text_message("パスワードのお知らせ " + tok, "先ほどの資料の%s: %s\r\n%s" % (label, password, tok)), tok

    def wait_one(self, gw, sink, tok, timeout=60, besides=None):
        """The one message at the sink carrying `tok` (but not `besides`: the notice of the archive mail
        names its password mail, Subject and all)."""
        def found():
            return [r for r in sink.find(tok) if besides is None or besides.encode() not in r.data]
        got = wait_until(found, timeout)
        self.assertTrue(got, gw.log_text()[-4000:])
        time.sleep(0.5)  # a second copy would be here by now
        got = found()
        self.assertEqual(len(got), 1, [r.text()[:300] for r in got])
        return got[0].message()

    def assert_password_never_logged(self, gw, *passwords):
        log = gw.log_text()
        for p in passwords:
            self.assertNotIn(p, log)

    def quarantine_id(self, msg):
        qid = msg["X-Mugai-Quarantine-Id"]
        self.assertTrue(qid, msg.as_string()[:2000])
        return qid

    def audit(self, gw):
        res = run_ctl(gw, "audit", "show", "--json")
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


class Pairing(PpapCase):
    def test_password_mail_unlocks_the_waiting_archive(self):
        sink, gw = self.start()
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        qa = send_smtplib(gw.port, raw)
        self.assertTrue(gw.wait_event("awaiting-password", 30, id=qa), gw.log_text()[-4000:])
        time.sleep(1)
        self.assertEqual(sink.find(tok), [], "nothing is delivered while it waits")
        self.assertTrue(any(os.path.basename(p).startswith(qa) for p in gw.queued_files()), "the raw entry stays queued")

        pw_mail, ptok = self.password_mail(password)
        qb = send_smtplib(gw.port, pw_mail)
        got = self.wait_one(gw, sink, tok)
        text = decoded_text(got)
        self.assertIn(marker, text, "the archive's text file arrives")
        self.assertIn(("image/png", "図面.png"), attachments(got), "its picture arrives rendered")
        self.assertIn(qb, text, "the notice names the password mail")
        self.assertTrue(gw.wait_event("paired", 10, id=qa, password_from=qb))
        b = self.wait_one(gw, sink, ptok, besides=tok)
        self.assertIn(password, b.get_body(("plain",)).get_content(), "the password mail itself is delivered as text")
        self.assertFalse(gw.wait_event("sanitize", 1, id=qa, verdict="failed"))
        self.assert_password_never_logged(gw, password)

    def test_aes_zip_and_a_pw_line(self):
        sink, gw = self.start()
        password = secret_password()
        raw, tok, marker = self.archive_mail(password, aes=True)
        qa = send_smtplib(gw.port, raw)
        self.assertTrue(gw.wait_event("awaiting-password", 30, id=qa), gw.log_text()[-4000:])
        pw_mail, ptok = self.password_mail(password, label="PW")
        qb = send_smtplib(gw.port, pw_mail)
        self.assertIn(marker, decoded_text(self.wait_one(gw, sink, tok)))
        self.assertTrue(gw.wait_event("paired", 10, id=qa, password_from=qb))
        self.wait_one(gw, sink, ptok, besides=tok)
        self.assert_password_never_logged(gw, password)

    def test_password_mail_right_behind_pairs_too(self):
        """Sent back to back, the password mail may be done before the archive mail starts waiting: the
        gateway remembers it for the window."""
        sink, gw = self.start()
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        pw_mail, ptok = self.password_mail(password)
        qa = send_smtplib(gw.port, raw)
        qb = send_smtplib(gw.port, pw_mail)
        self.assertIn(marker, decoded_text(self.wait_one(gw, sink, tok)))
        self.assertTrue(gw.wait_event("paired", 10, id=qa, password_from=qb))
        self.wait_one(gw, sink, ptok, besides=tok)

    def test_the_wait_survives_kill_9(self):
        sink, gw = self.start()
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        qa = send_smtplib(gw.port, raw)
        self.assertTrue(gw.wait_event("awaiting-password", 30, id=qa), gw.log_text()[-4000:])
        gw.kill()
        gw.restart()
        # Sanitized again from the spool, it waits again (the same deadline: it comes from the arrival).
        self.assertTrue(wait_until(lambda: len([e for e in gw.events("awaiting-password") if e.get("id") == qa]) >= 2, 30),
                        gw.log_text()[-4000:])
        self.assertEqual(sink.find(tok), [])
        pw_mail, ptok = self.password_mail(password)
        qb = send_smtplib(gw.port, pw_mail)
        self.assertIn(marker, decoded_text(self.wait_one(gw, sink, tok)))
        self.assertTrue(gw.wait_event("paired", 10, id=qa, password_from=qb))
        self.wait_one(gw, sink, ptok, besides=tok)
        self.assert_password_never_logged(gw, password)

    def test_other_senders_and_recipients_do_not_pair(self):
        sink, gw = self.start(window=WINDOW)
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        qa = send_smtplib(gw.port, raw)
        self.assertTrue(gw.wait_event("awaiting-password", 30, id=qa), gw.log_text()[-4000:])
        stranger, stok = self.password_mail(password)
        send_smtplib(gw.port, stranger, mail_from="mallory@example.net")
        elsewhere, etok = self.password_mail(password)
        send_smtplib(gw.port, elsewhere, rcpts=("other@demo.mugai.test",))
        got = self.wait_one(gw, sink, tok, timeout=WINDOW + 30)
        self.assertNotIn(marker, decoded_text(got), "neither mail may unlock it")
        self.assertFalse(gw.events("paired"))
        self.wait_one(gw, sink, stok)
        self.wait_one(gw, sink, etok)

    def test_wrong_password_then_the_window_ends(self):
        sink, gw = self.start(window=WINDOW)
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        qa = send_smtplib(gw.port, raw)
        self.assertTrue(gw.wait_event("awaiting-password", 30, id=qa), gw.log_text()[-4000:])
        wrong = secret_password()
        pw_mail, ptok = self.password_mail(wrong)
        qb = send_smtplib(gw.port, pw_mail)
        self.assertTrue(gw.wait_event("pair-failed", 30, id=qa, password_from=qb), gw.log_text()[-4000:])
        self.wait_one(gw, sink, ptok, besides=tok)
        got = self.wait_one(gw, sink, tok, timeout=WINDOW + 30)
        text = decoded_text(got)
        self.assertNotIn(marker, text, "the archive is removed")
        qid = self.quarantine_id(got)
        self.assertIn(qid, text, "the notice cites the quarantine id to have it unlocked with")
        self.assertIn("mugaictl quarantine unlock", text)
        self.assertIn("資料.zip", text)
        self.assertEqual(attachments(got), [])
        self.assert_password_never_logged(gw, password, wrong)

    def test_password_mail_after_the_window(self):
        sink, gw = self.start(window=WINDOW)
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        qa = send_smtplib(gw.port, raw)
        got = self.wait_one(gw, sink, tok, timeout=WINDOW + 30)
        self.assertNotIn(marker, decoded_text(got))
        pw_mail, ptok = self.password_mail(password)
        send_smtplib(gw.port, pw_mail)
        self.wait_one(gw, sink, ptok, besides=tok)
        time.sleep(1)
        self.assertEqual(len(sink.find(tok)), 1, "the archive mail is not delivered again")
        self.assertFalse([e for e in gw.events("paired") if e.get("id") == qa])


class Policies(PpapCase):
    def test_quarantine_policy_removes_it_at_once(self):
        sink, gw = self.start(**{"archive.encrypted": '"quarantine"'})
        password = secret_password()
        raw, tok, marker = self.archive_mail(password)
        qa = send_smtplib(gw.port, raw)
        got = self.wait_one(gw, sink, tok, timeout=30)
        self.assertNotIn(marker, decoded_text(got))
        self.assertIn(self.quarantine_id(got), decoded_text(got))
        self.assertFalse([e for e in gw.events("awaiting-password") if e.get("id") == qa])

    def test_reject_policy_reports_to_the_sender(self):
        bounces = self.sink()
        sink, gw = self.start(bounce=bounces, **{"archive.encrypted": '"reject"'})
        raw, tok, marker = self.archive_mail(secret_password())
        qa = send_smtplib(gw.port, raw)
        got = self.wait_one(gw, sink, tok, timeout=30)
        self.assertNotIn(marker, decoded_text(got), "the recipient gets the message without the archive")
        reports = bounces.wait_count(1, 30)
        self.assertEqual(len(reports), 1, gw.log_text()[-4000:])
        report = reports[0]
        self.assertEqual(report.mail_from, "", "the report has the null sender")
        self.assertEqual(report.rcpts, [SENDER])
        body = report.message().get_content()
        self.assertIn("パスワード付き", body)
        self.assertIn("PPAP", body)
        self.assertIn(tok, body, "it names the message by its Subject")
        self.assertLess(body.index("パスワード付き"), body.index("Password-protected"), "Japanese first")
        self.assertTrue(gw.wait_event("encrypted-refused", 10, id=qa))
        self.assertFalse([r for r in sink.messages() if SENDER in r.rcpts], "the report goes out the bounce route only")


class Unlock(PpapCase):
    def held_archive(self, gw, sink, password):
        """An archive mail delivered without its archive (encrypted = quarantine); returns (qid, token, marker)."""
        raw, tok, marker = self.archive_mail(password)
        send_smtplib(gw.port, raw)
        got = self.wait_one(gw, sink, tok, timeout=30)
        self.assertNotIn(marker, decoded_text(got))
        return self.quarantine_id(got), tok, marker

    def password_file(self, gw, text):
        path = os.path.join(gw.workdir, "pw-" + uuid.uuid4().hex[:6])
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)  # the runuser accounts read it too
        return path

    @staticmethod
    def unlocked(sink, tok):
        """The unlocked copies at the sink (the Message-ID carries the token)."""
        return [r for r in sink.find(tok) if r.data.startswith(b"X-Mugai-Unlocked-By: ")]

    def test_right_password_delivers_the_sanitized_content(self):
        sink, gw = self.start(**{"archive.encrypted": '"quarantine"'})
        password = secret_password()
        qid, tok, marker = self.held_archive(gw, sink, password)
        res = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", self.password_file(gw, password + "\n"),
                      "--reason", "the sender phoned the password")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertIn(b"unlocked", res.stdout)
        got = wait_until(lambda: self.unlocked(sink, tok), 60)
        self.assertTrue(got, gw.log_text()[-4000:])
        msg = got[0].message()
        self.assertEqual(got[0].rcpts, [RCPT])
        self.assertEqual(msg["X-Mugai-Sanitized"], "yes", "the sanitized message, never the original")
        self.assertIn(marker, decoded_text(msg), "the archive's text file arrives")
        self.assertEqual(attachments(msg), [("image/png", "図面.png")], "the picture rendered, no archive")
        records = [e for e in self.audit(gw) if e.get("id") == qid]
        unlocked = [e for e in records if e["event"] == "unlocked"]
        self.assertEqual(len(unlocked), 1, records)
        self.assertEqual(unlocked[0]["reason"], "the sender phoned the password")
        self.assertTrue(unlocked[0]["spool_id"])
        again = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", self.password_file(gw, password),
                        "--reason", "twice")
        self.assertEqual(again.returncode, 1, "unlocked once only")
        self.assertEqual(run_ctl(gw, "audit", "verify").returncode, 0)
        self.assert_password_never_logged(gw, password)
        for e in self.audit(gw):
            self.assertNotIn(password, str(e))

    def test_wrong_password_and_bad_input_deliver_nothing(self):
        sink, gw = self.start(**{"archive.encrypted": '"quarantine"'})
        password = secret_password()
        qid, tok, _marker = self.held_archive(gw, sink, password)
        wrong = subprocess.run(run_ctl_args(gw, "quarantine", "unlock", qid, "--password-stdin", "--reason", "try"),
                               input=b"not-it\n", capture_output=True, timeout=120, cwd=gw.workdir)
        self.assertEqual(wrong.returncode, 1)
        self.assertIn(b"the password did not open the archive", wrong.stderr)
        refused = [e for e in self.audit(gw) if e["event"] == "refused" and e.get("id") == qid]
        self.assertEqual([e.get("action") for e in refused], ["unlock"])
        self.assertIn("did not open", refused[0]["problem"])

        missing = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", "/nonexistent/pw", "--reason", "x")
        self.assertEqual(missing.returncode, 1)
        self.assertIn(b"/nonexistent/pw", missing.stderr)
        empty = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", self.password_file(gw, "\n"), "--reason", "x")
        self.assertEqual(empty.returncode, 1)
        self.assertIn(b"empty", empty.stderr)
        unknown = run_ctl(gw, "quarantine", "unlock", "ZZZZ-ZZZZ", "--password-file", self.password_file(gw, password),
                          "--reason", "x")
        self.assertEqual(unknown.returncode, 1)
        self.assertIn(b"ZZZZ-ZZZZ", unknown.stderr)
        neither = run_ctl(gw, "quarantine", "unlock", qid, "--reason", "x")
        self.assertEqual(neither.returncode, 1)
        self.assertIn(b"--password-file FILE or --password-stdin", neither.stderr)
        no_reason = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", self.password_file(gw, password))
        self.assertEqual(no_reason.returncode, 1)
        self.assertIn(b"--reason", no_reason.stderr)

        time.sleep(1)
        self.assertEqual(len(sink.find(tok)), 1, "nothing was delivered but the message without its archive")
        self.assert_password_never_logged(gw, password, "not-it")

    def test_two_person_rule(self):
        from test_quarantine import accounts
        acc = accounts()
        sink, gw = self.start(**{"archive.encrypted": '"quarantine"',
                                 "quarantine.release_requires_approval": "true",
                                 "quarantine.approvers": '["%s", "%s"]' % (acc.a, acc.b),
                                 "admin.group": '"%s"' % acc.admin_group})
        os.chmod(gw.workdir, 0o711)
        password = secret_password()
        qid, tok, marker = self.held_archive(gw, sink, password)
        pw = self.password_file(gw, password)
        alone = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", pw, "--reason", "x", user=acc.a)
        self.assertEqual(alone.returncode, 1)
        self.assertIn(b"needs `quarantine request-release`", alone.stderr)
        res = run_ctl(gw, "quarantine", "request-release", qid, "--reason", "the sender phoned", user=acc.a)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        own = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", pw, "--reason", "x", user=acc.a)
        self.assertEqual(own.returncode, 1)
        self.assertIn(b"two-person", own.stderr)
        outsider = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", pw, "--reason", "x", user=acc.c)
        self.assertEqual(outsider.returncode, 1)
        self.assertIn(b"not in quarantine.approvers", outsider.stderr)
        time.sleep(1)
        self.assertEqual(self.unlocked(sink, tok), [])

        res = run_ctl(gw, "quarantine", "unlock", qid, "--password-file", pw, "--reason", "approved", user=acc.b)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        got = wait_until(lambda: self.unlocked(sink, tok), 60)
        self.assertTrue(got, gw.log_text()[-4000:])
        self.assertTrue(got[0].data.startswith(b"X-Mugai-Unlocked-By: %s\r\n" % acc.b.encode()))
        self.assertIn(marker, decoded_text(got[0].message()))
        events = [(e["event"], e["operator"]) for e in self.audit(gw) if e.get("id") == qid]
        for expected in (("release-requested", acc.a), ("approved", acc.b), ("unlocked", acc.b), ("refused", acc.a),
                         ("refused", acc.c)):
            self.assertIn(expected, events)


def tearDownModule():
    import test_quarantine
    test_quarantine.tearDownModule()


if __name__ == "__main__":
    unittest.main()
