// xsio: I/O for the daemon's Unix-socket connections without Node's stream
// layer. Each connection's fd is polled on Node's own libuv loop; what the
// ready fds of one loop turn have to say is read into one arena shared with
// JavaScript (no Buffer per read) and handed over in ONE call, from a check
// handle that libuv runs right after the poll phase: one crossing into
// JavaScript serves every ready connection. Replies are written with one
// send(2) at once, only what the kernel refuses being queued here until the
// fd is writable again.
//
//   init(callback, arena, records)
//                           callback(kind, a, b): kind 3 turn (a: records
//                           filled in records, 4 int32 each: [kind, id, off, n]
//                           with kind 0 data (n bytes at arena[off]) or 1 end
//                           (n: 0 for EOF, else an errno; reading has
//                           stopped)); kind 2 sent (a: id, b: bytes still
//                           queued after a writable fd took some)
//   dup(fd): a new fd for the same socket (close-on-exec, non-blocking)
//   open(fd): id            starts polling fd (reading)
//   write(id, buf): queued bytes after the write, or -errno
//   pause(id) / resume(id)  stop / restart reading
//   close(id, linger)       linger: keep writing what is queued, then close;
//                           otherwise close now (queued bytes are dropped)
#include <node.h>
#include <uv.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <unordered_map>

namespace xsio {

using v8::ArrayBufferView;
using v8::Context;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::Global;
using v8::HandleScope;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::Object;
using v8::String;
using v8::Value;

enum Kind { kData = 0, kEnd = 1, kSent = 2, kTurn = 3 };

// One read takes at most this much; the arena holds several.
constexpr size_t kMaxRead = 64 * 1024;
constexpr uint32_t kMaxRecords = 1024;

struct Peer {
  uv_poll_t poll;
  int fd;
  uint32_t id;
  bool reading = true;
  bool ended = false;    // EOF or error seen: never read again
  bool lingering = false; // close once the queue is empty
  int events = 0;        // what the poll handle waits for now
  std::string queue;     // bytes the kernel did not take yet
  size_t queueOff = 0;
};

Isolate* isolate = nullptr;
Global<Context> context;
Global<Function> callback;
Global<Object> arenaRef;
char* arena = nullptr;
size_t arenaLen = 0;
Global<Object> recordsRef;
int32_t* records = nullptr;
// The turn's records and arena bytes not yet handed to JavaScript.
uint32_t recordCount = 0;
size_t arenaUsed = 0;
uv_check_t turn;
bool turnArmed = false;
std::unordered_map<uint32_t, Peer*> peers;
uint32_t nextId = 1;

void Throw(const char* what, int err) {
  Isolate* isolate = Isolate::GetCurrent();
  std::string msg = std::string(what) + ": " + std::strerror(err);
  Local<Value> e = v8::Exception::Error(String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked());
  e.As<Object>()->Set(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "errno"), Integer::New(isolate, err)).Check();
  isolate->ThrowException(e);
}

void TypeError(Isolate* iso, const char* usage) {
  iso->ThrowException(v8::Exception::TypeError(String::NewFromUtf8(iso, usage).ToLocalChecked()));
}

void Emit(Kind kind, uint32_t id, int64_t n) {
  HandleScope scope(isolate);
  Local<Context> ctx = context.Get(isolate);
  Context::Scope cs(ctx);
  Local<Value> argv[3] = {Integer::New(isolate, kind), Integer::NewFromUnsigned(isolate, id), v8::Number::New(isolate, static_cast<double>(n))};
  node::MakeCallback(isolate, ctx->Global(), callback.Get(isolate), 3, argv, {0, 0});
}

size_t Queued(const Peer* p) { return p->queue.size() - p->queueOff; }

// Hands the turn's records to JavaScript (also early, when arena or records are full).
void Deliver() {
  if (recordCount == 0) return;
  const uint32_t n = recordCount;
  recordCount = 0;
  arenaUsed = 0;
  Emit(kTurn, n, 0);
}

void OnTurn(uv_check_t*) {
  uv_check_stop(&turn);
  turnArmed = false;
  Deliver();
}

void Record(Kind kind, uint32_t id, size_t off, int64_t n) {
  if (recordCount == kMaxRecords) Deliver();
  int32_t* r = records + 4 * recordCount++;
  r[0] = kind;
  r[1] = static_cast<int32_t>(id);
  r[2] = static_cast<int32_t>(off);
  r[3] = static_cast<int32_t>(n);
  if (!turnArmed) {
    turnArmed = true;
    uv_check_start(&turn, OnTurn);
  }
}

