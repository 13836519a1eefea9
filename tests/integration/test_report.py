# `mugaictl report` against a real gateway: a clean mail, one with an executable (removed), one with a PDF
# (rendered), one held whole (sanitize.max_parts), then a two-person release (two system accounts), a
# deletion and a purge. The JSON's figures must be what was sent; the text and the HTML show the same
# ones; headless Chromium renders the HTML's charts (a screenshot with colour, the figures in the DOM);
# an edited audit record makes the report say the chain failed, and exit 1. A worker past workers.timeout
# and a recipient the next hop refuses show as a worker failure and a bounce.
# Runs under /usr/bin/python3 (Debian's Pillow, for the screenshot).
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import (RCPT, GatewayCase, RelayToSinkCase, audit_record_edited, run_ctl, run_ctl_args, send_smtplib,
                     smtp_hop, token, wait_until)
import test_quarantine
from test_render_pdf import text_pdf
from test_workers import html_message

CHROMIUM = shutil.which("chromium")
# Headless Chromium can take a while to start on a loaded machine.
CHROMIUM_TIMEOUT = 180
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00" + \
    b"This program cannot be run in DOS mode.\r\r\n$" + b"\x00" * 64 + b"PE\x00\x00L\x01"


def mime(tok, attachments):
    """multipart/mixed: a text part, then each (name, content type, bytes) as a base64 attachment."""
    import base64
    out = ("From: <sender@example.org>\r\nTo: <%s>\r\nSubject: report %s\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
           "body %s\r\n" % (RCPT, tok, tok)).encode()
    for name, ctype, data in attachments:
        out += ("--b\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n" % (ctype, name, name)).encode()
        out += base64.encodebytes(data).replace(b"\n", b"\r\n")
    return out + b"--b--\r\n"


def tearDownModule():
    test_quarantine.tearDownModule()


