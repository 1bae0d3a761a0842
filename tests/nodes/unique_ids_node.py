#!/usr/bin/env python3
"""A correct Maelstrom unique-ids node that is not ours: an id is a number
made of a per-node count and the node's index (count * 1000 + index), so ids
are unique and comparable. The lab must pass it.

With MODE `counter` (argv[1]) it is broken as users break it: the id is the
count alone, so two nodes hand out the same ids."""
import json
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else ""
node_id = None
index = 0
count = 0
next_id = 0

for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    if body["type"] == "init":
        node_id = body["node_id"]
        index = body["node_ids"].index(node_id)
        reply = {"type": "init_ok"}
    elif body["type"] == "generate":
        count += 1
        new = count if mode == "counter" else count * 1000 + index
        reply = {"type": "generate_ok", "id": new}
    else:
        continue
    reply["msg_id"] = next_id
    reply["in_reply_to"] = body["msg_id"]
    next_id += 1
    print(json.dumps({"src": node_id, "dest": msg["src"], "body": reply}), flush=True)
