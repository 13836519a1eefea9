# The metrics endpoint of the real gateway: mail sent over SMTP to a real sink, then /metrics scraped
# over HTTP and read by prometheus_client's own text parser; every counter is checked against what the
# test sent. Also /healthz, /readyz (ready, then naming the next hop once the sink is gone), the client
# allowlist, the request and connection bounds, the methods, a killed worker counted as a crash and a
# restart, TLS sessions in and out, metrics.listen = "" serving nothing, and a port already taken failing the start.
# Needs Debian's python3-prometheus-client: run with /usr/bin/python3.
import http.client
import os
import shutil
import signal
import smtplib
import socket
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import harness
from harness import (DOMAIN, RCPT, SENDER, GatewayCase, make_cert, RawClient, mail_with, port_open, send_smtplib, smtp_hop, text_message,
                     token, wait_until)
from test_render_pdf import pdf, stream
from test_tls import insecure_context
from test_workers import worker_pids

DEFER_RCPT = "later@" + DOMAIN
PAGES = 2


def two_page_pdf():
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 6 0 R >> >> /Contents 5 0 R >>"
    return pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>", page, page,
                stream(b"BT /F1 14 Tf 72 720 Td (metrics page) Tj ET"),
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def fake_exe():
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00" + b"\x00" * 400


