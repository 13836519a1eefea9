# Quarantine review through the real binaries: a mail with an attachment goes in over SMTP, the notice
# at the sink carries the quarantine id, `mugaictl quarantine show/export` read it, and every change
# (release, request-release, approve, delete, purge) goes through the running gateway's admin socket:
# releases are claimed once and queued like relayed mail, operators are the accounts running mugaictl
# (two system users for the two-person rule, when run as root), and `mugaictl audit verify` detects an
# edited line and a flipped blob byte.
import base64
import grp
import hashlib
import json
import os
import pwd
import sqlite3
import stat
import subprocess
import time
import unittest

from harness import (audit_record_edited, run_ctl, run_ctl_args, RCPT, SENDER, Gateway, RelayToSinkCase, Sink, files_under, read_bytes, send_smtplib,
                     smtp_hop, token, wait_until, MUGAICTL)

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


# Settings only the gateway's own configuration decides; mugaictl refuses them on its command line.
def spawn_ctl(gw, *args, user=None):
    """run_ctl() without waiting: several at once race for the same entry."""
    return subprocess.Popen(run_ctl_args(gw, *args, user=user), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=gw.workdir)


class Accounts:
    """System accounts for the identity tests (root only): A an approver by name and B through a group,
    C only in admin.group, D in neither. Created once per run, removed by tearDownModule."""

    def __init__(self):
        tag = "mgt%d" % (os.getpid() % 100000)
        self.admin_group, self.approver_group = tag + "adm", tag + "apr"
        self.a, self.b, self.c, self.d = (tag + x for x in "abcd")
        self.made_users, self.made_groups = [], []

    def create(self):
        for g in (self.admin_group, self.approver_group):
            subprocess.run(["groupadd", g], check=True, capture_output=True)
            self.made_groups.append(g)
        primary = {self.a: self.admin_group, self.b: "nogroup", self.c: "nogroup", self.d: "nogroup"}
        extra = {self.a: [], self.b: ["-G", self.admin_group + "," + self.approver_group],
                 self.c: ["-G", self.admin_group], self.d: []}
        for user in (self.a, self.b, self.c, self.d):
            subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-g", primary[user]] + extra[user] +
                           [user], check=True, capture_output=True)
            self.made_users.append(user)
        return self

    def uid(self, user):
        return pwd.getpwnam(user).pw_uid

    def remove(self):
        for user in self.made_users:
            subprocess.run(["userdel", user], capture_output=True)
        for g in self.made_groups:
            subprocess.run(["groupdel", g], capture_output=True)


ACCOUNTS = None


def accounts():
    """The test accounts, or SkipTest when they cannot be made (not root, no useradd/runuser)."""
    global ACCOUNTS
    if os.geteuid() != 0:
        raise unittest.SkipTest("not root: the two-account tests need useradd and runuser (run the suite as root, as CI does)")
    # A checkout in a private directory (mktemp -d makes 0700 ones) is out of the other accounts' reach.
    here = os.path.dirname(MUGAICTL)
    while here != os.path.dirname(here):
        if not os.stat(here).st_mode & 0o001:
            raise unittest.SkipTest("%s is not searchable by other accounts: the two-account tests run mugaictl as them" % here)
        here = os.path.dirname(here)
    if ACCOUNTS is None:
        made = Accounts()
        try:
            ACCOUNTS = made.create()
        except (OSError, subprocess.CalledProcessError) as e:
            made.remove()
            raise unittest.SkipTest("cannot create test accounts: %s" % e)
    return ACCOUNTS


def tearDownModule():
    if ACCOUNTS is not None:
        ACCOUNTS.remove()


