// What the pipeline asks its caller to hold in quarantine, as values: the message-level reason and
// every part whose original only the quarantine keeps. The pipeline never stores anything itself;
// the caller stores the whole original with this record under the id it allocated beforehand.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mugai::sanitize {

// A part that did not cross as it was: removed, or replaced by safe artefacts (its `reason` says which).
struct RemovedPart {
  std::string filename;       // displayed filename, made safe (controls escaped)
  std::string declared_type;  // Content-Type as declared
  std::string detected_type;  // from content
  std::size_t size = 0;       // decoded bytes
  std::string sha256;         // hex of decoded bytes
  std::string reason;         // why it was removed or what replaced it
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

}  // namespace mugai::sanitize
