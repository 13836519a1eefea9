# A spool that trusts nothing (issue 15): the gateway refuses spool and quarantine directories other
# users could write, and never delivers a spool file it did not write itself. A planted .clean file is
# moved aside; an edited one is replaced by sanitizing its raw original again.
import os
import stat
import subprocess
import time

from harness import (GATEWAY, RCPT, SENDER, Gateway, GatewayCase, send_smtplib, smtp_hop, text_message, token,
                     wait_until)

PLANTED_ID = "01K00000000000AB"


def planted_clean(marker):
    """A well-formed spool entry, as an attacker without the spool key would write it."""
    message = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nMZ planted %s\r\n" % (SENDER, RCPT, marker, marker)).encode()
    header = ("MUGAI-SPOOL 2\nid %s\nroute next-hop\narrival %d\nclient 127.0.0.1\nhelo x\nfrom %s\nrcpt %s\n"
              "size %d\n\n" % (PLANTED_ID, int(time.time()), SENDER, RCPT, len(message))).encode()
    return header + message + b"\nEND %d %s\n" % (len(message), b"0" * 64)


class SpoolTrustTest(GatewayCase):
    def test_a_planted_clean_file_is_never_delivered(self):
        sink = self.sink()
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port)})
        self.assertEqual(gw.terminate(), 0)
        marker = token()
        with open(os.path.join(gw.spool_dir, "queue", PLANTED_ID + ".clean"), "wb") as f:
            f.write(planted_clean(marker))
        gw.restart()
        corrupt = os.path.join(gw.spool_dir, "corrupt", PLANTED_ID + ".clean")
        self.assertTrue(wait_until(lambda: os.path.exists(corrupt), 10), gw.log_text()[-3000:])
        rejected = [e for e in gw.events("spool-rejected") if e.get("id") == PLANTED_ID]
        self.assertTrue(rejected and "authentication failed" in rejected[0]["error"], gw.log_text()[-3000:])
        # Mail keeps flowing, and the planted message is not among what arrives.
        tok = token()
        send_smtplib(gw.port, text_message("after " + tok, tok))
        self.assertTrue(sink.wait_for(tok, 20), gw.log_text()[-3000:])
        self.assertEqual(sink.find(marker), [])

    def test_an_edited_clean_file_is_sanitized_again_from_its_raw_original(self):
        sink = self.sink()
        sink.stop()  # the next hop is down: the sanitized message waits in the queue
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "delivery.retry_first": '"1s"',
                           "delivery.retry_max": '"1s"'})
        tok = token()
        send_smtplib(gw.port, text_message("edit " + tok, "original body " + tok))
        queue = os.path.join(gw.spool_dir, "queue")
        self.assertTrue(wait_until(lambda: any(n.endswith(".clean") for n in os.listdir(queue)), 10),
                        gw.log_text()[-3000:])
        self.assertEqual(gw.terminate(), 0)
        clean = next(os.path.join(queue, n) for n in os.listdir(queue) if n.endswith(".clean"))
        with open(clean, "rb") as f:
            data = f.read()
        self.assertIn(("original body " + tok).encode(), data)
        with open(clean, "wb") as f:  # same length: only the tag can tell
            f.write(data.replace(b"original body", b"PLANTED! body"))
        sink.start()
        gw.restart()
        self.assertTrue(sink.wait_for("original body " + tok, 30), gw.log_text()[-3000:])
        self.assertEqual(sink.find("PLANTED! body"), [])
        self.assertTrue(os.listdir(os.path.join(gw.spool_dir, "corrupt")))

    def test_directories_others_can_write_are_refused_at_start(self):
        for sub in ("spool", "quarantine"):
            gw = Gateway()
            self.addCleanup(gw.cleanup)
            path = gw.spool_dir if sub == "spool" else gw.quarantine_dir
            os.makedirs(path)
            os.chmod(path, 0o777)
            res = subprocess.run(gw.argv(), cwd=gw.workdir, capture_output=True, text=True, timeout=30)
            self.assertNotEqual(res.returncode, 0, sub)
            self.assertIn(path, res.stderr)
            self.assertIn("chmod go-w " + path, res.stderr)
            os.chmod(path, 0o700)
            os.chown(path, 65534, 65534)  # nobody: another user owns it
            if os.geteuid() == 0:
                res = subprocess.run(gw.argv(), cwd=gw.workdir, capture_output=True, text=True, timeout=30)
                self.assertNotEqual(res.returncode, 0, sub)
                self.assertIn("owned by uid 65534", res.stderr)
            else:
                print("skipped: the owner check needs root to chown %s" % path)
