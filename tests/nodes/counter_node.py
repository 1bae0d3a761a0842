#!/usr/bin/env python3
"""A correct Maelstrom pn-counter node that is not ours: each node counts
its own increments and decrements and sends its whole state to every peer
every 100 ms; states merge by maximum. The lab must pass it."""
import json
import sys
import threading
import time

lock = threading.Lock()
node_id = None
peers = []
next_id = 0
inc = {}
dec = {}


def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def gossip():
    while True:
        time.sleep(0.1)
        with lock:
            for peer in peers:
                send(peer, {"type": "state", "inc": inc, "dec": dec})


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    with lock:
        if kind == "init":
            node_id = body["node_id"]
            peers = [n for n in body["node_ids"] if n != node_id]
            send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
            threading.Thread(target=gossip, daemon=True).start()
        elif kind == "add":
            d = body["delta"]
            side = inc if d >= 0 else dec
            side[node_id] = side.get(node_id, 0) + abs(d)
            send(msg["src"], {"type": "add_ok", "in_reply_to": body["msg_id"]})
        elif kind == "read":
            value = sum(inc.values()) - sum(dec.values())
            send(msg["src"], {"type": "read_ok", "value": value,
                              "in_reply_to": body["msg_id"]})
        elif kind == "state":
            for mine, theirs in ((inc, body["inc"]), (dec, body["dec"])):
                for n, c in theirs.items():
                    mine[n] = max(mine.get(n, 0), c)
