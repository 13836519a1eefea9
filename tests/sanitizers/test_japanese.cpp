// Japanese (and other legacy) charsets end to end: ISO-2022-JP as Windows writes it, CP932, EUC-JP,
// detection of missing or wrong labels, RFC 2047 / RFC 2231 names, and the ISO-2022-JP output
// encoder, each compared character for character against what the sender typed.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "sanitizers/charset.hpp"
#include "sanitizers/headers.hpp"
#include "sanitizers/mime.hpp"
#include "sanitizers/params.hpp"

namespace mugai::sanitize {
namespace {

// ../shared/corpus beside the checkout, "" when it is not there.
std::string corpus_file(const std::string& relative) {
  const auto path = std::filesystem::path(MUGAI_SOURCE_DIR) / "../shared/corpus" / relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("ISO-2022-JP decodes the Windows extensions real mail uses") {
  // ① ㈱ (NEC row 13), 髙 (NEC-selected IBM row 92), ｱｲｳ (ESC ( I), then ASCII again.
  const Utf8Text t = to_utf8("\x1B$B-!-j|b\x1B(I123\x1B(B ok", "ISO-2022-JP");
  CHECK(t.text == "①㈱髙ｱｲｳ ok");
  CHECK(t.replacements == 0);
  CHECK(t.note.empty());
  // JIS C 6226 designation, the 1990 announcer, SO/SI kana, JIS-Roman, JIS X 0212.
  CHECK(to_utf8("\x1B$@F|\x1B&@\x1B$BK\\\x0E\x31\x0F\x1B(Jx", "csISO2022JP").text == "日本ｱx");
  CHECK(to_utf8("\x1B$(D\x30\x21\x1B(B", "iso-2022-jp").text == "丂");
  // Wave dash as Windows means it: 0x2141 is U+FF5E.
  CHECK(to_utf8("\x1B$B!A\x1B(B", "iso-2022-jp").text == "～");
}

TEST_CASE("ISO-2022-JP damage becomes counted U+FFFD, never a stray letter") {
  const Utf8Text odd = to_utf8("\x1B$B$\"\x1B(B\x1B$Z!", "iso-2022-jp");  // あ, then an unknown escape
  CHECK(odd.text == "あ\xEF\xBF\xBD$Z!");
  CHECK(odd.replacements == 1);
  const Utf8Text cut = to_utf8("\x1B$B$\"$", "iso-2022-jp");  // half a character at the end
  CHECK(cut.text == "あ\xEF\xBF\xBD");
  CHECK(cut.replacements == 1);
  // Row 9 is unassigned: one replacement for the pair, its trail byte "!" does not show up.
  const Utf8Text hole = to_utf8("\x1B$B)!$\"\x1B(B", "iso-2022-jp");
  CHECK(hole.text == "\xEF\xBF\xBDあ");
  CHECK(hole.replacements == 1);
}

TEST_CASE("CP932: wave dash as the sender meant, NEC and IBM extensions, aliases") {
  // 0x8160 is FULLWIDTH TILDE ～ (U+FF5E) in CP932, not WAVE DASH 〜 (U+301C).
  for (const char* label : {"Shift_JIS", "x-sjis", "shift-jis", "ms932", "Windows-31J", "cp932"}) {
    CAPTURE(label);
    const Utf8Text t = to_utf8("10\x81\x60\x31\x32\x87\x40\xFB\xFC\x5C", label);
    CHECK(t.text == "10～12①髙\\");
    CHECK(t.text.find("〜") == std::string::npos);
    CHECK(t.charset == "CP932");
  }
  const Utf8Text hole = to_utf8("\x85\x40z", "shift_jis");  // unassigned lead with an ASCII trail
  CHECK(hole.text == "\xEF\xBF\xBDz");
  CHECK(hole.replacements == 1);
}

TEST_CASE("EUC-JP with the Microsoft extensions, and the other CJK labels") {
  CHECK(to_utf8("\xC6\xFC\xCB\xDC\xB8\xEC\xA1\xC1\xAD\xA1\x8E\xB1", "EUC-JP").text == "日本語～①ｱ");
  CHECK(to_utf8("\xBD\xBA\xC6\xBC\xC7\xD8", "ks_c_5601-1987").text == "스티해");
  CHECK(to_utf8("\xD6\xD0\xCE\xC4", "gb2312").text == "中文");
  CHECK(to_utf8("\xA4\xA4\xA4\xE5", "big5").text == "中文");
  CHECK(to_utf8("caf\xE9 \x93quoted\x94", "iso-8859-1").text == "café “quoted”");
}

TEST_CASE("missing or wrong labels are detected, with a note") {
  const std::string sjis = "\x82\xA0\x82\xA2\x82\xA4\x93\xFA\x96\x7B";  // あいう日本
  const std::string euc = "\xA4\xA2\xA4\xA4\xA4\xA6\xC6\xFC\xCB\xDC";
  SUBCASE("undeclared") {
    CHECK(to_utf8(sjis, "").text == "あいう日本");
    CHECK(to_utf8(sjis, "").charset == "CP932");
    CHECK(to_utf8(euc, "").text == "あいう日本");
    CHECK(to_utf8(euc, "").charset == "EUC-JP-MS");
    CHECK(to_utf8("\x1B$B$\"\x1B(B", "").text == "あ");
    CHECK(to_utf8("\x1B$B$\"\x1B(B", "us-ascii").text == "あ");
  }
  SUBCASE("declared ISO-8859-1, content UTF-8") {
    const Utf8Text t = to_utf8("日本語 café", "ISO-8859-1");
    CHECK(t.text == "日本語 café");
    CHECK(t.charset == "UTF-8");
    CHECK(t.note.find("does not match") != std::string::npos);
  }
  SUBCASE("declared UTF-8, content Shift_JIS") {
    const Utf8Text t = to_utf8(sjis, "utf-8");
    CHECK(t.text == "あいう日本");
    CHECK(t.replacements == 0);
    CHECK(t.charset == "CP932");
    CHECK(t.note == "declared charset \"utf-8\" does not match the content, decoded as CP932");
  }
  SUBCASE("declared ISO-2022-JP, content Shift_JIS") {
    CHECK(to_utf8(sjis, "iso-2022-jp").text == "あいう日本");
  }
  SUBCASE("unknown label") {
    const Utf8Text t = to_utf8(euc, "x-unknown-japanese");
    CHECK(t.text == "あいう日本");
    CHECK_FALSE(t.charset_known);
    CHECK_FALSE(t.note.empty());
  }
  SUBCASE("nothing decodes cleanly: the label stays and every bad byte is counted") {
    const Utf8Text t = to_utf8("ok \xFF\xFE ok \x80", "utf-8");
    CHECK(t.text == "ok \xEF\xBF\xBD\xEF\xBF\xBD ok \xEF\xBF\xBD");
    CHECK(t.replacements == 3);
    CHECK(t.note.empty());
  }
  SUBCASE("Chinese labels are never read as Japanese") {
    CHECK(to_utf8("\xD6\xD0\xFF", "gb2312").charset == "GB18030");
  }
}

TEST_CASE("ISO-2022-JP output for legacy LGWAN clients") {
  const EncodedText e = encode_output("A①髙～〜ｶﾞｱ\n😀b", "iso-2022-jp");
  CHECK(e.charset == "ISO-2022-JP");
  // Half-width ｶﾞ joins into ガ, ～ and 〜 both become 0x2141, the emoji becomes 〓 (0x222E).
  CHECK(e.bytes == "A\x1B$B-!|b!A!A%,%\"\x1B(B\n\x1B$B\".\x1B(Bb");
  CHECK(e.unrepresentable == 1);
  CHECK(to_utf8(e.bytes, "iso-2022-jp").text == "A①髙～～ガア\n〓b");
  const std::string text = "請求書の件\n株式会社テスト ①②③ ⅰⅱ 髙﨑\n";
  CHECK(to_utf8(encode_output(text, "ISO-2022-JP").bytes, "ISO-2022-JP").text == text);
  CHECK(encode_output(text, "UTF-8").bytes == text);
  CHECK(encode_output(text, "koi8-r").charset == "UTF-8");
  CHECK(output_charset_supported("iso-2022-jp"));
  CHECK_FALSE(output_charset_supported("shift_jis"));
  CHECK(encode_output("\x1B(I", "iso-2022-jp").unrepresentable == 1);  // no state change smuggled in
}

TEST_CASE("RFC 2047 decoding, including what Outlook and Thunderbird send") {
  CHECK(decode_header_text("=?ISO-2022-JP?B?GyRCQEE1YT1xJE43bxsoQg==?=") == "請求書の件");
  // A UTF-8 character split across two words: the bytes are joined before decoding.
  CHECK(decode_header_text("=?UTF-8?B?5re75A==?= =?utf-8?B?u5jjg5XjgqHjgqTjg6sucGRm?=") == "添付ファイル.pdf");
  CHECK(decode_header_text("=?utf-8?q?a_b=E3=81=82?=  =?utf-8?q?c?= d =?UTF-8?B?44GC?=") == "a bあc d あ");
  CHECK(decode_header_text("Re: =?iso-8859-1?q?caf=E9?= =?UTF-8?B?44GC?=") == "Re: caféあ");
  CHECK(decode_header_text("\"=?UTF-8?B?44GC?=\" <a@example.jp>") == "\"あ\" <a@example.jp>");
  CHECK(decode_header_text("=?UTF-8*ja?B?44GC?=") == "あ");
  // An encoded CR/LF never survives as a line break.
  CHECK(decode_header_text("=?UTF-8?Q?a=0D=0ABcc:_x=00?=") == "a Bcc: x");
  // Raw 8-bit Shift_JIS in a header is detected.
  CHECK(decode_header_text("\x95\xF1\x8D\x90\x8F\x91") == "報告書");
  // Not encoded words: left as written.
  CHECK(decode_header_text("=?utf-8?x?abc?= =?a b?B?QQ==?= =?") == "=?utf-8?x?abc?= =?a b?B?QQ==?= =?");
}

TEST_CASE("the rebuilt Subject is decoded for the record and re-encoded as UTF-8") {
  const RebuiltHeaders h = rebuild_headers(
      parse_header_block("Subject: =?ISO-2022-JP?B?GyRCQEE1YT1xJE43bxsoQg==?=\r\n\r\n"));
  CHECK(h.subject == "請求書の件");
  CHECK(h.block == "Subject: =?UTF-8?B?6KuL5rGC5pu444Gu5Lu2?=\r\n");
}

TEST_CASE("RFC 2231 parameters, continuations and duplicates") {
  const Params a = parse_params("attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.xlsx");
  CHECK(a.values.at("filename") == "見積書.xlsx");
  CHECK(a.duplicates.empty());
  // Continuations with the charset in the first segment, a plain middle segment, language ignored,
  // and the RFC 2231 form winning over the plain fallback.
  const Params c = parse_params(
      "attachment; filename=\"fallback.txt\"; filename*0*=iso-2022-jp'ja'%1B%24BJs9p; "
      "filename*1*=%3Dq%1B%28B; filename*2=\".txt\"");
  CHECK(c.values.at("filename") == "報告書.txt");
  CHECK(display_filename(c) == "報告書.txt");
  const Params d = parse_params(
      "multipart/mixed; boundary=a; BOUNDARY=\"b\"; x*0=1; x*0=2; charset=us-ascii; junk; =v");
  CHECK(d.values.at("boundary") == "a");
  CHECK(d.duplicates == std::vector<std::string>{"boundary", "x*0"});
  CHECK(d.values.at("charset") == "us-ascii");
  const Params q = parse_params("text/plain; name=\"a \\\"q\\\" b.txt\"; n2=spaced value here ;z=1");
  CHECK(q.values.at("name") == "a \"q\" b.txt");
  CHECK(q.values.at("n2") == "spaced value here");
  CHECK(parse_params("attachment; filename*1=orphan").values.count("filename") == 0);
}

TEST_CASE("display_filename decodes Outlook-style names and shows hidden controls") {
  CHECK(display_filename(parse_params("application/pdf; name=\"=?ISO-2022-JP?B?GyRCSnM5cD1xGyhC?=.pdf\"")) ==
        "報告書.pdf");
  CHECK(display_filename(parse_params("attachment; filename=\"=?UTF-8?B?5re75A==?= "
                                      "=?UTF-8?B?u5jjg5XjgqHjgqTjg6sucGRm?=\"")) == "添付ファイル.pdf");
  // U+202E RIGHT-TO-LEFT OVERRIDE would make "invoice<RLO>fdp.exe" look like a PDF: it is shown escaped.
  CHECK(display_filename(parse_params("attachment; filename*=UTF-8''invoice%E2%80%AEfdp.exe")) ==
        "invoice\\u202Efdp.exe");
  CHECK(display_filename(parse_params("attachment; filename=\"=?UTF-8?Q?a=01b=E2=81=A6?=\"")) == "a\\u0001b\\u2066");
  CHECK(display_filename(parse_params("inline")).empty());
}

TEST_CASE("parse_mime gives parts decoded, display-safe filenames") {
  const std::string msg =
      "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
      "Content-Type: text/plain; charset=\"Shift_JIS\"\r\n\r\n\x82\xA0\r\n--b\r\n"
      "Content-Type: application/octet-stream;\r\n name*0*=UTF-8''%E8%A6%8B;\r\n name*1*=%E7%A9%8D.xlsx\r\n\r\n"
      "x\r\n--b\r\n"
      "Content-Type: application/octet-stream; name=\"n.bin\"\r\n"
      "Content-Disposition: attachment;\r\n filename=\"=?UTF-8?B?44GC?=\"\r\n\r\nx\r\n--b--\r\n";
  const ParsedMime p = parse_mime(msg, Limits{});
  REQUIRE(p.tree.has_value());
  REQUIRE(p.tree->parts.size() == 4);
  CHECK(p.tree->parts[1].charset == "Shift_JIS");
  CHECK(p.tree->parts[2].filename == "見積.xlsx");
  CHECK(p.tree->parts[3].filename == "あ");
}

TEST_CASE("corpus: Japanese mail from the wild") {
  const std::string jis = corpus_file("mikel-mail/multi_charset/japanese_iso_2022.eml");
  const std::string sjis = corpus_file("mikel-mail/multi_charset/japanese_shift_jis.eml");
  if (jis.empty() || sjis.empty()) {
    MESSAGE("../shared/corpus/mikel-mail is absent: corpus checks skipped");
    return;
  }
  const ParsedMime a = parse_mime(jis, Limits{});
  REQUIRE(a.tree.has_value());
  CHECK(to_utf8(a.tree->parts[0].body, a.tree->parts[0].charset).text.rfind("すみません。", 0) == 0);
  CHECK(decode_header_text(parse_header_block(jis)[1].value) == "まみむめも");
  const ParsedMime b = parse_mime(sjis, Limits{});
  REQUIRE(b.tree.has_value());
  const Utf8Text body = to_utf8(b.tree->parts[0].body, b.tree->parts[0].charset);
  CHECK(body.text.rfind("あいうえお", 0) == 0);
  CHECK(body.replacements == 0);
}

}  // namespace mugai::sanitize
