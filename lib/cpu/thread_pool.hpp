#pragma once
// A persistent pool of worker threads. parallel_for splits [0, n) into one contiguous range
// per thread; the calling thread takes the first range, so a pool of 1 runs inline. Workers
// spin briefly for the next job before sleeping: a token's forward pass hands out hundreds of
// small jobs, and waking a sleeping thread costs more than most of them.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cria::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Calls fn(begin, end, thread_index) on disjoint ranges covering [0, n); returns when all
  // are done. The split depends only on n and the pool size, never on timing.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn);
  // The same contract, but threads take ranges of `chunk` items from a shared counter until
  // none are left: a thread slowed by another tenant leaves its work to the others. For work
  // whose result does not depend on which thread does an item.
  void parallel_for_dynamic(int64_t n, int64_t chunk,
                            const std::function<void(int64_t, int64_t, int)>& fn);
  // The same contract as parallel_for_dynamic, with ranges that shrink as the work runs out:
  // each is a 2 n_threads-th of the items left, but at least min_chunk. Long ranges first
  // keep each thread's reads in order; short ones last leave little for a thread to wait on.
  void parallel_for_guided(int64_t n, int64_t min_chunk,
                           const std::function<void(int64_t, int64_t, int)>& fn);
  // The same contract again: each thread starts on parallel_for's range and takes it `chunk`
  // items at a time from the front, so that it goes through its items in order; a thread
  // that runs out takes `chunk` items at a time from the back of the others' ranges. For work
  // that reads ahead of the item it is on (prefetching the next rows) and whose result does
  // not depend on which thread does an item.
  void parallel_for_stealing(int64_t n, int64_t chunk,
                             const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void worker(int index);
  // parallel_for_dynamic's and parallel_for_guided's ranges, from a shared counter: `chunk`
  // items each or, with `shrink`, a 2 n_threads-th of the items left but at least `chunk`.
  void take_ranges(int64_t n, int64_t chunk, bool shrink, const std::function<void(int64_t, int64_t, int)>& fn);

  // A range of items still to do, [front, back), as front | back << 32, one per cache line.
  struct alignas(64) Range {
    std::atomic<uint64_t> bounds{0};
  };

  int n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t job_n_ = 0;
  std::atomic<uint64_t> generation_{0};  // bumped (under mutex_) for each job
  std::atomic<int> pending_{0};          // workers still running the current job
  std::atomic<bool> stop_{false};
  std::unique_ptr<Range[]> ranges_;  // parallel_for_stealing's, one per thread
};

}  // namespace cria::cpu