void OnEvents(uv_poll_t* handle, int status, int events);

void Destroy(Peer* p) {
  peers.erase(p->id);
  uv_poll_stop(&p->poll);
  close(p->fd);
  uv_close(reinterpret_cast<uv_handle_t*>(&p->poll), [](uv_handle_t* h) { delete static_cast<Peer*>(h->data); });
}

// Waits for what the peer needs now: readable while reading, writable while bytes are queued.
void Arm(Peer* p) {
  const int want = (p->reading && !p->ended && !p->lingering ? UV_READABLE : 0) | (Queued(p) > 0 ? UV_WRITABLE : 0);
  if (want == p->events) return;
  p->events = want;
  if (want == 0) uv_poll_stop(&p->poll);
  else uv_poll_start(&p->poll, want, OnEvents);
}

// Sends what is queued; false if the connection failed (then ended, and JS was told).
bool SendQueued(Peer* p) {
  while (Queued(p) > 0) {
    ssize_t n = send(p->fd, p->queue.data() + p->queueOff, Queued(p), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      const int err = errno;
          p->queue.clear();
      p->queueOff = 0;
      if (p->lingering) return Destroy(p), false;
      p->ended = true;
      Arm(p);
      Record(kEnd, p->id, 0, err);
      return false;
    }
    p->queueOff += static_cast<size_t>(n);
  }
  if (Queued(p) == 0) {
    p->queue.clear();
    p->queueOff = 0;
  } else if (p->queueOff > 65536 && p->queueOff * 2 > p->queue.size()) {
    p->queue.erase(0, p->queueOff);
    p->queueOff = 0;
  }
  return true;
}

void OnEvents(uv_poll_t* handle, int status, int events) {
  Peer* p = static_cast<Peer*>(handle->data);
  if (status < 0) {
    if (p->lingering) return Destroy(p);
    p->ended = true;
    p->reading = false;
    Arm(p);
    return Record(kEnd, p->id, 0, -status);
  }
  if (events & UV_WRITABLE) {
    if (!SendQueued(p)) return;
    if (p->lingering && Queued(p) == 0) return Destroy(p);
    Arm(p);
    if (!p->lingering) {
      const uint32_t id = p->id;
      Emit(kSent, id, static_cast<int64_t>(Queued(p)));
      // JS may have closed the peer meanwhile: look it up again before reading.
      auto it = peers.find(id);
      if (it == peers.end() || it->second != p) return;
    }
  }
  if ((events & UV_READABLE) && p->reading && !p->ended && !p->lingering) {
    // Room for this read and its record (a data record must never move the arena under itself).
    if (arenaLen - arenaUsed < kMaxRead || recordCount == kMaxRecords) Deliver();
    ssize_t n;
    do n = read(p->fd, arena + arenaUsed, kMaxRead);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      p->ended = true;
      Arm(p);
      return Record(kEnd, p->id, 0, n == 0 ? 0 : errno);
    }
    Record(kData, p->id, arenaUsed, n);
    arenaUsed += static_cast<size_t>(n);
  }
}

Peer* Find(const FunctionCallbackInfo<Value>& args) {
  if (args.Length() < 1 || !args[0]->IsUint32()) return nullptr;
  auto it = peers.find(args[0].As<v8::Uint32>()->Value());
  return it == peers.end() ? nullptr : it->second;
}

// At the environment's teardown (the process's last turn is over): stop
// polling, close the handles and let go of the JavaScript objects while the
// isolate still exists (static Globals would otherwise be reset after it).
void Cleanup(void*) {
  for (auto it = peers.begin(); it != peers.end();) Destroy((it++)->second);
  if (turnArmed) uv_check_stop(&turn);
  turnArmed = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&turn), nullptr);
  callback.Reset();
  context.Reset();
  arenaRef.Reset();
  recordsRef.Reset();
  arena = nullptr;
  records = nullptr;
}

