#include "cpu/thread_pool.hpp"

#include <algorithm>

namespace cria::cpu {

namespace {

// About 20-50 microseconds of polling before a thread sleeps.
constexpr int kSpinIterations = 20000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

void range_of(int64_t n, int parts, int index, int64_t* begin, int64_t* end) {
  *begin = n * index / parts;
  *end = n * (index + 1) / parts;
}

uint64_t pack(uint64_t front, uint64_t back) { return front | back << 32; }

// Claims up to `chunk` items from the front (or the back) of a range; false once it is empty.
bool take(std::atomic<uint64_t>& bounds, int64_t chunk, bool from_front, int64_t* begin, int64_t* end) {
  uint64_t seen = bounds.load(std::memory_order_relaxed);
  for (;;) {
    const int64_t front = static_cast<int64_t>(seen & 0xffffffffu), back = static_cast<int64_t>(seen >> 32);
    if (front >= back) return false;
    const int64_t first = from_front ? front : std::max(front, back - chunk);
    const int64_t last = from_front ? std::min(back, front + chunk) : back;
    const uint64_t left = from_front ? pack(last, back) : pack(front, first);
    if (bounds.compare_exchange_weak(seen, left, std::memory_order_relaxed)) {
      *begin = first;
      *end = last;
      return true;
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(n_threads < 1 ? 1 : n_threads), ranges_(new Range[n_threads_]) {
  for (int i = 1; i < n_threads_; ++i) threads_.emplace_back(&ThreadPool::worker, this, i);
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  start_cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (n_threads_ == 1 || n == 1) {
    fn(0, n, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    pending_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();
  int64_t begin, end;
  range_of(n, n_threads_, 0, &begin, &end);
  if (begin < end) fn(begin, end, 0);
  for (int i = 0; i < kSpinIterations && pending_.load(std::memory_order_acquire) != 0; ++i)
    cpu_relax();
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
  }
}

void ThreadPool::parallel_for_dynamic(int64_t n, int64_t chunk,
                                      const std::function<void(int64_t, int64_t, int)>& fn) {
  take_ranges(n, chunk, false, fn);
}

void ThreadPool::parallel_for_guided(int64_t n, int64_t min_chunk,
                                     const std::function<void(int64_t, int64_t, int)>& fn) {
  take_ranges(n, min_chunk, true, fn);
}

void ThreadPool::take_ranges(int64_t n, int64_t chunk, bool shrink,
                             const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  if (n_threads_ == 1 || n <= chunk) {
    fn(0, n, 0);
    return;
  }
  const int64_t parts = 2 * static_cast<int64_t>(n_threads_);
  std::atomic<int64_t> next{0};
  parallel_for(n_threads_, [&](int64_t, int64_t, int thread) {
    int64_t begin = next.load(std::memory_order_relaxed);
    while (begin < n) {
      const int64_t size = shrink ? std::max(chunk, (n - begin) / parts) : chunk;
      if (!next.compare_exchange_weak(begin, begin + size, std::memory_order_relaxed)) continue;  // begin reloaded
      fn(begin, std::min(begin + size, n), thread);
      begin = next.load(std::memory_order_relaxed);
    }
  });
}

void ThreadPool::parallel_for_stealing(int64_t n, int64_t chunk,
                                       const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  if (n_threads_ == 1 || n <= chunk || n > 0xffffffffLL) {
    parallel_for(n, fn);
    return;
  }
  for (int i = 0; i < n_threads_; ++i) {
    int64_t begin, end;
    range_of(n, n_threads_, i, &begin, &end);
    ranges_[i].bounds.store(pack(static_cast<uint64_t>(begin), static_cast<uint64_t>(end)), std::memory_order_relaxed);
  }
  // parallel_for publishes the ranges to the workers when it starts the job.
  parallel_for(n_threads_, [&](int64_t, int64_t, int thread) {
    int64_t begin, end;
    while (take(ranges_[thread].bounds, chunk, true, &begin, &end)) fn(begin, end, thread);
    for (int k = 1; k < n_threads_; ++k) {
      std::atomic<uint64_t>& other = ranges_[(thread + k) % n_threads_].bounds;
      while (take(other, chunk, false, &begin, &end)) fn(begin, end, thread);
    }
  });
}

void ThreadPool::worker(int index) {
  uint64_t seen = 0;
  for (;;) {
    for (int i = 0; i < kSpinIterations; ++i) {
      if (generation_.load(std::memory_order_acquire) != seen || stop_.load()) break;
      cpu_relax();
    }
    const std::function<void(int64_t, int64_t, int)>* job;
    int64_t n;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] {
        return stop_.load() || generation_.load(std::memory_order_acquire) != seen;
      });
      if (stop_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      job = job_;
      n = job_n_;
    }
    int64_t begin, end;
    range_of(n, n_threads_, index, &begin, &end);
    if (begin < end) (*job)(begin, end, index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      done_cv_.notify_one();
    }
  }
}

}  // namespace cria::cpu
