// tapir.hpp — the C++ binding of tapir: RAII handles, typed tasks, lambdas,
// exceptions, and (under C++20) co_await and coroutines returning tapir::task<T>.
//
// Header-only. C++17 is the baseline; coroutine support is compiled when the
// compiler implements coroutines and <coroutine> exists (TAPIR_CPP_HAS_COROUTINES
// is then 1), and the std::stop_token bridge when <stop_token> provides
// std::stop_token (TAPIR_CPP_HAS_STOP_TOKEN).
//
// The rules every class follows:
//   * A handle class holds exactly one reference to a tapir object. Copying retains,
//     moving steals (the source becomes empty), the destructor releases.
//   * `native()` lends the C handle; `release()` gives up ownership of it;
//     `T::adopt(p)` takes ownership of a +1 pointer; `T::borrow(p)` retains one.
//   * Using an empty (moved-from or default-constructed) handle throws
//     std::logic_error; it is never undefined behaviour.
//   * Every callback handed to the C library is called through a noexcept
//     trampoline that catches everything: no C++ exception unwinds through a C frame.
//     An exception thrown where a task can record it (a continuation, tapir::run, a
//     coroutine, a factory) fails that task and is rethrown, as the same exception
//     object, by get() and co_await. Elsewhere (on_complete callbacks, posted work,
//     progress handlers) it goes to the handler set with
//     tapir::set_callback_exception_handler (std::terminate by default, as for an
//     exception escaping a std::thread).
#ifndef TAPIR_HPP
#define TAPIR_HPP

#include "tapir.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#if defined(__has_include)
#if __has_include(<version>)
#include <version>
#endif
#if defined(__cpp_impl_coroutine) && __has_include(<coroutine>)
#include <coroutine>
#define TAPIR_CPP_HAS_COROUTINES 1
#endif
#if __cplusplus >= 202002L && __has_include(<stop_token>)
#include <stop_token>
#if defined(__cpp_lib_jthread)
#define TAPIR_CPP_HAS_STOP_TOKEN 1
#endif
#endif
#endif
#ifndef TAPIR_CPP_HAS_COROUTINES
#define TAPIR_CPP_HAS_COROUTINES 0
#endif
#ifndef TAPIR_CPP_HAS_STOP_TOKEN
#define TAPIR_CPP_HAS_STOP_TOKEN 0
#endif

// How many coroutine bodies a thread runs nested inside one another (each started
// eagerly from its caller) before the next one is queued on the thread's trampoline
// instead of being called. Bounds the stack a chain of nested co_awaits uses.
#ifndef TAPIR_CPP_EAGER_DEPTH
#define TAPIR_CPP_EAGER_DEPTH 32
#endif

namespace tapir {

template <class T>
class task;
template <class T>
class completion_source;
class error;
class cancel_token;
class cancel_source;
class scheduler;
class clock;

/// Pass as a timeout to wait without limit.
inline constexpr std::chrono::milliseconds infinite{-1};

// ---------------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------------

/// The base of every exception tapir.hpp throws for an outcome of the library.
class exception : public std::runtime_error {
 public:
  exception(std::int32_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
  /// A tapir_status value (call failures, cancellation) or a tapir error's code.
  std::int32_t code() const noexcept { return code_; }

 private:
  std::int32_t code_;
};

/// A tapir call returned an error status (TAPIR_STATUS_INVALID_HANDLE, ...).
class status_error : public exception {
 public:
  explicit status_error(tapir_status status, const char* call = nullptr)
      : exception(status, make_message(status, call)) {}
  tapir_status status() const noexcept { return static_cast<tapir_status>(code()); }

 private:
  static std::string make_message(tapir_status status, const char* call) {
    std::string m = "tapir: ";
    if (call) {
      m += call;
      m += ": ";
    }
    m += tapir_status_str(status);
    return m;
  }
};

// ---------------------------------------------------------------------------------
// detail: status checks, empty handles, the callback exception handler
// ---------------------------------------------------------------------------------

/// Receives exceptions thrown by callbacks that have no task to fail
/// (on_complete callbacks, posted work, progress handlers, foreign-scheduler post,
/// the unobserved-error handler). Called on the thread that ran the callback.
using callback_exception_handler = void (*)(std::exception_ptr);

namespace detail {

[[noreturn]] inline void throw_status(tapir_status st, const char* call);

inline void check(tapir_status st, const char* call) {
  if (st != TAPIR_STATUS_OK) throw_status(st, call);
}

[[noreturn]] inline void throw_empty(const char* type) {
  throw std::logic_error(std::string("tapir: use of an empty ") + type +
                         " (moved-from or default-constructed)");
}

inline std::atomic<callback_exception_handler>& exception_handler_slot() noexcept {
  static std::atomic<callback_exception_handler> slot{nullptr};
  return slot;
}

/// Hands an exception that has nowhere else to go to the installed handler.
inline void report_callback_exception(std::exception_ptr ep) noexcept {
  callback_exception_handler h = exception_handler_slot().load(std::memory_order_acquire);
  if (!h) std::terminate();
  try {
    h(std::move(ep));
  } catch (...) {
    std::terminate();
  }
}

/// Milliseconds for the C API: `tapir::infinite` is -1; other negative durations are
/// 0; the rest rounds up and saturates at TAPIR_MAX_TIMEOUT_MS.
template <class Rep, class Period>
std::int64_t to_ms(std::chrono::duration<Rep, Period> d) {
  if (d == infinite) return -1;
  if (d <= d.zero()) return 0;
  if (std::chrono::duration<double, std::milli>(d).count() >= static_cast<double>(TAPIR_MAX_TIMEOUT_MS))
    return TAPIR_MAX_TIMEOUT_MS;
  return static_cast<std::int64_t>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

// ---- Handle base -------------------------------------------------------------

template <class C>
struct handle_ops;

template <>
struct handle_ops<tapir_task> {
  static const tapir_task* retain(const tapir_task* p) noexcept { return tapir_task_retain(p); }
  static void release(const tapir_task* p) noexcept { (void)tapir_task_release(p); }
  static constexpr const char* name = "tapir::task";
};
template <>
struct handle_ops<tapir_source> {
  static const tapir_source* retain(const tapir_source* p) noexcept { return tapir_source_retain(p); }
  static void release(const tapir_source* p) noexcept { (void)tapir_source_release(p); }
  static constexpr const char* name = "tapir::completion_source";
};
template <>
struct handle_ops<tapir_error> {
  static const tapir_error* retain(const tapir_error* p) noexcept { return tapir_error_retain(p); }
  static void release(const tapir_error* p) noexcept { (void)tapir_error_release(p); }
  static constexpr const char* name = "tapir::error";
};
template <>
struct handle_ops<tapir_scheduler> {
  static const tapir_scheduler* retain(const tapir_scheduler* p) noexcept { return tapir_scheduler_retain(p); }
  static void release(const tapir_scheduler* p) noexcept { (void)tapir_scheduler_release(p); }
  static constexpr const char* name = "tapir::scheduler";
};
template <>
struct handle_ops<tapir_cancel_source> {
  static const tapir_cancel_source* retain(const tapir_cancel_source* p) noexcept {
    return tapir_cancel_source_retain(p);
  }
  static void release(const tapir_cancel_source* p) noexcept { (void)tapir_cancel_source_release(p); }
  static constexpr const char* name = "tapir::cancel_source";
};
template <>
struct handle_ops<tapir_cancel_token> {
  static const tapir_cancel_token* retain(const tapir_cancel_token* p) noexcept {
    return tapir_cancel_token_retain(p);
  }
  static void release(const tapir_cancel_token* p) noexcept { (void)tapir_cancel_token_release(p); }
  static constexpr const char* name = "tapir::cancel_token";
};
template <>
struct handle_ops<tapir_cancel_registration> {
  static const tapir_cancel_registration* retain(const tapir_cancel_registration* p) noexcept {
    return tapir_cancel_registration_retain(p);
  }
  static void release(const tapir_cancel_registration* p) noexcept {
    (void)tapir_cancel_registration_release(p);
  }
  static constexpr const char* name = "tapir::cancel_registration";
};
template <>
struct handle_ops<tapir_registration> {
  static const tapir_registration* retain(const tapir_registration* p) noexcept {
    return tapir_registration_retain(p);
  }
  static void release(const tapir_registration* p) noexcept { (void)tapir_registration_release(p); }
  static constexpr const char* name = "tapir::registration";
};
template <>
struct handle_ops<tapir_progress> {
  static const tapir_progress* retain(const tapir_progress* p) noexcept { return tapir_progress_retain(p); }
  static void release(const tapir_progress* p) noexcept { (void)tapir_progress_release(p); }
  static constexpr const char* name = "tapir::progress";
};

/// Retains `p` (NULL stays NULL); throws status_error if tapir refuses the handle.
template <class C>
const C* retain_checked(const C* p) {
  if (!p) return nullptr;
  const C* r = handle_ops<C>::retain(p);
  if (!r) throw_status(tapir_last_status(), "retain");
  return r;
}

/// One reference to a tapir object of C type `C`.
template <class C>
class handle {
 public:
  using native_type = const C*;

  /// The C handle, borrowed (NULL if empty). Valid while this object holds it.
  const C* native() const noexcept { return p_; }
  /// Gives up ownership: returns the +1 handle (NULL if empty) and leaves this empty.
  [[nodiscard]] const C* release() noexcept { return std::exchange(p_, nullptr); }
  /// True unless empty (moved-from or default-constructed).
  explicit operator bool() const noexcept { return p_ != nullptr; }
  bool valid() const noexcept { return p_ != nullptr; }
  /// Releases the reference now; the object becomes empty.
  void reset() noexcept {
    if (const C* p = std::exchange(p_, nullptr)) handle_ops<C>::release(p);
  }
  friend bool operator==(const handle& a, const handle& b) noexcept { return a.p_ == b.p_; }
  friend bool operator!=(const handle& a, const handle& b) noexcept { return a.p_ != b.p_; }

 protected:
  handle() noexcept = default;
  explicit handle(const C* adopted) noexcept : p_(adopted) {}
  handle(const handle& o) : p_(retain_checked(o.p_)) {}
  handle(handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  handle& operator=(const handle& o) {
    if (this != &o) {
      const C* n = retain_checked(o.p_);
      reset();
      p_ = n;
    }
    return *this;
  }
  handle& operator=(handle&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~handle() { reset(); }

  /// The C handle; throws std::logic_error if empty.
  const C* checked() const {
    if (!p_) throw_empty(handle_ops<C>::name);
    return p_;
  }

  const C* p_ = nullptr;
};

}  // namespace detail

/// Installs the handler for exceptions thrown by callbacks that have no task to fail;
/// returns the previous one. nullptr restores the default (std::terminate).
inline callback_exception_handler set_callback_exception_handler(callback_exception_handler h) noexcept {
  return detail::exception_handler_slot().exchange(h, std::memory_order_acq_rel);
}

// ---------------------------------------------------------------------------------
// error: an immutable tapir error value
// ---------------------------------------------------------------------------------

namespace detail {

/// The payload of an error made from a C++ exception. Payload pointers of this kind
/// are recorded in a process-wide set, so that a payload from C (any pointer at all)
/// is never mistaken for one and never dereferenced.
struct exception_payload {
  std::exception_ptr ep;
};

struct payload_registry {
  std::mutex mutex;
  std::unordered_set<const void*> live;
};

inline payload_registry& registry() noexcept {
  // Never destroyed: payload destroy callbacks may run during static destruction.
  static payload_registry* r = new payload_registry;
  return *r;
}

inline void destroy_exception_payload(void* p) noexcept {
  payload_registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.erase(p);
  }
  delete static_cast<exception_payload*>(p);
}

/// The C++ exception an error carries, or null. `e` must be held by the caller.
inline std::exception_ptr exception_of(const tapir_error* e) noexcept {
  void* p = tapir_error_payload(e);
  if (!p) return nullptr;
  payload_registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.live.count(p) == 0) return nullptr;
  return static_cast<exception_payload*>(p)->ep;
}

/// A new error (+1) of `code` and `message` whose payload is `ep`. Throws on
/// allocation failure; a message that is not UTF-8 is replaced.
inline const tapir_error* new_exception_error(std::int32_t code, std::string_view message,
                                              std::exception_ptr ep) {
  std::unique_ptr<exception_payload> box(new exception_payload{std::move(ep)});
  payload_registry& r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.live.insert(box.get());
  }
  const tapir_error* out = nullptr;
  tapir_status st = tapir_error_new(code, reinterpret_cast<const std::uint8_t*>(message.data()), message.size(),
                                    box.get(), &destroy_exception_payload, &out);
  if (st == TAPIR_STATUS_INVALID_ARGUMENT) {
    static const char replacement[] = "C++ exception (message is not UTF-8)";
    st = tapir_error_new(code, reinterpret_cast<const std::uint8_t*>(replacement), sizeof replacement - 1,
                         box.get(), &destroy_exception_payload, &out);
  }
  if (st != TAPIR_STATUS_OK) {
    destroy_exception_payload(box.release());
    throw_status(st, "tapir_error_new");
  }
  (void)box.release();  // the error owns it now
  return out;
}

}  // namespace detail

/// An immutable error value: a code, a UTF-8 message, an optional payload and inner
/// errors (tapir_error). An error made from a C++ exception carries it as its payload.
class error : public detail::handle<tapir_error> {
 public:
  error() noexcept = default;
  static error adopt(const tapir_error* p) noexcept { return error(p); }
  static error borrow(const tapir_error* p) { return error(detail::retain_checked(p)); }

  /// A new error with a code and a message (no payload).
  static error make(std::int32_t code, std::string_view message) {
    const tapir_error* out = nullptr;
    detail::check(tapir_error_new(code, reinterpret_cast<const std::uint8_t*>(message.data()), message.size(),
                                  nullptr, nullptr, &out),
                  "tapir_error_new");
    return adopt(out);
  }
  /// A new error carrying `ep`: code TAPIR_STATUS_FAULTED (or the code of a
  /// tapir::exception), message what(). A tapir::task_error gives back its own error.
  static error from_exception(std::exception_ptr ep);
  /// A new aggregate error whose inner errors are `inner`, in order.
  static error aggregate(std::int32_t code, std::string_view message, const std::vector<error>& inner) {
    std::vector<const tapir_error*> raw;
    raw.reserve(inner.size());
    for (const error& e : inner) raw.push_back(e.checked());
    const tapir_error* out = nullptr;
    detail::check(tapir_error_new_aggregate(code, reinterpret_cast<const std::uint8_t*>(message.data()),
                                            message.size(), raw.data(), raw.size(), &out),
                  "tapir_error_new_aggregate");
    return adopt(out);
  }

  std::int32_t code() const { return tapir_error_code(checked()); }
  /// The message; the bytes stay valid while this error is held.
  std::string_view message() const {
    std::size_t len = 0;
    const std::uint8_t* m = tapir_error_message(checked(), &len);
    if (!m) detail::throw_status(tapir_last_status(), "tapir_error_message");
    return std::string_view(reinterpret_cast<const char*>(m), len);
  }
  /// The payload given at creation (borrowed), or nullptr.
  void* payload() const { return tapir_error_payload(checked()); }
  /// The C++ exception this error carries, or a null exception_ptr.
  std::exception_ptr exception() const { return detail::exception_of(checked()); }
  std::size_t inner_count() const { return tapir_error_inner_count(checked()); }
  error inner(std::size_t index) const {
    const tapir_error* out = nullptr;
    detail::check(tapir_error_inner(checked(), index, &out), "tapir_error_inner");
    return adopt(out);
  }
  std::vector<error> inner_errors() const {
    std::vector<error> v;
    std::size_t n = inner_count();
    v.reserve(n);
    for (std::size_t i = 0; i < n; i++) v.push_back(inner(i));
    return v;
  }
  /// AggregateException.Flatten: an aggregate whose inner errors are the leaves.
  error flatten() const {
    const tapir_error* out = nullptr;
    detail::check(tapir_error_flatten(checked(), &out), "tapir_error_flatten");
    return adopt(out);
  }
  /// Throws the carried C++ exception, or a tapir::task_error for a native error.
  [[noreturn]] void rethrow() const;

 private:
  explicit error(const tapir_error* p) noexcept : handle(p) {}
};

/// A task faulted with a native tapir error (one made in C, or by tapir itself).
/// `first()` is the error that was rethrown; `errors()` every error of the task
/// (input order for when_all).
class task_error : public exception {
 public:
  explicit task_error(error first, std::vector<error> all = {})
      : exception(first ? first.code() : TAPIR_STATUS_FAULTED, make_message(first)),
        first_(std::move(first)),
        all_(std::move(all)) {
    if (all_.empty() && first_) all_.push_back(first_);
  }
  const error& first() const noexcept { return first_; }
  const std::vector<error>& errors() const noexcept { return all_; }
  /// The inner errors of the first error (an aggregate's parts).
  std::vector<error> inner() const { return first_ ? first_.inner_errors() : std::vector<error>{}; }

 private:
  static std::string make_message(const error& e) {
    if (!e) return "tapir: task faulted";
    return std::string(e.message());
  }
  error first_;
  std::vector<error> all_;
};

/// A task faulted with an error of code TAPIR_STATUS_TIMEOUT (wait_async's timeout).
class timeout_error : public task_error {
 public:
  using task_error::task_error;
};

/// The task ended canceled (by a token, set_canceled, or a canceled_error thrown).
class canceled_error : public exception {
 public:
  canceled_error();
  explicit canceled_error(cancel_token token);
  /// The token that canceled the task; empty if none was recorded.
  const cancel_token& token() const noexcept { return *token_; }

 private:
  std::shared_ptr<cancel_token> token_;  // shared: exceptions must copy without throwing
};

// ---------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------

class cancel_registration;

/// A cancellation token (CancellationToken). Default-constructed: the none token,
/// which is never canceled.
class cancel_token : public detail::handle<tapir_cancel_token> {
 public:
  cancel_token() {
    const tapir_cancel_token* t = nullptr;
    detail::check(tapir_cancel_token_none(&t), "tapir_cancel_token_none");
    p_ = t;
  }
  static cancel_token adopt(const tapir_cancel_token* p) noexcept { return cancel_token(p, 0); }
  static cancel_token borrow(const tapir_cancel_token* p) { return cancel_token(detail::retain_checked(p), 0); }
  static cancel_token none() { return cancel_token(); }
  /// A token canceled from the start.
  static cancel_token canceled() {
    const tapir_cancel_token* t = nullptr;
    detail::check(tapir_cancel_token_new_canceled(&t), "tapir_cancel_token_new_canceled");
    return adopt(t);
  }

