# `mugaictl queue list|show|hold|unhold|delete|flush` through the real gateway's admin socket: messages
# at different stages (deferred by a 451, held, in flight), a hold that survives kill -9, a deletion
# that is never delivered and is audited with the message's SHA-256, flush as an immediate retry, and
# hold/delete issued while a delivery is in flight (no duplicate, no loss, the reply says what happened).
import base64
import json
import os
import time
import unittest

from harness import (RCPT, GatewayCase, free_port, mail_with, run_ctl, send_smtplib, smtp_hop, text_message,
                     token, wait_until)
from test_ppap import HAVE_TOOLS, encrypted_zip, secret_password

# Deferred messages stay deferred for the test's length unless flushed.
SLOW_RETRY = {"delivery.retry_first": '"300s"', "delivery.retry_factor": "2.0", "delivery.retry_max": '"600s"'}


class QueueTest(GatewayCase):
    def start(self, port, **extra):
        sets = dict(SLOW_RETRY, **{"delivery.next_hop": smtp_hop(port)})
        sets.update(extra)
        return self.gateway(sets)

    def ctl(self, gw, *args):
        return run_ctl(gw, *args)

    def ok(self, gw, *args):
        res = self.ctl(gw, *args)
        self.assertEqual(res.returncode, 0, (args, res.stdout.decode(), res.stderr.decode()))
        return res.stdout.decode()

    def listing(self, gw):
        return {m["id"]: m for m in json.loads(self.ok(gw, "queue", "list", "--json"))}

    def state_of(self, gw, qid):
        row = self.listing(gw).get(qid)
        return row and row["state"]

    def send(self, gw, tok, subject=None):
        return send_smtplib(gw.port, text_message(subject or ("queue " + tok), tok))

    def audit(self, gw):
        res = self.ctl(gw, "audit", "show", "--json")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return [json.loads(line) for line in res.stdout.decode().splitlines()]

    def test_list_and_show_a_deferred_and_a_held_message(self):
        sink = self.sink(data_reply="451 4.3.0 try again later")
        gw = self.start(sink.port)
        first, second = token(), token()
        # A subject carrying a terminal escape inside an encoded word.
        encoded = base64.b64encode("請求書 \x1b[31m赤".encode()).decode()
        a = self.send(gw, first, subject="=?UTF-8?B?%s?=" % encoded)
        b = self.send(gw, second)
        self.assertTrue(wait_until(lambda: self.state_of(gw, a) == "deferred" and self.state_of(gw, b) == "deferred", 20))
        rows = self.listing(gw)
        row = rows[a]
        self.assertEqual(row["stage"], "clean")
        self.assertEqual(row["route"], "next-hop")
        self.assertEqual(row["attempts"], 1)
        self.assertEqual((row["rcpt_total"], row["rcpt_done"]), (1, 0))
        self.assertIn("451", row["last_error"])
        self.assertGreater(row["next_attempt_unix"], time.time() + 200)
        self.assertGreater(row["size"], 0)
        self.assertLessEqual(row["age_seconds"], 60)

        self.assertIn("%s: held" % b, self.ok(gw, "queue", "hold", b, "--reason", "確認中"))
        rows = self.listing(gw)
        self.assertEqual((rows[b]["state"], rows[b]["hold_reason"]), ("held", "確認中"))

        text = self.ok(gw, "queue", "list")
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("ID"), text)
        self.assertEqual(len(lines), 4, text)  # header, two rows, the total
        self.assertIn("-- 2 messages in the queue", lines[-1])
        self.assertNotIn("\x1b", text)

        shown = json.loads(self.ok(gw, "queue", "show", a.lower(), "--json"))  # ids are case-insensitive
        self.assertEqual(shown["id"], a)
        self.assertEqual(shown["recipients"], [{"address": RCPT, "state": "pending"}])
        self.assertIn("請求書", shown["headers"]["subject"])
        self.assertNotIn("\x1b", shown["headers"]["subject"])
        self.assertTrue(any("deferred" in h for h in shown["history"]), shown["history"])
        text = self.ok(gw, "queue", "show", a)
        self.assertIn("pending", text)
        self.assertNotIn("\x1b", text)

        # --limit cuts the listing and says so, on stderr too when the output is --json.
        res = self.ctl(gw, "queue", "list", "--limit", "1", "--json")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(len(json.loads(res.stdout)), 1)
        self.assertIn("only the oldest 1 listed", res.stderr.decode())

        # Several ids: one line each; one not done makes it exit 1 and the audit says refused.
        res = self.ctl(gw, "queue", "hold", a, b, "--reason", "both")
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stderr.decode().splitlines(),
                         ["mugaictl: %s: held" % a, "mugaictl: %s: already held" % b])
        self.assertIn(("refused", b), [(r["event"], r.get("id")) for r in self.audit(gw)])

    def test_hold_survives_kill_9_and_unhold_delivers(self):
        port = free_port()
        gw = self.start(port)
        tok = token()
        qid = self.send(gw, tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, qid) == "deferred", 20))
        self.assertIn("held", self.ok(gw, "queue", "hold", qid, "--reason", "suspicious"))
        gw.kill()
        sink = self.sink(port=port)
        gw.start()
        self.assertEqual(self.state_of(gw, qid), "held")
        time.sleep(3)  # a recovered message is attempted at once: this one must not be
        self.assertEqual(sink.received, [])
        self.assertEqual(self.listing(gw)[qid]["hold_reason"], "suspicious")
        self.assertIn("unheld", self.ok(gw, "queue", "unhold", qid))
        sink.wait_for(tok, 20)
        self.assertTrue(wait_until(lambda: qid not in self.listing(gw), 10))
        events = [(r["event"], r.get("id")) for r in self.audit(gw)]
        self.assertIn(("queue-hold", qid), events)
        self.assertIn(("queue-unhold", qid), events)
        self.assertTrue(all(r.get("operator") for r in self.audit(gw) if r["event"].startswith("queue-")))

    def test_delete_is_never_delivered_and_audited(self):
        port = free_port()
        gw = self.start(port)
        tok = token()
        qid = self.send(gw, tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, qid) == "deferred", 20))
        out = self.ok(gw, "queue", "delete", qid, "--reason", "誤送信")
        self.assertRegex(out, r"%s: deleted \(\d+ bytes, sha256 [0-9a-f]{64}\)" % qid)
        self.assertNotIn(qid, self.listing(gw))
        self.assertFalse([f for f in os.listdir(os.path.join(gw.spool_dir, "queue")) if f.startswith(qid)])
        sink = self.sink(port=port)
        self.ok(gw, "queue", "flush")
        time.sleep(2)
        self.assertEqual(sink.received, [])
        record = [r for r in self.audit(gw) if r["event"] == "queue-delete"]
        self.assertEqual(len(record), 1, record)
        record = record[0]
        self.assertEqual((record["id"], record["reason"], record["result"]), (qid, "誤送信", "deleted"))
        self.assertEqual(record["rcpt_to"], RCPT)
        self.assertRegex(record["sha256"], "^[0-9a-f]{64}$")
        self.assertIn(record["sha256"], out)
        self.assertTrue(record["operator"])

    def test_flush_retries_now(self):
        port = free_port()
        gw = self.start(port)
        tok = token()
        qid = self.send(gw, tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, qid) == "deferred", 20))
        sink = self.sink(port=port)
        out = self.ok(gw, "queue", "flush", qid)
        self.assertIn("flushed", out)
        sink.wait_for(tok, 10)
        self.assertTrue(wait_until(lambda: qid not in self.listing(gw), 10))
        self.assertEqual(len(sink.received), 1)
        self.assertIn(("queue-flush", qid), [(r["event"], r.get("id")) for r in self.audit(gw)])
        self.assertIn("nothing deferred", self.ok(gw, "queue", "flush"))

    def test_hold_and_delete_while_a_delivery_is_in_flight(self):
        sink = self.sink(data_delay=3, data_reply="451 4.3.0 later")
        gw = self.start(sink.port)
        held_tok, deleted_tok = token(), token()
        held = self.send(gw, held_tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, held) == "in-flight", 20))
        res = self.ctl(gw, "queue", "hold", held, "--reason", "mid-flight")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertIn("held (after the attempt that was in flight ended)", res.stdout.decode())
        self.assertEqual(self.state_of(gw, held), "held")

        deleted = self.send(gw, deleted_tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, deleted) == "in-flight", 20))
        res = self.ctl(gw, "queue", "delete", deleted, "--reason", "mid-flight")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertIn("after the attempt that was in flight ended without delivering it", res.stdout.decode())

        # The next hop now takes everything: the held one goes only once unheld, the deleted one never.
        sink.data_reply, sink.data_delay = None, 0
        self.ok(gw, "queue", "flush")
        time.sleep(2)
        self.assertEqual(sink.received, [])
        self.ok(gw, "queue", "unhold", held)
        sink.wait_for(held_tok, 20)
        time.sleep(1)
        self.assertEqual(len(sink.received), 1)
        self.assertNotIn(deleted_tok.encode(), b"".join(r.data for r in sink.received))

        # A delivery that succeeds while the deletion waits: its outcome stands, and the reply says so.
        sink.data_delay = 3
        late_tok = token()
        late = self.send(gw, late_tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, late) == "in-flight", 20))
        res = self.ctl(gw, "queue", "delete", late, "--reason", "too late")
        self.assertEqual(res.returncode, 1, res.stdout.decode())
        self.assertIn("already delivered", res.stderr.decode())
        sink.wait_for(late_tok, 5)
        self.assertEqual(sum(late_tok.encode() in r.data for r in sink.received), 1)
        self.assertIn(("refused", late), [(r["event"], r.get("id")) for r in self.audit(gw)])

    def test_a_held_message_expires_only_once_unheld(self):
        bounces = self.sink()
        port = free_port()
        gw = self.start(port, **{"delivery.max_queue_lifetime": '"3s"', "delivery.bounce": smtp_hop(bounces.port)})
        tok = token()
        qid = self.send(gw, tok)
        self.assertTrue(wait_until(lambda: self.state_of(gw, qid) == "deferred", 20))
        self.ok(gw, "queue", "hold", qid, "--reason", "review")
        time.sleep(4)  # past max_queue_lifetime while held: no bounce yet
        self.assertEqual(bounces.received, [])
        self.assertEqual(self.state_of(gw, qid), "held")
        self.ok(gw, "queue", "unhold", qid)
        self.assertTrue(bounces.wait_count(1, 20), "the first attempt after the unhold bounces it")
        self.assertIn(b"4.4.7", bounces.received[0].data)
        self.assertTrue(wait_until(lambda: qid not in self.listing(gw), 10))

    @unittest.skipUnless(HAVE_TOOLS, "needs zip (Debian's zip) to make an encrypted archive")
    def test_a_message_awaiting_its_password_is_listed_and_can_be_held(self):
        sink = self.sink()
        gw = self.start(sink.port, **{"archive.pair_window": '"60s"'})
        password, tok = secret_password(), token()
        archive = encrypted_zip({"見積.txt": ("見積書 %s\n" % tok).encode()}, password)
        qid = send_smtplib(gw.port, mail_with(tok, [(archive, "application/zip", "資料.zip")]))
        self.assertTrue(wait_until(lambda: self.state_of(gw, qid) == "waiting-password", 30))
        self.assertEqual(self.listing(gw)[qid]["stage"], "raw")
        self.ok(gw, "queue", "hold", qid, "--reason", "check the sender first")
        # The password mail comes while it is held: nothing is sanitized or delivered until the unhold.
        send_smtplib(gw.port, text_message("パスワード", "パスワード: %s" % password))
        self.assertTrue(sink.wait_count(1, 20), "the password mail itself is delivered")
        time.sleep(2)
        self.assertFalse(sink.find(tok))
        self.assertEqual(self.state_of(gw, qid), "held")
        self.ok(gw, "queue", "unhold", qid)
        self.assertTrue(sink.wait_for(tok, 30), "unheld, it pairs with the password mail and is delivered")

    def test_bad_usage_unknown_ids_and_no_gateway(self):
        gw = self.start(free_port())
        for args in (["queue"], ["queue", "frob"], ["queue", "hold", "--reason", "x"],
                     ["queue", "hold", "0000000000000000"], ["queue", "delete", "0000000000000000"],
                     ["queue", "show"], ["queue", "list", "--limit", "0"], ["queue", "list", "--bogus"]):
            res = self.ctl(gw, *args)
            self.assertEqual(res.returncode, 2, (args, res.stderr.decode()))
        for args in (["queue", "show", "0000000000000000"], ["queue", "hold", "0000000000000000", "--reason", "x"],
                     ["queue", "unhold", "0000000000000000"], ["queue", "flush", "NOT-AN-ID"]):
            res = self.ctl(gw, *args)
            self.assertEqual(res.returncode, 1, (args, res.stderr.decode()))
            self.assertIn(args[2].upper(), res.stderr.decode())
        gw.terminate()
        res = self.ctl(gw, "queue", "list")
        self.assertEqual(res.returncode, 1)
        self.assertIn("the gateway is not running", res.stderr.decode())


if __name__ == "__main__":
    unittest.main()
