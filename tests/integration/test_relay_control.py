# Open-relay probes: every recipient trick that could route mail out of the accepted domain is
# refused with 550 5.7.1; the accepted domain itself is matched case-insensitively. With the embedded
# default's maildir route, a recipient the maildir cannot name is refused at RCPT, not queued.
import os
import unittest

from harness import SENDER, Gateway, RawClient, files_under, first_line, queue_id, text_message, token

PROBES = {
    "other domain": "<user@example.org>",
    "suffix of accepted domain": "<user@demo.mugai.test.example.org>",
    "look-alike domain": "<user@xdemo.mugai.test>",
    "subdomain": "<user@sub.demo.mugai.test>",
    "percent hack": "<user%example.org@demo.mugai.test>",
    "source route": "<@demo.mugai.test:user@example.org>",
    "bang path": "<example.org!user@demo.mugai.test>",
    "quoted local part with @": '<"user@example.org"@demo.mugai.test>',
    "trailing dot": "<user@demo.mugai.test.>",
    "IP literal": "<user@[127.0.0.1]>",
    "IPv6 literal": "<user@[IPv6:::1]>",
}


class RelayControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway().start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def rcpt(self, path):
        with RawClient(self.gw.port) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.example.org")[0], 250)
            self.assertEqual(c.command("MAIL FROM:<%s>" % SENDER)[0], 250)
            return first_line(c.command("RCPT TO:%s" % path))

    def test_open_relay_probes_refused(self):
        for name, path in PROBES.items():
            with self.subTest(probe=name):
                self.assertEqual(self.rcpt(path)[:9], "550 5.7.1", path)

    def test_accepted_domain_case_insensitive(self):
        for path in ("<user@demo.mugai.test>", "<User@DEMO.Mugai.Test>"):
            with self.subTest(path=path):
                self.assertEqual(self.rcpt(path)[:3], "250")

    def test_recipients_the_maildir_cannot_name_refused_at_rcpt(self):
        # Valid SMTP, but a '/' would make maildir:PATH/<recipient> a path of several components.
        for path in ("<a/b@demo.mugai.test>", "</abs@demo.mugai.test>", "<a/./b@demo.mugai.test>"):
            with self.subTest(path=path):
                self.assertEqual(self.rcpt(path),
                                 "553 5.1.3 %s: Recipient address rejected: mailbox name not allowed" % path)
        # A leading dot (".", "..", hidden directories) is already no RFC 5321 dot-string.
        for path in ("<..@demo.mugai.test>", "<.hidden@demo.mugai.test>", "<.@demo.mugai.test>"):
            with self.subTest(path=path):
                self.assertEqual(self.rcpt(path)[:9], "501 5.1.3")

    def test_refused_and_accepted_recipient_in_one_transaction(self):
        tok, good = token(), "maildir-ok@demo.mugai.test"
        with RawClient(self.gw.port) as c:
            c.reply()
            c.command("EHLO client.example.org")
            c.command("MAIL FROM:<%s>" % SENDER)
            self.assertEqual(first_line(c.command("RCPT TO:<a/b@demo.mugai.test>"))[:9], "553 5.1.3")
            self.assertEqual(first_line(c.command("RCPT TO:<%s>" % good)), "250 2.1.5 Ok")
            self.assertEqual(c.command("DATA")[0], 354)
            c.send(text_message("maildir " + tok, "body " + tok, to=good) + b".\r\n")
            final = c.reply()
            self.assertTrue(queue_id(final[1][0]), final)
        self.gw.wait_event("deliver", 30, rcpt=good)
        delivered = self.gw.maildir_messages(good)
        self.assertEqual(len(delivered), 1)
        self.assertIn(tok.encode(), delivered[0])
        boxes = {os.path.relpath(p, self.gw.maildir).split(os.sep)[0] for p in files_under(self.gw.maildir)}
        self.assertEqual(boxes, {good}, "no mailbox for the refused recipient")


if __name__ == "__main__":
    unittest.main()
