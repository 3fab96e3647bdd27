#include "dptls/net/drop_reason.h"

namespace dptls::net {

const char* drop_reason_name(DropReason reason) {
  switch (reason) {
#define DPTLS_NET_DROP_NAME(name, str) \
  case DropReason::name:               \
    return str;
    DPTLS_NET_DROP_REASONS(DPTLS_NET_DROP_NAME)
#undef DPTLS_NET_DROP_NAME
  }
  return "unknown";
}

}  // namespace dptls::net