  bool is_canceled() const { return tapir_cancel_token_is_canceled(checked()); }
  bool can_be_canceled() const { return tapir_cancel_token_can_be_canceled(checked()); }
  /// Throws canceled_error if cancellation was requested (ThrowIfCancellationRequested).
  void throw_if_canceled() const {
    if (is_canceled()) throw canceled_error(*this);
  }
  /// Callbacks registered and not yet run (diagnostics).
  std::size_t pending_callbacks() const { return tapir_debug_cancel_registrations(checked()); }

  /// Runs `f()` once when the token is canceled, on the canceling thread
  /// (CancellationToken.Register). If the token is already canceled, `f` runs now and
  /// an exception it throws propagates out of this call; otherwise an exception from
  /// `f` is collected by the cancel call (cancel_source::cancel throws it). With
  /// `skip_if_canceled`, an already canceled token runs nothing and this throws
  /// canceled_error.
  template <class F>
  [[nodiscard]] cancel_registration on_canceled(F&& f, bool skip_if_canceled = false) const;

#if TAPIR_CPP_HAS_STOP_TOKEN
  /// A std::stop_token whose stop is requested when this token is canceled.
  std::stop_token to_stop_token() const;
#endif

 private:
  friend class cancel_source;
  friend class cancel_registration;
  cancel_token(const tapir_cancel_token* p, int) noexcept : handle(p) {}
};

inline canceled_error::canceled_error()
    : exception(TAPIR_STATUS_CANCELED, "tapir: task canceled"),
      token_(std::make_shared<cancel_token>(cancel_token::adopt(nullptr))) {}
inline canceled_error::canceled_error(cancel_token token)
    : exception(TAPIR_STATUS_CANCELED, "tapir: task canceled"),
      token_(std::make_shared<cancel_token>(std::move(token))) {}

/// A registration on a cancellation token (CancellationTokenRegistration). Destroying
/// it releases the handle and does NOT unregister the callback.
class cancel_registration : public detail::handle<tapir_cancel_registration> {
 public:
  cancel_registration() noexcept = default;
  cancel_registration(cancel_registration&& o) noexcept : handle(std::move(o)), ran_(std::exchange(o.ran_, false)) {}
  cancel_registration(const cancel_registration&) = default;
  cancel_registration& operator=(cancel_registration&& o) noexcept {
    handle::operator=(std::move(o));
    ran_ = std::exchange(o.ran_, false);
    return *this;
  }
  cancel_registration& operator=(const cancel_registration&) = default;
  static cancel_registration adopt(const tapir_cancel_registration* p) noexcept { return cancel_registration(p); }
  static cancel_registration borrow(const tapir_cancel_registration* p) {
    return cancel_registration(detail::retain_checked(p));
  }

  /// True when the callback ran during registration (the token was already canceled
  /// or is the none token): there is nothing to unregister.
  bool ran_at_registration() const noexcept { return ran_; }
  /// Removes the callback; true if it was removed before running (its destroy ran).
  bool unregister() const {
    if (ran_) return false;
    tapir_status st = tapir_cancel_registration_unregister(checked());
    if (st == TAPIR_STATUS_ALREADY_COMPLETED) return false;
    detail::check(st, "tapir_cancel_registration_unregister");
    return true;
  }
  /// As unregister, and waits for the callback if it is running on another thread.
  bool unregister_wait() const {
    if (ran_) return false;
    tapir_status st = tapir_cancel_registration_unregister_wait(checked());
    if (st == TAPIR_STATUS_ALREADY_COMPLETED) return false;
    detail::check(st, "tapir_cancel_registration_unregister_wait");
    return true;
  }
  /// The token the registration was made on.
  cancel_token token() const {
    const tapir_cancel_token* t = nullptr;
    detail::check(tapir_cancel_registration_token(checked(), &t), "tapir_cancel_registration_token");
    return cancel_token::adopt(t);
  }

 private:
  friend class cancel_token;
  explicit cancel_registration(const tapir_cancel_registration* p) noexcept : handle(p) {}
  bool ran_ = false;
};

/// A cancellation source (CancellationTokenSource). Default-constructed: a new source.
class cancel_source : public detail::handle<tapir_cancel_source> {
 public:
  cancel_source() {
    const tapir_cancel_source* s = nullptr;
    detail::check(tapir_cancel_source_new(&s), "tapir_cancel_source_new");
    p_ = s;
  }
  static cancel_source adopt(const tapir_cancel_source* p) noexcept { return cancel_source(p, 0); }
  static cancel_source borrow(const tapir_cancel_source* p) { return cancel_source(detail::retain_checked(p), 0); }
  /// A source canceled when any of `tokens` is (CreateLinkedTokenSource).
  static cancel_source linked(const std::vector<cancel_token>& tokens) {
    std::vector<const tapir_cancel_token*> raw;
    raw.reserve(tokens.size());
    for (const cancel_token& t : tokens) raw.push_back(t.checked());
    const tapir_cancel_source* s = nullptr;
    detail::check(tapir_cancel_source_new_linked(raw.data(), raw.size(), &s), "tapir_cancel_source_new_linked");
    return adopt(s);
  }
  template <class... Tokens>
  static cancel_source linked(const cancel_token& first, const Tokens&... rest) {
    return linked(std::vector<cancel_token>{first, rest...});
  }
#if TAPIR_CPP_HAS_STOP_TOKEN
  /// A source canceled when stop is requested on `st` (and at once if it already was).
  static cancel_source from_stop_token(std::stop_token st);
  static cancel_source from_stop_source(const std::stop_source& ss) { return from_stop_token(ss.get_token()); }
#endif

  cancel_token token() const {
    const tapir_cancel_token* t = nullptr;
    detail::check(tapir_cancel_source_token(checked(), &t), "tapir_cancel_source_token");
    return cancel_token::adopt(t);
  }
  bool is_canceled() const { return tapir_cancel_source_is_canceled(checked()); }
  /// Requests cancellation; callbacks run on this thread, newest first. If callbacks
  /// threw, throws a task_error whose errors() are theirs, in the order they ran
  /// (each error's exception() is the thrown object). With `stop_at_first_error`,
  /// the first callback exception stops the others and is rethrown as itself.
  void cancel(bool stop_at_first_error = false) const;
  /// Cancels after `d` (CancelAfter); tapir::infinite clears a pending deadline.
  template <class Rep, class Period>
  void cancel_after(std::chrono::duration<Rep, Period> d) const {
    detail::check(tapir_cancel_source_cancel_after(checked(), detail::to_ms(d)), "tapir_cancel_source_cancel_after");
  }
  /// Cancels once `delay` of `c`'s time (frames, or game milliseconds) has passed;
  /// -1 clears a pending deadline, 0 cancels now. Replaces an earlier deadline.
  void cancel_after_on(const clock& c, double delay) const;

 private:
  cancel_source(const tapir_cancel_source* p, int) noexcept : handle(p) {}
};

// ---------------------------------------------------------------------------------
// detail: callables as user data, exceptions as task outcomes
// ---------------------------------------------------------------------------------

namespace detail {

/// A callable stored as a tapir user_data pointer: in the pointer bits when it is
/// trivially copyable and fits (no allocation, destroy NULL), else on the heap.
template <class Fn>
struct fn_store {
  static constexpr bool in_place = sizeof(Fn) <= sizeof(void*) && alignof(Fn) <= alignof(void*) &&
                                   std::is_trivially_copyable<Fn>::value &&
                                   std::is_trivially_destructible<Fn>::value;

  /// Owns the callable until release(); on failure of the C call it cleans up.
  class holder {
   public:
    template <class F>
    explicit holder(F&& f) {
      if constexpr (in_place) {
        Fn tmp(std::forward<F>(f));
        std::memcpy(static_cast<void*>(&ud_), static_cast<const void*>(&tmp), sizeof(Fn));
      } else {
        ud_ = new Fn(std::forward<F>(f));
      }
    }
    holder(const holder&) = delete;
    holder& operator=(const holder&) = delete;
    ~holder() {
      if constexpr (!in_place) delete static_cast<Fn*>(ud_);
    }
    void* get() const noexcept { return ud_; }
    void release() noexcept { ud_ = nullptr; }

   private:
    void* ud_ = nullptr;
  };

  static constexpr tapir_destroy_fn destroy() noexcept { return in_place ? nullptr : &destroy_box; }

  /// Calls `g(fn)` with a reference to the callable stored in `ud`.
  template <class G>
  static decltype(auto) with(void* ud, G&& g) {
    if constexpr (in_place) {
      alignas(Fn) unsigned char buf[sizeof(Fn)];
      std::memcpy(buf, static_cast<const void*>(&ud), sizeof(Fn));
      return std::forward<G>(g)(*std::launder(reinterpret_cast<Fn*>(buf)));
    } else {
      return std::forward<G>(g)(*static_cast<Fn*>(ud));
    }
  }

 private:
  static void destroy_box(void* p) noexcept { delete static_cast<Fn*>(p); }
};

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};

/// How a T travels as a tapir value (void* + destroy). Small trivial types travel in
/// the pointer bits (integers as intptr_t, the C convention; pointers as themselves);
/// a task<U> as its tapir_task handle (so tapir_task_unwrap works on it); anything
/// else in a heap box `new T` whose destroy the library calls once.
template <class T, class = void>
struct value_traits {
  static constexpr bool boxed = true;
  template <class... A>
  static void* make(A&&... a) {
    return new T(std::forward<A>(a)...);
  }
  static constexpr tapir_destroy_fn destroy() noexcept { return &destroy_box; }
  static const T& get(void* p) noexcept { return *static_cast<const T*>(p); }

 private:
  static void destroy_box(void* p) noexcept { delete static_cast<T*>(p); }
};

template <class T>
struct value_traits<T, std::enable_if_t<std::is_trivial<T>::value && sizeof(T) <= sizeof(void*) &&
                                        alignof(T) <= alignof(void*) && !is_task<T>::value>> {
  static constexpr bool boxed = false;
  template <class... A>
  static void* make(A&&... a) noexcept(std::is_nothrow_constructible<T, A...>::value) {
    T v(std::forward<A>(a)...);
    if constexpr (std::is_integral<T>::value || std::is_enum<T>::value) {
      return reinterpret_cast<void*>(static_cast<std::intptr_t>(v));
    } else if constexpr (std::is_pointer<T>::value &&
                         std::is_object<std::remove_pointer_t<T>>::value) {
      return const_cast<void*>(static_cast<const volatile void*>(v));
    } else {
      void* p = nullptr;
      std::memcpy(static_cast<void*>(&p), static_cast<const void*>(&v), sizeof(T));
      return p;
    }
  }
  static constexpr tapir_destroy_fn destroy() noexcept { return nullptr; }
  static T get(void* p) noexcept {
    if constexpr (std::is_integral<T>::value || std::is_enum<T>::value) {
      return static_cast<T>(reinterpret_cast<std::intptr_t>(p));
    } else if constexpr (std::is_pointer<T>::value &&
                         std::is_object<std::remove_pointer_t<T>>::value) {
      return static_cast<T>(p);
    } else {
      T v;
      std::memcpy(static_cast<void*>(&v), static_cast<const void*>(&p), sizeof(T));
      return v;
    }
  }
};

inline void release_task_value(void* p) noexcept { (void)tapir_task_release(static_cast<const tapir_task*>(p)); }

template <class U>
struct value_traits<task<U>, void> {
  static constexpr bool boxed = false;
  static void* make(task<U> t) noexcept { return const_cast<tapir_task*>(t.release()); }
  static constexpr tapir_destroy_fn destroy() noexcept { return &release_task_value; }
  static task<U> get(void* p) { return task<U>::borrow(static_cast<const tapir_task*>(p)); }
};

/// The task type `then` returns for a callable returning R: task<R>, task<void>, or
/// task<V> for a callable returning task<V> (unwrap).
template <class R>
struct then_result {
  using type = task<R>;
};
template <class V>
struct then_result<task<V>> {
  using type = task<V>;
};
template <class R>
using then_result_t = typename then_result<std::decay_t<R>>::type;

/// Completes `s` with the outcome of `call()`: its value, nothing (void), or the task
/// it returns (unwrap). Exceptions propagate to the caller.
template <class Call>
void complete_with(const tapir_source* s, Call&& call) {
  using R = std::decay_t<std::invoke_result_t<Call>>;
  if constexpr (std::is_void<R>::value) {
    std::forward<Call>(call)();
    (void)tapir_source_set_result(s, nullptr, nullptr);
  } else if constexpr (is_task<R>::value) {
    R inner = std::forward<Call>(call)();
    if (!inner) throw_empty("tapir::task (returned by a continuation)");
    tapir_status st = tapir_source_set_from_task(s, inner.native());
    if (st != TAPIR_STATUS_OK && st != TAPIR_STATUS_ALREADY_COMPLETED) throw_status(st, "tapir_source_set_from_task");
  } else {
    using VT = value_traits<R>;
    void* v = VT::make(std::forward<Call>(call)());
    if (tapir_source_set_result(s, v, VT::destroy()) != TAPIR_STATUS_OK) {
      if (tapir_destroy_fn d = VT::destroy()) d(v);
    }
  }
}

/// Fails (or cancels) `s` with `ep`. A canceled_error cancels it (with its token); a
/// task_error passes its native errors on unchanged; anything else becomes an error
/// carrying the exception. Never throws: if even the error cannot be made, `s` is
/// left pending (and breaks its promise when released).
inline void fail_source(const tapir_source* s, std::exception_ptr ep) noexcept;

/// A new faulted (or canceled) task (+1) carrying `ep`, or NULL if none can be made.
inline const tapir_task* task_from_exception_ptr(std::exception_ptr ep) noexcept;

/// Throws the outcome of a completed, not succeeded task (`st` is FAULTED or
/// CANCELED): the C++ exception it carries, a task_error, or a canceled_error.
[[noreturn]] inline void throw_outcome(const tapir_task* t, tapir_status st);

/// Before a thread blocks: runs the coroutines whose start this thread deferred (see
/// the coroutine trampoline below), since the awaited task may be one of them.
inline void run_deferred_starts() noexcept;

/// Waits for `t` and returns its value pointer, or throws its outcome.
inline void* wait_result(const tapir_task* t) {
  void* v = nullptr;
  tapir_status st = tapir_task_result(t, &v);
  if (st == TAPIR_STATUS_NOT_COMPLETED) {
    run_deferred_starts();
    st = tapir_task_wait(t, TAPIR_INFINITE);
    if (st == TAPIR_STATUS_OK) st = tapir_task_result(t, &v);
  }
  if (st == TAPIR_STATUS_OK) return v;
  if (st == TAPIR_STATUS_FAULTED || st == TAPIR_STATUS_CANCELED) throw_outcome(t, st);
  throw_status(st, "tapir_task_result");
}

/// A task handle, borrowed for a callback, shown to user code as `const task<T>&`.
template <class T>
class borrowed_task {
 public:
  explicit borrowed_task(const tapir_task* t) noexcept : t_(task<T>::adopt(t)) {}
  ~borrowed_task() { (void)t_.release(); }
  borrowed_task(const borrowed_task&) = delete;
  borrowed_task& operator=(const borrowed_task&) = delete;
  const task<T>& get() const noexcept { return t_; }

 private:
  task<T> t_;
};

}  // namespace detail

// ---------------------------------------------------------------------------------
// Schedulers and work items
// ---------------------------------------------------------------------------------

/// A work item a foreign scheduler received: run it or discard it exactly once. If
/// neither happens, the destructor discards it (its task breaks its promise).
class work {
 public:
  explicit work(tapir_work* w) noexcept : w_(w) {}
  work(work&& o) noexcept : w_(std::exchange(o.w_, nullptr)) {}
  work& operator=(work&& o) noexcept {
    if (this != &o) {
      reset();
      w_ = std::exchange(o.w_, nullptr);
    }
    return *this;
  }
  work(const work&) = delete;
  work& operator=(const work&) = delete;
  ~work() { reset(); }

  /// Runs the item on this thread and consumes it.
  void run() {
    if (!w_) detail::throw_empty("tapir::work");
    detail::check(tapir_work_run(std::exchange(w_, nullptr)), "tapir_work_run");
  }
  /// Drops the item unrun and consumes it.
  void discard() {
    if (!w_) detail::throw_empty("tapir::work");
    detail::check(tapir_work_discard(std::exchange(w_, nullptr)), "tapir_work_discard");
  }
  tapir_work* native() const noexcept { return w_; }
  [[nodiscard]] tapir_work* release() noexcept { return std::exchange(w_, nullptr); }
  explicit operator bool() const noexcept { return w_ != nullptr; }

 private:
  void reset() noexcept {
    if (tapir_work* w = std::exchange(w_, nullptr)) (void)tapir_work_discard(w);
  }
  tapir_work* w_ = nullptr;
};

/// Where callbacks run (TaskScheduler): the thread pool, inline, a manual queue the
/// host drains, or a foreign scheduler given as a C++ callable.
class scheduler : public detail::handle<tapir_scheduler> {
 public:
  scheduler() noexcept = default;
  static scheduler adopt(const tapir_scheduler* p) noexcept { return scheduler(p); }
  static scheduler borrow(const tapir_scheduler* p) { return scheduler(detail::retain_checked(p)); }

