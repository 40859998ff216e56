// xsxen: event channels through the Linux /dev/xen/evtchn device (see xsxen.cc).
#include "xsxen.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>

#include <xen/evtchn.h>

namespace xsxen {


// evtchnOpen(): fd (non-blocking: reads of pending ports never block the loop)
void EvtchnOpen(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int fd = open("/dev/xen/evtchn", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Throw(isolate, "open /dev/xen/evtchn", errno);
  args.GetReturnValue().Set(fd);
}

// evtchnBindInterdomain(fd, domid, remotePort): local port
void EvtchnBindInterdomain(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[3];
  if (!Uints(args, 3, a)) return TypeError(isolate, "evtchnBindInterdomain(fd, domid, port)");
  struct ioctl_evtchn_bind_interdomain bind = {a[1], a[2]};
  int port = ioctl(static_cast<int>(a[0]), IOCTL_EVTCHN_BIND_INTERDOMAIN, &bind);
  if (port < 0) return Throw(isolate, "bind interdomain event channel", errno);
  args.GetReturnValue().Set(port);
}

// evtchnBindVirq(fd, virq): local port
void EvtchnBindVirq(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[2];
  if (!Uints(args, 2, a)) return TypeError(isolate, "evtchnBindVirq(fd, virq)");
  struct ioctl_evtchn_bind_virq bind = {a[1]};
  int port = ioctl(static_cast<int>(a[0]), IOCTL_EVTCHN_BIND_VIRQ, &bind);
  if (port < 0) return Throw(isolate, "bind VIRQ", errno);
  args.GetReturnValue().Set(port);
}

// evtchnNotify(fd, port)
void EvtchnNotify(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[2];
  if (!Uints(args, 2, a)) return TypeError(isolate, "evtchnNotify(fd, port)");
  struct ioctl_evtchn_notify n = {a[1]};
  if (ioctl(static_cast<int>(a[0]), IOCTL_EVTCHN_NOTIFY, &n) < 0) return Throw(isolate, "notify event channel", errno);
}

// evtchnUnbind(fd, port)
void EvtchnUnbind(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[2];
  if (!Uints(args, 2, a)) return TypeError(isolate, "evtchnUnbind(fd, port)");
  struct ioctl_evtchn_unbind u = {a[1]};
  if (ioctl(static_cast<int>(a[0]), IOCTL_EVTCHN_UNBIND, &u) < 0) return Throw(isolate, "unbind event channel", errno);
}

// evtchnUnmask(fd, port): writing a port to the device unmasks it
void EvtchnUnmask(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[2];
  if (!Uints(args, 2, a)) return TypeError(isolate, "evtchnUnmask(fd, port)");
  uint32_t port = a[1];
  if (write(static_cast<int>(a[0]), &port, sizeof port) != sizeof port) return Throw(isolate, "unmask event channel", errno);
}

struct Watch {
  uv_poll_t poll;
  int fd;
  Isolate* isolate;
  Global<Context> context;
  Global<Function> callback;
};

std::map<uint32_t, Watch*> watches;
uint32_t nextWatch = 1;

void OnReadable(uv_poll_t* handle, int status, int) {
  Watch* w = static_cast<Watch*>(handle->data);
  Isolate* isolate = w->isolate;
  HandleScope scope(isolate);
  Local<Context> context = w->context.Get(isolate);
  Context::Scope cs(context);
  Local<Array> ports = Array::New(isolate);
  uint32_t n = 0;
  int err = 0;
  if (status < 0) {
    err = -status;
  } else {
    uint32_t buf[64];
    for (;;) {
      ssize_t got = read(w->fd, buf, sizeof buf);
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      if (got == 0) break;
      const size_t count = static_cast<size_t>(got) / sizeof buf[0];
      // Unmask before the callback looks at the rings: a notification that
      // arrives while JS works is pending again, never lost.
      if (write(w->fd, buf, count * sizeof buf[0]) < 0) err = errno;
      for (size_t i = 0; i < count; i++) ports->Set(context, n++, Integer::NewFromUnsigned(isolate, buf[i])).Check();
      if (static_cast<size_t>(got) < sizeof buf) break;
    }
  }
  Local<Value> argv[2] = {ports, Integer::New(isolate, err)};
  node::MakeCallback(isolate, context->Global(), w->callback.Get(isolate), 2, argv, {0, 0});
}

// evtchnWatch(fd, callback(ports: number[], errno: number)): watch id
void EvtchnWatch(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() != 2 || !args[0]->IsInt32() || !args[1]->IsFunction()) return TypeError(isolate, "evtchnWatch(fd, callback)");
  auto* w = new Watch();
  w->fd = args[0].As<v8::Int32>()->Value();
  w->isolate = isolate;
  w->context.Reset(isolate, isolate->GetCurrentContext());
  w->callback.Reset(isolate, args[1].As<Function>());
  int rc = uv_poll_init(node::GetCurrentEventLoop(isolate), &w->poll, w->fd);
  if (rc == 0) {
    w->poll.data = w;
    rc = uv_poll_start(&w->poll, UV_READABLE, OnReadable);
  }
  if (rc != 0) {
    delete w;
    return Throw(isolate, "watch event channel fd", -rc);
  }
  const uint32_t id = nextWatch++;
  watches[id] = w;
  args.GetReturnValue().Set(id);
}

// evtchnUnwatch(id): stops watching (the fd stays open)
void EvtchnUnwatch(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[1];
  if (!Uints(args, 1, a)) return TypeError(isolate, "evtchnUnwatch(id)");
  auto it = watches.find(a[0]);
  if (it == watches.end()) return;
  Watch* w = it->second;
  watches.erase(it);
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), [](uv_handle_t* h) {
    Watch* done = static_cast<Watch*>(h->data);
    done->context.Reset();
    done->callback.Reset();
    delete done;
  });
}

}  // namespace xsxen
