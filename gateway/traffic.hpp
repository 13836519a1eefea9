// The traffic facts `mugaictl report` counts (quarantine::TrafficRecord & co.), written from the
// scheduler. Guarantee: recording never blocks the event loop nor touches the mail's path: each fact is
// written later on the thread pool, and a failure to write it is logged, nothing else.
#pragma once

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <string>
#include <utility>

#include "gateway/log.hpp"
#include "gateway/spool.hpp"
#include "quarantine/store.hpp"
#include "sanitizers/pipeline.hpp"

namespace mugai::gateway {

// What the loop knows when a sanitizing run ends; report_json is parsed into parts on the pool.
struct RunFacts {
  quarantine::TrafficRecord record;  // parts left empty
  std::string report_json;           // the pipeline's per-message report
};
// A run that ended with `outcome` (`verdict`, `ppap` as TrafficRecord names them).
RunFacts run_facts(const SpoolEntry& entry, const sanitize::Outcome& outcome, std::string verdict, std::string ppap);
// A message held whole without an outcome (its worker died on it, or its runs kept failing).
RunFacts held_facts(const SpoolEntry& entry, const std::string& reason, const std::string& quarantine_id);
quarantine::TrafficRecord traffic_record(RunFacts facts);

// Writes one fact (`write(store)` returning Status) on `pool`, fire and forget.
template <typename Write>
void record_fact(boost::asio::thread_pool& pool, quarantine::QuarantineDb& store, std::string queue_id, Write write) {
  boost::asio::post(pool, [&store, queue_id = std::move(queue_id), write = std::move(write)]() {
    if (auto st = write(store); !st) log::event("traffic-error", {{"id", queue_id}, {"error", st.error().message}});
  });
}

}  // namespace mugai::gateway
