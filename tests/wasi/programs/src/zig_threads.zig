// wasi-threads with Zig's own std.Thread: spawn and join through `wasi::thread-spawn` and the
// `wasi_thread_start` export, a lock on an atomic compare-exchange, output via fd_write.
const std = @import("std");
const wasi = std.os.wasi;

pub const panic = std.debug.no_panic;

const THREADS = 4;
const ROUNDS = 2000;

var lock: std.atomic.Mutex = .unlocked;
var total: u64 = 0;
// The workers start only once every spawn has returned: std.Thread stores a thread's id after
// `thread-spawn` returns, so a thread that ended before that would leave `join` waiting.
var go = std.atomic.Value(u32).init(0);
// Each thread takes a guard page, its stack, its TLS and bookkeeping, rounded up to 64 KiB pages.
var stacks: [THREADS * 3 * 65536]u8 align(65536) = undefined;

fn work(id: u64, result: *u64) void {
    while (go.load(.acquire) == 0) std.atomic.spinLoopHint();
    var i: u64 = 1;
    while (i <= ROUNDS) : (i += 1) {
        while (!lock.tryLock()) std.atomic.spinLoopHint();
        total += id * ROUNDS + i;
        lock.unlock();
    }
    result.* = id * 10;
}

pub fn main() void {
    var fba = std.heap.FixedBufferAllocator.init(&stacks);
    var results: [THREADS]u64 = undefined;
    var threads: [THREADS]std.Thread = undefined;
    for (&threads, 0..) |*t, id| {
        t.* = std.Thread.spawn(.{ .allocator = fba.allocator(), .stack_size = 64 * 1024 },
            work, .{ @as(u64, id), &results[id] }) catch wasi.proc_exit(1);
    }
    go.store(1, .release);
    var joined: u64 = 0;
    for (threads, 0..) |t, id| {
        t.join();
        joined += results[id];
    }
    var buf: [128]u8 = undefined;
    const line = std.fmt.bufPrint(&buf, "threads={d} total={d} joined={d}\n", .{ THREADS, total, joined }) catch unreachable;
    const iov = [_]wasi.ciovec_t{.{ .base = line.ptr, .len = line.len }};
    var written: usize = 0;
    _ = wasi.fd_write(1, &iov, 1, &written);
}
