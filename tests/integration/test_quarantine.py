# Quarantine review through the real binaries: a mail with an attachment goes in over SMTP, the notice
# at the sink carries the quarantine id, `mugaictl quarantine show/export/release` work on it, the
# original reaches a real sink, and `mugaictl audit verify` detects an edited line and a flipped blob byte.
import base64
import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import time
import unittest

from harness import (MUGAICTL, RCPT, SENDER, RelayToSinkCase, Sink, send_smtplib, smtp_hop, token, wait_until)

ATTACHED = """From: Sender <sender@example.org>\r
To: <user@demo.mugai.test>\r
Subject: =?UTF-8?B?6KuL5rGC5pu4?= {tok}\r
Date: Mon, 1 Jan 2024 00:00:00 +0000\r
Message-ID: <{tok}@example.org>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary="outer"\r
\r
--outer\r
Content-Type: text/plain; charset=UTF-8\r
\r
plain {tok}\r
--outer\r
Content-Type: application/octet-stream; name="payload.exe"\r
Content-Disposition: attachment; filename="payload.exe"\r
Content-Transfer-Encoding: base64\r
\r
{attachment}\r
--outer--\r
"""


def attached_message(tok):
    secret = ("ATTACHMENT-SECRET-" + tok).encode() * 10
    b64 = base64.encodebytes(secret).decode().replace("\n", "\r\n").rstrip()
    return ATTACHED.format(tok=tok, attachment=b64).encode(), secret


class QuarantineCase(RelayToSinkCase):
    # Releases take the relay's path to the next hop, STARTTLS included: require it on both.
    BASE = {"delivery.tls": '"required"'}
    SINK_TLS = True

    @classmethod
    def setUpClass(cls):
        cls.OVERRIDES = dict(cls.BASE, **cls.OVERRIDES)
        super().setUpClass()

    def ctl(self, *args, operator="tester", sets=None):
        """mugaictl with the gateway's own settings (`sets` overrides some); returns the CompletedProcess."""
        argv = [MUGAICTL] + list(args) + ["--operator", operator]
        for key, value in dict(self.gw.sets, **(sets or {})).items():
            argv += ["--set", "%s=%s" % (key, value)]
        return subprocess.run(argv, capture_output=True, timeout=60, cwd=self.gw.workdir)

    def ctl_json(self, *args, **kw):
        res = self.ctl(*args, "--json", **kw)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return json.loads(res.stdout)

    def quarantine_one(self):
        """Sends a mail with an attachment; returns (quarantine id, raw original, token)."""
        tok = token()
        raw, _secret = attached_message(tok)
        send_smtplib(self.gw.port, raw)
        found = self.sink.wait_for("plain " + tok, 20)
        self.assertEqual(len(found), 1, self.gw.log_text()[-3000:])
        notice = found[0].message()
        qid = notice["X-Mugai-Quarantine-Id"]
        self.assertTrue(qid, found[0].text()[:2000])
        self.assertIn(qid, notice.get_content(), "the notice itself names the quarantine id")
        return qid, raw, tok

    def released(self, tok):
        """The released original at the sink (the one carrying the attachment bytes)."""
        marker = "X-Mugai-Released-By"
        got = [r for r in self.sink.find(tok) if marker.encode() in r.data]
        return got

    def audit_events(self):
        return [json.loads(line) for line in self.ctl("audit", "show", "--json").stdout.splitlines()]

    def audit_verify(self):
        return self.ctl("audit", "verify")


