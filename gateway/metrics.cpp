// The metrics registry and its text exposition (see metrics.hpp). Relaxed atomics throughout: a scrape
// needs each value to be one that was true at some moment, not a snapshot consistent across metrics.
#include "gateway/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "common/json.hpp"
#include "common/version.hpp"
#include "sanitizers/detect.hpp"
#include "sanitizers/policy.hpp"

namespace mugai::metrics {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::string_view find_or_last(const std::vector<std::string>& values, std::string_view v, std::size_t& index) {
  const auto it = std::find(values.begin(), values.end(), v);
  index = it == values.end() ? values.size() - 1 : static_cast<std::size_t>(it - values.begin());
  return values[index];
}

std::string sample_labels(const Labels& labels, std::size_t cell) {
  if (labels.names.empty()) return "";
  // Cells are numbered with the first label varying slowest.
  std::vector<std::size_t> index(labels.names.size());
  for (std::size_t i = labels.names.size(); i-- > 0;) {
    index[i] = cell % labels.values[i].size();
    cell /= labels.values[i].size();
  }
  std::string out = "{";
  for (std::size_t i = 0; i < labels.names.size(); ++i) {
    if (i) out += ',';
    out += labels.names[i] + "=\"" + escape_label_value(labels.values[i][index[i]]) + "\"";
  }
  return out + "}";
}

// The report comes from a sandboxed worker that hostile bytes may have taken over: a field of the wrong
// kind reads as absent, never as an exception.
std::string text_field(const json::Value& row, const char* key) {
  const auto it = row.find(key);
  return it != row.end() && it->is_string() ? it->get<std::string>() : std::string();
}
std::int64_t number_field(const json::Value& row, const char* key) {
  const auto it = row.find(key);
  return it != row.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::vector<std::string> list(std::initializer_list<std::string_view> values) {
  return {values.begin(), values.end()};
}

// Seconds, for latencies from milliseconds to hours (queue latency) or to tens of seconds (sanitizing).
std::vector<double> short_buckets() { return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}; }
std::vector<double> long_buckets() { return {0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400}; }

// The part types named in metrics: what the default rules act on (policy.hpp), and "executable".
const std::vector<std::string>& part_types() {
  static const std::vector<std::string> types = [] {
    std::vector<std::string> t{"text/plain", "text/html", "application/pdf", "image/jpeg", "image/png", "image/gif",
                               "image/bmp", "image/tiff", "image/webp", "application/msword",
                               "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
                               "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                               "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                               "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                               "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet",
                               "application/vnd.oasis.opendocument.presentation", "text/rtf", "image/svg+xml",
                               "message/rfc822"};
    for (auto a : sanitize::kArchiveTypes) t.emplace_back(a);
    t.emplace_back("executable");
    t.emplace_back("other");
    return t;
  }();
  return types;
}

// The report's decisions as metrics name them: a part replaced by a renderer was rendered, by anything
// else converted. Structural rows (containers, inlined and unpacked archives) are not parts here.
std::string_view decision_label(std::string_view decision, std::string_view sanitizer) {
  if (decision == "kept") return "kept";
  if (decision == "removed") return "removed";
  if (decision == "replaced") return sanitizer.ends_with("_render") ? "rendered" : "converted";
  return "";
}

}  // namespace

Family::Family(std::string name, std::string help, std::string_view type)
    : name_(std::move(name)), help_(std::move(help)), type_(type) {}

void Family::write(std::string& out) const {
  // HELP text escapes backslash and line feed only (the format's rule for docstrings).
  std::string help;
  for (char c : help_) {
    if (c == '\\') help += "\\\\";
    else if (c == '\n') help += "\\n";
    else help += c;
  }
  out += "# HELP " + name_ + " " + help + "\n# TYPE " + name_ + " " + std::string(type_) + "\n";
  write_samples(out);
}

Metric::Metric(std::string name, std::string help, bool gauge, Labels labels)
    : Family(std::move(name), std::move(help), gauge ? "gauge" : "counter"), labels_(std::move(labels)) {
  if (labels_.names.size() != labels_.values.size()) throw std::logic_error(name_ + ": label names and values differ");
  std::size_t n = 1;
  for (const auto& v : labels_.values) {
    if (v.empty()) throw std::logic_error(name_ + ": a label without values");
    n *= v.size();
  }
  cells_ = std::vector<std::atomic<std::int64_t>>(n);
}

