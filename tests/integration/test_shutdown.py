# Graceful shutdown (SIGTERM: stop accepting, let open sessions finish within server.shutdown_grace,
# exit 0) and `mugaictl check-config` on the shipped example and on a file with a typo.
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (MUGAICTL, RCPT, SENDER, SOURCE_DIR, Gateway, RawClient, Sink, text_message,
                     token)

GRACE = 3


class ShutdownTest(unittest.TestCase):
    def gateway(self, **extra):
        sets = {"server.shutdown_grace": '"%ds"' % GRACE}
        sets.update(extra)
        gw = Gateway(sets).start()
        self.addCleanup(gw.cleanup)
        return gw

    def open_transaction(self, gw):
        c = RawClient(gw.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.command("EHLO client.example.org")[0], 250)
        self.assertEqual(c.command("MAIL FROM:<%s>" % SENDER)[0], 250)
        self.assertEqual(c.command("RCPT TO:<%s>" % RCPT)[0], 250)
        self.assertEqual(c.command("DATA")[0], 354)
        return c

    def sigterm(self, gw):
        gw.proc.send_signal(signal.SIGTERM)
        return time.monotonic()

    def test_sigterm_with_stalled_transaction_exits_0_within_grace(self):
        gw = self.gateway()
        c = self.open_transaction(gw)
        c.send(b"Subject: half\r\n\r\nhalf a message")   # and then the client stalls
        start = self.sigterm(gw)
        rc = gw.proc.wait(GRACE + 5)
        elapsed = time.monotonic() - start
        self.assertEqual(rc, 0, gw.log_text()[-2000:])
        self.assertLess(elapsed, GRACE + 2)
        self.assertTrue(gw.events("shutdown"), "shutdown is logged")

    def test_sigterm_stops_accepting_and_lets_transaction_finish(self):
        sink = Sink().start()
        self.addCleanup(sink.stop)
        gw = self.gateway(**{"delivery.next_hop": '"smtp://127.0.0.1:%d"' % sink.port})
        c = self.open_transaction(gw)
        tok = token()
        msg = text_message("late " + tok, tok)
        c.send(msg[:40])
        self.sigterm(gw)
        time.sleep(0.5)
        self.assertFalse(greets(gw.port), "no new sessions after SIGTERM")
        c.send(msg[40:] + b".\r\nQUIT\r\n")
        done = c.reply()
        self.assertEqual(done[0], 250, "the open transaction completes during the grace period")
        self.assertEqual(gw.proc.wait(GRACE + 5), 0)
        # queued before exit means delivered after restart (if it did not go out already)
        if not sink.find(tok):
            gw.restart()
        self.assertTrue(sink.wait_for(tok, 20), gw.log_text()[-3000:])


def greets(port):
    """True when a new connection gets a 220 greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(1)
            return s.recv(64).startswith(b"220")
    except OSError:
        return False


class CheckConfigTest(unittest.TestCase):
    def check(self, path):
        return subprocess.run([MUGAICTL, "check-config", path], capture_output=True, text=True,
                              timeout=30)

    def test_example_config_is_valid(self):
        res = self.check(os.path.join(SOURCE_DIR, "config", "mugai.example.toml"))
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)

    def test_typo_key_names_file_line_and_key(self):
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write('[smtp]\nlisten = ["127.0.0.1:2525"]\nmax_recipents = 5\n')
        self.addCleanup(os.unlink, f.name)
        res = self.check(f.name)
        out = res.stdout + res.stderr
        self.assertEqual(res.returncode, 1, out)
        self.assertIn("%s:3" % f.name, out)
        self.assertIn("max_recipents", out)


if __name__ == "__main__":
    unittest.main()