class QuarantineCase(RelayToSinkCase):
    # Releases take the relay's path to the next hop, STARTTLS included: require it on both.
    BASE = {"delivery.tls": '"encrypt"'}
    SINK_TLS = True

    @classmethod
    def setUpClass(cls):
        cls.OVERRIDES = dict(cls.BASE, **cls.OVERRIDES)
        super().setUpClass()

    def ctl(self, *args, user=None, sets=None):
        """mugaictl against this class's gateway; returns the CompletedProcess."""
        return run_ctl(self.gw, *args, user=user, sets=sets)

    def ctl_json(self, *args, **kw):
        res = self.ctl(*args, "--json", **kw)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        return json.loads(res.stdout)

    def quarantine_one(self, rcpts=(RCPT,)):
        """Sends a mail with an attachment; returns (quarantine id, raw original, token)."""
        tok = token()
        raw, _secret = attached_message(tok)
        send_smtplib(self.gw.port, raw, rcpts=rcpts)
        found = self.sink.wait_for("plain " + tok, 20)
        self.assertEqual(len(found), 1, self.gw.log_text()[-3000:])
        notice = found[0].message()
        qid = notice["X-Mugai-Quarantine-Id"]
        self.assertTrue(qid, found[0].text()[:2000])
        self.assertIn(qid, notice.get_content(), "the notice itself names the quarantine id")
        return qid, raw, tok

    def released(self, tok):
        """The released originals at the sink (the ones carrying the attachment bytes)."""
        marker = "X-Mugai-Released-By"
        return [r for r in self.sink.find(tok) if marker.encode() in r.data]

    def wait_released(self, tok, n=1, timeout=20):
        """Waits for `n` released copies, then a little longer so that one more would show too."""
        got = wait_until(lambda: len(self.released(tok)) >= n, timeout)
        self.assertTrue(got, self.gw.log_text()[-3000:])
        time.sleep(1)
        return self.released(tok)

    def audit_events(self):
        return [json.loads(line) for line in self.ctl("audit", "show", "--json").stdout.splitlines()]

    def events_of(self, qid, event=None):
        return [e for e in self.audit_events() if e.get("id") == qid and event in (None, e["event"])]

    def wait_audit(self, qid, event, timeout=20, **match):
        """The audit records `event` of `qid` once one matching `match` is there (the gateway writes
        delivery records as the queue reports them)."""
        def found():
            got = [e for e in self.events_of(qid, event) if all(e.get(k) == v for k, v in match.items())]
            return got or None
        got = wait_until(found, timeout, 0.2)
        self.assertTrue(got, "no %s record %r for %s in %r" % (event, match, qid, self.events_of(qid)))
        return got

    def audit_verify(self):
        return self.ctl("audit", "verify")

    def assert_release_refused(self, qid, *args, because):
        """`quarantine release QID --reason x ARGS` exits 1 naming `because`."""
        res = self.ctl("quarantine", "release", qid, "--reason", "x", *args)
        self.assertEqual(res.returncode, 1, res.stdout)
        self.assertIn(because, res.stderr)

    def status(self, qid):
        return self.ctl_json("quarantine", "show", qid)["status"]


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
        sock = os.stat(os.path.join(self.gw.workdir, "admin.sock"))
        self.assertTrue(stat.S_ISSOCK(sock.st_mode))
        self.assertEqual(stat.S_IMODE(sock.st_mode), 0o660)
        self.assertEqual(sock.st_gid, os.getegid(), "admin.group defaults to the gateway's own group")
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

        res = self.ctl("quarantine", "release", qid, "--reason", "checked with the sender")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertIn(b"queued as", res.stdout)
        me = pwd.getpwuid(os.getuid()).pw_name
        got = self.wait_released(tok)
        self.assertEqual(len(got), 1, "released original did not arrive exactly once")
        self.assertTrue(got[0].data.startswith(b"X-Mugai-Released-By: %s\r\n" % me.encode()), got[0].data[:200])
        self.assertTrue(got[0].tls, "the release went out over STARTTLS")
        self.assertIn(raw.split(b"\r\n\r\n", 1)[1], got[0].data, "the original, attachment included")
        self.assertEqual(got[0].rcpts, [RCPT])
        self.assertEqual(got[0].mail_from, SENDER, "the envelope sender is the original's")
        self.assertEqual(self.status(qid), "released")
        twice = self.ctl("quarantine", "release", qid, "--reason", "again")
        self.assertEqual(twice.returncode, 1)
        self.assertIn(b"released", twice.stderr)
        missing = self.ctl("quarantine", "show", "ZZZZ-ZZZZ")
        self.assertEqual(missing.returncode, 1)
        self.assertIn(b"ZZZZ-ZZZZ", missing.stderr)

        self.wait_audit(qid, "release-delivery", result="sent", rcpt=RCPT)
        ok = self.audit_verify()
        self.assertEqual(ok.returncode, 0, ok.stderr.decode())
        mine = [(e["event"], e["operator"], e["uid"]) for e in self.events_of(qid)]
        self.assertEqual(mine[0], ("stored", "gateway", os.geteuid()))
        for event in ("releasing", "released", "exported"):
            self.assertIn((event, me, os.getuid()), mine)
        self.assertIn(("refused", me, os.getuid()), mine, "the second release is audited too")
        released = self.events_of(qid, "released")
        self.assertEqual(len(released), 1)
        self.assertEqual(len(released[0]["spool_id"]), 16, released[0])

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
        with audit_record_edited(self.gw):
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

    def test_six_concurrent_releases_deliver_once(self):
        qid, _raw, tok = self.quarantine_one()
        procs = [spawn_ctl(self.gw, "quarantine", "release", qid, "--reason", "race %d" % n) for n in range(6)]
        results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        winners = [r for r in results if r[0] == 0]
        self.assertEqual(len(winners), 1, results)
        for rc, _out, err in results:
            if rc != 0:
                self.assertEqual(rc, 1, err)
                self.assertRegex(err.decode(), "is (releasing|released), not held")
        self.assertEqual(len(self.wait_released(tok)), 1, "exactly one delivery at the sink")
        self.assertEqual(len(self.events_of(qid, "released")), 1)
        self.assertEqual(len(self.events_of(qid, "releasing")), 1)
        refused = self.events_of(qid, "refused")
        self.assertEqual(len(refused), 5, "every losing attempt is audited")
        self.assertEqual({e["action"] for e in refused}, {"release"})
        self.assertEqual(self.status(qid), "released")
        self.wait_audit(qid, "release-delivery", result="sent")
        self.assertEqual(self.audit_verify().returncode, 0)

    def test_security_settings_and_identity_cannot_come_from_the_command_line(self):
        qid, _raw, tok = self.quarantine_one()
        for key, value in (("quarantine.release_requires_approval", "false"), ("quarantine.approvers", '["me"]'),
                           ("quarantine.release_to_others", "true"), ("admin.socket", '"/tmp/elsewhere.sock"')):
            # As the issue wrote it: the --set before the command.
            argv = run_ctl_args(self.gw, "quarantine", "release", qid, "--reason", "x")
            argv[1:1] = ["--set", "%s=%s" % (key, value)]
            res = subprocess.run(argv, capture_output=True, timeout=60, cwd=self.gw.workdir)
            self.assertEqual(res.returncode, 1, res.stdout)
            self.assertIn(("--set %s is refused" % key).encode(), res.stderr)
            self.assertIn(b"gateway", res.stderr)
        spoofed = self.ctl("quarantine", "release", qid, "--reason", "x", "--operator", "alice")  # a usage error
        self.assertEqual(spoofed.returncode, 2)
        self.assertIn(b"--operator is gone", spoofed.stderr)
        self.assertEqual(self.status(qid), "held")
        self.assertEqual(self.released(tok), [])

    def test_release_goes_only_to_the_original_recipients(self):
        qid, _raw, tok = self.quarantine_one()
        self.assert_release_refused(qid, "--to", "other@demo.mugai.test", because=b"release_to_others")
        self.assert_release_refused(qid, "--to", "someone@example.com", because=b"not an address in smtp.accept_domains")
        self.assertEqual(self.status(qid), "held")
        problems = [e["problem"] for e in self.events_of(qid, "refused")]
        self.assertEqual(len(problems), 2, problems)
        self.assertIn("release_to_others", problems[0])
        res = self.ctl("quarantine", "release", qid, "--to", RCPT.upper(), "--reason", "original, other case")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(len(self.wait_released(tok)), 1)

    def test_delete_and_purge_go_through_the_gateway(self):
        qid, _raw, _tok = self.quarantine_one()
        res = self.ctl("quarantine", "delete", qid, "--reason", "spam")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(self.status(qid), "deleted")
        self.assertEqual([e["operator"] for e in self.events_of(qid, "deleted")], [pwd.getpwuid(os.getuid()).pw_name])
        purged = self.ctl_json("quarantine", "purge", "--older-than", "1d")
        self.assertEqual(purged, {"expired": []})