class ReviewAndRelease(QuarantineCase):
    def test_show_export_release_audit_and_tamper(self):
        qid, raw, tok = self.quarantine_one()

        shown = self.ctl("quarantine", "show", qid)
        self.assertEqual(shown.returncode, 0, shown.stderr.decode())
        self.assertIn(b"payload.exe", shown.stdout)
        self.assertIn("請求書".encode(), shown.stdout)
        for name in ("index.sqlite", "index.sqlite-wal", "audit.log"):  # senders and subjects: owner only
            mode = stat.S_IMODE(os.stat(os.path.join(self.gw.quarantine_dir, name)).st_mode)
            self.assertEqual(mode, 0o600, name)
        entry = self.ctl_json("quarantine", "show", qid.lower())  # ids are read aloud: case is forgiven
        self.assertEqual(entry["status"], "held")
        self.assertEqual(entry["mail_from"], SENDER)
        self.assertEqual(entry["rcpt_to"], [RCPT])
        self.assertEqual([p["filename"] for p in entry["parts"]], ["payload.exe"])
        self.assertEqual(entry["parts"][0]["decision"], "removed")

        listed = self.ctl_json("quarantine", "list", "--since", "1h", "--from", SENDER)
        self.assertIn(qid, [e["id"] for e in listed])
        table = self.ctl("quarantine", "list")
        self.assertIn(qid.encode(), table.stdout)

        out = os.path.join(self.gw.workdir, "export.eml")
        res = self.ctl("quarantine", "export", qid, "--out", out)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        with open(out, "rb") as f:
            self.assertTrue(f.read().endswith(raw), "export gives the original bytes")
        again = self.ctl("quarantine", "export", qid, "--out", out)
        self.assertNotEqual(again.returncode, 0, "export never overwrites")
        self.assertIn(b"export.eml", again.stderr)

        res = self.ctl("quarantine", "release", qid, "--reason", "checked with the sender", operator="alice")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        got = self.released(tok)
        self.assertEqual(len(got), 1, "released original did not arrive exactly once")
        self.assertTrue(got[0].data.startswith(b"X-Mugai-Released-By: alice\r\n"), got[0].data[:200])
        self.assertTrue(got[0].tls, "the release went out over STARTTLS")
        self.assertIn(raw.split(b"\r\n\r\n", 1)[1], got[0].data, "the original, attachment included")
        self.assertEqual(got[0].rcpts, [RCPT])
        self.assertEqual(self.ctl_json("quarantine", "show", qid)["status"], "released")
        twice = self.ctl("quarantine", "release", qid, "--reason", "again")
        self.assertEqual(twice.returncode, 1)
        self.assertIn(b"released", twice.stderr)
        missing = self.ctl("quarantine", "show", "ZZZZ-ZZZZ")
        self.assertEqual(missing.returncode, 1)
        self.assertIn(b"ZZZZ-ZZZZ", missing.stderr)

        ok = self.audit_verify()
        self.assertEqual(ok.returncode, 0, ok.stderr.decode())
        mine = [(e["event"], e["operator"]) for e in self.audit_events() if e.get("id") == qid]
        self.assertEqual(mine[0], ("stored", "gateway"))
        self.assertIn(("released", "alice"), mine)
        self.assertIn(("exported", "tester"), mine)

        # One flipped byte in the blob: reported and audited, never shown as valid.
        blobs = os.path.join(self.gw.quarantine_dir, "blobs", entry["sha256"])
        with open(blobs, "r+b") as f:
            f.seek(30)
            b = f.read(1)
            f.seek(30)
            f.write(bytes([b[0] ^ 0x01]))
        bad = self.ctl("quarantine", "show", qid)
        self.assertEqual(bad.returncode, 1)
        self.assertIn(b"integrity", bad.stderr)
        self.assertNotIn(b"payload.exe", bad.stdout)
        self.assertIn(("integrity-failed", qid), [(e["event"], e.get("id")) for e in self.audit_events()])

        # One edited audit line: verify names it and fails.
        path = os.path.join(self.gw.quarantine_dir, "audit.log")
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        lines[1] = lines[1].replace(b'"operator":"', b'"operator":"x', 1)
        with open(path, "wb") as f:
            f.write(b"\n".join(lines))
        broken = self.audit_verify()
        self.assertEqual(broken.returncode, 1)
        self.assertIn(b"record 2", broken.stderr)

    def test_hidden_characters_in_names_are_shown_escaped(self):
        """A filename or subject carrying U+2028, a bidi override or zero-width characters cannot forge
        a line of the notice, of `show` or of `list`: each is shown as \\uXXXX."""
        tok = token()
        forged = "%E2%80%A8%20%20-%20invoice.pdf%20%7C%20kept%E2%80%AEexe.pdf%E2%80%8B"
        raw = (ATTACHED.format(tok=tok, attachment=base64.b64encode(b"MZ" + tok.encode()).decode())
               .replace('filename="payload.exe"', "filename*=UTF-8''a" + forged)
               .replace("Subject: =?UTF-8?B?6KuL5rGC5pu4?=", "Subject: =?UTF-8?B?%s?="
                        % base64.b64encode("件名\u2028Subject: forged".encode()).decode()))
        send_smtplib(self.gw.port, raw.encode())
        found = self.sink.wait_for("plain " + tok, 20)
        self.assertEqual(len(found), 1, self.gw.log_text()[-3000:])
        notice = found[0].message()
        body = notice.get_content()
        for hidden in ("\u2028", "\u202e", "\u200b"):
            self.assertNotIn(hidden, body)
            self.assertNotIn(hidden, str(notice["Subject"]))
        self.assertIn("a\\u2028  - invoice.pdf | kept\\u202Eexe.pdf\\u200B", body)
        qid = notice["X-Mugai-Quarantine-Id"]
        for argv in (("quarantine", "show", qid), ("quarantine", "list")):
            shown = self.ctl(*argv)
            self.assertEqual(shown.returncode, 0, shown.stderr.decode())
            for hidden in ("\u2028", "\u202e", "\u200b"):
                self.assertNotIn(hidden.encode(), shown.stdout, argv)
        self.assertIn(b"\\u2028", self.ctl("quarantine", "show", qid).stdout)

    def test_release_to_a_hop_without_starttls_is_refused_and_the_original_stays_held(self):
        qid, _raw, tok = self.quarantine_one()
        plain = Sink().start()
        try:
            res = self.ctl("quarantine", "release", qid, "--reason", "x", sets={"delivery.next_hop": smtp_hop(plain.port)})
            self.assertEqual(res.returncode, 1, res.stdout)
            self.assertIn(b"TLS required but not offered", res.stderr)
            self.assertIn(qid.encode(), res.stderr)
            self.assertEqual(plain.find(tok), [], "nothing crossed in clear")
        finally:
            plain.stop()
        self.assertEqual(self.ctl_json("quarantine", "show", qid)["status"], "held")


