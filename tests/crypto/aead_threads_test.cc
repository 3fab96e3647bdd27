// One backend per thread: workers running at the same time, each with its
// own backend and keys expanded from shared raw secrets, get exactly the
// bytes a single thread gets.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "dptls/crypto/aead.h"
#include "support/aead_test_support.h"

namespace dptls::crypto {
namespace {

using ::dptls::crypto::testing::Bytes;
using ::dptls::crypto::testing::MakeBackendOrFail;
using ::dptls::crypto::testing::OneShot;
using ::dptls::crypto::testing::RandomBytes;
using ::dptls::crypto::testing::RandomSegments;
using ::dptls::crypto::testing::RandomSize;
using ::dptls::crypto::testing::RunScattered;
using ::dptls::crypto::testing::SingleSegment;

constexpr int kThreads = 4;
constexpr int kJobs = 150;

// One message with its reference ciphertext and tag.
struct Job {
  AeadAlg alg = AeadAlg::kAes128Gcm;
  Bytes secret, nonce, aad, plaintext, ciphertext, tag;
};

std::vector<Job> MakeJobs(std::mt19937_64& rng) {
  std::unique_ptr<AeadBackend> reference =
      MakeBackendOrFail(BackendKind::kOpenSsl);
  std::vector<Job> jobs;
  if (reference == nullptr) {
    return jobs;
  }
  for (int i = 0; i < kJobs; ++i) {
    Job j;
    j.alg = kAllAeadAlgs[i % std::size(kAllAeadAlgs)];
    j.secret = RandomBytes(rng, aead_key_len(j.alg));
    j.nonce = RandomBytes(rng, kAeadNonceLen);
    j.aad = RandomBytes(rng, RandomSize(rng, 0, 32));
    j.plaintext = RandomBytes(rng, RandomSize(rng, 0, 5000));
    AeadKey key;
    EXPECT_EQ(reference->init_key(key, j.alg, j.secret), AeadStatus::kOk);
    OneShot r =
        RunScattered(*reference, key, AeadDir::kSeal, j.nonce, j.aad,
                     j.plaintext, SingleSegment(j.plaintext.size()), {}, rng);
    EXPECT_EQ(r.status, AeadStatus::kOk);
    j.ciphertext = std::move(r.data);
    j.tag = std::move(r.tag);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

// Seals and opens every job with a backend of `kind` made on this thread;
// returns how many results differed from the reference.
int RunWorker(BackendKind kind, const std::vector<Job>& jobs, uint64_t seed) {
  std::string error;
  std::unique_ptr<AeadBackend> backend = make_backend(kind, {}, &error);
  if (backend == nullptr) {
    return static_cast<int>(jobs.size());
  }
  std::mt19937_64 rng(seed);
  int mismatches = 0;
  for (int round = 0; round < 3; ++round) {
    for (const Job& j : jobs) {
      AeadKey key;
      if (backend->init_key(key, j.alg, j.secret) != AeadStatus::kOk) {
        ++mismatches;
        continue;
      }
      OneShot sealed = RunScattered(
          *backend, key, AeadDir::kSeal, j.nonce, j.aad, j.plaintext,
          RandomSegments(j.plaintext.size(), rng), {}, rng);
      OneShot opened = RunScattered(
          *backend, key, AeadDir::kOpen, j.nonce, j.aad, j.ciphertext,
          RandomSegments(j.ciphertext.size(), rng), j.tag, rng);
      if (sealed.status != AeadStatus::kOk || sealed.data != j.ciphertext ||
          sealed.tag != j.tag || opened.status != AeadStatus::kOk ||
          opened.data != j.plaintext) {
        ++mismatches;
      }
    }
  }
  return mismatches;
}

TEST(AeadThreadsTest, ConcurrentPerThreadBackendsMatchTheReference) {
  std::mt19937_64 rng(0x7412);
  const std::vector<Job> jobs = MakeJobs(rng);
  ASSERT_EQ(jobs.size(), static_cast<size_t>(kJobs));
  std::vector<int> mismatches(kThreads, -1);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Start together so the workers really overlap.
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
        std::this_thread::yield();
      }
      const BackendKind kind = kAllBackends[t % std::size(kAllBackends)];
      mismatches[t] = RunWorker(kind, jobs, 1000 + t);
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(mismatches[t], 0)
        << "thread " << t << " ("
        << backend_kind_name(kAllBackends[t % std::size(kAllBackends)]) << ")";
  }
}

}  // namespace
}  // namespace dptls::crypto
