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
//
// Files: xsxen.cc (this: argument helpers, module init), xsxen-evtchn.cc,
// xsxen-pages.cc (pages and the domain list).
#include "xsxen.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace xsxen {

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

}  // namespace xsxen

namespace {

using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Value;
using xsxen::TypeError;
using xsxen::Uints;

void CloseFd(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  uint32_t a[1];
  if (!Uints(args, 1, a)) return TypeError(isolate, "closeFd(fd)");
  close(static_cast<int>(a[0]));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "evtchnOpen", xsxen::EvtchnOpen);
  NODE_SET_METHOD(exports, "evtchnBindInterdomain", xsxen::EvtchnBindInterdomain);
  NODE_SET_METHOD(exports, "evtchnBindVirq", xsxen::EvtchnBindVirq);
  NODE_SET_METHOD(exports, "evtchnNotify", xsxen::EvtchnNotify);
  NODE_SET_METHOD(exports, "evtchnUnbind", xsxen::EvtchnUnbind);
  NODE_SET_METHOD(exports, "evtchnUnmask", xsxen::EvtchnUnmask);
  NODE_SET_METHOD(exports, "evtchnWatch", xsxen::EvtchnWatch);
  NODE_SET_METHOD(exports, "evtchnUnwatch", xsxen::EvtchnUnwatch);
  NODE_SET_METHOD(exports, "gntOpen", xsxen::GntOpen);
  NODE_SET_METHOD(exports, "mapGrant", xsxen::MapGrant);
  NODE_SET_METHOD(exports, "mapForeign", xsxen::MapForeign);
  NODE_SET_METHOD(exports, "mapKva", xsxen::MapKva);
  NODE_SET_METHOD(exports, "unmap", xsxen::Unmap);
  NODE_SET_METHOD(exports, "domainInfo", xsxen::DomainInfo);
  NODE_SET_METHOD(exports, "closeFd", CloseFd);
}
