#!/usr/bin/env python3
"""A lin-kv node broken as users break it: writes and cas go to Maelstrom's
lin-kv service, but reads are served from a local cache — the last value
this node wrote or saw for the key — and only a key it has never seen is
read from the service. Another node's writes never reach the cache, so its
reads go stale: the history is not linearizable, and the lab must say so."""
import json
import sys

node_id = None
next_id = 0
pending = {}  # msg_id of a request to lin-kv -> what to do with its reply
cache = {}  # key (as JSON text) -> the last value written or seen here


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


def relay(req, on_ok=None):
    """Passes lin-kv's answer on to the client (dropping its msg_id)."""
    def then(r):
        answer = {k: v for k, v in r.items() if k not in ("msg_id", "in_reply_to")}
        if r["type"] != "error" and on_ok is not None:
            on_ok(r)
        reply(req, answer)
    return then


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    if "in_reply_to" in body and body["in_reply_to"] in pending:
        pending.pop(body["in_reply_to"])(body)
        continue
    kind = body["type"]
    key = json.dumps(body.get("key"))
    if kind == "init":
        node_id = body["node_id"]
        reply(msg, {"type": "init_ok"})
    elif kind == "read":
        if key in cache:
            reply(msg, {"type": "read_ok", "value": cache[key]})
        else:
            send("lin-kv", {"type": "read", "key": body["key"]},
                 relay(msg, lambda r, key=key: cache.__setitem__(key, r["value"])))
    elif kind == "write":
        send("lin-kv", {"type": "write", "key": body["key"], "value": body["value"]},
             relay(msg, lambda r, key=key, v=body["value"]: cache.__setitem__(key, v)))
    elif kind == "cas":
        send("lin-kv", {"type": "cas", "key": body["key"], "from": body["from"], "to": body["to"]},
             relay(msg, lambda r, key=key, v=body["to"]: cache.__setitem__(key, v)))
