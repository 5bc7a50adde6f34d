// The QuickJS benchmark's workload: objects, JSON, regular expressions, strings, closures and
// sorting, a fraction of a second of interpretation in QuickJS compiled to wasm.
function makeRecords(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push({ id: i, name: "item-" + ((i * 7919) % n), tags: ["t" + (i % 5), "g" + (i % 3)],
               score: ((i * 31) % 97) / 3 });
  }
  return out;
}
const recs = makeRecords(20000);
const text = JSON.stringify(recs);
const back = JSON.parse(text);
back.sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
console.log("json", text.length, back[0].name, back[0].score.toFixed(3));
let matches = 0, sum = 0;
for (const m of text.matchAll(/"item-(\d+)7"/g)) { matches++; sum += Number(m[1]); }
console.log("regexp", matches, sum);
const counts = new Map();
for (const r of back) for (const t of r.tags) counts.set(t, (counts.get(t) || 0) + 1);
console.log("tags", [...counts.entries()].sort().map(([k, v]) => k + "=" + v).join(","));
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
console.log("fib", fib(24));
let h = 0;
for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
console.log("hash", h);
