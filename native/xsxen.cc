// xsxen: the few things the real Xen backend needs from the kernel and the
// hypervisor that Node cannot do by itself. Everything else (which domain is
// on which port, the ring protocol, when to look at the domain list) is
// TypeScript in src/xen/.
//
//  - event channels: the Linux /dev/xen/evtchn device, through its ioctls
//    (bind an interdomain port or a VIRQ, notify, unbind); pending ports are
//    read from the fd in a libuv poll handle on Node's own loop, unmasked,
//    and handed to a JS callback as an array;
//  - guest pages: a grant mapping through /dev/xen/gntdev, a foreign mapping
//    through /dev/xen/privcmd (the fallback), or dom0's own page from
//    xsd_kva, each as a SharedArrayBuffer (Atomics work on it); unmap()
//    releases the guest's page at once by putting an anonymous page in its
//    place, so the views JS still holds stay valid and the domain is not
//    kept alive by a mapping waiting for the garbage collector;
//  - the hypervisor's domain list (which domains exist, are shut down or
//    dying): libxenctrl's xc_domain_getinfolist, loaded with dlopen at the
//    first call, because the domctl interface behind it changes with every
//    Xen release and libxenctrl is what hides that.
//
// Raw ioctls rather than libxenevtchn/libxengnttab: they are the kernel's
// stable ABI, need no library at build or run time, and leave the event
// channel fd in our hands, so a live update can pass it to the next daemon.
#include <node.h>
#include <uv.h>
#include <v8.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
// The kernel's uapi headers use Xen's own two typedefs without defining them.
typedef uint16_t domid_t;
typedef uint32_t grant_ref_t;
#include <xen/evtchn.h>
#include <xen/gntdev.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>

namespace {

using v8::Array;
using v8::BackingStore;
using v8::Context;
using v8::Exception;
using v8::Function;
using v8::FunctionCallbackInfo;
using v8::Global;
using v8::HandleScope;
using v8::Integer;
using v8::Isolate;
using v8::Local;
using v8::Number;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

constexpr size_t kPage = 4096;

// privcmd's batch foreign mapping (Linux include/uapi/xen/privcmd.h); the
// userspace copy of that header needs Xen's own headers, so the layout is
// spelled out here.
struct MmapBatchV2 {
  unsigned int num;
  uint16_t dom;
  uint64_t addr;
  const uint64_t* arr;
  int* err;
};
#define XSXEN_IOCTL_PRIVCMD_MMAPBATCH_V2 _IOC(_IOC_NONE, 'P', 4, sizeof(MmapBatchV2))

void Throw(Isolate* isolate, const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  Local<Value> e = Exception::Error(String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked());
  e.As<v8::Object>()
      ->Set(isolate->GetCurrentContext(), String::NewFromUtf8Literal(isolate, "errno"), Integer::New(isolate, err))
      .Check();
  isolate->ThrowException(e);
}

void TypeError(Isolate* isolate, const char* usage) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, usage).ToLocalChecked()));
}

bool Uints(const FunctionCallbackInfo<Value>& args, int n, uint32_t* out) {
  if (args.Length() != n) return false;
  for (int i = 0; i < n; i++) {
    if (!args[i]->IsUint32()) return false;
    out[i] = args[i].As<v8::Uint32>()->Value();
  }
  return true;
}

// ---- event channels --------------------------------------------------------

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

// ---- pages -----------------------------------------------------------------

enum class Kind { kGrant, kForeign, kPlain };

struct Mapping {
  Kind kind;
  int fd;          // gntdev fd (grant)
  uint64_t index;  // gntdev offset (grant)
  bool released;   // the guest's page was already replaced by an anonymous one
};

std::map<void*, Mapping> mappings;

void ReleaseGuestPage(void* addr, Mapping& m) {
  if (m.released) return;
  m.released = true;
  // Replace the guest's page with a private zero page at the same address.
  void* p = mmap(addr, kPage, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) munmap(addr, kPage);
  if (m.kind == Kind::kGrant) {
    struct ioctl_gntdev_unmap_grant_ref u = {};
    u.index = m.index;
    u.count = 1;
    ioctl(m.fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u);
  }
}