def get(port, path, method="GET"):
    """(status, headers, body) of one request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path)
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read()
    finally:
        conn.close()


def scrape(port):
    """{sample name: {frozenset(labels): value}} from /metrics, as prometheus_client parses it."""
    status, headers, body = get(port, "/metrics")
    assert status == 200, status
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get(name, {}).get(frozenset(labels.items()), 0)


class MetricsTest(GatewayCase):
    def setUp(self):
        self.sink_ = self.sink(rcpt_replies={DEFER_RCPT: "451 4.3.0 try again later"})
        self.gw = self.gateway({"delivery.next_hop": smtp_hop(self.sink_.port), "metrics.ready_interval": '"1s"',
                                "delivery.retry_first": '"1h"', "workers.count": "1",
                                # Small bounds, so the tests below cross them.
                                "metrics.max_connections": "4", "metrics.max_request_size": '"2KiB"',
                                "metrics.timeout": '"2s"'})

    def test_counters_match_what_was_sent(self):
        clean = 3
        for i in range(clean):
            send_smtplib(self.gw.port, text_message("clean %d %s" % (i, token()), "body"))
        send_smtplib(self.gw.port, mail_with(token(), [(two_page_pdf(), "application/pdf", "doc.pdf")]))
        send_smtplib(self.gw.port, mail_with(token(), [(fake_exe(), "application/octet-stream", "tool.exe")]))
        send_smtplib(self.gw.port, text_message("deferred " + token(), "body", to=DEFER_RCPT), rcpts=(DEFER_RCPT,))
        c = RawClient(self.gw.port)
        c.reply()
        c.command("EHLO client.example.org")
        c.command("MAIL FROM:<sender@example.org>")
        code, _ = c.command("RCPT TO:<someone@elsewhere.example>")
        self.assertEqual(code // 100, 5)
        c.command("QUIT")
        c.sock.close()
        delivered = clean + 2
        self.sink_.wait_count(delivered, 60)
        sent = clean + 3

        def settled():
            # Delivered ones leave the spool just after they are counted; the deferred one stays.
            s = scrape(self.gw.metrics_port)
            done = (value(s, "mugai_messages_deferred_total") >= 1 and
                    value(s, "mugai_messages_delivered_total") >= delivered and
                    value(s, "mugai_queue_messages", stage="spool") == 1)
            return s if done else None
        m = wait_until(settled, 30)
        self.assertTrue(m, self.gw.log_text()[-3000:])

        self.assertEqual(value(m, "mugai_messages_accepted_total"), sent)
        self.assertEqual(value(m, "mugai_messages_delivered_total"), delivered)
        self.assertEqual(value(m, "mugai_messages_deferred_total"), 1)
        self.assertEqual(value(m, "mugai_messages_bounced_total"), 0)
        self.assertEqual(sum(m.get("mugai_messages_held_total", {}).values()), 0)
        self.assertEqual(value(m, "mugai_parts_total", type="application/pdf", decision="rendered"), 1)
        self.assertEqual(value(m, "mugai_parts_total", type="executable", decision="removed"), 1)
        # Every message has its text/plain body; the two with attachments too.
        self.assertEqual(value(m, "mugai_parts_total", type="text/plain", decision="kept"), sent)
        self.assertEqual(value(m, "mugai_render_pages_total"), PAGES)
        self.assertEqual(value(m, "mugai_render_page_seconds_count"), PAGES)
        self.assertEqual(value(m, "mugai_render_page_seconds_bucket", le="+Inf"), PAGES)
        self.assertEqual(value(m, "mugai_sanitize_seconds_count"), sent)
        self.assertEqual(value(m, "mugai_delivery_latency_seconds_count"), delivered)
        self.assertGreater(value(m, "mugai_sanitize_seconds_sum"), 0)
        self.assertEqual(value(m, "mugai_smtp_replies_total", **{"class": "5xx"}), 1)
        self.assertGreater(value(m, "mugai_smtp_replies_total", **{"class": "2xx"}), 0)
        for name in ("mugai_worker_crashes_total", "mugai_worker_timeouts_total", "mugai_worker_restarts_total"):
            self.assertEqual(value(m, name), 0, name)
        self.assertEqual(sum(m.get("mugai_tls_sessions_total", {}).values()), 0)
        # The deferred message waits for its retry timer, and is the only one left in the spool.
        self.assertEqual(value(m, "mugai_queue_messages", stage="deferred"), 1)
        self.assertEqual(value(m, "mugai_queue_messages", stage="spool"), 1)
        self.assertGreaterEqual(value(m, "mugai_queue_oldest_message_age_seconds"), 0)
        self.assertEqual(value(m, "mugai_workers_busy"), 0)
        self.assertEqual(m["mugai_build_info"], {frozenset({("version", "0.1.0")}): 1})
        # Buckets are cumulative and end at the count.
        buckets = sorted((float(dict(k)["le"]), v) for k, v in m["mugai_sanitize_seconds_bucket"].items())
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(buckets[-1], (float("inf"), sent))

    def test_health_and_readiness(self):
        self.assertEqual(get(self.gw.metrics_port, "/healthz")[:1], (200,))
        status, _, body = get(self.gw.metrics_port, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))
        self.sink_.stop()
        time.sleep(1.5)  # past metrics.ready_interval: the probe runs, and fails
        status, _, body = get(self.gw.metrics_port, "/readyz")
        self.assertEqual(status, 503)
        lines = body.decode().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("next_hop: 127.0.0.1:%d " % self.sink_.port), lines)
        self.sink_.start()
        status, _, body = get(self.gw.metrics_port, "/readyz")
        self.assertEqual((status, body), (200, b"ready\n"))

    def test_methods_paths_and_bounds(self):
        port = self.gw.metrics_port
        self.assertEqual(get(port, "/metrics", "POST")[0], 405)
        self.assertEqual(get(port, "/nowhere")[0], 404)
        status, headers, body = get(port, "/metrics", "HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(headers["Content-Length"]), 0)
        # A request head within metrics.max_request_size (2 KiB here) is served; one past it is refused unread.
        def head_of(pad):
            with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * pad + b"\r\n\r\n")
                return s.recv(4096)
        self.assertTrue(head_of(1500).startswith(b"HTTP/1.1 200 "))
        answer = head_of(3000)
        self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer)
        self.assertIn(b"metrics.max_request_size", answer)

    def test_a_silent_client_is_closed_after_the_timeout(self):
        with socket.create_connection(("127.0.0.1", self.gw.metrics_port), timeout=15) as s:
            started = time.monotonic()
            self.assertEqual(s.recv(4096), b"")  # closed unanswered: nothing whole came within metrics.timeout
            waited = time.monotonic() - started
        self.assertGreater(waited, 1.5)
        self.assertLess(waited, 10)

    def test_connections_past_the_bound_are_closed_unread(self):
        port = self.gw.metrics_port
        idle = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(4)]  # metrics.max_connections
        try:
            time.sleep(0.3)  # every one accepted and waiting for its request
            with socket.create_connection(("127.0.0.1", port), timeout=15) as extra:
                extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                try:
                    answer = extra.recv(4096)
                except ConnectionResetError:
                    answer = b""
            self.assertEqual(answer, b"")
        finally:
            for s in idle:
                s.close()

        def served():
            # The server may accept this one before it has seen the others' ends: then it is closed too.
            try:
                return get(port, "/healthz")[0] == 200
            except (ConnectionError, http.client.RemoteDisconnected):
                return False
        self.assertTrue(wait_until(served, 5))

    def test_worker_crash_and_restart_are_counted(self):
        (pid,) = worker_pids(self.gw)
        os.kill(pid, signal.SIGKILL)

        def counted():
            s = scrape(self.gw.metrics_port)
            return s if value(s, "mugai_worker_restarts_total") == 1 else None
        m = wait_until(counted, 10)
        self.assertTrue(m, self.gw.log_text()[-2000:])
        self.assertEqual(value(m, "mugai_worker_crashes_total"), 1)
        self.assertEqual(value(m, "mugai_worker_timeouts_total"), 0)


class TlsCountTest(GatewayCase):
    def test_tls_sessions_in_and_out(self):
        tmp = tempfile.mkdtemp(prefix="mugai-metrics-tls-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cert, key = make_cert(tmp)
        sink = self.sink(tls=(cert, key))
        gw = self.gateway({"delivery.next_hop": smtp_hop(sink.port), "smtp.tls_cert": '"%s"' % cert,
                           "smtp.tls_key": '"%s"' % key, "delivery.tls": '"may"'})
        tok = token()
        with smtplib.SMTP("127.0.0.1", gw.port, timeout=30) as s:
            s.starttls(context=insecure_context())
            s.sendmail(SENDER, [RCPT], text_message("tls " + tok, tok))
        self.assertTrue(sink.wait_for(tok, 20), gw.log_text()[-3000:])
        m = scrape(gw.metrics_port)
        self.assertEqual(value(m, "mugai_tls_sessions_total", direction="in"), 1)
        self.assertEqual(value(m, "mugai_tls_sessions_total", direction="out"), 1)


class AccessTest(GatewayCase):
    def test_client_outside_the_networks_is_refused(self):
        gw = self.gateway({"metrics.client_networks": '["10.0.0.0/8"]'})
        for _ in range(2):
            with self.assertRaises((ConnectionError, http.client.RemoteDisconnected)):
                get(gw.metrics_port, "/healthz")
        events = wait_until(lambda: gw.events("metrics-refused"), 5)
        self.assertEqual([e["client"] for e in events], ["127.0.0.1"])  # logged once

    def test_empty_listen_serves_nothing(self):
        gw = self.gateway({"metrics.listen": '""'})
        self.assertFalse(port_open(gw.metrics_port))
        self.assertFalse(gw.events("metrics-listen"))

    def test_bind_failure_names_the_key(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            gw = harness.Gateway({"metrics.listen": '"127.0.0.1:%d"' % taken.getsockname()[1]})
            with self.assertRaises(RuntimeError) as e:
                gw.start()
            self.assertIn("metrics.listen: cannot listen on", str(e.exception))


if __name__ == "__main__":
    unittest.main()