void Init(const FunctionCallbackInfo<Value>& args) {
  Isolate* iso = args.GetIsolate();
  if (isolate != nullptr) return TypeError(iso, "init() is called once");
  if (args.Length() != 3 || !args[0]->IsFunction() || !args[1]->IsArrayBufferView() || !args[2]->IsInt32Array()) return TypeError(iso, "init(callback, arena, records)");
  Local<ArrayBufferView> rec = args[2].As<ArrayBufferView>();
  if (args[1].As<ArrayBufferView>()->ByteLength() < 2 * kMaxRead || rec->ByteLength() < 16 * kMaxRecords) return TypeError(iso, "init: arena or records too small");
  isolate = iso;
  context.Reset(iso, iso->GetCurrentContext());
  callback.Reset(iso, args[0].As<Function>());
  Local<ArrayBufferView> view = args[1].As<ArrayBufferView>();
  arenaRef.Reset(iso, view); // the arena must outlive every read into it
  arena = static_cast<char*>(view->Buffer()->Data()) + view->ByteOffset();
  arenaLen = view->ByteLength();
  recordsRef.Reset(iso, rec);
  records = reinterpret_cast<int32_t*>(static_cast<char*>(rec->Buffer()->Data()) + rec->ByteOffset());
  uv_check_init(node::GetCurrentEventLoop(iso), &turn);
  uv_unref(reinterpret_cast<uv_handle_t*>(&turn));
  node::AddEnvironmentCleanupHook(iso, Cleanup, nullptr);
}

void Dup(const FunctionCallbackInfo<Value>& args) {
  if (args.Length() != 1 || !args[0]->IsInt32()) return TypeError(args.GetIsolate(), "dup(fd)");
  int fd = fcntl(args[0].As<v8::Int32>()->Value(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return Throw("dup", errno);
  args.GetReturnValue().Set(fd);
}

void Open(const FunctionCallbackInfo<Value>& args) {
  if (isolate == nullptr || args.Length() != 1 || !args[0]->IsInt32()) return TypeError(args.GetIsolate(), "open(fd) after init()");
  const int fd = args[0].As<v8::Int32>()->Value();
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return Throw("open: fcntl", errno);
  auto* p = new Peer();
  p->fd = fd;
  p->id = nextId++;
  if (nextId == 0) nextId = 1;
  int rc = uv_poll_init(node::GetCurrentEventLoop(isolate), &p->poll, fd);
  if (rc != 0) {
    delete p;
    return Throw("open: poll", -rc);
  }
  p->poll.data = p;
  peers[p->id] = p;
  Arm(p);
  args.GetReturnValue().Set(p->id);
}

void Write(const FunctionCallbackInfo<Value>& args) {
  if (args.Length() != 2 || !args[1]->IsArrayBufferView()) return TypeError(args.GetIsolate(), "write(id, buf)");
  Peer* p = Find(args);
  if (p == nullptr || p->ended) return args.GetReturnValue().Set(-EPIPE);
  Local<ArrayBufferView> v = args[1].As<ArrayBufferView>();
  const char* data = static_cast<const char*>(v->Buffer()->Data()) + v->ByteOffset();
  size_t len = v->ByteLength();
  if (Queued(p) == 0) {
    while (len > 0) {
      ssize_t n = send(p->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return args.GetReturnValue().Set(-errno);
      }
      data += n;
      len -= static_cast<size_t>(n);
    }
  }
  if (len > 0) {
    p->queue.append(data, len);
    Arm(p);
  }
  args.GetReturnValue().Set(static_cast<double>(Queued(p)));
}

void SetReading(const FunctionCallbackInfo<Value>& args, bool on) {
  Peer* p = Find(args);
  if (p == nullptr) return;
  p->reading = on;
  Arm(p);
}

void Pause(const FunctionCallbackInfo<Value>& args) { SetReading(args, false); }
void Resume(const FunctionCallbackInfo<Value>& args) { SetReading(args, true); }

void Close(const FunctionCallbackInfo<Value>& args) {
  Peer* p = Find(args);
  if (p == nullptr) return;
  const bool linger = args.Length() > 1 && args[1]->IsTrue();
  if (!linger || Queued(p) == 0 || p->ended) return Destroy(p);
  p->lingering = true;
  Arm(p);
}

void Initialize(Local<Object> exports) {
  NODE_SET_METHOD(exports, "init", Init);
  NODE_SET_METHOD(exports, "dup", Dup);
  NODE_SET_METHOD(exports, "open", Open);
  NODE_SET_METHOD(exports, "write", Write);
  NODE_SET_METHOD(exports, "pause", Pause);
  NODE_SET_METHOD(exports, "resume", Resume);
  NODE_SET_METHOD(exports, "close", Close);
}

}  // namespace xsio

NODE_MODULE(xsio, xsio::Initialize)
