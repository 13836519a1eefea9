# The sandboxed workers through the real binaries: `mugai-worker --check-sandbox` finds every forbidden
# act refused; a worker killed mid-message, out of memory or past workers.timeout costs only that
# message (held whole in quarantine with the reason, its recipient told) while a fresh worker takes
# over and the next messages go through; one killed while idle is replaced before any message meets
# it; workers.max_messages replaces workers without losing a message; `mugaictl sanitize` runs in the
# same sandbox. Slow and large inputs are real ones (a big HTML body, a big attachment), no test hooks.
import base64
import json
import os
import signal
import subprocess
import time
import unittest

from harness import (BIN_DIR, RCPT, GatewayCase, run_ctl, send_smtplib, smtp_hop, text_message, token, wait_until)

WORKER = os.path.join(BIN_DIR, "mugai-worker")
ACTS = ("write a file", "open a socket to 127.0.0.1", "execve /bin/true", "ptrace", "fork")


def html_message(tok, megabytes):
    """A text/html body of `megabytes` MiB: seconds of work for the HTML converter."""
    row = '<p><b>x</b> <i>y</i> <a href="http://e.example/">l</a></p>\r\n'
    body = "<div>" + row * (megabytes * 1024 * 1024 // len(row)) + "</div>"
    return ("From: <a@example.org>\r\nTo: <%s>\r\nSubject: html %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=UTF-8\r\n\r\n%s\r\n" % (RCPT, tok, body)).encode()


def attachment_message(tok, megabytes):
    data = base64.encodebytes(os.urandom(megabytes * 1024 * 1024)).decode().replace("\n", "\r\n")
    return ("From: <a@example.org>\r\nTo: <%s>\r\nSubject: big %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n%s\r\n"
            "--b\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--b--\r\n" % (RCPT, tok, tok, data)).encode()


def children(pid):
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
            out += [int(c) for c in f.read().split()]
    return out


def worker_pids(gw):
    """The gateway's mugai-worker children (found through /proc), sorted."""
    found = []
    for c in children(gw.proc.pid):
        try:
            with open("/proc/%d/comm" % c) as f:
                if f.read().strip() == "mugai-worker":
                    found.append(c)
        except OSError:
            pass
    return sorted(found)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def asan_build():
    res = subprocess.run([WORKER, "--check-sandbox"], capture_output=True, timeout=60)
    return b"(sanitizer build)" in res.stdout


class WorkerCase(GatewayCase):
    def start(self, **sets):
        sink = self.sink()
        base = {"delivery.next_hop": smtp_hop(sink.port), "workers.count": "1", "smtp.max_message_size": '"40MiB"'}
        gw = self.gateway(dict(base, **sets))
        self.assertTrue(wait_until(lambda: len(worker_pids(gw)) == 1, 10), gw.log_text()[-2000:])
        return sink, gw

    def entry_for(self, gw, queue_id):
        res = run_ctl(gw, "quarantine", "list", "--since", "1h", "--json")
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        found = [e for e in json.loads(res.stdout) if e["queue_id"] == queue_id]
        return found[0] if found else None

    def assert_held(self, gw, sink, queue_id, tok, reason):
        """The message is in quarantine with `reason`, its recipient got the notice, nothing of it crossed."""
        entry = wait_until(lambda: self.entry_for(gw, queue_id), 60, 0.5)
        self.assertTrue(entry, gw.log_text()[-3000:])
        self.assertTrue(entry["reason"].startswith(reason), entry)
        notice = wait_until(lambda: [r for r in sink.messages() if r.message()["X-Mugai-Quarantine-Id"] == entry["id"]], 30)
        self.assertTrue(notice, gw.log_text()[-3000:])
        self.assertEqual(notice[0].rcpts, [RCPT])
        self.assertFalse([r for r in sink.find(tok) if not r.message()["X-Mugai-Quarantine-Id"]], "nothing else crossed")

    def assert_next_go_through(self, gw, sink, n=2):
        toks = [token() for _ in range(n)]
        for t in toks:
            send_smtplib(gw.port, text_message("next " + t, "body " + t))
        for t in toks:
            self.assertTrue(sink.wait_for(t, 30), gw.log_text()[-3000:])


class CheckSandbox(unittest.TestCase):
    def test_every_forbidden_act_is_refused(self):
        res = subprocess.run([WORKER, "--check-sandbox"], capture_output=True, timeout=60)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, 0, out + res.stderr.decode())
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("sandbox: fds closed; rlimits "), out)
        self.assertIn("fsize=0 nofile=32 nproc=0 core=0; no_new_privs; namespaces", lines[0])
        self.assertIn("; seccomp allowlist (kill", lines[0])
        self.assertEqual([l.split(":")[0] for l in lines[1:]], list(ACTS), out)
        for line in lines[1:]:
            self.assertIn(": refused (", line)