void Deleter(void* data, size_t length, void*) {
  auto it = mappings.find(data);
  if (it != mappings.end()) {
    ReleaseGuestPage(data, it->second);
    mappings.erase(it);
  }
  munmap(data, length);
}

Local<SharedArrayBuffer> Wrap(Isolate* isolate, void* p, Mapping m) {
  mappings[p] = m;
  std::unique_ptr<BackingStore> store = SharedArrayBuffer::NewBackingStore(p, kPage, Deleter, nullptr);
  return SharedArrayBuffer::New(isolate, std::move(store));
}

// gntOpen(): fd of /dev/xen/gntdev
void GntOpen(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int fd = open("/dev/xen/gntdev", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Throw(isolate, "open /dev/xen/gntdev", errno);
  args.GetReturnValue().Set(fd);
}

// mapGrant(gntfd, domid, ref): SharedArrayBuffer of the granted page
void MapGrant(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[3];
  if (!Uints(args, 3, a)) return TypeError(isolate, "mapGrant(fd, domid, ref)");
  const int fd = static_cast<int>(a[0]);
  struct ioctl_gntdev_map_grant_ref map = {};
  map.count = 1;
  map.refs[0].domid = a[1];
  map.refs[0].ref = a[2];
  if (ioctl(fd, IOCTL_GNTDEV_MAP_GRANT_REF, &map) < 0) return Throw(isolate, "gntdev map grant", errno);
  void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(map.index));
  if (p == MAP_FAILED) {
    const int err = errno;
    struct ioctl_gntdev_unmap_grant_ref u = {};
    u.index = map.index;
    u.count = 1;
    ioctl(fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u);
    return Throw(isolate, "map the granted page", err);
  }
  args.GetReturnValue().Set(Wrap(isolate, p, {Kind::kGrant, fd, map.index, false}));
}

// mapForeign(domid, gfn: bigint): SharedArrayBuffer of the guest's frame (privcmd)
void MapForeign(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() != 2 || !args[0]->IsUint32() || !args[1]->IsBigInt()) return TypeError(isolate, "mapForeign(domid, gfn)");
  const uint32_t domid = args[0].As<v8::Uint32>()->Value();
  bool lossless = true;
  const uint64_t gfn = args[1].As<v8::BigInt>()->Uint64Value(&lossless);
  if (!lossless) return Throw(isolate, "mapForeign", EINVAL);
  int fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Throw(isolate, "open /dev/xen/privcmd", errno);
  void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    close(fd);
    return Throw(isolate, "mmap privcmd", err);
  }
  int err = 0;
  MmapBatchV2 batch = {1, static_cast<uint16_t>(domid), reinterpret_cast<uint64_t>(p), &gfn, &err};
  int rc = ioctl(fd, XSXEN_IOCTL_PRIVCMD_MMAPBATCH_V2, &batch);
  const int ioerr = errno;
  close(fd);  // the mapping keeps what it needs
  if (rc < 0 || err != 0) {
    munmap(p, kPage);
    return Throw(isolate, "foreign map of the guest's frame", rc < 0 ? ioerr : (err < 0 ? -err : err));
  }
  args.GetReturnValue().Set(Wrap(isolate, p, {Kind::kForeign, -1, 0, false}));
}

// mapKva(path): SharedArrayBuffer of dom0's own xenstore page (xsd_kva)
void MapKva(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() != 1 || !args[0]->IsString()) return TypeError(isolate, "mapKva(path)");
  String::Utf8Value path(isolate, args[0]);
  int fd = open(*path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return Throw(isolate, std::string("open ") + *path, errno);
  void* p = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  close(fd);
  if (p == MAP_FAILED) return Throw(isolate, std::string("mmap ") + *path, err);
  args.GetReturnValue().Set(Wrap(isolate, p, {Kind::kPlain, -1, 0, false}));
}

// unmap(page): releases the guest's page now; the buffer stays usable (a zero page)
void Unmap(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() != 1 || !args[0]->IsSharedArrayBuffer()) return TypeError(isolate, "unmap(page)");
  void* data = args[0].As<SharedArrayBuffer>()->GetBackingStore()->Data();
  auto it = mappings.find(data);
  if (it != mappings.end()) ReleaseGuestPage(data, it->second);
}

// ---- the hypervisor's domain list (libxenctrl, loaded on first use) ----------

