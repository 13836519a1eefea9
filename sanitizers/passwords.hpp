// Password candidates in a password mail's text (PPAP: the archive comes in one mail, its password in
// the next): the printable-ASCII word that follows a password phrase (パスワード, PW, 解凍キー,
// password, pass, 暗号化解除...) on its line, or stands alone on the next lines, full-width letters
// also read as ASCII, in the first 64 KiB of each text. Pure and bounded: at most kMaxPasswords
// candidates of at most kMaxPasswordSize bytes.
#pragma once

#include <string>
#include <vector>

namespace mugai::sanitize {

// `texts` are sanitized body texts (valid UTF-8, LF line ends).
std::vector<std::string> password_candidates(const std::vector<std::string>& texts);

}  // namespace mugai::sanitize
