// The gateway's Prometheus metrics: a thread-safe registry of counters, gauges and histograms (lock-free
// atomics, touched from the event loop, the thread pool and the scrape) and its text exposition (format
// 0.0.4). Label cardinality is bounded by construction: every label takes its values from a fixed list
// given at registration, and anything else the mail or a peer says is counted as "other".
//
// One process-wide registry (metrics::registry()), like log::event: the counters are the process's own,
// and a site that counts an event needs one line, not a reference threaded through constructors that
// other parts of the gateway share.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace mugai::metrics {

class Family {
 public:
  Family(std::string name, std::string help, std::string_view type);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // Appends "# HELP", "# TYPE" and every sample line.
  void write(std::string& out) const;
  const std::string& name() const { return name_; }

 protected:
  virtual void write_samples(std::string& out) const = 0;

  std::string name_;
  std::string help_;
  std::string_view type_;
};

// Label names, and for each the only values it may take; a value not listed maps to the list's last entry.
struct Labels {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> values;
};

// A counter, or a gauge when `gauge` (then set() and add() of negatives are allowed), with 0-2 labels.
class Metric final : public Family {
 public:
  Metric(std::string name, std::string help, bool gauge, Labels labels = {});

  void inc(std::initializer_list<std::string_view> label_values = {}, std::int64_t n = 1);
  void set(std::initializer_list<std::string_view> label_values, std::int64_t v);
  void set(std::int64_t v) { set({}, v); }
  std::int64_t value(std::initializer_list<std::string_view> label_values = {}) const;

 private:
  void write_samples(std::string& out) const override;
  std::size_t cell(std::initializer_list<std::string_view> label_values) const;

  Labels labels_;
  std::vector<std::atomic<std::int64_t>> cells_;
};

// Seconds observed into cumulative buckets with upper bounds `bounds` (ascending), plus +Inf.
class Histogram final : public Family {
 public:
  Histogram(std::string name, std::string help, std::vector<double> bounds);

  void observe(double seconds);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  void write_samples(std::string& out) const override;

  std::vector<double> bounds_;
  std::vector<std::atomic<std::uint64_t>> buckets_;  // per bound, not cumulative; the last is +Inf
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// A label value as the text format writes it: backslash, double quote and line feed escaped.
std::string escape_label_value(std::string_view v);
// A sample value: integers without a fraction, "+Inf"/"-Inf"/"NaN" as the format spells them.
std::string format_value(double v);

// The part types metrics name; other detected types count as "other".
std::string_view part_type_label(std::string_view detected_type);

// Every metric the gateway exports (config/README.md lists them with their meaning).
struct Registry {
  Registry();

  Metric build_info;
  Metric messages_accepted;
  Metric messages_delivered;
  Metric messages_deferred;
  Metric messages_bounced;
  Metric messages_held;  // label reason: see held_reason
  Metric parts;          // labels type, decision
  Metric render_pages;
  Metric worker_crashes;
  Metric worker_timeouts;
  Metric worker_restarts;
  Metric smtp_replies;  // label class
  Metric tls_sessions;  // label direction
  Metric queue_depth;   // label stage (gauge)
  Metric oldest_message_age;
  Metric connections;
  Metric workers_busy;
  Metric files;           // label decision: the watched folder's files (gateway/file_watch.hpp)
  Metric files_in_flight;  // gauge: files claimed and not yet placed
  Histogram sanitize_seconds;
  Histogram render_page_seconds;
  Histogram delivery_latency_seconds;

  // Counts the reply classes of the final reply lines in bytes the SMTP server writes ("250 ok\r\n").
  void count_smtp_replies(std::string_view written);
  // Counts the parts, decisions and rendered pages a sanitize report (report.hpp's JSON) lists.
  void count_report(std::string_view report_json);
  // The next hop gave an SMTP reply (any reply) or a maildir delivery finished: /readyz's reachability.
  void next_hop_answered();
  // Seconds since next_hop_answered() last ran (steady clock), or a negative value if it never did.
  double seconds_since_next_hop_answer() const;

  std::string exposition() const;

 private:
  std::vector<const Family*> all_;
  std::atomic<std::int64_t> next_hop_answer_ns_{-1};
};

Registry& registry();

// The reason classes a message held whole is counted under (bounded: never the free-text reason).
inline constexpr std::array<std::string_view, 6> kHeldReasons{"rejected", "policy",        "limit",
                                                              "unparseable", "unsanitizable", "other"};
// The class of a hold the pipeline decided: a reject rule, a quarantine rule, a limit, an unreadable
// message, or anything else (sanitize.max_attempts and dead workers are "unsanitizable", counted apart).
std::string_view held_reason(bool rejected, std::string_view reason);

}  // namespace mugai::metrics
