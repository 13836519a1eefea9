// Where removed originals go: the pipeline never drops a part on the floor, it hands the original
// to a QuarantineStore and cites the returned id in the notice. The store must make the bytes
// durable (fsync) before put() returns, so the id in a delivered notice always resolves.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.hpp"

namespace mugai::sanitize {

struct RemovedPart {
  std::string filename;       // displayed filename, made safe (controls escaped)
  std::string declared_type;  // Content-Type as declared
  std::string detected_type;  // from content
  std::size_t size = 0;       // decoded bytes
  std::string sha256;         // hex of decoded bytes
  std::string reason;         // why it was removed
  std::string sanitizer;      // which sanitizer decided
};

struct QuarantineRecord {
  std::string queue_id;
  std::int64_t received_unix = 0;  // when the gateway accepted the message; 0 = unknown (store uses now)
  std::string client_ip;
  std::string helo;
  std::string mail_from;
  std::vector<std::string> rcpt_to;
  std::string subject;     // decoded, for listing
  std::string message_id;
  std::string reason;      // message-level reason ("parts removed", "unparseable", ...)
  std::vector<RemovedPart> parts;
};

// The embedded implementation is quarantine/store.hpp (SQLite index + encrypted blobs);
// the interface stays this narrow so a shared backend can replace it.
class QuarantineStore {
 public:
  virtual ~QuarantineStore() = default;
  // Stores the whole original message with its record; returns the quarantine id.
  virtual Expected<std::string> put(std::string_view original, const QuarantineRecord& record) = 0;
};

}  // namespace mugai::sanitize
