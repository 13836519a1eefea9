// libjpeg-turbo's TurboJPEG reports errors by return value, so no setjmp/longjmp crosses C++ frames
// here. PNG is written here with zlib rather than by libpng, whose writers always add an sRGB or gAMA
// chunk: the file has IHDR, IDAT and IEND and nothing else, so an oracle can demand exactly that.
#include "render/encode.hpp"

#include <turbojpeg.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace mugai::render {
namespace {

Status check_shape(const Raster& r) {
  if (r.width == 0 || r.height == 0) return Error{"empty raster"};
  if (r.channels != 1 && r.channels != 3) return Error{"raster must be gray or RGB"};
  if (r.pixels.size() != std::size_t{r.width} * r.height * r.channels) return Error{"raster size mismatch"};
  return Ok{};
}

void append_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

void append_chunk(std::string& out, std::string_view type, std::string_view data) {
  append_be32(out, static_cast<std::uint32_t>(data.size()));
  out += type;
  out += data;
  uLong crc = crc32(0, reinterpret_cast<const Bytef*>(type.data()), static_cast<uInt>(type.size()));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  append_be32(out, static_cast<std::uint32_t>(crc));
}

}  // namespace

Expected<std::string> encode_jpeg(const Raster& raster, unsigned quality) {
  if (auto st = check_shape(raster); !st) return st.error();
  const std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitCompress(), tjDestroy);
  if (!tj) return Error{"jpeg: cannot start the encoder"};
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const bool gray = raster.channels == 1;
  const int rc = tjCompress2(tj.get(), raster.pixels.data(), static_cast<int>(raster.width), 0,
                             static_cast<int>(raster.height), gray ? TJPF_GRAY : TJPF_RGB, &out, &size,
                             gray ? TJSAMP_GRAY : TJSAMP_420, static_cast<int>(quality), TJFLAG_ACCURATEDCT);
  const std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(out, tjFree);
  if (rc != 0) return Error{std::string("jpeg: ") + tjGetErrorStr2(tj.get())};
  return std::string(reinterpret_cast<const char*>(out), size);
}

Expected<std::string> encode_png(const Raster& raster) {
  if (auto st = check_shape(raster); !st) return st.error();
  // Each row filtered with whichever of None/Sub/Up/Average/Paeth gives the smallest sum of absolute
  // residuals (libpng's heuristic), the whole zlib-compressed into one IDAT.
  const std::size_t bpp = raster.channels;
  const std::size_t row = std::size_t{raster.width} * bpp;
  std::string filtered;
  filtered.reserve((row + 1) * raster.height);
  std::vector<std::uint8_t> zero(row, 0);
  std::array<std::vector<std::uint8_t>, 5> candidates;
  for (auto& c : candidates) c.resize(row);
  for (std::uint32_t y = 0; y < raster.height; ++y) {
    const std::uint8_t* cur = raster.pixels.data() + y * row;
    const std::uint8_t* up = y == 0 ? zero.data() : cur - row;
    std::size_t best = 0;
    std::uint64_t best_sum = UINT64_MAX;
    for (std::size_t f = 0; f < candidates.size(); ++f) {
      std::uint64_t sum = 0;
      for (std::size_t i = 0; i < row; ++i) {
        const int a = i >= bpp ? cur[i - bpp] : 0;
        const int b = up[i];
        const int c = i >= bpp ? up[i - bpp] : 0;
        int predicted = 0;
        if (f == 1) predicted = a;
        if (f == 2) predicted = b;
        if (f == 3) predicted = (a + b) / 2;
        if (f == 4) {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
        const auto residual = static_cast<std::uint8_t>(cur[i] - predicted);
        candidates[f][i] = residual;
        sum += residual < 128 ? residual : 256 - residual;
      }
      if (sum < best_sum) {
        best_sum = sum;
        best = f;
      }
    }
    filtered.push_back(static_cast<char>(best));
    filtered.append(reinterpret_cast<const char*>(candidates[best].data()), row);
  }
  auto idat = deflate(filtered, 6);
  if (!idat) return idat.error();
  std::string ihdr;
  append_be32(ihdr, raster.width);
  append_be32(ihdr, raster.height);
  ihdr += std::string_view("\x08", 1);                      // 8 bits per sample
  ihdr.push_back(raster.channels == 1 ? '\x00' : '\x02');  // gray or RGB
  ihdr += std::string_view("\0\0\0", 3);                    // deflate, adaptive filtering, no interlace
  std::string out("\x89PNG\r\n\x1a\n", 8);
  append_chunk(out, "IHDR", ihdr);
  // IDAT chunks of at most 1 MiB: a chunk length must stay below 2^31, whatever render.max_pixels allows.
  constexpr std::size_t kIdat = std::size_t{1} << 20;
  for (std::size_t at = 0; at < idat->size(); at += kIdat) append_chunk(out, "IDAT", std::string_view(*idat).substr(at, kIdat));
  append_chunk(out, "IEND", "");
  return out;
}

Expected<std::string> deflate(std::string_view bytes, int level) {
  uLongf size = compressBound(static_cast<uLong>(bytes.size()));
  std::string out(size, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &size, reinterpret_cast<const Bytef*>(bytes.data()),
                           static_cast<uLong>(bytes.size()), level);
  if (rc != Z_OK) return Error{"deflate: zlib error " + std::to_string(rc)};
  out.resize(size);
  return out;
}

}  // namespace mugai::render