std::size_t Metric::cell(std::initializer_list<std::string_view> label_values) const {
  if (label_values.size() != labels_.names.size()) throw std::logic_error(name_ + ": wrong number of label values");
  std::size_t c = 0;
  std::size_t i = 0;
  for (auto v : label_values) {
    std::size_t index = 0;
    find_or_last(labels_.values[i], v, index);
    c = c * labels_.values[i].size() + index;
    ++i;
  }
  return c;
}

void Metric::inc(std::initializer_list<std::string_view> label_values, std::int64_t n) {
  cells_[cell(label_values)].fetch_add(n, kRelaxed);
}

void Metric::set(std::initializer_list<std::string_view> label_values, std::int64_t v) {
  cells_[cell(label_values)].store(v, kRelaxed);
}

std::int64_t Metric::value(std::initializer_list<std::string_view> label_values) const {
  return cells_[cell(label_values)].load(kRelaxed);
}

void Metric::write_samples(std::string& out) const {
  // A labelled counter shows only the series that happened (parts alone have over a hundred); a
  // gauge shows every series, its zeros being news.
  const bool sparse = type_ == "counter" && !labels_.names.empty();
  for (std::size_t c = 0; c < cells_.size(); ++c) {
    const std::int64_t v = cells_[c].load(kRelaxed);
    if (sparse && v == 0) continue;
    out += name_ + sample_labels(labels_, c) + " " + std::to_string(v) + "\n";
  }
}

Histogram::Histogram(std::string name, std::string help, std::vector<double> bounds)
    : Family(std::move(name), std::move(help), "histogram"),
      bounds_(std::move(bounds)),
      buckets_(bounds_.size() + 1) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()) ||
      std::adjacent_find(bounds_.begin(), bounds_.end()) != bounds_.end()) {
    throw std::logic_error(name_ + ": bucket bounds must ascend");
  }
}

void Histogram::observe(double seconds) {
  if (std::isnan(seconds)) return;
  seconds = std::max(seconds, 0.0);
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), seconds);  // le: a bound equal counts
  buckets_[static_cast<std::size_t>(it - bounds_.begin())].fetch_add(1, kRelaxed);
  sum_.fetch_add(seconds, kRelaxed);
  count_.fetch_add(1, kRelaxed);
}

void Histogram::write_samples(std::string& out) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    cumulative += buckets_[i].load(kRelaxed);
    const std::string le = i < bounds_.size() ? format_value(bounds_[i]) : "+Inf";
    out += name_ + "_bucket{le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  // _count is the +Inf bucket, so the two always agree within one scrape.
  out += name_ + "_sum " + format_value(sum_.load(kRelaxed)) + "\n";
  out += name_ + "_count " + std::to_string(cumulative) + "\n";
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string_view part_type_label(std::string_view detected_type) {
  if (sanitize::is_executable_type(detected_type)) return "executable";
  std::size_t index = 0;
  return find_or_last(part_types(), detected_type, index);
}

std::string_view held_reason(bool rejected, std::string_view reason) {
  // The pipeline's reasons start so (walk.cpp's limit(), whole_message_rule(), the parse failure).
  if (rejected) return "rejected";
  if (reason.starts_with("policy:")) return "policy";
  if (reason.starts_with("limit exceeded:")) return "limit";
  if (reason.starts_with("unparseable:")) return "unparseable";
  return "other";
}

