// xsshm: the one thing Node cannot do by itself for the simulated Xen —
// map a file (a guest's ring page under /dev/shm) as a SharedArrayBuffer that
// two processes share, so both sides can use Atomics on it. Everything else
// (ring protocol, event channels) is TypeScript.
#include <node.h>
#include <v8.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using v8::BackingStore;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Value;

void Throw(Isolate* isolate, const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  isolate->ThrowException(Exception::Error(String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked()));
}

void Unmap(void* data, size_t length, void*) { munmap(data, length); }

// map(path: string, size: number, create: boolean): SharedArrayBuffer
void Map(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (args.Length() != 3 || !args[0]->IsString() || !args[1]->IsUint32() || !args[2]->IsBoolean()) {
    isolate->ThrowException(Exception::TypeError(String::NewFromUtf8Literal(isolate, "map(path, size, create)")));
    return;
  }
  String::Utf8Value path(isolate, args[0]);
  const size_t size = args[1].As<v8::Uint32>()->Value();
  const bool create = args[2]->IsTrue();
  if (size == 0) {
    isolate->ThrowException(Exception::RangeError(String::NewFromUtf8Literal(isolate, "size must be > 0")));
    return;
  }
  const int fd = open(*path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
  if (fd < 0) return Throw(isolate, std::string("open ") + *path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return Throw(isolate, "fstat", err);
  }
  if (static_cast<size_t>(st.st_size) < size) {
    if (!create) {
      close(fd);
      return Throw(isolate, std::string(*path) + " is smaller than the page", EINVAL);
    }
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
      const int err = errno;
      close(fd);
      return Throw(isolate, "ftruncate", err);
    }
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int err = errno;
  close(fd);
  if (p == MAP_FAILED) return Throw(isolate, "mmap", err);
  std::unique_ptr<BackingStore> store = SharedArrayBuffer::NewBackingStore(p, size, Unmap, nullptr);
  args.GetReturnValue().Set(SharedArrayBuffer::New(isolate, std::move(store)));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  NODE_SET_METHOD(exports, "map", Map);
}
