// The hand-off between a worker and a handshake thread (architecture.md,
// "Handshake hand-off"): one single-producer single-consumer ring each way
// per (worker, handshake thread), carrying fixed-size messages. Nothing here
// allocates after construction, locks or makes a syscall.
//
// Every slot of a ring is wiped when the ring is destroyed, consumed or not
// (kDone carries traffic secrets, kPostFinished record bytes, kData a
// client's bytes): the worker wipes the keys of each kDone it takes, and
// whatever it never took (shutdown, a stopped worker) goes with the ring.
//
// Protocol, per connection (a connection always talks to the same handshake
// thread, so its messages stay in order):
//   worker -> hs:  kData chunks of the raw bytes TCP delivered, the last one
//                  with `end` set; the worker forwards nothing more for the
//                  connection until the answer to that batch has come.
//                  kClosed when the connection is gone (no answer).
//   hs -> worker:  zero or more kSend chunks (bytes to send as they are),
//                  then exactly one of
//                    kNeedMore                    (send more bytes),
//                    kPostFinished chunks, kDone  (keys in `keys`),
//                    kFailed                      (alert already in kSend).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "dptls/crypto/aead.h"
#include "dptls/net/tcp.h"

namespace dptls::engine {

// A bounded SPSC ring of T (power-of-two capacity). The producer claims a
// slot, fills it in place and publishes it; the consumer peeks at the
// oldest and releases it. Acquire/release on the indices, each on its own
// cache line.
template <typename T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity) {
    size_t c = 1;
    while (c < capacity) {
      c <<= 1;
    }
    mask_ = c - 1;
    slots_ = std::make_unique<T[]>(c);
  }
  // Wipes every slot (crypto::secure_wipe, which the compiler keeps)
  // before freeing them: slots hold secrets and client bytes whether or
  // not they were consumed. No producer or consumer may be running.
  ~SpscRing() {
    crypto::secure_wipe(static_cast<void*>(slots_.get()),
                        sizeof(T) * capacity());
  }
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Producer: the next free slot, or nullptr when full.
  T* claim() {
    const uint64_t t = tail_.load(std::memory_order_relaxed);
    if (t - head_cache_ > mask_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (t - head_cache_ > mask_) {
        return nullptr;
      }
    }
    return &slots_[t & mask_];
  }
  // Producer: free slots now (a lower bound).
  size_t free_slots() {
    head_cache_ = head_.load(std::memory_order_acquire);
    return capacity() - (tail_.load(std::memory_order_relaxed) - head_cache_);
  }
  // Producer: publishes the slot claim() returned.
  void publish() {
    tail_.store(tail_.load(std::memory_order_relaxed) + 1,
                std::memory_order_release);
  }

  // Consumer: the oldest published slot, or nullptr when empty.
  T* peek() {
    const uint64_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_cache_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (h == tail_cache_) {
        return nullptr;
      }
    }
    return &slots_[h & mask_];
  }
  // Consumer: releases the slot peek() returned.
  void pop() {
    head_.store(head_.load(std::memory_order_relaxed) + 1,
                std::memory_order_release);
  }

 private:
  alignas(64) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;  // consumer's view of tail_
  alignas(64) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;  // producer's view of head_
  alignas(64) size_t mask_ = 0;
  std::unique_ptr<T[]> slots_;
};

// Payload bytes per message.
inline constexpr size_t kHsChunk = 1984;

enum class HsRequestKind : uint8_t {
  kData,    // raw bytes from the client
  kClosed,  // the connection is gone: drop its state, no answer
};

struct HsRequest {
  net::ConnHandle conn;
  uint16_t listener = 0;  // index of config.listeners
  HsRequestKind kind = HsRequestKind::kData;
  bool end = false;  // last chunk of a batch: answer now
  uint16_t len = 0;
  uint8_t data[kHsChunk];
};

enum class HsResponseKind : uint8_t {
  kSend,          // bytes to send
  kPostFinished,  // bytes received after the client's Finished
  kNeedMore,
  kDone,    // keys below
  kFailed,  // alert / alert_from_peer below
};

// What RecordEngine::install and the application need (HandshakeResult in
// fixed-size form). Secrets are wiped by whoever consumed them.
struct HsKeys {
  uint16_t version = 0;
  uint16_t suite = 0;  // tls::CipherSuite value
  uint8_t secret_len = 0;
  uint8_t client_secret[48];
  uint8_t server_secret[48];
  uint64_t client_next_seq = 0;
  uint64_t server_next_seq = 0;
  uint16_t peer_record_size_limit = 0;
  uint16_t own_record_size_limit = 0;
  uint8_t kind = 0;  // tls::HandshakeKind, for metrics
  uint8_t alpn_len = 0;
  char alpn[255];
  uint8_t sni_len = 0;
  char sni[255];
  uint16_t identity_len = 0;
  char identity[512];  // client certificate subject (mTLS), truncated

  /// Zeroes the traffic secrets and the connection's metadata (ALPN, SNI,
  /// client identity) with their lengths: a ring slot is reused by other
  /// connections, and an mTLS client's identity must not linger in it.
  /// Call once the worker has taken what it needs.
  void wipe() {
    wipe_bytes(client_secret, sizeof(client_secret));
    wipe_bytes(server_secret, sizeof(server_secret));
    wipe_bytes(alpn, sizeof(alpn));
    wipe_bytes(sni, sizeof(sni));
    wipe_bytes(identity, sizeof(identity));
    secret_len = 0;
    alpn_len = 0;
    sni_len = 0;
    identity_len = 0;
  }

 private:
  // Volatile stores, so the compiler cannot drop them as dead.
  static void wipe_bytes(void* p, size_t n) {
    auto* v = static_cast<volatile uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
      v[i] = 0;
    }
  }
};

struct HsResponse {
  net::ConnHandle conn;
  HsResponseKind kind = HsResponseKind::kSend;
  uint8_t alert = 0;  // kFailed: tls::Alert value
  bool alert_from_peer = false;
  uint16_t len = 0;  // kSend / kPostFinished
  union {
    uint8_t data[kHsChunk];
    HsKeys keys;
  };
  HsResponse() : data{} {}
};

static_assert(sizeof(HsKeys) <= kHsChunk);

}  // namespace dptls::engine
