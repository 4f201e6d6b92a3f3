ATTACK = (
    "crash scoring with forged protocol replies: wrong types, invalid UTF-8, JSON nested "
    "deep enough for RecursionError, a forged 57 MB reply"
)
HONEST = {"q3", "q4"}
ANSWERS = {
    "q1": """
import os, struct, json
bodies = [
    json.dumps({{"ok": "yes", "error": 3, "output": []}}).encode(),
    b"\\xff\\xfe not utf-8",
    b"[" * 200000 + b"]" * 200000,
]
for fd in range(3, 30):
    for body in bodies:
        try:
            os.write(fd, struct.pack(">I", len(body)) + body)
        except OSError:
            pass
def mean_var(x):
    return 0.0, 0.0
""",
    "q2": """
import os, struct
big = b'{{"values": [{{"ok": true, "value": {{"t": "str", "v": "' + b"A" * (57 * 2**20) + b'"}}}}], "output": ""}}'
for fd in range(3, 30):
    try:
        os.write(fd, struct.pack(">I", len(big)) + big[:4096])
    except OSError:
        pass
def gram(a):
    return [[0.0] * 1000] * 1000
""",
}
