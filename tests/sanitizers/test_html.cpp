// Tests for HTML → text: every rendering rule of issue 3, checking what remains and what must be gone,
// plus hostile nesting and size bounds, and the "html_text" sanitizer's charset handling.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "sanitizers/html_text.hpp"
#include "sanitizers/policy.hpp"
#include "tests/sanitizers/newsletter.hpp"

namespace mugai::sanitize {
namespace {

// Every rendering is also checked against gumbo parsing the HTML as it is (no text runs swapped).
std::string render(const std::string& html, LinkPolicy links = LinkPolicy::Defang) {
  HtmlText r = html_to_text(html, links);
  REQUIRE(r.failure.empty());
  const HtmlText as_is = html_to_text(html, links, /*swap_text_runs=*/false);
  CHECK_MESSAGE(r.text == as_is.text, "swapping text runs changed the text of: " << html);
  CHECK(r.links == as_is.links);
  CHECK(r.had_script == as_is.had_script);
  CHECK(r.dropped_chars == as_is.dropped_chars);
  return r.text;
}

bool has(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

}  // namespace

TEST_CASE("paragraphs, headings, divs and line breaks become lines") {
  CHECK(render("<h1>Title</h1><p>First\nparagraph</p><p>Second</p><div>a</div><div>b<br>c</div>") ==
        "Title\n\nFirst paragraph\n\nSecond\n\na\nb\nc\n");
  CHECK(render("<p>one</p><h2>Head</h2>tail") == "one\n\nHead\n\ntail\n");
}

TEST_CASE("whitespace collapses like a browser, <pre> is kept as is") {
  CHECK(render("  a \t\n  b   <b> c </b>  d  ") == "a b c d\n");
  CHECK(render("<p>x</p><pre>  line 1\n    line 2  x</pre><p>y</p>") == "x\n\n  line 1\n    line 2  x\n\ny\n");
}

TEST_CASE("lists: bullets for ul, numbers for ol, nested lists indented") {
  CHECK(render("<ul><li>a</li><li>b</li></ul>") == "- a\n- b\n");
  CHECK(render("<p>x</p><ol><li>one<li>two<li>three</ol>") == "x\n\n1. one\n2. two\n3. three\n");
  CHECK(render("<ul><li>a<ul><li>inner</li></ul></li><li>b</li></ul>") == "- a\n  - inner\n- b\n");
}

TEST_CASE("tables come out as rows with cells joined by |") {
  CHECK(render("<table><tr><th>Name</th><th>Qty</th></tr><tr><td>apple</td><td>3</td></tr>"
               "<tr><td></td><td>only</td></tr></table>") == "Name | Qty\napple | 3\nonly\n");
  // Layout tables whose cells hold paragraphs read as paragraphs, not as one long row.
  CHECK(render("<table><tr><td><p>left</p></td><td><p>right</p></td></tr></table>") == "left\n\nright\n");
}

TEST_CASE("entities are decoded") {
  CHECK(render("<p>&lt;b&gt; &amp; &quot;q&quot; &#x65E5;&#26412; caf&eacute;&nbsp;!</p>") ==
        "<b> & \"q\" 日本 caf\xC3\xA9\xC2\xA0!\n");
}

TEST_CASE("active and hidden content is dropped with its contents") {
  const std::string html =
      "<html><head><title>T</title><style>p{color:red}</style><script>alert(1)</script></head><body>"
      "<p onclick=\"alert(2)\">visible</p><script type=\"text/javascript\">alert(3); document.write('<b>x</b>')</script>"
      "<noscript>noscript text</noscript><template><p>template text</p></template>"
      "<iframe src=\"https://evil.example/\">iframe text</iframe><object data=\"x.swf\">object text</object>"
      "<embed src=\"x.swf\"><svg><script>alert(4)</script><text>svg text</text></svg>"
      "<math><mi>math text</mi></math>end</body></html>";
  HtmlText r = html_to_text(html, LinkPolicy::Keep);
  CHECK(r.text == "visible\n\nend\n");
  CHECK(r.had_script);
  for (const char* gone : {"<script", "alert(", "color:red", "noscript text", "template text", "iframe text",
                           "object text", "svg text", "math text", "T\n"}) {
    CHECK_MESSAGE(!has(r.text, gone), gone);
  }
  CHECK_FALSE(html_to_text("<p>plain</p>", LinkPolicy::Keep).had_script);
}

TEST_CASE("images become their alt text in brackets") {
  CHECK(render("<p>Logo: <img src=\"a.png\" alt=\"  City  Hall \"> <img src=\"p.gif\" alt=\"\"><img src=\"q.gif\">.</p>") ==
        "Logo: [City Hall] .\n");
}

TEST_CASE("links follow the policy") {
  const std::string html = "<a href=\"https://www.example.com/path?a=1&amp;b=2\">Read more</a>";
  CHECK(render(html, LinkPolicy::Keep) == "Read more <https://www.example.com/path?a=1&b=2>\n");
  CHECK(render(html, LinkPolicy::Defang) == "Read more <hxxps://www[.]example[.]com/path?a=1&b=2>\n");
  CHECK(render(html, LinkPolicy::Remove) == "Read more\n");
  CHECK(render("<a href=\"HTTP://Evil%2Eexample.org:8080/x.y\">x</a>", LinkPolicy::Defang) ==
        "x <hxxp://Evil[.]example[.]org:8080/x.y>\n");
  CHECK(render("<a href=\"mailto:info@city.example.lg.jp\">mail us</a>", LinkPolicy::Defang) ==
        "mail us <mailto:info@city[.]example[.]lg[.]jp>\n");
  // A link whose text is its own URL is written once, in the policy's form.
  CHECK(render("<a href=\"http://a.example/\">http://a.example/</a>", LinkPolicy::Defang) == "hxxp://a[.]example/\n");
  CHECK(render("<a href=\"http://a.example/\">http://a.example/</a>", LinkPolicy::Keep) == "http://a.example/\n");
  // An image-only link still says where it goes.
  CHECK(render("<a href=\"https://x.example/\"><img src=\"b.png\"></a>", LinkPolicy::Keep) == "<https://x.example/>\n");
  // Spaces, quotes and non-ASCII (bidi overrides, look-alikes) cannot hide in or break out of <...>.
  CHECK(render("<a href=\" https://x.example/a b>\xE2\x80\xAE\">t</a>", LinkPolicy::Keep) ==
        "t <https://x.example/a%20b%3E%E2%80%AE>\n");
}

TEST_CASE("only http, https and mailto targets are ever shown") {
  for (const char* href : {"javascript:alert(1)", " JaVa\tScRiPt:alert(1)", "vbscript:msgbox(1)",
                           "data:text/html;base64,PHNjcmlwdD4=", "file:///etc/passwd", "ftp://x.example/",
                           "//x.example/", "http:\\\\x.example", "relative/path"}) {
    HtmlText r = html_to_text(std::string("<a href=\"") + href + "\">click</a>", LinkPolicy::Keep);
    CHECK_MESSAGE(r.text == "click\n", href);
    CHECK(r.links == 1);
  }
  HtmlText r = html_to_text("<a href=\"javascript:alert(1)\">x</a>", LinkPolicy::Keep);
  CHECK(r.had_script);
  CHECK_FALSE(has(r.text, "javascript:"));
}

TEST_CASE("controls, bidi controls and zero-width characters are dropped") {
  HtmlText r = html_to_text("<p>a\xE2\x80\xAE" "b&#x202E;c&#x2066;d&#x200B;e&#xFEFF;f&#x1B;[31mg\x01h&#x85;i\tj</p>",
                            LinkPolicy::Keep);
  // Raw C0 bytes become U+FFFD in the HTML5 parser, &#x85; is "…" by the spec's C1 table; ESC is dropped.
  CHECK(r.text == "abcdef[31mg\xEF\xBF\xBDh\xE2\x80\xA6i j\n");
  CHECK(r.dropped_chars == 6);
  CHECK(render("<pre>a\tb\r\nc&#x0C;d&#x9D;e</pre>") == "a\tb\nc d" "e\n");
}

TEST_CASE("output is bounded to 4x the input plus 1 KiB") {
  // Deeply indented list items expand: each 4-byte <li> becomes a line of indentation and a marker.
  std::string html(9 * 4, ' ');
  for (int i = 0; i < 9; ++i) html.replace(static_cast<std::size_t>(i) * 4, 4, "<ul>");
  for (int i = 0; i < 10000; ++i) html += "<li>";
  HtmlText r = html_to_text(html, LinkPolicy::Keep);
  CHECK(r.truncated);
  CHECK(r.text.size() <= 4 * html.size() + 1024 + 1);
  CHECK_FALSE(html_to_text(test::newsletter_html(100 * 1024), LinkPolicy::Defang).truncated);
}

TEST_CASE("hostile nesting neither crashes nor stalls, and the text survives") {
  for (const std::string tag : {"div", "b", "span", "table", "a href=\"https://x.example/\"", "ul", "p", "div/"}) {
    std::string html;
    for (int i = 0; i < 100000; ++i) html += "<" + tag + ">";
    html += "deep text";
    const auto start = std::chrono::steady_clock::now();
    HtmlText r = html_to_text(html, LinkPolicy::Defang);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    CHECK_MESSAGE(r.failure.empty(), tag << ": " << r.failure);
    CHECK_MESSAGE(has(r.text, "deep text"), tag);
    CHECK_MESSAGE(ms.count() < 3000, tag << " took " << ms.count() << " ms");
  }
  // Past the cap, script elements are never unwrapped into visible text.
  std::string html;
  for (int i = 0; i < 2000; ++i) html += "<div>";
  html += "<script>alert(1)</script><style>p{}</style>after";
  const std::string text = render(html);
  CHECK(text == "after\n");
}

TEST_CASE("a formatting-element clone bomb hits the parser budget and the part is removed") {
  // Every <p> reopens all 400 still-active <b>s: a 28 KB input asks for over a million elements.
  std::string html = "<div>";
  for (int i = 0; i < 400; ++i) html += "<b id=" + std::to_string(i) + ">";
  html += "</div>";
  for (int i = 0; i < 3000; ++i) html += "<p>x</p>";
  HtmlText r = html_to_text(html, LinkPolicy::Defang);
  CHECK(r.failure == "parser memory budget exceeded");
  CHECK(r.text.empty());
  const Decision d = find_sanitizer("html_text", LinkPolicy::Defang)->sanitize(html, PartInfo{"1", "text/html", "", ""});
  CHECK(d.action == Decision::Action::Remove);
  CHECK(d.reason == "HTML not converted: parser memory budget exceeded");
}

TEST_CASE("text runs swapped for placeholders come back the same in every tokenizer state") {
  // Runs after '>' inside attribute values, RCDATA, RAWTEXT, comments, scripts and character references.
  CHECK(render("<img alt=\"a>Photo of the new city hall\" src=x>") == "[a>Photo of the new city hall]\n");
  CHECK(render("<a href=\"https://x.example/a>long/path/segment;b&amp;c=long_value_here\">see the page</a>",
               LinkPolicy::Keep) == "see the page <https://x.example/a%3Elong/path/segment;b&c=long_value_here>\n");
  CHECK(render("<title>a <b>not markup</b></title><p>after the title text</p>") == "after the title text\n");
  CHECK(render("<textarea>typed <b>by the reader</b> here</textarea>") == "typed <b>by the reader</b> here\n");
  CHECK(render("<style>p>span { color: red; font-weight: bold }</style><p>styled paragraph</p>") == "styled paragraph\n");
  CHECK(render("<!-- comment > with text inside it --><p>after a comment</p>") == "after a comment\n");
  CHECK(render("<script>if (a > b) { launch(missiles); }</script><p>after a script</p>") == "after a script\n");
  CHECK(render("<p>x &mdash; the text after an entity &amp; more text after it</p>") ==
        "x \xE2\x80\x94 the text after an entity & more text after it\n");
  CHECK(render("<p>&notit; is not a name; &#x41;fter a numeric one; & stray ampersand text</p>") ==
        "\xC2\xACit; is not a name; After a numeric one; & stray ampersand text\n");
  // '-', '!' and ']' inside runs, never at their edges: comment ends, escaped script data, CDATA.
  CHECK(render("<!-- a >hidden comment text -- d --!>shown after the comment") == "shown after the comment\n");
  CHECK(render("<!-- a > b-c -- d --!e-->after a well-hyphenated comment-") == "after a well-hyphenated comment-\n");
  CHECK(render("<!-- x >yy-->z--><p>after the comment ends early</p>") == "z-->\n\nafter the comment ends early\n");
  CHECK(render("<script><!-- a > b-c --></script><p>-- dashes -- and ]] brackets ]] in text --</p>") ==
        "-- dashes -- and ]] brackets ]] in text --\n");
  CHECK(render("<script><!--<script> x > y-z </script>hidden-text inside</script><p>shown after it</p>") ==
        "shown after it\n");
  CHECK(render("<style>a > b { font-family: sans-serif; margin-top: 0 }</style><p>text-decoration: none</p>") ==
        "text-decoration: none\n");
  CHECK(render("<svg><![CDATA[ x > y ]]]> svg text]]></svg><p>after the svg element</p>") == "after the svg element\n");
  // A '>' in text, blanks the tree builder treats apart, a newline right after <pre>, foster parenting.
  CHECK(render("<p>1 > 0 is always true, whatever the weather</p>") == "1 > 0 is always true, whatever the weather\n");
  CHECK(render("<pre>\nkept as it was written\n  indented line</pre>") == "kept as it was written\n  indented line\n");
  CHECK(render("<table><tr><td>cell</td></tr>stray text in a table<tr><td>next</td></tr></table>") ==
        "stray text in a table\ncell\nnext\n");
  CHECK(render("<head>  text before the body starts here<p>p</p>") == "text before the body starts here\n\np\n");
  // Where a swap cannot be shown safe, nothing is swapped: frameset documents, placeholder-range input.
  render("<frameset><frame src=a>frames and text in between them</frameset>");
  CHECK(render("<p>private use \xF3\xB0\x80\x80 in the text itself</p>") == "private use \xF3\xB0\x80\x80 in the text itself\n");
  CHECK(render("<p>&#983040; referenced, then a run of text</p>") == "\xF3\xB0\x80\x80 referenced, then a run of text\n");
  CHECK(render("<p>&#x0000F0000; referenced with zeros, then text</p>") ==
        "\xF3\xB0\x80\x80 referenced with zeros, then text\n");
}

TEST_CASE("past 65,534 swapped runs (all plane 15 holds) the rest is parsed as it is") {
  std::string html, expected;
  for (int i = 0; i < 70000; ++i) {
    html += "<p>paragraph " + std::to_string(i) + "</p>";
    expected += (i ? "\n\nparagraph " : "paragraph ") + std::to_string(i);
  }
  CHECK(render(html) == expected + "\n");
}

TEST_CASE("a 100 KB newsletter converts completely") {
  const std::string html = mugai::sanitize::test::newsletter_html(100 * 1024);
  HtmlText r = html_to_text(html, LinkPolicy::Defang);
  REQUIRE(r.failure.empty());
  CHECK(r.text == html_to_text(html, LinkPolicy::Defang, /*swap_text_runs=*/false).text);
  CHECK_FALSE(r.truncated);
  CHECK(has(r.text, "市役所だより & Weekly\xC2\xA0News\n"));
  CHECK(has(r.text, "Article 1\n\nLorem ipsum dolor sit amet"));
  CHECK(has(r.text, "[Photo 1]Read more <hxxps://news[.]example[.]com/articles/1?utm_source=mail&utm_medium=email>"));
  CHECK(has(r.text, "- Point one\n- Point two"));
  CHECK(has(r.text, "Unsubscribe: here <hxxps://news[.]example[.]com/u?id=42>\n"));
  for (const char* gone : {"<td", "<p", "<img", "font-family", "OfficeDocumentSettings", "Weekly news\n", "&amp;",
                           "https://"}) {
    CHECK_MESSAGE(!has(r.text, gone), gone);
  }
  CHECK(r.links > 100);
}

TEST_CASE("the html_text sanitizer converts the declared charset and keeps text") {
  const Sanitizer* s = find_sanitizer("html_text", LinkPolicy::Defang);
  REQUIRE(s != nullptr);
  CHECK(s->name() == "html_text");
  // "テスト" in Shift_JIS, with a link.
  const Decision d = s->sanitize("<p>\x83\x65\x83\x58\x83\x67 <a href=\"http://x.example/\">x</a></p>",
                                 PartInfo{"1", "text/html", "Shift_JIS", ""});
  REQUIRE(d.action == Decision::Action::KeepText);
  CHECK(d.text == "テスト x <hxxp://x[.]example/>\n");
  CHECK(find_sanitizer("html_text", LinkPolicy::Remove)->sanitize("<a href=\"http://x.example/\">x</a>",
                                                                   PartInfo{"1", "text/html", "", ""}).text == "x\n");
}

}  // namespace mugai::sanitize
