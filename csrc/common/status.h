// Status codes returned by launchers (they never throw: the binding turns a status into a
// TORCH_CHECK failure with the op's name). Torch-free.
#pragma once

namespace pyiqa_fast {

enum class Status {
  kOk = 0,
  kInvalidArgument,   // a size or pointer the launcher cannot work with
  kUnsupportedDType,  // no instantiation for the requested element type
  kLaunchFailed,      // cudaGetLastError after the launch; the op's launcher keeps the error
};

inline const char* status_string(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kInvalidArgument: return "invalid argument";
    case Status::kUnsupportedDType: return "unsupported dtype";
    case Status::kLaunchFailed: return "kernel launch failed";
  }
  return "unknown status";
}

}  // namespace pyiqa_fast
