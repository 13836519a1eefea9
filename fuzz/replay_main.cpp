// Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput on every regular file in the
// directories (or files) named on the command line, so ctest keeps every fixed bug fixed under g++.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool run_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Announced first, so the input is named when the oracle aborts.
  std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t ran = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_regular_file(arg, ec)) {
      ok = run_file(arg) && ok;
      ++ran;
      continue;
    }
    if (!std::filesystem::is_directory(arg, ec)) {
      std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
      ok = false;
      continue;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(arg, ec)) {
      const std::string name = entry.path().filename().string();
      if (entry.is_regular_file() && name.front() != '.') files.push_back(entry.path());  // skips .gitkeep
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      ok = run_file(file) && ok;
      ++ran;
    }
  }
  std::fprintf(stderr, "replay: %zu input(s) replayed\n", ran);
  return ok ? 0 : 1;
}
