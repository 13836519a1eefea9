# STARTTLS on both sides: inbound round trip, tls_required, the CVE-2011-0411 plaintext injection,
# and outbound delivery.tls (Postfix's levels: may, encrypt, verify against a CA the test makes with the
# openssl CLI, fingerprint), each failing check a deferral with its reason and nothing sent in clear.
import hashlib
import json
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

from harness import (RCPT, SENDER, SOURCE_DIR, GatewayCase, RawClient, first_line, make_cert, run_ctl,
                     send_smtplib, smtp_hop, text_message, token, wait_until)
from test_quarantine import attached_message


def insecure_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def run_openssl(*args, cwd=None):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60, cwd=cwd)


class Pki:
    """A throwaway CA and the server certificates it signs, with any validity period (`openssl ca`
    takes -startdate/-enddate, where `openssl x509 -req -days` cannot go into the past)."""

    def __init__(self, directory):
        self.dir = directory
        self.ca_cert, self.ca_key = self.path("ca.pem"), self.path("ca.key")
        run_openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", "/CN=mugai test CA", "-days", "2", "-keyout", self.ca_key, "-out", self.ca_cert,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        with open(self.path("index.txt"), "w"):
            pass
        with open(self.path("serial"), "w") as f:
            f.write("1000\n")
        with open(self.path("ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n"
                    "serial = serial\ndefault_md = sha256\npolicy = anything\nunique_subject = no\n"
                    "[anything]\ncommonName = supplied\n")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, sans, start=None, end=None):
        """(cert, key) for CN=`name` with subjectAltName `sans`; valid for two days from now unless
        `start`/`end` (YYYYMMDDHHMMSSZ) are given."""
        cert, key, csr, ext = (self.path(name + s) for s in (".pem", ".key", ".csr", ".ext"))
        run_openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-subj", "/CN=" + name, "-keyout", key, "-out", csr)
        with open(ext, "w") as f:
            f.write("subjectAltName = %s\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n" % sans)
        period = ["-startdate", start, "-enddate", end] if start else ["-days", "2"]
        run_openssl("ca", "-batch", "-config", "ca.cnf", "-notext", "-cert", self.ca_cert, "-keyfile", self.ca_key,
                    "-in", csr, "-out", cert, "-extfile", ext, *period, cwd=self.dir)
        return cert, key


def fingerprint(cert):
    """What delivery.tls_fingerprints lists: the SHA-256 of the certificate's DER."""
    with open(cert, encoding="ascii") as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def hop(host, port):
    return '"smtp://%s:%d"' % (host, port)


