#!/usr/bin/env python3
"""A correct Maelstrom broadcast node that is not ours: every 100 ms each
node sends every peer the values that peer has not acknowledged yet; a peer
acknowledges what it received. Survives partitions (it keeps resending).
The lab must pass it.

With a MODE (argv[1]) it answers the lab's probe reads (client `cprobe`)
with a body a Maelstrom client refuses, and every other read correctly:
- `probe-wrong-messages`: `read_ok` whose `messages` is not a list;
- `probe-wrong-type`: type `foo` (with the right `messages`)."""
import json
import sys
import threading
import time

mode = sys.argv[1] if len(sys.argv) > 1 else ""
lock = threading.Lock()
node_id = None
peers = []
next_id = 0
values = []          # in order of first receipt
known = set()
acked = {}           # peer -> values it acknowledged


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
                missing = [v for v in values if v not in acked[peer]]
                if missing:
                    send(peer, {"type": "gossip", "messages": missing})


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    with lock:
        if kind == "init":
            node_id = body["node_id"]
            peers = [n for n in body["node_ids"] if n != node_id]
            acked = {p: set() for p in peers}
            send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
            threading.Thread(target=gossip, daemon=True).start()
        elif kind == "topology":
            send(msg["src"], {"type": "topology_ok", "in_reply_to": body["msg_id"]})
        elif kind == "broadcast":
            v = body["message"]
            if v not in known:
                known.add(v)
                values.append(v)
            send(msg["src"], {"type": "broadcast_ok", "in_reply_to": body["msg_id"]})
        elif kind == "read":
            out = {"type": "read_ok", "messages": list(values)}
            if msg["src"] == "cprobe" and mode == "probe-wrong-messages":
                out["messages"] = "all of them"
            elif msg["src"] == "cprobe" and mode == "probe-wrong-type":
                out["type"] = "foo"
            out["in_reply_to"] = body["msg_id"]
            send(msg["src"], out)
        elif kind == "gossip":
            for v in body["messages"]:
                if v not in known:
                    known.add(v)
                    values.append(v)
            send(msg["src"], {"type": "gossip_ok", "messages": body["messages"],
                              "in_reply_to": body["msg_id"]})
        elif kind == "gossip_ok":
            acked[msg["src"]].update(body["messages"])
