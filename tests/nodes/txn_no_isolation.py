#!/usr/bin/env python3
"""A transactional key-value node for txn-rw-register and txn-list-append
(`w` writes a register, `append` extends a list), one store per node.

With no MODE it runs each transaction whole when it arrives: nothing else
happens in between, so it is serializable on its own node and read
committed across nodes (nodes do not replicate). The lab must pass it.

With MODE (argv[1]) `no-isolation` it is broken as users break it: a
transaction runs one micro-op per 3 ms tick, interleaved with every other
transaction in flight, writing straight into the store, so others read its
writes before it is done (G1b when it writes a key twice); and one in four
transactions fails at the end (error 30) but keeps the writes it made
(G1a when another read them)."""
import json
import queue
import sys
import threading

mode = sys.argv[1] if len(sys.argv) > 1 else ""
node_id = None
next_id = 0
store = {}
running = []  # [request, micro-ops done so far, position]
count = 0


def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def reply(req, body):
    body["in_reply_to"] = req["body"]["msg_id"]
    send(req["src"], body)


def step(mop):
    f, k, v = mop
    if f == "r":
        return ["r", k, store.get(str(k))]
    if f == "append":
        store[str(k)] = store.get(str(k), []) + [v]
    else:
        store[str(k)] = v
    return [f, k, v]


def finish(req, done):
    global count
    count += 1
    if mode == "no-isolation" and count % 4 == 0:
        reply(req, {"type": "error", "code": 30, "text": "aborted, writes kept"})
    else:
        reply(req, {"type": "txn_ok", "txn": done})


def handle(req):
    global node_id
    body = req["body"]
    if body["type"] == "init":
        node_id = body["node_id"]
        reply(req, {"type": "init_ok"})
    elif body["type"] == "txn":
        if mode == "no-isolation":
            running.append([req, []])
        else:
            finish(req, [step(m) for m in body["txn"]])


def tick():
    for entry in list(running):
        req, done = entry
        mops = req["body"]["txn"]
        done.append(step(mops[len(done)]))
        if len(done) == len(mops):
            running.remove(entry)
            finish(req, done)


lines = queue.Queue()


def read_stdin():
    for line in sys.stdin:
        lines.put(line)
    lines.put(None)


threading.Thread(target=read_stdin, daemon=True).start()
while True:
    try:
        line = lines.get(timeout=0.003)
    except queue.Empty:
        tick()
        continue
    if line is None:
        break
    if line.strip():
        handle(json.loads(line))
