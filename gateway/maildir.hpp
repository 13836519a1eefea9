// The `maildir:PATH` delivery backend (the embedded demo default): one Maildir per recipient at
// PATH/<recipient>/{tmp,new,cur}. A message is written to tmp/, fsync'd, renamed into new/ and the
// directory fsync'd before deliver_maildir() reports success.
#pragma once

#include <string>
#include <string_view>

#include "common/expected.hpp"

namespace mugai::gateway {

// Whether `rcpt` (an envelope recipient, "local@domain") names a maildir: one safe path component of
// at most NAME_MAX bytes, no '/', no leading '.', no control bytes. deliver_maildir() refuses every
// other recipient, and the server refuses them at RCPT with this same function, so the two agree.
bool maildir_accepts(std::string_view rcpt);

// `rcpt` is a validated mailbox (see proto::recipient_allowed); it is still checked with
// maildir_accepts() before use.
Status deliver_maildir(const std::string& root, std::string_view rcpt, std::string_view message,
                       bool fsync);

}  // namespace mugai::gateway
