// Files that hold secrets (the ticket key file, the admin token file) are
// read only when nobody but the user that runs dptls can read or write
// them: OpenSSH's rule for private keys. Start-up and control plane only
// (it makes syscalls).
#pragma once

#include <string>
#include <string_view>

namespace dptls::crypto {

// Whether the file open as `fd` may hold a secret: a regular file (a
// symbolic link was followed by open) owned by the effective uid, with no
// access for group or others. false with *error saying what is wrong and
// the fix, naming the file as `what` 'path':
//   "cannot stat <what> 'path': <errno text>",
//   "<what> 'path' is not a regular file",
//   "<what> 'path' is owned by uid N, not by uid M that runs dptls: chown M
//    'path'",
//   "permissions 0644 for 'path' are too open: <why> and must not be
//    accessible by group or others: chmod 600 'path'".
// `why` says what the secret gives away ("the ticket keys decrypt every
// session ticket").
bool check_private_file(int fd, const std::string& path, std::string_view what,
                        std::string_view why, std::string* error);

}  // namespace dptls::crypto
