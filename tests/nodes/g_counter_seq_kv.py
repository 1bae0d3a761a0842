#!/usr/bin/env python3
"""A g-counter on Maelstrom's seq-kv service, as Gossip Glomers challenge 4
asks: one key "counter"; an add reads it and cas-es it from what it read to
that plus the delta, retrying on error 22 (another add got there first); a
read first writes a key of its own, which moves seq-kv's view of this node
to the latest state, then reads "counter". The lab must pass it.

With MODE (argv[1]) it is broken as users break it:
- `blind-write`: an add reads and then writes the sum back without cas, so
  concurrent adds overwrite each other and increments are lost.
- `malformed`: an add's cas names its new value `value` (as a write does)
  instead of `to`; seq-kv refuses it with error 12 and the add retries
  forever, so no add is ever acknowledged."""
import json
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else ""
node_id = None
next_id = 0
pending = {}  # msg_id of a request to seq-kv -> what to do with its reply
syncs = 0


def send(dest, body, then=None):
    global next_id
    body["msg_id"] = next_id
    if then is not None:
        pending[next_id] = then
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def reply(req, body):
    body["in_reply_to"] = req["body"]["msg_id"]
    send(req["src"], body)


def add(req, delta):
    def on_read(r):
        current = r["value"] if r["type"] == "read_ok" else 0
        if mode == "blind-write":
            send("seq-kv", {"type": "write", "key": "counter", "value": current + delta},
                 lambda w: reply(req, {"type": "add_ok"}))
            return
        if mode == "malformed":  # `value`, as in a write
            cas = {"type": "cas", "key": "counter", "from": current, "value": current + delta}
        else:
            cas = {"type": "cas", "key": "counter", "from": current, "to": current + delta}
        if r["type"] != "read_ok":
            cas["create_if_not_exists"] = True
        send("seq-kv", cas, on_cas)

    def on_cas(r):
        if r["type"] == "cas_ok":
            reply(req, {"type": "add_ok"})
        else:  # 22: someone else's add came first; 20: not created yet
            send("seq-kv", {"type": "read", "key": "counter"}, on_read)

    send("seq-kv", {"type": "read", "key": "counter"}, on_read)


def read(req):
    global syncs
    syncs += 1

    def on_value(r):
        value = r["value"] if r["type"] == "read_ok" else 0
        reply(req, {"type": "read_ok", "value": value})

    send("seq-kv", {"type": "write", "key": f"sync-{node_id}", "value": syncs},
         lambda w: send("seq-kv", {"type": "read", "key": "counter"}, on_value))


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    if "in_reply_to" in body and body["in_reply_to"] in pending:
        pending.pop(body["in_reply_to"])(body)
        continue
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        reply(msg, {"type": "init_ok"})
    elif kind == "add":
        add(msg, body["delta"])
    elif kind == "read":
        read(msg)