class ReleaseToOthers(QuarantineCase):
    OVERRIDES = {"quarantine.release_to_others": "true"}

    def test_release_to_another_recipient_of_the_served_domains(self):
        qid, _raw, tok = self.quarantine_one()
        self.assert_release_refused(qid, "--to", "someone@example.com", because=b"not an address in smtp.accept_domains")
        res = self.ctl("quarantine", "release", qid, "--to", "other@demo.mugai.test", "--reason", "forward")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        got = self.wait_released(tok)
        self.assertEqual([r.rcpts for r in got], [["other@demo.mugai.test"]])


class PartialFailure(QuarantineCase):
    """The next hop refuses one of two recipients of a release. Semantics: the release is one queued copy,
    `released` once spooled; each recipient then fares as relayed mail does (here: delivered, and refused
    → bounced to the original sender through delivery.bounce), and the audit log records each outcome."""
    REFUSED = "refused@demo.mugai.test"
    SINK_RCPT_REPLIES = {REFUSED: "550 5.1.1 no such user"}

    def test_a_refused_recipient_bounces_and_is_audited(self):
        qid, _raw, tok = self.quarantine_one(rcpts=(RCPT, self.REFUSED))
        res = self.ctl("quarantine", "release", qid, "--reason", "both")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        got = self.wait_released(tok)
        self.assertEqual([r.rcpts for r in got], [[RCPT]], "spooled once, delivered once to the one accepted")
        self.assertEqual(self.status(qid), "released")
        self.assertEqual(len(self.events_of(qid, "released")), 1)
        self.wait_audit(qid, "release-delivery", result="sent", rcpt=RCPT)
        refused = self.wait_audit(qid, "release-delivery", result="bounced", rcpt=self.REFUSED)
        self.assertIn("550 5.1.1 no such user", refused[0]["reply"])
        self.wait_audit(qid, "release-bounce")
        dead = os.path.join(self.gw.spool_dir, "dead-letter")
        bounced = wait_until(lambda: [p for p in files_under(dead) if b"X-Mugai-Released-By" in read_bytes(p)], 10)
        self.assertTrue(bounced, "the refused recipient's bounce of the release")
        self.assertIn(self.REFUSED.encode(), read_bytes(bounced[0]))
        self.assertEqual(self.audit_verify().returncode, 0)


