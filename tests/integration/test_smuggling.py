# SMTP smuggling (SEC Consult, 2023): a message body ending in a non-standard end-of-data sequence
# followed by a second "MAIL/RCPT/DATA" must be rejected whole with 554 5.6.0, and neither the
# outer nor the smuggled message may reach the next hop. Bare CR/LF in commands get 500 5.5.2.
import unittest

from harness import (RCPT, SENDER, RawClient, RelayToSinkCase, first_line, send_smtplib,
                     text_message, token)

# End-of-data look-alikes from the research; only <CR><LF>.<CR><LF> ends DATA.
PAYLOADS = {
    "lf.lf": b"\n.\n",
    "lf.crlf": b"\n.\r\n",
    "crlf.lf": b"\r\n.\n",
    "cr.cr": b"\r.\r",
    "cr.crlf": b"\r.\r\n",
    "crlf.cr": b"\r\n.\r",
    "lf.cr": b"\n.\r",
    "cr.lf": b"\r.\n",
    "crlf.crcrlf": b"\r\n.\r\r\n",
}


class SmugglingTest(RelayToSinkCase):
    def smuggle(self, seq, outer, inner):
        with RawClient(self.gw.port) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO attacker.example.org")[0], 250)
            self.assertEqual(c.command("MAIL FROM:<%s>" % SENDER)[0], 250)
            self.assertEqual(c.command("RCPT TO:<%s>" % RCPT)[0], 250)
            self.assertEqual(c.command("DATA")[0], 354)
            c.send(b"From: <sender@example.org>\r\nTo: <" + RCPT.encode() + b">\r\nSubject: "
                   + outer.encode() + b"\r\n\r\nouter body " + outer.encode() + seq
                   + b"MAIL FROM:<admin@" + RCPT.split("@")[1].encode() + b">\r\n"
                   b"RCPT TO:<" + RCPT.encode() + b">\r\nDATA\r\n"
                   b"From: <admin@demo.mugai.test>\r\nSubject: " + inner.encode()
                   + b"\r\n\r\nsmuggled " + inner.encode() + b"\r\n.\r\nQUIT\r\n")
            end = c.reply()
            self.assertEqual(first_line(end)[:9], "554 5.6.0", end)
            try:
                bye = c.reply()
            except EOFError:
                return  # closing after a framing violation is fine; executing the rest is not
            self.assertEqual(bye[0], 221, "the smuggled commands must not be executed: %r" % (bye,))

    def test_smuggling_payloads_rejected_and_nothing_delivered(self):
        markers = []
        for name, seq in PAYLOADS.items():
            with self.subTest(payload=name):
                outer, inner = token(), token()
                markers += [outer, inner]
                self.smuggle(seq, outer, inner)
        # A legitimate message afterwards: once it has arrived, anything queued earlier had its
        # chance to arrive too.
        control = token()
        send_smtplib(self.gw.port, text_message("control " + control, control))
        self.assertTrue(self.sink.wait_for(control, 20), self.gw.log_text()[-3000:])
        for r in self.sink.messages():
            for m in markers:
                self.assertNotIn(m.encode(), r.data, "a smuggling message was delivered")
        self.assertEqual(len(self.sink.messages()), 1)

    def test_bare_lf_and_cr_in_command(self):
        for name, cmd in {"lf": b"NOOP\nMAIL FROM:<a@example.org>\r\n",
                          "cr": b"NOOP\rMAIL FROM:<a@example.org>\r\n",
                          "lf-in-rcpt": b"RCPT TO:<" + RCPT.encode() + b">\nDATA\r\n"}.items():
            with self.subTest(command=name), RawClient(self.gw.port) as c:
                self.assertEqual(c.reply()[0], 220)
                self.assertEqual(c.command("EHLO client.example.org")[0], 250)
                if name == "lf-in-rcpt":
                    self.assertEqual(c.command("MAIL FROM:<%s>" % SENDER)[0], 250)
                c.send(cmd + b"QUIT\r\n")
                bad = c.reply()
                self.assertEqual(first_line(bad)[:9], "500 5.5.2", bad)
                self.assertEqual(c.reply()[0], 221, "exactly one reply for the malformed line")


if __name__ == "__main__":
    unittest.main()