class Report(RelayToSinkCase):
    @classmethod
    def setUpClass(cls):
        cls.acc = test_quarantine.accounts()
        cls.OVERRIDES = {"quarantine.release_requires_approval": "true",
                         "quarantine.approvers": '["%s", "%s"]' % (cls.acc.a, cls.acc.b),
                         "admin.group": '"%s"' % cls.acc.admin_group,
                         "sanitize.max_parts": "5"}
        super().setUpClass()
        os.chmod(cls.gw.workdir, 0o711)
        cls.out_dir = tempfile.mkdtemp(prefix="mugai-report-")
        gw = cls.gw
        toks = [token() for _ in range(4)]
        send_smtplib(gw.port, ("Subject: clean %s\r\n\r\nbody %s\r\n" % (toks[0], toks[0])).encode())
        send_smtplib(gw.port, mime(toks[1], [("setup.exe", "application/octet-stream", EXE)]))
        send_smtplib(gw.port, mime(toks[2], [("mitsumori.pdf", "application/pdf", text_pdf(["report test"]))]))
        # Five leaves and the multipart around them cross sanitize.max_parts = 5: held whole.
        send_smtplib(gw.port, mime(toks[3], [("n%d.txt" % i, "text/plain", b"note\r\n") for i in range(4)]))
        for tok in toks[:3]:
            assert cls.sink.wait_for("body " + tok, 60), gw.log_text()[-3000:]
        assert wait_until(lambda: len(cls.entries()) == 3, 60), gw.log_text()[-3000:]
        by_reason = {e["reason"]: e["id"] for e in cls.entries()}
        cls.held = next(i for r, i in by_reason.items() if r.startswith("limit exceeded"))
        removed = [e for e in cls.entries() if e["id"] != cls.held]
        cls.exe_entry = next(e["id"] for e in removed if any(p["filename"] == "setup.exe" for p in e["parts"]))
        # The two-person rule: A asks, B approves; then a deletion and a purge of what is left.
        cls.ok(run_ctl(gw, "quarantine", "request-release", cls.exe_entry, "--reason", "vendor <tool> & installer",
                       user=cls.acc.a))
        cls.ok(run_ctl(gw, "quarantine", "approve", cls.exe_entry, user=cls.acc.b))
        assert wait_until(lambda: cls.status(cls.exe_entry) == "released", 60)
        cls.ok(run_ctl(gw, "quarantine", "delete", cls.held, "--reason", "spam"))
        time.sleep(1.1)  # --older-than 0s expires what was stored before the current second
        purged = cls.ok(run_ctl(gw, "quarantine", "purge", "--older-than", "0s", "--json"))
        cls.expired = json.loads(purged.stdout)["expired"]
        # Deliveries are recorded off the mail's path: wait until the three show before reading.
        assert wait_until(lambda: cls.report("json")[0]["totals"]["delivered"] == 3, 30)
        cls.json, _ = cls.report("json")
        cls.text, _ = cls.report("text")
        cls.html_path = os.path.join(cls.out_dir, "report.html")
        res = run_ctl(gw, "report", "--format", "html", "--out", cls.html_path)
        assert res.returncode == 0, res.stderr
        with open(cls.html_path, encoding="utf-8") as f:
            cls.html = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out_dir, ignore_errors=True)
        super().tearDownClass()

    @staticmethod
    def ok(res):
        assert res.returncode == 0, res.stderr.decode()
        return res

    @classmethod
    def entries(cls):
        res = cls.ok(run_ctl(cls.gw, "quarantine", "list", "--json", "--limit", "100"))
        return json.loads(res.stdout)

    @classmethod
    def status(cls, qid):
        return json.loads(cls.ok(run_ctl(cls.gw, "quarantine", "show", qid, "--json")).stdout)["status"]

    @classmethod
    def report(cls, fmt, *extra):
        res = run_ctl(cls.gw, "report", "--format", fmt, *extra)
        out = res.stdout.decode("utf-8")
        return (json.loads(out) if fmt == "json" and res.returncode == 0 else out), res

    def test_json_counts_what_was_sent(self):
        r = self.json
        t = r["totals"]
        self.assertEqual((t["received"], t["delivered"], t["held_whole"], t["bounced"], t["failed"]), (4, 3, 1, 0, 0), t)
        self.assertEqual(t["documents_rendered"], 1)
        self.assertEqual(t["pages_rendered"], 1)
        self.assertEqual(sum(d["received"] for d in r["by_day"]), 4)
        self.assertEqual(r["rendered"]["by_type"], [{"key": "application/pdf", "count": 1}])
        exe_types = [x["key"] for x in r["removed_by_type"]]
        self.assertEqual(len(exe_types), 1, r["removed_by_type"])
        self.assertIn("dosexec", exe_types[0])
        self.assertEqual(t["parts_removed"], 1)
        self.assertEqual(len(r["releases"]), 1)
        rel = r["releases"][0]
        self.assertEqual((rel["id"], rel["requested_by"], rel["approved_by"], rel["released_by"]),
                         (self.exe_entry, self.acc.a, self.acc.b, self.acc.b))
        self.assertEqual(rel["reason"], "vendor <tool> & installer")
        self.assertEqual([(d["id"], d["reason"]) for d in r["deletions"]], [(self.held, "spam")])
        self.assertEqual(r["expired"], len(self.expired))
        self.assertGreaterEqual(len(self.expired), 2)  # the released exe and the PDF's original
        self.assertEqual([p["count"] for p in r["purges"]], [len(self.expired)])
        self.assertTrue(r["audit"]["verified"], r["audit"])
        self.assertEqual(r["worker_failures"]["count"], 0)
        starts = r["gateway"]["starts"]
        self.assertEqual(len(starts), 1)
        self.assertRegex(starts[0]["config_digest"], r"^sha256:[0-9a-f]{64}$")
        self.assertEqual(starts[0]["version"], r["gateway"]["versions"][0])

    def test_text_shows_the_same_figures(self):
        t = self.json["totals"]
        for key, label in (("received", "received"), ("delivered", "delivered"), ("held_whole", "held whole"),
                           ("documents_rendered", "documents rendered"), ("parts_removed", "parts removed")):
            self.assertRegex(self.text, r"\n\s+%d  \S+ / %s\n" % (t[key], label))
        self.assertIn("verified, %d records" % self.json["audit"]["records"], self.text)
        self.assertIn("requested by %s, approved by %s" % (self.acc.a, self.acc.b), self.text)
        self.assertIn(self.json["gateway"]["starts"][0]["config_digest"], self.text)

    def test_html_is_self_contained_and_matches(self):
        page = self.html
        self.assertIn("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                      "style-src 'unsafe-inline'\">", page)
        self.assertNotIn("<script", page.lower())
        self.assertIsNone(re.search(r"(src|href)=\"?(https?:|//)", page))
        # Strings from mail and operators are escaped.
        self.assertIn("vendor &lt;tool&gt; &amp; installer", page)
        self.assertNotIn("vendor <tool>", page)
        t = self.json["totals"]
        for key in ("received", "delivered", "held_whole", "bounced"):
            self.assertIn('<tr data-key="%s"><th>' % key, page)
            self.assertRegex(page, r'<tr data-key="%s"><th>[^<]*</th><td class="num">%d</td>' % (key, t[key]))

    def test_chromium_renders_the_charts(self):
        if CHROMIUM is None:
            self.skipTest("chromium is not installed: the HTML is not rendered (apt-get install chromium)")
        from PIL import Image
        shot = os.path.join(self.out_dir, "shot.png")
        base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2000",
                "--user-data-dir=" + os.path.join(self.out_dir, "profile")]
        res = subprocess.run(base + ["--screenshot=" + shot, "file://" + self.html_path], capture_output=True,
                             timeout=CHROMIUM_TIMEOUT)
        self.assertTrue(os.path.exists(shot), res.stderr.decode(errors="replace")[-2000:])
        with Image.open(shot) as img:
            rgb = img.convert("RGB")
            colours = rgb.getcolors(maxcolors=1 << 20) or []
            non_white = sum(n for n, c in colours if c != (255, 255, 255))
        self.assertGreater(len(colours), 50, "a blank or near-blank screenshot")
        self.assertGreater(non_white, 20000)
        # The series' own colours are on the page: the bars were drawn.
        self.assertTrue(any(c == (0x2b, 0x6c, 0xb0) for _, c in colours), "no bar of the volume chart in the screenshot")
        dom = subprocess.run(base + ["--dump-dom", "file://" + self.html_path], capture_output=True,
                             timeout=CHROMIUM_TIMEOUT).stdout.decode("utf-8")
        chart = re.search(r'<svg id="chart-volumes".*?</svg>', dom, re.S).group(0)
        received = sum(int(v) for v in re.findall(r'data-series="received" data-value="(\d+)"', chart))
        self.assertEqual(received, self.json["totals"]["received"])
        delivered = sum(int(v) for v in re.findall(r'data-series="delivered" data-value="(\d+)"', chart))
        self.assertEqual(delivered, self.json["totals"]["delivered"])
        by_type = re.search(r'<svg id="chart-removed-by-type".*?</svg>', dom, re.S).group(0)
        row = self.json["removed_by_type"][0]
        self.assertIn('data-key="%s" data-value="%d"' % (html.escape(row["key"]), row["count"]), by_type)
        table = re.search(r'<table id="table-volumes">.*?</table>', dom, re.S).group(0)
        self.assertIn('<td class="num" data-series="received">%d</td>' % self.json["by_day"][-1]["received"], table)

    def test_usage_and_unreadable_index(self):
        _, res = self.report("pdf")
        self.assertEqual(res.returncode, 2)
        self.assertIn(b"--format expects text, json or html", res.stderr)
        _, res = self.report("json", "--since", "soon")
        self.assertEqual(res.returncode, 2)
        missing = os.path.join(self.out_dir, "nowhere")
        # After the gateway's own settings, so this one wins.
        argv = run_ctl_args(self.gw, "report", "--format", "json") + ["--set", "quarantine.dir=" + missing]
        res = subprocess.run(argv, capture_output=True, timeout=60, cwd=self.gw.workdir)
        self.assertEqual(res.returncode, 1)
        self.assertIn(("no quarantine index at %s/index.sqlite" % missing).encode(), res.stderr)

    def test_z_edited_audit_record_fails_the_report(self):
        with audit_record_edited(self.gw):  # runs last: the class shares the log
            r, res = self.report("text")
            j, jres = self.report("json")
        self.assertEqual(res.returncode, 1)
        self.assertIn(b"does not verify at record 2", res.stderr)
        self.assertIn("VERIFICATION FAILED at record 2", r)
        self.assertEqual(jres.returncode, 1)
        report = json.loads(jres.stdout)
        self.assertFalse(report["audit"]["verified"])
        self.assertEqual(report["audit"]["first_bad_line"], 2)