class ReleaseQueuedLikeRelayedMail(unittest.TestCase):
    """The gateway's delivery path, STARTTLS policy included: a next hop without STARTTLS under
    delivery.tls = "encrypt" gets nothing in clear; the release waits in the queue for a retry."""

    def test_required_tls_holds_the_release_in_the_queue(self):
        plain = Sink().start()
        self.addCleanup(plain.stop)
        gw = Gateway({"delivery.next_hop": smtp_hop(plain.port), "delivery.tls": '"encrypt"'}).start()
        self.addCleanup(gw.cleanup)
        tok = token()
        raw, _secret = attached_message(tok)
        send_smtplib(gw.port, raw)
        listed = wait_until(lambda: json.loads(run_ctl(gw, "quarantine", "list", "--json").stdout or "[]"), 20)
        self.assertEqual(len(listed), 1, gw.log_text()[-3000:])
        qid = listed[0]["id"]
        res = run_ctl(gw, "quarantine", "release", qid, "--reason", "x")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        deferred = wait_until(lambda: [json.loads(l) for l in run_ctl(gw, "audit", "show", "--json").stdout.splitlines()
                                       if b'"release-delivery"' in l and b'"deferred"' in l], 20)
        self.assertTrue(deferred, gw.log_text()[-3000:])
        self.assertIn("TLS required but not offered", deferred[0]["reply"])
        self.assertEqual(plain.find(tok), [], "nothing crossed in clear")
        self.assertEqual(json.loads(run_ctl(gw, "quarantine", "show", qid, "--json").stdout)["status"], "released")


class GatewayDown(QuarantineCase):
    def test_state_changing_commands_need_the_gateway_and_reading_ones_do_not(self):
        qid, _raw, _tok = self.quarantine_one()
        sock = os.path.join(self.gw.workdir, "admin.sock")
        for stop in (self.gw.terminate, self.gw.kill):  # a clean stop removes the socket, a crash leaves it
            stop()
            self.assertEqual(os.path.exists(sock), stop == self.gw.kill)
            for argv in (("release", qid, "--reason", "x"), ("request-release", qid, "--reason", "x"),
                         ("approve", qid), ("delete", qid), ("purge",)):
                res = self.ctl("quarantine", *argv)
                self.assertEqual(res.returncode, 1, argv)
                self.assertIn(("the gateway is not running (no admin socket at %s): state-changing commands need it"
                               % sock).encode(), res.stderr)
            for argv in (("quarantine", "list"), ("quarantine", "show", qid), ("quarantine", "stats"),
                         ("audit", "show"), ("audit", "verify")):
                res = self.ctl(*argv)
                self.assertEqual(res.returncode, 0, (argv, res.stderr))
            self.gw.restart()  # a stale socket is replaced
        self.assertEqual(self.status(qid), "held")
        res = self.ctl("quarantine", "delete", qid, "--reason", "after the restarts")
        self.assertEqual(res.returncode, 0, res.stderr.decode())


