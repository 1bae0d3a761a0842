#!/usr/bin/env python3
"""A correct Maelstrom g-set node that is not ours: every 100 ms each node
sends every peer its whole set (full-state gossip, no acks), and merges what
it receives by union. Survives partitions (it keeps sending). The lab must
pass it.

With a MODE (argv[1]) it is broken the ways users break a g-set:
- `no-gossip`: never tells its peers anything, so each node holds only the
  adds it acknowledged itself (final reads lack values);
- `invents`: every read also returns an element nobody added (-1)."""
import json
import sys
import threading
import time

mode = sys.argv[1] if len(sys.argv) > 1 else ""
lock = threading.Lock()
node_id = None
peers = []
next_id = 0
elements = set()


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
                send(peer, {"type": "state", "elements": sorted(elements)})


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    with lock:
        if kind == "init":
            node_id = body["node_id"]
            peers = [n for n in body["node_ids"] if n != node_id]
            send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
            if mode != "no-gossip":
                threading.Thread(target=gossip, daemon=True).start()
        elif kind == "add":
            elements.add(body["element"])
            send(msg["src"], {"type": "add_ok", "in_reply_to": body["msg_id"]})
        elif kind == "read":
            value = sorted(elements) + ([-1] if mode == "invents" else [])
            send(msg["src"], {"type": "read_ok", "value": value,
                              "in_reply_to": body["msg_id"]})
        elif kind == "state":
            elements.update(body["elements"])
