# Every configured limit crossed over the wire, with the reply the spec promises: message size
# (SIZE= and actual), recipients (and the overshoot past which excess recipients count as errors),
# command and text line length, header section, error count, command timeout (an idle session; the
# trickling variants are in test_deadlines), connection counts (total and per IP) and client networks.
import smtplib
import time
import unittest

from harness import (DOMAIN, RCPT, SENDER, Gateway, RawClient, RelayToSinkCase, first_line, queue_id,
                     text_message, token, wait_until)


def begin(c, rcpts=1):
    """Greeting, EHLO, MAIL, RCPT x rcpts, DATA; asserts each step."""
    assert c.reply()[0] == 220
    assert c.command("EHLO client.example.org")[0] == 250
    assert c.command("MAIL FROM:<%s>" % SENDER)[0] == 250
    for _ in range(rcpts):
        assert c.command("RCPT TO:<%s>" % RCPT)[0] == 250
    code, lines = c.command("DATA")
    assert code == 354, lines


def headers():
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: limit %s\r\n" % (SENDER, RCPT, token())).encode()


class SessionLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway({"smtp.max_message_size": "10000", "smtp.max_recipients": "3",
                          "smtp.recipient_overshoot_limit": "5", "smtp.max_header_section": "4096",
                          "smtp.max_errors": "3", "smtp.command_timeout": '"2s"'}).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def client(self):
        return RawClient(self.gw.port)

    def test_size_advertised_and_size_param_refused(self):
        with self.client() as c:
            c.reply()
            code, lines = c.command("EHLO client.example.org")
            self.assertIn(b"250-SIZE 10000", lines)
            self.assertEqual(first_line(c.command("MAIL FROM:<%s> SIZE=20000" % SENDER))[:9],
                             "552 5.3.4")
            self.assertEqual(c.command("MAIL FROM:<%s> SIZE=9000" % SENDER)[0], 250)

    def test_message_too_big(self):
        with self.client() as c:
            begin(c)
            c.send(headers() + b"\r\n" + (b"x" * 98 + b"\r\n") * 150 + b".\r\n")
            self.assertEqual(first_line(c.reply())[:9], "552 5.3.4")
            # answered as the limit is crossed: the rest is not read, the session ends
            self.assertTrue(c.closed(), "connection must close after the 552")

    def test_too_many_recipients(self):
        with self.client() as c:
            c.reply()
            c.command("EHLO client.example.org")
            c.command("MAIL FROM:<%s>" % SENDER)
            for i in range(3):
                self.assertEqual(c.command("RCPT TO:<u%d@demo.mugai.test>" % i)[0], 250)
            self.assertEqual(first_line(c.command("RCPT TO:<u9@demo.mugai.test>"))[:9], "452 4.5.3")

    def test_recipients_beyond_the_overshoot_count_as_errors(self):
        too_many = "452 4.5.3 Error: too many recipients"
        with self.client() as c:
            c.reply()
            c.command("EHLO client.example.org")
            c.send("MAIL FROM:<%s>\r\n" % SENDER +
                   "".join("RCPT TO:<u%d@%s>\r\n" % (i, DOMAIN) for i in range(8)))
            replies = [first_line(r) for r in c.replies(9)]
            self.assertEqual(replies[:4], ["250 2.1.0 Ok"] + ["250 2.1.5 Ok"] * 3)
            self.assertEqual(replies[4:], [too_many] * 5, "3 accepted, 5 excess within the overshoot")
            self.assertEqual(c.command("NOOP")[0], 250, "not disconnected: those 5 were not errors")
            # max_errors=3: the next three excess recipients are errors, the third ends the session.
            c.send("".join("RCPT TO:<v%d@%s>\r\n" % (i, DOMAIN) for i in range(3)) + "NOOP\r\n")
            replies = [first_line(r) for r in c.replies(4)]
            self.assertEqual(replies[:3], [too_many] * 3)
            self.assertEqual(replies[3], "421 4.7.0 mx.mugai.test Error: too many errors")
            self.assertTrue(c.closed(), "connection must close after 421")

    def test_command_line_too_long(self):
        with self.client() as c:
            c.reply()
            c.command("EHLO client.example.org")
            reply = c.command("MAIL FROM:<%s@example.org>" % ("a" * 600))
            self.assertEqual(reply[0], 500, reply)
            self.assertEqual(c.command("NOOP")[0], 250, "one reply for the long line, then in sync")

    def test_text_line_too_long(self):
        with self.client() as c:
            begin(c)
            c.send(headers() + b"\r\n" + b"y" * 1200 + b"\r\n.\r\n")
            reply = c.reply()
            self.assertEqual(reply[0], 554, reply)

    def test_header_section_too_big(self):
        with self.client() as c:
            begin(c)
            pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"h" * 60) for i in range(100))
            c.send(headers() + pad + b"\r\nshort body\r\n.\r\n")
            reply = c.reply()
            self.assertEqual(reply[0], 552, reply)

    def test_too_many_errors(self):
        with self.client() as c:
            c.reply()
            got = []
            for _ in range(5):
                c.send("BOGUS\r\n")
                try:
                    got.append(c.reply())
                except (EOFError, ConnectionResetError):
                    break
                if got[-1][0] == 421:
                    break
            codes = [r[0] for r in got]
            self.assertEqual(codes[-1], 421, got)
            self.assertLessEqual(len(codes), 4, "421 after max_errors=3 errors")
            self.assertEqual(first_line(got[-1])[:9], "421 4.7.0")
            self.assertTrue(c.closed(), "connection must close after 421")

    def test_idle_session_times_out_at_command_timeout(self):
        with self.client() as c:
            c.reply()
            c.command("EHLO client.example.org")
            start = time.monotonic()
            c.sock.settimeout(10)
            reply = c.reply()
            waited = time.monotonic() - start
            self.assertEqual(first_line(reply)[:9], "421 4.4.2")
            self.assertGreater(waited, 1.5)
            self.assertLess(waited, 6)
            self.assertTrue(c.closed())


