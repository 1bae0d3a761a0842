#!/usr/bin/env python3
"""A deliberately broken node for the cluster and golden runners' tests.

MODE (argv[1]):
- `exit` answers init then exits on the first request;
- `garbage` answers init then writes a line that is not JSON;
- `stranger` answers init then sends a message to a node that does not exist;
- `wrong-echo` answers echo requests with the wrong value;
- `lonely-broadcast` speaks the broadcast protocol correctly but never
  forwards: it acks broadcasts and reads only the values it was given;
- `double-counter` speaks the counter protocol and gossips every add, but
  counts a gossiped add each time it hears it, and every node passes what it
  hears on once more, so remote nodes count other nodes' adds twice.

The last two break no rule of the protocol: only the checker can catch them.

Replies a Maelstrom client refuses:
- `echo-off-by-one` answers echo with the right value but `in_reply_to`
  one past the request's msg_id;
- `echo-okay` answers with type `echo_okay` instead of `echo_ok`.

More nodes a user writes by mistake:
- `local-counter` counts only the adds it was given and never tells its
  peers (a counter that ignores remote state);
- `debug-print` is a correct echo node that prints debug text on stdout;
- `topology-error` answers broadcast's `topology` with an error;
- `crash-traceback` is an echo node that raises an exception on its third
  echo (Python prints the traceback on stderr and exits);
- `mute` answers init and nothing else;
- `kv-forgetful` answers kv writes with `write_ok` without the `ts` the
  task requires (and an extra field), and every read with null;
- `slow-init` is a correct echo node that takes 1.5 s to answer init;
- `stderr-flood` is a correct echo node that writes 20 MiB of debug text
  to stderr as soon as it is initialised;
- `flood` is a correct echo node that also floods every peer with gossip
  as fast as it can write, and reads gossip slowly (1 ms each), so its
  input queue overflows.

For the runner's clean-up, two modes start a grandchild (`sleep`) and log
"pids NODE GRANDCHILD" to stderr, so a test can check both are killed:
- `echo-with-child` is a correct echo node;
- `stops-reading`: n1 never reads its input after init, while n0 floods it
  with gossip on its first request."""
import json
import os
import subprocess
import sys
import threading
import time

mode = sys.argv[1]
node_id = None
node_ids = []
next_id = 0
seen = []  # lonely-broadcast: the values given to this node
value = 0  # double-counter: this node's count


def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def reply(msg, body):
    body["in_reply_to"] = msg["body"]["msg_id"]
    send(msg["src"], body)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        node_ids = body["node_ids"]
        if mode == "slow-init":
            time.sleep(1.5)
        reply(msg, {"type": "init_ok"})
        if mode == "stderr-flood":
            chunk = ("debug " * 1000 + "\n") * 175  # about 1 MiB
            for _ in range(20):
                sys.stderr.write(chunk)
            sys.stderr.flush()
        if mode == "flood":
            lock = threading.Lock()

            def flood():
                global next_id
                peers = [p for p in node_ids if p != node_id]
                while peers:
                    for peer in peers:
                        with lock:
                            body = {"type": "gossip", "msg_id": next_id, "junk": "x" * 100}
                            next_id += 1
                            print(json.dumps({"src": node_id, "dest": peer, "body": body}),
                                  flush=True)

            threading.Thread(target=flood, daemon=True).start()
        if mode in ("echo-with-child", "stops-reading"):
            child = subprocess.Popen(["sleep", "600"])
            print(f"pids {os.getpid()} {child.pid}", file=sys.stderr, flush=True)
        if mode == "stops-reading" and node_id == "n1":
            time.sleep(3600)
        continue
    if mode == "exit":
        sys.exit(3)
    if mode == "mute":
        continue
    if mode == "garbage":
        print("hello, I am not JSON", flush=True)
    elif mode == "stranger":
        send("n99", {"type": "gossip"})
    elif mode == "echo-off-by-one":
        body = {"type": "echo_ok", "echo": body["echo"], "msg_id": next_id,
                "in_reply_to": body["msg_id"] + 1}
        next_id += 1
        print(json.dumps({"src": node_id, "dest": msg["src"], "body": body}), flush=True)
    elif mode == "echo-okay":
        reply(msg, {"type": "echo_okay", "echo": body["echo"]})
    elif mode == "debug-print":
        print(f"DEBUG got {kind} from {msg['src']}", flush=True)
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif mode == "crash-traceback":
        value += 1
        if value == 3:
            raise RuntimeError("the third echo is one too many")
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif mode in ("slow-init", "stderr-flood"):
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif mode == "flood":
        if kind == "gossip":
            time.sleep(0.001)
        elif kind == "echo":
            with lock:
                reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif mode == "topology-error":
        if kind == "topology":
            reply(msg, {"type": "error", "code": 10, "text": "topology? never heard of it"})
    elif mode == "kv-forgetful":
        if kind == "write":
            reply(msg, {"type": "write_ok", "stored": False})
        elif kind == "read":
            reply(msg, {"type": "read_ok", "value": None})
        elif kind == "kv_read":
            reply(msg, {"type": "kv_read_ok", "key": body["key"], "value": None, "ts": 0})
    elif mode == "local-counter":
        if kind == "add":
            value += body["delta"]
            reply(msg, {"type": "add_ok"})
        elif kind == "read":
            reply(msg, {"type": "read_ok", "value": value})
    elif mode == "wrong-echo":
        reply(msg, {"type": "echo_ok", "echo": "not what you sent"})
    elif mode == "echo-with-child":
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif mode == "stops-reading":
        if kind == "echo" and next_id < 10:
            for _ in range(10000):
                send("n1", {"type": "gossip"})
        reply(msg, {"type": "echo_ok", "echo": body.get("echo")})
    elif mode == "lonely-broadcast":
        if kind == "topology":
            reply(msg, {"type": "topology_ok"})
        elif kind == "broadcast":
            seen.append(body["message"])
            reply(msg, {"type": "broadcast_ok"})
        elif kind == "read":
            reply(msg, {"type": "read_ok", "messages": seen})
    elif mode == "double-counter":
        if kind == "add":
            value += body["delta"]
            for peer in node_ids:
                if peer != node_id:
                    send(peer, {"type": "inc", "delta": body["delta"], "hops": 0})
            reply(msg, {"type": "add_ok"})
        elif kind == "inc":
            value += body["delta"]
            if body["hops"] == 0:
                for peer in node_ids:
                    if peer not in (node_id, msg["src"]):
                        send(peer, {"type": "inc", "delta": body["delta"], "hops": 1})
        elif kind == "read":
            reply(msg, {"type": "read_ok", "value": value})
