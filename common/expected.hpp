// A minimal expected<T, Error> for C++20 (std::expected is C++23): errors travel as values on the
// data path (DESIGN.md principle 6). Error carries a human message; callers map it to replies.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace mugai {

struct Error {
  std::string message;
  int kind = 0;  // optional machine-readable class; its meaning belongs to the producing module
};

template <typename T>
class Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}
  Expected(Error e) : v_(std::move(e)) {}

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// For operations that return nothing but may fail.
struct Ok {};
using Status = Expected<Ok>;

}  // namespace mugai
