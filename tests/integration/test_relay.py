# End-to-end relay through the real gateway: what a client sends arrives at the next hop rebuilt as
# sanitized text (smtplib, swaks, pipelined raw SMTP), removed parts are quarantined (checked through
# mugaictl quarantine show/export), maildir works.
import base64
import json
import os
import subprocess
import unittest

from harness import (MUGAICTL, RCPT, SENDER, Gateway, PostfixSink, RawClient, RelayToSinkCase,
                     files_under, first_line, parse, queue_id, send_smtplib, text_message, token,
                     toml_string, wait_until)

HTML_ATTACH = """From: Sender <sender@example.org>\r
To: <user@demo.mugai.test>\r
Subject: {tok} report\r
Date: Mon, 1 Jan 2024 00:00:00 +0000\r
Message-ID: <{tok}@example.org>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="outer"\r
\r
--outer\r
Content-Type: multipart/alternative; boundary="alt"\r
\r
--alt\r
Content-Type: text/plain; charset=UTF-8\r
\r
plain {tok} 本文です\r
--alt\r
Content-Type: text/html; charset=UTF-8\r
\r
<p>html-{tok}<script>alert("x")</script></p>\r
--alt--\r
--outer\r
Content-Type: application/octet-stream; name="payload.exe"\r
Content-Disposition: attachment; filename="payload.exe"\r
Content-Transfer-Encoding: base64\r
\r
{attachment}\r
--outer--\r
"""