class CrashRecovery(QuarantineCase):
    """kill -9 between claiming a release and marking it released: the index is put back in the state such
    a crash leaves (the gateway writes nothing in between that a test could stop it at), and the next
    start settles it: a copy in the queue → released (and delivered once), none → held again."""

    def setUp(self):
        if self.gw.proc.poll() is not None:  # an earlier test failed between its kill and its restart
            self.gw.restart()

    def index(self, *statements):
        with sqlite3.connect(os.path.join(self.gw.quarantine_dir, "index.sqlite")) as db:
            for sql, args in statements:
                db.execute(sql, args)

    def test_a_claim_without_a_queued_copy_is_held_again(self):
        qid, _raw, tok = self.quarantine_one()
        self.gw.kill()
        self.index(("UPDATE entries SET status = 'releasing' WHERE id = ?", (qid,)),
                   ("INSERT INTO releases(entry_id, spool_id, rcpt_to, reason, operator_uid, operator_name, "
                    "claimed_unix, state) VALUES (?, '0000000000000001', ?, 'crashed', 0, 'root', 1, 'claimed')",
                    (qid, RCPT)))
        self.gw.restart()
        self.assertEqual(self.status(qid), "held")
        abandoned = self.events_of(qid, "release-abandoned")
        self.assertEqual(len(abandoned), 1)
        self.assertIn("stopped before the copy was spooled", abandoned[0]["problem"])
        self.assertTrue(self.gw.events("release-settled"))
        res = self.ctl("quarantine", "release", qid, "--reason", "again")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertEqual(len(self.wait_released(tok)), 1)
        self.assertEqual(self.audit_verify().returncode, 0)

    def test_a_claim_whose_copy_is_queued_is_released_and_delivered_once(self):
        qid, _raw, tok = self.quarantine_one()
        self.sink.rcpt_replies[RCPT] = "451 4.3.0 try again later"  # the copy waits in the queue
        self.addCleanup(self.sink.rcpt_replies.pop, RCPT, None)
        res = self.ctl("quarantine", "release", qid, "--reason", "before the crash")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        spool_id = self.events_of(qid, "released")[0]["spool_id"]
        self.assertTrue(self.gw.wait_event("deferred", 20, id=spool_id), self.gw.log_text()[-3000:])
        self.gw.kill()
        self.assertIn(spool_id, self.gw.queued_ids())
        # As if the crash came after the copy was spooled, before the claim was marked released.
        self.index(("UPDATE entries SET status = 'releasing' WHERE id = ?", (qid,)),
                   ("UPDATE releases SET state = 'claimed', settled_unix = 0 WHERE spool_id = ?", (spool_id,)))
        del self.sink.rcpt_replies[RCPT]
        self.gw.restart()
        self.assertEqual(self.status(qid), "released")
        settled = [e for e in self.events_of(qid, "released") if "settled" in e]
        self.assertEqual(len(settled), 1)
        self.assertEqual(len(self.wait_released(tok)), 1, "the queued copy is delivered once")
        self.wait_audit(qid, "release-delivery", result="sent")
        self.assertEqual(self.audit_verify().returncode, 0)


