# Session deadlines over the wire (issue 15): a command line trickled a byte at a time is cut off at
# smtp.command_timeout from the previous reply, DATA below smtp.min_data_rate is cut off and nothing is
# queued, and a client that is slow but keeps both limits still gets its message through.
import select
import time
import unittest

from harness import RCPT, SENDER, GatewayCase, RawClient, first_line, queue_id, smtp_hop, text_message, token

COMMAND_TIMEOUT = 3
MIN_DATA_RATE = 1000
SLACK = 2  # scheduling on a loaded 2-core machine (or under ASan), never a second deadline


def trickle(c, chunks, interval):
    """Sends each chunk `interval` s apart until the gateway answers; returns that reply."""
    for chunk in chunks:
        try:
            c.send(chunk)
        except OSError:  # closed between two chunks: its reply is already buffered
            break
        if select.select([c.sock], [], [], interval)[0]:
            break
    c.sock.settimeout(30)
    return c.reply()


class DeadlineTest(GatewayCase):
    def setUp(self):
        self.sink_ = self.sink()
        self.gw = self.gateway({"delivery.next_hop": smtp_hop(self.sink_.port),
                                "smtp.command_timeout": '"%ds"' % COMMAND_TIMEOUT,
                                "smtp.min_data_rate": str(MIN_DATA_RATE)})

    def open_data(self, c):
        """Greeting, EHLO, MAIL, RCPT, DATA; returns when the 354 arrived."""
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.command("EHLO client.example.org")[0], 250)
        self.assertEqual(c.command("MAIL FROM:<%s>" % SENDER)[0], 250)
        self.assertEqual(c.command("RCPT TO:<%s>" % RCPT)[0], 250)
        self.assertEqual(c.command("DATA")[0], 354)
        return time.monotonic()

    def assert_cut_off(self, c, reply, since, deadline, text):
        waited = time.monotonic() - since
        self.assertEqual(first_line(reply), "421 4.4.2 mx.mugai.test Error: timeout exceeded" + text)
        self.assertGreater(waited, deadline - 0.2, "not before the deadline")
        self.assertLess(waited, deadline + SLACK, "at the deadline, however the bytes trickle")
        self.assertTrue(c.closed(), "disconnected after the 421")

    def test_command_trickled_a_byte_a_second_is_cut_off_at_command_timeout(self):
        with RawClient(self.gw.port) as c:
            self.assertEqual(c.reply()[0], 220)
            self.assertEqual(c.command("EHLO client.example.org")[0], 250)
            since = time.monotonic()
            time.sleep(0.5)  # bytes fall between the deadline's seconds, not on them
            line = "MAIL FROM:<%s>\r\n" % SENDER
            reply = trickle(c, [ch.encode() for ch in line], 1.0)
            self.assert_cut_off(c, reply, since, COMMAND_TIMEOUT, "")
        self.assertTrue(self.gw.wait_event("timeout", 5, phase="command"))

    def test_data_below_min_data_rate_is_cut_off_and_nothing_is_queued(self):
        tok = token()
        message = text_message("trickle " + tok, ("x" * 78 + "\r\n") * 100)
        with RawClient(self.gw.port) as c:
            since = self.open_data(c)
            time.sleep(0.5)
            # 100 bytes a second, a tenth of the rate: each read earns 0.1 s, so the deadline
            # (3 s after the 354) moves by 0.3 s at most before it passes.
            chunks = [message[i:i + 100] for i in range(0, len(message), 100)]
            reply = trickle(c, chunks, 1.0)
            self.assert_cut_off(c, reply, since, COMMAND_TIMEOUT + 0.3,
                                ": DATA below the minimum rate")
        self.assertTrue(self.gw.wait_event("timeout", 5, phase="data"))
        time.sleep(1)
        self.assertEqual(self.gw.events("accept"), [], "the partial message was not queued")
        self.assertEqual(self.gw.queued_files(), [])
        self.assertEqual(self.sink_.find(tok), [], "nothing reached the sink")

    def test_slow_client_within_both_limits_gets_its_message_through(self):
        tok = token()
        # 2000 bytes a second, twice the rate, for longer than command_timeout.
        message = text_message("slow " + tok, ("y" * 98 + "\r\n") * 120)
        with RawClient(self.gw.port) as c:
            self.assertEqual(c.reply()[0], 220)
            started = time.monotonic()
            for command in ("EHLO client.example.org", "MAIL FROM:<%s>" % SENDER, "RCPT TO:<%s>" % RCPT,
                            "DATA"):
                # Idle for a while, then the command in two halves: each line is complete well within
                # command_timeout of the previous reply, the session as a whole is not.
                time.sleep(1.2)
                c.send(command[:4])
                time.sleep(0.6)
                code, lines = c.command(command[4:])
                self.assertLess(code, 400, lines)
            chunks = [message[i:i + 2000] for i in range(0, len(message), 2000)]
            for chunk in chunks:
                c.send(chunk)
                time.sleep(1.0)
            final = c.command(".")
            self.assertTrue(queue_id(final[1][0]), final)
            self.assertGreater(time.monotonic() - started, 2 * COMMAND_TIMEOUT)
            self.assertEqual(c.command("QUIT")[0], 221)
        self.assertEqual(len(self.sink_.wait_for(tok, 30)), 1)
        self.assertEqual(self.gw.events("timeout"), [])


if __name__ == "__main__":
    unittest.main()