  /// The default work-stealing pool (one thread per core, started on first use).
  static scheduler thread_pool() {
    const tapir_scheduler* s = nullptr;
    detail::check(tapir_scheduler_default(&s), "tapir_scheduler_default");
    return adopt(s);
  }
  /// Runs work on the posting thread before post returns.
  static scheduler inline_scheduler() {
    const tapir_scheduler* s = nullptr;
    detail::check(tapir_scheduler_inline(&s), "tapir_scheduler_inline");
    return adopt(s);
  }
  /// A queue the host drains with run_pending (a game's main thread).
  static scheduler manual() {
    const tapir_scheduler* s = nullptr;
    detail::check(tapir_scheduler_new_manual(&s), "tapir_scheduler_new_manual");
    return adopt(s);
  }
  /// A manual scheduler whose queued work runs in an order chosen by `seed` (the same
  /// seed, the same order): reproducible tests of races. See run_until_idle.
  static scheduler test(std::uint64_t seed) {
    const tapir_scheduler* s = nullptr;
    detail::check(tapir_scheduler_new_test(seed, &s), "tapir_scheduler_new_test");
    return adopt(s);
  }
  /// A scheduler that hands each work item to `post(tapir::work)`, called on any
  /// thread; `post` must eventually run or discard the item (or let it go: the
  /// work's destructor discards it). `post` is destroyed with the scheduler.
  template <class F>
  static scheduler foreign(F&& post);
  /// The scheduler running the current callback, if any.
  static std::optional<scheduler> current() {
    const tapir_scheduler* s = tapir_scheduler_current();
    if (!s) return std::nullopt;
    return adopt(s);
  }

  /// Queues `f()`. An exception from `f` goes to the callback exception handler.
  template <class F>
  void post(F&& f) const;
  /// Runs queued work of a manual scheduler on this thread, until the queue is
  /// empty, `max_items` ran (0: no limit) or `budget` passed (tapir::infinite: no
  /// limit); returns how many ran.
  std::size_t run_pending(std::size_t max_items = 0, std::chrono::milliseconds budget = infinite) const {
    std::size_t ran = 0;
    detail::check(tapir_scheduler_run_pending(checked(), max_items, detail::to_ms(budget), &ran),
                  "tapir_scheduler_run_pending");
    return ran;
  }
  /// Runs a manual or test scheduler's work on this thread until nothing is left: when
  /// the queue is empty and the host timer driver has a pending timer, host time jumps
  /// to it and what is due runs (timers on clocks do not count). Stops after
  /// `max_items` items (0: no limit); returns how many ran.
  std::size_t run_until_idle(std::size_t max_items = 0) const {
    std::size_t ran = 0;
    detail::check(tapir_scheduler_run_until_idle(checked(), max_items, &ran), "tapir_scheduler_run_until_idle");
    return ran;
  }
  /// A manual or test scheduler's wake descriptor: readable exactly while work is
  /// queued (poll/epoll on it, then run_pending). Owned by the scheduler: do not read,
  /// write or close it.
  int wake_fd() const {
    std::int32_t fd = -1;
    detail::check(tapir_scheduler_wake_fd(checked(), &fd), "tapir_scheduler_wake_fd");
    return fd;
  }

 private:
  explicit scheduler(const tapir_scheduler* p) noexcept : handle(p) {}
};

/// Options for continuations (then, on_complete, awaiting): flags, a scheduler and
/// a token. The scheduler and token are borrowed: keep them alive while these
/// options are used (the library takes its own references when it registers).
class continuation_options {
 public:
  continuation_options() noexcept : o_{sizeof(tapir_continuation_options), 0, nullptr, nullptr} {}

  /// Run inline on the completing thread when the scheduler allows (ExecuteSynchronously).
  continuation_options& synchronously() noexcept { return set(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY); }
  continuation_options& only_on_success() noexcept { return set(TAPIR_CONTINUATION_ONLY_ON_SUCCESS); }
  continuation_options& only_on_faulted() noexcept { return set(TAPIR_CONTINUATION_ONLY_ON_FAULTED); }
  continuation_options& only_on_canceled() noexcept { return set(TAPIR_CONTINUATION_ONLY_ON_CANCELED); }
  continuation_options& not_on_success() noexcept { return set(TAPIR_CONTINUATION_NOT_ON_SUCCESS); }
  continuation_options& not_on_faulted() noexcept { return set(TAPIR_CONTINUATION_NOT_ON_FAULTED); }
  continuation_options& not_on_canceled() noexcept { return set(TAPIR_CONTINUATION_NOT_ON_CANCELED); }
  continuation_options& lazy_cancellation() noexcept { return set(TAPIR_CONTINUATION_LAZY_CANCELLATION); }
  continuation_options& long_running() noexcept { return set(TAPIR_CONTINUATION_LONG_RUNNING); }
  continuation_options& run_continuations_asynchronously() noexcept {
    return set(TAPIR_CONTINUATION_RUN_CONTINUATIONS_ASYNCHRONOUSLY);
  }
  /// Adds raw TAPIR_CONTINUATION_* bits.
  continuation_options& flags(std::uint32_t f) noexcept { return set(f); }
  /// Runs the callback on `s` (default: the thread pool).
  continuation_options& on(const scheduler& s) {
    if (!s) detail::throw_empty("tapir::scheduler");
    o_.scheduler = s.native();
    return *this;
  }
  /// Cancels the continuation when `t` is canceled (its task ends canceled).
  continuation_options& with_token(const cancel_token& t) {
    if (!t) detail::throw_empty("tapir::cancel_token");
    o_.token = t.native();
    return *this;
  }

  std::uint32_t flags() const noexcept { return o_.flags; }
  const tapir_continuation_options* native() const noexcept { return &o_; }

 private:
  continuation_options& set(std::uint32_t f) noexcept {
    o_.flags |= f;
    return *this;
  }
  tapir_continuation_options o_;
};

/// Options with EXECUTE_SYNCHRONOUSLY set.
inline continuation_options synchronously() noexcept { return continuation_options().synchronously(); }

/// A callback registered with task::register_on_complete, removable before it runs.
/// Destroying it releases the handle and does NOT remove the callback.
class registration : public detail::handle<tapir_registration> {
 public:
  registration() noexcept = default;
  registration(registration&& o) noexcept : handle(std::move(o)), done_(std::exchange(o.done_, false)) {}
  registration(const registration&) = default;
  registration& operator=(registration&& o) noexcept {
    handle::operator=(std::move(o));
    done_ = std::exchange(o.done_, false);
    return *this;
  }
  registration& operator=(const registration&) = default;
  static registration adopt(const tapir_registration* p) noexcept { return registration(p, false); }
  static registration borrow(const tapir_registration* p) { return registration(detail::retain_checked(p), false); }

  /// True when the task had already completed at registration: the callback was run
  /// or dispatched at once and there is nothing to remove.
  bool completed_at_registration() const noexcept { return done_; }
  /// Removes the callback; true if removed before it ran (its destroy has run).
  bool remove() const {
    if (done_) return false;
    tapir_status st = tapir_registration_remove(checked());
    if (st == TAPIR_STATUS_ALREADY_COMPLETED) return false;
    detail::check(st, "tapir_registration_remove");
    return true;
  }

 private:
  template <class T>
  friend class task;
  registration(const tapir_registration* p, bool done) noexcept : handle(p), done_(done) {}
  bool done_ = false;
};

#if TAPIR_CPP_HAS_COROUTINES
namespace detail {
template <class T>
class task_awaiter;
template <class T>
class task_promise;
}  // namespace detail
#endif

// ---------------------------------------------------------------------------------
// task<T>
// ---------------------------------------------------------------------------------

namespace detail {
template <class T, class Fn>
struct then_value_call;
template <class T, class Fn>
struct then_task_call;
template <class T, class Fn>
struct on_complete_call;
}  // namespace detail

/// The consumer side of one asynchronous operation (Task<T>; task<void> for Task).
/// Also a coroutine return type under C++20: the coroutine starts at once, and its
/// co_return completes the task.
template <class T>
class task : public detail::handle<tapir_task> {
 public:
  using value_type = T;
#if TAPIR_CPP_HAS_COROUTINES
  using promise_type = detail::task_promise<T>;
#endif

  /// An empty task (using it throws std::logic_error).
  task() noexcept = default;
  static task adopt(const tapir_task* p) noexcept { return task(p); }
  static task borrow(const tapir_task* p) { return task(detail::retain_checked(p)); }

  /// An already succeeded task holding T(args...) (Task.FromResult).
  template <class... A>
  [[nodiscard]] static task from_result(A&&... args) {
    const tapir_task* t = nullptr;
    if constexpr (std::is_void<T>::value) {
      static_assert(sizeof...(A) == 0, "task<void>::from_result takes no value");
      detail::check(tapir_task_from_result(nullptr, nullptr, &t), "tapir_task_from_result");
    } else {
      using VT = detail::value_traits<T>;
      void* v = VT::make(std::forward<A>(args)...);
      tapir_status st = tapir_task_from_result(v, VT::destroy(), &t);
      if (st != TAPIR_STATUS_OK) {
        if (tapir_destroy_fn d = VT::destroy()) d(v);
        detail::throw_status(st, "tapir_task_from_result");
      }
    }
    return adopt(t);
  }
  /// An already faulted task carrying `ep` (Task.FromException).
  [[nodiscard]] static task from_exception(std::exception_ptr ep);
  /// An already faulted task with a native error.
  [[nodiscard]] static task from_error(const error& e) {
    const tapir_task* t = nullptr;
    if (!e) detail::throw_empty("tapir::error");
    detail::check(tapir_task_from_error(e.native(), &t), "tapir_task_from_error");
    return adopt(t);
  }
  /// An already canceled task; `token`, if given, must be canceled.
  [[nodiscard]] static task from_canceled() {
    const tapir_task* t = nullptr;
    detail::check(tapir_task_from_canceled(nullptr, &t), "tapir_task_from_canceled");
    return adopt(t);
  }
  [[nodiscard]] static task from_canceled(const cancel_token& token) {
    if (!token) detail::throw_empty("tapir::cancel_token");
    const tapir_task* t = nullptr;
    detail::check(tapir_task_from_canceled(token.native(), &t), "tapir_task_from_canceled");
    return adopt(t);
  }

  // ---- state ----
  tapir_task_status status() const { return tapir_task_get_status(checked()); }
  bool is_completed() const { return tapir_task_is_completed(checked()); }
  bool is_succeeded() const { return status() == TAPIR_TASK_STATUS_SUCCEEDED; }
  bool is_faulted() const { return status() == TAPIR_TASK_STATUS_FAULTED; }
  bool is_canceled() const { return status() == TAPIR_TASK_STATUS_CANCELED; }
  /// Unique among live tasks, never 0.
  std::uint64_t id() const { return tapir_task_id(checked()); }
  /// The state given at creation (for continuation tasks: their user data).
  void* async_state() const { return tapir_task_state(checked()); }

  // ---- waiting and results ----
  /// Blocks until the task completes (any outcome); never throws for the outcome.
  void wait() const {
    const tapir_task* t = checked();
    if (!tapir_task_is_completed(t)) detail::run_deferred_starts();
    tapir_status st = tapir_task_wait(t, TAPIR_INFINITE);
    if (st != TAPIR_STATUS_OK && st != TAPIR_STATUS_FAULTED && st != TAPIR_STATUS_CANCELED)
      detail::throw_status(st, "tapir_task_wait");
  }
  /// Blocks until completion or timeout; true if completed.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    const tapir_task* t = checked();
    if (!tapir_task_is_completed(t)) detail::run_deferred_starts();
    tapir_status st = tapir_task_wait(t, detail::to_ms(timeout));
    if (st == TAPIR_STATUS_TIMEOUT) return false;
    if (st != TAPIR_STATUS_OK && st != TAPIR_STATUS_FAULTED && st != TAPIR_STATUS_CANCELED)
      detail::throw_status(st, "tapir_task_wait");
    return true;
  }
  /// Blocks, then returns (a copy of) the value, or rethrows: the C++ exception the
  /// task carries (the same object), a task_error for a native error, or a
  /// canceled_error.
  T get() const {
    void* v = detail::wait_result(checked());
    if constexpr (!std::is_void<T>::value) return detail::value_traits<T>::get(v);
    else (void)v;
  }
  /// The first error of a faulted task (marks the errors observed).
  error first_error() const {
    const tapir_error* e = nullptr;
    detail::check(tapir_task_error(checked(), &e), "tapir_task_error");
    return error::adopt(e);
  }
  /// Every error of a faulted task, in order (input order for when_all); empty
  /// otherwise.
  std::vector<error> errors() const {
    std::vector<error> v;
    const tapir_task* t = checked();
    std::size_t n = tapir_task_error_count(t);
    v.reserve(n);
    for (std::size_t i = 0; i < n; i++) {
      const tapir_error* e = nullptr;
      detail::check(tapir_task_error_at(t, i, &e), "tapir_task_error_at");
      v.push_back(error::adopt(e));
    }
    return v;
  }
  /// Every error of a faulted task as an exception: the C++ exception it carries, or
  /// a task_error for a native one.
  std::vector<std::exception_ptr> exceptions() const {
    std::vector<std::exception_ptr> v;
    for (const error& e : errors()) {
      std::exception_ptr ep = e.exception();
      v.push_back(ep ? ep : std::make_exception_ptr(task_error(e)));
    }
    return v;
  }
  /// The token that canceled the task (empty if none was recorded).
  cancel_token cancellation_token() const {
    const tapir_cancel_token* k = nullptr;
    detail::check(tapir_task_cancel_token(checked(), &k), "tapir_task_cancel_token");
    return cancel_token::adopt(k);
  }

  // ---- continuations ----
  /// A continuation that receives the value (nothing for task<void>) once the task
  /// succeeds; a fault or cancellation passes to the returned task without calling
  /// `f`. If `f` returns task<V>, the result is task<V> (unwrap); if it throws, the
  /// result fails with that exception.
  template <class F>
  [[nodiscard]] auto then(F&& f, const continuation_options& options = continuation_options()) const;
  /// A continuation that receives the completed task itself (any outcome).
  template <class F>
  [[nodiscard]] auto then_task(F&& f, const continuation_options& options = continuation_options()) const;
  /// Runs `f()` or `f(const task<T>&)` once the task completes (no continuation
  /// task: the cheapest form).
  template <class F>
  void on_complete(F&& f, const continuation_options& options = continuation_options()) const;
  /// As on_complete, returning a registration that can remove the callback.
  template <class F>
  [[nodiscard]] registration register_on_complete(F&& f,
                                                  const continuation_options& options = continuation_options()) const;

  // ---- timeouts ----
  /// A task that completes as this one does, or fails with timeout_error after
  /// `timeout`, or ends canceled with `token` (Task.WaitAsync). This task is unaffected.
  template <class Rep, class Period>
  [[nodiscard]] task wait_async(std::chrono::duration<Rep, Period> timeout, const cancel_token& token) const {
    if (!token) detail::throw_empty("tapir::cancel_token");
    return wait_async_ms(detail::to_ms(timeout), token.native());
  }
  template <class Rep, class Period>
  [[nodiscard]] task wait_async(std::chrono::duration<Rep, Period> timeout) const {
    return wait_async_ms(detail::to_ms(timeout), nullptr);
  }
  [[nodiscard]] task wait_async(const cancel_token& token) const {
    if (!token) detail::throw_empty("tapir::cancel_token");
    return wait_async_ms(-1, token.native());
  }
  /// wait_async measured on `c`: `timeout` in the clock's units (frames, or game
  /// milliseconds; -1: never).
  [[nodiscard]] task wait_async_on(const clock& c, double timeout) const;
  [[nodiscard]] task wait_async_on(const clock& c, double timeout, const cancel_token& token) const;

  /// For task<task<U>>: a task that completes as the inner task does (Task.Unwrap).
  template <class U = T, std::enable_if_t<detail::is_task<U>::value, int> = 0>
  [[nodiscard]] U unwrap() const {
    const tapir_task* t = nullptr;
    detail::check(tapir_task_unwrap(checked(), &t), "tapir_task_unwrap");
    return U::adopt(t);
  }

#if TAPIR_CPP_HAS_COROUTINES
  /// co_await resumes inline on the completing thread.
  detail::task_awaiter<T> operator co_await() const&;
  detail::task_awaiter<T> operator co_await() &&;
  /// co_await t.on(s) resumes on `s` instead (`s` is borrowed: keep it alive until
  /// the coroutine has suspended).
  detail::task_awaiter<T> on(const scheduler& s) const;
#endif

 private:
  template <class U>
  friend class task;
  template <class U>
  friend class completion_source;
  explicit task(const tapir_task* p) noexcept : handle(p) {}

  task wait_async_ms(std::int64_t ms, const tapir_cancel_token* token) const {
    const tapir_task* t = nullptr;
    detail::check(tapir_task_wait_async(checked(), ms, token, &t), "tapir_task_wait_async");
    return adopt(t);
  }
  task wait_async_on_impl(const clock& c, double timeout, const tapir_cancel_token* token) const;
};

namespace detail {

template <class T, class Fn>
struct then_value_call {
  static void run(void* ud, const tapir_task* antecedent, const tapir_source* next) noexcept {
    try {
      void* v = nullptr;
      if (tapir_task_result(antecedent, &v) != TAPIR_STATUS_OK) {
        // Faulted or canceled: the continuation task mirrors the antecedent.
        (void)tapir_source_set_from_task(next, antecedent);
        return;
      }
      fn_store<Fn>::with(ud, [&](Fn& f) {
        if constexpr (std::is_void<T>::value) {
          complete_with(next, [&]() -> decltype(auto) { return std::invoke(f); });
        } else {
          complete_with(next, [&]() -> decltype(auto) { return std::invoke(f, value_traits<T>::get(v)); });
        }
      });
    } catch (...) {
      fail_source(next, std::current_exception());
    }
  }
};

template <class T, class Fn>
struct then_task_call {
  static void run(void* ud, const tapir_task* antecedent, const tapir_source* next) noexcept {
    try {
      fn_store<Fn>::with(ud, [&](Fn& f) {
        complete_with(next, [&]() -> decltype(auto) { return std::invoke(f, task<T>::borrow(antecedent)); });
      });
    } catch (...) {
      fail_source(next, std::current_exception());
    }
  }
};

template <class T, class Fn>
struct on_complete_call {
  static void run(void* ud, const tapir_task* completed) noexcept {
    try {
      fn_store<Fn>::with(ud, [&](Fn& f) {
        if constexpr (std::is_invocable<Fn&, const task<T>&>::value) {
          borrowed_task<T> b(completed);
          std::invoke(f, b.get());
        } else {
          static_assert(std::is_invocable<Fn&>::value,
                        "an on_complete callback takes no argument or a const tapir::task<T>&");
          (void)completed;
          std::invoke(f);
        }
      });
    } catch (...) {
      report_callback_exception(std::current_exception());
    }
  }
};

template <class T, class Fn, bool = std::is_void<T>::value>
struct then_value_result {
  using type = std::invoke_result_t<Fn&, decltype(value_traits<T>::get(nullptr))>;
};
template <class T, class Fn>
struct then_value_result<T, Fn, true> {
  using type = std::invoke_result_t<Fn&>;
};
template <class T, class Fn>
using then_value_result_t = typename then_value_result<T, Fn>::type;

}  // namespace detail

