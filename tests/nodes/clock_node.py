#!/usr/bin/env python3
"""A Maelstrom node that is not ours and answers `time` with its wall clock
(time.time(), in microseconds): the runner must skew it through libfaketime."""
import json
import sys
import time

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
    elif body["type"] == "time":
        reply = {"type": "time_ok", "unix_micros": int(time.time() * 1e6)}
    if reply is not None:
        reply["msg_id"] = next_id
        reply["in_reply_to"] = body["msg_id"]
        next_id += 1
        print(json.dumps({"src": node_id, "dest": msg["src"], "body": reply}), flush=True)
