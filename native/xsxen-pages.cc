// xsxen: guests' pages (gntdev grant mapping, privcmd foreign mapping, dom0's
// xsd_kva) and the hypervisor's domain list (libxenctrl, dlopen'ed); see xsxen.cc.
#include "xsxen.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>

#include <xen/gntdev.h>

namespace xsxen {


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

}  // namespace xsxen