class ExcessRecipientsTest(RelayToSinkCase):
    """Default limits (100 recipients, overshoot 1000, 10 errors): a client with too many recipients
    keeps its session and the accepted ones get the message; the rest follow in a later transaction."""

    def rcpts(self, n, prefix):
        return ["%s%d@%s" % (prefix, i, DOMAIN) for i in range(n)]

    def test_150_pipelined_recipients_then_data(self):
        tok = token()
        rcpts = self.rcpts(150, "p")
        with RawClient(self.gw.port) as c:
            c.reply()
            code, lines = c.command("EHLO client.example.org")
            self.assertIn(b"250-PIPELINING", lines)
            c.send("MAIL FROM:<%s>\r\n" % SENDER + "".join("RCPT TO:<%s>\r\n" % r for r in rcpts) + "DATA\r\n")
            replies = [first_line(r) for r in c.replies(152)]
            self.assertEqual(replies[0], "250 2.1.0 Ok")
            self.assertEqual(replies[1:101], ["250 2.1.5 Ok"] * 100)
            self.assertEqual(replies[101:151], ["452 4.5.3 Error: too many recipients"] * 50)
            self.assertEqual(replies[151][:3], "354")
            c.send(text_message("overshoot " + tok, "body " + tok) + b".\r\n")
            final = c.reply()
            self.assertTrue(queue_id(final[1][0]), final)
            self.assertEqual(c.command("NOOP")[0], 250, "the session was not cut")
            self.assertEqual(c.command("QUIT")[0], 221)
        got = self.sink.wait_for(tok, 30)
        self.assertEqual(len(got), 1, "one transaction at the sink")
        self.assertEqual(got[0].rcpts, rcpts[:100], "the 100 accepted recipients, in order")

    def test_smtplib_sends_the_refused_recipients_later(self):
        tok = token()
        rcpts = self.rcpts(150, "s")
        with smtplib.SMTP("127.0.0.1", self.gw.port, timeout=30) as s:
            s.ehlo("client.example.org")
            refused = s.sendmail(SENDER, rcpts, text_message("first " + tok, "first " + tok))
            self.assertEqual(sorted(refused), sorted(rcpts[100:]))
            self.assertEqual(set(refused.values()), {(452, b"4.5.3 Error: too many recipients")})
            self.assertEqual(s.sendmail(SENDER, list(refused), text_message("rest " + tok, "rest " + tok)), {})
        self.assertTrue(wait_until(lambda: len(self.sink.find(tok)) == 2, 30))
        delivered = sorted(r for t in self.sink.find(tok) for r in t.rcpts)
        self.assertEqual(delivered, sorted(rcpts), "every recipient got the message exactly once")


class ConnectionLimitsTest(unittest.TestCase):
    def gateway(self, overrides):
        gw = Gateway(overrides).start()
        self.addCleanup(gw.cleanup)
        time.sleep(0.3)  # let the gateway reap the harness's readiness probe before counting
        return gw

    def hold(self, gw, source_ip):
        c = RawClient(gw.port, source_ip=source_ip)
        self.addCleanup(c.close)
        return c

    def test_max_connections_per_ip(self):
        gw = self.gateway({"smtp.max_connections": "100", "smtp.max_connections_per_ip": "2"})
        for _ in range(2):
            self.assertEqual(self.hold(gw, "127.0.0.1").reply()[0], 220)
        extra = self.hold(gw, "127.0.0.1")
        self.assertEqual(first_line(extra.reply())[:9], "421 4.7.0")
        self.assertTrue(extra.closed())
        self.assertEqual(self.hold(gw, "127.0.0.2").reply()[0], 220, "another IP is fine")

    def test_max_connections(self):
        gw = self.gateway({"smtp.max_connections": "2", "smtp.max_connections_per_ip": "100"})
        self.assertEqual(self.hold(gw, "127.0.0.1").reply()[0], 220)
        self.assertEqual(self.hold(gw, "127.0.0.2").reply()[0], 220)
        extra = self.hold(gw, "127.0.0.3")
        self.assertEqual(first_line(extra.reply())[:9], "421 4.7.0")
        self.assertTrue(extra.closed())

    def test_closed_connections_free_their_slot(self):
        def greeted(gw):
            with RawClient(gw.port) as c:
                if c.reply()[0] != 220:
                    return False
                self.assertEqual(c.command("QUIT")[0], 221)
                return c.closed()

        gw = self.gateway({"smtp.max_connections": "1"})
        for _ in range(3):
            # the server may notice the previous close a moment later; it must notice it
            self.assertTrue(wait_until(lambda: greeted(gw), 3))

    def test_client_networks(self):
        gw = self.gateway({"smtp.client_networks": '["127.0.0.2/32"]'})
        refused = self.hold(gw, "127.0.0.1")
        self.assertEqual(first_line(refused.reply())[:9], "554 5.7.1")
        self.assertTrue(refused.closed())
        self.assertEqual(self.hold(gw, "127.0.0.2").reply()[0], 220)


if __name__ == "__main__":
    unittest.main()
