// Unit tests of the image decoders (render/image_decode.hpp, render/bmp_decode.hpp) and the
// image_render sanitizer: images are built here byte by byte or with mugai's own encoders, and the
// results are judged by fuzz/oracle.hpp's independent PNG/JPEG walkers.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/oracle.hpp"
#include "render/bmp_decode.hpp"
#include "render/encode.hpp"
#include "render/image_decode.hpp"
#include "sanitizers/sanitizer.hpp"

namespace {

using mugai::render::Raster;

constexpr std::uint64_t kMax = 40'000'000;

void le16(std::string& s, std::uint32_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>((v >> 8) & 0xFF));
}
void le32(std::string& s, std::uint32_t v) {
  le16(s, v & 0xFFFF);
  le16(s, v >> 16);
}
void be32(std::string& s, std::uint32_t v) {
  for (int k = 3; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

// A BMP with a 40-byte header; `palette` as B,G,R,0 quads.
std::string bmp(std::int32_t w, std::int32_t h, std::uint16_t bpp, std::uint32_t compression, const std::string& palette,
                const std::string& data) {
  std::string info;
  le32(info, 40);
  le32(info, static_cast<std::uint32_t>(w));
  le32(info, static_cast<std::uint32_t>(h));
  le16(info, 1);
  le16(info, bpp);
  le32(info, compression);
  le32(info, static_cast<std::uint32_t>(data.size()));
  le32(info, 2835);
  le32(info, 2835);
  le32(info, static_cast<std::uint32_t>(palette.size() / 4));
  le32(info, 0);
  const std::uint32_t offset = 14 + 40 + static_cast<std::uint32_t>(palette.size());
  std::string out = "BM";
  le32(out, offset + static_cast<std::uint32_t>(data.size()));
  le32(out, 0);
  le32(out, offset);
  return out + info + palette + data;
}

Raster gradient(std::uint32_t w, std::uint32_t h) {
  Raster r{w, h, 3, {}};
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      r.pixels.push_back(static_cast<std::uint8_t>(x * 255 / w));
      r.pixels.push_back(static_cast<std::uint8_t>(y * 255 / h));
      r.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 13) % 256));
    }
  }
  return r;
}

Raster two_colours(std::uint32_t w, std::uint32_t h) {
  Raster r{w, h, 3, {}};
  for (std::uint32_t i = 0; i < w * h; ++i) {
    const bool red = (i % w) < w / 2;
    r.pixels.insert(r.pixels.end(), {static_cast<std::uint8_t>(red ? 255 : 0), 0, static_cast<std::uint8_t>(red ? 0 : 255)});
  }
  return r;
}

std::string png_chunk(std::string_view type, std::string_view data) {
  std::string c;
  be32(c, static_cast<std::uint32_t>(data.size()));
  c += type;
  c += data;
  be32(c, mugai::fuzz::crc32_of(std::string(type) + std::string(data)));
  return c;
}

mugai::sanitize::Decision render(std::string_view bytes, std::string_view name, std::uint64_t max_pixels = kMax) {
  mugai::sanitize::PartInfo info;
  info.declared_type = "image/png";
  info.filename = name;
  info.render.max_pixels = max_pixels;
  return mugai::sanitize::find_sanitizer("image_render")->sanitize(bytes, info);
}

}  // namespace

