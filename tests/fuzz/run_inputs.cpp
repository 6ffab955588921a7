// Runs a fuzz target over files (corpus entries, regression inputs) without libFuzzer: how
// the ordinary build and the sanitizer build check every input kept in tests/fuzz/.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int run_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int failures = 0, inputs = 0;
  for (int i = 1; i < argc; ++i) {
    struct stat st {};
    if (::stat(argv[i], &st) != 0) continue;  // an absent folder: nothing kept there yet
    if (!S_ISDIR(st.st_mode)) {
      failures += run_file(argv[i]);
      ++inputs;
      continue;
    }
    DIR* dir = ::opendir(argv[i]);
    if (!dir) continue;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir))
      if (e->d_name[0] != '.') names.push_back(std::string(argv[i]) + "/" + e->d_name);
    ::closedir(dir);
    for (const std::string& name : names) {
      failures += run_file(name);
      ++inputs;
    }
  }
  std::printf("%d inputs run\n", inputs);
  return failures == 0 ? 0 : 1;
}
