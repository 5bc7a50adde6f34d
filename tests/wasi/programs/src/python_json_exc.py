import json


class Odd(Exception):
    pass


def check(n):
    if n % 2:
        raise Odd(f"{n} is odd")
    return n


data = json.loads('{"xs": [1, 2, 3], "name": "wasm", "ok": true, "pi": 3.25}')
for n in data["xs"]:
    try:
        print("even", check(n))
    except Odd as exc:
        print("caught", type(exc).__name__, exc)
try:
    json.loads("{broken")
except json.JSONDecodeError as exc:
    print("json error:", exc.msg, "at", exc.pos)
print(json.dumps(data, sort_keys=True))
