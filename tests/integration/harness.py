# Shared machinery for the integration tests: runs the real mugai-gateway in a private temp dir on a
# free port, a threaded SMTP sink that records what it receives, and small raw-SMTP helpers.
"""Integration-test harness (python3 stdlib only)."""

import contextlib
import email
import email.policy
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("MUGAI_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
BIN_DIR = os.environ.get("MUGAI_BIN", os.path.join(SOURCE_DIR, "build", "bin"))
GATEWAY = os.path.join(BIN_DIR, "mugai-gateway")
MUGAICTL = os.path.join(BIN_DIR, "mugaictl")
DOMAIN = "demo.mugai.test"
RCPT = "user@" + DOMAIN
SENDER = "sender@example.org"
QUEUED_RE = re.compile(rb"^250 2\.0\.0 Ok: queued as (\S+)")
# What ASan/UBSan/LSan print when the gateway is built with -DMUGAI_SANITIZE=address,undefined.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def free_port():
    """A TCP port nobody listens on right now (bind to 0 and release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, interval=0.05):
    """Polls predicate() until it is truthy; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def token():
    """A unique marker to find one message among many."""
    return "tok-" + uuid.uuid4().hex


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def files_under(path):
    """Every regular file below path (recursive), sorted."""
    found = []
    for root, _dirs, names in os.walk(path):
        found.extend(os.path.join(root, n) for n in names)
    return sorted(found)


def toml_string(value):
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


# --------------------------------------------------------------------------------------------
# The gateway under test


class Gateway:
    """mugai-gateway in its own temp dir. `overrides` are section.key -> TOML value text.

    Unless `defaults` is true, spool/quarantine live in the temp dir and logs are JSON; the working
    directory is always the temp dir so the embedded default's relative paths land there too.
    """

    def __init__(self, overrides=None, defaults=False):
        self.workdir = tempfile.mkdtemp(prefix="mugai-it-")
        self.port = free_port()
        self.spool_dir = os.path.join(self.workdir, "spool")
        self.quarantine_dir = os.path.join(self.workdir, "quarantine")
        self.maildir = os.path.join(self.workdir, "var", "maildir")
        self.log_path = os.path.join(self.workdir, "gateway.log")
        # Every gateway under test serves its metrics too, each on a port of its own.
        self.metrics_port = free_port()
        sets = {"smtp.listen": '["127.0.0.1:%d"]' % self.port,
                "metrics.listen": '"127.0.0.1:%d"' % self.metrics_port}
        if not defaults:
            sets.update({
                "spool.dir": toml_string(self.spool_dir),
                "quarantine.dir": toml_string(self.quarantine_dir),
                "log.format": '"json"',
                "smtp.hostname": '"mx.mugai.test"',
            })
        else:
            self.spool_dir = os.path.join(self.workdir, "var", "spool")
            self.quarantine_dir = os.path.join(self.workdir, "var", "quarantine")
        sets.update(overrides or {})
        self.sets = sets
        self.proc = None
        self._log = None

    def argv(self):
        args = [GATEWAY]
        for key, value in self.sets.items():
            args += ["--set", "%s=%s" % (key, value)]
        return args

    def start(self, timeout=10):
        if not os.access(GATEWAY, os.X_OK):
            raise RuntimeError("no gateway binary at %s (set MUGAI_BIN)" % GATEWAY)
        self._close_log()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv(), cwd=self.workdir, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=self._log)
        problem = None
        try:
            if not wait_until(self._accepting, timeout):
                problem = "did not accept on port %d within %ss" % (self.port, timeout)
        except ChildProcessError as e:
            problem = str(e)
        if problem:
            # the error carries the log, so nothing is lost by removing the dir (tearDown may not run)
            log = self.log_text()
            self.kill()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise RuntimeError("gateway %s; log:\n%s" % (problem, log))
        return self

    def _accepting(self):
        if self.proc.poll() is not None:
            raise ChildProcessError("exited with %s" % self.proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.settimeout(2)
                greeting = s.recv(4096)
                if greeting.startswith(b"220"):
                    # leave cleanly so the probe does not hold a connection slot
                    s.sendall(b"QUIT\r\n")
                    while s.recv(4096):
                        pass
                return greeting[:1].isdigit()  # any reply (even a refusal) means it is serving
        except OSError:
            return False

    def terminate(self, timeout=30):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        try:
            if self.proc is None:
                return None
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    return self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    return None
            return self.proc.returncode
        finally:
            self._close_log()

    def kill(self):
        """kill -9, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def _close_log(self):
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, timeout=10):
        """A new process on the same port, spool and quarantine (after terminate() or kill())."""
        return self.start(timeout)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def events(self, name=None):
        """JSON log lines (other lines are skipped), optionally only those with event == name."""
        out = []
        for line in self.log_text().splitlines():
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if name is None or ev.get("event") == name:
                out.append(ev)
        return out

    def wait_event(self, name, timeout, **match):
        """The first logged event `name` whose fields equal `match`, or None after timeout."""
        def find():
            for ev in self.events(name):
                if all(ev.get(k) == v for k, v in match.items()):
                    return ev
            return None
        return wait_until(find, timeout, 0.1)

    def spool_files(self):
        return files_under(self.spool_dir)

    def queued_files(self):
        """Complete spool files (Spool writes under tmp/ and renames into queue/)."""
        return files_under(os.path.join(self.spool_dir, "queue"))

    def queued_ids(self):
        """Ids of the queued messages (a sanitized one has its .clean and .raw files until delivered)."""
        return sorted({os.path.basename(p).split(".")[0] for p in self.queued_files()})

    def maildir_messages(self, rcpt):
        """Bytes of each message in maildir/<rcpt>/new/."""
        new = os.path.join(self.maildir, rcpt, "new")
        if not os.path.isdir(new):
            return []
        return [read_bytes(p) for p in files_under(new)]

    def cleanup(self):
        """Stops the gateway (SIGTERM, so leak checkers run) and removes the temp dir, unless a
        sanitizer reported something: then the dir is kept and the report fails the test."""
        self.terminate(timeout=10)
        log = self.log_text()
        found = [m for m in SANITIZER_MARKERS if m in log]
        if found:
            raise AssertionError("sanitizer report in %s:\n%s" % (self.log_path, log[-4000:]))
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


# --------------------------------------------------------------------------------------------
# A recording SMTP sink


class Received:
    """One transaction the sink accepted."""

    def __init__(self, mail_from, rcpts, data, tls):
        self.mail_from = mail_from
        self.rcpts = rcpts
        self.data = data          # bytes, dot-unstuffed, CRLF line ends as sent
        self.tls = tls

    def message(self):
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def text(self):
        return self.data.decode("utf-8", "replace")


class Sink:
    """A threaded SMTP server recording every accepted transaction.

    Replies can be scripted: `rcpt_replies` maps a lower-cased recipient to a reply line
    ("550 5.1.1 no such user"), `data_reply` replaces the final 250 after DATA. With `tls` =
    (certfile, keyfile) it offers STARTTLS. stop()/start() take it down and up on the same port.
    `data_delay` seconds pass before the reply to the end of data (to hold sessions open), and
    `stall` never greets (a next hop that accepted the connection and hung). It counts connections
    (`connections`) and the most open at once (`peak`).
    """

    def __init__(self, port=None, tls=None, rcpt_replies=None, data_reply=None, data_delay=0, stall=False):
        self.port = port or free_port()
        self.tls = tls
        self.rcpt_replies = {k.lower(): v for k, v in (rcpt_replies or {}).items()}
        self.data_reply = data_reply
        self.data_delay = data_delay
        self.stall = stall
        self.connections = 0
        self.peak = 0
        self._open = 0
        self.received = []
        self._cond = threading.Condition()
        self._server = None
        self._thread = None

    def start(self):
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 60

            def handle(self):
                sink._session(self)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            request_queue_size = 128

            def handle_error(self, request, client_address):
                pass  # a peer killed mid-session (the durability test does that) is not news

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def messages(self):
        with self._cond:
            return list(self.received)

    def wait_count(self, n, timeout):
        """Waits until at least n transactions arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.received)

    def find(self, marker):
        """Transactions whose data contains marker (str)."""
        m = marker.encode()
        return [r for r in self.messages() if m in r.data]

    def wait_for(self, marker, timeout):
        return wait_until(lambda: self.find(marker), timeout, 0.05)

    def _session(self, h):
        tls_conn = []
        with self._cond:
            self.connections += 1
            self._open += 1
            self.peak = max(self.peak, self._open)
        try:
            if self.stall:
                h.rfile.read()  # until the client gives up and closes
                return
            self._converse(h, tls_conn)
        finally:
            with self._cond:
                self._open -= 1
            for conn in tls_conn:
                conn.close()

    def _converse(self, h, tls_conn):
        rfile, wfile = h.rfile, h.wfile
        state = {"tls": False, "from": None, "rcpts": []}

        def send(line):
            wfile.write(line.encode() + b"\r\n")
            wfile.flush()

        send("220 sink.test ESMTP python-sink")
        while True:
            raw = rfile.readline(4096)
            if not raw:
                return
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                if verb == "HELO":
                    send("250 sink.test")
                    continue
                ext = ["PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SIZE 104857600"]
                if self.tls and not state["tls"]:
                    ext.append("STARTTLS")
                send("250-sink.test")
                for i, e in enumerate(ext):
                    send(("250 " if i == len(ext) - 1 else "250-") + e)
            elif verb == "STAR" and self.tls and not state["tls"]:
                send("220 2.0.0 go ahead")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(*self.tls)
                conn = ctx.wrap_socket(h.connection, server_side=True)
                tls_conn.append(conn)
                rfile, wfile = conn.makefile("rb"), conn.makefile("wb")
                state.update({"tls": True, "from": None, "rcpts": []})
            elif verb == "MAIL":
                m = re.match(r"(?i)MAIL FROM:\s*<([^>]*)>", line)
                state["from"], state["rcpts"] = (m.group(1) if m else line), []
                send("250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"(?i)RCPT TO:\s*<([^>]*)>", line)
                rcpt = m.group(1) if m else line
                scripted = self.rcpt_replies.get(rcpt.lower())
                if scripted:
                    send(scripted)
                else:
                    state["rcpts"].append(rcpt)
                    send("250 2.1.5 Ok")
            elif verb == "DATA":
                if state["from"] is None or not state["rcpts"]:
                    send("503 5.5.1 no valid recipients")
                    continue
                send("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    dl = rfile.readline(1 << 20)
                    if not dl:
                        return
                    if dl == b".\r\n":
                        break
                    chunks.append(dl[1:] if dl.startswith(b".") else dl)
                if self.data_delay:
                    time.sleep(self.data_delay)
                if self.data_reply:
                    send(self.data_reply)
                else:
                    with self._cond:
                        self.received.append(Received(state["from"], list(state["rcpts"]),
                                                      b"".join(chunks), state["tls"]))
                        self._cond.notify_all()
                    send("250 2.0.0 Ok: stored")
                state["from"], state["rcpts"] = None, []
            elif verb == "RSET":
                state["from"], state["rcpts"] = None, []
                send("250 2.0.0 Ok")
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            else:
                send("502 5.5.2 command not implemented")


# --------------------------------------------------------------------------------------------
# Postfix smtp-sink as an alternative next hop


class PostfixSink:
    """/usr/sbin/smtp-sink dumping each transaction into a file under dump_dir."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.dump_dir = tempfile.mkdtemp(prefix="mugai-smtpsink-")
        os.chmod(self.dump_dir, 0o777)  # smtp-sink drops to `nobody` when run as root
        self.proc = None

    def start(self):
        args = ["/usr/sbin/smtp-sink", "-d", os.path.join(self.dump_dir, "%Y%m%d%H%M%S.")]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]
        args += ["127.0.0.1:%d" % self.port, "64"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_until(lambda: port_open(self.port), 5):
            self.stop()
            raise RuntimeError("smtp-sink did not start")
        return self

    def dumps(self):
        return [read_bytes(p) for p in files_under(self.dump_dir)]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        shutil.rmtree(self.dump_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def make_cert(directory):
    """A throwaway self-signed certificate for localhost: (cert path, key path)."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-subj", "/CN=localhost", "-days", "2", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def smtp_hop(port):
    """A delivery.next_hop / delivery.bounce override pointing at a local sink."""
    return '"smtp://127.0.0.1:%d"' % port


class GatewayCase(unittest.TestCase):
    """Sinks and gateways started per test, each stopped by addCleanup even when the test fails."""

    def sink(self, **kw):
        s = Sink(**kw).start()
        self.addCleanup(s.stop)
        return s

    def gateway(self, sets):
        gw = Gateway(sets).start()
        self.addCleanup(gw.cleanup)
        return gw


class RelayToSinkCase(unittest.TestCase):
    """One gateway relaying to one sink, shared by every test of the class; OVERRIDES adds settings,
    SINK_TLS makes the sink offer STARTTLS with a throwaway certificate, SINK_RCPT_REPLIES scripts its
    RCPT replies (see Sink)."""
    OVERRIDES = {}
    SINK_TLS = False
    SINK_RCPT_REPLIES = None

    @classmethod
    def setUpClass(cls):
        cls.sink_dir = tempfile.mkdtemp(prefix="mugai-sink-")
        cls.sink = Sink(tls=make_cert(cls.sink_dir) if cls.SINK_TLS else None,
                        rcpt_replies=cls.SINK_RCPT_REPLIES).start()
        sets = {"delivery.next_hop": smtp_hop(cls.sink.port)}
        sets.update(cls.OVERRIDES)
        cls.gw = Gateway(sets).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.sink.stop()
        shutil.rmtree(cls.sink_dir, ignore_errors=True)


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# Raw SMTP client


class RawClient:
    """A plain socket speaking SMTP byte by byte, for what smtplib would normalize away."""

    def __init__(self, port, source_ip=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source_ip, 0) if source_ip else None)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; unread: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One (possibly multi-line) reply as (code, [lines])."""
        lines = [self._line()]
        while len(lines[-1]) > 3 and lines[-1][3:4] == b"-":
            lines.append(self._line())
        return int(lines[0][:3]), lines

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def command(self, cmd):
        self.send(cmd + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True when the peer closes (EOF or reset) within timeout and sent nothing more."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def starttls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def first_line(reply):
    """'550 5.7.1 ...' text of a (code, lines) reply."""
    return reply[1][0].decode("utf-8", "replace")


def queue_id(reply_line):
    m = QUEUED_RE.match(reply_line if isinstance(reply_line, bytes) else reply_line.encode())
    return m.group(1).decode() if m else None


# --------------------------------------------------------------------------------------------
# Messages


def text_message(subject, body, mail_from=SENDER, to=RCPT):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
            "Message-ID: <%s@example.org>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n\r\n%s\r\n"
            % (mail_from, to, subject, uuid.uuid4().hex, body)).encode()


SECURITY_KEYS = ("quarantine.release_requires_approval", "quarantine.approvers", "quarantine.release_to_others",
                 "quarantine.notify", "admin.")


@contextlib.contextmanager
def audit_record_edited(gw):
    """The audit log with its second record's operator edited, as someone without the key would; put back
    afterwards, since a test class shares its gateway's log."""
    path = os.path.join(gw.quarantine_dir, "audit.log")
    with open(path, "rb") as f:
        original = f.read()
    lines = original.split(b"\n")
    lines[1] = lines[1].replace(b'"operator":"', b'"operator":"x', 1)
    with open(path, "wb") as f:
        f.write(b"\n".join(lines))
    try:
        yield
    finally:
        with open(path, "wb") as f:
            f.write(original)


def run_ctl_args(gw, *args, user=None, sets=None):
    """mugaictl's argv with the gateway's settings (but its security ones), as `user` (runuser) if given."""
    argv = [MUGAICTL] + list(args)
    for key, value in dict(gw.sets, **(sets or {})).items():
        if not key.startswith(SECURITY_KEYS):
            argv += ["--set", "%s=%s" % (key, value)]
    return ["runuser", "-u", user, "--"] + argv if user else argv


def run_ctl(gw, *args, user=None, sets=None):
    return subprocess.run(run_ctl_args(gw, *args, user=user, sets=sets), capture_output=True, timeout=60, cwd=gw.workdir)


def send_smtplib(port, message, mail_from=SENDER, rcpts=(RCPT,), timeout=30):
    """Sends one message with smtplib; returns the queue id from the final 250 reply."""
    import smtplib
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
        s.ehlo("client.example.org")
        code, msg = s.mail(mail_from)
        assert code == 250, (code, msg)
        for r in rcpts:
            code, msg = s.rcpt(r)
            assert code == 250, (r, code, msg)
        code, msg = s.data(message)
        assert code == 250, (code, msg)
        qid = queue_id(b"250 " + msg)
        assert qid, msg
        return qid


def mail_with(tok, attachments, subject="資料の送付", text="お世話になっております。資料を添付します。"):
    """A Japanese business mail marked with `tok` (in Subject, Message-ID and body) carrying
    `attachments`, each (bytes, "type/subtype", filename)."""
    from email.message import EmailMessage
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = RCPT
    msg["Subject"] = subject + " " + tok
    msg["Message-ID"] = "<%s@example.org>" % tok
    msg.set_content(text + "\n" + tok + "\n")
    for data, ctype, name in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(policy=email.policy.SMTP)


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def dsn_status_fields(msg):
    """Per-recipient fields (lower-case keys) of a DSN's message/delivery-status part."""
    for part in msg.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            blocks = []
            if isinstance(payload, list):  # the email package parses it as a list of header blocks
                for block in payload:
                    blocks.append({k.lower(): str(v) for k, v in block.items()})
            else:
                for chunk in re.split(r"\r?\n\r?\n", str(payload)):
                    fields = dict(re.findall(r"(?m)^([A-Za-z-]+):\s*(.*?)\s*$", chunk))
                    blocks.append({k.lower(): v for k, v in fields.items()})
            return [b for b in blocks if "final-recipient" in b]
    return []
