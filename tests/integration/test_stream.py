# The streaming spool over the wire: a big message goes to disk as it arrives and comes out intact;
# whatever ends DATA early (the client dropping, the size limit, kill -9) leaves no spool file and
# delivers nothing; the size limit is answered as it is crossed, not after the whole message.
import email
import email.policy
import os
import socket
import time
import unittest

from harness import (RCPT, SENDER, GatewayCase, RawClient, free_port, queue_id, read_bytes, smtp_hop,
                     text_message, token, wait_until)

MiB = 1024 * 1024
LINE = b"x" * 76 + b"\r\n"


def begin(c):
    assert c.reply()[0] == 220
    assert c.command("EHLO client.example.org")[0] == 250
    assert c.command("MAIL FROM:<%s>" % SENDER)[0] == 250
    assert c.command("RCPT TO:<%s>" % RCPT)[0] == 250
    code, lines = c.command("DATA")
    assert code == 354, lines


def body_lines(n_bytes):
    return LINE * (n_bytes // len(LINE))


class StreamingSpoolTest(GatewayCase):
    def spool_tmp(self, gw):
        return os.listdir(os.path.join(gw.spool_dir, "tmp"))

    def send_big(self, gw, tok):
        """A 20 MB message with dot-stuffed lines, sent whole; returns (message, queue id)."""
        body = body_lines(20 * MiB) + b".leading dot\r\n" + tok.encode()
        msg = text_message("big " + tok, "")[:-2] + body + b"\r\n"
        with RawClient(gw.port, timeout=60) as c:
            begin(c)
            c.send(msg.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
        return msg, queue_id(lines[0])

    def test_big_message_spooled_byte_identical(self):
        # Nothing listens at the next hop: the message stays queued, its raw file there to read.
        gw = self.gateway({"delivery.next_hop": smtp_hop(free_port())})
        msg, qid = self.send_big(gw, token())
        raw = read_bytes(os.path.join(gw.spool_dir, "queue", qid + ".raw"))
        header_end = raw.index(b"\n\n") + 2
        self.assertEqual(raw[header_end:header_end + len(msg)], msg, "spooled bytes differ from the sent ones")
        self.assertTrue(raw[header_end + len(msg):].startswith(b"\nEND %d " % len(msg)))
        self.assertEqual(int(gw.wait_event("accept", 5, id=qid)["size"]), len(msg))
        self.assertEqual(self.spool_tmp(gw), [])

    def test_big_message_delivered_intact(self):
        sink = self.sink()
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port)})
        tok = token()
        msg, _ = self.send_big(gw, tok)
        got = wait_until(lambda: sink.find(tok), 120, 0.2)
        self.assertTrue(got, "the 20 MB message did not arrive")
        # The sanitizer re-encodes the text (and adds its notice): the decoded text must hold every
        # line that was sent, in order, unstuffed.
        self.assertTrue(got[0].data.startswith(b"Received: from client.example.org "), got[0].data[:200])
        delivered = email.message_from_bytes(got[0].data, policy=email.policy.default)
        text = delivered.get_content().replace("\r\n", "\n")
        sent = msg[msg.index(b"\r\n\r\n") + 4:].decode().replace("\r\n", "\n")
        self.assertTrue(text.endswith(sent), "the delivered text lost or changed bytes")

    def test_connection_dropped_mid_data_leaves_no_spool_file(self):
        sink = self.sink()
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port)})
        c = RawClient(gw.port)
        begin(c)
        c.send(text_message("dropped " + token(), "")[:-2] + body_lines(2 * MiB))
        self.assertTrue(wait_until(lambda: self.spool_tmp(gw), 10),
                        "a message in DATA is not streaming to tmp/")
        c.sock.close()
        self.assertTrue(gw.wait_event("disconnect", 10), "the gateway did not see the drop")
        self.assertTrue(wait_until(lambda: not self.spool_tmp(gw), 5), self.spool_tmp(gw))
        self.assertEqual(gw.queued_files(), [])
        time.sleep(1)
        self.assertEqual(sink.messages(), [])

    def test_size_limit_answered_as_it_is_crossed(self):
        gw = self.gateway({"smtp.max_message_size": '"1MiB"'})
        c = RawClient(gw.port, timeout=10)
        begin(c)
        c.send(text_message("too big " + token(), "")[:-2])
        sent, refused = 0, None
        chunk = body_lines(64 * 1024)
        c.sock.settimeout(0.01)
        try:
            while sent < 64 * MiB and refused is None:
                c.sock.sendall(chunk)
                sent += len(chunk)
                try:
                    got = c.sock.recv(4096)
                    refused = got or b"(closed)"
                except socket.timeout:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            refused = refused or b"(reset)"
        c.sock.settimeout(5)
        if refused in (b"(closed)", b"(reset)"):
            refused = c.buf
        self.assertIsNotNone(refused)
        self.assertLess(sent, 16 * MiB, "the gateway read far past the limit before refusing")
        self.assertTrue(refused.startswith(b"552 5.3.4"), refused)
        self.assertTrue(wait_until(lambda: not self.spool_tmp(gw), 10), self.spool_tmp(gw))
        self.assertEqual(gw.queued_files(), [])
        c.sock.close()

    def test_kill_9_mid_data_then_restart_leaves_nothing(self):
        sink = self.sink()
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port)})
        c = RawClient(gw.port)
        begin(c)
        c.send(text_message("killed " + token(), "")[:-2] + body_lines(2 * MiB))
        self.assertTrue(wait_until(lambda: self.spool_tmp(gw), 10))
        gw.kill()
        c.sock.close()
        self.assertNotEqual(self.spool_tmp(gw), [], "a partial file was expected to survive the kill")
        gw.restart()
        self.assertEqual(self.spool_tmp(gw), [], "leftovers in tmp/ survived the restart")
        self.assertEqual(gw.queued_files(), [])
        time.sleep(2)
        self.assertEqual(sink.messages(), [], "a message that never got its 250 was delivered")

    def most_in_flight(self, max_loaded_size):
        """Three 2 MB messages queued at once behind a slow next hop: the most of them loaded (sanitized,
        not yet delivered) at the same time."""
        sink = self.sink(data_delay=1)
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "delivery.max_loaded_size": max_loaded_size})
        toks = [token() for _ in range(3)]
        with RawClient(gw.port, timeout=60) as c:
            begin(c)
            for i, tok in enumerate(toks):
                c.send(text_message("queued " + tok, "")[:-2] + body_lines(2 * MiB) + b".\r\n")
                self.assertEqual(c.reply()[0], 250)
                if i < 2:
                    for cmd in ("MAIL FROM:<%s>" % SENDER, "RCPT TO:<%s>" % RCPT, "DATA"):
                        self.assertIn(c.command(cmd)[0], (250, 354))
        self.assertEqual(len(sink.wait_count(3, 60)), 3)
        self.assertTrue(wait_until(lambda: len(gw.events("deliver")) == 3, 10))
        loaded, most = set(), 0
        for ev in gw.events():
            if ev.get("event") == "sanitize":
                loaded.add(ev["id"])
                most = max(most, len(loaded))
            elif ev.get("event") == "deliver":
                loaded.discard(ev["id"])
        return most

    def test_max_loaded_size_bounds_what_is_loaded_at_once(self):
        self.assertEqual(self.most_in_flight('"1MiB"'), 1, "a message past the budget went beside another")
        self.assertGreater(self.most_in_flight('"64MiB"'), 1, "the control run never overlapped: test is moot")


if __name__ == "__main__":
    unittest.main()
