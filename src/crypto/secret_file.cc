// The private-file check for files that hold secrets.
#include "dptls/crypto/secret_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dptls::crypto {

bool check_private_file(int fd, const std::string& path, std::string_view what,
                        std::string_view why, std::string* error) {
  const std::string name = std::string(what) + " '" + path + "'";
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = "cannot stat " + name + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    *error = name + " is not a regular file";
    return false;
  }
  const uid_t euid = ::geteuid();
  if (st.st_uid != euid) {
    *error = name + " is owned by uid " + std::to_string(st.st_uid) +
             ", not by uid " + std::to_string(euid) +
             " that runs dptls: chown " + std::to_string(euid) + " '" + path +
             "'";
    return false;
  }
  const unsigned mode = st.st_mode & 07777;
  if ((mode & 077) != 0) {
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", mode);
    *error = std::string("permissions ") + octal + " for '" + path +
             "' are too open: " + std::string(why) +
             " and must not be accessible by group or others: chmod 600 '" +
             path + "'";
    return false;
  }
  return true;
}

}  // namespace dptls::crypto