class RelayTest(RelayToSinkCase):
    def arrived(self, marker):
        found = self.sink.wait_for(marker, 20)
        self.assertEqual(len(found), 1, "message %s did not arrive exactly once; log:\n%s"
                         % (marker, self.gw.log_text()[-3000:]))
        return found[0]

    def test_text_mail_arrives_sanitized(self):
        tok = token()
        qid = send_smtplib(self.gw.port, text_message("hello " + tok, "body line " + tok))
        got = self.arrived(tok)
        self.assertEqual(got.mail_from, SENDER)
        self.assertEqual(got.rcpts, [RCPT])
        msg = got.message()
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg.get_content_charset(), "utf-8")
        self.assertFalse(msg.is_multipart())
        self.assertEqual(msg["X-Mugai-Sanitized"], "yes")
        self.assertEqual(msg["X-Mugai-Queue-Id"], qid)
        self.assertIn(tok, msg["Subject"])
        self.assertIn("body line " + tok, msg.get_content())
        self.assertIsNotNone(msg["Received"])
        self.assertIsNone(msg["X-Mugai-Quarantine-Id"], "nothing was removed")
        ev = self.gw.wait_event("deliver", 5, id=qid)
        self.assertIsNotNone(ev, "no deliver event for %s" % qid)
        self.assertEqual(ev.get("result"), "sent")

    def test_raw_utf8_headers_arrive_intact(self):
        """RFC 6532: raw UTF-8 in Subject and in a From display name arrives as the same text, and the
        From address stays an address the recipient's client can reply to."""
        tok = token()
        raw = ("From: 山田太郎 <%s>\r\nTo: <%s>\r\nSubject: 請求書のご送付 %s\r\nMessage-ID: <%s@example.org>\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n"
               "\r\n本文 %s\r\n" % (SENDER, RCPT, tok, tok, tok)).encode()
        send_smtplib(self.gw.port, raw)
        msg = self.arrived(tok).message()
        self.assertEqual(str(msg["Subject"]), "請求書のご送付 " + tok)
        self.assertEqual(msg["From"].addresses[0].display_name, "山田太郎")
        self.assertEqual(msg["From"].addresses[0].addr_spec, SENDER)
        self.assertIn("本文 " + tok, msg.get_content())

    def test_non_allowlisted_headers_dropped(self):
        tok = token()
        raw = text_message("hdr " + tok, tok).replace(
            b"MIME-Version", b"X-Evil: " + tok.encode() + b"-evil\r\nMIME-Version")
        send_smtplib(self.gw.port, raw)
        got = self.arrived("hdr " + tok)
        self.assertNotIn((tok + "-evil").encode(), got.data)

    def test_swaks(self):
        tok = token()
        res = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.gw.port,
                              "--from", SENDER, "--to", RCPT, "--helo", "client.example.org",
                              "--header", "Subject: swaks " + tok, "--body", "swaks body " + tok],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertRegex(res.stdout, r"<-\s+250 2\.0\.0 Ok: queued as \S+")
        got = self.arrived("swaks body " + tok)
        self.assertEqual(got.message()["X-Mugai-Sanitized"], "yes")

    def test_html_and_binary_attachment_removed_and_quarantined(self):
        tok = token()
        self.check_removed(tok, b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256))
                           + ("ATTACHMENT-SECRET-" + tok).encode() * 20)

    def test_attachment_with_text_content_still_removed(self):
        # Declared application/octet-stream with a filename: an attachment, whatever its bytes look
        # like; it must not be promoted to body text.
        tok = token()
        self.check_removed(tok, ("ATTACHMENT-SECRET-" + tok).encode() * 20)

    def quarantine(self, *args):
        """`mugaictl quarantine ARGS` on this gateway's store; returns stdout, asserts exit 0."""
        res = subprocess.run([MUGAICTL, "quarantine", *args, "--set",
                              "quarantine.dir=" + toml_string(self.gw.quarantine_dir)],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        return res.stdout

    def check_removed(self, tok, attachment):
        """Sends HTML_ATTACH: only the text/plain part may arrive, with the notice first."""
        b64 = base64.encodebytes(attachment).decode().replace("\n", "\r\n").rstrip()
        raw = HTML_ATTACH.format(tok=tok, attachment=b64).encode()
        qid = send_smtplib(self.gw.port, raw)
        got = self.arrived("plain " + tok)
        msg = got.message()
        self.assertFalse(msg.is_multipart(), got.text()[:2000])
        self.assertEqual(msg.get_content_type(), "text/plain")
        body = msg.get_content()
        self.assertIn("plain " + tok + " 本文です", body)
        self.assertIn("無害化", body)
        self.assertIn("sanitized", body.lower())
        self.assertLess(body.index("無害化"), body.index("plain " + tok),
                        "the notice comes first")
        self.assertIn("payload.exe", body, "the notice lists the removed attachment")
        for forbidden in (b"<script", b"html-" + tok.encode(), b"ATTACHMENT-SECRET",
                          b64.split("\r\n")[0].encode()):
            self.assertNotIn(forbidden, got.data)
        qrid = msg["X-Mugai-Quarantine-Id"]
        self.assertTrue(qrid, "X-Mugai-Quarantine-Id missing")
        self.assertIn(qrid, body, "the notice cites the quarantine id")
        self.assertEqual(msg["X-Mugai-Queue-Id"], qid)
        record = json.loads(self.quarantine("show", qrid, "--json"))
        self.assertEqual(record["queue_id"], qid)
        removed = {p["filename"]: p for p in record["parts"]}
        self.assertEqual(removed["payload.exe"]["decision"], "removed")
        self.assertEqual(removed["payload.exe"]["size"], len(attachment))
        exported = os.path.join(self.gw.workdir, qrid + ".eml")
        self.quarantine("export", qrid, "--out", exported)
        with open(exported, "rb") as f:
            # the original bytes, possibly after a prepended trace header
            self.assertTrue(f.read().endswith(raw), "quarantine must keep the original bytes")
        for path in files_under(self.gw.quarantine_dir):
            with open(path, "rb") as f:
                self.assertNotIn(b64.split("\r\n")[0].encode(), f.read(),
                                 "originals are encrypted at rest: %s" % path)
        ev = self.gw.wait_event("sanitize", 5, id=qid)
        self.assertIsNotNone(ev)
        self.assertIn("verdict", ev)

    def test_two_transactions_pipelined_in_one_write(self):
        toks = [token(), token()]
        with RawClient(self.gw.port) as c:
            self.assertEqual(c.reply()[0], 220)
            code, lines = c.command("EHLO client.example.org")
            self.assertEqual(code, 250)
            self.assertIn(b"PIPELINING", b"\n".join(lines))
            burst = b""
            for t in toks:
                burst += (b"MAIL FROM:<" + SENDER.encode() + b">\r\nRCPT TO:<" + RCPT.encode()
                          + b">\r\nDATA\r\n" + text_message("pipe " + t, t) + b".\r\n")
            c.send(burst + b"QUIT\r\n")
            replies = c.replies(9)
        codes = [r[0] for r in replies]
        self.assertEqual(codes, [250, 250, 354, 250, 250, 250, 354, 250, 221], replies)
        qids = [queue_id(replies[3][1][0]), queue_id(replies[7][1][0])]
        self.assertTrue(all(qids) and qids[0] != qids[1], replies)
        for t, qid in zip(toks, qids):
            got = self.arrived("pipe " + t)
            self.assertEqual(got.message()["X-Mugai-Queue-Id"], qid, "replies in order")


class PostfixSinkTest(unittest.TestCase):
    def test_relay_to_postfix_smtp_sink(self):
        with PostfixSink() as pf, Gateway({"delivery.next_hop": '"smtp://127.0.0.1:%d"' % pf.port,
                                           "delivery.tls": '"none"'}) as gw:
            tok = token()
            send_smtplib(gw.port, text_message("pf " + tok, "to postfix " + tok))
            dumps = wait_until(lambda: [d for d in pf.dumps() if tok.encode() in d], 20)
            self.assertEqual(len(dumps), 1, gw.log_text()[-3000:])
            self.assertIn(b"X-Rcpt-Args: <" + RCPT.encode() + b">", dumps[0])
            self.assertIn(b"X-Mugai-Sanitized: yes", dumps[0])


class MaildirDefaultTest(unittest.TestCase):
    def test_embedded_default_delivers_to_maildir(self):
        with Gateway(defaults=True) as gw:
            tok = token()
            with RawClient(gw.port) as c:
                greeting = first_line(c.reply())
            self.assertTrue(greeting.startswith("220 "), greeting)
            qid = send_smtplib(gw.port, text_message("md " + tok, "maildir " + tok))
            msgs = wait_until(lambda: gw.maildir_messages(RCPT), 20)
            self.assertEqual(len(msgs), 1, gw.log_text()[-3000:])
            msg = parse(msgs[0])
            self.assertIn("maildir " + tok, msg.get_content())
            self.assertEqual(msg["X-Mugai-Queue-Id"], qid)
            self.assertEqual(msg["X-Mugai-Sanitized"], "yes")
            self.assertEqual(files_under(os.path.join(gw.maildir, RCPT, "tmp")), [])


if __name__ == "__main__":
    unittest.main()
