// convert_to_pdf against the real LibreOffice and bubblewrap, on documents each case makes with
// /usr/bin/python3 (python3-docx, openpyxl). Every case also checks that no temporary directory is left.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "office/convert.hpp"
#include "sanitizers/sanitizer.hpp"
#include "tests/temp_dir.hpp"

namespace fs = std::filesystem;
using mugai::office::convert_to_pdf;
using mugai::office::kDocumentRefused;
using mugai::office::kHostFailure;
using mugai::office::OfficeLimits;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    ::pclose(p);
  }
  return out;
}

std::string without_space(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '\f') out.push_back(c);
  return out;
}

// One case's scratch space: `work` for the test's own files, and a private TMPDIR that convert_to_pdf
// must leave as empty as it found it.
class Scratch {
 public:
  Scratch() : work_(root_.path() + "/work"), tmp_(root_.path() + "/tmp") {
    fs::create_directory(work_);
    fs::create_directory(tmp_);
    const char* old = std::getenv("TMPDIR");
    if (old != nullptr) old_tmpdir_ = old, had_tmpdir_ = true;
    ::setenv("TMPDIR", tmp_.c_str(), 1);
  }
  ~Scratch() {
    if (had_tmpdir_)
      ::setenv("TMPDIR", old_tmpdir_.c_str(), 1);
    else
      ::unsetenv("TMPDIR");
  }
  const std::string& work() const { return work_; }
  std::size_t tmp_entries() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp_)) ++n;
    return n;
  }
  // Runs a Python script in `work`; true if it exited 0.
  bool python(const std::string& script) const {
    spit(work_ + "/make.py", script);
    return std::system(("cd '" + work_ + "' && /usr/bin/python3 make.py").c_str()) == 0;
  }
  std::string pdf_text(const std::string& pdf) const {
    spit(work_ + "/out.pdf", pdf);
    return run("pdftotext -enc UTF-8 '" + work_ + "/out.pdf' -");
  }
  int pdf_pages(const std::string& pdf) const {
    spit(work_ + "/out.pdf", pdf);
    return std::atoi(run("pdfinfo '" + work_ + "/out.pdf' | awk '/^Pages:/ {print $2}'").c_str());
  }

 private:
  mugai::test::TempDir root_;
  std::string work_, tmp_;
  std::string old_tmpdir_;
  bool had_tmpdir_ = false;
};

// LibreOffice, bubblewrap, a working sandbox and the document makers; otherwise the case is skipped.
bool have_tools() {
  const OfficeLimits l;
  if (::access(l.soffice.c_str(), X_OK) != 0 || ::access(l.bwrap.c_str(), X_OK) != 0) {
    MESSAGE("skipped: LibreOffice (" << l.soffice << ") or bubblewrap (" << l.bwrap << ") is not installed");
    return false;
  }
  if (std::system("/usr/bin/python3 -c 'import docx, openpyxl' 2>/dev/null") != 0 ||
      std::system("command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null") != 0) {
    MESSAGE("skipped: needs /usr/bin/python3 with python3-docx and python3-openpyxl, and poppler-utils");
    return false;
  }
  if (std::system("/usr/bin/bwrap --unshare-all --ro-bind / / /bin/true 2>/dev/null") != 0) {
    MESSAGE("skipped: bubblewrap cannot create namespaces here");
    return false;
  }
  return true;
}

const std::string kJapanese = "見積書 令和6年 東京都千代田区";

std::string make_docx(const Scratch& s, const std::string& name, const std::string& body_py) {
  REQUIRE(s.python("import docx\nd = docx.Document()\n" + body_py + "d.save('" + name + "')\n"));
  return slurp(s.work() + "/" + name);
}

// The processes whose parent is this one. With this process a child subreaper, anything the converter
// started and left behind (bwrap, oosplash, soffice.bin, orphaned or not) is reparented here, so this
// sees exactly our leftovers, whatever other LibreOffice runs beside the test.
std::set<std::string> our_children() {
  std::set<std::string> pids;
  const std::string self = std::to_string(::getpid());
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(line.substr(paren + 1));
    std::string state, ppid;
    if (rest >> state >> ppid && ppid == self) pids.insert(e.path().filename().string());
  }
  return pids;
}

}  // namespace