template <class T>
template <class F>
auto task<T>::then(F&& f, const continuation_options& options) const {
  using Fn = std::decay_t<F>;
  using R = detail::then_value_result_t<T, Fn>;
  using Result = detail::then_result_t<R>;
  const tapir_task* self = checked();
  typename detail::fn_store<Fn>::holder fn(std::forward<F>(f));
  const tapir_task* out = nullptr;
  tapir_status st = tapir_task_continue_with(self, &detail::then_value_call<T, Fn>::run, fn.get(),
                                             detail::fn_store<Fn>::destroy(), options.native(), &out);
  if (st != TAPIR_STATUS_OK) detail::throw_status(st, "tapir_task_continue_with");
  fn.release();
  return Result::adopt(out);
}

template <class T>
template <class F>
auto task<T>::then_task(F&& f, const continuation_options& options) const {
  using Fn = std::decay_t<F>;
  using R = std::invoke_result_t<Fn&, task<T>>;
  using Result = detail::then_result_t<R>;
  const tapir_task* self = checked();
  typename detail::fn_store<Fn>::holder fn(std::forward<F>(f));
  const tapir_task* out = nullptr;
  tapir_status st = tapir_task_continue_with(self, &detail::then_task_call<T, Fn>::run, fn.get(),
                                             detail::fn_store<Fn>::destroy(), options.native(), &out);
  if (st != TAPIR_STATUS_OK) detail::throw_status(st, "tapir_task_continue_with");
  fn.release();
  return Result::adopt(out);
}

template <class T>
template <class F>
void task<T>::on_complete(F&& f, const continuation_options& options) const {
  using Fn = std::decay_t<F>;
  const tapir_task* self = checked();
  typename detail::fn_store<Fn>::holder fn(std::forward<F>(f));
  tapir_status st = tapir_task_on_complete(self, &detail::on_complete_call<T, Fn>::run, fn.get(),
                                           detail::fn_store<Fn>::destroy(), options.native(), nullptr);
  if (st != TAPIR_STATUS_OK) detail::throw_status(st, "tapir_task_on_complete");
  fn.release();
}

template <class T>
template <class F>
registration task<T>::register_on_complete(F&& f, const continuation_options& options) const {
  using Fn = std::decay_t<F>;
  const tapir_task* self = checked();
  typename detail::fn_store<Fn>::holder fn(std::forward<F>(f));
  const tapir_registration* reg = nullptr;
  tapir_status st = tapir_task_on_complete(self, &detail::on_complete_call<T, Fn>::run, fn.get(),
                                           detail::fn_store<Fn>::destroy(), options.native(), &reg);
  if (st != TAPIR_STATUS_OK) detail::throw_status(st, "tapir_task_on_complete");
  fn.release();
  return registration(reg, reg == nullptr);
}

template <class T>
task<T> task<T>::from_exception(std::exception_ptr ep) {
  if (!ep) throw std::invalid_argument("tapir::task::from_exception: null exception_ptr");
  const tapir_task* t = detail::task_from_exception_ptr(std::move(ep));
  if (!t) throw std::bad_alloc();
  return adopt(t);
}

/// An already succeeded task holding `v`.
template <class V>
[[nodiscard]] task<std::decay_t<V>> task_from_result(V&& v) {
  return task<std::decay_t<V>>::from_result(std::forward<V>(v));
}
/// The shared, already succeeded task<void> (Task.CompletedTask).
[[nodiscard]] inline task<void> completed_task() {
  const tapir_task* t = nullptr;
  detail::check(tapir_task_completed(&t), "tapir_task_completed");
  return task<void>::adopt(t);
}
template <class T = void>
[[nodiscard]] task<T> task_from_exception(std::exception_ptr ep) {
  return task<T>::from_exception(std::move(ep));
}

// ---------------------------------------------------------------------------------
// completion_source<T>
// ---------------------------------------------------------------------------------

/// The producer side: completes its task exactly once (TaskCompletionSource<T>).
/// Default-constructed: a new source. Releasing the last source of a pending task
/// fails it with TAPIR_STATUS_BROKEN_PROMISE.
template <class T>
class completion_source : public detail::handle<tapir_source> {
 public:
  /// `flags`: 0 or TAPIR_SOURCE_RUN_CONTINUATIONS_ASYNCHRONOUSLY; `state` is
  /// reported back by task::async_state().
  explicit completion_source(std::uint32_t flags = 0, void* state = nullptr) {
    const tapir_source* s = nullptr;
    detail::check(tapir_source_new(flags, state, &s), "tapir_source_new");
    p_ = s;
  }
  static completion_source adopt(const tapir_source* p) noexcept { return completion_source(p, 0); }
  static completion_source borrow(const tapir_source* p) { return completion_source(detail::retain_checked(p), 0); }

  /// The source's task (the same task every time).
  [[nodiscard]] task<T> get_task() const {
    const tapir_task* t = nullptr;
    detail::check(tapir_source_task(checked(), &t), "tapir_source_task");
    return task<T>::adopt(t);
  }

  /// Completes the task with T(args...) (nothing for task<void>). Throws
  /// status_error (TAPIR_STATUS_ALREADY_COMPLETED) if it was already completed.
  template <class... A>
  void set_value(A&&... args) const {
    detail::check(set_value_status(std::forward<A>(args)...), "tapir_source_set_result");
  }
  /// As set_value; false if the task was already completed.
  template <class... A>
  bool try_set_value(A&&... args) const {
    tapir_status st = set_value_status(std::forward<A>(args)...);
    if (st == TAPIR_STATUS_ALREADY_COMPLETED) return false;
    detail::check(st, "tapir_source_set_result");
    return true;
  }
  /// Fails the task with `ep`; get() rethrows that very exception. A canceled_error
  /// cancels it instead.
  void set_exception(std::exception_ptr ep) const {
    if (!try_set_exception(std::move(ep))) detail::throw_status(TAPIR_STATUS_ALREADY_COMPLETED, "set_exception");
  }
  bool try_set_exception(std::exception_ptr ep) const {
    const tapir_source* s = checked();
    if (!ep) throw std::invalid_argument("tapir::completion_source::set_exception: null exception_ptr");
    try {
      std::rethrow_exception(ep);
    } catch (const canceled_error& c) {
      return try_status(tapir_source_set_canceled(s, c.token().native()), "tapir_source_set_canceled");
    } catch (...) {
    }
    error e = error::from_exception(std::move(ep));
    return try_status(tapir_source_set_error(s, e.native()), "tapir_source_set_error");
  }
  /// Fails the task with native errors, kept in order.
  void set_error(const error& e) const { detail::check(set_error_status(&e, 1), "tapir_source_set_error"); }
  bool try_set_error(const error& e) const { return try_status(set_error_status(&e, 1), "tapir_source_set_error"); }
  void set_errors(const std::vector<error>& errors) const {
    detail::check(set_error_status(errors.data(), errors.size()), "tapir_source_set_error_list");
  }
  bool try_set_errors(const std::vector<error>& errors) const {
    return try_status(set_error_status(errors.data(), errors.size()), "tapir_source_set_error_list");
  }
  /// Cancels the task, recording `token` (if any) as the cause.
  void set_canceled() const { detail::check(tapir_source_set_canceled(checked(), nullptr), "tapir_source_set_canceled"); }
  void set_canceled(const cancel_token& token) const {
    if (!token) detail::throw_empty("tapir::cancel_token");
    detail::check(tapir_source_set_canceled(checked(), token.native()), "tapir_source_set_canceled");
  }
  bool try_set_canceled() const {
    return try_status(tapir_source_set_canceled(checked(), nullptr), "tapir_source_set_canceled");
  }
  /// Completes the task as `t` completes, now or later (value shared, errors,
  /// cancellation).
  void set_from_task(const task<T>& t) const {
    if (!t) detail::throw_empty("tapir::task");
    detail::check(tapir_source_set_from_task(checked(), t.native()), "tapir_source_set_from_task");
  }

 private:
  completion_source(const tapir_source* p, int) noexcept : handle(p) {}

  template <class... A>
  tapir_status set_value_status(A&&... args) const {
    const tapir_source* s = checked();
    if constexpr (std::is_void<T>::value) {
      static_assert(sizeof...(A) == 0, "completion_source<void>::set_value takes no value");
      return tapir_source_set_result(s, nullptr, nullptr);
    } else {
      using VT = detail::value_traits<T>;
      void* v = VT::make(std::forward<A>(args)...);
      tapir_status st = tapir_source_set_result(s, v, VT::destroy());
      if (st != TAPIR_STATUS_OK) {
        if (tapir_destroy_fn d = VT::destroy()) d(v);
      }
      return st;
    }
  }
  tapir_status set_error_status(const error* errors, std::size_t n) const {
    const tapir_source* s = checked();
    if (n == 1) {
      if (!errors[0]) detail::throw_empty("tapir::error");
      return tapir_source_set_error(s, errors[0].native());
    }
    std::vector<const tapir_error*> raw;
    raw.reserve(n);
    for (std::size_t i = 0; i < n; i++) {
      if (!errors[i]) detail::throw_empty("tapir::error");
      raw.push_back(errors[i].native());
    }
    return tapir_source_set_error_list(s, raw.data(), raw.size());
  }
  static bool try_status(tapir_status st, const char* call) {
    if (st == TAPIR_STATUS_ALREADY_COMPLETED) return false;
    detail::check(st, call);
    return true;
  }
};

// ---------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------

/// A progress reporter (Progress<T>): each report(v) runs handler(const T&) on the
/// reporter's scheduler. An exception from the handler goes to the callback
/// exception handler.
template <class T>
class progress : public detail::handle<tapir_progress> {
  static_assert(!std::is_void<T>::value, "progress<T> reports values");

 public:
  progress() noexcept = default;
  template <class F, std::enable_if_t<!std::is_same<std::decay_t<F>, progress>::value, int> = 0>
  explicit progress(F&& handler) : progress(scheduler(), std::forward<F>(handler)) {}
  /// `s` empty (default-constructed) means the thread pool.
  template <class F>
  progress(const scheduler& s, F&& handler) {
    using Fn = std::decay_t<F>;
    typename detail::fn_store<Fn>::holder fn(std::forward<F>(handler));
    const tapir_progress* p = nullptr;
    detail::check(tapir_progress_new(s.native(), &call<Fn>::run, fn.get(), detail::fn_store<Fn>::destroy(), &p),
                  "tapir_progress_new");
    fn.release();
    p_ = p;
  }
  static progress adopt(const tapir_progress* p) noexcept { return progress(p, 0); }
  static progress borrow(const tapir_progress* p) { return progress(detail::retain_checked(p), 0); }

  /// Posts the handler with `v`; returns at once.
  void report(T v) const {
    using VT = detail::value_traits<T>;
    const tapir_progress* p = checked();
    void* boxed = VT::make(std::move(v));
    tapir_status st = tapir_progress_report(p, boxed, VT::destroy());
    if (st != TAPIR_STATUS_OK) {
      if (tapir_destroy_fn d = VT::destroy()) d(boxed);
      detail::throw_status(st, "tapir_progress_report");
    }
  }

 private:
  progress(const tapir_progress* p, int) noexcept : handle(p) {}
  template <class Fn>
  struct call {
    static void run(void* ud, void* value) noexcept {
      try {
        detail::fn_store<Fn>::with(ud, [&](Fn& f) { std::invoke(f, detail::value_traits<T>::get(value)); });
      } catch (...) {
        detail::report_callback_exception(std::current_exception());
      }
    }
  };
};

// ---------------------------------------------------------------------------------
// Out-of-line definitions that need the classes above
// ---------------------------------------------------------------------------------

namespace detail {

[[noreturn]] inline void throw_status(tapir_status st, const char* call) {
  if (st == TAPIR_STATUS_CANCELED) throw canceled_error();
  throw status_error(st, call);
}

/// Native errors made into one exception: the C++ exception of the first, else a
/// task_error (timeout_error for a timeout).
[[noreturn]] inline void throw_errors(std::vector<error> all) {
  if (all.empty()) throw task_error(error());
  if (std::exception_ptr ep = all.front().exception()) std::rethrow_exception(ep);
  error first = all.front();
  if (first.code() == TAPIR_STATUS_TIMEOUT) throw timeout_error(std::move(first), std::move(all));
  throw task_error(std::move(first), std::move(all));
}

[[noreturn]] inline void throw_outcome(const tapir_task* t, tapir_status st) {
  if (st == TAPIR_STATUS_CANCELED) {
    const tapir_cancel_token* k = nullptr;
    if (tapir_task_cancel_token(t, &k) == TAPIR_STATUS_OK) throw canceled_error(cancel_token::adopt(k));
    throw canceled_error();
  }
  if (st != TAPIR_STATUS_FAULTED) throw_status(st, "tapir_task_result");
  std::vector<error> all;
  std::size_t n = tapir_task_error_count(t);
  all.reserve(n);
  for (std::size_t i = 0; i < n; i++) {
    const tapir_error* e = nullptr;
    check(tapir_task_error_at(t, i, &e), "tapir_task_error_at");
    all.push_back(error::adopt(e));
  }
  throw_errors(std::move(all));
}

inline void fail_source(const tapir_source* s, std::exception_ptr ep) noexcept {
  try {
    try {
      std::rethrow_exception(ep);
    } catch (const canceled_error& c) {
      (void)tapir_source_set_canceled(s, c.token().native());
      return;
    } catch (const task_error& te) {
      std::vector<const tapir_error*> raw;
      for (const error& e : te.errors())
        if (e) raw.push_back(e.native());
      if (!raw.empty()) {
        (void)tapir_source_set_error_list(s, raw.data(), raw.size());
        return;
      }
    } catch (...) {
    }
    error e = error::from_exception(std::move(ep));
    (void)tapir_source_set_error(s, e.native());
  } catch (...) {
    // Out of memory while making the error: the source stays pending and breaks
    // its promise when released.
  }
}

inline const tapir_task* task_from_exception_ptr(std::exception_ptr ep) noexcept {
  try {
    const tapir_source* s = nullptr;
    if (tapir_source_new(0, nullptr, &s) != TAPIR_STATUS_OK) return nullptr;
    const tapir_task* t = nullptr;
    if (tapir_source_task(s, &t) != TAPIR_STATUS_OK) {
      (void)tapir_source_release(s);
      return nullptr;
    }
    fail_source(s, std::move(ep));
    if (!tapir_task_is_completed(t)) {  // fail_source could not make the error
      (void)tapir_source_release(s);
      (void)tapir_task_release(t);
      return nullptr;
    }
    (void)tapir_source_release(s);
    return t;
  } catch (...) {
    return nullptr;
  }
}

/// Calls `f` and returns the task it produced (+1), or a faulted task carrying what
/// it threw. For tapir's task factory callbacks.
template <class Call>
const tapir_task* task_from_factory(Call&& call) noexcept {
  try {
    auto t = std::forward<Call>(call)();
    static_assert(is_task<decltype(t)>::value, "a task factory returns a tapir::task");
    if (!t) throw_empty("tapir::task (returned by a factory)");
    return t.release();
  } catch (...) {
    return task_from_exception_ptr(std::current_exception());
  }
}

/// The exceptions a cancel callback throws, rethrown by on_canceled when the token
/// was already canceled (the callback then ran inside the registering call).
struct inline_cancel_slot {
  const void* box;
  std::exception_ptr* out;
};
inline inline_cancel_slot*& current_inline_cancel() noexcept {
  static thread_local inline_cancel_slot* slot = nullptr;
  return slot;
}

template <class Fn>
struct cancel_call {
  static const tapir_error* run(void* ud) noexcept {
    try {
      (*static_cast<Fn*>(ud))();
      return nullptr;
    } catch (...) {
      std::exception_ptr ep = std::current_exception();
      inline_cancel_slot* slot = current_inline_cancel();
      if (slot && slot->box == ud) {
        *slot->out = ep;
        return nullptr;
      }
      try {
        return error::from_exception(std::move(ep)).release();
      } catch (...) {
        return nullptr;
      }
    }
  }
  static void destroy(void* ud) noexcept { delete static_cast<Fn*>(ud); }
};

template <class Fn>
struct post_call {
  static void run(void* ud) noexcept {
    try {
      fn_store<Fn>::with(ud, [](Fn& f) { std::invoke(f); });
    } catch (...) {
      report_callback_exception(std::current_exception());
    }
  }
};

template <class Fn>
struct foreign_call {
  static void post(void* ctx, tapir_work* w) noexcept {
    try {
      std::invoke(*static_cast<Fn*>(ctx), work(w));
    } catch (...) {
      report_callback_exception(std::current_exception());
    }
  }
  static void destroy(void* ctx) noexcept { delete static_cast<Fn*>(ctx); }
};

}  // namespace detail

inline error error::from_exception(std::exception_ptr ep) {
  if (!ep) throw std::invalid_argument("tapir::error::from_exception: null exception_ptr");
  std::int32_t code = TAPIR_STATUS_FAULTED;
  std::string message;
  try {
    std::rethrow_exception(ep);
  } catch (const task_error& te) {
    if (te.first()) return te.first();
    message = te.what();
  } catch (const tapir::exception& e) {
    code = e.code();
    message = e.what();
  } catch (const std::exception& e) {
    message = e.what();
  } catch (...) {
    message = "unknown C++ exception";
  }
  return adopt(detail::new_exception_error(code, message, std::move(ep)));
}

inline void error::rethrow() const {
  if (std::exception_ptr ep = exception()) std::rethrow_exception(ep);
  if (code() == TAPIR_STATUS_TIMEOUT) throw timeout_error(*this);
  throw task_error(*this);
}

inline void cancel_source::cancel(bool stop_at_first_error) const {
  const tapir_error* errs = nullptr;
  detail::check(tapir_cancel_source_cancel(checked(), stop_at_first_error ? TAPIR_CANCEL_STOP_AT_FIRST_ERROR : 0, &errs),
                "tapir_cancel_source_cancel");
  if (!errs) return;
  error aggregate = error::adopt(errs);
  std::vector<error> inner = aggregate.inner_errors();
  if (stop_at_first_error && !inner.empty()) inner.front().rethrow();
  throw task_error(std::move(aggregate), std::move(inner));
}