class TwoPersonRule(QuarantineCase):
    OVERRIDES = {"quarantine.release_requires_approval": "true"}

    def test_requester_cannot_approve(self):
        qid, raw, tok = self.quarantine_one()
        direct = self.ctl("quarantine", "release", qid, "--reason", "x", operator="alice")
        self.assertEqual(direct.returncode, 1)
        self.assertIn(b"request-release", direct.stderr)
        res = self.ctl("quarantine", "request-release", qid, "--reason", "invoice is genuine", operator="alice")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        own = self.ctl("quarantine", "approve", qid, operator="alice")
        self.assertEqual(own.returncode, 1)
        self.assertIn(b"two-person", own.stderr)
        self.assertEqual(self.ctl_json("quarantine", "show", qid)["status"], "held")
        self.assertEqual(self.released(tok), [])
        res = self.ctl("quarantine", "approve", qid, operator="bob")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        got = wait_until(lambda: self.released(tok), 10)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].data.startswith(b"X-Mugai-Released-By: bob\r\n"))
        self.assertEqual(self.ctl_json("quarantine", "show", qid)["status"], "released")
        mine = [(e["event"], e["operator"]) for e in self.audit_events() if e.get("id") == qid]
        self.assertIn(("release-requested", "alice"), mine)
        self.assertIn(("approved", "bob"), mine)
        self.assertIn(("released", "bob"), mine)
        self.assertEqual(self.audit_verify().returncode, 0)

        # Each record carries its own MAC under the audit key: an edit is named where it was made, even in
        # the newest record (which nothing after it vouches for).
        path = os.path.join(self.gw.quarantine_dir, "audit.log")
        with open(path, "rb") as f:
            original = f.read()
        lines = original.rstrip(b"\n").split(b"\n")
        with open(path, "wb") as f:
            f.write(b"\n".join(lines[:-1] + [lines[-1].replace(b'"operator":"', b'"operator":"x', 1)]) + b"\n")
        edited = self.audit_verify()
        self.assertEqual(edited.returncode, 1)
        self.assertIn(b"record %d" % len(lines), edited.stderr)
        self.assertIn(b"MAC does not match", edited.stderr)
        with open(path, "wb") as f:
            f.write(b"\n".join(lines[:-1]) + b"\n")
        cut = self.audit_verify()
        self.assertEqual(cut.returncode, 1)
        self.assertIn(b"removed from the end", cut.stderr)

        # Re-chained after removing a record, with the index's anchor moved to match: without the audit
        # key the rewritten records cannot carry valid MACs, and the anchor's own tag fails.
        index = os.path.join(self.gw.quarantine_dir, "index.sqlite")
        with sqlite3.connect(index) as db:
            anchor = db.execute("SELECT one, seq, sha256, mac FROM audit_anchor").fetchone()
        kept = [json.loads(l) for l in lines[:2] + lines[3:]]
        prev = kept[0]["prev"]
        rechained = []
        for n, record in enumerate(kept, 1):
            record["seq"], record["prev"] = n, prev
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
            rechained.append(line)
            prev = hashlib.sha256(line).hexdigest()
        with open(path, "wb") as f:
            f.write(b"\n".join(rechained) + b"\n")
        with sqlite3.connect(index) as db:
            db.execute("UPDATE audit_anchor SET seq = ?, sha256 = ?", (len(rechained), prev))
        rechained_verify = self.audit_verify()
        self.assertEqual(rechained_verify.returncode, 1)
        self.assertIn(b"not keyed by the audit key", rechained_verify.stderr)
        with sqlite3.connect(index) as db:
            db.execute("DELETE FROM audit_anchor")
        deleted = self.audit_verify()
        self.assertEqual(deleted.returncode, 1)
        self.assertIn(b"record 3 (line 3)", deleted.stderr)  # the first re-written record: its MAC fails
        with open(path, "wb") as f:
            f.write(original)
        self.assertIn(b"no audit anchor", self.audit_verify().stderr)  # the log is whole, the anchor gone

        # verify needs the audit key, kept in a file of its own
        os.rename(os.path.join(self.gw.quarantine_dir, "audit.key"), path + ".key-moved")
        keyless = self.audit_verify()
        self.assertEqual(keyless.returncode, 1)
        self.assertIn(b"audit key file", keyless.stderr)
        os.rename(path + ".key-moved", os.path.join(self.gw.quarantine_dir, "audit.key"))
        with sqlite3.connect(index) as db:
            db.execute("INSERT INTO audit_anchor VALUES (?, ?, ?, ?)", anchor)
        self.assertEqual(self.audit_verify().returncode, 0)