TEST_CASE("a Japanese docx becomes a PDF with its text intact") {
  if (!have_tools()) return;
  Scratch s;
  const auto doc = make_docx(s, "ja.docx", "d.add_paragraph('" + kJapanese + "')\nd.add_paragraph('English line')\n");
  const auto pdf = convert_to_pdf(doc, "docx", OfficeLimits{});
  REQUIRE_MESSAGE(pdf.has_value(), pdf.error().message);
  CHECK(pdf->rfind("%PDF-", 0) == 0);
  // pdftotext puts a space where the font changes (the digit 6 is set in a Latin font), so white space
  // is ignored; every character is compared.
  CHECK(without_space(s.pdf_text(*pdf)).find(without_space(kJapanese)) != std::string::npos);
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("every sheet of a three-sheet xlsx is in the PDF") {
  if (!have_tools()) return;
  Scratch s;
  REQUIRE(s.python(R"(import openpyxl
wb = openpyxl.Workbook()
names = ['見積', '請求', '納品']
for i, name in enumerate(names):
    ws = wb.active if i == 0 else wb.create_sheet()
    ws.title = name
    ws['A1'] = name + '書 第' + str(i + 1) + '表'
    ws['B2'] = (i + 1) * 1000
wb.save('three.xlsx')
)"));
  const auto pdf = convert_to_pdf(slurp(s.work() + "/three.xlsx"), "xlsx", OfficeLimits{});
  REQUIRE_MESSAGE(pdf.has_value(), pdf.error().message);
  CHECK(s.pdf_pages(*pdf) >= 3);
  const auto text = without_space(s.pdf_text(*pdf));
  for (const char* sheet : {"見積書第1表", "請求書第2表", "納品書第3表"}) CHECK_MESSAGE(text.find(sheet) != std::string::npos, sheet);
  CHECK(s.tmp_entries() == 0);
}

// What this proves: an ODF document whose OnLoad event (dom:load) runs an embedded Basic macro converts,
// and the macro left no trace: neither the host file it writes nor the text it would insert. It cannot
// tell which layer stopped it: LibreOffice 7.4's --convert-to loads without MacroExecutionMode (that is,
// never execute) before the profile's MacroSecurityLevel 3 / DisableMacrosExecution are consulted, and the
// sandbox's /tmp is not the host's. Those two are defence in depth for a LibreOffice that behaves otherwise.
TEST_CASE("a document macro does not run") {
  if (!have_tools()) return;
  Scratch s;
  const std::string marker = "/tmp/mugai-macro-ran-" + std::to_string(::getpid());
  fs::remove(marker);
  REQUIRE(s.python(R"(import zipfile
marker = ')" + marker + R"('
content = '''<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3">
<office:scripts><office:event-listeners>
<script:event-listener script:language="ooo:script" script:event-name="dom:load" xlink:href="vnd.sun.star.script:Standard.Module1.Main?language=Basic&amp;location=document" xlink:type="simple"/>
</office:event-listeners></office:scripts>
<office:body><office:text><text:p>macro test document</text:p></office:text></office:body></office:document-content>'''
module = '''<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">Sub Main
  Open "%s" For Output As #1
  Print #1, "ran"
  Close #1
  ThisComponent.Text.insertString(ThisComponent.Text.getEnd(), " MACRORAN", False)
End Sub
</script:module>''' % marker
lc = '''<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE library:libraries PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "libraries.dtd">
<library:libraries xmlns:library="http://openoffice.org/2000/library" xmlns:xlink="http://www.w3.org/1999/xlink">
 <library:library library:name="Standard" library:link="false"/></library:libraries>'''
lb = '''<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE library:library PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "library.dtd">
<library:library xmlns:library="http://openoffice.org/2000/library" library:name="Standard" library:readonly="false" library:passwordprotected="false">
 <library:element library:name="Module1"/></library:library>'''
manifest = '''<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
 <manifest:file-entry manifest:full-path="Basic/script-lc.xml" manifest:media-type="text/xml"/>
 <manifest:file-entry manifest:full-path="Basic/Standard/script-lb.xml" manifest:media-type="text/xml"/>
 <manifest:file-entry manifest:full-path="Basic/Standard/Module1.xml" manifest:media-type="text/xml"/>
</manifest:manifest>'''
with zipfile.ZipFile('macro.odt', 'w') as z:
    z.writestr(zipfile.ZipInfo('mimetype'), 'application/vnd.oasis.opendocument.text')
    for name, text in (('META-INF/manifest.xml', manifest), ('content.xml', content), ('Basic/script-lc.xml', lc),
                       ('Basic/Standard/script-lb.xml', lb), ('Basic/Standard/Module1.xml', module)):
        z.writestr(name, text, zipfile.ZIP_DEFLATED)
)"));
  const auto pdf = convert_to_pdf(slurp(s.work() + "/macro.odt"), "odt", OfficeLimits{});
  REQUIRE_MESSAGE(pdf.has_value(), pdf.error().message);
  const auto text = s.pdf_text(*pdf);
  CHECK(text.find("macro test document") != std::string::npos);
  CHECK(text.find("MACRORAN") == std::string::npos);
  CHECK_FALSE(fs::exists(marker));
  CHECK(s.tmp_entries() == 0);
}

// What this proves: a docx whose picture is an external link to a listening host port converts without
// LibreOffice reaching that port (the sandbox's network namespace has only its own, down, loopback).
TEST_CASE("a linked remote image is not fetched") {
  if (!have_tools()) return;
  Scratch s;
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  REQUIRE(sock >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(sock, 8) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x.png";
  // A real picture first, then its relationship turned into an external link (r:embed -> r:link).
  REQUIRE(s.python(R"(import docx, io, zipfile, re, zlib, struct
def png():
    raw = b'\x00\xff\x00\x00'
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
d = docx.Document()
d.add_paragraph('linked picture below')
d.add_picture(io.BytesIO(png()))
d.save('embedded.docx')
zin = zipfile.ZipFile('embedded.docx')
with zipfile.ZipFile('linked.docx', 'w', zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        data = zin.read(item.filename)
        if item.filename == 'word/_rels/document.xml.rels':
            data = re.sub(rb'Target="media/image1\.png"', b'Target=")" + url + R"(" TargetMode="External"', data)
        elif item.filename == 'word/document.xml':
            data = data.replace(b'r:embed=', b'r:link=')
        if not item.filename.startswith('word/media/'):
            zout.writestr(item, data)
)"));
  const auto doc = slurp(s.work() + "/linked.docx");
  const auto pdf = convert_to_pdf(doc, "docx", OfficeLimits{});
  REQUIRE_MESSAGE(pdf.has_value(), pdf.error().message);
  CHECK(s.pdf_text(*pdf).find("linked picture below") != std::string::npos);
  const int conn = ::accept(sock, nullptr, nullptr);
  CHECK_MESSAGE(conn < 0, "LibreOffice connected to " << url);
  if (conn >= 0) ::close(conn);
  ::close(sock);
  CHECK(s.tmp_entries() == 0);
}

// A minimal, valid CFB (OLE2) file with the two streams of an encrypted OOXML package, as Office writes
// one for a password-protected docx: the check must refuse it before LibreOffice would ask for a password.
TEST_CASE("a password-protected docx is refused before LibreOffice starts") {
  if (!have_tools()) return;
  Scratch s;
  REQUIRE(s.python(R"(import struct
SECT = 512
FREE, END, FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
# sector 0: FAT, sector 1: directory, sectors 2-9: EncryptionInfo, 10-17: EncryptedPackage (4096 bytes each,
# at the mini stream cutoff, so both live in regular sectors and no mini FAT is needed)
fat = [FATSECT, END] + list(range(3, 10)) + [END] + list(range(11, 18)) + [END]
fat += [FREE] * (128 - len(fat))
def entry(name, kind, child=FREE, right=FREE, start=END, size=0):
    n = name.encode('utf-16-le') + b'\0\0' if name else b''
    return (n.ljust(64, b'\0') + struct.pack('<HBB', len(n), kind, 1) + struct.pack('<III', FREE, right, child)
            + b'\0' * 16 + b'\0' * 4 + b'\0' * 16 + struct.pack('<IQ', start, size))
dirsect = entry('Root Entry', 5, child=1) + entry('EncryptionInfo', 2, right=2, start=2, size=4096) \
        + entry('EncryptedPackage', 2, start=10, size=4096) + entry('', 0)
header = (b'\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1' + b'\0' * 16 + struct.pack('<HHHHH', 0x3E, 3, 0xFFFE, 9, 6)
          + b'\0' * 6 + struct.pack('<9I', 0, 1, 1, 0, 4096, END, 0, END, 0)
          + struct.pack('<109I', *([0] + [FREE] * 108)))
assert len(header) == 512, len(header)
info = struct.pack('<HHI', 4, 4, 0x40) + b'<encryption/>'
body = header + struct.pack('<128I', *fat) + dirsect + info.ljust(4096, b'\0') + b'\x5a' * 4096
open('locked.docx', 'wb').write(body)
try:  # olefile (python3-olefile), where present, confirms the container is well formed
    import olefile
    assert sorted(olefile.OleFileIO('locked.docx').listdir()) == [['EncryptedPackage'], ['EncryptionInfo']]
except ImportError:
    pass
)"));
  OfficeLimits limits;
  limits.soffice = "/nonexistent/soffice";  // refused by the content check, so LibreOffice is never needed
  const auto pdf = convert_to_pdf(slurp(s.work() + "/locked.docx"), "docx", limits);
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kDocumentRefused);
  CHECK(pdf.error().message == "password-protected document");
  // An encrypted PowerPoint 97 file is known by its EncryptedSummary stream (only the name matters here).
  std::string ppt("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
  ppt.resize(512, '\0');
  for (char c : std::string("EncryptedSummary")) ppt += std::string{c, '\0'};
  const auto ppt_pdf = convert_to_pdf(ppt, "ppt", limits);
  REQUIRE_FALSE(ppt_pdf.has_value());
  CHECK(ppt_pdf.error().message == "password-protected document");
  CHECK(s.tmp_entries() == 0);
}

// What this proves: the import filter is the declared format's, not LibreOffice's guess: a docx declared
// as rtf goes through the RTF filter and comes out without the docx's text (a guess would find it).
TEST_CASE("the declared format's import filter is forced") {
  if (!have_tools()) return;
  Scratch s;
  const auto doc = make_docx(s, "really.docx", "d.add_paragraph('" + kJapanese + "')\n");
  const auto pdf = convert_to_pdf(doc, "rtf", OfficeLimits{});
  if (pdf.has_value()) {
    CHECK(without_space(s.pdf_text(*pdf)).find(without_space(kJapanese)) == std::string::npos);
  } else {
    CHECK(pdf.error().kind == kDocumentRefused);
  }
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("the deadline kills LibreOffice and leaves no process behind") {
  if (!have_tools()) return;
  Scratch s;
  const auto doc = make_docx(s, "slow.docx", "for i in range(200):\n    d.add_paragraph('" + kJapanese + " ' * 20)\n");
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  OfficeLimits limits;
  limits.timeout = std::chrono::seconds(1);  // LibreOffice alone needs about 2 s to start
  const auto start = std::chrono::steady_clock::now();
  const auto pdf = convert_to_pdf(doc, "docx", limits);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kDocumentRefused);
  CHECK(pdf.error().message == "LibreOffice did not finish within 1 s (render.office_timeout)");
  CHECK(took < std::chrono::seconds(7));  // 1 s and at most the 5 s grace for the sandbox to go
  // Sandbox processes in bubblewrap's new session die of their parent's death (--die-with-parent), a
  // moment after the kill, and are reparented here (to init, without the subreaper): reaped as they
  // end, none may still be there two seconds on.
  const auto settled = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  do {
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (our_children().empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < settled);
  for (const auto& pid : our_children()) {
    std::ifstream st("/proc/" + pid + "/stat");
    std::string line;
    std::getline(st, line);
    CHECK_MESSAGE(false, "left behind: " << line);
  }
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 0) == 0);
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("garbage declared as docx is refused without a PDF") {
  if (!have_tools()) return;
  Scratch s;
  std::string junk = "PK\x03\x04";
  for (int i = 0; i < 20000; ++i) junk.push_back(static_cast<char>((i * 7919 + 13) % 251));
  const auto pdf = convert_to_pdf(junk, "docx", OfficeLimits{});
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kDocumentRefused);
  CHECK(pdf.error().message.find("no PDF") != std::string::npos);
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("a memory limit LibreOffice cannot live with refuses the document") {
  if (!have_tools()) return;
  Scratch s;
  const auto doc = make_docx(s, "small.docx", "d.add_paragraph('" + kJapanese + "')\n");
  OfficeLimits limits;
  limits.memory = 64ull << 20;
  const auto pdf = convert_to_pdf(doc, "docx", limits);
  REQUIRE_FALSE(pdf.has_value());
  MESSAGE("64 MiB: " << pdf.error().message);
  CHECK(pdf.error().kind == kDocumentRefused);
  const auto& m = pdf.error().message;
  CHECK((m.find("crashed") != std::string::npos || m.find("no PDF") != std::string::npos));
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("a PDF over max_output is refused") {
  if (!have_tools()) return;
  Scratch s;
  const auto doc = make_docx(s, "small.docx", "d.add_paragraph('" + kJapanese + "')\n");
  OfficeLimits limits;
  limits.max_output = 1000;
  const auto pdf = convert_to_pdf(doc, "docx", limits);
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kDocumentRefused);
  CHECK(pdf.error().message == "PDF larger than 1000 bytes (render.office_max_output)");
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("a missing bubblewrap or LibreOffice is a host failure") {
  Scratch s;
  OfficeLimits limits;
  limits.bwrap = "/nonexistent/bwrap";
  auto pdf = convert_to_pdf("PK\x03\x04", "docx", limits);
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kHostFailure);
  CHECK(pdf.error().message.find("cannot start bubblewrap") == 0);
  limits = OfficeLimits{};
  limits.soffice = "/nonexistent/soffice";
  pdf = convert_to_pdf("PK\x03\x04", "docx", limits);
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kHostFailure);
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("bubblewrap refusing its arguments is a host failure, not the document's") {
  if (!have_tools()) return;
  Scratch s;
  // /bin/false as "bwrap": exits 1 without ever reporting a sandbox on --info-fd.
  OfficeLimits limits;
  limits.bwrap = "/bin/false";
  const auto pdf = convert_to_pdf("PK\x03\x04", "docx", limits);
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kHostFailure);
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("exactly the formats a worker may ask for are accepted, and an unknown one starts nothing") {
  Scratch s;
  for (const auto f : mugai::sanitize::kOfficeFormats) CHECK_MESSAGE(mugai::office::known_format(f), f);
  for (const char* f : {"exe", "pdf", "", "DOCX", "html", "txt"}) CHECK_FALSE(mugai::office::known_format(f));
  OfficeLimits limits;
  limits.bwrap = "/nonexistent/bwrap";  // a start would be a host failure; the format check comes first
  const auto pdf = convert_to_pdf("MZ\x90", "exe", limits);
  REQUIRE_FALSE(pdf.has_value());
  CHECK(pdf.error().kind == kDocumentRefused);
  CHECK(s.tmp_entries() == 0);
}

TEST_CASE("conversions from several threads at once each get their own PDF") {
  if (!have_tools()) return;
  Scratch s;
  std::vector<std::string> docs;
  for (int i = 0; i < 3; ++i)
    docs.push_back(make_docx(s, "t" + std::to_string(i) + ".docx", "d.add_paragraph('thread document " + std::to_string(i) + "')\n"));
  std::vector<mugai::Expected<std::string>> results(3, mugai::Error{"not run"});
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] { results[i] = convert_to_pdf(docs[i], "docx", OfficeLimits{}); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 3; ++i) {
    REQUIRE_MESSAGE(results[i].has_value(), results[i].error().message);
    CHECK(s.pdf_text(*results[i]).find("thread document " + std::to_string(i)) != std::string::npos);
  }
  CHECK(s.tmp_entries() == 0);
}