TEST_CASE("BMP: 24-bit bottom-up and top-down rows, 1-bit palette") {
  // 2×2: bottom row blue, red; top row green, white. Rows padded to 4 bytes.
  const std::string rows = std::string("\xFF\x00\x00\x00\x00\xFF\x00\x00", 8) + std::string("\x00\xFF\x00\xFF\xFF\xFF\x00\x00", 8);
  auto up = mugai::render::decode_bmp(bmp(2, 2, 24, 0, "", rows), kMax);
  REQUIRE(up);
  CHECK(up->pixels == std::vector<std::uint8_t>{0, 255, 0, 255, 255, 255, 0, 0, 255, 255, 0, 0});
  auto down = mugai::render::decode_bmp(bmp(2, -2, 24, 0, "", rows), kMax);
  REQUIRE(down);
  CHECK(down->pixels == std::vector<std::uint8_t>{0, 0, 255, 255, 0, 0, 0, 255, 0, 255, 255, 255});
  // 1 bpp, 3×1: bits 101 → palette 1, 0, 1.
  const std::string palette("\x00\x00\x00\x00\xFF\xFF\xFF\x00", 8);
  auto mono = mugai::render::decode_bmp(bmp(3, 1, 1, 0, palette, std::string("\xA0\x00\x00\x00", 4)), kMax);
  REQUIRE(mono);
  CHECK(mono->pixels == std::vector<std::uint8_t>{255, 255, 255, 0, 0, 0, 255, 255, 255});
}

TEST_CASE("BMP: RLE8 runs are clipped to the image, never written past it") {
  const std::string palette("\x00\x00\xFF\x00\xFF\x00\x00\x00", 8);  // 0 red, 1 blue
  // 4×2: a run of 200 blue pixels on row 0 (falls off the row), EOL, 2 blue, a delta below the image,
  // a run there, EOF.
  const std::string data("\xC8\x01\x00\x00\x02\x01\x00\x02\x00\x05\x50\x03\x00\x01", 14);
  auto r = mugai::render::decode_bmp(bmp(4, 2, 8, 1, palette, data), kMax);
  REQUIRE(r);
  // Stored row 0 is the bottom output row: all blue. Stored row 1 (the top) has a run of two blue pixels,
  // the rest index 0 (red); the run after the delta lies below the image and writes nothing.
  CHECK(r->pixels == std::vector<std::uint8_t>{0, 0, 255, 0, 0, 255, 255, 0, 0, 255, 0, 0,
                                               0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255});
}

