// The toolchain probe in C++ (zig c++, wasm32-wasi, libc++): the same report as probe.c,
// written with iostreams (stdout, stderr), std::string, std::vector, <chrono> and <random> so that the C++
// runtime (static constructors, locale-aware streams, virtual dispatch) is exercised too.
//   probe FILE CODE [WORDS...]
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace {

struct Check {
    virtual ~Check() = default;
    virtual std::string name() const = 0;
    virtual std::string run() const = 0;
};

struct Monotonic final : Check {
    std::string name() const override { return "monotonic clock"; }
    std::string run() const override {
        auto a = std::chrono::steady_clock::now();
        auto b = std::chrono::steady_clock::now();
        return b >= a ? "ok" : "WENT BACK";
    }
};

struct Realtime final : Check {
    std::string name() const override { return "realtime clock"; }
    std::string run() const override {
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(
            std::chrono::system_clock::now().time_since_epoch()).count();
        return secs > 1577836800 ? "ok" : "BEFORE 2020";
    }
};

struct Random final : Check {
    std::string name() const override { return "random"; }
    std::string run() const override {
        std::random_device device;      // libc++ draws it from WASI random_get
        std::vector<unsigned char> bytes(16);
        unsigned nonzero = 0;
        for (auto &b : bytes) {
            b = static_cast<unsigned char>(device());
            nonzero |= b;
        }
        return std::to_string(bytes.size()) + " bytes" + (nonzero ? "" : " ALL ZERO");
    }
};

// A static object constructed before main: the C++ start-up code must run its constructor.
struct Banner {
    std::string text;
    Banner() : text(std::string("toolchain: ") + TOOLCHAIN) {}
} const banner;

}  // namespace

int main(int argc, char **argv) {
    std::cout << banner.text << '\n';
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 2) {
        std::cerr << "usage: probe FILE CODE [WORDS...]\n";
        return 2;
    }
    std::cout << "args: " << args.size() << '\n';
    for (std::size_t i = 0; i < args.size(); ++i)
        std::cout << "arg " << i + 1 << ": " << args[i] << '\n';

    const char *greeting = std::getenv("GREETING");
    std::cout << "env GREETING: " << (greeting ? greeting : "(unset)") << '\n';
    std::cout << "env PROBE_ABSENT: " << (std::getenv("PROBE_ABSENT") ? "set" : "(unset)") << '\n';

    // zig's libc++ for wasm32-wasi is built without <fstream> (no filesystem library), so
    // the file is read through <cstdio>, owned by a unique_ptr.
    std::unique_ptr<std::FILE, int (*)(std::FILE *)> in(std::fopen(args[0].c_str(), "rb"), std::fclose);
    if (!in) {
        std::cerr << args[0] << ": cannot open\n";
        return 3;
    }
    std::string text;
    char chunk[512];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, in.get())) > 0;)
        text.append(chunk, n);
    std::cout << "file " << args[0] << ": " << text.size() << " bytes\n" << text;

    std::vector<std::unique_ptr<Check>> checks;
    checks.push_back(std::make_unique<Monotonic>());
    checks.push_back(std::make_unique<Realtime>());
    checks.push_back(std::make_unique<Random>());
    for (const auto &check : checks)
        std::cout << check->name() << ": " << check->run() << '\n';

    int code = std::atoi(args[1].c_str());
    std::cerr << "probe: exiting with " << code << '\n';
    std::cout.flush();
    return code;
}
