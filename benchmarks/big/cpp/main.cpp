// A C++ program that uses a realistic share of the standard library (iostream, string streams,
// containers, algorithms, regex, std::function, virtual calls) so that its wasm32-wasi build
// through zig c++ (libc++) is a large module, and does a little of each.
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct Shape {
    virtual ~Shape() = default;
    virtual double area() const = 0;
    virtual std::string name() const = 0;
};
struct Rect : Shape {
    double w, h;
    Rect(double w, double h) : w(w), h(h) {}
    double area() const override { return w * h; }
    std::string name() const override { return "rect"; }
};
struct Circle : Shape {
    double r;
    explicit Circle(double r) : r(r) {}
    double area() const override { return 3.14159265358979 * r * r; }
    std::string name() const override { return "circle"; }
};

static std::vector<std::string> words(int n) {
    static const char *syll[] = {"ka", "lo", "mi", "ne", "su", "ta", "ri", "vo"};
    std::vector<std::string> out;
    unsigned x = 12345;
    for (int i = 0; i < n; ++i) {
        std::string w;
        int len = 2 + (x % 3);
        for (int k = 0; k < len; ++k) {
            x = x * 1103515245u + 12345u;
            w += syll[(x >> 16) % 8];
        }
        out.push_back(w);
    }
    return out;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? std::atoi(argv[1]) : 20000;
    auto ws = words(n);

    std::map<std::string, int> freq;
    std::unordered_map<size_t, int> bylen;
    for (const auto &w : ws) {
        ++freq[w];
        ++bylen[w.size()];
    }
    std::vector<std::pair<std::string, int>> top(freq.begin(), freq.end());
    std::sort(top.begin(), top.end(), [](const auto &a, const auto &b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    std::cout << "words: " << ws.size() << " distinct " << freq.size() << " top " << top[0].first
              << "=" << top[0].second << "\n";

    std::ostringstream text;
    for (int i = 0; i < 2000 && i < n; ++i) text << ws[i] << (i % 10 == 9 ? '\n' : ' ');
    std::regex re("\\b(ka|mi)(\\w*)vo\\b");
    std::string s = text.str();
    int count = 0;
    for (std::sregex_iterator it(s.begin(), s.end(), re), end; it != end; ++it) ++count;
    std::cout << "regex: " << count << " matches\n";

    std::vector<std::unique_ptr<Shape>> shapes;
    for (int i = 0; i < 1000; ++i) {
        if (i % 2) shapes.push_back(std::make_unique<Rect>(i % 7 + 1, i % 5 + 1));
        else shapes.push_back(std::make_unique<Circle>(i % 4 + 0.5));
    }
    std::map<std::string, double> areas;
    for (const auto &sh : shapes) areas[sh->name()] += sh->area();
    std::cout << std::fixed << std::setprecision(2);
    for (const auto &kv : areas) std::cout << "area " << kv.first << " " << kv.second << "\n";

    std::set<int> primes;
    std::vector<bool> sieve(200000, true);
    for (int i = 2; i < 200000; ++i)
        if (sieve[i]) {
            primes.insert(i);
            for (long j = (long)i * i; j < 200000; j += i) sieve[j] = false;
        }
    std::function<long(int)> sum_to = [&](int k) { return std::accumulate(primes.begin(), primes.lower_bound(k), 0L); };
    std::cout << "primes: " << primes.size() << " sum<100000 " << sum_to(100000) << "\n";

    // wasm32-wasi has no C++ exceptions in zig's libc++: errors travel as std::optional.
    auto parse = [](const std::string &t) -> std::optional<int> {
        if (t.empty() || !std::all_of(t.begin(), t.end(), ::isdigit)) return std::nullopt;
        return std::stoi(t);
    };
    int parsed = 0, rejected = 0;
    for (int i = 0; i < 100; ++i) {
        auto v = parse(i % 3 ? std::to_string(i * 17) : "x" + std::to_string(i));
        if (v) parsed += *v; else ++rejected;
    }
    std::cout << "parse: " << parsed << " rejected " << rejected << "\n";
    return 0;
}
