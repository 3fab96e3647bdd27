#include "aead_workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>

namespace dptls::app {

namespace {

using crypto::AeadDir;
using crypto::AeadOp;
using crypto::AeadStatus;

constexpr size_t kCacheLine = 64;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

size_t div_round_up(size_t n, size_t d) { return (n + d - 1) / d; }

void fill_random(std::mt19937_64& rng, uint8_t* p, size_t len) {
  while (len > 0) {
    const uint64_t word = rng();
    const size_t n = std::min(len, sizeof(word));
    std::memcpy(p, &word, n);
    p += n;
    len -= n;
  }
}

std::mt19937_64 seeded_rng() {
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd()};
  return std::mt19937_64(seq);
}

}  // namespace

std::string describe_failure(const CycleFailure& failure) {
  return fmt::format("{} of op {} returned {}",
                     failure.dir == AeadDir::kSeal ? "seal" : "open",
                     failure.op_index,
                     crypto::aead_status_name(failure.status));
}

void AeadWorkload::ArenaFree::operator()(uint8_t* p) const noexcept {
  std::free(p);
}

AeadWorkload::Layout AeadWorkload::plan(const WorkloadShape& shape) {
  Layout layout;
  if (shape.segment_size == 0) {
    layout.segs_per_record = 1;
    // A spare cache line between records keeps them from sharing one.
    layout.slot_size = round_up(shape.record_size, kCacheLine) + kCacheLine;
  } else {
    layout.segs_per_record = std::max<size_t>(
        1, div_round_up(shape.record_size, shape.segment_size));
    layout.data_offset = kMbufHeadroom + kWireHeaderLen;
    layout.slot_size =
        round_up(kMbufHeadroom + std::max(kMbufDataRoom,
                                          kWireHeaderLen + shape.segment_size),
                 kCacheLine);
  }
  layout.slots = shape.batch * layout.segs_per_record;
  layout.arena_size = layout.slots * layout.slot_size;
  return layout;
}

size_t AeadWorkload::footprint(const WorkloadShape& shape) {
  const Layout layout = plan(shape);
  return layout.arena_size + layout.slots * sizeof(crypto::IoSegment);
}

AeadWorkload::AeadWorkload(crypto::AeadBackend& backend, crypto::AeadAlg alg,
                           const WorkloadShape& shape)
    : backend_(backend), alg_(alg), shape_(shape), layout_(plan(shape)) {}

AeadWorkload::~AeadWorkload() = default;

std::unique_ptr<AeadWorkload> AeadWorkload::create(crypto::AeadBackend& backend,
                                                   crypto::AeadAlg alg,
                                                   const WorkloadShape& shape,
                                                   std::string* error) {
  if (shape.batch == 0) {
    *error = "batch must hold at least one op";
    return nullptr;
  }
  const size_t bytes = footprint(shape);
  if (bytes > kMaxWorkloadBytes) {
    *error = fmt::format(
        "the buffers would take {:.1f} GiB, more than the {} GiB limit; "
        "lower the batch or the record size, or raise the segment size",
        static_cast<double>(bytes) / (1 << 30), kMaxWorkloadBytes >> 30);
    return nullptr;
  }
  std::unique_ptr<AeadWorkload> workload(new AeadWorkload(backend, alg, shape));
  if (!workload->allocate(error) || !workload->init_keys(error)) {
    return nullptr;
  }
  workload->layout_segments();
  workload->build_ops();
  workload->plaintext_sum_ = workload->checksum();
  return workload;
}

bool AeadWorkload::allocate(std::string* error) {
  void* p =
      std::aligned_alloc(kCacheLine, std::max(layout_.arena_size, kCacheLine));
  if (p == nullptr) {
    *error =
        fmt::format("cannot allocate {} bytes of buffers", layout_.arena_size);
    return false;
  }
  arena_.reset(static_cast<uint8_t*>(p));
  std::mt19937_64 rng = seeded_rng();
  // Also first-touches the pages on the CPU that will use them.
  fill_random(rng, arena_.get(), layout_.arena_size);
  segs_.resize(layout_.slots);
  nonces_.resize(shape_.batch * crypto::kAeadNonceLen);
  fill_random(rng, nonces_.data(), nonces_.size());
  aads_.resize(shape_.batch * shape_.aad_len);
  fill_random(rng, aads_.data(), aads_.size());
  tags_.resize(shape_.batch * crypto::kAeadTagLen);
  return true;
}