template <class F>
cancel_registration cancel_token::on_canceled(F&& f, bool skip_if_canceled) const {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable<Fn&>::value, "a cancellation callback takes no argument");
  const tapir_cancel_token* tok = checked();
  std::unique_ptr<Fn> fn(new Fn(std::forward<F>(f)));
  std::exception_ptr thrown;
  detail::inline_cancel_slot slot{fn.get(), &thrown};
  detail::inline_cancel_slot* saved = std::exchange(detail::current_inline_cancel(), &slot);
  const tapir_cancel_registration* reg = nullptr;
  tapir_status st =
      tapir_cancel_token_register(tok, &detail::cancel_call<Fn>::run, fn.get(), &detail::cancel_call<Fn>::destroy,
                                  skip_if_canceled ? TAPIR_CANCEL_REGISTER_NO_RUN_IF_CANCELED : 0, &reg);
  detail::current_inline_cancel() = saved;
  if (st != TAPIR_STATUS_OK) detail::throw_status(st, "tapir_cancel_token_register");
  (void)fn.release();
  if (thrown) std::rethrow_exception(thrown);
  cancel_registration r(reg);
  r.ran_ = (reg == nullptr);
  return r;
}

template <class F>
scheduler scheduler::foreign(F&& post) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable<Fn&, work>::value, "a foreign scheduler's post takes a tapir::work");
  std::unique_ptr<Fn> ctx(new Fn(std::forward<F>(post)));
  tapir_scheduler_vtable vt;
  std::memset(&vt, 0, sizeof vt);
  vt.struct_size = sizeof(tapir_scheduler_vtable);
  vt.post = &detail::foreign_call<Fn>::post;
  vt.destroy = &detail::foreign_call<Fn>::destroy;
  const tapir_scheduler* s = nullptr;
  detail::check(tapir_scheduler_new_foreign(&vt, ctx.get(), &s), "tapir_scheduler_new_foreign");
  (void)ctx.release();
  return adopt(s);
}

template <class F>
void scheduler::post(F&& f) const {
  using Fn = std::decay_t<F>;
  const tapir_scheduler* s = checked();
  typename detail::fn_store<Fn>::holder fn(std::forward<F>(f));
  detail::check(tapir_scheduler_post(s, &detail::post_call<Fn>::run, fn.get(), detail::fn_store<Fn>::destroy()),
                "tapir_scheduler_post");
  fn.release();
}

#if TAPIR_CPP_HAS_STOP_TOKEN
inline std::stop_token cancel_token::to_stop_token() const {
  std::stop_source ss;
  std::stop_token st = ss.get_token();
  // The registration (and the stop_source copy it holds) lives until the token's
  // source is canceled or released; the handle is not needed to keep it.
  (void)on_canceled([ss]() mutable noexcept { ss.request_stop(); });
  return st;
}

inline cancel_source cancel_source::from_stop_token(std::stop_token st) {
  cancel_source src;
  if (!st.stop_possible()) return src;
  struct canceller {
    const tapir_cancel_source* s;
    void operator()() const noexcept { (void)tapir_cancel_source_cancel(s, 0, nullptr); }
  };
  struct bridge {
    std::stop_callback<canceller> cb;
    bridge(std::stop_token t, const tapir_cancel_source* s) : cb(std::move(t), canceller{s}) {}
  };
  // The bridge is the user data of a registration on the source's own token: it is
  // destroyed when the source is canceled or its last reference goes, so the
  // std::stop_callback never outlives the source it cancels.
  std::unique_ptr<bridge> b(new bridge(std::move(st), src.native()));
  cancel_token tok = src.token();
  tapir_status rc = tapir_cancel_token_register(
      tok.native(), [](void*) noexcept -> const tapir_error* { return nullptr; }, b.get(),
      [](void* p) noexcept { delete static_cast<bridge*>(p); }, 0, nullptr);
  detail::check(rc, "tapir_cancel_token_register");
  (void)b.release();
  return src;
}
#endif

// ---------------------------------------------------------------------------------
// Combinators, time, run
// ---------------------------------------------------------------------------------

namespace detail {

template <class Range>
using range_task_t = std::decay_t<decltype(*std::begin(std::declval<const Range&>()))>;

template <class Range>
std::vector<const tapir_task*> natives_of(const Range& tasks) {
  std::vector<const tapir_task*> v;
  for (const auto& t : tasks) {
    if (!t) throw_empty("tapir::task");
    v.push_back(t.native());
  }
  return v;
}

template <class T>
using unit_if_void_t = std::conditional_t<std::is_void<T>::value, std::monostate, T>;

template <class T>
unit_if_void_t<T> slot_value(void* p) {
  if constexpr (std::is_void<T>::value) {
    (void)p;
    return std::monostate{};
  } else {
    return unit_if_void_t<T>(value_traits<T>::get(p));
  }
}

template <class Convert>
struct convert_call {
  static void run(void* ud, const tapir_task* antecedent, const tapir_source* next) noexcept {
    try {
      void* v = nullptr;
      if (tapir_task_result(antecedent, &v) != TAPIR_STATUS_OK) {
        (void)tapir_source_set_from_task(next, antecedent);  // faulted or canceled: pass it on
        return;
      }
      fn_store<Convert>::with(ud, [&](Convert& c) { complete_with(next, [&]() -> decltype(auto) { return c(v); }); });
    } catch (...) {
      fail_source(next, std::current_exception());
    }
  }
};

/// Adds a synchronous continuation to the (+1) task `all` that completes the result
/// with `convert(value)` on success and mirrors `all` otherwise; consumes `all`.
template <class R, class Convert>
task<R> convert_when_all(const tapir_task* all, Convert&& convert) {
  task<void> owner = task<void>::adopt(all);
  using Fn = std::decay_t<Convert>;
  typename fn_store<Fn>::holder fn(std::forward<Convert>(convert));
  const tapir_continuation_options o{sizeof(tapir_continuation_options), TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY,
                                     nullptr, nullptr};
  const tapir_task* out = nullptr;
  check(tapir_task_continue_with(all, &convert_call<Fn>::run, fn.get(), fn_store<Fn>::destroy(), &o, &out),
        "tapir_task_continue_with");
  fn.release();
  return task<R>::adopt(out);
}

template <class R, class... Ts, std::size_t... I>
R tuple_from_slots(void** slots, std::index_sequence<I...>) {
  (void)slots;
  return R(slot_value<Ts>(slots[I])...);
}

template <class R, class... Ts, std::size_t... I>
R tasks_from_slots(const tapir_task* const* slots, std::index_sequence<I...>) {
  (void)slots;
  return R(task<Ts>::borrow(slots[I])...);
}

}  // namespace detail

/// Succeeds with every value, in input order, once all have succeeded
/// (Task.WhenAll); fails with every input error in input order (get() rethrows the
/// first), or ends canceled. task<void> inputs give std::monostate.
template <class... Ts>
[[nodiscard]] task<std::tuple<detail::unit_if_void_t<Ts>...>> when_all(const task<Ts>&... tasks) {
  using R = std::tuple<detail::unit_if_void_t<Ts>...>;
  const tapir_task* raw[] = {(tasks ? tasks.native() : (detail::throw_empty("tapir::task"), nullptr))..., nullptr};
  const tapir_task* all = nullptr;
  detail::check(tapir_when_all(raw, sizeof...(Ts), &all), "tapir_when_all");
  return detail::convert_when_all<R>(all, [](void* v) {
    return detail::tuple_from_slots<R, Ts...>(static_cast<void**>(v), std::index_sequence_for<Ts...>{});
  });
}

namespace detail {
template <class T>
struct when_all_range {
  template <class Range>
  static auto run(const Range& tasks) {
    std::vector<const tapir_task*> raw = natives_of(tasks);
    const tapir_task* all = nullptr;
    check(tapir_when_all(raw.data(), raw.size(), &all), "tapir_when_all");
    if constexpr (std::is_void<T>::value) {
      return task<void>::adopt(all);
    } else {
      std::size_t n = raw.size();
      return convert_when_all<std::vector<T>>(all, [n](void* v) {
        void** slots = static_cast<void**>(v);
        std::vector<T> out;
        out.reserve(n);
        for (std::size_t i = 0; i < n; i++) out.push_back(T(value_traits<T>::get(slots[i])));
        return out;
      });
    }
  }
};
}  // namespace detail

/// when_all over a range of task<T>: task<std::vector<T>> (task<void> for task<void>).
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
[[nodiscard]] auto when_all(const Range& tasks) {
  return detail::when_all_range<typename Task::value_type>::run(tasks);
}

/// As when_all, but fails as soon as one input fails, with that input's errors.
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
[[nodiscard]] auto when_all_or_first_error(const Range& tasks) {
  using T = typename Task::value_type;
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  const tapir_task* all = nullptr;
  detail::check(tapir_when_all_or_first_error(raw.data(), raw.size(), &all), "tapir_when_all_or_first_error");
  if constexpr (std::is_void<T>::value) {
    return task<void>::adopt(all);
  } else {
    std::size_t n = raw.size();
    return detail::convert_when_all<std::vector<T>>(all, [n](void* v) {
      void** slots = static_cast<void**>(v);
      std::vector<T> out;
      out.reserve(n);
      for (std::size_t i = 0; i < n; i++) out.push_back(T(detail::value_traits<T>::get(slots[i])));
      return out;
    });
  }
}

/// Succeeds once every input completed, whatever the outcomes (Promise.allSettled),
/// with the input tasks to inspect.
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
[[nodiscard]] task<std::vector<Task>> when_all_settled(const Range& tasks) {
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  const tapir_task* all = nullptr;
  detail::check(tapir_when_all_settled(raw.data(), raw.size(), &all), "tapir_when_all_settled");
  std::size_t n = raw.size();
  return detail::convert_when_all<std::vector<Task>>(all, [n](void* v) {
    const tapir_task* const* slots = static_cast<const tapir_task* const*>(v);
    std::vector<Task> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; i++) out.push_back(Task::borrow(slots[i]));
    return out;
  });
}
template <class... Ts>
[[nodiscard]] task<std::tuple<task<Ts>...>> when_all_settled(const task<Ts>&... tasks) {
  using R = std::tuple<task<Ts>...>;
  const tapir_task* raw[] = {(tasks ? tasks.native() : (detail::throw_empty("tapir::task"), nullptr))..., nullptr};
  const tapir_task* all = nullptr;
  detail::check(tapir_when_all_settled(raw, sizeof...(Ts), &all), "tapir_when_all_settled");
  return detail::convert_when_all<R>(all, [](void* v) {
    return detail::tasks_from_slots<R, Ts...>(static_cast<const tapir_task* const*>(v),
                                              std::index_sequence_for<Ts...>{});
  });
}

/// The winner of when_any: its index in the input and the task itself.
template <class T>
struct when_any_result {
  std::size_t index;
  task<T> winner;
};

/// Succeeds when the first input completes, whatever its outcome (Task.WhenAny).
/// With `cancel_on_complete`, that source is canceled then, so the others can stop.
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
[[nodiscard]] task<when_any_result<typename Task::value_type>> when_any(const Range& tasks,
                                                                        const cancel_source* cancel_on_complete = nullptr) {
  using T = typename Task::value_type;
  std::vector<Task> inputs(std::begin(tasks), std::end(tasks));
  std::vector<const tapir_task*> raw = detail::natives_of(inputs);
  const tapir_cancel_source* cs = nullptr;
  if (cancel_on_complete) {
    if (!*cancel_on_complete) detail::throw_empty("tapir::cancel_source");
    cs = cancel_on_complete->native();
  }
  const tapir_task* any = nullptr;
  detail::check(tapir_when_any(raw.data(), raw.size(), cs, &any), "tapir_when_any");
  return detail::convert_when_all<when_any_result<T>>(any, [inputs = std::move(inputs)](void* v) {
    std::size_t i = reinterpret_cast<std::uintptr_t>(v);
    return when_any_result<T>{i, inputs.at(i)};
  });
}
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
[[nodiscard]] task<when_any_result<typename Task::value_type>> when_any(const Range& tasks,
                                                                        const cancel_source& cancel_on_complete) {
  return when_any(tasks, &cancel_on_complete);
}
/// when_any over tasks of any types: the index of the first to complete.
template <class T0, class... Ts>
[[nodiscard]] task<std::size_t> when_any(const task<T0>& first, const task<Ts>&... rest) {
  const tapir_task* raw[] = {(first ? first.native() : (detail::throw_empty("tapir::task"), nullptr)),
                             (rest ? rest.native() : (detail::throw_empty("tapir::task"), nullptr))...};
  const tapir_task* any = nullptr;
  detail::check(tapir_when_any(raw, 1 + sizeof...(Ts), nullptr, &any), "tapir_when_any");
  return task<std::size_t>::adopt(any);
}

/// Task.WhenEach: output k completes the way the k-th input to complete did.
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
[[nodiscard]] std::vector<Task> interleaved(const Range& tasks) {
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  std::vector<const tapir_task*> outs(raw.size(), nullptr);
  detail::check(tapir_interleaved(raw.data(), raw.size(), outs.data()), "tapir_interleaved");
  std::vector<Task> v;
  v.reserve(outs.size());
  for (const tapir_task* o : outs) v.push_back(Task::adopt(o));
  return v;
}

/// A task that succeeds after `d` (Task.Delay); tapir::infinite never does. Ends
/// canceled when `token` is canceled first.
template <class Rep, class Period>
[[nodiscard]] task<void> delay(std::chrono::duration<Rep, Period> d) {
  const tapir_task* t = nullptr;
  detail::check(tapir_delay(detail::to_ms(d), nullptr, &t), "tapir_delay");
  return task<void>::adopt(t);
}
template <class Rep, class Period>
[[nodiscard]] task<void> delay(std::chrono::duration<Rep, Period> d, const cancel_token& token) {
  if (!token) detail::throw_empty("tapir::cancel_token");
  const tapir_task* t = nullptr;
  detail::check(tapir_delay(detail::to_ms(d), token.native(), &t), "tapir_delay");
  return task<void>::adopt(t);
}

/// A task that completes asynchronously on the current scheduler (Task.Yield).
[[nodiscard]] inline task<void> yield() {
  const tapir_task* t = nullptr;
  detail::check(tapir_yield(&t), "tapir_yield");
  return task<void>::adopt(t);
}

namespace detail {
template <class Fn>
struct run_call {
  static void run(void* ud, const tapir_source* s) noexcept {
    try {
      fn_store<Fn>::with(ud, [&](Fn& f) { complete_with(s, [&]() -> decltype(auto) { return std::invoke(f); }); });
    } catch (...) {
      fail_source(s, std::current_exception());
    }
  }
};
template <class F>
auto run_on(const tapir_scheduler* s, const tapir_cancel_token* token, F&& f) {
  using Fn = std::decay_t<F>;
  using Result = then_result_t<std::invoke_result_t<Fn&>>;
  typename fn_store<Fn>::holder fn(std::forward<F>(f));
  const tapir_task* out = nullptr;
  check(tapir_run(s, &run_call<Fn>::run, fn.get(), fn_store<Fn>::destroy(), token, &out), "tapir_run");
  fn.release();
  return Result::adopt(out);
}
}  // namespace detail

/// Runs `f()` on the thread pool and returns its task (Task.Run); a callable
/// returning task<V> gives task<V>.
template <class F>
[[nodiscard]] auto run(F&& f) {
  return detail::run_on(nullptr, nullptr, std::forward<F>(f));
}
/// Runs `f()` on `s`.
template <class F>
[[nodiscard]] auto run(const scheduler& s, F&& f) {
  if (!s) detail::throw_empty("tapir::scheduler");
  return detail::run_on(s.native(), nullptr, std::forward<F>(f));
}
/// Runs `f()` on `s` unless `token` is canceled first (the task then ends canceled).
template <class F>
[[nodiscard]] auto run(const scheduler& s, F&& f, const cancel_token& token) {
  if (!s) detail::throw_empty("tapir::scheduler");
  if (!token) detail::throw_empty("tapir::cancel_token");
  return detail::run_on(s.native(), token.native(), std::forward<F>(f));
}

/// Blocks until every task completed; then throws the first failure in input order
/// (or canceled_error if one was canceled and none failed).
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
void wait_all(const Range& tasks) {
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  tapir_status st = tapir_task_wait_all(raw.data(), raw.size(), TAPIR_INFINITE, nullptr);
  if (st == TAPIR_STATUS_OK) return;
  if (st != TAPIR_STATUS_FAULTED && st != TAPIR_STATUS_CANCELED) detail::throw_status(st, "tapir_task_wait_all");
  for (const tapir_task* t : raw)
    if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_FAULTED) detail::throw_outcome(t, TAPIR_STATUS_FAULTED);
  for (const tapir_task* t : raw)
    if (tapir_task_get_status(t) == TAPIR_TASK_STATUS_CANCELED) detail::throw_outcome(t, TAPIR_STATUS_CANCELED);
  detail::throw_status(st, "tapir_task_wait_all");
}
/// As wait_all, giving up after `timeout` (false) or when `token` is canceled
/// (canceled_error).
template <class Range, class Rep, class Period, class Task = detail::range_task_t<Range>,
          std::enable_if_t<detail::is_task<Task>::value, int> = 0>
bool wait_all_for(const Range& tasks, std::chrono::duration<Rep, Period> timeout,
                  const cancel_token& token = cancel_token()) {
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  if (!token) detail::throw_empty("tapir::cancel_token");
  tapir_status st = tapir_task_wait_all(raw.data(), raw.size(), detail::to_ms(timeout), token.native());
  if (st == TAPIR_STATUS_TIMEOUT) return false;
  if (st == TAPIR_STATUS_CANCELED && tapir_cancel_token_is_canceled(token.native())) throw canceled_error(token);
  if (st != TAPIR_STATUS_OK) wait_all(tasks);
  return true;
}
/// Blocks until one task completes; returns its index (Task.WaitAny).
template <class Range, class Task = detail::range_task_t<Range>, std::enable_if_t<detail::is_task<Task>::value, int> = 0>
std::size_t wait_any(const Range& tasks) {
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  std::size_t index = 0;
  detail::check(tapir_task_wait_any(raw.data(), raw.size(), TAPIR_INFINITE, nullptr, &index), "tapir_task_wait_any");
  return index;
}
/// As wait_any; nullopt after `timeout`; canceled_error when `token` is canceled.
template <class Range, class Rep, class Period, class Task = detail::range_task_t<Range>,
          std::enable_if_t<detail::is_task<Task>::value, int> = 0>
