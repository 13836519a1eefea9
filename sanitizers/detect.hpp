// The type of a part from its content (libmagic), never from its name or declared type, and the risk
// flags that compare the three: double extensions, executables in disguise, declared ≠ detected.
// Thread-safe: each thread has its own libmagic handle; only a bounded prefix is examined.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mugai::sanitize {

// libmagic looks at no more than this many leading bytes...
inline constexpr std::size_t kDetectPrefix = 64 * 1024;
// ...but at a compound (OLE2) file as a whole, up to this: its directory, which says whether it is a
// Word, Excel or PowerPoint file, may be anywhere in it.
inline constexpr std::size_t kDetectCompound = 64 * 1024 * 1024;

// Lowercase "type/subtype"; "application/x-empty" for no bytes; "application/octet-stream" when
// libmagic is unavailable or cannot tell (the cautious answer: unknown data).
std::string detect_type(std::string_view untrusted_bytes);

// What the pipeline calls. libmagic costs about a millisecond per call whatever the size, so a part
// declared text/* whose examined prefix holds no control byte but TAB, LF, CR, FF and ESC (ISO-2022-JP)
// is taken for the text type it declares without it: binary formats, executables above all, carry such
// bytes at their start. Formats that can be all printable do not: a text/* part starting with MZ,
// PK\3\4, the OLE or ELF magic or "{\rtf", or holding "%PDF-" in its first 1024 bytes (where PDF
// readers look), goes to detect_type() like everything else.
std::string detect_part_type(std::string_view declared_type, std::string_view untrusted_bytes);

// Programs and scripts a click can run: PE/ELF/Mach-O, MSI, Java archives, shell and batch scripts...
bool is_executable_type(std::string_view detected_type);

// "double_extension" (invoice.pdf.exe), "executable_disguised" (an executable detected in a part
// declared as something else), "type_mismatch" (declared and detected types differ in substance).
std::vector<std::string> risk_flags(std::string_view declared_type, std::string_view detected_type,
                                    std::string_view filename);

// The type the policy rules see: the detected one whenever the content is a binary format or an
// executable. Content that libmagic takes for text other than RTF (or cannot classify) is read as declared: libmagic
// cannot tell an HTML fragment or a Japanese encoding from plain text, and a text payload declared as
// an attachment type stays an attachment.
std::string effective_type(std::string_view declared_type, std::string_view detected_type);

}  // namespace mugai::sanitize
