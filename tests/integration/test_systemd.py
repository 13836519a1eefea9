# The systemd side of operations: the shipped unit passes `systemd-analyze verify` without a warning and
# stays within an exposure budget, the gateway speaks sd_notify (READY, WATCHDOG, STOPPING) to a real
# NOTIFY_SOCKET, and log.target sends events to syslog's socket or a file.
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest

from harness import BIN_DIR, GATEWAY, MUGAICTL, SOURCE_DIR, Gateway, send_smtplib, text_message, token, wait_until

UNIT = os.path.join(SOURCE_DIR, "packaging", "mugai-gateway.service")
EXPOSURE_BUDGET = 3.0  # systemd-analyze security: 2.6 when written; higher means a hardening line was lost


def installed_unit(directory, text=None):
    """The unit with its binaries at this build's paths (verify checks that ExecStart exists)."""
    with open(UNIT, encoding="utf-8") as f:
        text = (text or f.read()).replace("/usr/local/bin/", BIN_DIR + "/")
    path = os.path.join(directory, "mugai-gateway.service")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def verify(path):
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


@unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed (package systemd)")
class UnitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mugai-unit-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_unit_verifies_without_a_warning(self):
        rc, out = verify(installed_unit(self.dir))
        self.assertEqual((rc, out), (0, ""))

    def test_a_mistyped_directive_is_caught(self):
        # verify exits 0 on an unknown value and only warns, so the test above insists on no output at all.
        with open(UNIT, encoding="utf-8") as f:
            broken = f.read().replace("ProtectSystem=strict", "ProtectSystem=strictest")
        _rc, out = verify(installed_unit(self.dir, broken))
        self.assertIn("strictest", out)

    def test_the_unit_keeps_its_hardening(self):
        with open(UNIT, encoding="utf-8") as f:
            text = f.read()
        for line in ("Type=notify", "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes",
                     "ReadWritePaths=/var/spool/mugai /var/lib/mugai/quarantine",
                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                     "SystemCallFilter=@system-service"):
            self.assertIn(line, text)
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=%d" % (EXPOSURE_BUDGET * 10),
                            installed_unit(self.dir)], capture_output=True, text=True, timeout=60)
        level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
        print("systemd-analyze security: exposure %s (budget %.1f)" % (level and level.group(1), EXPOSURE_BUDGET))
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)

    def test_the_units_config_is_valid(self):
        conf = os.path.join(SOURCE_DIR, "packaging", "mugai.toml")
        r = subprocess.run([MUGAICTL, "check-config", conf], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)


class Datagrams:
    """A unix datagram socket standing in for systemd's notify socket (or syslog's /dev/log), read by a
    thread of its own: a sender blocks once a few unread datagrams are queued (net.unix.max_dgram_qlen)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.got = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.got.append(data.decode("utf-8", "replace"))

    def wait_for(self, predicate, timeout=15):
        return wait_until(lambda: any(predicate(m) for m in list(self.got)), timeout)

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(5)
        if os.path.exists(self.path):
            os.unlink(self.path)


class NotifyTest(unittest.TestCase):
    def test_ready_watchdog_and_stopping(self):
        d = tempfile.mkdtemp(prefix="mugai-notify-")
        self.addCleanup(shutil.rmtree, d, True)
        notify = Datagrams(os.path.join(d, "notify"))
        self.addCleanup(notify.close)
        env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            gw = Gateway().start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(gw.cleanup)
        self.assertTrue(notify.wait_for(lambda m: m.startswith("READY=1")), notify.got)
        # READY comes only once the listener takes mail.
        send_smtplib(gw.port, text_message("notify " + token(), "ok"))
        # Pings at half of WATCHDOG_USEC: several arrive within a second or two.
        self.assertTrue(wait_until(lambda: notify.got.count("WATCHDOG=1") >= 3, 15), notify.got)
        self.assertEqual(gw.terminate(), 0)
        self.assertTrue(notify.wait_for(lambda m: m.startswith("STOPPING=1"), timeout=5), notify.got)

    def test_without_notify_socket_nothing_is_sent(self):
        self.assertNotIn("NOTIFY_SOCKET", os.environ)
        with Gateway() as gw:
            self.assertEqual(gw.events("watchdog"), [])


class LogTargetTest(unittest.TestCase):
    def test_file_target_that_cannot_be_opened_stops_the_start(self):
        r = subprocess.run([GATEWAY, "--set", "log.target=file", "--set", "log.file=/nonexistent/dir/gateway.log",
                            "--set", "metrics.listen=\"\""],
                           capture_output=True, text=True, timeout=30, cwd=tempfile.gettempdir())
        self.assertEqual(r.returncode, 1)
        self.assertIn("log.file: cannot open '/nonexistent/dir/gateway.log'", r.stderr)

    @unittest.skipUnless(os.geteuid() == 0 and not os.path.exists("/dev/log"),
                         "needs root and no syslog daemon on /dev/log, to listen there in its place")
    def test_syslog_target(self):
        log = Datagrams("/dev/log")
        self.addCleanup(log.close)
        with Gateway({"log.target": '"syslog"', "log.syslog_facility": '"local3"'}) as gw:
            send_smtplib(gw.port, text_message("syslog " + token(), "ok"))
            # <PRI> = facility local3 (19) * 8 + severity info (6) = 158; JSON, without a timestamp of its own.
            accepted = re.compile(r'^<158>.*mugai-gateway\[\d+\]: (\{.*"event":"accept".*\})$')
            self.assertTrue(log.wait_for(lambda m: accepted.match(m) is not None), log.got[-5:])
            line = next(accepted.match(m).group(1) for m in log.got if accepted.match(m))
            record = json.loads(line)
            self.assertNotIn("ts", record)
            self.assertEqual(open(gw.log_path, "rb").read().count(b'"event":"accept"'), 0)


if __name__ == "__main__":
    unittest.main()
