// specx: a small logging hook. The library never prints; it calls the hook the
// caller installs (the example driver routes it to spdlog). Default: silent for
// debug/info, stderr for warnings and errors.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace specx {

enum class log_level : int { debug = 0, info = 1, warning = 2, error = 3 };

using log_hook = std::function<void(log_level, std::string_view)>;

namespace detail {
inline std::mutex& log_mutex() {
  static std::mutex m;
  return m;
}
inline log_hook& log_hook_storage() {
  static log_hook hook = [](log_level lvl, std::string_view msg) {
    if (lvl >= log_level::warning)
      std::fprintf(stderr, "specx %s: %.*s\n", lvl == log_level::warning ? "warning" : "error",
                   static_cast<int>(msg.size()), msg.data());
  };
  return hook;
}
}  // namespace detail

/// Install a log hook; returns the previous one. Thread-safe. Pass an empty
/// function to silence the library.
inline log_hook set_log_hook(log_hook hook) {
  std::lock_guard lock(detail::log_mutex());
  return std::exchange(detail::log_hook_storage(), std::move(hook));
}

/// Send a message to the installed hook (host code only).
inline void log(log_level lvl, std::string_view msg) {
  std::lock_guard lock(detail::log_mutex());
  if (auto& h = detail::log_hook_storage()) h(lvl, msg);
}

}  // namespace specx