class TlsTest(GatewayCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mugai-tls-")
        cls.cert, cls.key = make_cert(cls.tmp)
        cls.pki = Pki(cls.tmp)
        cls.good = cls.pki.issue("localhost", "DNS:localhost, IP:127.0.0.1")
        cls.expired = cls.pki.issue("expired", "DNS:localhost, IP:127.0.0.1",
                                    start="20200101000000Z", end="20200102000000Z")
        cls.other_name = cls.pki.issue("mx.other.example", "DNS:mx.other.example")

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

    def test_outbound_may_uses_tls_when_offered(self):
        sink = self.sink(tls=(self.cert, self.key))
        gw = self.tls_gateway(sink)
        tok = token()
        send_smtplib(gw.port, text_message("otls " + tok, tok))
        got = sink.wait_for(tok, 20)
        self.assertTrue(got, gw.log_text()[-3000:])
        self.assertTrue(got[0].tls, "next hop offered STARTTLS, the gateway must use it")

    def outbound(self, sink, tls, host="localhost", **extra):
        """A gateway relaying to `sink` (dialled as `host`) under delivery.tls = `tls`, retrying every second."""
        sets = {"delivery.next_hop": hop(host, sink.port), "delivery.tls": '"%s"' % tls,
                "delivery.retry_first": '"1s"', "delivery.retry_max": '"2s"'}
        sets.update(extra)
        return self.gateway(sets)

    def assert_delivered(self, sink, gw, tls=True):
        tok = token()
        send_smtplib(gw.port, text_message("otls " + tok, tok))
        got = sink.wait_for(tok, 20)
        self.assertTrue(got, gw.log_text()[-3000:])
        self.assertEqual(got[0].tls, tls)

    def assert_deferred(self, sink, gw, reason):
        """The message is deferred with `reason` in the log and in its deferral, retried, never sent."""
        tok = token()
        qid = send_smtplib(gw.port, text_message("dtls " + tok, tok))
        ev = gw.wait_event("deliver", 20, id=qid)
        self.assertIsNotNone(ev, gw.log_text()[-3000:])
        self.assertEqual(ev.get("result"), "deferred", ev)
        self.assertTrue(ev.get("reply", "").startswith("421 4.7.5"), ev)
        self.assertIn(reason, ev.get("reply", ""))
        time.sleep(2.5)  # a retry or two happen meanwhile (retry_first=1s)
        self.assertGreaterEqual(len([e for e in gw.events("deliver") if e.get("id") == qid]), 2,
                                "the deferral is retried")
        self.assertEqual(sink.messages(), [], "nothing may go out in clear text or to a rejected next hop")
        self.assertTrue(gw.queued_files(), "the message stays queued, not bounced")
        return ev

    def assert_tls_error(self, gw, reason):
        errors = [e.get("error", "") for e in gw.events("tls-error")]
        self.assertTrue(any(reason in e for e in errors), errors)

    def test_outbound_may_without_starttls_sends_in_clear(self):
        sink = self.sink()
        self.assert_delivered(sink, self.outbound(sink, "may"), tls=False)

    def test_outbound_mandatory_levels_without_starttls_defer(self):
        for level in ("encrypt", "verify"):
            with self.subTest(level=level):
                sink = self.sink()
                gw = self.outbound(sink, level, **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert}
                                   if level == "verify" else {})
                self.assert_deferred(sink, gw, "TLS required but not offered by next hop")

    def test_outbound_encrypt_accepts_self_signed(self):
        sink = self.sink(tls=(self.cert, self.key))
        self.assert_delivered(sink, self.outbound(sink, "encrypt"))

    def test_outbound_verify_accepts_certificate_from_the_ca(self):
        sink = self.sink(tls=self.good)
        for host in ("localhost", "127.0.0.1"):  # a host name and an address literal, both in the SAN
            with self.subTest(host=host):
                gw = self.outbound(sink, "verify", host, **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert})
                self.assert_delivered(sink, gw)

    def test_outbound_verify_refuses_self_signed(self):
        sink = self.sink(tls=(self.cert, self.key))
        gw = self.outbound(sink, "verify", **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert})
        self.assert_deferred(sink, gw, "certificate verify failed: self-signed certificate")
        self.assert_tls_error(gw, "certificate verify failed: self-signed certificate")

    def test_outbound_verify_refuses_unknown_ca_with_system_cas(self):
        sink = self.sink(tls=self.good)
        gw = self.outbound(sink, "verify")  # no tls_ca_file: the system's CAs, which never signed ours
        self.assert_deferred(sink, gw, "certificate verify failed: unable to get local issuer certificate")

    def test_outbound_verify_refuses_expired(self):
        sink = self.sink(tls=self.expired)
        gw = self.outbound(sink, "verify", **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert})
        self.assert_deferred(sink, gw, "certificate verify failed: certificate has expired")
        self.assert_tls_error(gw, "certificate has expired")

    def test_outbound_verify_refuses_another_name(self):
        for sink_cert, host in ((self.other_name, "localhost"), (self.other_name, "127.0.0.1")):
            with self.subTest(host=host):
                sink = self.sink(tls=sink_cert)
                gw = self.outbound(sink, "verify", host, **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert})
                self.assert_deferred(sink, gw, "certificate name does not match " + host)
                self.assert_tls_error(gw, "certificate name does not match " + host)

    def test_outbound_fingerprint_pinned(self):
        # Pinned certificates need no chain: the self-signed one passes when listed.
        sink = self.sink(tls=(self.cert, self.key))
        gw = self.outbound(sink, "fingerprint", **{
            "delivery.tls_fingerprints": '["%s", "%s"]' % (fingerprint(self.good[0]), fingerprint(self.cert))})
        self.assert_delivered(sink, gw)

    def test_outbound_fingerprint_refuses_another_certificate(self):
        sink = self.sink(tls=self.good)
        gw = self.outbound(sink, "fingerprint", **{"delivery.tls_fingerprints": '["%s"]' % fingerprint(self.cert)})
        reason = "fingerprint not in delivery.tls_fingerprints: sha256 " + fingerprint(self.good[0])
        self.assert_deferred(sink, gw, reason)
        self.assert_tls_error(gw, reason)


    def test_bounce_relay_checked_against_its_own_host(self):
        """The bounce relay is held to the same level; its certificate must name delivery.bounce's host."""
        bad = "nobody@demo.mugai.test"
        sink = self.sink(tls=self.good, rcpt_replies={bad: "550 5.1.1 no such user"})
        for relay_cert, relay_host, delivered in ((self.other_name, "localhost", False),
                                                   (self.good, "127.0.0.1", True)):
            with self.subTest(relay_host=relay_host, delivered=delivered):
                bounces = self.sink(tls=relay_cert)
                gw = self.outbound(sink, "verify", **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert,
                                                      "delivery.bounce": hop(relay_host, bounces.port)})
                tok = token()
                send_smtplib(gw.port, text_message("btls " + tok, tok), rcpts=(RCPT, bad))
                self.assertTrue(sink.wait_for(tok, 20), gw.log_text()[-3000:])
                if delivered:
                    got = bounces.wait_count(1, 20)
                    self.assertTrue(got and got[0].tls, gw.log_text()[-3000:])
                    continue
                relay = "%s:%d" % (relay_host, bounces.port)
                ev = gw.wait_event("tls-error", 20, relay=relay)
                self.assertIsNotNone(ev, gw.log_text()[-3000:])
                self.assertEqual(ev["error"], "certificate name does not match localhost")
                time.sleep(2.5)
                self.assertEqual(bounces.messages(), [], "the DSN waits for a relay that passes the check")
                self.assertTrue(gw.queued_files(), "the DSN stays queued")


    def test_release_checked_like_relayed_mail(self):
        """A released original takes the relay's path: a next hop whose certificate names another host gets
        nothing, and the release's deferral in the audit trail says why."""
        sink = self.sink(tls=self.other_name)
        gw = self.outbound(sink, "verify", **{"delivery.tls_ca_file": '"%s"' % self.pki.ca_cert})
        tok = token()
        raw, _secret = attached_message(tok)
        send_smtplib(gw.port, raw)
        listed = wait_until(lambda: json.loads(run_ctl(gw, "quarantine", "list", "--json").stdout or "[]"), 20)
        self.assertEqual(len(listed), 1, gw.log_text()[-3000:])
        res = run_ctl(gw, "quarantine", "release", listed[0]["id"], "--reason", "x")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        deferred = wait_until(lambda: [json.loads(l) for l in run_ctl(gw, "audit", "show", "--json").stdout.splitlines()
                                       if b'"release-delivery"' in l and b'"deferred"' in l], 20)
        self.assertTrue(deferred, gw.log_text()[-3000:])
        self.assertIn("certificate name does not match localhost", deferred[0]["reply"])
        self.assertEqual(sink.messages(), [], "neither the release nor the hold notice went to the misnamed hop")


if __name__ == "__main__":
    unittest.main()
