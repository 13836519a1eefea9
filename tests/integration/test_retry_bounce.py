# Retry and bounce: a down next hop keeps mail queued until it comes back; a 5xx yields exactly one
# RFC 3464 DSN (null sender, multipart/report) to the bounce relay or dead-letter dir; null-sender
# mail is never bounced; max_queue_lifetime expiry bounces with 4.4.7.
import os
import re
import time
import unittest

from harness import (RCPT, SENDER, Gateway, GatewayCase, Sink, dsn_status_fields, files_under,
                     free_port, parse, send_smtplib, smtp_hop, text_message, token, wait_until)

BAD = "nobody@demo.mugai.test"
FAST_RETRY = {"delivery.retry_first": '"1s"', "delivery.retry_factor": "2.0",
              "delivery.retry_max": '"2s"'}


class RetryBounceTest(GatewayCase):
    def start(self, next_hop_port, bounce, **extra):
        sets = dict(FAST_RETRY, **{"delivery.next_hop": smtp_hop(next_hop_port),
                                   "delivery.bounce": bounce})
        sets.update(extra)
        return self.gateway(sets)

    def assert_dsn(self, received, rcpt, status):
        self.assertEqual(received.mail_from, "", "a DSN has the null sender")
        self.assertEqual(received.rcpts, [SENDER], "a DSN goes to the original sender")
        self.assert_dsn_body(received.data, rcpt, status)

    def assert_dsn_body(self, data, rcpt, status):
        msg = parse(data)
        self.assertEqual(msg.get_content_type(), "multipart/report", data[:2000])
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        fields = dsn_status_fields(msg)
        self.assertEqual(len(fields), 1, fields)
        self.assertRegex(fields[0]["final-recipient"], r"(?i)^rfc822;\s*" + re.escape(rcpt) + "$")
        self.assertEqual(fields[0].get("action"), "failed")
        self.assertEqual(fields[0].get("status"), status)

    def test_next_hop_down_then_up(self):
        port = free_port()
        bounces = self.sink()
        gw = self.start(port, smtp_hop(bounces.port))
        toks = [token() for _ in range(3)]
        for t in toks:
            send_smtplib(gw.port, text_message("retry " + t, t))
        self.assertTrue(wait_until(lambda: gw.events("deliver") and gw.queued_files(), 10),
                        "a failed attempt must leave the message spooled")
        self.assertTrue(all(ev.get("result") == "deferred" for ev in gw.events("deliver")))
        sink = Sink(port=port).start()
        self.addCleanup(sink.stop)
        for t in toks:
            self.assertTrue(sink.wait_for(t, 20), gw.log_text()[-3000:])
        self.assertTrue(wait_until(lambda: not gw.queued_files(), 10),
                        "delivered messages leave the spool: %s" % gw.spool_files())
        self.assertEqual(bounces.messages(), [])

    def test_permanent_failure_sends_one_dsn(self):
        bounces = self.sink()
        sink = self.sink(rcpt_replies={BAD: "550 5.1.1 no such user"})
        gw = self.start(sink.port, smtp_hop(bounces.port))
        tok = token()
        send_smtplib(gw.port, text_message("bounce " + tok, tok), rcpts=(RCPT, BAD))
        self.assertTrue(sink.wait_for(tok, 20), "the good recipient still gets it")
        self.assertEqual(sink.find(tok)[0].rcpts, [RCPT])
        got = bounces.wait_count(1, 20)
        self.assertEqual(len(got), 1, gw.log_text()[-3000:])
        time.sleep(3)  # retries would have produced another by now
        self.assertEqual(len(bounces.messages()), 1, "exactly one DSN")
        self.assert_dsn(got[0], BAD, "5.1.1")
        self.assertIn(b"550 5.1.1 no such user", got[0].data, "the diagnostic cites the reply")

    def test_null_sender_never_bounced(self):
        bounces = self.sink()
        sink = self.sink(rcpt_replies={BAD: "550 5.1.1 no such user"})
        gw = self.start(sink.port, smtp_hop(bounces.port))
        null_qid = send_smtplib(gw.port, text_message("null " + token(), "x"), mail_from="",
                                rcpts=(BAD,))
        ev = gw.wait_event("deliver", 20, id=null_qid)
        self.assertIsNotNone(ev, gw.log_text()[-3000:])
        self.assertIn(ev.get("result"), ("bounced", "failed"))
        # a control message with a real sender: once its DSN is in, the null one had its chance
        send_smtplib(gw.port, text_message("control " + token(), "x"), rcpts=(BAD,))
        bounces.wait_count(1, 20)
        time.sleep(1)
        got = bounces.messages()
        self.assertEqual(len(got), 1, "only the control message may bounce")
        self.assertEqual(got[0].rcpts, [SENDER])

    def test_bounce_to_dead_letter_dir(self):
        sink = self.sink(rcpt_replies={BAD: "550 5.1.1 no such user"})
        gw = Gateway(dict(FAST_RETRY, **{"delivery.next_hop": smtp_hop(sink.port)}))
        self.addCleanup(gw.cleanup)
        dead = os.path.join(gw.workdir, "dead")
        gw.sets["delivery.bounce"] = '"dir:%s"' % dead
        gw.start()
        send_smtplib(gw.port, text_message("dead " + token(), "x"), rcpts=(BAD,))
        self.assertTrue(wait_until(lambda: files_under(dead), 20), gw.log_text()[-3000:])
        time.sleep(3)
        files = [f for f in files_under(dead)  # not a temp file still being written
                 if not os.path.relpath(f, dead).startswith(("tmp" + os.sep, "."))]
        self.assertEqual(len(files), 1, files)
        with open(files[0], "rb") as f:
            self.assert_dsn_body(f.read(), BAD, "5.1.1")

    def test_queue_lifetime_expiry_bounces_4_4_7(self):
        bounces = self.sink()
        gw = self.start(free_port(), smtp_hop(bounces.port),
                        **{"delivery.max_queue_lifetime": '"2s"'})
        send_smtplib(gw.port, text_message("expire " + token(), "x"))
        got = bounces.wait_count(1, 20)
        self.assertEqual(len(got), 1, gw.log_text()[-3000:])
        time.sleep(3)
        self.assertEqual(len(bounces.messages()), 1, "exactly one DSN")
        self.assert_dsn(got[0], RCPT, "4.4.7")
        self.assertTrue(wait_until(lambda: not gw.queued_files(), 10),
                        "expired mail leaves the queue")


if __name__ == "__main__":
    unittest.main()
