# Delivery limits crossed through the real gateway: delivery.concurrency caps the sessions open at the
# next hop, delivery.max_messages_per_connection caps connection reuse, delivery.command_timeout and
# delivery.connect_timeout defer a hung next hop instead of waiting on it, and
# smtp.tls_handshake_timeout drops a client that asks for STARTTLS and then goes silent.
import shutil
import socket
import tempfile
import time
import unittest

from harness import (GatewayCase, RawClient, free_port, make_cert, send_smtplib, smtp_hop, text_message,
                     token)


def send_many(gw, n, tag):
    for i in range(n):
        send_smtplib(gw.port, text_message("%s %d %s" % (tag, i, token()), "body"))


class DeliveryLimitsTest(GatewayCase):
    def test_concurrency_caps_sessions_at_the_next_hop(self):
        sink = self.sink(data_delay=0.5)  # each delivery holds its session long enough to overlap
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "delivery.concurrency": "2"})
        send_many(gw, 8, "concurrency")
        self.assertEqual(len(sink.wait_count(8, 30)), 8)
        self.assertEqual(sink.peak, 2)

    def test_max_messages_per_connection_bounds_reuse(self):
        for per_conn, expect in ((100, lambda n: self.assertLessEqual(n, 2)),
                                 (2, lambda n: self.assertGreaterEqual(n, 3))):
            with self.subTest(max_messages_per_connection=per_conn):
                sink = self.sink()
                gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "delivery.concurrency": "1",
                                   "delivery.max_messages_per_connection": str(per_conn)})
                send_many(gw, 6, "reuse")
                self.assertEqual(len(sink.wait_count(6, 30)), 6)
                expect(sink.connections)

    def assert_deferred_within(self, gw, tag, why, seconds=6):
        """Sends one message; its delivery must be deferred for `why` well before `seconds` pass."""
        started = time.monotonic()
        send_many(gw, 1, tag)
        ev = gw.wait_event("deliver", 10, result="deferred")
        self.assertIsNotNone(ev, gw.log_text())
        self.assertIn(why, ev["reply"])
        self.assertLess(time.monotonic() - started, seconds)

    def test_command_timeout_defers_a_next_hop_that_never_answers(self):
        sink = self.sink(stall=True)
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "delivery.command_timeout": '"1s"',
                           "log.format": '"json"'})
        self.assert_deferred_within(gw, "stalled", "timeout")
        self.assertEqual(len(gw.queued_ids()), 1)  # still spooled for the retry

    def test_connect_timeout_defers_when_the_handshake_never_completes(self):
        # A listener whose accept queue is full: Linux drops further SYNs, so connect() hangs.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        self.addCleanup(listener.close)
        fillers = []
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(listener.getsockname())
            fillers.append(s)
            self.addCleanup(s.close)
        time.sleep(0.2)
        gw = self.gateway({"delivery.next_hop": smtp_hop(listener.getsockname()[1]),
                           "delivery.connect_timeout": '"1s"', "log.format": '"json"'})
        self.assert_deferred_within(gw, "unreachable", "connect timeout")

    def test_tls_handshake_timeout_drops_a_silent_client(self):
        tmp = tempfile.mkdtemp(prefix="mugai-tlsto-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = make_cert(tmp)
        gw = self.gateway({"smtp.tls_cert": '"%s"' % cert, "smtp.tls_key": '"%s"' % key,
                           "smtp.tls_handshake_timeout": '"1s"'})
        c = RawClient(gw.port)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.command("EHLO client.example.org")[0], 250)
        self.assertEqual(c.command("STARTTLS")[0], 220)
        started = time.monotonic()
        self.assertTrue(c.closed(timeout=6))  # no ClientHello ever sent
        self.assertGreater(time.monotonic() - started, 0.8)


if __name__ == "__main__":
    unittest.main()
