// For the targets that read archives through Debian's libarchive: a hostile header can make it ask
// malloc for nearly 2^64 bytes, which fails and which libarchive handles (the archive is damaged). ASan
// aborts on such a request by default; here it returns NULL, as malloc does in the worker. Include in
// one translation unit per target.
#pragma once

extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
