// A newsletter-like HTML document of a chosen size, shaped like real bulk mail (Outlook conditional
// comments, a style block, a tracking pixel, nested layout tables, article links): shared by the HTML
// tests and the sanitize benchmark so both measure the same thing.
#pragma once

#include <cstddef>
#include <string>

namespace mugai::sanitize::test {

inline std::string newsletter_html(std::size_t min_bytes) {
  std::string h =
      "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Weekly news</title>"
      "<style>body{font-family:sans-serif}td.x{padding:4px}</style>"
      "<!--[if mso]><xml><o:OfficeDocumentSettings></o:OfficeDocumentSettings></xml><![endif]-->"
      "</head><body><table width=\"100%\" cellpadding=\"0\"><tr><td align=\"center\">"
      "<table width=\"600\"><tr><td><h1>市役所だより &amp; Weekly&nbsp;News</h1></td></tr>";
  for (std::size_t n = 1; h.size() < min_bytes; ++n) {
    const std::string id = std::to_string(n);
    h += "<tr><td class=\"x\" style=\"padding:8px;color:#333\"><h2>Article " + id + "</h2>"
         "<p>Lorem ipsum <b>dolor</b> sit amet, <i>consectetur</i> adipiscing elit &mdash; 住民の皆様へのお知らせ "
         + id + ". Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>"
         "<p><img src=\"https://cdn.example.com/img/" + id + ".png\" alt=\"Photo " + id + "\" width=\"560\">"
         "<a href=\"https://news.example.com/articles/" + id + "?utm_source=mail&amp;utm_medium=email\" "
         "style=\"color:#06c\">Read more</a></p>"
         "<ul><li>Point one</li><li>Point two</li></ul></td></tr>";
  }
  h += "<tr><td><p>Unsubscribe: <a href=\"https://news.example.com/u?id=42\">here</a></p>"
       "<img src=\"https://track.example.com/open.gif\" width=\"1\" height=\"1\" alt=\"\"></td></tr>"
       "</table></td></tr></table></body></html>";
  return h;
}

}  // namespace mugai::sanitize::test
