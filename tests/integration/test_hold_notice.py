# Hold notices through the real binaries: a message the gateway holds whole (a crossed limit, a reject
# rule, sanitizing that fails every time) reaches nobody, and in its place each recipient (or the
# postmaster, or nobody, by quarantine.notify) gets a notice at the real sink naming the quarantine id
# that `mugaictl quarantine list` shows; the audit trail records every notice and still verifies.
import base64
import json
import os
import time
import unittest

from harness import (run_ctl, RCPT, SENDER, GatewayCase, files_under, send_smtplib, smtp_hop, text_message,
                     toml_string, token, wait_until)

RCPT2 = "user2@demo.mugai.test"
BAD = "nobody@demo.mugai.test"
POSTMASTER = "postmaster@mx.mugai.test"  # the harness's smtp.hostname is mx.mugai.test
FAST_RETRY = {"delivery.retry_first": '"1s"', "delivery.retry_factor": "2.0", "delivery.retry_max": '"2s"'}
SUBJECT = "=?UTF-8?B?6KuL5rGC5pu4?="  # 請求書


def held_message(tok, mail_from=SENDER):
    """Three parts (crosses sanitize.max_parts=2): text, then binary bytes as an attachment."""
    secret = base64.encodebytes(b"HELD-SECRET" + os.urandom(600)).decode().replace("\n", "\r\n")
    return ("From: <{frm}>\r\nTo: <{to}>\r\nSubject: {subj} {tok}\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            "Message-ID: <{tok}@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nplain {tok}\r\n"
            "--b\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n{secret}\r\n--b--\r\n"
            ).format(frm=mail_from or "mailer-daemon@example.org", to=RCPT, subj=SUBJECT, tok=tok,
                     secret=secret).encode()


def body_of(msg):
    """The decoded text of a notice, LF line ends."""
    return msg.get_content().replace("\r\n", "\n")


class HoldNoticeCase(GatewayCase):
    def start(self, sink_kw=None, **sets):
        sink = self.sink(**(sink_kw or {}))
        base = {"delivery.next_hop": smtp_hop(sink.port), "sanitize.max_parts": "2"}
        return sink, self.gateway(dict(base, **sets))

    def ctl(self, gw, *args):
        return run_ctl(gw, *args)

    def ctl_json(self, gw, *args):
        res = self.ctl(gw, *args, "--json")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return json.loads(res.stdout)

    def audit(self, gw):
        return [json.loads(line) for line in self.ctl(gw, "audit", "show", "--json").stdout.splitlines() if line.strip()]

    def entry_for(self, gw, queue_id):
        """The quarantine entry (mugaictl quarantine list --json) of the message spooled as queue_id."""
        found = [e for e in self.ctl_json(gw, "quarantine", "list", "--since", "1h") if e["queue_id"] == queue_id]
        self.assertEqual(len(found), 1, found)
        return found[0]

    @staticmethod
    def notices(sink, tok):
        """Notices at the sink about the message carrying tok (their bodies are quoted-printable)."""
        return [r for r in sink.messages() if r.message()["X-Mugai-Quarantine-Id"]
                and tok in body_of(r.message())]

    def wait_notices(self, gw, sink, tok, n):
        got = wait_until(lambda: len(self.notices(sink, tok)) >= n and self.notices(sink, tok), 20)
        self.assertTrue(got, gw.log_text()[-4000:])
        time.sleep(1)  # a duplicate would have arrived by now
        got = self.notices(sink, tok)
        self.assertEqual(len(got), n, [r.rcpts for r in got])
        return sorted(got, key=lambda r: r.rcpts)

    def assert_nothing_of_original(self, sink):
        self.assertFalse([r for r in sink.messages() if b"HELD-SECRET" in r.data or b"x.bin" in r.data])

    def assert_audited(self, gw, qid, queue_id, tos):
        notified = [e for e in self.audit(gw) if e["event"] == "notified" and e.get("id") == qid]
        self.assertEqual(sorted(e["to"] for e in notified), sorted(tos))
        self.assertTrue(all(e["queue_id"] == queue_id and e["operator"] == "gateway" for e in notified), notified)
        self.assertEqual(len({e["notice_id"] for e in notified}), len(tos), "one spool entry per notice")
        verify = self.ctl(gw, "audit", "verify")
        self.assertEqual(verify.returncode, 0, verify.stdout.decode() + verify.stderr.decode())


