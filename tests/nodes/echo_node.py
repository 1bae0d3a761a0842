#!/usr/bin/env python3
"""A minimal Maelstrom echo node, not ours: the cluster runner must run it."""
import json
import sys

next_id = 0
node_id = None
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    body = msg["body"]
    reply = None
    if body["type"] == "init":
        node_id = body["node_id"]
        reply = {"type": "init_ok"}
    elif body["type"] == "echo":
        reply = {"type": "echo_ok", "echo": body["echo"]}
    if reply is not None:
        reply["msg_id"] = next_id
        reply["in_reply_to"] = body["msg_id"]
        next_id += 1
        print(json.dumps({"src": node_id, "dest": msg["src"], "body": reply}), flush=True)
