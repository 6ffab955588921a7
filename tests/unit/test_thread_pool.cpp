// The pool's four ways of splitting [0, n): each does every item exactly once, for any
// thread count and chunk; stealing keeps each thread's own items in order; guided ranges
// shrink as the items run out.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "cpu/thread_pool.hpp"

using cria::cpu::ThreadPool;

namespace {

enum class Split { Static, Dynamic, Guided, Stealing };

// How many times each item of [0, n) was done.
std::vector<int> times_done(ThreadPool& pool, Split split, int64_t n, int64_t chunk) {
  std::unique_ptr<std::atomic<int>[]> counts(new std::atomic<int>[static_cast<size_t>(n) + 1]);
  for (int64_t i = 0; i <= n; ++i) counts[i] = 0;
  auto fn = [&](int64_t begin, int64_t end, int thread) {
    CHECK(thread >= 0);
    CHECK(thread < pool.size());
    for (int64_t i = begin; i < end; ++i) counts[i].fetch_add(1);
  };
  switch (split) {
    case Split::Static: pool.parallel_for(n, fn); break;
    case Split::Dynamic: pool.parallel_for_dynamic(n, chunk, fn); break;
    case Split::Guided: pool.parallel_for_guided(n, chunk, fn); break;
    case Split::Stealing: pool.parallel_for_stealing(n, chunk, fn); break;
  }
  std::vector<int> result(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) result[i] = counts[i].load();
  return result;
}

}  // namespace

TEST_CASE("thread pool: every split does each item exactly once") {
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
      for (int64_t chunk : {1, 3, 64}) {
        for (Split split : {Split::Static, Split::Dynamic, Split::Guided, Split::Stealing}) {
          CAPTURE(threads);
          CAPTURE(n);
          CAPTURE(chunk);
          CAPTURE(static_cast<int>(split));
          const std::vector<int> done = times_done(pool, split, n, chunk);
          int64_t wrong = 0;
          for (int c : done) wrong += c != 1;
          CHECK(wrong == 0);
        }
      }
    }
  }
}

TEST_CASE("thread pool: guided ranges start at a 2 n_threads-th of the items and never grow") {
  for (int threads = 2; threads <= 3; ++threads) {
    ThreadPool pool(threads);
    for (int64_t min_chunk : {1, 5}) {
      CAPTURE(threads);
      CAPTURE(min_chunk);
      const int64_t n = 1000;
      std::mutex mutex;
      std::vector<std::pair<int64_t, int64_t>> ranges;
      pool.parallel_for_guided(n, min_chunk, [&](int64_t begin, int64_t end, int) {
        std::lock_guard<std::mutex> lock(mutex);
        ranges.emplace_back(begin, end);
      });
      std::sort(ranges.begin(), ranges.end());
      REQUIRE(!ranges.empty());
      CHECK(ranges.front() == std::make_pair(int64_t{0}, n / (2 * threads)));
      CHECK(ranges.back().second == n);
      for (size_t i = 1; i < ranges.size(); ++i) {
        CAPTURE(i);
        CHECK(ranges[i].first == ranges[i - 1].second);  // no gap, no overlap
        const int64_t size = ranges[i].second - ranges[i].first, before = ranges[i - 1].second - ranges[i - 1].first;
        CHECK(size <= before);
        if (i + 1 < ranges.size()) CHECK(size >= min_chunk);  // only the last may be cut short
      }
      // More ranges than one per thread and half: they did shrink.
      CHECK(ranges.size() > static_cast<size_t>(2 * threads));
    }
  }
}

TEST_CASE("thread pool: stealing takes a slow thread's last items and keeps each range in order") {
  ThreadPool pool(2);
  constexpr int64_t n = 64;
  // Thread 0 (the caller, first half) holds its first item until thread 1 has finished its
  // own half and taken one of thread 0's from the back, so the order of events is fixed.
  // Each thread appends only to its own list.
  std::vector<int64_t> done_by[2];
  std::atomic<bool> stolen{false};
  bool waited_too_long = false;
  pool.parallel_for_stealing(n, 1, [&](int64_t begin, int64_t end, int thread) {
    for (int64_t i = begin; i < end; ++i) {
      if (thread == 1 && i < n / 2) stolen.store(true);
      if (thread == 0 && i == 0) {
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!stolen.load() && !waited_too_long) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          waited_too_long = std::chrono::steady_clock::now() > give_up;
        }
      }
      done_by[thread].push_back(i);
    }
  });
  CHECK_FALSE(waited_too_long);
  REQUIRE(done_by[0].size() + done_by[1].size() == static_cast<size_t>(n));
  // Thread 0 went through a prefix of its range in order, from the front.
  for (size_t k = 0; k < done_by[0].size(); ++k) CHECK(done_by[0][k] == static_cast<int64_t>(k));
  // Thread 1 did its own range in order, then thread 0's last items from the back.
  REQUIRE(done_by[1].size() > static_cast<size_t>(n / 2));
  for (int64_t k = 0; k < n / 2; ++k) CHECK(done_by[1][k] == n / 2 + k);
  for (size_t k = n / 2; k < done_by[1].size(); ++k) CHECK(done_by[1][k] == n - 1 - static_cast<int64_t>(k));
}