using XcOpen = void* (*)(void*, void*, unsigned);
using XcGetInfoList = int (*)(void*, uint32_t, unsigned, void*);
void* xch = nullptr;
XcGetInfoList getInfoList = nullptr;

bool LoadXenctrl(std::string* why) {
  if (getInfoList != nullptr) return true;
  static const char* const names[] = {"libxenctrl.so", "libxenctrl.so.4.17", "libxenctrl.so.4.18", "libxenctrl.so.4.19", "libxenctrl.so.4.16"};
  void* lib = nullptr;
  std::string errors;
  for (const char* n : names) {
    lib = dlopen(n, RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) break;
    const char* e = dlerror();
    if (errors.empty() && e != nullptr) errors = e;
  }
  if (lib == nullptr) {
    *why = "cannot load libxenctrl (" + errors + ")";
    return false;
  }
  auto open = reinterpret_cast<XcOpen>(dlsym(lib, "xc_interface_open"));
  auto list = reinterpret_cast<XcGetInfoList>(dlsym(lib, "xc_domain_getinfolist"));
  if (open == nullptr || list == nullptr) {
    *why = "libxenctrl lacks xc_interface_open or xc_domain_getinfolist";
    return false;
  }
  xch = open(nullptr, nullptr, 0);
  if (xch == nullptr) {
    *why = std::string("xc_interface_open: ") + std::strerror(errno);
    return false;
  }
  getInfoList = list;
  return true;
}

// domainInfo(first): [domid, flags] of the first existing domain >= first, or null
void DomainInfo(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[1];
  if (!Uints(args, 1, a)) return TypeError(isolate, "domainInfo(first)");
  std::string why;
  if (!LoadXenctrl(&why)) {
    isolate->ThrowException(Exception::Error(String::NewFromUtf8(isolate, why.c_str()).ToLocalChecked()));
    return;
  }
  // One xen_domctl_getdomaininfo: domid (u16) at 0, flags (u32) at 4; the rest
  // (its size varies between releases) is room to spare.
  alignas(8) unsigned char info[1024] = {};
  int n = getInfoList(xch, a[0], 1, info);
  if (n < 0) return Throw(isolate, "xc_domain_getinfolist", errno);
  if (n == 0) return args.GetReturnValue().SetNull();
  uint16_t domid;
  uint32_t flags;
  std::memcpy(&domid, info, sizeof domid);
  std::memcpy(&flags, info + 4, sizeof flags);
  Local<Array> out = Array::New(isolate, 2);
  Local<Context> context = isolate->GetCurrentContext();
  out->Set(context, 0, Integer::NewFromUnsigned(isolate, domid)).Check();
  out->Set(context, 1, Number::New(isolate, flags)).Check();
  args.GetReturnValue().Set(out);
}

// closeFd(fd)
void CloseFd(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[1];
  if (!Uints(args, 1, a)) return TypeError(isolate, "closeFd(fd)");
  close(static_cast<int>(a[0]));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "evtchnOpen", EvtchnOpen);
  NODE_SET_METHOD(exports, "evtchnBindInterdomain", EvtchnBindInterdomain);
  NODE_SET_METHOD(exports, "evtchnBindVirq", EvtchnBindVirq);
  NODE_SET_METHOD(exports, "evtchnNotify", EvtchnNotify);
  NODE_SET_METHOD(exports, "evtchnUnbind", EvtchnUnbind);
  NODE_SET_METHOD(exports, "evtchnUnmask", EvtchnUnmask);
  NODE_SET_METHOD(exports, "evtchnWatch", EvtchnWatch);
  NODE_SET_METHOD(exports, "evtchnUnwatch", EvtchnUnwatch);
  NODE_SET_METHOD(exports, "gntOpen", GntOpen);
  NODE_SET_METHOD(exports, "mapGrant", MapGrant);
  NODE_SET_METHOD(exports, "mapForeign", MapForeign);
  NODE_SET_METHOD(exports, "mapKva", MapKva);
  NODE_SET_METHOD(exports, "unmap", Unmap);
  NODE_SET_METHOD(exports, "domainInfo", DomainInfo);
  NODE_SET_METHOD(exports, "closeFd", CloseFd);
}
