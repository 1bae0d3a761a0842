#!/usr/bin/env python3
"""A kafka node broken as users break it: each node keeps its own logs and
hands out offsets from its own counter per key, so two nodes give the same
offset to different messages (and a poll at one node never shows what
another acknowledged). The lab must fail it for inconsistent offsets.

On one node it is a correct kafka node. With MODE (argv[1]) `page` it
returns at most two messages per key and poll, as nodes that page do:
still correct, and the lab's final polls must poll on to see the rest."""
import json
import sys

PAGE = 2 if sys.argv[1:] == ["page"] else None

node_id = None
next_id = 0
logs = {}       # key -> [msg, ...]; the offset is the position
committed = {}  # key -> offset


def reply(req, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    body["in_reply_to"] = req["body"]["msg_id"]
    print(json.dumps({"src": node_id, "dest": req["src"], "body": body}), flush=True)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        reply(msg, {"type": "init_ok"})
    elif kind == "send":
        log = logs.setdefault(body["key"], [])
        log.append(body["msg"])
        reply(msg, {"type": "send_ok", "offset": len(log) - 1})
    elif kind == "poll":
        msgs = {}
        for key, offset in body["offsets"].items():
            pairs = [[o, m] for o, m in enumerate(logs.get(key, [])) if o >= offset]
            pairs = pairs[:PAGE] if PAGE else pairs
            if pairs:
                msgs[key] = pairs
        reply(msg, {"type": "poll_ok", "msgs": msgs})
    elif kind == "commit_offsets":
        committed.update(body["offsets"])
        reply(msg, {"type": "commit_offsets_ok"})
    elif kind == "list_committed_offsets":
        offsets = {k: committed[k] for k in body["keys"] if k in committed}
        reply(msg, {"type": "list_committed_offsets_ok", "offsets": offsets})
