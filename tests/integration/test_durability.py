# "Nothing lost once 250 is said": clients stream messages, the gateway is killed with SIGKILL
# mid-stream and restarted on the same spool; every message that got its 250 must arrive. Duplicates
# are tolerated only for deliveries in flight at the kill (at most delivery.concurrency of them).
import collections
import smtplib
import threading
import unittest

from harness import RCPT, SENDER, Gateway, Sink, text_message, token, wait_until

CLIENTS = 4
PER_CLIENT = 75           # 300 messages in all
PER_CONNECTION = 15       # several connections per client
KILL_AFTER = 120          # acknowledged messages before the kill
CONCURRENCY = 8


class DurabilityTest(unittest.TestCase):
    def test_kill_9_loses_no_acknowledged_message(self):
        sink = Sink().start()
        self.addCleanup(sink.stop)
        gw = Gateway({"delivery.next_hop": '"smtp://127.0.0.1:%d"' % sink.port,
                      "delivery.concurrency": str(CONCURRENCY),
                      "delivery.retry_first": '"1s"', "delivery.retry_max": '"2s"'}).start()
        self.addCleanup(gw.cleanup)

        acked = set()            # token of every message that got its 250
        lock = threading.Lock()
        enough = threading.Event()

        def client(n):
            sent = 0
            try:
                while sent < PER_CLIENT:
                    with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
                        s.ehlo("client%d.example.org" % n)
                        for _ in range(min(PER_CONNECTION, PER_CLIENT - sent)):
                            tok = token()
                            s.mail(SENDER)
                            s.rcpt(RCPT)
                            code, _ = s.data(text_message("dur " + tok, "durable " + tok))
                            sent += 1
                            if code == 250:
                                with lock:
                                    acked.add(tok)
                                    if len(acked) >= KILL_AFTER:
                                        enough.set()
            except (OSError, smtplib.SMTPException):
                pass  # the kill: whatever was not acknowledged may be lost

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        self.assertTrue(enough.wait(120), "clients did not get %d acks; log:\n%s"
                        % (KILL_AFTER, gw.log_text()[-3000:]))
        gw.kill()
        for t in threads:
            t.join(60)
        with lock:
            acked_at_kill = set(acked)
        arrived_before_restart = len(sink.messages())
        gw.restart()

        def missing():
            seen = {tok for r in sink.messages() for tok in tokens_in(r.data)}
            return [t for t in acked_at_kill if t not in seen]

        wait_until(lambda: not missing(), 90, 0.5)
        lost = missing()
        counts = collections.Counter(tok for r in sink.messages() for tok in tokens_in(r.data))
        duplicates = sum(c - 1 for c in counts.values() if c > 1)
        print("\ndurability: %d acknowledged, %d arrived before the kill+restart, %d lost, "
              "%d duplicates" % (len(acked_at_kill), arrived_before_restart, len(lost), duplicates))
        self.assertEqual(lost, [], "acknowledged messages lost after kill -9")
        self.assertLessEqual(duplicates, CONCURRENCY, "more duplicates than deliveries in flight")


def tokens_in(data):
    """The durability tokens a delivered message carries (subject and body hold the same one)."""
    found = set()
    for word in data.split():
        if word.startswith(b"tok-") and len(word) == 36:
            found.add(word.decode())
    return found


if __name__ == "__main__":
    unittest.main()
