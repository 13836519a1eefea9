// The `maildir:PATH` delivery backend (the embedded demo default): one Maildir per recipient at
// PATH/<recipient>/{tmp,new,cur}. A message is written to tmp/, fsync'd, renamed into new/ and the
// directory fsync'd before deliver_maildir() reports success.
#pragma once

#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace mugai::gateway {

// `rcpt` is a validated mailbox (see proto::recipient_allowed); it is still checked to be a safe
// single path component (no '/', no leading '.', no control bytes) before use.
Status deliver_maildir(const std::string& root, std::string_view rcpt, std::string_view message,
                       bool fsync);

}  // namespace mugai::gateway
