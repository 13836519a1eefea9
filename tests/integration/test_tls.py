# STARTTLS on both sides: inbound round trip, tls_required, the CVE-2011-0411 plaintext injection,
# and outbound policy (opportunistic uses TLS when offered; required defers when it is not).
import os
import shlex
import shutil
import smtplib
import subprocess
import socket
import ssl
import tempfile
import time
import unittest

from harness import (RCPT, SENDER, SOURCE_DIR, GatewayCase, RawClient, first_line, make_cert, send_smtplib,
                     smtp_hop, text_message, token)


def insecure_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class TlsTest(GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mugai-tls-")
        cls.cert, cls.key = make_cert(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tls_gateway(self, sink, **extra):
        sets = {"delivery.next_hop": smtp_hop(sink.port),
                "smtp.tls_cert": '"%s"' % self.cert, "smtp.tls_key": '"%s"' % self.key}
        sets.update(extra)
        return self.gateway(sets)

    def test_starttls_round_trip(self):
        sink = self.sink()
        gw = self.tls_gateway(sink)
        tok = token()
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.ehlo("client.example.org")
            self.assertTrue(s.has_extn("starttls"))
            code, _ = s.starttls(context=insecure_context())
            self.assertEqual(code, 220)
            s.ehlo("client.example.org")
            self.assertFalse(s.has_extn("starttls"), "no STARTTLS offered inside TLS")
            s.sendmail(SENDER, [RCPT], text_message("tls " + tok, tok))
        self.assertTrue(sink.wait_for(tok, 20), gw.log_text()[-3000:])

    def test_quick_start_swaks_command(self):
        """The swaks command scripts/run tells a newcomer to type works as printed (STARTTLS included)."""
        with open(os.path.join(SOURCE_DIR, "scripts", "run"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        start = next((n for n, l in enumerate(lines) if l.lstrip().startswith("swaks ")), None)
        self.assertIsNotNone(start, "scripts/run no longer prints a swaks command")
        command = ""
        for line in lines[start:]:
            # The heredoc writes "\\" so that the newcomer sees a shell line continuation "\".
            command += line.rstrip().removesuffix("\\\\") + " "
            if not line.rstrip().endswith("\\\\"):
                break
        argv = shlex.split(command.replace("$root", SOURCE_DIR))
        sink = self.sink()
        gw = self.tls_gateway(sink)
        argv[argv.index("--server") + 1] = "127.0.0.1:%d" % gw.port
        res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertIn("STARTTLS", res.stdout)
        self.assertTrue(sink.wait_count(1, 20), gw.log_text()[-3000:])
        got = sink.messages()[0].message()
        self.assertEqual(got["X-Mugai-Sanitized"], "yes")
        # What the newcomer is told to look for: the sample quotation and request letter rendered, their
        # text in the body.
        self.assertEqual([(p.get_filename(), p.get_content_type()) for p in got.iter_attachments()],
                         [("mitsumori.pdf", "application/pdf"), ("irai.pdf", "application/pdf")])
        body = got.get_body(("plain",)).get_content()
        self.assertIn("御見積書", body)
        self.assertIn("資料提供のご依頼", body)

    def test_tls_required_refuses_plain_mail(self):
        sink = self.sink()
        gw = self.tls_gateway(sink, **{"smtp.tls_required": "true"})
        with RawClient(gw.port) as c:
            c.reply()
            c.command("EHLO client.example.org")
            self.assertEqual(first_line(c.command("MAIL FROM:<%s>" % SENDER))[:9], "530 5.7.0")
            self.assertEqual(c.command("STARTTLS")[0], 220)
            c.starttls()
            self.assertEqual(c.command("EHLO client.example.org")[0], 250)
            self.assertEqual(c.command("MAIL FROM:<%s>" % SENDER)[0], 250)

    def test_starttls_plaintext_injection_ignored(self):
        sink = self.sink()
        gw = self.tls_gateway(sink)
        with RawClient(gw.port) as c:
            c.reply()
            c.command("EHLO client.example.org")
            c.send("STARTTLS\r\nRSET\r\n")
            self.assertEqual(c.reply()[0], 220)
            c.starttls()
            c.sock.settimeout(1.5)
            try:
                unsolicited = c.sock.recv(4096)
            except socket.timeout:
                unsolicited = b""
            self.assertEqual(unsolicited, b"", "the injected RSET was answered")
            c.sock.settimeout(10)
            code, lines = c.command("EHLO client.example.org")
            self.assertEqual(code, 250)
            self.assertTrue(lines[0].startswith(b"250-"), "first reply after TLS is the EHLO's")

    def test_outbound_opportunistic_uses_tls_when_offered(self):
        sink = self.sink(tls=(self.cert, self.key))
        gw = self.tls_gateway(sink)
        tok = token()
        send_smtplib(gw.port, text_message("otls " + tok, tok))
        got = sink.wait_for(tok, 20)
        self.assertTrue(got, gw.log_text()[-3000:])
        self.assertTrue(got[0].tls, "next hop offered STARTTLS, the gateway must use it")

    def test_outbound_tls_required_without_starttls_defers(self):
        sink = self.sink()
        gw = self.tls_gateway(sink, **{"delivery.tls": '"required"', "delivery.retry_first": '"1s"',
                                   "delivery.retry_max": '"2s"'})
        tok = token()
        qid = send_smtplib(gw.port, text_message("rtls " + tok, tok))
        ev = gw.wait_event("deliver", 20, id=qid)
        self.assertIsNotNone(ev, gw.log_text()[-3000:])
        self.assertEqual(ev.get("result"), "deferred", ev)
        time.sleep(2.5)  # a retry or two happen meanwhile (retry_first=1s)
        self.assertEqual(sink.messages(), [], "nothing may go out in clear text")
        self.assertTrue(gw.queued_files(), "the message stays queued")


if __name__ == "__main__":
    unittest.main()