// Contiguous records take consecutive slots. Segments take slots in a
// shuffled order, as mbufs drawn from a pool are not adjacent in memory.
void AeadWorkload::layout_segments() {
  std::vector<size_t> order(layout_.slots);
  std::iota(order.begin(), order.end(), size_t{0});
  if (shape_.segment_size != 0) {
    std::mt19937_64 rng(1);
    std::shuffle(order.begin(), order.end(), rng);
  }
  const size_t seg_max =
      shape_.segment_size != 0 ? shape_.segment_size : shape_.record_size;
  for (size_t op = 0; op < shape_.batch; ++op) {
    size_t remaining = shape_.record_size;
    for (size_t s = 0; s < layout_.segs_per_record; ++s) {
      const size_t index = op * layout_.segs_per_record + s;
      const size_t len = std::min(remaining, seg_max);
      segs_[index].data =
          arena_.get() + order[index] * layout_.slot_size + layout_.data_offset;
      segs_[index].len = len;
      remaining -= len;
    }
  }
}

bool AeadWorkload::init_keys(std::string* error) {
  keys_ = std::make_unique<crypto::AeadKey[]>(shape_.batch);
  std::mt19937_64 rng = seeded_rng();
  std::array<uint8_t, crypto::kAeadMaxKeyLen> secret;
  const size_t key_len = crypto::aead_key_len(alg_);
  for (size_t i = 0; i < shape_.batch; ++i) {
    fill_random(rng, secret.data(), key_len);
    const AeadStatus status =
        backend_.init_key(keys_[i], alg_, std::span(secret.data(), key_len));
    if (status != AeadStatus::kOk) {
      *error = fmt::format("{}: init_key({}) returned {}", backend_.name(),
                           crypto::aead_alg_name(alg_),
                           crypto::aead_status_name(status));
      crypto::secure_wipe(secret.data(), secret.size());
      return false;
    }
  }
  crypto::secure_wipe(secret.data(), secret.size());
  return true;
}

void AeadWorkload::build_ops() {
  seal_ops_.resize(shape_.batch);
  for (size_t i = 0; i < shape_.batch; ++i) {
    AeadOp& op = seal_ops_[i];
    op.key = &keys_[i];
    op.dir = AeadDir::kSeal;
    op.nonce = std::span(nonces_).subspan(i * crypto::kAeadNonceLen,
                                          crypto::kAeadNonceLen);
    op.aad = std::span(aads_).subspan(i * shape_.aad_len, shape_.aad_len);
    op.segs = std::span(segs_).subspan(i * layout_.segs_per_record,
                                       layout_.segs_per_record);
    op.tag = tags_.data() + i * crypto::kAeadTagLen;
  }
  open_ops_ = seal_ops_;
  for (AeadOp& op : open_ops_) {
    op.dir = AeadDir::kOpen;
  }
}

size_t AeadWorkload::run_calls(std::span<AeadOp> ops) noexcept {
  const size_t per_call =
      shape_.ops_per_call != 0 ? shape_.ops_per_call : ops.size();
  size_t ok = 0;
  for (size_t i = 0; i < ops.size(); i += per_call) {
    ok += backend_.run(ops.subspan(i, std::min(per_call, ops.size() - i)));
  }
  return ok;
}

bool AeadWorkload::run_timed(std::span<AeadOp> ops, int64_t* ns,
                             CycleFailure* failure) noexcept {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  const size_t ok = run_calls(ops);
  const Clock::time_point end = Clock::now();
  *ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
  if (ok == ops.size()) {
    return true;
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].status != AeadStatus::kOk) {
      *failure = {ops[i].dir, i, ops[i].status};
      return false;
    }
  }
  // run() miscounted: report it rather than trust either number.
  *failure = {ops.front().dir, ops.size(), AeadStatus::kNotRun};
  return false;
}

bool AeadWorkload::cycle(CycleTimes* times, CycleFailure* failure) noexcept {
  return run_timed(seal_ops_, &times->seal_ns, failure) &&
         run_timed(open_ops_, &times->open_ns, failure);
}

bool AeadWorkload::self_check(std::string* error) {
  CycleFailure failure;
  int64_t ns = 0;
  if (!run_timed(seal_ops_, &ns, &failure)) {
    *error = describe_failure(failure);
    return false;
  }
  // With 16 bytes or more, ciphertext equal to plaintext means no encryption.
  if (batch_bytes() >= 16 && intact()) {
    *error = "seal left the plaintext unchanged";
    return false;
  }
  if (!run_timed(open_ops_, &ns, &failure)) {
    *error = describe_failure(failure);
    return false;
  }
  if (!intact()) {
    *error = "open returned ok but did not restore the plaintext";
    return false;
  }
  return true;
}

bool AeadWorkload::intact() const { return checksum() == plaintext_sum_; }

// Not cryptographic; only has to notice that the bytes changed.
uint64_t AeadWorkload::checksum() const {
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15;
  uint64_t sum = layout_.arena_size;
  const uint8_t* p = arena_.get();
  for (size_t off = 0; off < layout_.arena_size; off += sizeof(uint64_t)) {
    uint64_t word;
    std::memcpy(&word, p + off, sizeof(word));
    sum = std::rotl((sum ^ word) * kMul, 29);
  }
  return sum;
}

}  // namespace dptls::app