TEST_CASE("BMP: refusals say why") {
  const auto why = [](const std::string& b) {
    auto r = mugai::render::decode_bmp(b, kMax);
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  CHECK(why(bmp(2, 2, 24, 0, "", std::string(8, '\0'))).find("truncated pixel data") != std::string::npos);
  CHECK(why(bmp(2, 2, 24, 4, "", std::string(16, '\0'))).find("embeds a JPEG") != std::string::npos);
  CHECK(why(bmp(2, 2, 24, 5, "", std::string(16, '\0'))).find("embeds a PNG") != std::string::npos);
  CHECK(why(bmp(0, 2, 24, 0, "", std::string(16, '\0'))).find("positive") != std::string::npos);
  CHECK(why(bmp(2, 2, 7, 0, "", std::string(16, '\0'))).find("not a valid combination") != std::string::npos);
  CHECK(why("BM").find("not a BMP") != std::string::npos);
  // 65,535 × 65,535 is refused from the header, before any pixel is allocated.
  CHECK(why(bmp(65535, 65535, 24, 0, "", "")) ==
        "BMP: 65535×65535 = 4294836225 pixels exceeds render.max_pixels (40000000)");
}

TEST_CASE("PNG and JPEG decode what mugai's encoders wrote; the pixel limit is checked first") {
  const Raster g = gradient(40, 30);
  auto png = mugai::render::encode_png(g);
  REQUIRE(png);
  auto back = mugai::render::decode_image(*png, kMax);
  REQUIRE(back);
  CHECK(back->format == mugai::render::ImageFormat::Png);
  CHECK(back->raster.pixels == g.pixels);
  CHECK(mugai::render::decode_image(*png, 1200));
  auto over = mugai::render::decode_image(*png, 1199);
  REQUIRE_FALSE(over);
  CHECK(over.error().message == "PNG: 40×30 = 1200 pixels exceeds render.max_pixels (1199)");

  auto jpeg = mugai::render::encode_jpeg(g, 95);
  REQUIRE(jpeg);
  auto j = mugai::render::decode_image(*jpeg, kMax);
  REQUIRE(j);
  CHECK(j->raster.width == 40);
  CHECK(j->raster.height == 30);
  long diff = 0;
  for (std::size_t i = 0; i < g.pixels.size(); ++i) diff += std::abs(int{g.pixels[i]} - int{j->raster.pixels[i]});
  CHECK(diff / static_cast<long>(g.pixels.size()) < 8);
  // Truncated: refused, not delivered with gray rows.
  CHECK_FALSE(mugai::render::decode_image(jpeg->substr(0, jpeg->size() / 2), kMax));
  CHECK_FALSE(mugai::render::decode_image(png->substr(0, png->size() - 20), kMax));
  CHECK_FALSE(mugai::render::decode_image("not an image", kMax));
  // A text chunk claiming 805 MB in a tiny file: refused before libpng would allocate that much.
  std::string lying = png->substr(0, 33);
  be32(lying, 0x30000023);
  lying += "iTXtComment";
  auto claim = mugai::render::decode_image(lying, kMax);
  REQUIRE_FALSE(claim);
  CHECK(claim.error().message ==
        "PNG: the iTXt chunk claims 805306403 bytes, more than the 15 left in the file (truncated or corrupt)");
}

TEST_CASE("JPEG: EXIF orientation turns the picture as the camera meant, and a malformed one is ignored") {
  auto jpeg = mugai::render::encode_jpeg(two_colours(32, 16), 95);  // left half red, right half blue
  REQUIRE(jpeg);
  // APP1: "Exif\0\0", little-endian TIFF header, IFD0 at 8 with one entry: Orientation (SHORT) = 6.
  const auto with_orientation = [&](char value, std::string_view order) {
    std::string tiff = order == "II" ? std::string("II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0", 18) + value +
                                           std::string("\0\0\0\0\0\0\0", 7)
                                     : std::string("MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0", 19) + value +
                                           std::string("\0\0\0\0\0\0", 6);
    const std::string payload = std::string("Exif\0\0", 6) + tiff;
    std::string seg("\xFF\xE1", 2);
    seg.push_back(static_cast<char>((payload.size() + 2) >> 8));
    seg.push_back(static_cast<char>((payload.size() + 2) & 0xFF));
    return jpeg->substr(0, 2) + seg + payload + jpeg->substr(2);
  };
  const auto at = [](const Raster& r, std::uint32_t x, std::uint32_t y) {
    const std::size_t i = (std::size_t{y} * r.width + x) * 3;
    return std::vector<int>{r.pixels[i], r.pixels[i + 1], r.pixels[i + 2]};
  };
  for (const std::string_view order : {"II", "MM"}) {
    auto turned = mugai::render::decode_image(with_orientation('\x06', order), kMax);
    REQUIRE(turned);
    REQUIRE(turned->raster.width == 16);  // 90° clockwise: the red left half is now on top
    REQUIRE(turned->raster.height == 32);
    CHECK(at(turned->raster, 8, 4)[0] > 200);
    CHECK(at(turned->raster, 8, 27)[2] > 200);
  }
  auto upside = mugai::render::decode_image(with_orientation('\x03', "II"), kMax);
  REQUIRE(upside);
  REQUIRE(upside->raster.width == 32);
  CHECK(at(upside->raster, 4, 8)[2] > 200);  // 180°: blue now on the left
  auto bogus = mugai::render::decode_image(with_orientation('\x09', "II"), kMax);  // out of range: as stored
  REQUIRE(bogus);
  CHECK(at(bogus->raster, 4, 8)[0] > 200);
}

TEST_CASE("GIF: the first frame on the logical screen, transparency as white") {
  // 1×1, global table {red, black}, one frame of index 0.
  const std::string red("GIF89a\x01\x00\x01\x00\x80\x00\x00\xFF\x00\x00\x00\x00\x00"
                        "\x2C\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3B", 35);
  auto r = mugai::render::decode_image(red, kMax);
  REQUIRE(r);
  CHECK(r->raster.pixels == std::vector<std::uint8_t>{255, 0, 0});
  CHECK_FALSE(r->more_frames);
  // The same with a Graphic Control Extension making index 0 transparent.
  std::string clear = red;
  clear.insert(19, std::string("\x21\xF9\x04\x01\x00\x00\x00\x00", 8));
  auto c = mugai::render::decode_image(clear, kMax);
  REQUIRE(c);
  CHECK(c->raster.pixels == std::vector<std::uint8_t>{255, 255, 255});
  CHECK_FALSE(mugai::render::decode_image(red.substr(0, 25), kMax));  // truncated
}

TEST_CASE("image_render: nothing but pixels, a fresh name, PNG for graphics and JPEG for photos") {
  // A PNG with tEXt, a ZIP appended after IEND.
  auto png = mugai::render::encode_png(two_colours(32, 16));
  REQUIRE(png);
  std::string hostile = png->substr(0, 33) + png_chunk("tEXt", std::string("Comment\0secret", 14)) + png->substr(33) +
                        std::string("PK\x03\x04zipzipzip", 13);
  auto d = render(hostile, "図.bmp");
  REQUIRE(d.action == mugai::sanitize::Decision::Action::Replace);
  REQUIRE(d.artefacts.size() == 1);
  CHECK(d.artefacts[0].content_type == "image/png");
  CHECK(d.artefacts[0].filename == "図.png");
  mugai::fuzz::check_png_artefact(d.artefacts[0].bytes);
  CHECK(d.artefacts[0].bytes.find("secret") == std::string::npos);

  // A JPEG with a COM and an APP1 Exif segment after SOI.
  auto jpeg = mugai::render::encode_jpeg(gradient(64, 48), 90);
  REQUIRE(jpeg);
  std::string meta = jpeg->substr(0, 2) + std::string("\xFF\xFE\x00\x08secret", 10) +
                     std::string("\xFF\xE1\x00\x0C" "Exif\0\0GPS!", 14) + jpeg->substr(2) + "trailing";
  auto j = render(meta, "写真.jpeg");
  REQUIRE(j.action == mugai::sanitize::Decision::Action::Replace);
  CHECK(j.artefacts[0].content_type == "image/jpeg");
  CHECK(j.artefacts[0].filename == "写真.jpg");
  mugai::fuzz::check_jpeg_artefact(j.artefacts[0].bytes);
  CHECK(j.artefacts[0].bytes.find("secret") == std::string::npos);
  CHECK(j.artefacts[0].bytes.find("Exif") == std::string::npos);

  // Many colours without a JPEG source: a photograph, so JPEG; an unnamed part is "image".
  auto many = mugai::render::encode_png(gradient(128, 128));
  REQUIRE(many);
  auto p = render(*many, "");
  REQUIRE(p.action == mugai::sanitize::Decision::Action::Replace);
  CHECK(p.artefacts[0].content_type == "image/jpeg");
  CHECK(p.artefacts[0].filename == "image.jpg");

  // A gray picture comes out as a gray PNG (IHDR colour type 0).
  Raster gray{16, 16, 3, std::vector<std::uint8_t>(16 * 16 * 3, 128)};
  for (std::size_t i = 0; i < 8 * 16 * 3; ++i) gray.pixels[i] = 10;
  auto g = render(*mugai::render::encode_png(gray), "scan");
  REQUIRE(g.action == mugai::sanitize::Decision::Action::Replace);
  CHECK(g.artefacts[0].filename == "scan.png");
  CHECK(g.artefacts[0].bytes[25] == 0);
}

TEST_CASE("image_render: a refused image is removed with the decoder's reason") {
  const std::string huge = bmp(65535, 65535, 24, 0, "", "");
  auto d = render(huge, "big.bmp");
  CHECK(d.action == mugai::sanitize::Decision::Action::Remove);
  CHECK(d.reason == "image could not be decoded: BMP: 65535×65535 = 4294836225 pixels exceeds render.max_pixels (40000000)");
  auto none = render("GIF89a", "x.gif");
  CHECK(none.action == mugai::sanitize::Decision::Action::Remove);
  CHECK(none.reason.starts_with("image could not be decoded: GIF: "));
}