class FailuresAndBounces(GatewayCase):
    def test_worker_timeout_and_bounce_are_counted(self):
        bad = "nobody@demo.mugai.test"
        sink = self.sink(rcpt_replies={bad: "550 5.1.1 no such user"})
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "workers.count": "1", "workers.timeout": "1",
                           "smtp.max_message_size": '"40MiB"'})
        slow = send_smtplib(gw.port, html_message(token(), 12), timeout=60)
        refused = send_smtplib(gw.port, ("Subject: to nobody\r\n\r\nbody %s\r\n" % token()).encode(), rcpts=(bad,))

        def report():
            res = run_ctl(gw, "report", "--format", "json")
            self.assertEqual(res.returncode, 0, res.stderr.decode())
            return json.loads(res.stdout)
        def counted():
            r = report()
            # The hold's traffic row is written on the thread pool after the failure's: wait for both.
            return (r if r["totals"]["bounced"] == 1 and r["worker_failures"]["count"] == 1
                    and r["totals"]["held_whole"] == 1 else None)
        r = wait_until(counted, 90, 0.5)
        self.assertTrue(r, gw.log_text()[-3000:])
        failure = r["worker_failures"]["list"][0]
        self.assertEqual((failure["queue_id"], failure["kind"]), (slow, "message-failed"))
        self.assertIn("timeout after 1 s", failure["detail"])
        self.assertEqual(r["totals"]["held_whole"], 1)  # the slow one, held whole by the gateway
        self.assertEqual(r["totals"]["received"], 2)
        self.assertEqual(r["totals"]["delivered"], 0)
        self.assertEqual(sum(d["bounced"] for d in r["by_day"]), 1)
        text = run_ctl(gw, "report").stdout.decode()
        self.assertIn("ワーカー障害 / worker failures: 1\n", text)
        self.assertIn("%s  message-failed: timeout after 1 s" % slow, text)
        self.assertNotIn(refused, [f["queue_id"] for f in r["worker_failures"]["list"]])


if __name__ == "__main__":
    unittest.main()