Registry::Registry()
    : build_info("mugai_build_info", "The gateway's version; always 1.", true, {{"version"}, {{std::string(version())}}}),
      messages_accepted("mugai_messages_accepted_total", "Messages accepted (spooled and answered 250) over SMTP.", false),
      messages_delivered("mugai_messages_delivered_total",
                         "Delivery attempts in which the next hop answered 250 for at least one recipient.", false),
      messages_deferred("mugai_messages_deferred_total", "Times a message was put back for a later attempt.", false),
      messages_bounced("mugai_messages_bounced_total",
                       "Messages with recipients that failed for good (a bounce spooled, or a dead letter kept).", false),
      messages_held("mugai_messages_held_total", "Messages held whole in quarantine, by reason class.", false,
                    {{"reason"}, {std::vector<std::string>(kHeldReasons.begin(), kHeldReasons.end())}}),
      parts("mugai_parts_total", "Parts sanitized, by detected type and decision.", false,
            {{"type", "decision"}, {part_types(), list({"kept", "converted", "rendered", "removed"})}}),
      render_pages("mugai_render_pages_total", "Pages and images rendered to pixels.", false),
      worker_crashes("mugai_worker_crashes_total",
                     "Sanitizing workers that died on a message (signal, exit, out of memory, garbage).", false),
      worker_timeouts("mugai_worker_timeouts_total", "Sanitizing workers killed at workers.timeout.", false),
      worker_restarts("mugai_worker_restarts_total", "Sanitizing workers started to replace one that ended.", false),
      smtp_replies("mugai_smtp_replies_total", "SMTP replies the server sent, by class.", false,
                   {{"class"}, {list({"2xx", "3xx", "4xx", "5xx", "other"})}}),
      tls_sessions("mugai_tls_sessions_total", "TLS sessions established: in (STARTTLS from clients), out (to next hops).",
                   false, {{"direction"}, {list({"in", "out"})}}),
      queue_depth("mugai_queue_messages", "Messages in the queue, by stage.", true,
                  {{"stage"}, {list({"spool", "ready", "active", "deferred", "awaiting_password"})}}),
      oldest_message_age("mugai_queue_oldest_message_age_seconds", "Age of the oldest message in the spool (0 if empty).",
                         true),
      connections("mugai_smtp_connections", "SMTP connections open now.", true),
      workers_busy("mugai_workers_busy", "Sanitizing workers working on a message now.", true),
      files("mugai_files_total", "Files taken from the watched folder, by what became of them.", false,
            {{"decision"}, {list({"sanitized", "removed", "refused"})}}),
      files_in_flight("mugai_files_in_flight", "Files of the watched folder claimed and not yet placed in the outbox.",
                      true),
      sanitize_seconds("mugai_sanitize_seconds", "Time a message spent in its sanitizing worker.", short_buckets()),
      render_page_seconds("mugai_render_page_seconds", "Rendering time per page (a part's time over its pages).",
                          short_buckets()),
      delivery_latency_seconds("mugai_delivery_latency_seconds",
                               "From the 250 the gateway gave at arrival to the next hop's 250 (whole seconds).",
                               long_buckets()),
      all_{&build_info, &messages_accepted, &messages_delivered, &messages_deferred, &messages_bounced, &messages_held,
           &parts, &render_pages, &worker_crashes, &worker_timeouts, &worker_restarts, &smtp_replies, &tls_sessions,
           &queue_depth, &oldest_message_age, &connections, &workers_busy, &files, &files_in_flight, &sanitize_seconds, &render_page_seconds,
           &delivery_latency_seconds} {
  build_info.set({std::string(version())}, 1);
}

void Registry::count_smtp_replies(std::string_view written) {
  // A reply's last line is "DDD" or "DDD text"; its other lines are "DDD-text".
  while (!written.empty()) {
    const auto lf = written.find('\n');
    std::string_view line = written.substr(0, lf);
    written = lf == std::string_view::npos ? std::string_view() : written.substr(lf + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.size() < 3 || (line.size() > 3 && line[3] != ' ')) continue;
    const char c = line[0];
    const char cls[] = {c, 'x', 'x', 0};
    smtp_replies.inc({c >= '2' && c <= '5' ? std::string_view(cls) : std::string_view("other")});
  }
}

void Registry::count_report(std::string_view report_json) {
  const json::Value report = json::parse(report_json);
  if (!report.is_object() || !report.contains("parts") || !report["parts"].is_array()) return;
  for (const auto& p : report["parts"]) {
    if (!p.is_object()) continue;
    const std::string_view label = decision_label(text_field(p, "decision"), text_field(p, "sanitizer"));
    if (label.empty()) continue;
    parts.inc({part_type_label(text_field(p, "detected_type")), label});
    // Bounded like everything else the worker says: no report renders more pages than render.max_pages.
    const std::int64_t pages = std::min<std::int64_t>(number_field(p, "pages"), 100000);
    if (label != "rendered" || pages <= 0) continue;
    render_pages.inc({}, pages);
    const double per_page = static_cast<double>(number_field(p, "timing_us")) / 1e6 / static_cast<double>(pages);
    for (std::int64_t i = 0; i < pages; ++i) render_page_seconds.observe(per_page);
  }
}

void Registry::next_hop_answered() {
  next_hop_answer_ns_.store(std::chrono::steady_clock::now().time_since_epoch().count(), kRelaxed);
}

double Registry::seconds_since_next_hop_answer() const {
  const std::int64_t at = next_hop_answer_ns_.load(kRelaxed);
  if (at < 0) return -1;
  const auto since = std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(at);
  return std::chrono::duration<double>(since).count();
}

std::string Registry::exposition() const {
  std::string out;
  for (const Family* f : all_) f->write(out);
  return out;
}

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace mugai::metrics
