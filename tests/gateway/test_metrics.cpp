// Tests of the metrics text writer: HELP/TYPE lines, label values escaped, unknown label values counted
// as "other", cumulative histogram buckets with +Inf, _sum and _count, and the report and reply parsers
// that feed the registry (hostile report fields read as absent).
#include <doctest/doctest.h>

#include <string>

#include "gateway/metrics.hpp"

using namespace mugai::metrics;

namespace {
std::string text(const Family& f) {
  std::string out;
  f.write(out);
  return out;
}
}  // namespace

TEST_CASE("metrics: a counter's HELP and TYPE lines, and its value") {
  Metric m("mugai_x_total", "Things, with a \\ and a\nline feed.", false);
  m.inc();
  m.inc({}, 4);
  CHECK(text(m) == "# HELP mugai_x_total Things, with a \\\\ and a\\nline feed.\n"
                   "# TYPE mugai_x_total counter\nmugai_x_total 5\n");
}

TEST_CASE("metrics: label values are escaped, and a value not listed is the last one") {
  Metric m("mugai_y_total", "Y.", false, {{"kind"}, {{"a\"b\\c\nd", "other"}}});
  m.inc({"a\"b\\c\nd"});
  m.inc({"something the mail said"}, 2);
  m.inc({"another"});
  CHECK(text(m) == "# HELP mugai_y_total Y.\n# TYPE mugai_y_total counter\n"
                   "mugai_y_total{kind=\"a\\\"b\\\\c\\nd\"} 1\nmugai_y_total{kind=\"other\"} 3\n");
  CHECK(escape_label_value("plain") == "plain");
}

TEST_CASE("metrics: two labels, zero series of a counter left out, every series of a gauge written") {
  Metric c("mugai_c_total", "C.", false, {{"a", "b"}, {{"x", "y"}, {"1", "2"}}});
  c.inc({"y", "1"});
  CHECK(text(c) == "# HELP mugai_c_total C.\n# TYPE mugai_c_total counter\nmugai_c_total{a=\"y\",b=\"1\"} 1\n");
  Metric g("mugai_g", "G.", true, {{"stage"}, {{"ready", "active"}}});
  g.set({"active"}, 7);
  CHECK(text(g) == "# HELP mugai_g G.\n# TYPE mugai_g gauge\nmugai_g{stage=\"ready\"} 0\nmugai_g{stage=\"active\"} 7\n");
}

TEST_CASE("metrics: histogram buckets are cumulative, a value on a bound falls in it, +Inf holds all") {
  Histogram h("mugai_h_seconds", "H.", {0.5, 1, 2.5});
  h.observe(0.1);
  h.observe(1);  // le="1"
  h.observe(2);
  h.observe(100);
  CHECK(h.count() == 4);
  CHECK(text(h) == "# HELP mugai_h_seconds H.\n# TYPE mugai_h_seconds histogram\n"
                   "mugai_h_seconds_bucket{le=\"0.5\"} 1\nmugai_h_seconds_bucket{le=\"1\"} 2\n"
                   "mugai_h_seconds_bucket{le=\"2.5\"} 3\nmugai_h_seconds_bucket{le=\"+Inf\"} 4\n"
                   "mugai_h_seconds_sum 103.1\nmugai_h_seconds_count 4\n");
  CHECK_THROWS(Histogram("mugai_bad", "B.", {1, 1}));
}

TEST_CASE("metrics: values as the format spells them") {
  CHECK(format_value(3) == "3");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
}

TEST_CASE("metrics: part types come from a fixed list") {
  CHECK(part_type_label("application/pdf") == "application/pdf");
  CHECK(part_type_label("application/x-dosexec") == "executable");
  CHECK(part_type_label("application/x-\"made-up\"") == "other");
}

TEST_CASE("metrics: held reasons are classes, never the reason's text") {
  CHECK(held_reason(true, "rejected by policy: reject application/x-dosexec (part 2)") == "rejected");
  CHECK(held_reason(false, "policy: quarantine application/pdf (part 2)") == "policy");
  CHECK(held_reason(false, "limit exceeded: max_parts (201 parts)") == "limit");
  CHECK(held_reason(false, "unparseable: boundary") == "unparseable");
  CHECK(held_reason(false, "anything at all") == "other");
}

TEST_CASE("metrics: reply classes are counted from final reply lines only") {
  Registry r;
  r.count_smtp_replies("250-mx.test\r\n250-PIPELINING\r\n250 SIZE 1\r\n550 5.7.1 no\r\n421\r\n");
  CHECK(r.smtp_replies.value({"2xx"}) == 1);
  CHECK(r.smtp_replies.value({"5xx"}) == 1);
  CHECK(r.smtp_replies.value({"4xx"}) == 1);
}

TEST_CASE("metrics: a report's parts and pages; fields of the wrong kind read as absent") {
  Registry r;
  r.count_report(R"({"parts":[
      {"detected_type":"text/plain","decision":"kept","sanitizer":"text_plain","pages":0,"timing_us":5},
      {"detected_type":"application/pdf","decision":"replaced","sanitizer":"pdf_render","pages":3,"timing_us":300000},
      {"detected_type":"text/html","decision":"replaced","sanitizer":"html_text"},
      {"detected_type":"application/x-dosexec","decision":"removed","sanitizer":"strip"},
      {"detected_type":"multipart/mixed","decision":"container"},
      {"detected_type":7,"decision":"removed","pages":"many"},
      "not a row"]})");
  CHECK(r.parts.value({"text/plain", "kept"}) == 1);
  CHECK(r.parts.value({"application/pdf", "rendered"}) == 1);
  CHECK(r.parts.value({"text/html", "converted"}) == 1);
  CHECK(r.parts.value({"executable", "removed"}) == 1);
  CHECK(r.parts.value({"other", "removed"}) == 1);
  CHECK(r.render_pages.value() == 3);
  CHECK(r.render_page_seconds.count() == 3);
  r.count_report("not json");
  r.count_report(R"({"parts":{"x":1}})");
  CHECK(r.render_pages.value() == 3);
}

TEST_CASE("metrics: the registry's exposition names every metric once, build_info included") {
  Registry r;
  const std::string all = r.exposition();
  CHECK(all.find("# TYPE mugai_build_info gauge\nmugai_build_info{version=\"") != std::string::npos);
  CHECK(all.find("# TYPE mugai_messages_accepted_total counter\n") != std::string::npos);
  CHECK(all.find("# TYPE mugai_delivery_latency_seconds histogram\n") != std::string::npos);
}