class Crashes(WorkerCase):
    def test_worker_killed_mid_message_costs_only_that_message(self):
        sink, gw = self.start()
        (pid,) = worker_pids(gw)
        tok = token()
        queue_id = send_smtplib(gw.port, html_message(tok, 20), timeout=60)
        # Busy on it (a second of converting a 20 MiB HTML body takes several): kill it now.
        self.assertTrue(wait_until(lambda: cpu_seconds(pid) > 0.3, 20), gw.log_text()[-2000:])
        os.kill(pid, signal.SIGKILL)
        self.assert_held(gw, sink, queue_id, tok, "sanitizer failed: signal 9")
        self.assertTrue(gw.wait_event("worker-failed", 10, pid=str(pid)))
        fresh = wait_until(lambda: worker_pids(gw), 10)
        self.assertTrue(fresh and pid not in fresh, fresh)
        self.assert_next_go_through(gw, sink)

    def test_idle_worker_killed_is_replaced_before_any_message_meets_it(self):
        sink, gw = self.start()
        (pid,) = worker_pids(gw)
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(gw.wait_event("worker-failed", 10, pid=str(pid), **{"while": "idle"}))
        self.assertTrue(wait_until(lambda: worker_pids(gw) and pid not in worker_pids(gw), 10))
        self.assert_next_go_through(gw, sink)
        res = run_ctl(gw, "quarantine", "list", "--since", "1h", "--json")
        self.assertEqual(json.loads(res.stdout), [], "no message was held")

    def test_out_of_memory_is_held_with_the_limit(self):
        if asan_build():
            self.skipTest("AddressSanitizer needs unlimited address space: RLIMIT_AS is not applied")
        sink, gw = self.start(**{"workers.memory": '"64MiB"'})
        tok = token()
        queue_id = send_smtplib(gw.port, attachment_message(tok, 15), timeout=60)
        self.assert_held(gw, sink, queue_id, tok, "out of memory (workers.memory = 64 MiB)")
        self.assert_next_go_through(gw, sink)

    def test_timeout_is_held_and_the_worker_replaced(self):
        sink, gw = self.start(**{"workers.timeout": "1"})
        (pid,) = worker_pids(gw)
        tok = token()
        queue_id = send_smtplib(gw.port, html_message(tok, 12), timeout=60)
        self.assert_held(gw, sink, queue_id, tok, "timeout after 1 s")
        self.assertTrue(wait_until(lambda: worker_pids(gw) and pid not in worker_pids(gw), 10))
        self.assert_next_go_through(gw, sink)


class Replacement(WorkerCase):
    def test_max_messages_replaces_workers_and_loses_nothing(self):
        sink, gw = self.start(**{"workers.max_messages": "2"})
        first = worker_pids(gw)
        self.assert_next_go_through(gw, sink, 5)
        retired = gw.events("worker-retired")
        self.assertGreaterEqual(len(retired), 2, gw.log_text()[-3000:])
        self.assertTrue(all(e["messages"] == "2" for e in retired), retired)
        seen = {e["pid"] for e in gw.events("worker")}
        self.assertGreaterEqual(len(seen), 3, seen)
        self.assertNotEqual(worker_pids(gw), first)
        self.assertTrue(wait_until(lambda: len(worker_pids(gw)) == 1, 10), "retired workers are reaped")


class Cli(WorkerCase):
    def test_mugaictl_sanitize_runs_in_the_sandbox(self):
        _sink, gw = self.start()
        tok = token()
        src, dst = os.path.join(gw.workdir, "in.eml"), os.path.join(gw.workdir, "out.eml")
        with open(src, "wb") as f:
            f.write(text_message("cli " + tok, "body " + tok))
        res = run_ctl(gw, "sanitize", src, dst)
        self.assertEqual(res.returncode, 0, res.stderr.decode())
        self.assertIn(b"mugai-worker: sandbox: fds closed;", res.stderr)
        self.assertIn(b"seccomp allowlist (kill", res.stderr)
        with open(dst, "rb") as f:
            self.assertIn(("body " + tok).encode(), f.read())

    def test_mugaictl_sanitize_names_the_file_when_the_worker_fails(self):
        _sink, gw = self.start()
        src = os.path.join(gw.workdir, "slow.eml")
        with open(src, "wb") as f:
            f.write(html_message(token(), 12))
        res = run_ctl(gw, "sanitize", src, os.path.join(gw.workdir, "out.eml"), sets={"workers.timeout": "1"})
        self.assertEqual(res.returncode, 1, res.stderr.decode())
        self.assertIn(("cannot sanitize '%s': timeout after 1 s" % src).encode(), res.stderr)


if __name__ == "__main__":
    unittest.main()