std::optional<std::size_t> wait_any_for(const Range& tasks, std::chrono::duration<Rep, Period> timeout,
                                        const cancel_token& token = cancel_token()) {
  std::vector<const tapir_task*> raw = detail::natives_of(tasks);
  if (!token) detail::throw_empty("tapir::cancel_token");
  std::size_t index = 0;
  tapir_status st = tapir_task_wait_any(raw.data(), raw.size(), detail::to_ms(timeout), token.native(), &index);
  if (st == TAPIR_STATUS_TIMEOUT) return std::nullopt;
  if (st == TAPIR_STATUS_CANCELED) throw canceled_error(token);
  detail::check(st, "tapir_task_wait_any");
  return index;
}

namespace detail {
template <class Factory, class Gate>
struct retry_state {
  Factory factory;
  Gate gate;
  static const tapir_task* make(void* ud, std::uint32_t attempt) noexcept {
    auto* self = static_cast<retry_state*>(ud);
    return task_from_factory([&] { return std::invoke(self->factory, attempt); });
  }
  static const tapir_task* wait(void* ud, std::uint32_t attempt) noexcept {
    auto* self = static_cast<retry_state*>(ud);
    return task_from_factory([&] { return std::invoke(self->gate, attempt); });
  }
  static void destroy(void* ud) noexcept { delete static_cast<retry_state*>(ud); }
};
struct no_gate {
  task<void> operator()(std::uint32_t) const { return completed_task(); }
};
}  // namespace detail

/// RetryOnFault: calls `factory(attempt)` (returning task<T>) for attempt 0, 1, ...,
/// each after the previous attempt's task completed, until one succeeds or
/// `max_tries` were made; completes as the last attempt did. `gate(attempt)`, if
/// given, returns a task to wait for between tries (e.g. a delay).
template <class Factory>
[[nodiscard]] auto retry_on_fault(Factory&& factory, std::uint32_t max_tries) {
  using Fn = std::decay_t<Factory>;
  using Result = std::invoke_result_t<Fn&, std::uint32_t>;
  static_assert(detail::is_task<Result>::value, "a retry factory returns a tapir::task");
  using State = detail::retry_state<Fn, detail::no_gate>;
  std::unique_ptr<State> st(new State{std::forward<Factory>(factory), detail::no_gate{}});
  const tapir_task* out = nullptr;
  detail::check(tapir_retry_on_fault(&State::make, nullptr, st.get(), &State::destroy, max_tries, &out),
                "tapir_retry_on_fault");
  (void)st.release();
  return Result::adopt(out);
}
template <class Factory, class Gate>
[[nodiscard]] auto retry_on_fault(Factory&& factory, std::uint32_t max_tries, Gate&& gate) {
  using Fn = std::decay_t<Factory>;
  using G = std::decay_t<Gate>;
  using Result = std::invoke_result_t<Fn&, std::uint32_t>;
  static_assert(detail::is_task<Result>::value, "a retry factory returns a tapir::task");
  static_assert(detail::is_task<std::invoke_result_t<G&, std::uint32_t>>::value, "a retry gate returns a tapir::task");
  using State = detail::retry_state<Fn, G>;
  std::unique_ptr<State> st(new State{std::forward<Factory>(factory), std::forward<Gate>(gate)});
  const tapir_task* out = nullptr;
  detail::check(tapir_retry_on_fault(&State::make, &State::wait, st.get(), &State::destroy, max_tries, &out),
                "tapir_retry_on_fault");
  (void)st.release();
  return Result::adopt(out);
}

namespace detail {
template <class Fn>
struct need_one_call {
  static const tapir_task* make(void* ud, std::uint32_t i, const tapir_cancel_token* token) noexcept {
    return task_from_factory([&] {
      cancel_token tok = cancel_token::borrow(token);
      return std::invoke(*static_cast<Fn*>(ud), i, static_cast<const cancel_token&>(tok));
    });
  }
  static void destroy(void* ud) noexcept { delete static_cast<Fn*>(ud); }
};
template <class Fn>
struct indexed_call {
  static const tapir_task* make(void* ud, std::uint32_t i) noexcept {
    return task_from_factory([&] { return std::invoke(*static_cast<Fn*>(ud), i); });
  }
  static void destroy(void* ud) noexcept { delete static_cast<Fn*>(ud); }
};
}  // namespace detail

/// NeedOnlyOne: starts `factory(i, token)` for i in 0..count, all sharing one token;
/// the first to complete gives the result and the token is canceled right after.
template <class Factory>
[[nodiscard]] auto need_only_one(Factory&& factory, std::uint32_t count) {
  using Fn = std::decay_t<Factory>;
  using Result = std::invoke_result_t<Fn&, std::uint32_t, const cancel_token&>;
  static_assert(detail::is_task<Result>::value, "a need_only_one factory returns a tapir::task");
  std::unique_ptr<Fn> fn(new Fn(std::forward<Factory>(factory)));
  const tapir_task* out = nullptr;
  detail::check(tapir_need_only_one(&detail::need_one_call<Fn>::make, fn.get(), &detail::need_one_call<Fn>::destroy,
                                    count, &out),
                "tapir_need_only_one");
  (void)fn.release();
  return Result::adopt(out);
}

/// Runs `factory(i)` (returning a task) for i in 0..count with at most
/// `max_in_flight` pending at once; succeeds when all did, else fails with every
/// error in index order, or ends canceled.
template <class Factory>
[[nodiscard]] task<void> for_each_throttled(Factory&& factory, std::uint32_t count, std::uint32_t max_in_flight) {
  using Fn = std::decay_t<Factory>;
  static_assert(detail::is_task<std::invoke_result_t<Fn&, std::uint32_t>>::value,
                "a for_each_throttled factory returns a tapir::task");
  std::unique_ptr<Fn> fn(new Fn(std::forward<Factory>(factory)));
  const tapir_task* out = nullptr;
  detail::check(tapir_for_each_throttled(&detail::indexed_call<Fn>::make, fn.get(), &detail::indexed_call<Fn>::destroy,
                                         count, max_in_flight, &out),
                "tapir_for_each_throttled");
  (void)fn.release();
  return task<void>::adopt(out);
}

// ---------------------------------------------------------------------------------
// Library-wide functions
// ---------------------------------------------------------------------------------

/// The library version, e.g. "0.1.0".
inline const char* version() noexcept { return tapir_version(); }
/// Stops and joins every thread tapir started (before unloading the library).
inline void shutdown() { detail::check(tapir_shutdown(), "tapir_shutdown"); }
/// Live tapir objects of a kind (TAPIR_OBJECT_KIND_ALL: every kind); diagnostics.
inline std::size_t live_objects(tapir_object_kind kind = TAPIR_OBJECT_KIND_ALL) noexcept {
  return tapir_debug_live_objects(kind);
}

/// Called when the last reference to a faulted task whose errors nobody read goes
/// (TaskScheduler.UnobservedTaskException), on the releasing thread.
using unobserved_error_handler = std::function<void(std::uint64_t task_id, const std::vector<error>& errors)>;

namespace detail {
struct unobserved_state {
  std::mutex mutex;
  std::shared_ptr<unobserved_error_handler> handler;
};
inline unobserved_state& unobserved() noexcept {
  static unobserved_state* s = new unobserved_state;  // never destroyed, as the hook may run at exit
  return *s;
}
inline void unobserved_trampoline(void*, std::uint64_t id, const tapir_error* const* errors, std::size_t count) noexcept {
  try {
    std::shared_ptr<unobserved_error_handler> h;
    {
      std::lock_guard<std::mutex> lock(unobserved().mutex);
      h = unobserved().handler;
    }
    if (!h) return;
    std::vector<error> v;
    v.reserve(count);
    for (std::size_t i = 0; i < count; i++) v.push_back(error::borrow(errors[i]));
    (*h)(id, v);
  } catch (...) {
    report_callback_exception(std::current_exception());
  }
}
}  // namespace detail

/// Installs (or, with an empty function, removes) the process-wide handler of
/// unobserved task errors.
inline void set_unobserved_error_handler(unobserved_error_handler handler) {
  std::shared_ptr<unobserved_error_handler> h;
  if (handler) h = std::make_shared<unobserved_error_handler>(std::move(handler));
  {
    std::lock_guard<std::mutex> lock(detail::unobserved().mutex);
    detail::unobserved().handler = h;
  }
  detail::check(tapir_set_unobserved_error_hook(h ? &detail::unobserved_trampoline : nullptr, nullptr),
                "tapir_set_unobserved_error_hook");
}

// ---------------------------------------------------------------------------------
// Coroutines (C++20)
// ---------------------------------------------------------------------------------

#if TAPIR_CPP_HAS_COROUTINES
namespace detail {

inline void resume_guarded(std::coroutine_handle<> h) noexcept {
  try {
    h.resume();
  } catch (...) {
    report_callback_exception(std::current_exception());
  }
}

/// Awaits a task<T>: resumes inline on the completing thread, or on a scheduler.
/// The scheduler is borrowed: it is only used to register, and holding it would
/// make a cycle (its queue holds the resumption of the frame holding the awaiter).
/// The awaiter and the completion callback meet through `state_`: whichever comes
/// second decides, so a task that completes during registration continues without
/// suspending (and without growing the stack), and after a successful
/// registration await_suspend never touches the awaiter again.
template <class T>
class task_awaiter {
 public:
  task_awaiter(task<T> t, const tapir_scheduler* s) noexcept : t_(std::move(t)), sched_(s) {}
  task_awaiter(const task_awaiter&) = delete;
  task_awaiter& operator=(const task_awaiter&) = delete;

  bool await_ready() const noexcept { return t_ && !sched_ && tapir_task_is_completed(t_.native()); }
  bool await_suspend(std::coroutine_handle<> h) {
    if (!t_) throw_empty("tapir::task");
    h_ = h;
    tapir_continuation_options o{sizeof(tapir_continuation_options),
                                 sched_ ? 0u : static_cast<std::uint32_t>(TAPIR_CONTINUATION_EXECUTE_SYNCHRONOUSLY),
                                 sched_, nullptr};
    check(tapir_task_on_complete(t_.native(), &resume, this, nullptr, &o, nullptr), "tapir_task_on_complete");
    return state_.exchange(suspended, std::memory_order_acq_rel) != completed;
  }
  T await_resume() const { return t_.get(); }

 private:
  enum : int { registering = 0, suspended = 1, completed = 2 };
  static void resume(void* ud, const tapir_task*) noexcept {
    auto* self = static_cast<task_awaiter*>(ud);
    std::coroutine_handle<> h = self->h_;
    if (self->state_.exchange(completed, std::memory_order_acq_rel) == suspended) resume_guarded(h);
  }

  task<T> t_;
  const tapir_scheduler* sched_;
  std::coroutine_handle<> h_;
  std::atomic<int> state_{registering};
};

// ---- The per-thread trampoline for coroutine starts -------------------------------
//
// A tapir coroutine starts eagerly: calling it runs its body up to the first
// suspension, nested inside the caller. So that a chain of nested calls cannot grow
// the stack without bound, each thread counts the coroutine bodies it is running
// nested that way (`depth`). Past TAPIR_CPP_EAGER_DEPTH a new coroutine does not
// start: it is queued on the thread's trampoline and its caller gets a pending task.
// When the outermost of those bodies suspends or finishes (depth back to 0), the
// thread runs the queued coroutines, one after the other, from that frame.

class promise_base;

struct coro_thread_state {
  std::size_t depth = 0;
  bool draining = false;
  promise_base* head = nullptr;
  promise_base* tail = nullptr;
};

inline coro_thread_state& coro_tls() noexcept {
  static thread_local coro_thread_state s;
  return s;
}

class promise_base {
 public:
  promise_base() {
    const tapir_source* s = nullptr;
    check(tapir_source_new(0, nullptr, &s), "tapir_source_new");
    src_ = s;
  }
  promise_base(const promise_base&) = delete;
  promise_base& operator=(const promise_base&) = delete;
  ~promise_base() {
    if (value_set_ && destroy_) destroy_(value_);
    (void)tapir_source_release(src_);
  }

  void unhandled_exception() noexcept { ep_ = std::current_exception(); }

  // Called when an eagerly started body leaves the thread's stack (its first
  // suspension, or its end): the caller continues, and at depth 0 the queue runs.
  static void leave() noexcept {
    coro_thread_state& s = coro_tls();
    if (--s.depth == 0 && !s.draining) drain(s);
  }
  static void drain(coro_thread_state& s) noexcept {
    bool outer = std::exchange(s.draining, true);
    while (promise_base* p = s.head) {
      s.head = p->next_;
      if (!s.head) s.tail = nullptr;
      p->next_ = nullptr;
      p->self_.resume();  // a tapir coroutine body never throws out of resume
    }
    s.draining = outer;
  }

  struct initial_awaiter {
    promise_base* p;
    bool await_ready() const noexcept {
      coro_thread_state& s = coro_tls();
      if (s.depth >= TAPIR_CPP_EAGER_DEPTH) return false;
      ++s.depth;
      p->eager_ = true;
      return true;
    }
    void await_suspend(std::coroutine_handle<> h) const noexcept {
      coro_thread_state& s = coro_tls();
      p->self_ = h;
      p->next_ = nullptr;
      if (s.tail)
        s.tail->next_ = p;
      else
        s.head = p;
      s.tail = p;
    }
    void await_resume() const noexcept {
      if (!p->eager_) {  // resumed from the queue: now running at the drain's depth
        ++coro_tls().depth;
        p->eager_ = true;
      }
    }
  };

  struct final_awaiter {
    promise_base* p;
    bool await_ready() const noexcept {
      bool eager = p->eager_;
      p->complete();
      if (eager) leave();
      return true;  // never suspends: the frame is destroyed now
    }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    void await_resume() const noexcept {}
  };

  /// Wraps every awaiter of the body to notice its first suspension.
  template <class Aw>
  struct tracked_awaiter {
    Aw inner;
    promise_base* p;
    bool await_ready() { return inner.await_ready(); }
    template <class H>
    auto await_suspend(H h) {
      bool was_eager = std::exchange(p->eager_, false);
      using R = decltype(inner.await_suspend(h));
      try {
        if constexpr (std::is_void<R>::value) {
          inner.await_suspend(h);
          if (was_eager) leave();  // suspended: do not touch *this or *p any more
        } else if constexpr (std::is_same<R, bool>::value) {
          if (!inner.await_suspend(h)) {
            p->eager_ = was_eager;  // not suspended: still running eagerly
            return false;
          }
          if (was_eager) leave();
          return true;
        } else {
          auto next = inner.await_suspend(h);
          if (was_eager) leave();
          return next;
        }
      } catch (...) {
        p->eager_ = was_eager;  // the body resumes with the exception
        throw;
      }
    }
    decltype(auto) await_resume() { return inner.await_resume(); }
  };

  initial_awaiter initial_suspend() noexcept { return {this}; }
  final_awaiter final_suspend() noexcept { return {this}; }

 protected:
  void complete() noexcept {
    if (ep_) {
      fail_source(src_, std::exchange(ep_, nullptr));
    } else if (value_set_) {
      value_set_ = false;
      if (tapir_source_set_result(src_, value_, destroy_) != TAPIR_STATUS_OK && destroy_) destroy_(value_);
    }
  }

  const tapir_source* src_ = nullptr;
  void* value_ = nullptr;
  tapir_destroy_fn destroy_ = nullptr;
  bool value_set_ = false;

 private:
  std::exception_ptr ep_;
  bool eager_ = false;
  promise_base* next_ = nullptr;
  std::coroutine_handle<> self_;
};

template <class A, class = void>
struct has_member_co_await : std::false_type {};
template <class A>
struct has_member_co_await<A, std::void_t<decltype(std::declval<A>().operator co_await())>> : std::true_type {};
template <class A, class = void>
struct has_free_co_await : std::false_type {};
template <class A>
struct has_free_co_await<A, std::void_t<decltype(operator co_await(std::declval<A>()))>> : std::true_type {};

template <class A>
decltype(auto) get_awaiter(A&& a) {
  if constexpr (has_member_co_await<A>::value)
    return std::forward<A>(a).operator co_await();
  else if constexpr (has_free_co_await<A>::value)
    return operator co_await(std::forward<A>(a));
  else
    return std::forward<A>(a);
}

template <class T>
class task_promise_common : public promise_base {
 public:
  task<T> get_return_object() {
    const tapir_task* t = nullptr;
    check(tapir_source_task(src_, &t), "tapir_source_task");
    return task<T>::adopt(t);
  }
  template <class A>
  auto await_transform(A&& a) {
    using Aw = decltype(get_awaiter(std::forward<A>(a)));
    return tracked_awaiter<Aw>{get_awaiter(std::forward<A>(a)), this};
  }
};

template <class T>
class task_promise : public task_promise_common<T> {
 public:
  template <class U = T>
  void return_value(U&& v) {
    using VT = value_traits<T>;
    this->value_ = VT::make(std::forward<U>(v));
    this->destroy_ = VT::destroy();
    this->value_set_ = true;
  }
};

template <>
class task_promise<void> : public task_promise_common<void> {
 public:
  void return_void() noexcept {
    value_ = nullptr;
    destroy_ = nullptr;
    value_set_ = true;
  }
};

/// co_await resume_on(s): continues the coroutine on `s`. If `s` refuses or
/// discards the work, the coroutine resumes where that happens and co_await throws
/// status_error(TAPIR_STATUS_SCHEDULER_ERROR). The scheduler is borrowed (see
/// task_awaiter): the caller's handle must live until the co_await has suspended.
class resume_on_awaiter {
 public:
  explicit resume_on_awaiter(const scheduler& s) : s_(s.native()) {
    if (!s_) throw_empty("tapir::scheduler");
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    std::unique_ptr<node> n(new node{h, this, false});
    check(tapir_scheduler_post(s_, &node::run, n.get(), &node::destroy), "tapir_scheduler_post");
    (void)n.release();
  }
  void await_resume() const {
    if (refused_) throw status_error(TAPIR_STATUS_SCHEDULER_ERROR, "resume_on");
  }

