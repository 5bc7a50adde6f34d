# The exception tag that longjmp throws (one i32: a pointer to the jmp_buf and value).
# LLVM's compiler-rt defines it for wasm (lib/builtins/wasm/__c_longjmp.S); zig's own
# compiler_rt has no counterpart yet, so the probe brings its definition.
.globl __c_longjmp
.tagtype __c_longjmp i32
__c_longjmp:
