// Driver for office_bench.sh: converts argv[1] (format from its extension) to the PDF argv[2]
// through mugai::office::convert_to_pdf with the default limits. Exit 1 with the error's message.
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "office/convert.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: office_convert_bench IN.docx OUT.pdf\n";
    return 2;
  }
  const std::string in = argv[1];
  std::ifstream f(in, std::ios::binary);
  const std::string doc((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto pdf = mugai::office::convert_to_pdf(doc, in.substr(in.rfind('.') + 1), mugai::office::OfficeLimits{});
  if (!pdf) {
    std::cerr << "office_convert_bench: " << pdf.error().message << " (kind " << pdf.error().kind << ")\n";
    return 1;
  }
  std::ofstream(argv[2], std::ios::binary) << *pdf;
  return 0;
}