class Retention(QuarantineCase):
    OVERRIDES = {"quarantine.retention": '"3s"', "quarantine.purge_interval": "0"}  # only mugaictl purges

    def test_purge_respects_retention(self):
        old, _raw, _tok = self.quarantine_one()
        early = self.ctl_json("quarantine", "purge")
        self.assertEqual(early["expired"], [], "retention not reached yet")
        time.sleep(3.5)
        fresh, _raw, _tok = self.quarantine_one()
        kept = self.ctl_json("quarantine", "purge", "--older-than", "1d")
        self.assertEqual(kept["expired"], [], "--older-than 1d spares both")
        purged = self.ctl_json("quarantine", "purge")
        self.assertEqual(purged["expired"], [old])
        self.assertEqual(self.ctl_json("quarantine", "show", old)["status"], "expired")
        self.assertEqual(self.ctl_json("quarantine", "show", fresh)["status"], "held")
        gone = self.ctl("quarantine", "export", old, "--out", os.path.join(self.gw.workdir, "old.eml"))
        self.assertEqual(gone.returncode, 1)
        self.assertIn(b"expired", gone.stderr)
        self.assertEqual(self.audit_verify().returncode, 0)


class GatewayExpiry(QuarantineCase):
    OVERRIDES = {"quarantine.retention": '"2s"', "quarantine.purge_interval": '"1s"'}

    def test_the_gateway_expires_entries_past_retention_by_itself(self):
        qid, _raw, _tok = self.quarantine_one()
        self.assertEqual(self.ctl_json("quarantine", "show", qid)["status"], "held")
        expired = wait_until(lambda: self.ctl_json("quarantine", "show", qid)["status"] == "expired", 15)
        self.assertTrue(expired, "entry still not expired past retention + interval")
        gone = self.ctl("quarantine", "export", qid, "--out", os.path.join(self.gw.workdir, "gone.eml"))
        self.assertEqual(gone.returncode, 1)
        self.assertIn(b"expired", gone.stderr)
        events = self.audit_events()
        self.assertIn(("expired", "gateway"), [(e["event"], e["operator"]) for e in events if e.get("id") == qid])
        # Sweeps that find nothing leave no trace: one summary record for the one run that expired something.
        time.sleep(2.5)
        summaries = [e for e in self.audit_events() if e["event"] == "purged"]
        self.assertEqual([s.get("count") for s in summaries], ["1"])
        self.assertIn("quarantine-purge", self.gw.log_text())
        self.assertEqual(self.audit_verify().returncode, 0)


if __name__ == "__main__":
    unittest.main()