class TwoAccounts(QuarantineCase):
    """Operators are accounts: A and B (approvers) and C, D are system users the test creates; each runs
    mugaictl through runuser, and the gateway takes who they are from the admin socket."""

    @classmethod
    def setUpClass(cls):
        cls.acc = accounts()
        cls.OVERRIDES = {"quarantine.release_requires_approval": "true",
                         "quarantine.approvers": '["%s", "@%s"]' % (cls.acc.a, cls.acc.approver_group),
                         "admin.group": '"%s"' % cls.acc.admin_group}
        super().setUpClass()
        os.chmod(cls.gw.workdir, 0o711)  # the accounts reach the socket inside; the quarantine stays 0700

    def test_request_by_one_account_approval_by_another(self):
        a, b, c, d = self.acc.a, self.acc.b, self.acc.c, self.acc.d
        qid, _raw, tok = self.quarantine_one()
        sock = os.stat(os.path.join(self.gw.workdir, "admin.sock"))
        self.assertEqual(sock.st_gid, grp.getgrnam(self.acc.admin_group).gr_gid)
        direct = self.ctl("quarantine", "release", qid, "--reason", "x", user=a)
        self.assertEqual(direct.returncode, 1)
        self.assertIn(b"needs `quarantine request-release`", direct.stderr)
        outsider = self.ctl("quarantine", "request-release", qid, "--reason", "x", user=c)
        self.assertEqual(outsider.returncode, 1)
        self.assertIn(("%s (uid %d) is not in quarantine.approvers" % (c, self.acc.uid(c))).encode(), outsider.stderr)
        stranger = self.ctl("quarantine", "request-release", qid, "--reason", "x", user=d)
        self.assertEqual(stranger.returncode, 1)
        self.assertIn(b"permission denied", stranger.stderr)

        res = self.ctl("quarantine", "request-release", qid, "--reason", "invoice is genuine", user=a)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        own = self.ctl("quarantine", "approve", qid, user=a)
        self.assertEqual(own.returncode, 1)
        self.assertIn(b"two-person", own.stderr)
        spoof = self.ctl("quarantine", "approve", qid, "--operator", b, user=a)
        self.assertEqual(spoof.returncode, 2)
        self.assertIn(b"--operator is gone", spoof.stderr)
        by_c = self.ctl("quarantine", "approve", qid, user=c)
        self.assertEqual(by_c.returncode, 1)
        self.assertIn(b"not in quarantine.approvers", by_c.stderr)
        self.assertEqual(self.status(qid), "held")
        self.assertEqual(self.released(tok), [])

        res = self.ctl("quarantine", "approve", qid, user=b)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        got = self.wait_released(tok)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].data.startswith(b"X-Mugai-Released-By: %s\r\n" % b.encode()))
        self.assertEqual(self.status(qid), "released")
        ua, ub, uc = self.acc.uid(a), self.acc.uid(b), self.acc.uid(c)
        request = self.ctl_json("quarantine", "show", qid)["release_requests"]
        self.assertEqual([(r["requested_by"], r["requested_uid"], r["approved_by"], r["approved_uid"]) for r in request],
                         [(a, ua, b, ub)])
        mine = [(e["event"], e["operator"], e["uid"]) for e in self.events_of(qid)]
        for expected in (("release-requested", a, ua), ("approved", b, ub), ("releasing", b, ub), ("released", b, ub),
                         ("refused", a, ua), ("refused", c, uc)):
            self.assertIn(expected, mine)
        self.assertNotIn(("approved", a, ua), mine)
        self.wait_audit(qid, "release-delivery", result="sent")
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



class ApproveRace(QuarantineCase):
    """Without the two-person rule a pending request may still be approved: approve and release race."""

    @classmethod
    def setUpClass(cls):
        cls.acc = accounts()
        cls.OVERRIDES = {"quarantine.approvers": '["%s", "%s"]' % (cls.acc.a, cls.acc.b),
                         "admin.group": '"%s"' % cls.acc.admin_group}
        super().setUpClass()
        os.chmod(cls.gw.workdir, 0o711)

    def test_concurrent_approve_and_release_deliver_once(self):
        qid, _raw, tok = self.quarantine_one()
        res = self.ctl("quarantine", "request-release", qid, "--reason", "genuine", user=self.acc.a)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        procs = [spawn_ctl(self.gw, "quarantine", "approve", qid, user=self.acc.b)]
        procs += [spawn_ctl(self.gw, "quarantine", "release", qid, "--reason", "me first") for _ in range(2)]
        codes = [p.wait(60) for p in procs]
        for p in procs:
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(sorted(codes), [0, 1, 1], codes)
        self.assertEqual(len(self.wait_released(tok)), 1, "exactly one delivery")
        self.assertEqual(len(self.events_of(qid, "released")), 1)
        self.assertEqual(len(self.events_of(qid, "refused")), 2)
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
