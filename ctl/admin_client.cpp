// The admin socket client (see admin_client.hpp): a blocking Unix stream connection whose every send
// and receive is bounded by SO_SNDTIMEO/SO_RCVTIMEO. MSG_NOSIGNAL: a gateway that hangs up early is an
// error to report, not a SIGPIPE.
#include "ctl/admin_client.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.hpp"

namespace mugai::ctl {
namespace {

// The gateway may be fsyncing a long purge; it finishes the request even if we stop waiting.
constexpr int kDeadlineSeconds = 120;

Error socket_error(const std::string& path, std::string_view what, int err) {
  return Error{"admin socket " + path + ": " + std::string(what) + ": " + std::strerror(err)};
}

}  // namespace

Expected<proto::admin::Response> ask_gateway(const std::string& socket_path, const proto::admin::Request& request) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return Error{"admin.socket " + socket_path + " is too long"};
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return socket_error(socket_path, "cannot create a socket", errno);
  const timeval deadline{kDeadlineSeconds, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof deadline);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &deadline, sizeof deadline);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return Error{"the gateway is not running (no admin socket at " + socket_path + "): state-changing commands need it"};
    }
    if (err == EACCES || err == EPERM) {
      return Error{"admin socket " + socket_path + ": permission denied (state-changing commands need an account in "
                   "admin.group)"};
    }
    return socket_error(socket_path, "cannot connect", err);
  }
  const std::string wire = proto::admin::encode(request);
  for (std::size_t sent = 0; sent < wire.size();) {
    const ssize_t n = ::send(fd.get(), wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return socket_error(socket_path, "cannot send the request", errno);
    sent += static_cast<std::size_t>(n);
  }
  proto::admin::LineReader reader(proto::admin::kMaxResponse);
  char buf[64 * 1024];
  while (reader.state() == proto::admin::LineReader::State::NeedMore) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return Error{"no answer from the gateway within " + std::to_string(kDeadlineSeconds) +
                   " s (it may still carry the request out: see `mugaictl audit show`)"};
    }
    if (n < 0) return socket_error(socket_path, "cannot read the response", errno);
    if (n == 0) return Error{"the gateway closed the admin connection without an answer"};
    reader.feed(std::string_view(buf, static_cast<std::size_t>(n)));
  }
  if (reader.state() == proto::admin::LineReader::State::TooLong) {
    return Error{"the gateway's answer is longer than " + std::to_string(proto::admin::kMaxResponse) + " bytes"};
  }
  auto response = proto::admin::parse_response(reader.line());
  if (!response) return Error{"the gateway's answer cannot be read: " + response.error().message};
  return response;
}

}  // namespace mugai::ctl
