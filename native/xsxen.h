// Shared by the xsxen addon's files (see xsxen.cc): V8 names, argument
// checks, and the functions each file exports to JavaScript.
#pragma once
#include <node.h>
#include <uv.h>
#include <v8.h>

#include <cstdint>
#include <string>

// The kernel's uapi headers (<xen/evtchn.h>, <xen/gntdev.h>) use Xen's own
// two typedefs without defining them.
typedef uint16_t domid_t;
typedef uint32_t grant_ref_t;

namespace xsxen {

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

/** Throws Error("what: strerror(err)") with an errno property. */
void Throw(Isolate* isolate, const std::string& what, int err);
void TypeError(Isolate* isolate, const char* usage);
/** The n arguments, all unsigned 32-bit integers, into out; false if not. */
bool Uints(const FunctionCallbackInfo<Value>& args, int n, uint32_t* out);

// xsxen-evtchn.cc
void EvtchnOpen(const FunctionCallbackInfo<Value>& args);
void EvtchnBindInterdomain(const FunctionCallbackInfo<Value>& args);
void EvtchnBindVirq(const FunctionCallbackInfo<Value>& args);
void EvtchnNotify(const FunctionCallbackInfo<Value>& args);
void EvtchnUnbind(const FunctionCallbackInfo<Value>& args);
void EvtchnUnmask(const FunctionCallbackInfo<Value>& args);
void EvtchnWatch(const FunctionCallbackInfo<Value>& args);
void EvtchnUnwatch(const FunctionCallbackInfo<Value>& args);

// xsxen-pages.cc
void GntOpen(const FunctionCallbackInfo<Value>& args);
void MapGrant(const FunctionCallbackInfo<Value>& args);
void MapForeign(const FunctionCallbackInfo<Value>& args);
void MapKva(const FunctionCallbackInfo<Value>& args);
void Unmap(const FunctionCallbackInfo<Value>& args);
void DomainInfo(const FunctionCallbackInfo<Value>& args);

}  // namespace xsxen