class RecipientsAreTold(HoldNoticeCase):
    def test_each_recipient_gets_a_notice_instead(self):
        sink, gw = self.start()
        tok = token()
        queue_id = send_smtplib(gw.port, held_message(tok), rcpts=(RCPT, RCPT2))
        got = self.wait_notices(gw, sink, tok, 2)
        entry = self.entry_for(gw, queue_id)
        qid = entry["id"]
        self.assertTrue(entry["reason"].startswith("limit exceeded: max_parts"), entry)
        by_rcpt = {r.rcpts[0]: r for r in got}
        self.assertEqual(sorted(by_rcpt), sorted([RCPT, RCPT2]))
        for rcpt, other in ((RCPT, RCPT2), (RCPT2, RCPT)):
            received = by_rcpt[rcpt]
            self.assertEqual(received.mail_from, "", "notices carry the null sender")
            self.assertEqual(received.rcpts, [rcpt])
            msg = received.message()
            self.assertEqual(msg["From"].addresses[0].addr_spec, POSTMASTER)
            self.assertEqual([a.addr_spec for a in msg["To"].addresses], [rcpt])
            self.assertEqual(str(msg["Subject"]),
                             "【隔離】メールを配送できませんでした / Message held in quarantine: 請求書 " + tok)
            self.assertEqual(msg["Auto-Submitted"], "auto-generated")
            self.assertEqual(msg["References"], "<%s@example.org>" % tok)
            self.assertEqual(msg["X-Mugai-Quarantine-Id"], qid)
            self.assertEqual(msg.get_content_type(), "text/plain")
            self.assertEqual(msg.get_content_charset(), "utf-8")
            body = body_of(msg)
            self.assertIn("隔離ID / Quarantine ID: %s\n" % qid, body)
            self.assertIn("理由: 処理の上限", body)
            self.assertIn("Reason: limit exceeded: max_parts", body)
            self.assertIn("差出人 / Sender: <%s>\n" % SENDER, body)
            self.assertIn("件名 / Subject: 請求書 %s\n" % tok, body)
            self.assertIn("日付 / Date: Mon, 1 Jan 2024 00:00:00 +0000\n", body)
            self.assertIn("メール管理者 / your mail administrator", body)
            self.assertIn("宛先 / Recipients: <%s>\n" % rcpt, body)
            self.assertNotIn(other, body, "a recipient learns of no other")
        self.assert_nothing_of_original(sink)
        self.assert_audited(gw, qid, queue_id, [RCPT, RCPT2])
        self.assertTrue(wait_until(lambda: not gw.queued_files(), 10), gw.spool_files())

    def test_rejected_message_is_notified_as_rejected(self):
        rules = ('[{type="text/plain", action="convert", sanitizers=["text_plain"]},'
                 ' {type="*", action="reject"}]')
        sink, gw = self.start(**{"sanitize.max_parts": "200", "sanitize.rules": rules})
        tok = token()
        queue_id = send_smtplib(gw.port, held_message(tok))
        (received,) = self.wait_notices(gw, sink, tok, 1)
        msg = received.message()
        self.assertTrue(str(msg["Subject"]).startswith("【受信拒否】メールを配送できませんでした / Message rejected: "))
        body = body_of(msg)
        self.assertIn("受信を拒否され", body)
        self.assertIn("理由: 受信を拒否する設定", body)
        self.assertIn("Reason: rejected by policy", body)
        self.assertIn(self.entry_for(gw, queue_id)["id"], body)
        self.assert_nothing_of_original(sink)

    def test_null_sender_original_notified_and_a_failing_notice_dead_lettered(self):
        bounces = self.sink()
        sink, gw = self.start(sink_kw={"rcpt_replies": {BAD: "550 5.1.1 no such user"}},
                              **{"delivery.bounce": smtp_hop(bounces.port)})
        tok = token()
        queue_id = send_smtplib(gw.port, held_message(tok, mail_from=""), mail_from="", rcpts=(RCPT, BAD))
        (received,) = self.wait_notices(gw, sink, tok, 1)
        self.assertEqual(received.rcpts, [RCPT])
        self.assertIn("差出人 / Sender: <>\n", body_of(received.message()))
        dead = os.path.join(gw.spool_dir, "dead-letter")
        files = wait_until(lambda: [f for f in files_under(dead) if f.endswith(".eml")], 20)
        self.assertEqual(len(files), 1, gw.log_text()[-4000:])
        with open(files[0], "rb") as f:
            kept = f.read()
        self.assertIn(("X-Mugai-Envelope-To: <%s>" % BAD).encode(), kept)
        self.assertIn(b"X-Mugai-Envelope-From: <>", kept)
        self.assertIn(b"X-Mugai-Quarantine-Id: " + self.entry_for(gw, queue_id)["id"].encode(), kept)
        time.sleep(2)
        self.assertEqual(bounces.messages(), [], "a notice is never bounced")
        self.assert_audited(gw, self.entry_for(gw, queue_id)["id"], queue_id, [RCPT, BAD])


