# Open-relay probes: every recipient trick that could route mail out of the accepted domain is
# refused with 550 5.7.1; the accepted domain itself is matched case-insensitively.
import unittest

from harness import SENDER, Gateway, RawClient, first_line

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


if __name__ == "__main__":
    unittest.main()
