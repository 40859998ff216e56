{
  "targets": [
    {
      "target_name": "xsshm",
      "sources": ["xsshm.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-cast-function-type"]
    },
    {
      "target_name": "xsio",
      "sources": ["xsio.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-cast-function-type"]
    },
    {
      "target_name": "xsxen",
      "sources": ["xsxen.cc", "xsxen-evtchn.cc", "xsxen-pages.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-cast-function-type"],
      "libraries": ["-ldl"]
    }
  ]
}