class OthersAreTold(HoldNoticeCase):
    def test_postmaster_instead_of_recipients_and_notify_admin(self):
        admin = "admin@demo.mugai.test"
        gate = "gate@demo.mugai.test"
        sink, gw = self.start(**{"quarantine.notify": '"postmaster"', "quarantine.postmaster": '"%s"' % gate,
                                 "quarantine.notify_admin": '"%s"' % admin,
                                 "quarantine.contact": toml_string("情報政策課 内線 1234")})
        tok = token()
        queue_id = send_smtplib(gw.port, held_message(tok), rcpts=(RCPT, RCPT2))
        got = self.wait_notices(gw, sink, tok, 2)
        self.assertEqual([r.rcpts for r in got], [[admin], [gate]])
        for received in got:
            msg = received.message()
            self.assertEqual(msg["From"].addresses[0].addr_spec, gate)
            body = body_of(msg)
            self.assertIn("宛先 / Recipients: <%s>, <%s>\n" % (RCPT, RCPT2), body)
            self.assertIn("隔離IDを添えて 情報政策課 内線 1234 にお問い合わせください", body)
        self.assert_audited(gw, self.entry_for(gw, queue_id)["id"], queue_id, [gate, admin])

    def test_none_tells_nobody(self):
        sink, gw = self.start(**{"quarantine.notify": '"none"'})
        tok = token()
        queue_id = send_smtplib(gw.port, held_message(tok))
        self.assertIsNotNone(gw.wait_event("sanitize", 20, id=queue_id, verdict="quarantined"), gw.log_text()[-3000:])
        self.assertTrue(wait_until(lambda: not gw.queued_files(), 10), gw.spool_files())
        control = token()
        send_smtplib(gw.port, text_message("control " + control, control))
        self.assertTrue(sink.wait_for(control, 20))
        self.assertEqual(len(sink.messages()), 1, "only the control message arrives")
        self.assertEqual([e for e in self.audit(gw) if e["event"] == "notified"], [])
        self.entry_for(gw, queue_id)  # held all the same


class SanitizingFailsEveryTime(HoldNoticeCase):
    def test_held_after_max_attempts_and_the_gateway_keeps_serving(self):
        sink, gw = self.start(**dict(FAST_RETRY, **{"sanitize.max_parts": "200", "sanitize.max_attempts": "3"}))
        # A real failure mode: the quarantine's blob directory is gone (a file stands in its way), so
        # the pipeline cannot keep the removed attachment and fails, run after run.
        blobs = os.path.join(gw.quarantine_dir, "blobs")
        os.rename(blobs, blobs + ".away")
        with open(blobs, "w") as f:
            f.write("in the way\n")
        tok = token()
        queue_id = send_smtplib(gw.port, held_message(tok))

        def failed_runs():
            return [e for e in gw.events("sanitize") if e.get("id") == queue_id and e.get("verdict") == "failed"]

        self.assertIsNotNone(gw.wait_event("quarantine-error", 30, id=queue_id), gw.log_text()[-4000:])
        self.assertEqual(len(failed_runs()), 3)
        # Meanwhile the gateway serves other mail.
        control = token()
        send_smtplib(gw.port, text_message("control " + control, control))
        self.assertTrue(sink.wait_for(control, 20), gw.log_text()[-4000:])
        self.assertTrue(gw.queued_files(), "the failing message is still spooled, not lost")

        os.remove(blobs)
        os.rename(blobs + ".away", blobs)
        (received,) = self.wait_notices(gw, sink, tok, 1)
        self.assertEqual(len(failed_runs()), 3, "the pipeline was not run again after max_attempts")
        entry = self.entry_for(gw, queue_id)
        self.assertTrue(entry["reason"].startswith("sanitizer failed 3 times: quarantine failed: "), entry)
        body = body_of(received.message())
        self.assertIn("理由: 無害化の処理が繰り返し失敗しました。", body)
        self.assertIn("Reason: sanitizer failed 3 times: quarantine failed: ", body)
        self.assertIn("隔離ID / Quarantine ID: %s\n" % entry["id"], body)
        self.assert_nothing_of_original(sink)
        self.assert_audited(gw, entry["id"], queue_id, [RCPT])
        self.assertTrue(wait_until(lambda: not gw.queued_files(), 10), gw.spool_files())
        exported = os.path.join(gw.workdir, "original.eml")
        res = self.ctl(gw, "quarantine", "export", entry["id"], "--out", exported)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        with open(exported, "rb") as f:
            self.assertIn(b"plain " + tok.encode(), f.read(), "the whole original is kept")


if __name__ == "__main__":
    unittest.main()
