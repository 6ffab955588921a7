#pragma once
// A small command-line parser for the CLI: flags with values, boolean switches, positionals.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cli {

class Args {
 public:
  Args(int argc, char** argv) : args_(argv, argv + argc) {}

  bool done() const { return pos_ >= args_.size(); }
  const std::string& peek() const { return args_[pos_]; }
  std::string next() { return args_[pos_++]; }
  // True (and consumed) when the current argument is one of the given names.
  bool is(const char* a, const char* b = nullptr) {
    if (done()) return false;
    const std::string& s = args_[pos_];
    if (s == a || (b && s == b)) { ++pos_; current_ = s; return true; }
    return false;
  }
  std::string value() {
    if (done()) throw std::invalid_argument(current_ + " needs a value");
    return args_[pos_++];
  }
  int64_t int_value() {
    std::string v = value();
    try {
      size_t used = 0;
      long long x = std::stoll(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return x;
    } catch (const std::exception&) {
      throw std::invalid_argument(current_ + ": not an integer: '" + v + "'");
    }
  }
  double float_value() {
    std::string v = value();
    try {
      size_t used = 0;
      double x = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return x;
    } catch (const std::exception&) {
      throw std::invalid_argument(current_ + ": not a number: '" + v + "'");
    }
  }

 private:
  std::vector<std::string> args_;
  size_t pos_ = 0;
  std::string current_;
};

}  // namespace cli