 private:
  struct node {
    std::coroutine_handle<> h;
    resume_on_awaiter* awaiter;
    bool ran;
    static void run(void* ud) noexcept {
      auto* n = static_cast<node*>(ud);
      n->ran = true;
      resume_guarded(n->h);
    }
    static void destroy(void* ud) noexcept {
      std::unique_ptr<node> n(static_cast<node*>(ud));
      if (!n->ran) {
        n->awaiter->refused_ = true;
        resume_guarded(n->h);
      }
    }
  };
  const tapir_scheduler* s_;
  bool refused_ = false;
};

inline void run_deferred_starts() noexcept {
  coro_thread_state& s = coro_tls();
  if (s.head) promise_base::drain(s);
}

}  // namespace detail

template <class T>
detail::task_awaiter<T> task<T>::operator co_await() const& {
  return detail::task_awaiter<T>(*this, nullptr);
}
template <class T>
detail::task_awaiter<T> task<T>::operator co_await() && {
  return detail::task_awaiter<T>(std::move(*this), nullptr);
}
template <class T>
detail::task_awaiter<T> task<T>::on(const scheduler& s) const {
  if (!s) detail::throw_empty("tapir::scheduler");
  return detail::task_awaiter<T>(*this, s.native());
}

/// co_await tapir::resume_on(s) continues the coroutine on scheduler `s` (a game's
/// main-thread manual scheduler, the pool, ...).
inline detail::resume_on_awaiter resume_on(const scheduler& s) { return detail::resume_on_awaiter(s); }
#else
namespace detail {
inline void run_deferred_starts() noexcept {}
}  // namespace detail
#endif  // TAPIR_CPP_HAS_COROUTINES


// ---------------------------------------------------------------------------------
// Coordination primitives (docs/primitives.md): semaphore, events, countdown,
// barrier, async lock, reader-writer lock, channel, single-flight cache. Every wait
// returns a task and takes a timeout (tapir::infinite by default) and an optional
// cancellation token; continuations of woken waiters never run under a tapir lock.
// ---------------------------------------------------------------------------------

namespace detail {
/// Selects the adopting constructor (a plain int would let `semaphore(0, 1)` pick it).
struct adopt_tag {};

template <>
struct handle_ops<tapir_semaphore> {
  static const tapir_semaphore* retain(const tapir_semaphore* p) noexcept { return tapir_semaphore_retain(p); }
  static void release(const tapir_semaphore* p) noexcept { (void)tapir_semaphore_release(p); }
  static constexpr const char* name = "tapir::semaphore";
};
template <>
struct handle_ops<tapir_auto_reset_event> {
  static const tapir_auto_reset_event* retain(const tapir_auto_reset_event* p) noexcept {
    return tapir_auto_reset_event_retain(p);
  }
  static void release(const tapir_auto_reset_event* p) noexcept { (void)tapir_auto_reset_event_release(p); }
  static constexpr const char* name = "tapir::auto_reset_event";
};
template <>
struct handle_ops<tapir_manual_reset_event> {
  static const tapir_manual_reset_event* retain(const tapir_manual_reset_event* p) noexcept {
    return tapir_manual_reset_event_retain(p);
  }
  static void release(const tapir_manual_reset_event* p) noexcept { (void)tapir_manual_reset_event_release(p); }
  static constexpr const char* name = "tapir::manual_reset_event";
};
template <>
struct handle_ops<tapir_countdown> {
  static const tapir_countdown* retain(const tapir_countdown* p) noexcept { return tapir_countdown_retain(p); }
  static void release(const tapir_countdown* p) noexcept { (void)tapir_countdown_release(p); }
  static constexpr const char* name = "tapir::countdown_event";
};
template <>
struct handle_ops<tapir_barrier> {
  static const tapir_barrier* retain(const tapir_barrier* p) noexcept { return tapir_barrier_retain(p); }
  static void release(const tapir_barrier* p) noexcept { (void)tapir_barrier_release(p); }
  static constexpr const char* name = "tapir::barrier";
};
template <>
struct handle_ops<tapir_lock> {
  static const tapir_lock* retain(const tapir_lock* p) noexcept { return tapir_lock_retain(p); }
  static void release(const tapir_lock* p) noexcept { (void)tapir_lock_release(p); }
  static constexpr const char* name = "tapir::async_lock";
};
template <>
struct handle_ops<tapir_rwlock> {
  static const tapir_rwlock* retain(const tapir_rwlock* p) noexcept { return tapir_rwlock_retain(p); }
  static void release(const tapir_rwlock* p) noexcept { (void)tapir_rwlock_release(p); }
  static constexpr const char* name = "tapir::async_rwlock";
};
template <>
struct handle_ops<tapir_lock_guard> {
  static const tapir_lock_guard* retain(const tapir_lock_guard* p) noexcept { return tapir_lock_guard_retain(p); }
  static void release(const tapir_lock_guard* p) noexcept { (void)tapir_lock_guard_release(p); }
  static constexpr const char* name = "tapir::lock_guard";
};
template <>
struct handle_ops<tapir_channel> {
  static const tapir_channel* retain(const tapir_channel* p) noexcept { return tapir_channel_retain(p); }
  static void release(const tapir_channel* p) noexcept { (void)tapir_channel_release(p); }
  static constexpr const char* name = "tapir::channel";
};
template <>
struct handle_ops<tapir_cache> {
  static const tapir_cache* retain(const tapir_cache* p) noexcept { return tapir_cache_retain(p); }
  static void release(const tapir_cache* p) noexcept { (void)tapir_cache_release(p); }
  static constexpr const char* name = "tapir::cache";
};

/// The native token of an optional token argument (NULL: none).
inline const tapir_cancel_token* token_of(const cancel_token* t) {
  if (!t) return nullptr;
  if (!*t) throw_empty("tapir::cancel_token");
  return t->native();
}

/// A wait's task: checks the call, adopts the +1 task.
template <class T>
task<T> wait_task(tapir_status st, const tapir_task* t, const char* call) {
  check(st, call);
  return task<T>::adopt(t);
}
}  // namespace detail

/// An asynchronous counting semaphore (SemaphoreSlim): waiters served in arrival order.
class semaphore : public detail::handle<tapir_semaphore> {
 public:
  /// `initial` permits, at most `max`.
  explicit semaphore(std::uint32_t initial, std::uint32_t max = 0xFFFFFFFFu) {
    detail::check(tapir_semaphore_new(initial, max, &p_), "tapir_semaphore_new");
  }
  static semaphore adopt(const tapir_semaphore* p) noexcept { return semaphore(p, detail::adopt_tag{}); }
  static semaphore borrow(const tapir_semaphore* p) { return semaphore(detail::retain_checked(p), detail::adopt_tag{}); }

  /// WaitAsync: true once `n` permits are taken, false when `timeout` passes first;
  /// canceled when `token` is canceled first.
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> wait_async(std::uint32_t n = 1,
                                      std::chrono::duration<Rep, Period> timeout = infinite,
                                      const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_semaphore_wait_async(checked(), n, detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<bool>(st, t, "tapir_semaphore_wait_async");
  }
  [[nodiscard]] task<bool> wait_async(std::uint32_t n, const cancel_token& token) const {
    return wait_async(n, infinite, &token);
  }
  /// Wait(0): takes `n` permits if nobody waits and they are there.
  bool try_wait(std::uint32_t n = 1) const {
    const tapir_semaphore* s = checked();
    if (tapir_semaphore_try_wait(s, n)) return true;
    tapir_status st = tapir_last_status();
    if (st != TAPIR_STATUS_TIMEOUT) detail::throw_status(st, "tapir_semaphore_try_wait");
    return false;
  }
  /// Release(n): gives `n` permits back (to the waiters first); returns the count
  /// before. Throws status_error (TAPIR_STATUS_FULL) past the maximum.
  std::uint32_t signal(std::uint32_t n = 1) const {
    std::uint32_t before = 0;
    detail::check(tapir_semaphore_signal(checked(), n, &before), "tapir_semaphore_signal");
    return before;
  }
  std::uint32_t current_count() const { return tapir_semaphore_current_count(checked()); }

 private:
  semaphore(const tapir_semaphore* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// An auto-reset event: each set completes one waiter; a set with nobody waiting is
/// remembered once.
class auto_reset_event : public detail::handle<tapir_auto_reset_event> {
 public:
  explicit auto_reset_event(bool initially_set = false) {
    detail::check(tapir_auto_reset_event_new(initially_set ? 1u : 0u, &p_), "tapir_auto_reset_event_new");
  }
  static auto_reset_event adopt(const tapir_auto_reset_event* p) noexcept { return auto_reset_event(p, detail::adopt_tag{}); }
  static auto_reset_event borrow(const tapir_auto_reset_event* p) {
    return auto_reset_event(detail::retain_checked(p), detail::adopt_tag{});
  }
  void set() const { detail::check(tapir_auto_reset_event_set(checked()), "tapir_auto_reset_event_set"); }
  bool try_wait() const {
    if (tapir_auto_reset_event_try_wait(checked())) return true;
    tapir_status st = tapir_last_status();
    if (st != TAPIR_STATUS_TIMEOUT) detail::throw_status(st, "tapir_auto_reset_event_try_wait");
    return false;
  }
  /// true when a set is taken for this wait, false on timeout; canceled by `token`.
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> wait_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                      const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_auto_reset_event_wait_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<bool>(st, t, "tapir_auto_reset_event_wait_async");
  }
  [[nodiscard]] task<bool> wait_async(const cancel_token& token) const { return wait_async(infinite, &token); }

 private:
  auto_reset_event(const tapir_auto_reset_event* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// A manual-reset event: a set completes every waiter and stays set until reset.
class manual_reset_event : public detail::handle<tapir_manual_reset_event> {
 public:
  explicit manual_reset_event(bool initially_set = false) {
    detail::check(tapir_manual_reset_event_new(initially_set ? 1u : 0u, &p_), "tapir_manual_reset_event_new");
  }
  static manual_reset_event adopt(const tapir_manual_reset_event* p) noexcept { return manual_reset_event(p, detail::adopt_tag{}); }
  static manual_reset_event borrow(const tapir_manual_reset_event* p) {
    return manual_reset_event(detail::retain_checked(p), detail::adopt_tag{});
  }
  void set() const { detail::check(tapir_manual_reset_event_set(checked()), "tapir_manual_reset_event_set"); }
  void reset() const { detail::check(tapir_manual_reset_event_reset(checked()), "tapir_manual_reset_event_reset"); }
  bool is_set() const { return tapir_manual_reset_event_is_set(checked()); }
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> wait_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                      const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st =
        tapir_manual_reset_event_wait_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<bool>(st, t, "tapir_manual_reset_event_wait_async");
  }
  [[nodiscard]] task<bool> wait_async(const cancel_token& token) const { return wait_async(infinite, &token); }

 private:
  manual_reset_event(const tapir_manual_reset_event* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// A countdown event (CountdownEvent): set once its count reaches zero.
class countdown_event : public detail::handle<tapir_countdown> {
 public:
  explicit countdown_event(std::uint32_t initial) {
    detail::check(tapir_countdown_new(initial, &p_), "tapir_countdown_new");
  }
  static countdown_event adopt(const tapir_countdown* p) noexcept { return countdown_event(p, detail::adopt_tag{}); }
  static countdown_event borrow(const tapir_countdown* p) { return countdown_event(detail::retain_checked(p), detail::adopt_tag{}); }
  /// Counts down by `n`; true when that set the event. Throws status_error
  /// (INVALID_STATE) when `n` is more than what is left.
  bool signal(std::uint32_t n = 1) const {
    bool zero = false;
    detail::check(tapir_countdown_signal(checked(), n, &zero), "tapir_countdown_signal");
    return zero;
  }
  void add_count(std::uint32_t n = 1) const {
    detail::check(tapir_countdown_add_count(checked(), n), "tapir_countdown_add_count");
  }
  bool try_add_count(std::uint32_t n = 1) const { return tapir_countdown_try_add_count(checked(), n); }
  /// Back to the initial count.
  void reset() const { detail::check(tapir_countdown_reset(checked(), -1), "tapir_countdown_reset"); }
  /// To `count`, which becomes the initial count.
  void reset(std::uint32_t count) const {
    detail::check(tapir_countdown_reset(checked(), static_cast<std::int64_t>(count)), "tapir_countdown_reset");
  }
  std::uint32_t current_count() const { return tapir_countdown_current_count(checked()); }
  std::uint32_t initial_count() const { return tapir_countdown_initial_count(checked()); }
  bool is_set() const { return current_count() == 0; }
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> wait_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                      const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_countdown_wait_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<bool>(st, t, "tapir_countdown_wait_async");
  }

 private:
  countdown_event(const tapir_countdown* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// A barrier of phases with an optional post-phase action `void(std::uint64_t phase)`;
/// an exception the action throws fails every participant of that phase with it.
class barrier : public detail::handle<tapir_barrier> {
 public:
  explicit barrier(std::uint32_t participants) {
    detail::check(tapir_barrier_new(participants, nullptr, nullptr, nullptr, &p_), "tapir_barrier_new");
  }
  template <class F>
  barrier(std::uint32_t participants, F&& post_phase) {
    using Fn = std::decay_t<F>;
    std::unique_ptr<Fn> fn(new Fn(std::forward<F>(post_phase)));
    detail::check(tapir_barrier_new(participants, &phase_call<Fn>::run, fn.get(), &phase_call<Fn>::destroy, &p_),
                  "tapir_barrier_new");
    (void)fn.release();
  }
  static barrier adopt(const tapir_barrier* p) noexcept { return barrier(p, detail::adopt_tag{}); }
  static barrier borrow(const tapir_barrier* p) { return barrier(detail::retain_checked(p), detail::adopt_tag{}); }

  /// true when the phase completes, false on timeout (the arrival is taken back).
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> signal_and_wait_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                                 const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st =
        tapir_barrier_signal_and_wait_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<bool>(st, t, "tapir_barrier_signal_and_wait_async");
  }
  /// Returns the current phase.
  std::uint64_t add_participants(std::uint32_t n = 1) const {
    std::uint64_t phase = 0;
    detail::check(tapir_barrier_add_participants(checked(), n, &phase), "tapir_barrier_add_participants");
    return phase;
  }
  void remove_participants(std::uint32_t n = 1) const {
    detail::check(tapir_barrier_remove_participants(checked(), n), "tapir_barrier_remove_participants");
  }
  std::uint64_t current_phase() const { return tapir_barrier_current_phase(checked()); }
  std::uint32_t participant_count() const { return tapir_barrier_participant_count(checked()); }
  std::uint32_t participants_remaining() const { return tapir_barrier_participants_remaining(checked()); }

 private:
  barrier(const tapir_barrier* p, detail::adopt_tag) noexcept : handle(p) {}
  template <class Fn>
  struct phase_call {
    static const tapir_error* run(void* ud, std::uint64_t phase) noexcept {
      try {
        std::invoke(*static_cast<Fn*>(ud), phase);
        return nullptr;
      } catch (...) {
        try {
          return error::from_exception(std::current_exception()).release();
        } catch (...) {
          return nullptr;
        }
      }
    }
    static void destroy(void* ud) noexcept { delete static_cast<Fn*>(ud); }
  };
};

/// A held lock (of an async_lock or async_rwlock): the lock is released when the last
/// reference goes (this object's, and the acquire task's own). Empty after a timed-out
/// acquisition.
class lock_guard : public detail::handle<tapir_lock_guard> {
 public:
  lock_guard() noexcept = default;
  static lock_guard adopt(const tapir_lock_guard* p) noexcept { return lock_guard(p, detail::adopt_tag{}); }
  static lock_guard borrow(const tapir_lock_guard* p) { return lock_guard(detail::retain_checked(p), detail::adopt_tag{}); }
  /// Releases this reference now (the lock, if it was the last).
  void unlock() noexcept { reset(); }

 private:
  lock_guard(const tapir_lock_guard* p, detail::adopt_tag) noexcept : handle(p) {}
};

namespace detail {
/// An acquire task's value is a guard the task owns: get() hands out a reference of its
/// own (empty for a timed-out acquisition).
template <>
struct value_traits<lock_guard, void> {
  static constexpr bool boxed = false;
  static constexpr tapir_destroy_fn destroy() noexcept { return nullptr; }
  static lock_guard get(void* p) {
    return p ? lock_guard::borrow(static_cast<const tapir_lock_guard*>(p)) : lock_guard();
  }
};

inline std::optional<lock_guard> try_guard(bool got, const tapir_lock_guard* g, const char* call) {
  if (got) return lock_guard::adopt(g);
  tapir_status st = tapir_last_status();
  if (st != TAPIR_STATUS_TIMEOUT) throw_status(st, call);  // not just "not free"
  return std::nullopt;
}
}  // namespace detail

/// An asynchronous lock: one holder, waiters granted in arrival order, not reentrant.
///     auto guard = lock.acquire_async().get();   // held until `guard` goes
class async_lock : public detail::handle<tapir_lock> {
 public:
  async_lock() { detail::check(tapir_lock_new(&p_), "tapir_lock_new"); }
  static async_lock adopt(const tapir_lock* p) noexcept { return async_lock(p, detail::adopt_tag{}); }
  static async_lock borrow(const tapir_lock* p) { return async_lock(detail::retain_checked(p), detail::adopt_tag{}); }
  /// A guard once granted (empty on timeout); canceled by `token`.
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<lock_guard> acquire_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                               const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_lock_acquire_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<lock_guard>(st, t, "tapir_lock_acquire_async");
  }
  std::optional<lock_guard> try_acquire() const {
    const tapir_lock_guard* g = nullptr;
    bool got = tapir_lock_try_acquire(checked(), &g);  // before `g` is read
    return detail::try_guard(got, g, "tapir_lock_try_acquire");
  }
  bool is_held() const { return tapir_lock_is_held(checked()); }

 private:
  async_lock(const tapir_lock* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// An asynchronous reader-writer lock (writer preference; no upgrade).
class async_rwlock : public detail::handle<tapir_rwlock> {
 public:
  async_rwlock() { detail::check(tapir_rwlock_new(&p_), "tapir_rwlock_new"); }
  static async_rwlock adopt(const tapir_rwlock* p) noexcept { return async_rwlock(p, detail::adopt_tag{}); }
  static async_rwlock borrow(const tapir_rwlock* p) { return async_rwlock(detail::retain_checked(p), detail::adopt_tag{}); }
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<lock_guard> read_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                            const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_rwlock_read_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<lock_guard>(st, t, "tapir_rwlock_read_async");
  }
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<lock_guard> write_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                             const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_rwlock_write_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<lock_guard>(st, t, "tapir_rwlock_write_async");
  }
  std::optional<lock_guard> try_read() const {
    const tapir_lock_guard* g = nullptr;
    bool got = tapir_rwlock_try_read(checked(), &g);  // before `g` is read
    return detail::try_guard(got, g, "tapir_rwlock_try_read");
  }
  std::optional<lock_guard> try_write() const {
    const tapir_lock_guard* g = nullptr;
    bool got = tapir_rwlock_try_write(checked(), &g);  // before `g` is read
    return detail::try_guard(got, g, "tapir_rwlock_try_write");
  }
  std::uint32_t reader_count() const { return tapir_rwlock_reader_count(checked()); }
  bool is_write_held() const { return tapir_rwlock_is_write_held(checked()); }

 private:
  async_rwlock(const tapir_rwlock* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// What a bounded channel does with a write when it is full.
enum class full_mode : std::uint32_t {
  wait = TAPIR_CHANNEL_FULL_WAIT,
  drop_oldest = TAPIR_CHANNEL_FULL_DROP_OLDEST,
  drop_newest = TAPIR_CHANNEL_FULL_DROP_NEWEST,
  drop_write = TAPIR_CHANNEL_FULL_DROP_WRITE,
};

/// A channel of T (System.Threading.Channels): bounded (`capacity` > 0) or unbounded.
/// Reading a completed, drained channel throws (channel_completed's status_error with
/// TAPIR_STATUS_QUEUE_COMPLETED, or the completion's error).
template <class T>
class channel : public detail::handle<tapir_channel> {
  static_assert(!std::is_void<T>::value, "channel<T> carries values");
  using VT = detail::value_traits<T>;

 public:
  explicit channel(std::size_t capacity = 0, full_mode mode = full_mode::wait) {
    tapir_channel_options o{sizeof(tapir_channel_options), static_cast<std::uint32_t>(mode), capacity};
    detail::check(tapir_channel_new(&o, &p_), "tapir_channel_new");
  }
  static channel adopt(const tapir_channel* p) noexcept { return channel(p, detail::adopt_tag{}); }
  static channel borrow(const tapir_channel* p) { return channel(detail::retain_checked(p), detail::adopt_tag{}); }

  /// TryWrite: false when a wait-mode channel is full or the channel was completed.
  bool try_write(T v) const {
    void* boxed = VT::make(std::move(v));
    if (tapir_channel_try_write(checked(), boxed, VT::destroy())) return true;
    tapir_status st = tapir_last_status();
    if (tapir_destroy_fn d = VT::destroy()) d(boxed);
    if (st != TAPIR_STATUS_FULL && st != TAPIR_STATUS_QUEUE_COMPLETED) detail::throw_status(st, "tapir_channel_try_write");
    return false;
  }
  /// WriteAsync: true once written, false on timeout. Throws status_error
  /// (QUEUE_COMPLETED) for a channel completed before the call.
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> write_async(T v, std::chrono::duration<Rep, Period> timeout = infinite,
                                       const cancel_token* token = nullptr) const {
    void* boxed = VT::make(std::move(v));
    const tapir_task* t = nullptr;
    tapir_status st = tapir_channel_write_async(checked(), boxed, VT::destroy(), detail::to_ms(timeout),
                                                detail::token_of(token), &t);
    if (st != TAPIR_STATUS_OK) {
      if (tapir_destroy_fn d = VT::destroy()) d(boxed);
      detail::throw_status(st, "tapir_channel_write_async");
    }
    return task<bool>::adopt(t);
  }
  /// TryRead: the oldest item, or nothing (empty, or completed and drained).
  std::optional<T> try_read() const {
    void* item = nullptr;
    tapir_destroy_fn d = nullptr;
    if (!tapir_channel_try_read(checked(), &item, &d)) {
      tapir_status st = tapir_last_status();
      if (st != TAPIR_STATUS_TIMEOUT && st != TAPIR_STATUS_QUEUE_COMPLETED) detail::throw_status(st, "tapir_channel_try_read");
      return std::nullopt;
    }
    std::optional<T> out;
    if constexpr (VT::boxed) {
      out.emplace(std::move(*static_cast<T*>(item)));
    } else {
      out.emplace(VT::get(item));
    }
    if (d) d(item);
    return out;
  }
  /// ReadAsync: the oldest item; faults once the channel is completed and drained.
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<T> read_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                   const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st = tapir_channel_read_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<T>(st, t, "tapir_channel_read_async");
  }
  /// WaitToReadAsync: true when an item is there, false once completed and drained.
  template <class Rep = std::int64_t, class Period = std::milli>
  [[nodiscard]] task<bool> wait_to_read_async(std::chrono::duration<Rep, Period> timeout = infinite,
                                              const cancel_token* token = nullptr) const {
    const tapir_task* t = nullptr;
    tapir_status st =
        tapir_channel_wait_to_read_async(checked(), detail::to_ms(timeout), detail::token_of(token), &t);
    return detail::wait_task<bool>(st, t, "tapir_channel_wait_to_read_async");
  }
  /// Writer.Complete(): readers drain, then see the completion.
  void complete() const { detail::check(tapir_channel_complete(checked(), nullptr), "tapir_channel_complete"); }
  /// Writer.Complete(error): readers drain, then fail with `e`.
  void complete(const error& e) const {
    if (!e) detail::throw_empty("tapir::error");
    detail::check(tapir_channel_complete(checked(), e.native()), "tapir_channel_complete");
  }
  std::size_t count() const { return tapir_channel_count(checked()); }
  bool is_completed() const { return tapir_channel_is_completed(checked()); }

 private:
  channel(const tapir_channel* p, detail::adopt_tag) noexcept : handle(p) {}
};

/// Options of a cache.
struct cache_options {
  /// The most entries kept (least recently used evicted first); 0: unbounded.
  std::size_t capacity = 0;
  /// Keep faulted and canceled entries (default: evict them, so the next get retries).
  bool keep_failures = false;
};

/// A single-flight cache (AsyncCache): `get_async(key)` runs the factory
/// `task<T>(std::string_view key)` once per key and hands every caller the same task.
/// An exception the factory throws fails that entry (and evicts it).
template <class T>
class cache : public detail::handle<tapir_cache> {
 public:
  template <class F, std::enable_if_t<!std::is_same<std::decay_t<F>, cache>::value, int> = 0>
  explicit cache(F&& factory, cache_options o = {}) {
    using Fn = std::decay_t<F>;
    std::unique_ptr<Fn> fn(new Fn(std::forward<F>(factory)));
    tapir_cache_options opts{sizeof(tapir_cache_options), o.keep_failures ? TAPIR_CACHE_KEEP_FAILURES : 0u,
                             o.capacity, nullptr, nullptr};
    detail::check(tapir_cache_new(&factory_call<Fn>::run, fn.get(), &factory_call<Fn>::destroy, &opts, &p_),
                  "tapir_cache_new");
    (void)fn.release();
  }
  static cache adopt(const tapir_cache* p) noexcept { return cache(p, detail::adopt_tag{}); }
  static cache borrow(const tapir_cache* p) { return cache(detail::retain_checked(p), detail::adopt_tag{}); }

  [[nodiscard]] task<T> get_async(std::string_view key) const {
    const tapir_task* t = nullptr;
    detail::check(tapir_cache_get_async(checked(), reinterpret_cast<const std::uint8_t*>(key.data()), key.size(), &t),
                  "tapir_cache_get_async");
    return task<T>::adopt(t);
  }
  /// Evicts the key's entry; true if there was one.
  bool remove(std::string_view key) const {
    return tapir_cache_remove(checked(), reinterpret_cast<const std::uint8_t*>(key.data()), key.size());
  }
  void clear() const { detail::check(tapir_cache_clear(checked()), "tapir_cache_clear"); }
  std::size_t count() const { return tapir_cache_count(checked()); }

 private:
  cache(const tapir_cache* p, detail::adopt_tag) noexcept : handle(p) {}
  template <class Fn>
  struct factory_call {
    static const tapir_task* run(void* ud, const std::uint8_t* key, std::size_t len) noexcept {
      try {
        task<T> t = std::invoke(*static_cast<Fn*>(ud),
                                std::string_view(reinterpret_cast<const char*>(key), len));
        return t.release();
      } catch (...) {
        return detail::task_from_exception_ptr(std::current_exception());
      }
    }
    static void destroy(void* ud) noexcept { delete static_cast<Fn*>(ud); }
  };
};

// ---------------------------------------------------------------------------------
// Host fit: configuration before first use, host-driven time, clocks the host ticks
// (frames; scaled, pausable game time) and what is measured on them.
// ---------------------------------------------------------------------------------

namespace detail {
template <>
struct handle_ops<tapir_clock> {
  static const tapir_clock* retain(const tapir_clock* p) noexcept { return tapir_clock_retain(p); }
  static void release(const tapir_clock* p) noexcept { (void)tapir_clock_release(p); }
  static constexpr const char* name = "tapir::clock";
};
}  // namespace detail

/// A clock the host ticks: a frame counter (`frames()`) or game time in milliseconds
/// that runs at a scale and can be paused (`scaled(s)`). Its time moves only in
/// advance(), which runs the timers now due; each expiry posts its work to where timer
/// expiries run (config::timer_scheduler). When the last reference goes, delays on it
/// fail with TAPIR_STATUS_DISPOSED and timeouts and cancel-afters on it never fire.
class clock : public detail::handle<tapir_clock> {
 public:
  clock() noexcept = default;
  static clock adopt(const tapir_clock* p) noexcept { return clock(p); }
  static clock borrow(const tapir_clock* p) { return clock(detail::retain_checked(p)); }

  /// A clock that counts frames, at frame 0: advance(1) is one frame.
  static clock frames() {
    const tapir_clock* c = nullptr;
    detail::check(tapir_clock_new_frames(&c), "tapir_clock_new_frames");
    return adopt(c);
  }
  /// Game milliseconds, at 0, moving `scale` times as fast as the real milliseconds
  /// passed to advance (1: real time, 0.5: slow motion, 0: stopped).
  static clock scaled(double scale = 1.0) {
    const tapir_clock* c = nullptr;
    detail::check(tapir_clock_new_scaled(scale, &c), "tapir_clock_new_scaled");
    return adopt(c);
  }

  /// Moves the clock by `delta` frames (a whole number) or real milliseconds (times
  /// the scale), unless paused, and runs its timers now due on this thread; returns
  /// how many ran.
  std::size_t advance(double delta = 1.0) const {
    std::size_t ran = 0;
    detail::check(tapir_clock_advance(checked(), delta, &ran), "tapir_clock_advance");
    return ran;
  }
  /// The clock's time: frames, or game milliseconds.
  double now() const {
    double v = 0;
    detail::check(tapir_clock_now(checked(), &v), "tapir_clock_now");
    return v;
  }
  /// A scaled clock's rate for the advances that follow (status_error
  /// TAPIR_STATUS_INVALID_ARGUMENT on a frame clock).
  void set_scale(double scale) const { detail::check(tapir_clock_set_scale(checked(), scale), "tapir_clock_set_scale"); }
  /// A paused clock ignores advances (either kind).
  void set_paused(bool paused) const {
    detail::check(tapir_clock_set_paused(checked(), paused ? 1u : 0u), "tapir_clock_set_paused");
  }

 private:
  explicit clock(const tapir_clock* p) noexcept : handle(p) {}
};

/// Task.Delay measured on `c`: succeeds once `amount` of the clock's time (frames, or
/// game milliseconds) has passed; -1 never, 0 at once. Ends canceled when `token` is
/// canceled first; fails with TAPIR_STATUS_DISPOSED if the clock goes first.
[[nodiscard]] inline task<void> delay_on(const clock& c, double amount) {
  if (!c) detail::throw_empty("tapir::clock");
  const tapir_task* t = nullptr;
  detail::check(tapir_delay_on(c.native(), amount, nullptr, &t), "tapir_delay_on");
  return task<void>::adopt(t);
}
[[nodiscard]] inline task<void> delay_on(const clock& c, double amount, const cancel_token& token) {
  if (!c) detail::throw_empty("tapir::clock");
  if (!token) detail::throw_empty("tapir::cancel_token");
  const tapir_task* t = nullptr;
  detail::check(tapir_delay_on(c.native(), amount, token.native(), &t), "tapir_delay_on");
  return task<void>::adopt(t);
}

template <class T>
task<T> task<T>::wait_async_on_impl(const clock& c, double timeout, const tapir_cancel_token* token) const {
  if (!c) detail::throw_empty("tapir::clock");
  const tapir_task* t = nullptr;
  detail::check(tapir_task_wait_async_on(checked(), c.native(), timeout, token, &t), "tapir_task_wait_async_on");
  return adopt(t);
}
template <class T>
task<T> task<T>::wait_async_on(const clock& c, double timeout) const {
  return wait_async_on_impl(c, timeout, nullptr);
}
template <class T>
task<T> task<T>::wait_async_on(const clock& c, double timeout, const cancel_token& token) const {
  if (!token) detail::throw_empty("tapir::cancel_token");
  return wait_async_on_impl(c, timeout, token.native());
}

inline void cancel_source::cancel_after_on(const clock& c, double delay) const {
  if (!c) detail::throw_empty("tapir::clock");
  detail::check(tapir_cancel_source_cancel_after_on(checked(), c.native(), delay),
                "tapir_cancel_source_cancel_after_on");
}

/// Who drives time (config::driver).
enum class timer_driver : std::int32_t {
  /// tapir's own timer thread, real monotonic time (the default).
  thread = TAPIR_TIMER_DRIVER_THREAD,
  /// No timer thread: time is what the host sets with time_advance, and the host runs
  /// due timers with timers_run_due (or a scheduler's run_until_idle).
  host = TAPIR_TIMER_DRIVER_HOST,
};

/// The `kind` a thread hook receives.
enum class thread_kind : std::int32_t {
  pool = TAPIR_THREAD_POOL,
  timer = TAPIR_THREAD_TIMER,
};

/// How tapir runs in its host (tapir_config); pass to configure() before first use.
/// The hooks are plain C function pointers: they run on tapir's own threads, must not
/// throw, and must not call shutdown().
struct config {
  /// Default-pool threads: -1 the TAPIR_THREADS environment variable or one per core;
  /// 1 to 1024 exactly that; 0 no pool (then `pool_scheduler` is required).
  std::int32_t threads = -1;
  /// Prefix of the thread names ("<prefix>-pool-<i>", "<prefix>-timer"); empty: "tapir".
  std::string thread_name_prefix;
  /// Stack bytes of pool and timer threads (0: the system's default).
  std::size_t stack_size = 0;
  /// Run first and last on each tapir thread (`kind` is a thread_kind value).
  tapir_thread_hook_fn on_thread_start = nullptr;
  tapir_thread_hook_fn on_thread_stop = nullptr;
  /// Passed to both hooks; not owned, must outlive tapir's threads.
  void* hook_ctx = nullptr;
  timer_driver driver = timer_driver::thread;
  /// Where timer expiries run (delays, timeouts, cancel-afters); empty: the pool.
  scheduler timer_scheduler;
  /// With `threads` 0 only: where work for the default pool goes.
  scheduler pool_scheduler;

  /// Single-threaded mode: no pool, host-driven time, and `s` (a manual or test
  /// scheduler) receiving both the pool's work and timer expiries. tapir then starts
  /// no thread; s.run_until_idle() runs a whole test, delays of hours included.
  static config single_threaded(const scheduler& s) {
    config c;
    c.threads = 0;
    c.driver = timer_driver::host;
    c.timer_scheduler = s;
    c.pool_scheduler = s;
    return c;
  }

  /// The C struct, borrowing this object's prefix and schedulers.
  tapir_config to_native() const {
    tapir_config n{};
    detail::check(tapir_config_init(&n), "tapir_config_init");
    n.threads = threads;
    n.thread_name_prefix = thread_name_prefix.empty() ? nullptr : thread_name_prefix.c_str();
    n.stack_size = stack_size;
    n.on_thread_start = on_thread_start;
    n.on_thread_stop = on_thread_stop;
    n.hook_ctx = hook_ctx;
    n.timer_driver = static_cast<std::int32_t>(driver);
    n.timer_scheduler = timer_scheduler.native();
    n.pool_scheduler = pool_scheduler.native();
    return n;
  }
};

/// Configures tapir before first use (the pool's start or the first timer). Throws
/// status_error: TAPIR_STATUS_INVALID_ARGUMENT for a bad field,
/// TAPIR_STATUS_INVALID_STATE once tapir is in use (shutdown() returns it to the
/// defaults, so configure may follow it). tapir keeps its own references to the
/// schedulers and copies the prefix.
inline void configure(const config& c) {
  tapir_config n = c.to_native();
  detail::check(tapir_configure(&n), "tapir_configure");
}

/// Host timer driver: sets the host time in milliseconds (monotonic, from 0); runs
/// nothing (timers_run_due does).
inline void time_advance(std::uint64_t now_ms) { detail::check(tapir_time_advance(now_ms), "tapir_time_advance"); }

/// Host timer driver: runs every timer due at the host time on this thread (each
/// expiry posts its work to the timer scheduler); returns how many ran.
inline std::size_t timers_run_due() {
  std::size_t ran = 0;
  detail::check(tapir_timers_run_due(&ran), "tapir_timers_run_due");
  return ran;
}

/// Host timer driver: the earliest pending deadline (host milliseconds), or nullopt if
/// no timer is pending or the host driver is not in use.
inline std::optional<std::uint64_t> timers_next_due() noexcept {
  std::uint64_t due = 0;
  if (!tapir_timers_next_due(&due)) return std::nullopt;
  return due;
}

}  // namespace tapir

#endif  // TAPIR_HPP
